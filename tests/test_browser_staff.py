"""Staff management in headless Chromium, against a real `portal serve` that mails through a real
SMTP server: an administrator adds a Support member, who accepts the emailed invitation, may not
delete a client (nor forge the request) until the administrator ticks "Delete clients" for the
group; the Add Staff Member form from the keyboard; and axe on every page of staff management."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass

import pytest
from aiosmtpd.controller import Controller
from playwright.async_api import Browser, Page, expect

from a11y_helpers import a11y_context, assert_accessible
from conftest import SmtpCollector, free_port, log_in_admin_page
from portal.clients.tables import Client
from portal.core.actors import Actor
from portal.mail.tables import MailMessage
from portal.staff import groups, services
from portal.staff.services import MemberDetails
from portal.staff.tables import Staff, StaffCompany
from profile_helpers import make_client
from server_helpers import PortalServer

pytestmark = pytest.mark.browser

NEW_PASSWORD = "Quiet-river-73"  # noqa: S105 - a test credential
INVITATION_LINK = re.compile(r"https?://\S+(/admin/invitation/\S+)")


@dataclass
class Portal:
    server: PortalServer
    mail: SmtpCollector

    @property
    def url(self) -> str:
        return self.server.url

    def mail_to(self, address: str, timeout: float = 10) -> str:
        """The body of the newest message the SMTP server received for `address`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in reversed(self.mail.messages):
                if message["To"] == address:
                    return message.get_body(("plain",)).get_content()
            time.sleep(0.05)
        raise AssertionError(f"no mail to {address}; server log:\n{self.server.log()[-3000:]}")

    def invitation_link(self, address: str) -> str:
        return _invitation_link(self.mail_to(address)).group(0)


def _invitation_link(body: str) -> re.Match:
    match = INVITATION_LINK.search(body)
    assert match, f"the invitation has no link: {body}"
    return match


@pytest.fixture(scope="module")
def module_portal(tmp_path_factory) -> Iterator[Portal]:
    """The portal with a real SMTP server: it reads PORTAL_SMTP_URL once, at start, so the
    monkeypatching `smtp_server` fixture cannot serve here."""
    collector = SmtpCollector()
    controller = Controller(collector, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        server = PortalServer(
            tmp_path_factory.mktemp("staff") / "server.log",
            env={"PORTAL_SMTP_URL": f"smtp://127.0.0.1:{controller.port}"},
        )
        server.env["PORTAL_BASE_URL"] = server.url  # the emailed links lead to this server
        with server:
            yield Portal(server, collector)
    finally:
        controller.stop()


@pytest.fixture
def portal(module_portal: Portal) -> Iterator[Portal]:
    """The module's portal with an empty mailbox; the test's server log is printed when the test
    fails (pytest shows teardown output then)."""
    module_portal.mail.messages.clear()
    start = len(module_portal.server.log())
    yield module_portal
    print(f"server log during the test:\n{module_portal.server.log()[start:]}")


def _watch_errors(page: Page) -> list[str]:
    """Console errors (a CSP refusal among them) and uncaught exceptions of the page."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


async def _open_settings(page: Page, item: str) -> None:
    """[Settings] > `item` through the header menu."""
    await page.get_by_role("navigation", name="Main").get_by_text("Settings", exact=True).click()
    await page.get_by_role("link", name=item, exact=True).click()


async def test_support_member_is_invited_and_may_delete_clients_once_granted(
    browser: Browser, page: Page, portal: Portal, staff: dict, company_id: int
):
    client_id = await make_client(company_id)
    admin_errors = _watch_errors(page)
    await log_in_admin_page(page, portal.url, staff["email"], staff["password"])

    # The administrator adds Sam to Support.
    await _open_settings(page, "System > Staff")
    await expect(page.get_by_role("heading", name="Staff", exact=True)).to_be_visible()
    await page.get_by_role("link", name="Add Staff Member").click()
    await page.get_by_label("First Name").fill("Sam")
    await page.get_by_label("Last Name").fill("Support")
    await page.get_by_label("Email").fill("sam@example.com")
    await page.get_by_label("Staff Group").select_option(label="Support")
    await page.get_by_role("button", name="Add and send the invitation").click()
    await expect(page).to_have_url(re.compile(r"/admin/settings/system/staff$"))
    await expect(page.locator(".flash-success")).to_contain_text("Sam Support was added")
    row = page.get_by_role("row", name=re.compile("Sam Support"))
    await expect(row).to_contain_text("Support")
    await expect(row).to_contain_text("Invited")

    # Sam opens the emailed link in their own browser and chooses a password.
    link = portal.invitation_link("sam@example.com")
    sam_context = await browser.new_context()
    sam_context.set_default_timeout(10_000)
    sam = await sam_context.new_page()
    sam_errors = _watch_errors(sam)
    await sam.goto(link)
    await expect(sam.get_by_role("heading", name="Choose your password")).to_be_visible()
    await sam.get_by_label("New password").fill(NEW_PASSWORD)
    await sam.get_by_role("button", name="Set my password").click()
    await expect(sam).to_have_url(re.compile(r"/admin$"))
    await expect(sam.get_by_role("heading", name="Dashboard")).to_be_visible()
    await expect(sam.locator(".flash-success")).to_contain_text("Your password is set")

    # As Support, Sam reads the client's profile, with no Delete Client...
    profile = f"{portal.url}/admin/clients/{client_id}"
    await sam.goto(profile)
    await expect(sam.get_by_role("heading", level=1)).to_contain_text("Ada Lovelace")
    await expect(sam.get_by_role("link", name="Delete Client")).to_have_count(0)

    # ...and a forged delete, with Sam's session and a valid CSRF token, is refused.
    token = await sam.locator("input[name=_csrf_token]").first.get_attribute("value")
    forged = await sam.request.post(
        f"{profile}/delete",
        form={"_csrf_token": token, "password": NEW_PASSWORD},
        max_redirects=0,
    )
    assert forged.status == 403, await forged.text()
    assert await Client.exists().where(Client.id == client_id)

    # The administrator lets Support delete clients.
    await _open_settings(page, "System > Staff Groups")
    await page.get_by_role("link", name="Edit Support").click()
    delete_clients = page.get_by_label("Delete clients")
    await expect(delete_clients).not_to_be_checked()
    await delete_clients.check()
    await page.get_by_role("button", name="Save").click()
    await expect(page).to_have_url(re.compile(r"/admin/settings/system/staff-groups$"))
    await expect(page.locator(".flash-success")).to_contain_text("Support was saved")

    # At Sam's next click it applies: Delete Client, confirmed with Sam's password.
    await sam.reload()
    await sam.get_by_role("link", name="Delete Client").click()
    await sam.get_by_label("Your password").fill(NEW_PASSWORD)
    await sam.get_by_role("button", name="Delete Client").click()
    await expect(sam).to_have_url(re.compile(r"/admin/clients$"))
    await expect(sam.locator(".flash-success")).to_contain_text("were deleted")
    assert not await Client.exists().where(Client.id == client_id)

    await sam_context.close()
    assert admin_errors == [] and sam_errors == []


async def _tab_to(page: Page, element_id: str, limit: int = 60) -> None:
    """Presses Tab until the element has the focus."""
    for _ in range(limit):
        if await page.evaluate("document.activeElement && document.activeElement.id") == element_id:
            return
        await page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached #{element_id}")


async def test_add_staff_member_from_the_keyboard(
    page: Page, portal: Portal, staff: dict, company_id: int
):
    await log_in_admin_page(page, portal.url, staff["email"], staff["password"])
    await page.goto(f"{portal.url}/admin/settings/system/staff/add")

    # A bad submit: no last name, an email without a domain; Enter in a text field sends it.
    await _tab_to(page, "first_name")
    await page.keyboard.type("Kim")
    await page.keyboard.press("Tab")
    await page.keyboard.press("Tab")
    await page.keyboard.type("kim@example")
    await page.keyboard.press("Enter")

    # The page comes back with the errors; focus is on their summary, what was typed is kept.
    summary = page.locator("#form-errors")
    await expect(summary).to_be_focused()
    await expect(summary).to_contain_text("Please correct 2 fields")
    await expect(page.get_by_label("First Name")).to_have_value("Kim")
    await expect(page.get_by_label("Email")).to_have_value("kim@example")
    await expect(page.get_by_label("Last Name")).to_have_attribute("aria-invalid", "true")

    # The summary's links (Email, then Last Name) lead to the fields.
    await page.keyboard.press("Tab")
    await page.keyboard.press("Tab")
    await expect(summary.get_by_role("link").nth(1)).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page.get_by_label("Last Name")).to_be_focused()
    await page.keyboard.type("Lee")
    await page.keyboard.press("Tab")  # selects what the Email field holds: typing replaces it
    await page.keyboard.type("kim@example.com")
    await _tab_to(page, "group_id")
    await page.keyboard.type("Administrators")  # a select picks the option typed
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("button", name="Add and send the invitation")).to_be_focused()
    await page.keyboard.press("Enter")

    await expect(page).to_have_url(re.compile(r"/admin/settings/system/staff$"))
    await expect(page.locator(".flash-success")).to_contain_text("Kim Lee was added")
    member = await Staff.select(Staff.id, Staff.first_name, Staff.last_name).where(
        Staff.email == "kim@example.com"
    )
    assert [(m["first_name"], m["last_name"]) for m in member] == [("Kim", "Lee")]
    group = await StaffCompany.select(StaffCompany.staff_group.name).where(
        StaffCompany.staff == member[0]["id"], StaffCompany.company == company_id
    )
    assert group == [{"staff_group.name": "Administrators"}]
    assert "kim@example.com" in portal.mail.recipients


# --- accessibility (axe) ---------------------------------------------------------------------


@pytest.fixture
async def a11y_page(browser: Browser) -> AsyncIterator[Page]:
    context = await a11y_context(browser)
    yield await context.new_page()
    await context.close()


@dataclass(frozen=True)
class Pages:
    """What the checked pages' addresses need."""

    support_id: int
    support_group_id: int
    invitation: str


@dataclass(frozen=True)
class Checked:
    name: str
    path: Callable[[Pages], str]
    logged_in: bool = True
    then: Callable[[Page], Awaitable[None]] | None = None  # brings the page to the state checked
    status: int = 200
    pending: bool = False  # another part of the issue still building it: skipped while 404


async def _submit_empty(page: Page) -> None:
    await page.locator("main form.form").get_by_role("button").first.click()
    await expect(page.locator("#form-errors")).to_be_visible()


async def _has_forgot_link(page: Page) -> None:
    await expect(page.get_by_role("link", name="Forgot your password?")).to_be_visible()


async def _send_reset(page: Page) -> None:
    await page.get_by_label("Email").fill("nobody@example.com")
    await page.get_by_role("button", name="Send the link").click()
    await expect(page.get_by_role("heading", name="Check your email")).to_be_visible()


async def _wrong_current_password(page: Page) -> None:
    """Change password with a wrong current one: the error summary leads to that form's field,
    not to the same-named field of the form above it."""
    form = page.locator("form[action='/admin/profile/password']")
    await form.get_by_label("Current password").fill("Not-my-password-1")
    await form.get_by_label("New password").fill("Another-quiet-river-1")
    await form.get_by_role("button", name="Change password").click()
    summary = page.locator("#form-errors")
    await expect(summary).to_be_focused()
    await summary.get_by_role("link").first.click()
    await expect(page.locator("#password_current_password")).to_be_focused()


STAFF_PAGES = "/admin/settings/system/staff"
GROUPS_PAGES = "/admin/settings/system/staff-groups"
CHECKED = [
    Checked("staff login", lambda p: "/admin/login", False, _has_forgot_link),
    Checked("forgot password", lambda p: "/admin/forgot-password", logged_in=False),
    Checked("forgot password, mail sent", lambda p: "/admin/forgot-password", False, _send_reset),
    Checked("invitation link", lambda p: p.invitation, logged_in=False),
    Checked("invitation link, errors", lambda p: p.invitation, False, _submit_empty),
    Checked("invitation link not valid", lambda p: "/admin/invitation/x", False, status=404),
    Checked("staff list", lambda p: STAFF_PAGES),
    Checked("add staff member", lambda p: f"{STAFF_PAGES}/add"),
    Checked("add staff member, errors", lambda p: f"{STAFF_PAGES}/add", then=_submit_empty),
    Checked("edit staff member", lambda p: f"{STAFF_PAGES}/{p.support_id}/edit"),
    Checked("delete staff member", lambda p: f"{STAFF_PAGES}/{p.support_id}/delete"),
    Checked("staff groups (permission matrix)", lambda p: GROUPS_PAGES),
    Checked("add staff group", lambda p: f"{GROUPS_PAGES}/add"),
    Checked("add staff group, errors", lambda p: f"{GROUPS_PAGES}/add", then=_submit_empty),
    Checked("edit staff group", lambda p: f"{GROUPS_PAGES}/{p.support_group_id}/edit"),
    Checked("my profile", lambda p: "/admin/profile"),
    Checked(
        "my profile, password errors", lambda p: "/admin/profile", then=_wrong_current_password
    ),
    Checked("dashboard", lambda p: "/admin"),
    Checked("activity log", lambda p: "/admin/tools/activity"),
    Checked("company settings, general", lambda p: "/admin/settings/company/general"),
    Checked("companies", lambda p: "/admin/settings/system/companies", pending=True),
]


@pytest.mark.parametrize("checked", CHECKED, ids=[c.name for c in CHECKED])
async def test_staff_management_pages_are_accessible(
    a11y_page: Page, portal: Portal, staff: dict, company_id: int, checked: Checked
):
    admin = Actor(
        kind="staff", id=staff["id"], name="Ada Admin", permissions=groups.all_permissions()
    )
    support_group_id = await groups.group_by_name(company_id, "Support")
    support_id = await services.create_staff(
        email="sam@example.com",
        password=NEW_PASSWORD,
        first_name="Sam",
        last_name="Support",
        company_ids=[company_id],
        group="Support",
    )
    await services.invite_member(
        company_id,
        MemberDetails(
            first_name="Ivy",
            last_name="Invited",
            email="ivy@example.com",
            group_id=support_group_id,
        ),
        admin,
    )
    # Sent from this process, which has no SMTP: the message waits in the outbox.
    invitation = await MailMessage.select(MailMessage.body_text).where(
        MailMessage.to_address == "ivy@example.com"
    )
    pages = Pages(support_id, support_group_id, _invitation_link(invitation[0]["body_text"])[1])

    if checked.logged_in:
        await log_in_admin_page(a11y_page, portal.url, staff["email"], staff["password"])
    response = await a11y_page.goto(f"{portal.url}{checked.path(pages)}")
    assert response is not None
    if checked.pending and response.status == 404:
        pytest.skip(f"{checked.name}: the page does not exist yet")
    assert response.status == checked.status
    if checked.then:
        await checked.then(a11y_page)
    await assert_accessible(a11y_page, checked.name)
