"""Account security in headless Chromium against a real `portal serve`: two-factor enrolment
with the code computed from the secret the page shows, signing in with a code and with a
recovery code (which then no longer works); passkeys registered with Chromium's virtual
authenticator (DevTools WebAuthn domain) and used alone to sign in, as staff and as a client
user; Login as Client with its banner; and axe on the new pages."""

from __future__ import annotations

import re
from urllib.parse import parse_qs

import httpx
import pytest
from playwright.async_api import BrowserContext, Page, expect
from security_helpers import code

from a11y_helpers import a11y_context, assert_accessible
from conftest import csrf_from, log_in_admin_page
from portal.security.tables import Passkey
from test_client_area import PASSWORD, make_client

pytestmark = pytest.mark.browser


def on_localhost(live_server: str) -> str:
    """WebAuthn refuses IP addresses as the site of a passkey: the same server by name."""
    return live_server.replace("127.0.0.1", "localhost")


async def virtual_authenticator(context: BrowserContext, page: Page) -> None:
    """A platform authenticator that keeps discoverable credentials and verifies the user."""
    devtools = await context.new_cdp_session(page)
    await devtools.send("WebAuthn.enable")
    await devtools.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )


async def log_out(page: Page) -> None:
    await page.get_by_role("button", name="Log out").click()


async def test_staff_enrols_totp_signs_in_with_code_then_with_a_recovery_code(
    browser, live_server: str, staff: dict
):
    context = await a11y_context(browser)
    page = await context.new_page()
    await log_in_admin_page(page, live_server, staff["email"], staff["password"])
    await page.get_by_role("link", name="Security").click()
    await page.get_by_role("link", name="Set up two-factor authentication").click()
    await expect(page.locator(".qr-code svg")).to_be_visible()
    secret = (await page.get_by_test_id("totp-secret").inner_text()).replace(" ", "")
    await page.get_by_label("6-digit code").fill(code(secret))
    await page.get_by_role("button", name="Turn on").click()
    await expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    codes = await page.get_by_test_id("recovery-codes").locator("code").all_inner_texts()
    assert len(codes) == 10
    await assert_accessible(page, "recovery codes")
    await page.get_by_role("link", name="I have saved them").click()
    await log_out(page)

    async def password_step() -> None:
        await page.goto(f"{live_server}/admin/login")
        await page.get_by_label("Email").fill(staff["email"])
        await page.get_by_label("Password").fill(staff["password"])
        await page.get_by_role("button", name="Log in").click()
        await expect(page.get_by_role("heading", name="Two-factor authentication")).to_be_visible()

    await password_step()
    await assert_accessible(page, "second step of the sign-in")
    await page.get_by_label("Code or recovery code").fill(code(secret, steps_ahead=1))
    await page.get_by_role("button", name="Verify").click()
    await expect(page).to_have_url(re.compile(r"/admin$"))
    await log_out(page)

    # The phone is lost: a recovery code instead, once.
    await password_step()
    await page.get_by_label("Code or recovery code").fill(codes[3])
    await page.get_by_role("button", name="Verify").click()
    await expect(page).to_have_url(re.compile(r"/admin$"))
    await expect(page.get_by_text("You used a recovery code")).to_be_visible()
    await log_out(page)
    await password_step()
    await page.get_by_label("Code or recovery code").fill(codes[3])
    await page.get_by_role("button", name="Verify").click()
    await expect(page.locator("#code-error")).to_contain_text("already used")
    await assert_accessible(page, "second step with an error")
    await context.close()


async def test_client_user_registers_a_passkey_and_signs_in_with_it_alone(
    browser, live_server: str, company_id: int
):
    await make_client(username="ann")
    url = on_localhost(live_server)
    context = await browser.new_context()
    context.set_default_timeout(10_000)
    page = await context.new_page()
    await virtual_authenticator(context, page)
    await page.goto(f"{url}/client/login")
    await page.get_by_label("Username or email").fill("ann")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await page.get_by_role("link", name="Sign-in and security").click()
    await page.get_by_label("Name of the new passkey").fill("Test laptop")
    await page.get_by_role("button", name="Add a passkey").click()
    await expect(page.get_by_text("Your passkey was added.")).to_be_visible()
    await expect(page.get_by_label("Name of passkey Test laptop")).to_have_value("Test laptop")
    assert await Passkey.count() == 1
    await log_out(page)

    async with page.expect_request(re.compile(r"/client/login/passkey$")) as sent:
        await page.get_by_role("button", name="Sign in with a passkey").click()
    await expect(page).to_have_url(re.compile(r"/client$"))
    await expect(page.get_by_role("heading", name="Welcome, Ann")).to_be_visible()
    used = await Passkey.select(Passkey.last_used_at).first()
    assert used["last_used_at"] is not None
    await context.close()

    # The same signed answer sent again (a replay) opens nothing: its challenge was used.
    answer = parse_qs((await sent.value).post_data)["credential"][0]
    async with httpx.AsyncClient(base_url=url) as http:
        login_page = await http.get("/client/login")
        replayed = await http.post(
            "/client/login/passkey",
            data={"credential": answer},
            headers={"x-csrftoken": csrf_from(login_page.text)},
        )
        assert replayed.status_code == 400 and "expired" in replayed.json()["error"]
        assert (await http.get("/client")).status_code == 302


async def test_staff_passkey_sign_in_and_a_passkey_of_another_area_is_not_recognised(
    browser, live_server: str, staff: dict, company_id: int
):
    url = on_localhost(live_server)
    context = await browser.new_context()
    context.set_default_timeout(10_000)
    page = await context.new_page()
    await virtual_authenticator(context, page)
    await log_in_admin_page(page, url, staff["email"], staff["password"])
    await page.goto(f"{url}/admin/security")
    await page.get_by_label("Name of the new passkey").fill("Office key")
    await page.get_by_role("button", name="Add a passkey").click()
    await expect(page.get_by_text("Your passkey was added.")).to_be_visible()
    await log_out(page)
    await page.get_by_role("button", name="Sign in with a passkey").click()
    await expect(page).to_have_url(re.compile(r"/admin$"))
    await log_out(page)

    # The staff passkey on the client area's sign-in page: not one of its users'.
    await page.goto(f"{url}/client/login")
    await page.get_by_role("button", name="Sign in with a passkey").click()
    await expect(page.locator("[data-passkey-error]")).to_contain_text("not recognised")
    await expect(page).to_have_url(re.compile(r"/client/login$"))
    await context.close()


async def test_login_as_client_banner_and_the_pages_are_accessible(
    browser, live_server: str, staff: dict, company_id: int
):
    ann = await make_client(username="ann")
    context = await a11y_context(browser)
    page = await context.new_page()
    await log_in_admin_page(page, live_server, staff["email"], staff["password"])
    for path, name in [
        ("/admin/security", "Sign-in and security"),
        ("/admin/sessions", "Your sessions"),
        ("/admin/confirm?next=/admin", "Confirm it’s you"),
        ("/admin/security/two-factor", "Set up two-factor authentication"),
    ]:
        await page.goto(f"{live_server}{path}")
        await expect(page.get_by_role("heading", name=name, exact=True)).to_be_visible()
        await assert_accessible(page, name)

    await page.goto(f"{live_server}/admin/clients/{ann}")
    await page.get_by_role("link", name="Login as Client").click()
    await assert_accessible(page, "Login as Client")
    await page.get_by_role("button", name="Login as Client").click()
    await expect(page.locator(".field-error")).to_contain_text("Reason")
    await page.get_by_label("Reason").fill("Ticket 4711: invoice question")
    await page.get_by_role("button", name="Login as Client").click()
    banner = page.get_by_role("region", name="Staff session")
    await expect(banner).to_contain_text("Logged in as Ann Client by Ada Admin.")
    await assert_accessible(page, "client dashboard with the staff banner")
    for path, name in [
        ("/client/security", "Sign-in and security"),
        ("/client/sessions", "Your sessions"),
    ]:
        await page.goto(f"{live_server}{path}")
        await expect(page.get_by_role("heading", name=name, exact=True)).to_be_visible()
        await assert_accessible(page, f"client {name}")
    await banner.get_by_role("button", name="End").click()
    await expect(page).to_have_url(re.compile(rf"/admin/clients/{ann}$"))
    await expect(page.get_by_text("no longer logged in as client Ann Client")).to_be_visible()
    await context.close()
