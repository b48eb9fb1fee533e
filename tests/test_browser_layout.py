"""Layout in Chromium at a laptop's 1366×900 and a phone's 390×844, in light and dark: the
client dashboard (in English, German and Spanish), Browse, the search results page and Add
Client. Asserted in the DOM, not in pixels: no table cell has its text cut, none lies off the
page, the page never scrolls sideways, and on the laptop every column shows without scrolling
(on the phone a table may scroll inside its card); axe finds no serious violation."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, Page, expect
from test_client_area_records import account  # noqa: F401 - the fixture

from a11y_helpers import assert_accessible
from conftest import STAFF_PASSWORD
from portal.clients.tables import AccountUser
from profile_helpers import make_client as make_profile_client
from test_client_area import PASSWORD

pytestmark = pytest.mark.browser

LAPTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
SCREENS = [pytest.param(LAPTOP, id="laptop"), pytest.param(PHONE, id="phone")]
SCHEMES = ["light", "dark"]

# Every cell of the page's main area: its text not cut, and on the page; a cell inside a
# scroll container must, when `strict`, also show within that container's visible box.
LAYOUT_PROBLEMS = """strict => {
  const width = document.documentElement.clientWidth;
  const problems = [];
  const scroller = element => {
    for (let up = element.parentElement; up && up !== document.body; up = up.parentElement) {
      const overflow = getComputedStyle(up).overflowX;
      if (overflow === "auto" || overflow === "scroll") return up;
    }
    return null;
  };
  for (const cell of document.querySelectorAll("main td, main th")) {
    const box = cell.getBoundingClientRect();
    if (!box.width) continue;
    const text = cell.textContent.trim().replace(/\\s+/g, " ").slice(0, 40);
    if (cell.scrollWidth > cell.clientWidth + 1) problems.push(`text cut: ${text}`);
    const container = scroller(cell);
    if (container) {
      const visible = container.getBoundingClientRect();
      if (strict && (box.right > visible.right + 1 || box.left < visible.left - 1))
        problems.push(`hidden until scrolled: ${text}`);
    } else if (box.right > width + 1 || box.left < -1) {
      problems.push(`off the page: ${text}`);
    }
  }
  if (document.documentElement.scrollWidth > width + 1)
    problems.push(`the page scrolls sideways (${document.documentElement.scrollWidth} > ${width})`);
  return problems;
}"""


async def assert_laid_out(page: Page, what: str, screen: dict) -> None:
    problems = await page.evaluate(LAYOUT_PROBLEMS, screen is LAPTOP)
    assert problems == [], f"{what} at {screen['width']}px: {problems}"


async def new_page(browser: Browser, screen: dict, scheme: str):
    context = await browser.new_context(
        viewport=screen,
        color_scheme=scheme,
        bypass_csp=True,  # bypass_csp: for axe
    )
    context.set_default_timeout(10_000)
    return context, await context.new_page()


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("screen", SCREENS)
@pytest.mark.parametrize("language", ["en", "de", "es"])
async def test_the_client_dashboard_shows_every_column(
    browser: Browser,
    live_server: str,
    account,  # noqa: F811 - the fixture
    screen,
    scheme,
    language,  # noqa: F811
):
    # Logged in, the client area speaks the user's own language.
    await AccountUser.update({AccountUser.language: language}).where(AccountUser.username == "ann")
    context, page = await new_page(browser, screen, scheme)
    try:
        await page.goto(f"{live_server}/client/login")
        await page.locator("#identifier, input[name=identifier]").first.fill("ann")
        await page.locator("input[type=password]").fill(PASSWORD)
        await page.locator("form button[type=submit]").first.click()
        await expect(page.locator(".dashboard")).to_be_visible()
        await expect(page.locator(".dashboard table").first).to_be_visible()
        await assert_laid_out(page, f"the client dashboard ({language})", screen)
        await assert_accessible(page, f"the client dashboard ({language}, {scheme})")
        await page.goto(f"{live_server}/client/invoices")
        await expect(page.locator("main table")).to_be_visible()
        await assert_laid_out(page, f"the client's invoices ({language})", screen)
        await assert_accessible(page, f"the client's invoices ({language}, {scheme})")
    finally:
        await context.close()


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("screen", SCREENS)
async def test_browse_search_and_add_client_fit(
    browser: Browser, live_server: str, staff: dict, company_id: int, screen, scheme
):
    for number in range(3):
        await make_profile_client(
            company_id, first_name=f"Maximiliane{number}", last_name="Oberhuber-Schwarzenegger"
        )
    context, page = await new_page(browser, screen, scheme)
    try:
        await page.goto(f"{live_server}/admin/login")
        await page.get_by_label("Email").fill(staff["email"])
        await page.get_by_label("Password").fill(STAFF_PASSWORD)
        await page.get_by_role("button", name="Log in").click()
        await expect(page).to_have_url(f"{live_server}/admin")
        for what, path in [
            ("Browse", "/admin/clients"),
            ("the search results", "/admin/clients/search?q=Oberhuber"),
            ("Add Client", "/admin/clients/add"),
        ]:
            await page.goto(f"{live_server}{path}")
            await expect(page.locator("main h1")).to_be_visible()
            await assert_laid_out(page, what, screen)
            await assert_accessible(page, f"{what} ({scheme})")
    finally:
        await context.close()


async def test_browse_filters_fold_on_a_phone(browser: Browser, live_server: str, staff: dict):
    for screen, shown in [(PHONE, False), (LAPTOP, True)]:
        context, page = await new_page(browser, screen, "light")
        try:
            await page.goto(f"{live_server}/admin/login")
            await page.get_by_label("Email").fill(staff["email"])
            await page.get_by_label("Password").fill(STAFF_PASSWORD)
            await page.get_by_role("button", name="Log in").click()
            await page.goto(f"{live_server}/admin/clients")
            group = page.get_by_label("Client Group")
            if shown:
                await expect(group).to_be_visible()
            else:
                await expect(group).to_be_hidden()
                await page.locator("summary", has_text="Filters").click()
                await expect(group).to_be_visible()
        finally:
            await context.close()


@pytest.mark.parametrize("scheme", SCHEMES)
async def test_profile_outbox_and_activity_pass_axe(
    browser: Browser, live_server: str, staff: dict, company_id: int, scheme
):
    client_id = await make_profile_client(company_id, marketing_opt_in=True)
    context, page = await new_page(browser, LAPTOP, scheme)
    try:
        await page.goto(f"{live_server}/admin/login")
        await page.get_by_label("Email").fill(staff["email"])
        await page.get_by_label("Password").fill(STAFF_PASSWORD)
        await page.get_by_role("button", name="Log in").click()
        await expect(page).to_have_url(f"{live_server}/admin")
        for what, path in [
            ("the profile", f"/admin/clients/{client_id}"),
            ("the outbox", "/admin/tools/outbox"),
            ("the activity log", "/admin/tools/activity"),
        ]:
            await page.goto(f"{live_server}{path}")
            await expect(page.locator("main h1")).to_be_visible()
            await assert_laid_out(page, what, LAPTOP)
            await assert_accessible(page, f"{what} ({scheme})")
    finally:
        await context.close()
