"""[Settings] > [Company] > Webhooks in headless Chromium, against `portal serve` and a
`portal webhooks run` worker: a private URL is refused beside its field until the company
allows private addresses; the endpoint is added from the Settings menu, its secret shown once;
a test event and a new client reach a local receiver, signed, and the delivery log shows them
(Refresh swaps the log in place); a delivery's page lists its attempts and Redeliver sends it
again; axe on every page."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from playwright.async_api import Browser, Page, expect

from a11y_helpers import a11y_context, assert_accessible
from conftest import _VAR_DIR, PROJECT_DIR, log_in_admin_page
from profile_helpers import make_client
from webhook_helpers import Receiver

pytestmark = pytest.mark.browser


@pytest.fixture
def webhook_worker() -> Iterator[None]:
    """`portal webhooks run`, on the run's database (the test server delivers nothing itself:
    PORTAL_WEBHOOKS_IN_SERVER=0 in the tests' environment)."""
    log = open(_VAR_DIR / "webhooks-browser.log", "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [sys.executable, "-m", "portal", "webhooks", "run"],
        cwd=PROJECT_DIR,
        env=os.environ.copy(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    yield
    process.terminate()
    process.wait(timeout=10)
    log.close()


async def _log_shows(page: Page, count: int) -> None:
    """Clicks Refresh (htmx swaps the log) until it lists `count` delivered rows."""
    rows = page.locator("#webhook-deliveries tbody tr", has_text="Delivered")
    for _ in range(100):
        if await rows.count() >= count:
            return
        await page.locator("#webhook-deliveries").get_by_role("link", name="Refresh").click()
        await asyncio.sleep(0.2)
    raise AssertionError(f"the delivery log never showed {count} delivered rows")


async def test_add_an_endpoint_and_watch_its_deliveries(
    browser: Browser, live_server: str, staff: dict, company_id: int, webhook_worker: None
):
    context = await a11y_context(browser)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    with Receiver() as receiver:
        await log_in_admin_page(page, live_server, staff["email"], staff["password"])
        await page.get_by_text("Settings", exact=True).click()
        await page.get_by_role("link", name="Company > Webhooks").click()
        await expect(page.get_by_role("heading", level=1)).to_have_text("Webhooks")
        await expect(page.get_by_text("No endpoints yet.")).to_be_visible()
        await assert_accessible(page, "Webhooks")

        # The receiver is on 127.0.0.1: refused while the company forbids private addresses.
        await page.get_by_role("link", name="Add Endpoint").click()
        await assert_accessible(page, "Add Webhook Endpoint")
        await page.get_by_label("URL").fill(receiver.url)
        await page.get_by_label("Description").fill("Local receiver")
        await page.get_by_label("client.created").check()
        await page.get_by_role("button", name="Add Endpoint").click()
        await expect(page.locator("#url-error")).to_contain_text(
            "does not allow webhooks to private addresses"
        )
        await expect(page.get_by_label("URL")).to_have_value(receiver.url)
        await expect(page.get_by_label("client.created")).to_be_checked()
        await assert_accessible(page, "Add Webhook Endpoint with an error")

        await page.goto(f"{live_server}/admin/settings/company/webhooks")
        await page.get_by_label("Allow webhooks to private addresses").check()
        await page.get_by_role("button", name="Save Settings").click()
        await expect(page.get_by_text("Webhooks may go to private addresses.")).to_be_visible()
        await page.get_by_role("link", name="Add Endpoint").click()
        await page.get_by_label("URL").fill(receiver.url)
        await page.get_by_label("client.created").check()
        await page.get_by_role("button", name="Add Endpoint").click()

        # The secret, once.
        secret = await page.get_by_label("Signing secret").input_value()
        assert secret.startswith("whsec_")
        receiver.secrets.append(secret)
        await assert_accessible(page, "The new endpoint's secret")
        await page.get_by_role("link", name="Go to the endpoint").click()
        await expect(page.get_by_role("heading", level=1)).to_contain_text(receiver.url)
        assert secret not in await page.content()

        # A test event and a new client reach the receiver; the log shows both.
        await page.get_by_role("button", name="Send test event").click()
        await expect(page.get_by_text("A test event is on its way")).to_be_visible()
        await make_client(company_id)
        await _log_shows(page, 2)
        assert sorted(receiver.types()) == ["client.created", "webhook.test"]
        assert all(entry.verified for entry in receiver.received)
        await assert_accessible(page, "The endpoint with its delivery log")

        # A delivery's attempts, and Redeliver.
        await page.locator("#webhook-deliveries").get_by_role("link", name="webhook.test").click()
        await expect(page.get_by_role("heading", level=1)).to_contain_text("webhook.test")
        await expect(page.locator("tbody")).to_contain_text("HTTP 200")
        await assert_accessible(page, "A webhook delivery")
        await page.get_by_role("button", name="Redeliver").click()
        await expect(page.get_by_text("The event is sent again")).to_be_visible()
        await _log_shows(page, 3)
        test_ids = [e.message_id for e in receiver.received if e.event["type"] == "webhook.test"]
        assert len(test_ids) == 2 and test_ids[0] == test_ids[1]
    assert errors == []
    await context.close()
