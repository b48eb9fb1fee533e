"""[Tools] > Mass Mailer in headless Chromium: the recipient count follows the filter live, and
a small mailing's job page shows its progress bar reach 100%."""

from __future__ import annotations

import asyncio
import re

import pytest
from playwright.async_api import Page, expect

from conftest import log_in_admin_page
from portal.plugins.mass_mailer.worker import MailerSettings, Worker
from test_mass_mailer_helpers import add_client

pytestmark = pytest.mark.browser


async def test_live_count_and_a_mailing_to_100_percent(page: Page, live_server: str, staff: dict):
    errors: list[str] = []
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    page.on("pageerror", lambda error: errors.append(str(error)))
    company_id = staff["company_id"]
    await add_client(company_id, "Anna", "anna@example.com", opted_in=True, language="de")
    await add_client(company_id, "Ben", "ben@example.com", opted_in=True)
    await add_client(company_id, "Cora", "cora@example.com", opted_in=True)
    await add_client(company_id, "Dirk", "dirk@example.com", opted_in=False, language="de")

    await log_in_admin_page(page, live_server, staff["email"], staff["password"])
    await page.get_by_text("Tools", exact=True).click()
    await page.get_by_role("link", name="Mass Mailer").click()
    await expect(page).to_have_title(re.compile("Mass Mailer"))
    count = page.locator("#recipient-count-number")
    await expect(count).to_have_text("3")

    url_before = page.url
    await page.get_by_label("Deutsch").check()
    await expect(count).to_have_text("1")
    await page.get_by_label("Service").check()  # service mail: opt-in does not matter
    await expect(count).to_have_text("2")
    await page.get_by_label("Marketing").check()
    await page.get_by_label("Deutsch").uncheck()
    await expect(count).to_have_text("3")
    assert page.url == url_before  # no page load: htmx swapped the count

    await page.get_by_role("button", name="Next: Compose").click()
    await expect(page).to_have_title(re.compile("Compose"))
    await page.get_by_label("From Address").fill("news@example.com")
    await page.get_by_label("Subject").fill("Hello {{ client.first_name }}")
    await page.get_by_label("Text Body").fill("News for {{ client.full_name }}.")
    await page.get_by_role("button", name="Next: Preview").click()
    await expect(page).to_have_title(re.compile("Preview"))
    await expect(page.locator("#preview-count")).to_have_text("3")
    await expect(page.locator("#preview-subject")).to_have_text("Hello Anna")

    await page.get_by_role("button", name=re.compile(r"Send to 3 recipients")).click()
    await expect(page).to_have_url(re.compile(r"/admin/tools/mass-mailer/jobs/\d+$"))
    bar = page.locator("progress#job-progress-bar")
    await expect(bar).to_have_attribute("max", "3")
    await expect(bar).to_have_attribute("value", "0")
    await expect(page.locator("#job-status")).to_have_text("queued")

    # A worker (the tests run their own, see test_mass_mailer_helpers) sends 2 a second: the
    # page, polling every second, shows the bar fill up.
    stop = asyncio.Event()
    settings = MailerSettings(
        rate=2, batch_size=2, lease_seconds=60, retry_seconds=1, max_attempts=3, poll_seconds=0.2
    )

    async def work() -> None:
        async with Worker(settings) as worker:
            await worker.run_forever(stop)

    worker = asyncio.create_task(work())
    try:
        await expect(bar).to_have_attribute("value", "3", timeout=20_000)
        await expect(page.locator("#job-progress-text")).to_contain_text("100%")
        await expect(page.locator("#job-status")).to_have_text("done")
    finally:
        stop.set()
        await worker
    assert errors == []


async def test_countries_are_found_by_typing_and_the_preview_frames_the_html(
    browser, live_server: str, staff: dict
):
    from a11y_helpers import a11y_context, assert_accessible

    company_id = staff["company_id"]
    await add_client(company_id, "Anna", "anna@example.com", opted_in=True, country="DE")
    await add_client(company_id, "Ben", "ben@example.com", opted_in=True, country="FR")
    context = await a11y_context(browser)
    page = await context.new_page()
    try:
        await log_in_admin_page(page, live_server, staff["email"], staff["password"])
        await page.goto(f"{live_server}/admin/tools/mass-mailer")
        await page.get_by_label("Find a country").fill("germ")
        await expect(page.get_by_label("Germany", exact=True)).to_be_visible()
        await expect(page.get_by_label("France", exact=True)).to_be_hidden()
        await page.get_by_label("Germany", exact=True).check()
        await expect(page.locator("#recipient-count-number")).to_have_text("1")
        await assert_accessible(page, "the mass mailer's filter")
        await page.emulate_media(color_scheme="dark")
        await page.wait_for_timeout(400)  # the buttons' colour transition
        await assert_accessible(page, "the mass mailer's filter, dark")
        await page.emulate_media(color_scheme="light")
        await page.get_by_role("button", name="Next: Compose").click()
        await page.get_by_label("From Address").fill("news@example.com")
        await page.get_by_label("Subject").fill("Hello {{ client.first_name }}")
        await page.get_by_label("Text Body").fill("Dear {{ client.first_name }}")
        await page.get_by_label("HTML Body").fill("<p>Dear <b>{{ client.first_name }}</b></p>")
        await page.get_by_role("button", name="Next: Preview").click()
        frame = page.frame_locator("iframe.mail-preview")
        await expect(frame.locator("b")).to_have_text("Anna")
        await assert_accessible(page, "the mass mailer's preview")
        await page.emulate_media(color_scheme="dark")
        await page.wait_for_timeout(400)  # the buttons' colour transition
        await assert_accessible(page, "the mass mailer's preview, dark")
    finally:
        await context.close()
