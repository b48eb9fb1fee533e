"""The client profile in headless Chromium: widgets dragged by their heading, moved with the
keyboard and minimized; the arrangement saved per staff member and company; widgets loaded by
htmx; and the page without JavaScript."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser, Page, expect

from conftest import log_in_admin_page
from portal.billing import services as billing
from portal.core.actors import Actor
from portal.staff.tables import StaffWidgetState
from profile_helpers import PASSWORD, make_client, make_staff

pytestmark = pytest.mark.browser

DEFAULT = [
    "invoices",
    "transactions",
    "services",
    "notes",
    "emails",
    "history",
    "users",
    "contacts",
]


async def _order(page: Page) -> list[str]:
    return await page.locator("[data-widgets] > [data-widget]").evaluate_all(
        "els => els.map(e => e.dataset.widget)"
    )


def _watch_errors(page: Page) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "response",
        lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None,
    )
    return errors


async def _open_profile(page: Page, live_server: str, client_id: int) -> None:
    await page.goto(f"{live_server}/admin/clients/{client_id}")
    # htmx has replaced every widget's fallback link with its content.
    await expect(page.locator(".widget-loading")).to_have_count(0)


async def test_drag_and_minimize_apply_to_every_profile_of_the_company_for_that_staff_member(
    browser: Browser, page: Page, live_server: str, company_id: int, second_company: int
):
    errors = _watch_errors(page)
    await make_staff("multi@example.com", [company_id, second_company])
    await make_staff("colleague@example.com", [company_id])
    client_a, client_b = await make_client(company_id), await make_client(company_id)
    theirs = await make_client(second_company, first_name="Zed")

    await log_in_admin_page(page, live_server, "multi@example.com", PASSWORD)
    await _open_profile(page, live_server, client_a)
    assert await _order(page) == DEFAULT

    # Drag Services by its heading above Invoices.
    async with page.expect_response("**/admin/widgets/client-profile") as saved:
        await page.locator("#widget-services-heading").drag_to(
            page.locator("#widget-invoices-heading")
        )
    assert (await saved.value).status == 204
    assert (await _order(page))[:3] == ["services", "invoices", "transactions"]

    # Minimize Transactions with its arrow.
    toggle = page.get_by_role("button", name="Minimize or expand Transactions")
    async with page.expect_response("**/admin/widgets/client-profile") as saved:
        await toggle.click()
    assert (await saved.value).status == 204
    await expect(toggle).to_have_attribute("aria-expanded", "false")
    await expect(page.locator("#widget-transactions-body")).to_be_hidden()

    # Client B's profile shows the same arrangement.
    await _open_profile(page, live_server, client_b)
    assert (await _order(page))[:3] == ["services", "invoices", "transactions"]
    await expect(
        page.get_by_role("button", name="Minimize or expand Transactions")
    ).to_have_attribute("aria-expanded", "false")
    await expect(page.locator("#widget-transactions-body")).to_be_hidden()
    await expect(page.locator("#widget-invoices-body")).to_be_visible()

    # Another company keeps its own state.
    await page.goto(f"{live_server}/admin")
    await page.get_by_label("Company", exact=True).select_option(str(second_company))
    await page.get_by_role("button", name="Switch").click()
    await _open_profile(page, live_server, theirs)
    assert await _order(page) == DEFAULT
    await expect(page.locator("#widget-transactions-body")).to_be_visible()

    # Another staff member sees the default.
    context = await browser.new_context()
    other = await context.new_page()
    await log_in_admin_page(other, live_server, "colleague@example.com", PASSWORD)
    await _open_profile(other, live_server, client_a)
    assert await _order(other) == DEFAULT
    await expect(other.locator("#widget-transactions-body")).to_be_visible()
    await context.close()

    rows = await StaffWidgetState.select()
    assert len(rows) == 1
    assert rows[0]["widget_order"].startswith("services,invoices,transactions")
    assert rows[0]["minimized"] == "transactions"
    assert errors == []


async def test_keyboard_move_buttons_and_toggle(page: Page, live_server: str, staff: dict):
    errors = _watch_errors(page)
    client_id = await make_client(staff["company_id"])
    await log_in_admin_page(page, live_server, staff["email"], PASSWORD)
    await _open_profile(page, live_server, client_id)

    move_up = page.get_by_role("button", name="Move Services up")
    await move_up.focus()
    async with page.expect_response("**/admin/widgets/client-profile"):
        await page.keyboard.press("Enter")
    async with page.expect_response("**/admin/widgets/client-profile"):
        await page.keyboard.press("Enter")
    assert (await _order(page))[:3] == ["services", "invoices", "transactions"]
    # Focus stays on the button, and the new position is announced.
    await expect(move_up).to_be_focused()
    await expect(page.locator("#widget-announcer")).to_have_text("Services (position 1 of 8)")

    await page.get_by_role("button", name="Move Contacts down").click()  # already last: no-op
    toggle = page.get_by_role("button", name="Minimize or expand Notes")
    await toggle.focus()
    async with page.expect_response("**/admin/widgets/client-profile"):
        await page.keyboard.press("Space")
    await expect(toggle).to_have_attribute("aria-expanded", "false")

    await page.reload()
    assert (await _order(page))[:3] == ["services", "invoices", "transactions"]
    await expect(page.locator("#widget-notes-body")).to_be_hidden()
    async with page.expect_response("**/admin/widgets/client-profile"):
        await page.get_by_role("button", name="Minimize or expand Notes").click()
    await page.reload()
    await expect(page.locator("#widget-notes-body")).to_be_visible()
    assert errors == []


async def test_widgets_page_through_htmx_and_work_without_javascript(
    browser: Browser, live_server: str, staff: dict
):
    client_id = await make_client(staff["company_id"])
    for number in range(12):
        await billing.create_invoice(
            staff["company_id"],
            client_id,
            billing.InvoiceDetails(
                description=f"Item {number}",
                amount="1.00",
                currency="USD",
                date_billed="2026-01-01",
                date_due="2026-01-02",
            ),
            Actor(kind="system"),
        )
    context = await browser.new_context()
    page = await context.new_page()
    await log_in_admin_page(page, live_server, staff["email"], PASSWORD)
    await _open_profile(page, live_server, client_id)
    invoices = page.locator("#widget-invoices")
    await expect(invoices).to_contain_text("Page 1 of 2")
    url = page.url
    await invoices.get_by_role("link", name="Next").click()
    await expect(invoices).to_contain_text("Page 2 of 2")
    await expect(invoices).to_contain_text("Item 0")
    assert page.url == url  # swapped in place
    await context.close()

    # Without JavaScript: widget links open their page, and the buttons post the form.
    context = await browser.new_context(java_script_enabled=False)
    page = await context.new_page()
    await log_in_admin_page(page, live_server, staff["email"], PASSWORD)
    await page.goto(f"{live_server}/admin/clients/{client_id}")
    await page.get_by_role("button", name="Move Transactions up").click()
    await expect(page).to_have_url(re.compile(rf"/admin/clients/{client_id}#widget-transactions$"))
    assert (await _order(page))[:2] == ["transactions", "invoices"]
    await page.get_by_role("button", name="Minimize or expand Invoices").click()
    await expect(page.locator("#widget-invoices-body")).to_be_hidden()
    await page.get_by_role("link", name="Show services").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Services")
    await expect(page.get_by_role("link", name="Back to profile")).to_be_visible()
    await context.close()
