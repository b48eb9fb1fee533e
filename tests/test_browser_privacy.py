"""The privacy toolkit in headless Chromium, against a real `portal serve` (whose job runner
builds the exports): staff export a client's personal data from the profile and download the
ZIP from the job's page, then anonymise the client with their password; a client user prepares
and downloads its own export from the client area and asks for its account to be erased; the
data requests log and the retention setting with its preview. axe on every new page."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from a11y_helpers import a11y_context, assert_accessible
from conftest import log_in_admin_page
from portal.clients.services import get_client
from portal.core.actors import Actor
from profile_helpers import PASSWORD, add_records, make_client

pytestmark = pytest.mark.browser


async def _download(page: Page, link_name: str) -> dict:
    """Clicks the download link and reads the ZIP's JSON document."""
    async with page.expect_download() as info:
        await page.get_by_role("link", name=link_name).click()
    download = await info.value
    path = Path(await download.path())
    with zipfile.ZipFile(path) as archive:
        assert "invoices.csv" in archive.namelist()
        return json.loads(archive.read("personal-data.json"))


async def test_staff_export_then_anonymise_a_client(
    browser: Browser, live_server: str, staff: dict, company_id: int, job_runner
):
    client_id = await make_client(company_id, first_name="Greta", last_name="Garbo")
    await add_records(
        company_id,
        client_id,
        Actor(kind="staff", id=staff["id"], name="Ada Admin"),
        login="gretabill",
    )
    email = (await get_client(company_id, client_id)).contact["email"]

    context = await a11y_context(browser)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await log_in_admin_page(page, live_server, staff["email"], staff["password"])
    await page.goto(f"{live_server}/admin/clients/{client_id}")
    await expect(
        page.get_by_role("link", name="Personal data", exact=True)
    ).to_be_visible()  # the card
    await page.get_by_role("link", name="Export Personal Data").click()
    await expect(page.get_by_role("heading", name="Export Personal Data")).to_be_visible()
    await assert_accessible(page, "A client's Personal Data page")
    await page.get_by_label("Include staff-only notes").check()
    await page.get_by_role("button", name="Export Personal Data").click()
    await expect(page).to_have_url(re.compile(r"/admin/jobs/\d+$"))
    # The server's job runner builds it; the page reloads itself when it is done.
    document = await _download(page, "Download the file")
    assert document["details"]["email"] == email
    assert [note["title"] for note in document["notes"]] == ["VIP"]
    assert document["invoices"][0]["total"] == "20.00"

    await page.goto(f"{live_server}/admin/clients/{client_id}")
    await page.get_by_role("link", name="Anonymise Client").click()
    await expect(
        page.get_by_role("heading", name="Anonymising a client can't be undone!")
    ).to_be_visible()
    await assert_accessible(page, "Anonymise Client")
    await page.get_by_label("Reason").fill("Asked by email")
    await page.get_by_label("Your password").fill("wrong password")
    await page.get_by_role("button", name="Anonymise Client").click()
    await expect(page.locator("#password-error")).to_have_text(
        "That is not your password. Nothing was changed."
    )
    await expect(page.get_by_label("Reason")).to_have_value("Asked by email")
    await assert_accessible(page, "Anonymise Client with an error")
    await page.get_by_label("Your password").fill(staff["password"])
    await page.get_by_role("button", name="Anonymise Client").click()
    await expect(page).to_have_url(re.compile(rf"/admin/clients/{client_id}$"))
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Anonymised Client")
    await expect(page.get_by_text("Anonymised", exact=True)).to_be_visible()  # the card
    await expect(
        page.get_by_text(re.compile(r"was anonymised: their personal data"))
    ).to_be_visible()

    await page.get_by_role("link", name=re.compile(r"^Personal data")).click()
    await expect(page.get_by_text(re.compile("This client was anonymised on"))).to_be_visible()
    await assert_accessible(page, "The Personal Data page of an anonymised client")
    await page.goto(f"{live_server}/admin/tools/data-requests")
    await expect(page.get_by_role("cell", name=re.compile("Asked by email"))).to_be_visible()
    await assert_accessible(page, "Data Requests")
    await page.goto(f"{live_server}/admin/settings/company/privacy")
    await page.get_by_label("Anonymise clients inactive for N months").fill("12")
    await page.get_by_role("button", name="Preview").click()
    await expect(page.get_by_role("heading", name="Who would be anonymised now")).to_be_visible()
    await assert_accessible(page, "Privacy Settings with a preview")
    assert errors == []
    await context.close()


async def test_a_client_downloads_its_data_and_asks_to_be_erased(
    browser: Browser, live_server: str, company_id: int, job_runner
):
    client_id = await make_client(company_id, first_name="Hedy", last_name="Lamarr")
    email = (await get_client(company_id, client_id)).contact["email"]

    context = await a11y_context(browser)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(f"{live_server}/client/login")
    await page.get_by_label("Username or email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await page.get_by_role("link", name="Your data").click()
    await expect(page.get_by_role("heading", name="Download your data")).to_be_visible()
    await assert_accessible(page, "Your data")
    await page.get_by_role("button", name="Prepare my data").click()
    # htmx asks every two seconds until the server's job runner has built it.
    document = await _download(page, "Download your data (ZIP)")
    assert document["details"]["email"] == email
    assert document["export"]["staff_only_notes"]["included"] is False
    await assert_accessible(page, "Your data, ready to download")

    await page.get_by_label("Current password").fill(PASSWORD)
    await page.get_by_role("button", name="Ask to erase my account").click()
    await expect(page.get_by_text(re.compile("Your request was sent"))).to_be_visible()
    await expect(page.get_by_text(re.compile("The provider will confirm it"))).to_be_visible()
    await assert_accessible(page, "Your data, erasure asked")
    assert errors == []
    await context.close()
