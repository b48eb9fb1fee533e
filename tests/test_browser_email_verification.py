"""Email verification in headless Chromium: a new client of a group that requires verified
addresses sees the banner, asks for the link again, opens the mailed link, confirms, and the
banner is gone. The banner page and the link's page pass axe-core (WCAG A/AA)."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser, Page, expect

from a11y_helpers import a11y_context, assert_accessible
from portal.client_groups import services as groups
from portal.clients import users
from portal.core.actors import SYSTEM
from portal.mail.tables import MailMessage
from test_client_area import PASSWORD, make_client

pytestmark = pytest.mark.browser

LINK = re.compile(r"https?://[^/\s]+(/client/verify/[A-Za-z0-9_\-]+)")


async def log_in(page: Page, live_server: str, identifier: str, password: str) -> None:
    await page.goto(f"{live_server}/client/login")
    await page.get_by_label("Username or email").fill(identifier)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Log in").click()
    await expect(page).to_have_url(re.compile(r"/client$"))


async def latest_link(email: str) -> str:
    message = (
        await MailMessage.select()
        .where(MailMessage.kind == "email_verification", MailMessage.to_address == email)
        .order_by(MailMessage.id, ascending=False)
        .first()
    )
    assert message is not None, f"no verification mail to {email}"
    return LINK.search(message["body_text"]).group(1)


async def test_unverified_client_sees_the_banner_resends_and_confirms(
    browser: Browser, live_server: str, company_id: int
):
    await groups.set_company_settings(company_id, {"email_verification": "true"}, SYSTEM)
    client_id = await make_client(username="ann")
    first_link = await latest_link("ann@example.com")
    context = await a11y_context(browser)
    try:
        page = await context.new_page()
        await log_in(page, live_server, "ann", PASSWORD)
        banner = page.get_by_role("region", name="Email address")
        await expect(banner).to_contain_text("Please confirm your email address ann@example.com.")
        await assert_accessible(page, "the dashboard with the verification banner")

        await banner.get_by_role("button", name="Resend the link").click()
        await expect(page.get_by_text("We sent a new link to ann@example.com.")).to_be_visible()
        await expect(page).to_have_url(re.compile(r"/client$"))
        link = await latest_link("ann@example.com")
        assert link != first_link

        await page.goto(f"{live_server}{link}")
        await expect(page.get_by_role("heading", name="Confirm your email address")).to_be_visible()
        await expect(page.get_by_text("ann@example.com")).to_be_visible()
        await assert_accessible(page, "the verification link's page")
        assert (await users.owner_of(client_id))["email_verified_at"] is None

        await page.get_by_role("button", name="Confirm email address").click()
        await expect(page.get_by_role("heading", name="Email address confirmed")).to_be_visible()
        await assert_accessible(page, "the confirmation page")
        assert (await users.owner_of(client_id))["email_verified_at"] is not None

        await page.get_by_role("link", name="Continue").click()
        await expect(page.get_by_role("heading", name="Welcome, Ann")).to_be_visible()
        await expect(page.get_by_role("region", name="Email address")).to_have_count(0)

        # A used link gets the page of every link that is not valid.
        await page.goto(f"{live_server}{link}")
        await expect(page.get_by_role("heading", name="Link not valid")).to_be_visible()
        await assert_accessible(page, "the page of a used link")
    finally:
        await context.close()
