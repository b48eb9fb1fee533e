"""Add Client under the rules and custom fields of the chosen client group."""

from __future__ import annotations

import asyncio
import html
import re

import pytest
from test_import import run, uploaded

from clients_helpers import VALID_FORM, add_client_form
from portal.client_groups import services as groups
from portal.client_groups.services import FieldDetails, GroupDetails
from portal.client_groups.tables import ClientGroup
from portal.clients import contacts
from portal.clients import services as clients
from portal.clients.demo import load_demo
from portal.clients.services import ClientDetails, PhoneRow
from portal.clients.tables import Client, Contact, CustomFieldValue
from portal.companies.tables import Company
from portal.core.actors import SYSTEM
from portal.core.db import write_transactions
from portal.core.errors import ValidationError


async def _company() -> int:
    return (await Company.select(Company.id).order_by(Company.id).first())["id"]


async def _vip_group(company_id: int) -> tuple[int, int, int]:
    vip = await groups.create_group(company_id, GroupDetails(name="VIP", colour="#aa00ff"), SYSTEM)
    level = await groups.create_field(
        company_id,
        vip,
        FieldDetails(
            label="Support level", field_type="select", options="Gold\nPlatinum", required="yes"
        ),
        SYSTEM,
    )
    secret = await groups.create_field(
        company_id,
        vip,
        FieldDetails(label="Door code", field_type="textbox", encrypted=True),
        SYSTEM,
    )
    return vip, level, secret


async def _post(client, group_id: int, **overrides):
    token, _ = await add_client_form(client)
    data = {**VALID_FORM, "group_id": str(group_id), "_csrf_token": token, **overrides}
    return await client.post("/admin/clients/add", data=data)


async def test_vip_custom_fields_required_encrypted_and_shown(admin_client):
    company_id = await _company()
    vip, level, secret = await _vip_group(company_id)

    fragment = await admin_client.get(
        "/admin/clients/fragments/custom-fields", params={"group_id": vip}
    )
    assert "Support level" in fragment.text and "Door code" in fragment.text

    missing = await _post(admin_client, vip, **{f"custom_{secret}": "4711#"})
    assert missing.status_code == 422
    assert "Support level is required." in missing.text
    assert 'value="4711#"' in missing.text and 'value="Grace"' in missing.text
    assert await Client.count() == 0

    wrong = await _post(admin_client, vip, **{f"custom_{level}": "Bronze"})
    assert "Support level: choose one of the options." in html.unescape(wrong.text)

    created = await _post(
        admin_client, vip, **{f"custom_{level}": "Gold", f"custom_{secret}": "4711#"}
    )
    assert created.status_code == 303
    client_id = int(created.headers["location"].rsplit("/", 1)[1])
    stored = {
        r["field"]: r["value"]
        for r in await CustomFieldValue.select().where(CustomFieldValue.client == client_id)
    }
    assert stored[level] == "Gold"
    assert "4711" not in stored[secret] and stored[secret].startswith("enc1:")
    profile = await admin_client.get(f"/admin/clients/{client_id}")
    assert "Support level" in profile.text and "Gold" in profile.text and "4711#" in profile.text

    # Editing shows the decrypted value and keeps it.
    edit = await admin_client.get(f"/admin/clients/{client_id}/edit")
    assert 'value="4711#"' in edit.text


async def test_group_requiring_address_and_phone(admin_client):
    company_id = await _company()
    strict = await groups.create_group(
        company_id,
        GroupDetails(name="Strict", overrides={"required_fields": "address1,phone"}),
        SYSTEM,
    )
    response = await _post(
        admin_client,
        strict,
        address1="",
        phone_row=["r1"],
        phone_type=["fax"],
        phone_location=["work"],
        phone_number=["+1 416-555-0188"],
    )
    assert response.status_code == 422
    assert "Address 1 is required." in response.text
    assert "At least one Phone number is required." in response.text
    assert await Client.count() == 0
    assert (await _post(admin_client, strict)).status_code == 303


async def test_group_username_email_and_id_rules(admin_client):
    company_id = await _company()
    strict = await groups.create_group(
        company_id,
        GroupDetails(
            name="Resellers",
            overrides={
                "usernames_must_be_emails": "true",
                "unique_contact_emails": "all",
                "client_id_format": "R-{num}",
                "client_id_start": "1",
            },
        ),
        SYSTEM,
    )
    response = await _post(admin_client, strict, username_mode="specify", username="reseller1")
    assert "must be an email address" in response.text
    created = await _post(admin_client, strict, username_mode="specify", username="r1@example.com")
    assert created.status_code == 303
    assert (await Client.select(Client.code).first())["code"] == "R-1"
    duplicate = await _post(
        admin_client, strict, username_mode="specify", username="r2@example.com"
    )
    assert "Another client already uses this email address." in duplicate.text
    # The default group (which follows the company) allows it and keeps its own numbering.
    general = await groups.default_group_id(company_id)
    again = await _post(admin_client, general, username_mode="specify", username="r2@example.com")
    assert again.status_code == 303
    assert sorted(r["code"] for r in await Client.select(Client.code)) == ["1500", "R-1"]


async def test_custom_fields_of_another_company_are_not_offered(admin_client, second_company):
    foreign_group = await groups.default_group_id(second_company)
    await groups.create_field(
        second_company, foreign_group, FieldDetails(label="Foreign secret"), SYSTEM
    )
    fragment = await admin_client.get(
        "/admin/clients/fragments/custom-fields", params={"group_id": foreign_group}
    )
    assert fragment.status_code == 200 and "Foreign secret" not in fragment.text
    response = await _post(admin_client, foreign_group)
    assert "Choose a client group from the list." in response.text
    assert re.search(r"Foreign secret", response.text) is None


# --- client IDs of two formats that give the same codes ------------------------------------


async def _colliding_formats(company_id: int) -> int:
    """The company's `{num}` from 1811, and the group CollideB's `1{num}` from 811: both give
    1811, 1812, ... The group's first client takes 1811."""
    await groups.set_company_settings(company_id, {"client_id_start": "1811"}, SYSTEM)
    collide = await groups.create_group(
        company_id,
        GroupDetails(
            name="CollideB",
            overrides={
                "client_id_format": "1{num}",
                "client_id_start": "811",
                "client_id_increment": "1",
            },
        ),
        SYSTEM,
    )
    await _create(company_id, collide)
    return collide


async def _create(company_id: int, group_id: int, email: str = "") -> str:
    """A client of the group, through the services as every writer goes; its client ID."""
    client_id = await clients.create_client(
        company_id,
        ClientDetails(
            first_name="Ada",
            last_name="Lovelace",
            email=email or f"ada{await Client.count()}@example.com",
            country="GB",
            preferred_currency="USD",
            language="en",
            group_id=str(group_id),
            phones=[PhoneRow(row_id="a")],
        ),
        "Sturdy-horse-42",
        SYSTEM,
    )
    return (await Client.select(Client.code).where(Client.id == client_id).first())["code"]


async def test_a_code_another_format_took_is_passed_over(company_id):
    collide = await _colliding_formats(company_id)
    general = await groups.default_group_id(company_id)
    assert await _create(company_id, collide) == "1812"
    # 1811 and 1812 are the group's: the company's format goes on after them, for good.
    assert await _create(company_id, general) == "1813"
    assert await _create(company_id, general) == "1814"
    assert await _create(company_id, collide) == "1815"  # and the group's passes over those
    codes = [row["code"] for row in await Client.select(Client.code).order_by(Client.id)]
    assert codes == ["1811", "1812", "1813", "1814", "1815"]


async def test_a_long_run_of_taken_codes_names_the_setting_to_change(company_id, monkeypatch):
    collide = await _colliding_formats(company_id)
    general = await groups.default_group_id(company_id)
    await _create(company_id, collide)  # 1812
    monkeypatch.setattr(clients, "MAX_TAKEN_CLIENT_IDS_IN_A_ROW", 2)
    for _ in range(2):  # nothing was taken meanwhile: the same answer again
        with pytest.raises(ValidationError) as raised:
            await _create(company_id, general)
        assert raised.value.errors == {
            "group_id": "The next 2 client IDs of the format {num} all belong to clients of "
            "another format: change the company's Client ID format (Client Settings)."
        }
    assert await Client.count() == 2
    # The group's own format: the answer names the group's setting.
    monkeypatch.setattr(clients, "MAX_TAKEN_CLIENT_IDS_IN_A_ROW", 1000)
    assert await _create(company_id, general) == "1813"
    monkeypatch.setattr(clients, "MAX_TAKEN_CLIENT_IDS_IN_A_ROW", 1)
    with pytest.raises(ValidationError) as raised:
        await _create(company_id, collide)
    assert "change the Client ID format of the client group CollideB" in str(
        raised.value.errors["group_id"]
    )


async def test_creates_of_two_formats_at_once_get_distinct_codes(company_id):
    """Each format's sequence row is locked by its own creates only: the company's lock keeps
    two formats from both finding the same code free (on PostgreSQL; SQLite has one writer)."""
    collide = await _colliding_formats(company_id)
    general = await groups.default_group_id(company_id)
    creates = (
        _create(company_id, (general, collide)[i % 2], f"c{i}@example.com") for i in range(40)
    )
    # Each one finishes, failed or not, before the test does.
    codes = await asyncio.gather(*creates, return_exceptions=True)
    assert sorted(map(str, codes)) == [str(number) for number in range(1812, 1852)]


async def test_add_client_over_http_passes_over_a_taken_code(admin_client, company_id):
    await _colliding_formats(company_id)
    general = await groups.default_group_id(company_id)
    for email in ("first@example.com", "second@example.com"):
        response = await _post(admin_client, general, email=email)
        assert response.status_code == 303, response.text[:2000]
    codes = sorted(row["code"] for row in await Client.select(Client.code))
    assert codes == ["1811", "1812", "1813"]


async def test_add_client_over_http_answers_a_long_run_of_taken_codes_in_the_form(
    admin_client, company_id, monkeypatch
):
    await _colliding_formats(company_id)
    monkeypatch.setattr(clients, "MAX_TAKEN_CLIENT_IDS_IN_A_ROW", 1)
    response = await _post(admin_client, await groups.default_group_id(company_id))
    assert response.status_code == 422
    assert "change the company's Client ID format" in html.unescape(response.text)
    assert await Client.count() == 1


async def test_an_import_passes_over_the_codes_its_rows_keep(admin_client, company_id):
    await groups.set_company_settings(company_id, {"client_id_start": "1811"}, SYSTEM)
    overrides = {"client_id_format": "1{num}", "client_id_start": "811"}
    await groups.create_group(
        company_id, GroupDetails(name="CollideB", overrides=overrides), SYSTEM
    )
    # One batch: the first row takes the company's next ID, the second keeps 811 of `1{num}`.
    content = (
        "ID,Client Group,First Name,Last Name,Email,Country\n"
        ",,Ada,Lovelace,ada@example.com,GB\n"
        "811,CollideB,Bob,Builder,bob@example.com,GB\n"
    )
    _, page = await run(admin_client, await uploaded(admin_client, content.encode()))
    assert "2 clients added" in page.text
    contacts = await Contact.select(Contact.email, Contact.client.code)
    codes = {row["email"]: row["client.code"] for row in contacts}
    assert codes == {"ada@example.com": "1812", "bob@example.com": "1811"}


async def test_demo_clients_pass_over_codes_another_format_took(company_id):
    collide = await _colliding_formats(company_id)
    await _create(company_id, collide)  # 1812
    await load_demo(5, company_id=company_id, seed=1)
    codes = sorted(row["code"] for row in await Client.select(Client.code))
    assert codes == [str(number) for number in range(1811, 1818)]


@pytest.mark.parametrize("scope", ["primary", "all"])
async def test_unique_contact_emails_hold_when_clients_are_added_at_once(company_id, scope):
    """Under a group's rule that contact emails are unique, clients added at the same moment
    with one address (and, with "all", contacts added to other clients with it): one of them
    gets it, the others are refused with the form's message."""
    group_id = await groups.create_group(
        company_id, GroupDetails(name="Unique", overrides={"unique_contact_emails": scope}), SYSTEM
    )
    for n in (1, 2):
        await _create(company_id, group_id, f"h{n}@example.com")
    holders = [row["client"] for row in await Contact.select(Contact.client)]

    async def add_client() -> None:
        await _create(company_id, group_id, "same@example.com")

    async def add_contact(client_id: int) -> None:
        details = contacts.ContactDetails(
            first_name="Bill", last_name="Payer", email="same@example.com", country="GB"
        )
        await contacts.add_contact(company_id, client_id, details, SYSTEM)

    tries = [add_client() for _ in range(6)]
    if scope == "all":
        tries += [add_contact(client_id) for client_id in holders]
    results = await asyncio.gather(*tries, return_exceptions=True)
    refused = [r for r in results if isinstance(r, ValidationError)]
    assert [r for r in results if r is not None and r not in refused] == []
    assert len(refused) == len(tries) - 1
    assert all(r.errors == {"email": clients.EMAIL_IN_USE} for r in refused)
    owners = await Contact.select(Contact.client).where(Contact.email == "same@example.com")
    assert len(owners) == 1


async def test_a_client_added_to_a_group_deleted_meanwhile_gets_the_forms_message(company_id):
    """Add Client checked while its group existed, written after the group's delete: the
    form's message for the group (a 422 with what was typed), not the foreign key's 404."""
    group_id = await groups.create_group(company_id, GroupDetails(name="Leaving"), SYSTEM)
    deleting = asyncio.Event()

    async def delete_slowly() -> None:
        async for transaction in write_transactions():
            async with transaction:
                await ClientGroup.delete().where(ClientGroup.id == group_id)
                deleting.set()
                await asyncio.sleep(0.3)  # Add Client checks its form meanwhile

    deleted = asyncio.create_task(delete_slowly())
    await deleting.wait()
    with pytest.raises(ValidationError) as refused:
        await _create(company_id, group_id)
    await deleted
    assert refused.value.errors == {"group_id": clients.CHOOSE_GROUP}
    assert await Client.count() == 0
