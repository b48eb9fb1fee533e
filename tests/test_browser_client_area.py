"""The client area in headless Chromium: log in, edit details inline, switch to German."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from portal.clients.tables import ConsentEvent, Contact
from test_client_area import PASSWORD, make_client

pytestmark = pytest.mark.browser


async def test_client_logs_in_edits_details_and_switches_to_german(
    page: Page, live_server: str, company_id: int
):
    client_id = await make_client(username="ann")
    await page.goto(f"{live_server}/client/login")
    await page.get_by_label("Username or email").fill("ann")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("heading", name="Welcome, Ann")).to_be_visible()

    await page.get_by_role("link", name="Account details").click()
    await page.get_by_label("Address 1").fill("9 Garden Lane")
    await page.get_by_role("button", name="Add Number").click()
    await expect(page.locator(".phone-row")).to_have_count(2)
    await page.locator(".phone-row").nth(1).get_by_label("Number").fill("030 7654321")
    await page.get_by_label("Language").select_option("de")
    await page.get_by_label("Opt-in to marketing emails").check()
    await page.get_by_role("button", name="Save").click()

    await expect(page.get_by_role("heading", name="Kontodaten")).to_be_visible()
    await expect(page.get_by_text("Ihre Daten wurden gespeichert.")).to_be_visible()
    await expect(page.locator("html")).to_have_attribute("lang", "de")
    await expect(page.get_by_label("Land", exact=True)).to_have_value("DE")
    await page.get_by_label("Marketing-E-Mails erhalten").uncheck()
    await page.get_by_role("button", name="Speichern").click()
    await expect(page.get_by_text("Ihre Daten wurden gespeichert.")).to_be_visible()

    contact = await Contact.select().where(Contact.client == client_id).first()
    assert contact["address1"] == "9 Garden Lane"
    events = (
        await ConsentEvent.select(ConsentEvent.opted_in)
        .where(ConsentEvent.client == client_id)
        .order_by(ConsentEvent.id)
    )
    assert [e["opted_in"] for e in events] == [True, False]

    await page.get_by_role("button", name="Abmelden").click()
    await expect(page).to_have_url(re.compile(r"/client/login$"))
    await page.get_by_label("Benutzername oder E-Mail").fill("ann@example.com")
    await page.get_by_label("Passwort").fill(PASSWORD)
    await page.get_by_role("button", name="Anmelden", exact=True).click()
    await expect(page.get_by_role("heading", name="Willkommen, Ann")).to_be_visible()
