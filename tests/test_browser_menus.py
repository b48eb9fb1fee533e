"""The admin header's menus in headless Chromium: one open at a time, closed by a click
elsewhere and by Escape (which gives focus back to the menu's button), usable by keyboard."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from conftest import log_in_admin_page

pytestmark = pytest.mark.browser


async def test_one_menu_open_at_a_time_closed_by_escape_and_outside_click(
    page: Page, live_server: str, staff: dict
):
    await log_in_admin_page(page, live_server, staff["email"], staff["password"])
    clients = page.locator("details.menu", has=page.locator("summary", has_text="Clients"))
    settings = page.locator("details.menu", has=page.locator("summary", has_text="Settings"))
    tools = page.locator("details.menu", has=page.locator("summary", has_text="Tools"))

    await clients.locator("summary").click()
    await expect(clients).to_have_attribute("open", "")
    await settings.locator("summary").click()
    await expect(settings).to_have_attribute("open", "")
    await expect(clients).not_to_have_attribute("open", "")

    await page.keyboard.press("Escape")
    await expect(settings).not_to_have_attribute("open", "")
    await expect(settings.locator("summary")).to_be_focused()

    # By keyboard: Enter opens the focused menu, Tab reaches its links, Escape closes it.
    await tools.locator("summary").focus()
    await page.keyboard.press("Enter")
    await expect(tools).to_have_attribute("open", "")
    await page.keyboard.press("Tab")
    await expect(tools.locator("a").first).to_be_focused()
    await page.keyboard.press("Escape")
    await expect(tools).not_to_have_attribute("open", "")
    await expect(tools.locator("summary")).to_be_focused()

    await clients.locator("summary").click()
    await expect(clients).to_have_attribute("open", "")
    await page.locator("main h1").click()
    await expect(clients).not_to_have_attribute("open", "")
