"""Add Client and Edit Client over HTTP, on the run's database."""

from __future__ import annotations

import asyncio
import html
import re

import pytest

from clients_helpers import VALID_FORM, add_client_form, post_add_client
from conftest import csrf_from
from portal.clients.tables import Client, ConsentEvent, Contact, ContactNumber
from portal.clients.users import owner_of
from portal.companies.services import set_currencies
from portal.core.actors import SYSTEM
from portal.mail.tables import MailMessage


def _client_id(response) -> int:
    assert response.status_code == 303, response.text[:2000]
    match = re.fullmatch(r"/admin/clients/(\d+)", response.headers["location"])
    assert match
    return int(match.group(1))


async def test_create_client_stores_everything_and_shows_the_profile(
    admin_client, staff, company_id
):
    await set_currencies(company_id, ["USD", "CAD"], "USD", SYSTEM)
    response = await post_add_client(admin_client, preferred_currency="CAD")
    client_id = _client_id(response)

    row = await Client.select().where(Client.id == client_id).first()
    assert row["code"] == "1500" and row["number"] == 1500
    owner = await owner_of(client_id)
    assert owner["username"] == "grace@example.com"
    assert owner["password_hash"].startswith("$argon2id$")
    assert (row["preferred_currency"], row["language"], row["tax_id"]) == (
        "CAD",
        "en",
        "CA123456789",
    )
    assert row["marketing_opt_in"] is True and row["tax_exempt"] is False
    contact = await Contact.select().where(Contact.client == client_id).first()
    assert (contact["state"], contact["country"], contact["zip"]) == ("CA-ON", "CA", "M5V 2T6")
    numbers = (
        await ContactNumber.select()
        .where(ContactNumber.contact == contact["id"])
        .order_by(ContactNumber.position)
    )
    assert [(n["number_type"], n["location"], n["number"], n["extension"]) for n in numbers] == [
        ("phone", "work", "+14165550199", ""),
        ("fax", "work", "+14165550188", ""),
        ("fax", "home", "+16475550177", "12"),
    ]
    consent = await ConsentEvent.select().where(ConsentEvent.client == client_id)
    assert len(consent) == 1 and consent[0]["opted_in"] is True
    assert (
        consent[0]["actor"] == f"staff:{staff['id']}" and consent[0]["source"] == "admin-add-client"
    )
    assert consent[0]["wording"] == "Opt-in to marketing emails"

    profile = await admin_client.get(f"/admin/clients/{client_id}")
    assert profile.status_code == 200
    assert "Grace Hopper" in profile.text and "Ontario" in profile.text and "Canada" in profile.text
    assert '+1 416-555-0188 <span class="muted">(Fax, Work, default fax)' in profile.text
    assert "+1 647-555-0177 ext. 12" in profile.text
    assert "The client was created." in profile.text
    # No registration email unless ticked.
    assert await MailMessage.count() == 0


async def test_client_ids_follow_the_company_format(admin_client):
    ids = [
        _client_id(await post_add_client(admin_client, email=f"c{i}@example.com")) for i in range(3)
    ]
    codes = [
        r["code"]
        for r in await Client.select(Client.code).where(Client.id.is_in(ids)).order_by(Client.id)
    ]
    assert codes == ["1500", "1501", "1502"]


async def test_specified_username_and_case_insensitive_uniqueness(admin_client):
    client_id = _client_id(
        await post_add_client(admin_client, username_mode="specify", username="GraceH")
    )
    assert (await owner_of(client_id))["username"] == "graceh"
    response = await post_add_client(
        admin_client, email="other@example.com", username_mode="specify", username="graceh"
    )
    assert response.status_code == 422
    assert "This username is already in use by another client." in response.text
    # The email used as a username collides with a username too.
    response = await post_add_client(
        admin_client, email="GraceH@example.com", username_mode="specify", username=""
    )
    assert "Username is required when you specify one." in response.text
    _client_id(
        await post_add_client(
            admin_client, email="x@example.com", username_mode="specify", username="x@example.com"
        )
    )
    response = await post_add_client(admin_client, email="X@Example.com")
    assert response.status_code == 422
    assert "This username is already in use by another client." in response.text


BAD_INPUT = [
    ({"first_name": ""}, "first_name", "First Name is required."),
    ({"last_name": "   "}, "last_name", "Last Name is required."),
    ({"email": "grace@@example"}, "email", "Enter a valid email address"),
    ({"state": "US-NY"}, "state", "This State/Province is not in the chosen country."),
    (
        {"phone_number": ["12", "+1 416-555-0188", ""]},
        "phone-number-r1",
        "Enter a valid phone number",
    ),
    ({"preferred_currency": "XYZ"}, "preferred_currency", "Choose a currency from the list."),
    ({"language": "xx"}, "language", "Choose a language from the list."),
    ({"group_id": "999999"}, "group_id", "Choose a client group from the list."),
    ({"country": "QQ"}, "country", "Choose a country from the list."),
    ({"password": "short"}, "password", "Use at least 8 characters."),
    ({"password": "password123"}, "password", "too common"),
    ({"password": ""}, "password", "Password is required."),
    ({"city": "x" * 10_000}, "city", "City is too long (at most 100 characters)."),
    ({"address1": "y" * 10_000}, "address1", "Address 1 is too long"),
]


@pytest.mark.parametrize(("overrides", "field", "message"), BAD_INPUT)
async def test_bad_input_gets_its_message_and_keeps_every_value(
    admin_client, overrides, field, message
):
    response = await post_add_client(admin_client, **overrides)
    assert response.status_code == 422
    assert message in html.unescape(response.text)
    assert f'id="{field}-error"' in response.text or (
        field.startswith("phone") and f"{field}-error" in response.text
    )
    text = response.text
    expected = {**VALID_FORM, **overrides}
    for name in (
        "first_name",
        "last_name",
        "company",
        "title",
        "address1",
        "city",
        "zip",
        "email",
        "tax_id",
    ):
        assert f'name="{name}" value="{html.escape(expected[name].strip())}"' in text, name
    for number in expected["phone_number"]:
        assert f'value="{html.escape(number)}"' in text
    assert 'name="marketing_opt_in" value="1" checked' in text
    if "state" not in overrides and "country" not in overrides:
        assert '<option value="CA-ON" selected>Ontario</option>' in text
    assert VALID_FORM["password"] not in text  # never echoed back
    assert (
        await Client.count() == 0
        and await Contact.count() == 0
        and await ContactNumber.count() == 0
    )


async def test_script_in_every_text_field_is_stored_as_typed_and_shown_escaped(admin_client):
    script = '<script>alert("x")</script>'
    fields = (
        "first_name",
        "last_name",
        "company",
        "title",
        "address1",
        "address2",
        "city",
        "zip",
        "tax_id",
    )
    response = await post_add_client(admin_client, **{f: script[:20] for f in fields})
    client_id = _client_id(response)
    contact = await Contact.select().where(Contact.client == client_id).first()
    assert contact["first_name"] == script[:20]
    profile = await admin_client.get(f"/admin/clients/{client_id}")
    assert "<script>alert" not in profile.text
    assert "&lt;script&gt;alert" in profile.text
    edit = await admin_client.get(f"/admin/clients/{client_id}/edit")
    assert "<script>alert" not in edit.text


async def test_registration_email_goes_to_the_outbox_without_password(admin_client):
    client_id = _client_id(
        await post_add_client(admin_client, send_registration_email="1", language="de")
    )
    messages = await MailMessage.select().where(MailMessage.client == client_id)
    assert len(messages) == 1
    message = messages[0]
    assert message["status"] == "outbox" and message["kind"] == "registration"
    assert message["subject"] == "Willkommen bei My Company"
    assert "Benutzername: grace@example.com" in message["body_text"]
    assert "/client/login" in message["body_text"]
    assert VALID_FORM["password"] not in message["body_text"] + message["subject"]


async def test_helper_buttons_work_without_javascript(admin_client):
    token, group_id = await add_client_form(admin_client)
    data = {**VALID_FORM, "group_id": group_id, "_csrf_token": token}
    added = await admin_client.post("/admin/clients/add", data={**data, "action": "add_phone"})
    assert added.status_code == 200 and added.text.count('name="phone_number"') == 4
    removed = await admin_client.post("/admin/clients/add", data={**data, "remove_phone": "r2"})
    assert removed.text.count('name="phone_number"') == 2 and "+1 416-555-0188" not in removed.text
    generated = await admin_client.post(
        "/admin/clients/add", data={**data, "action": "generate_password"}
    )
    assert re.search(
        r'<input type="text" id="password" name="password" value="[^"]{20}"', generated.text
    )
    refreshed = await admin_client.post(
        "/admin/clients/add", data={**data, "country": "DE", "action": "refresh"}
    )
    assert "Bayern" in refreshed.text and "Ontario" not in refreshed.text
    assert await Client.count() == 0


async def test_fragments(client):
    canada = await client.get("/fragments/state", params={"country": "CA", "state": "CA-QC"})
    assert '<option value="CA-QC" selected>Quebec</option>' in canada.text
    assert "Ontario" in canada.text
    germany = await client.get("/fragments/state", params={"country": "de"})
    assert "Bayern" in germany.text
    nowhere = await client.get("/fragments/state", params={"country": "<script>"})
    assert nowhere.status_code == 200 and "no states or provinces" in nowhere.text
    row = await client.get("/fragments/phone-row")
    assert 'name="phone_number"' in row.text and '<label for="phone-number-' in row.text


async def test_edit_client_changes_fields_keeps_password_and_detects_conflicts(admin_client):
    client_id = _client_id(await post_add_client(admin_client))
    before = {
        **await Client.select(Client.version).where(Client.id == client_id).first(),
        "password_hash": (await owner_of(client_id))["password_hash"],
    }
    edit = await admin_client.get(f"/admin/clients/{client_id}/edit")
    assert 'value="Grace"' in edit.text and 'name="version" value="1"' in edit.text
    token = csrf_from(edit.text)
    group = re.search(r'<option value="(\d+)" selected>General', edit.text).group(1)
    form = {
        **VALID_FORM,
        "_csrf_token": token,
        "group_id": group,
        "password": "",
        "version": "1",
        "city": "Ottawa",
        "marketing_opt_in": None,
    }
    form = {k: v for k, v in form.items() if v is not None}
    saved = await admin_client.post(f"/admin/clients/{client_id}/edit", data=form)
    assert saved.status_code == 303
    after = await Client.select().where(Client.id == client_id).first()
    assert (await owner_of(client_id))["password_hash"] == before["password_hash"]
    assert after["version"] == 2
    assert after["marketing_opt_in"] is False
    assert (await Contact.select(Contact.city).where(Contact.client == client_id).first())[
        "city"
    ] == "Ottawa"
    consent = (
        await ConsentEvent.select(ConsentEvent.opted_in)
        .where(ConsentEvent.client == client_id)
        .order_by(ConsentEvent.id)
    )
    assert [c["opted_in"] for c in consent] == [True, False]

    # A second editor who read version 1 is told instead of overwriting.
    stale = await admin_client.post(
        f"/admin/clients/{client_id}/edit", data={**form, "city": "Montreal"}
    )
    assert stale.status_code == 409
    assert "Someone else saved this client" in stale.text and 'value="Montreal"' in stale.text
    assert 'name="version" value="2"' in stale.text
    # So is a form whose version is no version, or missing: never saved over what is there.
    for version in ("", "0", "-1", "2147483648", "two", None):
        sent = {**form, "city": "Montreal", "version": version}
        if version is None:
            del sent["version"]
        broken = await admin_client.post(f"/admin/clients/{client_id}/edit", data=sent)
        assert broken.status_code == 409, version
    assert (await Contact.select(Contact.city).where(Contact.client == client_id).first())[
        "city"
    ] == "Ottawa"

    # A new password changes the hash.
    changed = await admin_client.post(
        f"/admin/clients/{client_id}/edit",
        data={**form, "version": "2", "password": "Another-horse-43"},
    )
    assert changed.status_code == 303
    assert (await owner_of(client_id))["password_hash"] != before["password_hash"]


async def test_other_company_clients_are_404(admin_client, second_company):
    from portal.clients.services import (
        ClientDetails,
        PhoneRow,
        create_client,
        groups_of_company,
    )
    from portal.core.actors import Actor

    groups = await groups_of_company(second_company)
    other = await create_client(
        second_company,
        ClientDetails(
            first_name="Other",
            last_name="Co",
            email="other@example.de",
            country="DE",
            preferred_currency="EUR",
            language="de",
            group_id=str(groups[0]["id"]),
            phones=[PhoneRow(row_id="a")],
        ),
        "Sturdy-horse-42",
        Actor(kind="system"),
    )
    assert (await admin_client.get(f"/admin/clients/{other}")).status_code == 404
    assert (await admin_client.get(f"/admin/clients/{other}/edit")).status_code == 404
    page = await admin_client.get("/admin/clients/add")
    response = await admin_client.post(
        f"/admin/clients/{other}/edit", data={"_csrf_token": csrf_from(page.text)}
    )
    assert response.status_code == 404
    # Nor can its group be used.
    response = await post_add_client(admin_client, group_id=str(groups[0]["id"]))
    assert response.status_code == 422 and "Choose a client group from the list." in response.text


async def test_concurrent_creates_same_username_exactly_one_wins(admin_client):
    from portal.clients.forms import read_client_details
    from portal.clients.services import ValidationError, create_client, groups_of_company
    from portal.companies.tables import Company
    from portal.core.actors import Actor

    company = (await Company.select(Company.id).first())["id"]
    group = (await groups_of_company(company))[0]["id"]
    details = read_client_details({**VALID_FORM, "group_id": str(group)})

    async def attempt():
        try:
            return await create_client(company, details, "Sturdy-horse-42", Actor(kind="system"))
        except ValidationError as error:
            return error.errors

    results = await asyncio.gather(*(attempt() for _ in range(50)))
    winners = [r for r in results if isinstance(r, int)]
    assert len(winners) == 1
    assert all(
        r == {"email": "This username is already in use by another client."}
        for r in results
        if not isinstance(r, int)
    )
    assert await Client.count() == 1


async def test_200_concurrent_creates_get_distinct_client_ids(admin_client):
    from portal.clients.forms import read_client_details
    from portal.clients.services import create_client, groups_of_company
    from portal.companies.tables import Company
    from portal.core.actors import Actor

    company = (await Company.select(Company.id).first())["id"]
    group = (await groups_of_company(company))[0]["id"]

    async def create(i: int) -> int:
        details = read_client_details(
            {**VALID_FORM, "group_id": str(group), "email": f"user{i}@example.com"}
        )
        return await create_client(company, details, "Sturdy-horse-42", Actor(kind="system"))

    ids = await asyncio.gather(*(create(i) for i in range(200)))
    assert len(set(ids)) == 200
    codes = {r["code"] for r in await Client.select(Client.code)}
    assert codes == {str(n) for n in range(1500, 1700)}
