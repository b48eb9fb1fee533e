"""Finding clients in headless Chromium against `portal serve`: the header search box answers
while typing and is driven by the keyboard; Browse keeps its tab, sort and page in the address
bar, so a reload shows the same view."""

from __future__ import annotations

import asyncio
import re

import pytest
from playwright.async_api import Page, expect

from conftest import log_in_admin_page
from search_helpers import PEOPLE, Person, add_client, add_people

pytestmark = pytest.mark.browser


async def _log_in(page: Page, live_server: str, staff: dict) -> list[str]:
    """Logs in; returns the list that collects console errors (CSP violations included)."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    await log_in_admin_page(page, live_server, staff["email"], staff["password"])
    return errors


async def test_typing_shows_clients_and_the_keyboard_opens_one(
    page: Page, live_server: str, staff: dict, company_id: int
):
    people = await add_people(company_id)
    errors = await _log_in(page, live_server, staff)
    box = page.get_by_role("combobox", name="Search clients")
    await expect(box).to_have_attribute("aria-expanded", "false")

    # Part of a last name, no Enter: the matches appear under the box.
    await box.press_sequentially("oppe", delay=30)
    listbox = page.get_by_role("listbox", name="Matching clients")
    await expect(listbox.get_by_role("option")).to_have_count(2)
    await expect(box).to_have_attribute("aria-expanded", "true")
    first = listbox.get_by_role("option").first
    await expect(first).to_contain_text("Grace Hopper")
    await expect(first).to_contain_text("Navy Labs")
    await expect(first).to_contain_text("grace@example.com")
    await expect(first).to_contain_text("Active")
    await expect(page.locator("#header-search-status")).to_have_text(re.compile("2 clients found"))

    # Arrow keys move the active option; the focus stays in the box.
    await box.press("ArrowDown")
    await expect(first).to_have_attribute("aria-selected", "true")
    grace_option = f"header-search-option-{people['Grace Hopper']}"
    await expect(box).to_have_attribute("aria-activedescendant", grace_option)
    await box.press("ArrowDown")
    second = listbox.get_by_role("option").nth(1)
    await expect(second).to_have_attribute("aria-selected", "true")
    await expect(first).to_have_attribute("aria-selected", "false")
    await expect(box).to_be_focused()

    # Enter opens the active option's profile.
    await box.press("Enter")
    await expect(page).to_have_url(re.compile(rf"/admin/clients/{people['Dennis Hopper']}$"))
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Dennis Hopper")

    # Escape closes the list; Enter without an active option opens the full results page.
    box = page.get_by_role("combobox", name="Search clients")
    await box.press_sequentially("hopp", delay=30)
    await expect(page.get_by_role("listbox").get_by_role("option")).to_have_count(2)
    await box.press("Escape")
    await expect(page.locator("#header-search-results")).to_be_hidden()
    await expect(box).to_have_attribute("aria-expanded", "false")
    await box.press("Enter")
    await expect(page).to_have_url(re.compile(r"/admin/clients/search\?q=hopp$"))
    await expect(page.get_by_role("heading", name="Search results")).to_be_visible()
    table = page.get_by_role("table")
    await expect(table.get_by_role("row")).to_have_count(3)  # header and two clients
    assert len(PEOPLE) == 6
    assert errors == []


async def test_an_exact_client_id_typed_in_the_box_opens_the_profile(
    page: Page, live_server: str, staff: dict, company_id: int
):
    people = await add_people(company_id)
    await _log_in(page, live_server, staff)
    box = page.get_by_role("combobox", name="Search clients")
    await box.fill("1502")
    await box.press("Enter")
    await expect(page).to_have_url(re.compile(rf"/admin/clients/{people['Jürgen Müller']}$"))


async def test_browse_tab_sort_and_page_survive_a_reload(
    page: Page, live_server: str, staff: dict, company_id: int
):
    await add_people(company_id)
    for n in range(22):
        inactive = Person("Ivy", f"Idle{n:02}", f"ivy{n}@example.com", status="inactive")
        await add_client(company_id, inactive)
    errors = await _log_in(page, live_server, staff)
    await page.get_by_role("navigation", name="Main").get_by_text("Clients", exact=True).click()
    await page.get_by_role("link", name="Browse").click()
    await expect(page).to_have_url(re.compile(r"/admin/clients$"))
    await page.wait_for_load_state("load")
    tabs = page.get_by_role("navigation", name="Clients by status")
    await expect(tabs.get_by_role("link", name=re.compile(r"^Active 4$"))).to_have_attribute(
        "aria-current", "page"
    )

    # Each step swaps the list in place (htmx) and updates the address bar.
    loads: list[str] = []
    page.on("load", lambda _: loads.append(page.url))
    await page.evaluate(
        "window.swaps = 0; document.addEventListener('htmx:afterSettle', () => window.swaps++)"
    )
    await tabs.get_by_role("link", name=re.compile(r"^Inactive 23$")).click()
    await expect(page).to_have_url(re.compile(r"/admin/clients\?tab=inactive$"))
    await page.locator("#sort-name").click()
    await expect(page).to_have_url(re.compile(r"\?tab=inactive&sort=name$"))
    await expect(page.locator("#sort-name")).to_be_focused()  # the keyboard user stays put
    await _wait_for_swaps(page, 2)  # htmx has taken over the new links
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(re.compile(r"\?tab=inactive&sort=name&dir=desc$"))
    await page.get_by_role("link", name="Next").click()
    await expect(page).to_have_url(re.compile(r"\?tab=inactive&sort=name&dir=desc&page=2$"))
    # "Next" is gone on the last page: the focus moves to the list, not to the top.
    await expect(page.locator("#client-browse .table-wrap")).to_be_focused()
    assert loads == []  # no full page load so far

    async def check_view() -> None:
        await expect(tabs.get_by_role("link", name=re.compile(r"^Inactive 23$"))).to_have_attribute(
            "aria-current", "page"
        )
        header = page.get_by_role("columnheader", name=re.compile("^Name"))
        await expect(header).to_have_attribute("aria-sort", "descending")
        await expect(page.get_by_text("Page 2 of 2", exact=True)).to_be_visible()
        # Descending by last name: O'Brien, Idle21 … Idle03 on page 1, the rest on page 2.
        rows = page.get_by_role("table").get_by_role("row")
        await expect(rows).to_have_count(4)  # header and three clients
        await expect(rows.nth(1)).to_contain_text("Ivy Idle02")
        await expect(rows.nth(2)).to_contain_text("Ivy Idle01")
        await expect(rows.nth(3)).to_contain_text("Ivy Idle00")

    await check_view()
    await page.reload()
    await check_view()
    # Back goes to the previous view (the server answers: htmx keeps no client data cached).
    await page.go_back()
    await expect(page).to_have_url(re.compile(r"\?tab=inactive&sort=name&dir=desc$"))
    await expect(page.get_by_text("Page 1 of 2", exact=True)).to_be_visible()
    assert errors == []


async def _wait_for_swaps(page: Page, count: int) -> None:
    """Waits for htmx's swaps by polling from Python: Playwright's wait_for_function evaluates
    its predicate with eval, which the portal's CSP forbids (and should)."""
    for _ in range(200):
        if await page.evaluate("window.swaps || 0") >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"htmx did not swap {count} times")
