"""The JSON API's writes: clients added, edited, given a status and deleted, their contacts and
notes, through the admin area's services with its rules and messages (as problem details,
RFC 9457); If-Match against lost updates, Idempotency-Key against doing a POST twice, the
permissions of keys, bad bodies of every kind."""

from __future__ import annotations

import asyncio
import html
import time
from datetime import UTC, datetime, timedelta

import pytest
from test_api import bearer, full_key

from conftest import csrf_from
from portal.activity.tables import ActivityEvent
from portal.api import idempotency
from portal.api.permissions import (
    CLIENTS_DELETE,
    CLIENTS_NOTES,
    CLIENTS_READ,
    CLIENTS_STATUS,
    CLIENTS_WRITE,
)
from portal.api.services import create_key
from portal.api.tables import ApiIdempotency
from portal.client_groups.services import FieldDetails, GroupDetails, create_field, create_group
from portal.clients.tables import (
    AccountUser,
    Client,
    ClientAudit,
    ClientNote,
    ConsentEvent,
    Contact,
)
from portal.companies.services import get_company
from portal.core.actors import SYSTEM
from profile_helpers import default_group, make_client

PROBLEM = "application/problem+json"


@pytest.fixture
async def key(company_id: int) -> str:
    return await full_key(company_id, "CRM sync")


def problems(response) -> dict[str, str]:
    """A problem document's field problems, by pointer (or parameter)."""
    assert response.headers["content-type"] == PROBLEM, response.text
    body = response.json()
    assert body["type"] == "about:blank" and body["status"] == response.status_code
    return {
        error.get("pointer") or error.get("parameter") or "": error["detail"]
        for error in body.get("errors", [])
    }


async def read(client, path: str, key: str) -> tuple[dict, str]:
    response = await client.get(path, headers=bearer(key))
    assert response.status_code == 200, response.text
    return response.json(), response.headers["etag"]


def changing(key: str, etag: str) -> dict[str, str]:
    return {**bearer(key), "If-Match": etag}


NEW_CLIENT = {
    "first_name": "Grace",
    "last_name": "Hopper",
    "email": "grace@example.com",
    "company_name": "Navy",
    "country": "CA",
    "state": "CA-ON",
    "phone_numbers": [{"number": "416 555 0199", "type": "phone", "location": "work"}],
}


# --- clients -----------------------------------------------------------------------------------


async def test_a_client_is_added_as_add_client_adds_one(client, company_id, key):
    response = await client.post("/api/v1/clients", json=NEW_CLIENT, headers=bearer(key))
    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["location"] == f"/api/v1/clients/{body['id']}"
    assert response.headers["etag"] == '"1"'
    assert "idempotent-replayed" not in response.headers
    company = await get_company(company_id)
    assert body["first_name"] == "Grace" and body["company_name"] == "Navy"
    assert (body["country"], body["state"]) == ("CA", "CA-ON")
    assert body["phone_numbers"] == [
        {"type": "phone", "location": "work", "number": "+14165550199", "extension": ""}
    ]
    # What Add Client starts from: the company's currency and language, its default group,
    # the email as username.
    assert body["preferred_currency"] == company["default_currency"]
    assert body["language"] == company["default_language"]
    assert body["group_id"] == await default_group(company_id)
    assert body["username"] == "grace@example.com" and body["status"] == "active"
    assert (await client.get(response.headers["location"], headers=bearer(key))).json() == body

    # No password unless one is given; none is ever shown.
    owner = await AccountUser.select().where(AccountUser.username == "grace@example.com").first()
    assert owner["password_hash"] is None
    with_password = await client.post(
        "/api/v1/clients",
        json={**NEW_CLIENT, "email": "ada@example.com", "password": "Sturdy-horse-42"},
        headers=bearer(key),
    )
    assert with_password.status_code == 201, with_password.text
    assert "password" not in with_password.text and "Sturdy-horse-42" not in with_password.text
    ada = await AccountUser.select().where(AccountUser.username == "ada@example.com").first()
    assert ada["password_hash"].startswith("$argon2id$")

    # The history and the activity log name the key, as for staff.
    audit = await ClientAudit.select().where(ClientAudit.client_id == body["id"]).first()
    assert audit["actor"].startswith("api-key:")
    line = (
        await ActivityEvent.select()
        .where(ActivityEvent.company == company_id, ActivityEvent.client_id == body["id"])
        .first()
    )
    assert (line["actor_kind"], line["actor_name"]) == ("api-key", "CRM sync")


async def test_custom_fields_username_and_consent_of_a_new_client(client, company_id, key):
    group = await default_group(company_id)
    contract = await create_field(
        company_id, group, FieldDetails(label="Contract", required="yes"), SYSTEM
    )
    missing = await client.post("/api/v1/clients", json=NEW_CLIENT, headers=bearer(key))
    assert missing.status_code == 422
    assert problems(missing) == {f"#/custom_fields/{contract}": "Contract is required."}
    # An id the group has no field of (another group's, none at all) is refused, not dropped.
    other_group = await create_group(company_id, GroupDetails(name="Other"), SYSTEM)
    elsewhere = await create_field(company_id, other_group, FieldDetails(label="Else"), SYSTEM)
    for wrong in (str(elsewhere), "99999"):
        unknown = await client.post(
            "/api/v1/clients",
            json={**NEW_CLIENT, "custom_fields": {str(contract): "C-1", wrong: "x"}},
            headers=bearer(key),
        )
        assert unknown.status_code == 422
        assert problems(unknown) == {
            f"#/custom_fields/{wrong}": "The client's group has no custom field with this id."
        }
    assert await Client.count() == 0
    created = await client.post(
        "/api/v1/clients",
        json={
            **NEW_CLIENT,
            "username": "grace.h",
            "marketing_opt_in": True,
            "custom_fields": {str(contract): "C-42"},
        },
        headers=bearer(key),
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["username"] == "grace.h" and body["custom_fields"] == {str(contract): "C-42"}
    consent = await ConsentEvent.select().where(ConsentEvent.client == body["id"]).first()
    assert (consent["opted_in"], consent["source"]) == (True, "api")


async def test_rules_broken_are_add_clients_messages_field_by_field(
    client, admin_client, company_id, key
):
    bad = {
        "first_name": "",
        "email": "not an address",
        "country": "ZZ",
        "phone_numbers": [{"number": "+1 416 555 0199"}, {"number": "12"}],
    }
    response = await client.post("/api/v1/clients", json=bad, headers=bearer(key))
    assert response.status_code == 422
    found = problems(response)
    assert set(found) == {
        "#/first_name",
        "#/last_name",
        "#/email",
        "#/country",
        "#/phone_numbers/1/number",
    }
    assert found["#/first_name"] == "First Name is required."
    assert found["#/email"] == "Enter a valid email address, like name@example.com."
    assert response.json()["detail"].startswith("First Name is required.")
    assert await Client.count() == 0

    # The admin area's Add Client says the same of the same input.
    page = await admin_client.get("/admin/clients/add")
    form = await admin_client.post(
        "/admin/clients/add",
        data={
            "_csrf_token": csrf_from(page.text),
            "first_name": "",
            "last_name": "",
            "email": "not an address",
            "country": "ZZ",
            "phone_row": ["a", "b"],
            "phone_type": ["phone", "phone"],
            "phone_location": ["home", "home"],
            "phone_number": ["+1 416 555 0199", "12"],
            "password": "Sturdy-horse-42",
            "group_id": str(await default_group(company_id)),
        },
    )
    assert form.status_code == 422
    for message in found.values():
        assert message in html.unescape(form.text), message


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({**NEW_CLIENT, "nickname": "Amazing"}, "#"),
        ({**NEW_CLIENT, "first_name": 5}, "#/first_name"),
        ({**NEW_CLIENT, "first_name": "G" * 101}, "#/first_name"),
        ({**NEW_CLIENT, "group_id": "1"}, "#/group_id"),
        ({**NEW_CLIENT, "group_id": 2**40}, "#/group_id"),
        (
            {**NEW_CLIENT, "phone_numbers": [{"number": "1", "type": "mobile"}]},
            "#/phone_numbers/0/type",
        ),
        ({**NEW_CLIENT, "phone_numbers": [{"number": "1", "kind": "x"}]}, "#/phone_numbers/0"),
        ({**NEW_CLIENT, "phone_numbers": [{"number": "1"}] * 51}, "#/phone_numbers"),
        ({**NEW_CLIENT, "custom_fields": {"name": "x"}}, "#/custom_fields"),
        ({**NEW_CLIENT, "tax_exempt": "yes"}, "#/tax_exempt"),
        ([NEW_CLIENT], "#"),
        ("Grace", "#"),
    ],
)
async def test_bodies_that_break_the_schema_are_400_problems(
    client, company_id, key, body, pointer
):
    response = await client.post("/api/v1/clients", json=body, headers=bearer(key))
    assert response.status_code == 400, response.text
    assert pointer in problems(response), response.text
    assert await Client.count() == 0


async def test_malformed_huge_and_nul_bodies(client, company_id, key):
    malformed = await client.post(
        "/api/v1/clients",
        content=b'{"first_name": ',
        headers={**bearer(key), "content-type": "application/json"},
    )
    assert malformed.status_code == 400 and malformed.headers["content-type"] == PROBLEM
    # Nested past the JSON decoder's depth: bad input too, not a RecursionError.
    for deep in (b'{"first_name": ' + b"[" * 1000 + b"]" * 1000 + b"}", b"[" * 100_000):
        too_deep = await client.post(
            "/api/v1/clients",
            content=deep,
            headers={**bearer(key), "content-type": "application/json"},
        )
        assert too_deep.status_code == 400 and too_deep.headers["content-type"] == PROBLEM
        assert "nested too deeply" in too_deep.json()["detail"], too_deep.text

    started = time.monotonic()
    huge = await client.post(
        "/api/v1/clients", json={**NEW_CLIENT, "first_name": "G" * 10_000_000}, headers=bearer(key)
    )
    assert huge.status_code == 413 and huge.headers["content-type"] == PROBLEM
    assert time.monotonic() - started < 10
    long_but_small = await client.post(
        "/api/v1/clients", json={**NEW_CLIENT, "city": "x" * 1_500_000}, headers=bearer(key)
    )
    assert long_but_small.status_code == 400
    assert "#/city" in problems(long_but_small)
    assert await Client.count() == 0

    # NUL is left out, as the forms leave it out (PostgreSQL refuses it).
    nul = await client.post(
        "/api/v1/clients", json={**NEW_CLIENT, "city": "Tor\x00onto"}, headers=bearer(key)
    )
    assert nul.status_code == 201, nul.text
    assert nul.json()["city"] == "Toronto"
    # So are the other control characters (an escape sequence keeps its visible part).
    controls = await client.post(
        "/api/v1/clients",
        json={**NEW_CLIENT, "email": "c@example.com", "city": "To\x07ron\x1b[1mto\x7f"},
        headers=bearer(key),
    )
    assert controls.status_code == 201, controls.text
    assert controls.json()["city"] == "Toron[1mto"


async def test_an_edit_needs_the_etag_it_started_from(client, company_id, key):
    client_id = await make_client(company_id, first_name="Ada")
    path = f"/api/v1/clients/{client_id}"
    before, etag = await read(client, path, key)

    without = await client.patch(path, json={"city": "Ottawa"}, headers=bearer(key))
    assert without.status_code == 428 and "If-Match" in without.json()["detail"]
    stale = await client.patch(path, json={"city": "Ottawa"}, headers=changing(key, '"99"'))
    assert stale.status_code == 412 and stale.headers["content-type"] == PROBLEM
    weak = await client.patch(path, json={"city": "Ottawa"}, headers=changing(key, f"W/{etag}"))
    assert weak.status_code == 412
    malformed = await client.patch(path, json={"city": "Ottawa"}, headers=changing(key, "1"))
    assert malformed.status_code == 400 and "If-Match" in problems(malformed)
    assert (await read(client, path, key))[0] == before

    edited = await client.patch(
        path, json={"city": "Ottawa", "company_name": ""}, headers=changing(key, etag)
    )
    assert edited.status_code == 200, edited.text
    after = edited.json()
    assert edited.headers["etag"] != etag
    assert (after["city"], after["company_name"]) == ("Ottawa", "")
    # What was not sent keeps its value, the phone numbers included.
    assert {k: v for k, v in after.items() if k not in {"city", "company_name", "updated_at"}} == {
        k: v for k, v in before.items() if k not in {"city", "company_name", "updated_at"}
    }
    assert await read(client, path, key) == (after, edited.headers["etag"])

    # The ETag read before the edit no longer matches: the other writer's change is not lost.
    lost = await client.patch(path, json={"city": "Kingston"}, headers=changing(key, etag))
    assert lost.status_code == 412
    star = await client.patch(path, json={"city": "Kingston"}, headers=changing(key, "*"))
    assert star.status_code == 200 and star.json()["city"] == "Kingston"
    changes = {
        (row["field"], row["new_value"])
        for row in await ClientAudit.select().where(ClientAudit.client_id == client_id)
    }
    assert {("City", "Ottawa"), ("City", "Kingston")} <= changes


async def test_an_edit_breaking_a_rule_changes_nothing(client, company_id, key):
    client_id = await make_client(company_id)
    path = f"/api/v1/clients/{client_id}"
    before, etag = await read(client, path, key)
    response = await client.patch(
        path,
        json={"email": "nope", "phone_numbers": [], "preferred_currency": "XXX"},
        headers=changing(key, etag),
    )
    assert response.status_code == 422
    assert problems(response) == {
        "#/email": "Enter a valid email address, like name@example.com.",
        "#/preferred_currency": "Choose a currency from the list.",
    }
    assert await read(client, path, key) == (before, etag)

    new_password = await client.patch(
        path, json={"password": "Another-horse-77"}, headers=changing(key, etag)
    )
    assert new_password.status_code == 200 and "Another-horse-77" not in new_password.text
    assert await ClientAudit.exists().where(
        ClientAudit.client_id == client_id, ClientAudit.field == "Password"
    )


async def test_status_is_changed_as_on_the_profile(client, company_id, key):
    client_id = await make_client(company_id)
    path = f"/api/v1/clients/{client_id}"
    _, etag = await read(client, path, key)
    owner = await AccountUser.select().where(AccountUser.username.like("client%")).first()

    assert (
        await client.put(f"{path}/status", json={"status": "fraud"}, headers=bearer(key))
    ).status_code == 428
    stale = await client.put(
        f"{path}/status", json={"status": "fraud"}, headers=changing(key, '"42"')
    )
    assert stale.status_code == 412
    bad = await client.put(f"{path}/status", json={"status": "gone"}, headers=changing(key, etag))
    assert bad.status_code == 400 and "#/status" in problems(bad)
    assert (await Client.select(Client.status).where(Client.id == client_id).first())[
        "status"
    ] == "active"

    changed = await client.put(
        f"{path}/status", json={"status": "fraud"}, headers=changing(key, etag)
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["status"] == "fraud" and changed.headers["etag"] != etag
    after = await AccountUser.select().where(AccountUser.id == owner["id"]).first()
    assert after["session_epoch"] == owner["session_epoch"] + 1  # its sessions ended
    assert await ClientAudit.exists().where(
        ClientAudit.client_id == client_id, ClientAudit.field == "Status"
    )
    again = await client.put(
        f"{path}/status", json={"status": "fraud"}, headers=changing(key, changed.headers["etag"])
    )
    assert again.status_code == 200 and again.headers["etag"] == changed.headers["etag"]


async def test_delete_removes_everything_of_the_client(client, company_id, key):
    client_id = await make_client(company_id)
    keep = await make_client(company_id, first_name="Keep")
    path = f"/api/v1/clients/{client_id}"
    _, etag = await read(client, path, key)
    await client.post(f"{path}/notes", json={"title": "VIP"}, headers=bearer(key))

    assert (await client.delete(path, headers=bearer(key))).status_code == 428
    assert (await client.delete(path, headers=changing(key, '"7"'))).status_code == 412
    assert await Client.exists().where(Client.id == client_id)

    deleted = await client.delete(path, headers=changing(key, etag))
    assert deleted.status_code == 204, deleted.text
    assert not await Client.exists().where(Client.id == client_id)
    assert not await ClientNote.exists().where(ClientNote.client == client_id)
    assert not await Contact.exists().where(Contact.client == client_id)
    assert await Client.exists().where(Client.id == keep)
    lines = await ClientAudit.select().where(ClientAudit.client_id == client_id)
    assert [(line["field"], line["new_value"]) for line in lines] == [("Client", "deleted")]
    assert (await client.get(path, headers=bearer(key))).status_code == 404
    assert (await client.delete(path, headers=changing(key, etag))).status_code == 404


# --- permissions and companies -----------------------------------------------------------------


async def test_each_write_needs_its_permission_and_the_keys_company(
    client, company_id, second_company
):
    mine = await make_client(company_id)
    theirs = await make_client(second_company)
    note = (
        await client.post(
            f"/api/v1/clients/{mine}/notes",
            json={"title": "Hello"},
            headers=bearer(await full_key(company_id)),
        )
    ).json()["id"]
    writes = {
        CLIENTS_WRITE: [
            ("POST", "/api/v1/clients", NEW_CLIENT),
            ("PATCH", "/api/v1/clients/{id}", {"city": "Ottawa"}),
            ("POST", "/api/v1/clients/{id}/contacts", {"first_name": "B"}),
        ],
        CLIENTS_STATUS: [("PUT", "/api/v1/clients/{id}/status", {"status": "inactive"})],
        CLIENTS_DELETE: [("DELETE", "/api/v1/clients/{id}", None)],
        CLIENTS_NOTES: [
            ("POST", "/api/v1/clients/{id}/notes", {"title": "Hi"}),
            ("PATCH", "/api/v1/clients/{id}/notes/" + str(note), {"title": "Hi"}),
            ("DELETE", "/api/v1/clients/{id}/notes/" + str(note), None),
        ],
    }
    _, reader = await create_key(company_id, "reader", [CLIENTS_READ], SYSTEM)
    _, theirs_key = await create_key(second_company, "theirs", [CLIENTS_READ, *writes], SYSTEM)
    for permission, requests in writes.items():
        for method, path, body in requests:
            refused = await client.request(
                method, path.format(id=mine), json=body, headers=changing(reader, "*")
            )
            assert refused.status_code == 403, (method, path)
            assert permission in refused.json()["detail"]
            if "{id}" in path:
                # Another company's key: no such client, whatever it may do.
                hidden = await client.request(
                    method, path.format(id=mine), json=body, headers=changing(theirs_key, "*")
                )
                assert hidden.status_code == 404, (method, path, hidden.text)
    # Reading notes is reading the client, as for staff.
    assert (
        await client.get(f"/api/v1/clients/{mine}/notes", headers=bearer(reader))
    ).status_code == 200
    assert await Client.count() == 2 and await ClientNote.count() == 1
    seen = await client.get(f"/api/v1/clients/{theirs}", headers=bearer(theirs_key))
    assert seen.status_code == 200


# --- contacts ----------------------------------------------------------------------------------


async def test_contacts_are_added_edited_and_deleted_as_staff_do(client, company_id, key):
    client_id = await make_client(company_id)  # in Canada
    contacts = f"/api/v1/clients/{client_id}/contacts"
    created = await client.post(
        contacts,
        json={
            "first_name": "Bill",
            "last_name": "Payer",
            "email": "bill@example.com",
            "marketing_opt_in": True,
            "phone_numbers": [{"number": "+49 30 1234567", "extension": "12"}],
        },
        headers=bearer(key),
    )
    assert created.status_code == 201, created.text
    bill = created.json()
    assert created.headers["location"] == f"{contacts}/{bill['id']}"
    assert (bill["type"], bill["country"], bill["has_login"]) == ("billing", "CA", False)
    assert bill["phone_numbers"] == [
        {"type": "phone", "location": "home", "number": "+49301234567", "extension": "12"}
    ]
    consent = await ConsentEvent.select().where(ConsentEvent.contact == bill["id"]).first()
    assert (consent["opted_in"], consent["source"]) == (True, "api")
    path = f"{contacts}/{bill['id']}"
    _, etag = await read(client, path, key)
    assert etag == created.headers["etag"]

    invalid = await client.patch(path, json={"email": "x"}, headers=changing(key, etag))
    assert invalid.status_code == 422
    assert problems(invalid) == {"#/email": "Enter a valid email address, like name@example.com."}
    assert (await client.patch(path, json={"city": "Bonn"}, headers=bearer(key))).status_code == 428
    edited = await client.patch(
        path, json={"type": "other", "city": "Bonn"}, headers=changing(key, etag)
    )
    assert edited.status_code == 200, edited.text
    assert (edited.json()["type"], edited.json()["city"]) == ("other", "Bonn")
    assert edited.json()["phone_numbers"] == bill["phone_numbers"]
    stale = await client.patch(path, json={"city": "Köln"}, headers=changing(key, etag))
    assert stale.status_code == 412

    # The primary contact is the client's own: edited through the client, never deleted here.
    primary = (await client.get(contacts, headers=bearer(key))).json()["items"][0]
    primary_path = f"{contacts}/{primary['id']}"
    _, primary_etag = await read(client, primary_path, key)
    refused = await client.patch(
        primary_path, json={"city": "Bonn"}, headers=changing(key, primary_etag)
    )
    assert refused.status_code == 422 and "Edit Client" in refused.json()["detail"]
    assert (
        await client.delete(primary_path, headers=changing(key, primary_etag))
    ).status_code == 422

    assert (await client.delete(path, headers=changing(key, etag))).status_code == 412
    deleted = await client.delete(path, headers=changing(key, edited.headers["etag"]))
    assert deleted.status_code == 204
    assert not await Contact.exists().where(Contact.id == bill["id"])
    history = [
        row["new_value"]
        for row in await ClientAudit.select().where(ClientAudit.client_id == client_id)
    ]
    assert any(value.endswith("added") for value in history) and "deleted" in history


async def test_contact_pages_start_with_the_primary_contact(client, company_id, key):
    client_id = await make_client(company_id)
    contacts = f"/api/v1/clients/{client_id}/contacts"
    for name in ("One", "Two", "Three"):
        response = await client.post(
            contacts,
            json={"first_name": name, "last_name": "C", "email": f"{name}@example.com"},
            headers=bearer(key),
        )
        assert response.status_code == 201, response.text
    everyone = (await client.get(contacts, headers=bearer(key))).json()
    assert everyone["next_cursor"] is None
    assert [item["first_name"] for item in everyone["items"]] == ["Ada", "One", "Two", "Three"]
    for limit in (1, 2, 3):
        seen, cursor = [], 0
        while cursor is not None:
            page = await client.get(
                contacts, params={"cursor": cursor, "limit": limit}, headers=bearer(key)
            )
            assert page.status_code == 200 and len(page.json()["items"]) <= limit
            seen += [item["first_name"] for item in page.json()["items"]]
            cursor = page.json()["next_cursor"]
        assert seen == ["Ada", "One", "Two", "Three"], limit


# --- notes -------------------------------------------------------------------------------------


async def test_notes_are_added_edited_and_deleted_as_on_the_profile(client, company_id, key):
    client_id = await make_client(company_id)
    notes = f"/api/v1/clients/{client_id}/notes"
    untitled = await client.post(notes, json={"body": "No title"}, headers=bearer(key))
    assert untitled.status_code == 422
    assert problems(untitled) == {"#/title": "Title is required."}
    ids = []
    for title in ("First", "Second", "Third"):
        response = await client.post(notes, json={"title": title}, headers=bearer(key))
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    first_page = (await client.get(notes, params={"limit": 2}, headers=bearer(key))).json()
    assert [item["id"] for item in first_page["items"]] == ids[:2]
    rest = await client.get(
        notes, params={"cursor": first_page["next_cursor"]}, headers=bearer(key)
    )
    assert [item["id"] for item in rest.json()["items"]] == ids[2:]
    assert rest.json()["next_cursor"] is None

    path = f"{notes}/{ids[0]}"
    note, etag = await read(client, path, key)
    assert (note["title"], note["body"], note["sticky"]) == ("First", "", False)
    assert (await client.patch(path, json={"sticky": True}, headers=bearer(key))).status_code == 428
    edited = await client.patch(path, json={"sticky": True}, headers=changing(key, etag))
    assert edited.status_code == 200, edited.text
    assert (edited.json()["title"], edited.json()["sticky"]) == ("First", True)
    stale = await client.patch(path, json={"title": "Lost"}, headers=changing(key, etag))
    assert stale.status_code == 412
    assert (await client.delete(path, headers=changing(key, etag))).status_code == 412
    deleted = await client.delete(path, headers=changing(key, edited.headers["etag"]))
    assert deleted.status_code == 204
    assert [row["id"] for row in await ClientNote.select(ClientNote.id)] == ids[1:]
    fields = {
        (row["field"], row["new_value"])
        for row in await ClientAudit.select().where(ClientAudit.client_id == client_id)
    }
    assert ("Note", "added: First") in fields and ("Note sticky", "Yes") in fields
    assert ("Note", "deleted") in fields


# --- Idempotency-Key ---------------------------------------------------------------------------


async def test_a_post_sent_again_with_its_key_is_answered_as_the_first(client, company_id, key):
    headers = {**bearer(key), "Idempotency-Key": "create-grace-1"}
    first = await client.post("/api/v1/clients", json=NEW_CLIENT, headers=headers)
    assert first.status_code == 201, first.text
    again = await client.post(
        "/api/v1/clients", json=dict(reversed(NEW_CLIENT.items())), headers=headers
    )
    assert again.status_code == 201
    assert again.content == first.content
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["idempotent-replayed"] == "true"
    assert await Client.count() == 1

    other = await client.post(
        "/api/v1/clients", json={**NEW_CLIENT, "first_name": "Ada"}, headers=headers
    )
    assert other.status_code == 422 and other.headers["content-type"] == PROBLEM
    assert "Idempotency-Key" in other.json()["detail"]
    elsewhere = await client.post(
        f"/api/v1/clients/{first.json()['id']}/notes", json={"title": "x"}, headers=headers
    )
    assert elsewhere.status_code == 422
    assert await Client.count() == 1 and await ClientNote.count() == 0

    # Another key's Idempotency-Key is its own.
    theirs = await client.post(
        "/api/v1/clients",
        json={**NEW_CLIENT, "email": "g2@example.com"},
        headers={
            **bearer(await full_key(company_id, "other")),
            "Idempotency-Key": "create-grace-1",
        },
    )
    assert theirs.status_code == 201 and "idempotent-replayed" not in theirs.headers
    assert await Client.count() == 2


async def test_a_refused_request_gives_its_key_back(client, company_id, key):
    headers = {**bearer(key), "Idempotency-Key": "note-1"}
    client_id = await make_client(company_id)
    refused = await client.post(
        f"/api/v1/clients/{client_id}/notes", json={"title": ""}, headers=headers
    )
    assert refused.status_code == 422
    corrected = await client.post(
        f"/api/v1/clients/{client_id}/notes", json={"title": "Now"}, headers=headers
    )
    assert corrected.status_code == 201 and "idempotent-replayed" not in corrected.headers
    unknown = await client.post(
        "/api/v1/clients/2147483647/notes",
        json={"title": "x"},
        headers={**bearer(key), "Idempotency-Key": "note-2"},
    )
    assert unknown.status_code == 404
    assert not await ApiIdempotency.exists().where(ApiIdempotency.idempotency_key == "note-2")


async def test_the_same_key_sent_at_once_makes_one_client(client, company_id, key):
    headers = {**bearer(key), "Idempotency-Key": "at-once"}
    answers = await asyncio.gather(
        *(client.post("/api/v1/clients", json=NEW_CLIENT, headers=headers) for _ in range(6))
    )
    statuses = sorted(answer.status_code for answer in answers)
    assert set(statuses) <= {201, 409}, [answer.text for answer in answers]
    made = [a for a in answers if a.status_code == 201 and "idempotent-replayed" not in a.headers]
    assert len(made) == 1
    for answer in answers:
        if answer.status_code == 409:
            assert answer.headers["retry-after"] == "1"
        else:
            assert answer.content == made[0].content
    assert await Client.count() == 1


async def test_keys_are_kept_for_a_day(client, company_id, key):
    headers = {**bearer(key), "Idempotency-Key": "daily"}
    first = await client.post("/api/v1/clients", json=NEW_CLIENT, headers=headers)
    assert first.status_code == 201
    await ApiIdempotency.update(
        {ApiIdempotency.created_at: datetime.now(UTC) - timedelta(hours=25)}
    ).where(ApiIdempotency.idempotency_key == "daily")
    await idempotency.delete_expired()
    assert await ApiIdempotency.count() == 0
    fresh = await client.post(
        "/api/v1/clients", json={**NEW_CLIENT, "email": "new@example.com"}, headers=headers
    )
    assert fresh.status_code == 201 and "idempotent-replayed" not in fresh.headers


@pytest.mark.parametrize("value", ["", "with space", "x" * 256, "é"])
async def test_a_malformed_idempotency_key_is_refused(client, company_id, key, value):
    response = await client.post(
        "/api/v1/clients",
        json=NEW_CLIENT,
        headers={**bearer(key), "Idempotency-Key": value.encode("utf-8")},
    )
    assert response.status_code == 400, response.text
    assert "Idempotency-Key" in problems(response)
    assert await Client.count() == 0
