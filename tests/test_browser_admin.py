"""The admin area in a real headless Chromium against `portal serve`."""

import re

import pytest
from playwright.async_api import Page, expect

pytestmark = pytest.mark.browser


async def test_first_run_setup_login_and_logout(page: Page, live_server: str, company_id: int):
    csp_violations: list[str] = []
    page.on(
        "console",
        lambda msg: (
            csp_violations.append(msg.text) if "Content Security Policy" in msg.text else None
        ),
    )

    await page.goto(f"{live_server}/admin")
    await expect(page).to_have_url(re.compile(r"/admin/setup$"))
    await expect(page).to_have_title(re.compile("Create the administrator"))
    await page.get_by_label("First Name").fill("Ada")
    await page.get_by_label("Last Name").fill("Admin")
    await page.get_by_label("Email").fill("ada@example.com")
    await page.get_by_label("Password").fill("Sturdy-horse-42")
    await page.get_by_role("button", name="Create administrator").click()

    await expect(page).to_have_url(re.compile(r"/admin$"))
    await expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    nav = page.get_by_role("navigation", name="Main")
    await nav.get_by_text("Clients", exact=True).click()
    await expect(nav.get_by_role("link", name="Browse")).to_be_visible()
    await expect(nav.get_by_role("link", name="Add Client")).to_be_visible()
    await expect(page.get_by_role("search")).to_be_visible()

    await page.get_by_role("button", name="Log out").click()
    await expect(page).to_have_url(re.compile(r"/admin/login$"))
    await page.goto(f"{live_server}/admin")
    await expect(page).to_have_url(re.compile(r"/admin/login"))

    await page.get_by_label("Email").fill("ada@example.com")
    await page.get_by_label("Password").fill("wrong-password-1")
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("alert")).to_contain_text("Email or password is incorrect.")
    await expect(page.get_by_label("Email")).to_have_value("ada@example.com")
    await expect(page.get_by_label("Password")).to_have_value("")

    await page.get_by_label("Password").fill("Sturdy-horse-42")
    await page.get_by_role("button", name="Log in").click()
    await expect(page).to_have_url(re.compile(r"/admin$"))
    await expect(page.get_by_text("Welcome, Ada")).to_be_visible()
    assert csp_violations == []
