"""The company's settings in headless Chromium, against a real `portal serve` that mails through
a real SMTP server: an administrator fills in the company's details and sender, uploads a logo
that then shows in the admin header, on the client area's login page and in an emailed
message; Add Client offers the company's currencies only; a company is added and the header's
switcher offers it; axe on the pages."""

from __future__ import annotations

import io
import re
import time
from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller
from PIL import Image
from playwright.async_api import Browser, Page, expect

from a11y_helpers import a11y_context, assert_accessible
from conftest import SmtpCollector, free_port, log_in_admin_page
from profile_helpers import make_client
from server_helpers import PortalServer

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def portal(tmp_path_factory) -> Iterator[tuple[PortalServer, SmtpCollector]]:
    """The portal with a real SMTP server (it reads PORTAL_SMTP_URL once, at start)."""
    collector = SmtpCollector()
    controller = Controller(collector, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        server = PortalServer(
            tmp_path_factory.mktemp("company") / "server.log",
            env={"PORTAL_SMTP_URL": f"smtp://127.0.0.1:{controller.port}"},
        )
        server.env["PORTAL_BASE_URL"] = server.url  # the emailed logo's URL leads here
        with server:
            yield server, collector
    finally:
        controller.stop()


def _logo_file() -> dict:
    buffer = io.BytesIO()
    Image.new("RGB", (160, 48), (200, 40, 40)).save(buffer, format="PNG")
    return {"name": "logo.png", "mimeType": "image/png", "buffer": buffer.getvalue()}


def _watch_errors(page: Page) -> list[str]:
    """Console errors (a CSP refusal among them) and uncaught exceptions of the page."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


async def _loaded(image) -> bool:
    return await image.evaluate("img => img.complete && img.naturalWidth > 0")


def _mail_about(collector: SmtpCollector, subject: str, timeout: float = 10):
    """The newest message the SMTP server received with this subject."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in reversed(collector.messages):
            if message["Subject"] == subject:
                return message
        time.sleep(0.05)
    raise AssertionError(f"no mail about {subject!r}")


async def test_logo_and_sender_reach_the_header_the_client_login_and_mail(
    browser: Browser, page: Page, portal, staff: dict, company_id: int
):
    server, mail = portal
    client_id = await make_client(company_id)
    errors = _watch_errors(page)
    await log_in_admin_page(page, server.url, staff["email"], staff["password"])
    await page.get_by_role("navigation", name="Main").get_by_text("Settings", exact=True).click()
    await page.get_by_role("link", name="Company > General", exact=True).click()

    await page.get_by_label("Company Name").fill("Northwind Hosting")
    await page.get_by_label("Address 1").fill("1 Harbour Road")
    await page.get_by_label("Sender Name").fill("Northwind Billing")
    await page.get_by_label("Sender Email").fill("billing@northwind.example")
    await page.get_by_role("button", name="Save Company Details").click()
    await expect(page.get_by_text("The company details were saved.")).to_be_visible()

    await page.get_by_label("Logo image").set_input_files(_logo_file())
    await page.get_by_role("button", name="Upload Logo").click()
    await expect(page.get_by_text("The logo was saved.")).to_be_visible()
    brand = page.locator("header a.brand")
    await expect(brand).to_have_text("Northwind Hosting")
    logo = brand.locator("img.brand-logo")
    await expect(logo).to_have_attribute("src", f"/logo/{company_id}/1.png")
    assert await _loaded(logo), "the header's logo did not load"
    await expect(page.get_by_alt_text("The current logo of Northwind Hosting")).to_be_visible()

    # The client area's login page, for someone not logged in.
    visitor = await browser.new_context()
    login = await visitor.new_page()
    await login.goto(f"{server.url}/client/login")
    client_brand = login.locator("header a.brand")
    await expect(client_brand).to_have_text("Northwind Hosting")
    assert await _loaded(client_brand.locator("img.brand-logo")), "no logo on the login page"
    await visitor.close()

    # An email to a client comes from the sender, with the logo and the name atop its HTML.
    await page.goto(f"{server.url}/admin/clients/{client_id}/email")
    await page.get_by_label("Subject").fill("Your renewal")
    await page.get_by_label("Message").fill("Hello Ada,\n\nYour plan renews next week.")
    await page.get_by_role("button", name="Send Email").click()
    await expect(page).to_have_url(re.compile(rf"/admin/clients/{client_id}"))
    message = _mail_about(mail, "Your renewal")
    assert message["From"] == "Northwind Billing <billing@northwind.example>"
    assert "Your plan renews next week." in message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    logo_url = f"{server.url}/logo/{company_id}/1.png"
    assert f'src="{logo_url}"' in html and "Northwind Hosting</strong>" in html
    # The emailed logo's URL serves the image to anyone.
    emailed = await browser.new_context()
    image_page = await emailed.new_page()
    response = await image_page.goto(logo_url)
    assert response is not None and response.headers["content-type"] == "image/png"
    await emailed.close()
    assert errors == []


async def test_add_client_offers_the_company_currencies_only(
    page: Page, portal, staff: dict, company_id: int
):
    server, _ = portal
    await log_in_admin_page(page, server.url, staff["email"], staff["password"])
    await page.goto(f"{server.url}/admin/clients/add")
    currency = page.get_by_label("Preferred Currency")
    await expect(currency.locator("option")).to_have_text(["USD – US Dollar"])

    await page.goto(f"{server.url}/admin/settings/company/general")
    await page.get_by_label("Add a currency").select_option("EUR")
    await page.get_by_role("button", name="Add Currency").click()
    await expect(page.get_by_text("The currencies were saved.")).to_be_visible()
    await page.get_by_label("Add a currency").select_option("JPY")
    await page.get_by_role("button", name="Add Currency").click()
    await expect(page.locator("#currency-JPY")).to_be_visible()
    await page.get_by_role("button", name="Remove JPY").click()
    await expect(page.locator("#currency-JPY")).to_have_count(0)

    await page.goto(f"{server.url}/admin/clients/add")
    await expect(currency.locator("option")).to_have_text(["USD – US Dollar", "EUR – Euro"])
    await expect(currency).to_have_value("USD")


async def test_a_new_company_joins_the_switcher(page: Page, portal, staff: dict):
    server, _ = portal
    await log_in_admin_page(page, server.url, staff["email"], staff["password"])
    await page.get_by_role("navigation", name="Main").get_by_text("Settings", exact=True).click()
    await page.get_by_role("link", name="System > Companies", exact=True).click()
    await page.get_by_role("link", name="Add Company").click()
    await page.get_by_label("Company Name").fill("Contoso Cloud")
    await page.get_by_label("Default Currency").select_option("EUR")
    await page.get_by_label("Default Language").select_option("de")
    await page.get_by_label("Country").select_option("AT")
    await page.get_by_role("button", name="Add Company").click()
    await expect(page.get_by_text("The company Contoso Cloud was added.")).to_be_visible()
    await expect(page.locator("#companies-caption")).to_have_count(1)
    switcher = page.get_by_label("Company", exact=True)
    await switcher.select_option(label="Contoso Cloud")
    await page.get_by_role("button", name="Switch").click()
    await expect(page.locator("header a.brand")).to_have_text("Contoso Cloud")


async def test_company_pages_are_accessible(browser: Browser, portal, staff: dict):
    server, _ = portal
    context = await a11y_context(browser)
    page = await context.new_page()
    await log_in_admin_page(page, server.url, staff["email"], staff["password"])
    for path in (
        "/admin/settings/company/general",
        "/admin/settings/system/companies",
        "/admin/settings/system/companies/add",
    ):
        await page.goto(f"{server.url}{path}")
        await assert_accessible(page, path)
    # With errors beside the fields.
    await page.goto(f"{server.url}/admin/settings/company/general")
    await page.get_by_label("Company Name").fill("")
    await page.get_by_label("Sender Email").fill("not an address")
    await page.get_by_role("button", name="Save Company Details").click()
    await expect(page.locator("#sender_email-error")).to_be_visible()
    await assert_accessible(page, "general settings with errors")
    await page.goto(f"{server.url}/client/login")
    await assert_accessible(page, "client login with the company's brand")
    await context.close()
