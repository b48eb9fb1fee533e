"""Merge Client in headless Chromium, against a real `portal serve`: from the kept client's
profile, the duplicate found as staff type, the side-by-side preview, the merge; then the old
ID opens the kept profile. axe on the search page (with its results) and the preview."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser, expect

from a11y_helpers import a11y_context, assert_accessible
from conftest import log_in_admin_page
from portal.clients.tables import Client
from profile_helpers import make_client

pytestmark = pytest.mark.browser


async def test_merge_two_clients_and_open_the_old_id(
    browser: Browser, live_server: str, staff: dict, company_id: int
):
    kept = await make_client(company_id, first_name="Kate", last_name="Kept")
    duplicate = await make_client(company_id, first_name="Dora", last_name="Duplicate")
    code = (await Client.select(Client.code).where(Client.id == duplicate).first())["code"]

    context = await a11y_context(browser)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await log_in_admin_page(page, live_server, staff["email"], staff["password"])
    await page.goto(f"{live_server}/admin/clients/{kept}")
    await page.get_by_role("link", name="Merge Client").click()
    await expect(page.get_by_role("heading", name="Choose the duplicate")).to_be_visible()
    await assert_accessible(page, "Merge Client's search")

    # The matches appear as staff type (htmx), without a page load.
    await page.get_by_label("Find the duplicate").press_sequentially("Dora")
    choose = page.get_by_role("link", name=f"Preview merge of Dora Duplicate #{code}")
    await expect(choose).to_be_visible()
    await expect(page.get_by_role("status").filter(has_text="1 client found.")).to_be_attached()
    assert page.url.endswith(f"/admin/clients/{kept}/merge")
    await assert_accessible(page, "Merge Client's search with its matches")

    await choose.click()
    await expect(page.get_by_role("heading", name="What moves")).to_be_visible()
    await expect(
        page.get_by_role("columnheader", name=f"Merged into it: Dora Duplicate #{code}")
    ).to_be_visible()
    await assert_accessible(page, "Merge Client's preview")
    await page.get_by_role("button", name="Merge Clients").click()
    await expect(page).to_have_url(re.compile(rf"/admin/clients/{kept}$"))
    await expect(page.get_by_text(f"Client {code} was merged into this client.")).to_be_visible()

    # The old ID opens the kept client's profile, with a notice.
    await page.goto(f"{live_server}/admin/clients/{duplicate}")
    await expect(page).to_have_url(re.compile(rf"/admin/clients/{kept}$"))
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Kate Kept")
    await expect(page.get_by_text(f"Client {code} was merged into client")).to_be_visible()
    assert errors == []
    await context.close()
