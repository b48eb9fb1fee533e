"""The client area's record pages in headless Chromium: an owner walks through invoices (and
one invoice, billed to the billing contact), services, transactions, emails, contacts and
marketing preferences from the main navigation, changes a contact's consent with the keyboard,
and every page passes axe-core (WCAG A/AA)."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser, expect
from test_browser_account_users import log_in, main_nav
from test_client_area_records import account  # noqa: F401 - the fixture

from a11y_helpers import a11y_context, assert_accessible
from portal.clients.tables import Contact
from test_client_area import PASSWORD

pytestmark = pytest.mark.browser


async def test_owner_walks_through_the_record_pages(browser: Browser, live_server: str, account):  # noqa: F811
    context = await a11y_context(browser)
    try:
        page = await context.new_page()
        await log_in(page, live_server, "ann", PASSWORD)
        nav = main_nav(page)
        for label in ["Invoices", "Services", "Transactions", "Emails", "Contacts"]:
            await nav.get_by_role("link", name=label, exact=True).click()
            await expect(page.get_by_role("heading", name=label, exact=True)).to_be_visible()
            await expect(nav.get_by_role("link", name=label, exact=True)).to_have_attribute(
                "aria-current", "page"
            )
            await assert_accessible(page, f"the {label} page")

        await nav.get_by_role("link", name="Invoices", exact=True).click()
        await page.locator(f'a[href="/client/invoices/{account["sent"]}"]').click()
        await expect(page.get_by_role("heading", name=re.compile(r"^Invoice \d+$"))).to_be_visible()
        await expect(page.locator("address")).to_contain_text("Bill Payer")
        await assert_accessible(page, "an invoice")

        await nav.get_by_role("link", name="Marketing preferences").click()
        box = page.get_by_label(re.compile("Bill Payer"))
        await expect(box).not_to_be_checked()
        await assert_accessible(page, "the marketing preferences")
        await box.focus()
        await page.keyboard.press("Space")
        await page.get_by_role("button", name="Save").click()
        await expect(page.get_by_text("Your marketing preferences were saved.")).to_be_visible()
        await expect(page.get_by_label(re.compile("Bill Payer"))).to_be_checked()
        row = await Contact.select(Contact.marketing_opt_in).where(
            Contact.email == "bill@example.com"
        )
        assert row[0]["marketing_opt_in"] is True
    finally:
        await context.close()


async def test_owner_adds_a_contact_with_the_keyboard_and_deletes_it(
    browser: Browser,
    live_server: str,
    account,  # noqa: F811
):
    context = await a11y_context(browser)
    try:
        page = await context.new_page()
        await log_in(page, live_server, "ann", PASSWORD)
        await main_nav(page).get_by_role("link", name="Contacts", exact=True).click()
        await page.get_by_role("link", name="Add a contact").click()
        await expect(page.get_by_role("heading", name="Add a contact")).to_be_visible()
        await assert_accessible(page, "the client area's contact form")
        await page.locator("#contact_type").select_option("other")
        await page.get_by_label("First Name").fill("Otto")
        await page.get_by_label("Address 1").fill("3 Side St")
        await page.get_by_label("City").fill("Bremen")
        await page.get_by_label("Country").select_option("DE")
        await page.get_by_label("State/Province").select_option("DE-HB")
        await page.get_by_label("Zip/Postal Code").fill("28195")
        await page.get_by_label("Email", exact=True).fill("otto@example.com")
        await page.get_by_role("button", name="Add Number").click()
        await expect(page.locator(".phone-row")).to_have_count(2)
        await page.get_by_label("Email", exact=True).press("Enter")  # Last Name is missing
        await expect(page.locator("#last_name-error")).to_be_visible()
        await expect(page.get_by_label("First Name")).to_have_value("Otto")
        await assert_accessible(page, "the contact form with an error")
        await page.get_by_label("Last Name").fill("Other")
        await page.get_by_role("button", name="Save", exact=True).click()
        await expect(page.get_by_text("Otto Other was added.")).to_be_visible()
        row = page.locator("tr", has_text="otto@example.com")
        await expect(row).to_contain_text("Other")
        await row.get_by_role("link", name=re.compile("Delete")).click()
        await assert_accessible(page, "the delete confirmation")
        await page.get_by_role("button", name="Delete").click()
        await expect(page.get_by_text("Otto Other was deleted.")).to_be_visible()
        await expect(page.locator("tr", has_text="otto@example.com")).to_have_count(0)
    finally:
        await context.close()
