"""[Tools] > Activity Log in headless Chromium against `portal serve`, from the keyboard only:
the filter narrows the log in place through htmx (no page load), the address bar follows, a
client ID the company does not have is answered beside its field, and a reload shows the same
view."""

from __future__ import annotations

import asyncio
import re

import pytest
from activity_helpers import staff_actor, staff_in_group
from playwright.async_api import Page, expect

from conftest import log_in_admin_page
from portal.activity import services as activity
from portal.clients.tables import Client
from profile_helpers import make_client

pytestmark = pytest.mark.browser


async def _tab_to(page: Page, element_id: str, limit: int = 80) -> None:
    """Presses Tab until the element has the focus."""
    for _ in range(limit):
        if await page.evaluate("document.activeElement && document.activeElement.id") == element_id:
            return
        await page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached #{element_id}")


async def _wait_for_swaps(page: Page, count: int) -> None:
    """Polls from Python: Playwright's wait_for_function needs eval, which the CSP forbids."""
    for _ in range(200):
        if await page.evaluate("window.swaps || 0") >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"htmx did not swap {count} times")


async def _log_lines(page: Page) -> list[str]:
    """The "What" column of the log, top to bottom."""
    return await page.locator("#activity-log tbody tr td:nth-child(4)").all_inner_texts()


async def test_filtering_the_log_from_the_keyboard_swaps_it_in_place(
    page: Page, live_server: str, staff: dict, company_id: int
):
    ada = staff_actor(staff["id"], "Ada Admin")
    sam_id = await staff_in_group(company_id, "sam@example.com", "Support")
    sam = staff_actor(sam_id, "Sam Tester")
    first, second = await make_client(company_id), await make_client(company_id)
    code = (await Client.select(Client.code).where(Client.id == second).first())["code"]
    await activity.record(company_id, sam, "login", "Signed in.")
    await activity.record(company_id, sam, "clients", "Sam changed the first.", client_id=first)
    await activity.record(company_id, ada, "clients", "Ada changed the second.", client_id=second)
    await activity.record(company_id, sam, "clients", "Sam changed the second.", client_id=second)
    await activity.record(company_id, sam, "login_failed", "Failed sign-in (wrong password).")

    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    await log_in_admin_page(page, live_server, staff["email"], staff["password"])
    await page.goto(f"{live_server}/admin/tools/activity")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Activity Log")
    loads: list[str] = []
    page.on("load", lambda _: loads.append(page.url))
    await page.evaluate(
        "window.swaps = 0; document.addEventListener('htmx:afterSettle', () => window.swaps++)"
    )

    # Sam's lines about clients: the staff member and the kind chosen by typing in the lists.
    await _tab_to(page, "staff")
    await page.keyboard.type("Sam")
    await expect(page.get_by_label("Staff member")).to_have_value(str(sam_id))
    await _tab_to(page, "kind")
    await page.keyboard.type("Clients")
    await expect(page.get_by_label("Kind")).to_have_value("clients")
    await _tab_to(page, "filters-apply")
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(
        re.compile(rf"/admin/tools/activity\?staff={sam_id}&kind=clients$")
    )
    await _wait_for_swaps(page, 1)
    assert await _log_lines(page) == ["Sam changed the second.", "Sam changed the first."]
    await expect(page.get_by_text("Showing 1–2 of 2 lines.")).to_be_visible()
    await expect(page.locator("#filters-apply")).to_be_focused()  # the keyboard user stays put

    # A client ID the company does not have: the message beside the field, nothing listed.
    await _tab_to(page, "client")
    await page.keyboard.type("nope")
    await page.keyboard.press("Enter")
    message = "Client ID: this company has no client “nope”."
    await expect(page.locator("#client-error")).to_have_text(message)
    await expect(page.get_by_label("Client ID")).to_have_attribute("aria-invalid", "true")
    await expect(page.get_by_text("Correct the filters to see the log.")).to_be_visible()
    assert await _log_lines(page) == []

    # The right client ID: that client's lines by Sam.
    await page.get_by_label("Client ID").focus()
    await page.keyboard.press("Control+A")
    await page.keyboard.type(code)
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(re.compile(rf"\?staff={sam_id}&client={code}&kind=clients$"))
    await expect(page.locator("#client-error")).to_have_count(0)
    await expect(page.locator("#activity-log tbody tr")).to_have_count(1)
    assert await _log_lines(page) == ["Sam changed the second."]
    link = page.locator("#activity-log tbody").get_by_role("link", name="Sam changed the second.")
    await expect(link).to_have_attribute("href", f"/admin/clients/{second}")
    assert loads == []  # every step swapped the region; no page was loaded

    # A reload asks the server for the same view.
    await page.reload()
    assert await _log_lines(page) == ["Sam changed the second."]
    await expect(page.get_by_label("Client ID")).to_have_value(code)
    # The browser and htmx log the expected 422; nothing else (a CSP violation would show here).
    assert [e for e in errors if "status of 422" not in e and "Error Code 422" not in e] == []
