"""Users of a client account in headless Chromium: an owner invites a billing person with only
the invoices permission; the invitee creates a login from the mailed link and sees the invoices
and nothing else of the account; invited into a second account, the same person accepts with
the existing login and switches between the two. The pages pass axe-core (WCAG A/AA)."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser, Page, expect

from a11y_helpers import a11y_context, assert_accessible
from conftest import log_in_admin_page
from portal.clients import users
from portal.clients.tables import AccountUser
from portal.core.actors import Actor
from portal.mail.tables import MailMessage
from test_client_area import PASSWORD, make_client

pytestmark = pytest.mark.browser

BILL_PASSWORD = "Billing-otter-91"
LINK = re.compile(r"https?://[^/\s]+(/client/invitation/[A-Za-z0-9_\-]+)")


async def mailed_link(email: str) -> str:
    """The path of the invitation link last mailed to `email`, as the outbox holds it."""
    message = (
        await MailMessage.select()
        .where(MailMessage.kind == "invitation", MailMessage.to_address == email)
        .order_by(MailMessage.id, ascending=False)
        .first()
    )
    assert message is not None, f"no invitation in the outbox for {email}"
    match = LINK.search(message["body_text"])
    assert match, message["body_text"]
    return match.group(1)


async def log_in(page: Page, live_server: str, identifier: str, password: str) -> None:
    await page.goto(f"{live_server}/client/login")
    await page.get_by_label("Username or email").fill(identifier)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Log in").click()
    await expect(page).to_have_url(re.compile(r"/client$"))


def main_nav(page: Page):
    return page.get_by_role("navigation", name="Main")


async def test_owner_invites_a_billing_person_who_sees_only_invoices_and_switches_accounts(
    browser: Browser, live_server: str, company_id: int
):
    first = await make_client(username="ann", company="Ann Trading")
    owner_context = await a11y_context(browser)
    bill_context = await a11y_context(browser)
    try:
        owner = await owner_context.new_page()
        await log_in(owner, live_server, "ann", PASSWORD)
        await main_nav(owner).get_by_role("link", name="Users").click()
        await expect(owner.get_by_role("heading", name="Users", exact=True)).to_be_visible()
        await assert_accessible(owner, "the owner's Users page")

        # A mistake first: the message is beside Email, the choice is kept.
        await owner.get_by_label("Email", exact=True).fill("ann@example.com")
        await owner.get_by_label("Invoices", exact=True).check()
        await owner.get_by_role("button", name="Send invitation").click()
        await expect(owner.locator("#email-error")).to_have_text(
            "This address is already a user of the account."
        )
        await expect(owner.get_by_label("Invoices", exact=True)).to_be_checked()
        await assert_accessible(owner, "the Users page with an error")

        await owner.get_by_label("Email", exact=True).fill("bill@example.com")
        await owner.get_by_role("button", name="Send invitation").click()
        await expect(
            owner.get_by_text("An invitation was sent to bill@example.com.")
        ).to_be_visible()
        invitations = owner.get_by_role("region", name="Pending invitations")
        await expect(
            invitations.get_by_role("row", name=re.compile("bill@example.com"))
        ).to_contain_text("Invoices")

        # The invitee opens the link from the outbox mail and creates a login.
        bill = await bill_context.new_page()
        link = await mailed_link("bill@example.com")
        await bill.goto(f"{live_server}{link}")
        await expect(
            bill.get_by_role("heading", name="Join the account Ann Trading")
        ).to_be_visible()
        await assert_accessible(bill, "the invitation page")
        create = bill.locator("section", has=bill.get_by_role("heading", name="Create a login"))
        await create.get_by_label("Name", exact=True).fill("Bill Payer")
        await create.get_by_label("Password").fill("short")
        await create.get_by_role("button", name="Create login and accept").click()
        await expect(bill.locator("#password-error")).to_be_visible()
        await expect(create.get_by_label("Name", exact=True)).to_have_value("Bill Payer")
        await assert_accessible(bill, "the invitation page with an error")
        await create.get_by_label("Password").fill(BILL_PASSWORD)
        await create.get_by_role("button", name="Create login and accept").click()
        await expect(bill).to_have_url(re.compile(r"/client$"))
        await expect(bill.get_by_text("You joined the account Ann Trading.")).to_be_visible()

        # Invoices, and nothing else of the account.
        nav = main_nav(bill)
        await expect(nav.get_by_role("link", name="Invoices")).to_be_visible()
        for hidden in ["Services", "Transactions", "Emails", "Contacts", "Account details"]:
            await expect(nav.get_by_role("link", name=hidden)).to_have_count(0)
        await expect(nav.get_by_role("link", name="Users")).to_have_count(0)
        await assert_accessible(bill, "the billing person's dashboard")
        await nav.get_by_role("link", name="Invoices").click()
        await expect(bill).to_have_url(re.compile(r"/client/invoices$"))
        await expect(bill.get_by_role("heading", name="Invoices", exact=True)).to_be_visible()
        await assert_accessible(bill, "the billing person's invoices")
        services = await bill.goto(f"{live_server}/client/services")
        assert services is not None and services.status == 403
        users_page = await bill.goto(f"{live_server}/client/users")
        assert users_page is not None and users_page.status == 403

        # The used link no longer works.
        used = await bill.goto(f"{live_server}{link}")
        assert used is not None and used.status == 404
        await expect(
            bill.get_by_text("This invitation link is no longer valid (used, revoked or expired).")
        ).to_be_visible()
        await assert_accessible(bill, "the invalid invitation page")

        # A second account invites the same person, who accepts with the existing login.
        second = await make_client(email="bob@example.com", username="bob", company="Bob Works")
        bob = await AccountUser.select(AccountUser.id).where(AccountUser.username == "bob").first()
        await users.invite(
            company_id,
            second,
            "bill@example.com",
            ["invoices", "services"],
            Actor(kind="client", id=bob["id"], name="Bob Client"),
        )
        await bill.goto(f"{live_server}/client")
        await bill.get_by_role("button", name="Log out").click()
        await expect(bill).to_have_url(re.compile(r"/client/login$"))
        await bill.goto(f"{live_server}{await mailed_link('bill@example.com')}")
        await expect(bill.get_by_role("heading", name="Join the account Bob Works")).to_be_visible()
        existing = bill.locator(
            "section", has=bill.get_by_role("heading", name="I already have a login")
        )
        await existing.get_by_label("Username or email").fill("bill@example.com")
        await existing.get_by_label("Password").fill(BILL_PASSWORD)
        await existing.get_by_role("button", name="Log in and accept").click()
        await expect(bill.get_by_text("You joined the account Bob Works.")).to_be_visible()

        # The account switcher in the header.
        switcher = bill.locator("select#account-switch")
        await expect(switcher).to_have_value(str(second))
        await expect(switcher.locator("option")).to_have_count(2)
        await expect(main_nav(bill).get_by_role("link", name="Services")).to_be_visible()
        await assert_accessible(bill, "the dashboard with the account switcher")
        await switcher.select_option(str(first))
        await bill.get_by_role("button", name="Switch").click()
        await expect(bill.get_by_text("You are now working in Ann Trading.")).to_be_visible()
        await expect(bill.locator("select#account-switch")).to_have_value(str(first))
        await expect(main_nav(bill).get_by_role("link", name="Services")).to_have_count(0)
        await bill.locator("select#account-switch").select_option(str(second))
        await bill.get_by_role("button", name="Switch").click()
        await expect(bill.get_by_text("You are now working in Bob Works.")).to_be_visible()
        await expect(main_nav(bill).get_by_role("link", name="Services")).to_be_visible()

        # The owner sees Bill among the account's users.
        await owner.reload()
        await expect(owner.locator('tr[data-user="bill@example.com"]')).to_contain_text(
            "Bill Payer"
        )
        await expect(owner.get_by_text("No invitations wait for an answer.")).to_be_visible()
    finally:
        await owner_context.close()
        await bill_context.close()


async def test_staff_invite_from_the_profile_users_widget(
    browser: Browser, live_server: str, staff: dict
):
    client_id = await make_client(username="ann", company="Ann Trading")
    context = await a11y_context(browser)
    try:
        page = await context.new_page()
        await log_in_admin_page(page, live_server, staff["email"], staff["password"])
        await page.goto(f"{live_server}/admin/clients/{client_id}")
        widget = page.locator("#widget-users")
        await expect(widget.locator('tr[data-user="ann"]')).to_contain_text("Owner")
        await assert_accessible(page, "the client profile with the Users widget")

        await widget.get_by_label("Email", exact=True).fill("ann@example.com")
        await widget.get_by_role("button", name="Send Invitation").click()
        await expect(page.locator("#email-error")).to_have_text(
            "This address is already a user of the account."
        )
        await assert_accessible(page, "the Users widget page with an error")

        await page.get_by_label("Email", exact=True).fill("bill@example.com")
        await page.get_by_label("Invoices", exact=True).check()
        await page.get_by_role("button", name="Send Invitation").click()
        sent = page.get_by_text("An invitation was sent to bill@example.com.")
        await expect(sent).to_be_visible()
        row = page.locator("#widget-users").get_by_role("row", name=re.compile("bill@example.com"))
        await expect(row).to_contain_text("Invoices")
        await row.get_by_role("button", name=re.compile("Revoke")).click()
        await expect(page.get_by_text("The invitation was revoked.")).to_be_visible()
        await expect(page.locator("#widget-users")).to_contain_text(
            "No invitations wait for an answer."
        )
        assert await mailed_link("bill@example.com")
    finally:
        await context.close()
