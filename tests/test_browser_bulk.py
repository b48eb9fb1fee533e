"""Bulk actions in headless Chromium, against a real `portal serve` whose job runner does the
work: Browse filtered to Country = Germany, all matching clients selected (more than a page),
a tag added and the group changed, each confirmed with its count and followed on the job's
page; the result in Browse, saved as a segment. axe on the tags page, Browse, the
confirmation, the job page and the segments page."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser, Page, expect

from a11y_helpers import a11y_context, assert_accessible
from conftest import log_in_admin_page
from portal.client_groups.services import GroupDetails, create_group
from portal.clients import tags
from portal.clients.tables import Client, ClientTag
from portal.core.actors import SYSTEM
from test_mass_mailer_helpers import add_client

pytestmark = pytest.mark.browser

GERMANS = 23  # more than Browse's first page of 20


async def _all_matching(page: Page, action: str) -> None:
    """From Browse's bulk actions: every client the view finds, and the action."""
    await page.get_by_label(f"All {GERMANS} matching").check()
    await page.get_by_label("Action").select_option(label=action)
    await page.get_by_role("button", name="Continue").click()
    await expect(page.get_by_text(f"{GERMANS} clients are selected")).to_be_visible()


async def _wait_for_the_job(page: Page, outcome: str) -> None:
    await expect(page.get_by_role("heading", name="Outcome")).to_be_visible(timeout=30_000)
    await expect(page.get_by_text(re.compile(outcome))).to_be_visible()


async def test_all_germans_get_a_tag_and_a_new_group(
    browser: Browser, live_server: str, staff: dict, company_id: int, job_runner
):
    germans = [
        await add_client(company_id, f"Kunde{n}", f"kunde{n}@example.de", opted_in=False)
        for n in range(GERMANS)
    ]
    french = await add_client(company_id, "Denis", "denis@example.fr", opted_in=False, country="FR")
    await tags.create_tag(company_id, "VIP", "purple", SYSTEM)
    resellers = await create_group(company_id, GroupDetails(name="Resellers"), SYSTEM)

    context = await a11y_context(browser)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await log_in_admin_page(page, live_server, staff["email"], staff["password"])
    await page.get_by_role("navigation", name="Main").get_by_text("Clients", exact=True).click()
    await page.get_by_role("link", name="Tags", exact=True).click()
    await expect(page.get_by_role("heading", name="Tags", exact=True)).to_be_visible()
    await assert_accessible(page, "Tags")

    # Browse, Country = Germany.
    await page.goto(f"{live_server}/admin/clients")
    await page.get_by_label("Country").select_option("DE")
    await page.get_by_role("button", name="Apply filters").click()
    await expect(page).to_have_url(re.compile(r"country=DE"))
    await expect(page.locator("#tab-active .tab-count")).to_have_text(str(GERMANS))
    await assert_accessible(page, "Browse with its bulk actions")

    # All that match get the tag: the confirmation counts them, the job's page follows it.
    await _all_matching(page, "Add a tag")
    await expect(page.get_by_role("heading", name="Add a tag")).to_be_visible()
    await page.get_by_label("Tag").select_option(label="VIP")
    await assert_accessible(page, "Bulk action's confirmation")
    await page.get_by_role("button", name=f"Add a tag: {GERMANS} clients").click()
    await expect(page).to_have_url(re.compile(r"/admin/jobs/\d+$"))
    await _wait_for_the_job(page, f"put the tag VIP on {GERMANS} clients")
    await assert_accessible(page, "Bulk action's job page")

    # Back in Browse, where the job was started: the chips are there.
    await page.get_by_role("link", name="Back").click()
    await expect(page).to_have_url(re.compile(r"/admin/clients\?.*country=DE"))
    table = page.get_by_role("table")
    await expect(table.locator(".tag-chip", has_text="VIP")).to_have_count(20)

    # The same clients change group.
    await _all_matching(page, "Change group")
    await page.get_by_label("Client Group").select_option(label="Resellers")
    await page.get_by_role("button", name=f"Change group: {GERMANS} clients").click()
    await _wait_for_the_job(page, f"moved {GERMANS} clients to the group Resellers")
    await page.get_by_role("link", name="Back").click()
    await page.get_by_label("Client Group").select_option(label="Resellers")
    await page.get_by_role("button", name="Apply filters").click()
    await expect(page).to_have_url(re.compile(rf"group={resellers}"))
    await expect(page.locator("#tab-active .tab-count")).to_have_text(str(GERMANS))

    # The view saved as a segment, listed among the segments.
    await page.get_by_label("Segment name").fill("German resellers")
    await page.get_by_role("button", name="Save as segment").click()
    await expect(page.get_by_text("The segment German resellers was saved.")).to_be_visible()
    await page.get_by_role("link", name="Manage segments").click()
    await expect(page.get_by_role("cell", name=re.compile("Country: Germany"))).to_be_visible()
    await assert_accessible(page, "Segments")

    rows = await Client.select(Client.id, Client.group).where(Client.company == company_id)
    assert {row["id"] for row in rows if row["group"] == resellers} == set(germans)
    tagged = {row["client"] for row in await ClientTag.select(ClientTag.client)}
    assert tagged == set(germans) and french not in tagged
    assert errors == []
    await context.close()
