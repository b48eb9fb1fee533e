"""The JSON API and billing/other contacts: a client's contacts listed and read (one company per
key, the read permission), and the marketing opt-ins that name the contact each row is for."""

from __future__ import annotations

import pytest

from portal.api.permissions import CLIENTS_READ, all_api_permissions
from portal.api.services import create_key
from portal.clients.tables import ContactNumber
from portal.core.actors import SYSTEM
from portal.core.db import write_transactions
from portal.plugins.mass_mailer import MARKETING_READ
from test_mailer_contacts import add_contact
from test_mass_mailer_helpers import add_client


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
async def key(company_id: int) -> str:
    return (await create_key(company_id, "tests", all_api_permissions(), SYSTEM))[1]


async def add_number(contact_id: int, number: str, position: int, **values: str) -> None:
    async for transaction in write_transactions():
        async with transaction:
            await ContactNumber.insert(
                ContactNumber(contact=contact_id, number=number, position=position, **values)
            )


async def test_a_clients_contacts_are_listed_primary_first_and_read_one_by_one(
    client, company_id, key
):
    ann = await add_client(company_id, "Ann", "ann@example.com", opted_in=False)
    other = await add_contact(ann, "Olga", "olga@example.com", opted_in=False, contact_type="other")
    billing = await add_contact(ann, "Bill", "bill@example.com", opted_in=True)
    await add_number(billing, "+4930123456", 1, number_type="fax", location="work")
    await add_number(billing, "+4930654321", 0, extension="12")

    response = await client.get(f"/api/v1/clients/{ann}/contacts", headers=bearer(key))
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [(item["type"], item["first_name"]) for item in items] == [
        ("primary", "Ann"),
        ("other", "Olga"),
        ("billing", "Bill"),
    ]
    primary, olga, bill = items
    assert primary["email"] == "ann@example.com" and primary["country"] == "DE"
    assert primary["marketing_opt_in"] is False  # the client's consent
    assert primary["has_login"] is True  # the account's owner logs in as the primary contact
    assert olga["id"] == other and olga["has_login"] is False
    assert olga["marketing_opt_in"] is False
    assert bill == {
        "id": billing,
        "type": "billing",
        "first_name": "Bill",
        "last_name": "Contact",
        "company": "",
        "title": "",
        "address1": "",
        "address2": "",
        "city": "",
        "state": "",
        "zip": "",
        "country": "FR",
        "email": "bill@example.com",
        "phone_numbers": [
            {"type": "phone", "location": "home", "number": "+4930654321", "extension": "12"},
            {"type": "fax", "location": "work", "number": "+4930123456", "extension": ""},
        ],
        "marketing_opt_in": True,
        "has_login": False,
    }
    for item in items:
        one = await client.get(f"/api/v1/clients/{ann}/contacts/{item['id']}", headers=bearer(key))
        assert one.status_code == 200 and one.json() == item


async def test_contacts_of_other_clients_and_companies_are_not_found(
    client, company_id, second_company, key
):
    ann = await add_client(company_id, "Ann", "ann@example.com", opted_in=True)
    bob = await add_client(company_id, "Bob", "bob@example.com", opted_in=True)
    bobs = await add_contact(bob, "Bea", "bea@example.com", opted_in=True)
    tom = await add_client(second_company, "Tom", "tom@example.com", opted_in=True)
    toms = await add_contact(tom, "Tia", "tia@example.com", opted_in=True)
    anns = (await client.get(f"/api/v1/clients/{ann}/contacts", headers=bearer(key))).json()
    primary = anns["items"][0]["id"]

    for path in (
        f"/api/v1/clients/{ann}/contacts/{bobs}",  # a contact of another client
        f"/api/v1/clients/{bob}/contacts/{primary}",  # Ann's primary contact under Bob
        f"/api/v1/clients/{tom}/contacts",  # another company's client
        f"/api/v1/clients/{tom}/contacts/{toms}",
        f"/api/v1/clients/{ann}/contacts/{toms}",
        f"/api/v1/clients/{ann}/contacts/2147483647",
        f"/api/v1/clients/{ann}/contacts/2147483648",
        f"/api/v1/clients/{ann}/contacts/" + "9" * 30,
        f"/api/v1/clients/{ann}/contacts/0",
        "/api/v1/clients/2147483647/contacts",
        "/api/v1/clients/0/contacts",
        "/api/v1/clients/" + "9" * 30 + "/contacts",
    ):
        response = await client.get(path, headers=bearer(key))
        assert response.status_code == 404, path
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["status"] == 404, path

    their_key = (await create_key(second_company, "theirs", [CLIENTS_READ], SYSTEM))[1]
    theirs = await client.get(f"/api/v1/clients/{tom}/contacts/{toms}", headers=bearer(their_key))
    assert theirs.status_code == 200 and theirs.json()["email"] == "tia@example.com"


async def test_contacts_need_the_read_clients_permission(client, company_id):
    ann = await add_client(company_id, "Ann", "ann@example.com", opted_in=True)
    bill = await add_contact(ann, "Bill", "bill@example.com", opted_in=True)
    _, marketing_only = await create_key(company_id, "mailer", [MARKETING_READ], SYSTEM)
    _, readers = await create_key(company_id, "crm", [CLIENTS_READ], SYSTEM)
    unknown = 2147483647
    for path, probe in (
        (f"/api/v1/clients/{ann}/contacts", f"/api/v1/clients/{unknown}/contacts"),
        (f"/api/v1/clients/{ann}/contacts/{bill}", f"/api/v1/clients/{ann}/contacts/{unknown}"),
    ):
        refused = await client.get(path, headers=bearer(marketing_only))
        assert refused.status_code == 403, path
        assert refused.json() == {
            "type": "about:blank",
            "title": "Forbidden",
            "status": 403,
            "detail": "This API key does not have the permission clients.read (Read clients), "
            "or the staff member who made it no longer may.",
        }
        # Without the permission, an unknown id is a 403 too: nothing to probe.
        assert (await client.get(probe, headers=bearer(marketing_only))).status_code == 403
        assert (await client.get(path)).status_code == 401
        assert (await client.get(path, headers=bearer(readers))).status_code == 200


async def test_the_schema_documents_the_contacts_operations(client):
    schema = (await client.get("/api/v1/schema/openapi.json")).json()
    for path in (
        "/api/v1/clients/{client_id}/contacts",
        "/api/v1/clients/{client_id}/contacts/{contact_id}",
    ):
        operation = schema["paths"][path]["get"]
        assert "Needs the API permission `clients.read`" in operation["description"]
        assert {"200", "401", "403", "404"} <= set(operation["responses"])
    detail = schema["components"]["schemas"]["ContactDetail"]
    assert set(detail["required"]) == set(detail["properties"])
    assert detail["properties"]["type"]["enum"] == ["primary", "billing", "other"]
    opt_in = schema["components"]["schemas"]["OptIn"]["properties"]
    assert {"contact_id", "contact_type"} <= set(opt_in)


async def test_opt_ins_list_contacts_who_opted_in_by_client_never_split(client, company_id, key):
    ann = await add_client(company_id, "Ann", "ann@example.com", opted_in=False)
    bill = await add_contact(ann, "Bill", "bill@example.com", opted_in=True)
    await add_contact(ann, "Olga", "olga@example.com", opted_in=False, contact_type="other")
    bob = await add_client(company_id, "Bob", "bob@example.com", opted_in=True)
    bea = await add_contact(bob, "Bea", "BOB@example.com", opted_in=True, contact_type="other")
    cal = await add_contact(bob, "Cal", "cal@example.com", opted_in=True)
    cid = await add_client(company_id, "Cid", "cid@example.com", opted_in=True)
    expected = [
        (ann, bill, "billing", "bill@example.com"),
        (bob, None, "primary", "bob@example.com"),
        (bob, bea, "other", "BOB@example.com"),
        (bob, cal, "billing", "cal@example.com"),
        (cid, None, "primary", "cid@example.com"),
    ]

    whole = (await client.get("/api/v1/marketing/opt-ins", headers=bearer(key))).json()
    assert whole["next_cursor"] is None
    assert [
        (i["id"], i["contact_id"], i["contact_type"], i["email"]) for i in whole["items"]
    ] == expected
    assert all(item["opted_in_at"] for item in whole["items"])
    bills = whole["items"][0]
    assert (bills["first_name"], bills["country"], bills["group_name"]) == ("Bill", "FR", "General")

    for limit in (1, 2, 3, 4):
        seen, pages, cursor = [], [], 0
        while cursor is not None:
            page = await client.get(
                "/api/v1/marketing/opt-ins",
                params={"cursor": cursor, "limit": limit},
                headers=bearer(key),
            )
            assert page.status_code == 200, page.text
            body = page.json()
            pages.append([item["id"] for item in body["items"]])
            seen += [
                (i["id"], i["contact_id"], i["contact_type"], i["email"]) for i in body["items"]
            ]
            cursor = body["next_cursor"]
        assert seen == expected, limit
        for ids in pages:  # more than `limit` only when one client alone has more
            assert len(ids) <= limit or set(ids) == {bob}, (limit, pages)
        clients_seen = [client_id for ids in pages for client_id in dict.fromkeys(ids)]
        assert len(clients_seen) == len(set(clients_seen)), (limit, pages)  # never split
