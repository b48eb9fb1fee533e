"""[Clients] > Import in headless Chromium, against a real `portal serve` whose job runner does
the work: upload a file, see its columns mapped with a preview, a dry run with its problems,
the import with its progress bar polled until it ends, the clients in Browse; axe on each
page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from import_files import clients_csv
from playwright.async_api import Browser, expect

from a11y_helpers import a11y_context, assert_accessible
from conftest import log_in_admin_page

pytestmark = pytest.mark.browser


async def test_a_file_is_mapped_tried_and_imported_with_progress(
    browser: Browser, live_server: str, staff: dict, tmp_path: Path, job_runner
):
    path = clients_csv(tmp_path / "customers.csv", 1200)
    with path.open("a") as file:
        file.write("Di,Bad,,,,Narnia,,,not-an-email,,maybe\n")
    context = await a11y_context(browser)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await log_in_admin_page(page, live_server, staff["email"], staff["password"])
    await page.get_by_role("navigation", name="Main").get_by_text("Clients", exact=True).click()
    await page.get_by_role("link", name="Import", exact=True).click()
    await expect(page.get_by_role("heading", name="Import Clients")).to_be_visible()
    await assert_accessible(page, "Import Clients")

    await page.get_by_label("CSV file").set_input_files(str(path))
    await page.get_by_role("button", name="Upload").click()
    await expect(page.get_by_text("columns separated by comma")).to_be_visible()
    # Add Client's labels mapped themselves; the first values are shown.
    await expect(page.get_by_label("Field of the column Email")).to_have_value("email")
    await expect(page.get_by_label("Field of the column Country")).to_have_value("country")
    await expect(page.get_by_role("cell", name=re.compile("client0@example.com"))).to_be_visible()
    await assert_accessible(page, "Import mapping")
    await page.emulate_media(color_scheme="dark")
    await page.wait_for_timeout(400)  # the buttons' colour transition
    await assert_accessible(page, "Import mapping, dark")
    await page.emulate_media(color_scheme="light")

    await page.get_by_role("button", name="Dry Run").click()
    await expect(
        page.get_by_text(re.compile("Dry run of customers.csv: 1,200 rows would add"))
    ).to_be_visible(timeout=30_000)
    await expect(page.get_by_role("cell", name='"Narnia" is not a country.')).to_be_visible()
    await assert_accessible(page, "Dry run's job page")

    await page.get_by_role("link", name="Back").click()
    await page.get_by_role("button", name="Import Clients").click()
    progress = page.locator("#job-progress-bar")
    await expect(progress).to_be_visible()
    await expect(page.get_by_text(re.compile("1,200 clients added"))).to_be_visible(timeout=60_000)
    await assert_accessible(page, "Import's job page")
    await page.emulate_media(color_scheme="dark")
    await page.wait_for_timeout(400)  # the buttons' colour transition
    await assert_accessible(page, "Import's job page, dark")

    await page.goto(f"{live_server}/admin/clients?country=DE")
    germans = page.get_by_role("cell", name=re.compile(r"^client\d+@example\.com$"))
    await expect(germans.first).to_be_visible()
    assert errors == []
    await context.close()
