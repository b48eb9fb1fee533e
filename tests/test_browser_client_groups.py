"""Client groups in headless Chromium: create VIP with a colour, a required Dropdown and an optional
encrypted Textbox through the pages; the list shows its badge in its colour (CSP-safe CSS)."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from conftest import log_in_admin_page
from portal.client_groups import services
from portal.client_groups.tables import ClientGroup, CustomField

pytestmark = pytest.mark.browser


async def test_create_vip_with_fields_and_see_its_badge(page: Page, live_server: str, staff: dict):
    errors: list[str] = []
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    page.on("pageerror", lambda error: errors.append(str(error)))
    await log_in_admin_page(page, live_server, staff["email"], staff["password"])
    await page.get_by_text("Settings", exact=True).click()
    await page.get_by_role("link", name="Company > Client Groups").click()
    await expect(page).to_have_title(re.compile("Client Groups"))
    await expect(page.locator("tbody tr")).to_have_count(1)
    await expect(page.locator("tbody tr").first).to_contain_text("Default")
    await expect(page.locator("tbody tr").first.get_by_role("link", name="Delete")).to_have_count(0)

    await page.get_by_role("link", name="Add Group").click()
    await expect(page).to_have_title(re.compile("Add Group"))
    await page.get_by_label("Name", exact=True).fill("VIP")
    await page.get_by_label("Description").fill("Our best clients")
    await page.get_by_label("Pick a colour").fill("#7c3aed")
    # An override's input shows once "Override for this group" is chosen.
    setting = page.locator("fieldset.setting", has_text="Client ID format")
    override_input = page.get_by_label("Client ID format for this group")
    await expect(override_input).to_be_hidden()
    await setting.get_by_label("Override for this group").check()
    await expect(override_input).to_be_visible()
    await override_input.fill("VIP-{num}")
    await page.get_by_role("button", name="Create Group").click()

    await expect(page).to_have_url(re.compile(r"/admin/settings/company/client-groups$"))
    await expect(page.get_by_text("The group VIP was created.")).to_be_visible()
    row = await ClientGroup.select().where(ClientGroup.name == "VIP").first()
    assert row["colour"] == "#7c3aed"
    assert await services.group_overrides(row["id"]) == {"client_id_format": "VIP-{num}"}
    badge = page.locator(f".group-colour-{row['id']}")
    await expect(badge).to_have_text("VIP")
    await expect(badge).to_have_css("background-color", "rgb(124, 58, 237)")
    await expect(badge).to_have_css("color", "rgb(255, 255, 255)")

    # Custom fields: a required Dropdown and an optional encrypted Textbox.
    await page.get_by_role("link", name="Custom Fields of VIP").click()
    await expect(page).to_have_title(re.compile("Custom Client Fields – VIP"))
    await page.get_by_label("Label", exact=True).fill("Tier")
    await page.get_by_label("Type").select_option("select")
    await page.get_by_label("Options").fill("Gold\nSilver\nBronze")
    await page.get_by_label("Yes", exact=True).check()
    await page.get_by_label("Visible to Clients").check()
    await page.get_by_label("Default value").fill("Silver")
    await page.get_by_role("button", name="Add Field").click()
    await expect(page.get_by_text("The field Tier was added.")).to_be_visible()

    await expect(page.get_by_label("Regex", exact=True)).to_be_hidden()
    await page.get_by_label("Label", exact=True).fill("Notes")
    await page.get_by_label("Type").select_option("textbox")
    await page.get_by_label("No", exact=True).check()
    await page.get_by_label("Encrypted").check()
    await page.get_by_role("button", name="Add Field").click()
    await expect(page.get_by_text("The field Notes was added.")).to_be_visible()

    rows = page.locator(".fields-table tbody tr")
    await expect(rows).to_have_count(2)
    await expect(rows.nth(0)).to_contain_text("Dropdown")
    await expect(rows.nth(1)).to_contain_text("Textbox")
    fields = await services.list_fields(staff["company_id"], row["id"])
    assert [
        (f["label"], f["field_type"], f["required"], f["encrypted"], f["options"]) for f in fields
    ] == [
        ("Tier", "select", "yes", False, "Gold\nSilver\nBronze"),
        ("Notes", "textbox", "no", True, ""),
    ]

    # Reordering works from the keyboard.
    await page.get_by_role("button", name="Move down Tier").focus()
    await page.keyboard.press("Enter")
    await expect(page.get_by_text("The field Tier was moved down.")).to_be_visible()
    await expect(rows.nth(0)).to_contain_text("Notes")
    labels = [
        r["label"]
        for r in await CustomField.select(CustomField.label)
        .where(CustomField.group == row["id"])
        .order_by(CustomField.position)
    ]
    assert labels == ["Notes", "Tier"]

    # A bad field comes back with its message beside it and the typed values kept.
    await page.get_by_label("Label", exact=True).fill("Code")
    await page.get_by_label("Custom Regex").check()
    await expect(page.get_by_label("Regex", exact=True)).to_be_visible()
    await page.get_by_label("Regex", exact=True).fill("([A-Z")
    await page.get_by_role("button", name="Add Field").click()
    await expect(page.locator("#regex-error")).to_contain_text("not a valid regular expression")
    await expect(page.get_by_label("Regex", exact=True)).to_have_value("([A-Z")
    await expect(page.get_by_label("Label", exact=True)).to_have_value("Code")

    # The browser logs the expected 422; nothing else (a CSP violation would show here).
    assert [e for e in errors if "status of 422" not in e] == []
