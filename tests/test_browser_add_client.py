"""Add Client in headless Chromium: live State/Province list, inline phone rows, Generate
Password, and the profile it lands on."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from conftest import log_in_admin_page
from portal.clients.tables import Client, Contact, ContactNumber
from portal.clients.users import owner_of
from portal.core.actors import SYSTEM
from profile_helpers import accept_currencies

pytestmark = pytest.mark.browser


async def test_add_client_with_every_field(
    page: Page, live_server: str, staff: dict, company_id: int
):
    await accept_currencies(company_id, "CAD")
    errors: list[str] = []
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    page.on("pageerror", lambda error: errors.append(str(error)))
    await log_in_admin_page(page, live_server, staff["email"], staff["password"])
    await page.get_by_role("navigation", name="Main").get_by_text("Clients", exact=True).click()
    await page.get_by_role("link", name="Add Client").click()
    await expect(page).to_have_title(re.compile("Add Client"))

    await page.get_by_label("First Name").fill("Grace")
    await page.get_by_label("Last Name").fill("Hopper")
    await page.get_by_label("Company/Org.").fill("Navy Labs")
    await page.get_by_label("Title").fill("Rear Admiral")
    await page.get_by_label("Address 1").fill("1 Compiler Way")
    await page.get_by_label("Address 2").fill("Suite 2")
    await page.get_by_label("City").fill("Toronto")

    state = page.get_by_label("State/Province")
    await page.get_by_label("Country").select_option("CA")
    await expect(state.locator("option", has_text="Ontario")).to_have_count(1)
    await expect(state.locator("option", has_text="Quebec")).to_have_count(1)
    await page.get_by_label("Country").select_option("DE")
    await expect(state.locator("option", has_text="Bayern")).to_have_count(1)
    await expect(state.locator("option", has_text="Ontario")).to_have_count(0)
    await page.get_by_label("Country").select_option("CA")
    await expect(state.locator("option", has_text="Ontario")).to_have_count(1)
    await state.select_option("CA-ON")
    await page.get_by_label("Zip/Postal Code").fill("M5V 2T6")
    await page.get_by_label("Email", exact=True).fill("grace@example.com")

    # One row is there; two more come inline, without a page load.
    url_before = page.url
    add_number = page.get_by_role("button", name="Add Number")
    await add_number.click()
    await expect(page.locator(".phone-row")).to_have_count(2)
    await add_number.click()
    await expect(page.locator(".phone-row")).to_have_count(3)
    await add_number.click()
    await expect(page.locator(".phone-row")).to_have_count(4)
    await page.locator(".phone-row").nth(3).get_by_role("button", name="Remove").click()
    await expect(page.locator(".phone-row")).to_have_count(3)
    assert page.url == url_before
    rows = page.locator(".phone-row")
    entries = [
        ("phone", "work", "416 555 0199"),
        ("fax", "work", "416 555 0188"),
        ("fax", "home", "647 555 0177"),
    ]
    for index, (kind, location, number) in enumerate(entries):
        row = rows.nth(index)
        await row.get_by_label("Type").select_option(kind)
        await row.get_by_label("Location").select_option(location)
        await row.get_by_label("Number").fill(number)

    await page.get_by_label("Tax Exempt").check()
    await page.get_by_label("Tax ID/VATIN").fill("CA123456789")
    await page.get_by_label("Preferred Currency").select_option("CAD")
    await expect(page.get_by_label("Username", exact=True)).to_be_hidden()
    await page.get_by_label("Specify a username").check()
    await expect(page.get_by_label("Username", exact=True)).to_be_visible()
    await page.get_by_label("Username", exact=True).fill("ghopper")

    await page.get_by_role("button", name="Generate Password").click()
    password = page.get_by_label("Password")
    await expect(password).to_have_attribute("type", "text")
    generated = await password.input_value()
    assert len(generated) == 20

    await page.get_by_label("Language").select_option("de")
    await expect(page.get_by_label("Client Group")).to_have_value(re.compile(r"\d+"))
    await page.get_by_label("Send Account Registration Email").check()
    await page.get_by_label("Opt-in to marketing emails").check()
    await page.get_by_role("button", name="Create Client").click()

    await expect(page).to_have_url(re.compile(r"/admin/clients/\d+$"))
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Grace Hopper")
    await expect(page.get_by_text("The client was created.")).to_be_visible()
    await expect(page.locator(".profile")).to_contain_text("Ontario")
    await expect(page.locator(".profile-overview li", has_text="+1 416-555-0188")).to_contain_text(
        "default fax"
    )
    await expect(
        page.locator(".profile-overview li", has_text="+1 647-555-0177")
    ).not_to_contain_text("default fax")

    client_id = int(page.url.rsplit("/", 1)[1])
    row = await Client.select().where(Client.id == client_id).first()
    username = (await owner_of(client_id))["username"]
    assert (username, row["tax_exempt"], row["preferred_currency"], row["language"]) == (
        "ghopper",
        True,
        "CAD",
        "de",
    )
    contact = await Contact.select().where(Contact.client == client_id).first()
    assert (contact["title"], contact["address2"], contact["state"]) == (
        "Rear Admiral",
        "Suite 2",
        "CA-ON",
    )
    numbers = (
        await ContactNumber.select(ContactNumber.number_type, ContactNumber.number)
        .where(ContactNumber.contact == contact["id"])
        .order_by(ContactNumber.position)
    )
    assert [(n["number_type"], n["number"]) for n in numbers] == [
        ("phone", "+14165550199"),
        ("fax", "+14165550188"),
        ("fax", "+16475550177"),
    ]
    assert errors == []


async def test_bad_input_in_the_browser_keeps_phone_rows_and_state(
    page: Page, live_server: str, staff: dict
):
    await log_in_admin_page(page, live_server, staff["email"], staff["password"])
    await page.goto(f"{live_server}/admin/clients/add")
    await page.get_by_label("First Name").fill("Alan")
    await page.get_by_label("Country").select_option("DE")
    await expect(
        page.get_by_label("State/Province").locator("option", has_text="Bayern")
    ).to_have_count(1)
    await page.get_by_label("State/Province").select_option("DE-BY")
    await page.get_by_role("button", name="Add Number").click()
    await page.locator(".phone-row").nth(1).get_by_label("Number").fill("not a number")
    await page.get_by_label("Email", exact=True).fill("alan@example")
    await page.get_by_label("Password").fill("Sturdy-horse-42")
    await page.get_by_label("Email", exact=True).press("Enter")

    await expect(page.locator("#form-errors")).to_be_focused()
    await expect(page.locator("#last_name-error")).to_have_text("Last Name is required.")
    await expect(page.locator("#email-error")).to_contain_text("Enter a valid email address")
    await expect(page.locator(".phone-row").nth(1).locator(".field-error")).to_contain_text(
        "Enter a valid phone number"
    )
    await expect(page.get_by_label("First Name")).to_have_value("Alan")
    await expect(page.get_by_label("State/Province")).to_have_value("DE-BY")
    await expect(page.locator(".phone-row").nth(1).get_by_label("Number")).to_have_value(
        "not a number"
    )
    await expect(page.get_by_label("Password")).to_have_value("")
    assert await Client.count() == 0


async def test_choosing_a_group_shows_its_custom_fields_and_keeps_what_was_typed(
    page: Page, live_server: str, staff: dict
):
    from portal.client_groups import services as groups
    from portal.client_groups.services import FieldDetails, GroupDetails

    company_id = staff["company_id"]
    vip = await groups.create_group(company_id, GroupDetails(name="VIP", colour="#aa00ff"), SYSTEM)
    await groups.create_field(
        company_id,
        vip,
        FieldDetails(
            label="Support level", field_type="select", options="Gold\nPlatinum", required="yes"
        ),
        SYSTEM,
    )
    await groups.create_field(
        company_id, vip, FieldDetails(label="Door code", encrypted=True), SYSTEM
    )

    await log_in_admin_page(page, live_server, staff["email"], staff["password"])
    await page.goto(f"{live_server}/admin/clients/add")
    await page.get_by_label("First Name").fill("Kept")
    await expect(page.get_by_label("Support level")).to_have_count(0)
    await page.get_by_label("Client Group").select_option(label="VIP")
    await expect(page.get_by_label("Support level")).to_be_visible()
    await expect(page.get_by_label("Door code")).to_be_visible()
    await expect(page.get_by_label("First Name")).to_have_value("Kept")
    await page.get_by_label("Last Name").fill("Client")
    await page.get_by_label("Email", exact=True).fill("kept@example.com")
    await page.get_by_label("Password").fill("Sturdy-horse-42")
    await page.get_by_label("Door code").fill("4711#")
    await page.get_by_role("button", name="Create Client").click()
    await expect(
        page.locator(
            "#custom_" + str((await groups.list_fields(company_id, vip))[0]["id"]) + "-error"
        )
    ).to_have_text("Support level is required.")
    await expect(page.get_by_label("Door code")).to_have_value("4711#")
    await page.get_by_label("Support level").select_option("Platinum")
    await page.get_by_label("Password").fill("Sturdy-horse-42")  # passwords are never echoed back
    await page.get_by_role("button", name="Create Client").click()
    await expect(page).to_have_url(re.compile(r"/admin/clients/\d+$"))
    await expect(page.locator(".profile")).to_contain_text("Platinum")


async def test_required_marks_format_hints_and_a_generated_password_that_stays(
    page: Page, live_server: str, staff: dict
):
    from portal.client_groups import services as groups
    from portal.client_groups.services import FieldDetails

    company_id = staff["company_id"]
    general = await groups.default_group_id(company_id)
    await groups.create_field(
        company_id,
        general,
        FieldDetails(label="Customer number", required="regex", regex=r"[A-Z]{2}\d{4}"),
        SYSTEM,
    )
    await log_in_admin_page(page, live_server, staff["email"], staff["password"])
    await page.goto(f"{live_server}/admin/clients/add")
    # Password and a regex field that refuses an empty value are marked as required; staff see
    # the regex field's format.
    await expect(page.locator("#password-field")).to_have_class(re.compile("field--required"))
    number = page.get_by_label("Customer number")
    await expect(number).to_have_attribute("required", "")
    await expect(page.get_by_text(r"Format: [A-Z]{2}\d{4}")).to_be_visible()

    # "Generate Password" by keyboard: focus lands on the new password.
    await page.get_by_role("button", name="Generate Password").focus()
    await page.keyboard.press("Enter")
    password = page.get_by_label("Password")
    await expect(password).to_be_focused()
    generated = await password.input_value()
    assert len(generated) >= 12

    # A validation error keeps the generated password (shown to staff anyway).
    await page.get_by_label("First Name").fill("Gen")
    await number.fill("nope")
    await page.get_by_role("button", name="Create Client").click()
    await expect(page.locator(".field-error").first).to_be_visible()
    await expect(page.get_by_label("Password")).to_have_value(generated)
