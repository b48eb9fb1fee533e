"""Add Client under the rules and custom fields of the chosen client group."""

from __future__ import annotations

import html
import re

from clients_helpers import VALID_FORM, add_client_form
from portal.client_groups import services as groups
from portal.client_groups.services import FieldDetails, GroupDetails
from portal.clients.tables import Client, CustomFieldValue
from portal.companies.tables import Company
from portal.core.actors import SYSTEM


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
