"""Add Contact in headless Chromium: the page, a mistake reported beside its field, the profile's
Contacts widget after the contact is added, Edit Contact and Delete Contact pass axe-core
(WCAG A/AA); Add Number works through htmx."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser, expect

from a11y_helpers import a11y_context, assert_accessible
from conftest import log_in_admin_page
from profile_helpers import make_client

pytestmark = pytest.mark.browser


async def test_add_contact_page_is_accessible_and_adds_the_contact(
    browser: Browser, live_server: str, staff: dict, company_id: int
):
    client_id = await make_client(company_id, first_name="Ann", last_name="Owner")
    context = await a11y_context(browser)
    try:
        page = await context.new_page()
        await log_in_admin_page(page, live_server, staff["email"], staff["password"])
        await page.goto(f"{live_server}/admin/clients/{client_id}")
        actions = page.get_by_role("region", name="Account Actions")
        await actions.get_by_role("link", name="Add Contact").click()
        await expect(page).to_have_url(re.compile(rf"/admin/clients/{client_id}/contacts/add$"))
        await expect(page.get_by_role("heading", name="Add Contact")).to_be_visible()
        await assert_accessible(page, "Add Contact")

        # A mistake first: the message beside the field, the rest kept.
        await page.locator("#contact_type").select_option("other")
        await page.get_by_label("First Name", exact=True).fill("Olga")
        await page.get_by_label("Email", exact=True).fill("olga@example.com")
        await page.get_by_label("Opt-in to marketing emails").check()
        await page.get_by_role("button", name="Add Contact").click()
        await expect(page.locator("#last_name-error")).to_have_text("Last Name is required.")
        await expect(page.get_by_label("First Name", exact=True)).to_have_value("Olga")
        await expect(page.locator("#contact_type")).to_have_value("other")
        await assert_accessible(page, "Add Contact with an error")

        # Add Number through htmx: a second row, filled in.
        await page.get_by_label("Last Name", exact=True).fill("Other")
        await page.get_by_role("button", name="Add Number").click()
        numbers = page.locator("input[name=phone_number]")
        await expect(numbers).to_have_count(2)
        await numbers.nth(0).fill("416 555 0101")
        await numbers.nth(1).fill("416 555 0102")
        await page.get_by_role("button", name="Add Contact").click()

        await expect(page).to_have_url(re.compile(rf"/admin/clients/{client_id}#widget-contacts$"))
        widget = page.locator("[data-widget-content=contacts]")
        await expect(widget).to_contain_text("Olga Other")
        await expect(widget).to_contain_text("+1 416-555-0102")
        await assert_accessible(page, "the profile with the Contacts widget")

        await widget.get_by_role("link", name="Edit contact Olga Other").click()
        await expect(page.get_by_label("Last Name", exact=True)).to_have_value("Other")
        await assert_accessible(page, "Edit Contact")
        await page.get_by_role("link", name="Delete Contact").click()
        await expect(page.get_by_role("heading", name="Delete the other contact")).to_be_visible()
        await assert_accessible(page, "Delete Contact")
        await page.get_by_role("button", name="Delete Contact").click()
        await expect(page.locator("[data-widget-content=contacts]")).to_contain_text(
            "No billing or other contacts yet."
        )
    finally:
        await context.close()
