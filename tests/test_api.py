"""The JSON API under /api/v1: API keys (admin area and CLI), 401s, one company per key,
cursor pages, unsubscribes and bounces reported by an external mailer, the OpenAPI schema.
(What keys may do: test_api_permissions.py.)"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys

import pytest

from conftest import PROJECT_DIR, csrf_from
from portal.api.permissions import all_api_permissions
from portal.api.services import create_key, hash_key
from portal.api.tables import ApiKey
from portal.clients.tables import Client, ConsentEvent
from portal.core.actors import SYSTEM
from portal.plugins.mass_mailer.tables import Suppression
from test_mass_mailer_helpers import add_client, ten_clients


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def full_key(company_id: int, name: str = "tests") -> str:
    """A key with every permission, made by code (no maker: it keeps them)."""
    return (await create_key(company_id, name, all_api_permissions(), SYSTEM))[1]


@pytest.fixture
async def key(company_id: int) -> str:
    return await full_key(company_id)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer "},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer pk_not-a-real-key"},
        {"Authorization": "Bearer " + "x" * 5000},
        {"Authorization": "Bearer pk_\u00e9t\u00e9".encode("latin-1")},
    ],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/clients"),
        ("GET", "/api/v1/clients/1"),
        ("GET", "/api/v1/marketing/opt-ins"),
        ("POST", "/api/v1/marketing/unsubscribe"),
    ],
)
async def test_no_valid_key_is_a_401_in_json(client, company_id, headers, method, path):
    await full_key(company_id, "a real key exists")
    response = await client.request(
        method, path, headers=headers, json={"emails": ["a@example.com"]}
    )
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 401
    assert response.json()["title"] == "Unauthorized"
    assert "API key" in response.json()["detail"]
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_a_revoked_key_stops_working(admin_client, company_id, key):
    assert (await admin_client.get("/api/v1/clients", headers=bearer(key))).status_code == 200
    page = await admin_client.get("/admin/settings/company/api-keys")
    key_id = (await ApiKey.select(ApiKey.id).where(ApiKey.key_hash == hash_key(key)).first())["id"]
    response = await admin_client.post(
        f"/admin/settings/company/api-keys/{key_id}/revoke",
        data={"_csrf_token": csrf_from(page.text)},
    )
    assert response.status_code == 303
    assert (await admin_client.get("/api/v1/clients", headers=bearer(key))).status_code == 401


async def test_keys_are_made_in_the_admin_area_shown_once_and_stored_hashed(
    admin_client, company_id
):
    page = await admin_client.get("/admin/settings/company/api-keys")
    assert page.status_code == 200 and "No API keys yet." in page.text
    created = await admin_client.post(
        "/admin/settings/company/api-keys",
        data={
            "_csrf_token": csrf_from(page.text),
            "name": "Newsletter service",
            "permissions": ["clients.read"],
        },
    )
    assert created.status_code == 200
    match = re.search(r'id="new-api-key"[^>]*value="(pk_[A-Za-z0-9_-]{43})"', created.text)
    assert match, created.text
    new_key = match.group(1)
    row = await ApiKey.select().first()
    assert row["key_hash"] == hash_key(new_key) and new_key not in str(row)
    assert row["prefix"] == new_key[:10] and row["company"] == company_id
    again = await admin_client.get("/admin/settings/company/api-keys")
    assert new_key not in again.text and f"{new_key[:10]}…" in again.text
    assert (await admin_client.get("/api/v1/clients", headers=bearer(new_key))).status_code == 200
    assert (await ApiKey.select().first())["last_used_at"] is not None

    empty = await admin_client.post(
        "/admin/settings/company/api-keys",
        data={"_csrf_token": csrf_from(page.text), "name": "  ", "permissions": ["clients.read"]},
    )
    assert empty.status_code == 422 and "Name is required." in empty.text
    assert 'value="clients.read" checked' in empty.text  # what was chosen stays chosen
    unchosen = await admin_client.post(
        "/admin/settings/company/api-keys",
        data={"_csrf_token": csrf_from(page.text), "name": "Nothing"},
    )
    assert unchosen.status_code == 422 and "Choose at least one permission." in unchosen.text
    assert 'value="Nothing"' in unchosen.text
    assert await ApiKey.count() == 1


async def test_another_companys_key_cannot_be_revoked(admin_client, second_company):
    await full_key(second_company, "theirs")
    other_id = (await ApiKey.select(ApiKey.id).first())["id"]
    page = await admin_client.get("/admin/settings/company/api-keys")
    assert "theirs" not in page.text
    response = await admin_client.post(
        f"/admin/settings/company/api-keys/{other_id}/revoke",
        data={"_csrf_token": csrf_from(page.text)},
    )
    assert response.status_code == 404
    assert (await ApiKey.select().first())["revoked_at"] is None


async def test_a_key_never_sees_another_companys_clients(client, company_id, second_company):
    mine = await add_client(company_id, "Mia", "mia@example.com", opted_in=True)
    theirs = await add_client(second_company, "Tom", "tom@example.com", opted_in=True)
    my_key = await full_key(company_id, "mine")
    their_key = await full_key(second_company, "theirs")

    listed = await client.get("/api/v1/clients", headers=bearer(my_key))
    assert [item["id"] for item in listed.json()["items"]] == [mine]
    opt_ins = await client.get("/api/v1/marketing/opt-ins", headers=bearer(my_key))
    assert [item["id"] for item in opt_ins.json()["items"]] == [mine]
    assert (await client.get(f"/api/v1/clients/{mine}", headers=bearer(my_key))).status_code == 200
    for path in (
        f"/api/v1/clients/{theirs}",
        "/api/v1/clients/2147483648",
        "/api/v1/clients/" + "9" * 30,
    ):
        response = await client.get(path, headers=bearer(my_key))
        assert response.status_code == 404, path
    other = await client.get(f"/api/v1/clients/{theirs}", headers=bearer(their_key))
    assert other.status_code == 200 and other.json()["email"] == "tom@example.com"

    # Their key cannot unsubscribe my client either.
    response = await client.post(
        "/api/v1/marketing/unsubscribe",
        headers=bearer(their_key),
        json={"emails": ["mia@example.com"], "reason": "bounce"},
    )
    assert response.status_code == 200 and response.json()["clients_opted_out"] == 0
    assert (await Client.select().where(Client.id == mine).first())["marketing_opt_in"]
    assert not await Suppression.exists().where(Suppression.company == company_id)


async def test_client_details_and_cursor_pages(client, company_id, key):
    ids = [
        await add_client(company_id, f"P{i}", f"p{i}@example.com", opted_in=i % 2 == 0)
        for i in range(5)
    ]
    seen, cursor = [], 0
    while cursor is not None:
        page = await client.get(
            "/api/v1/clients", params={"cursor": cursor, "limit": 2}, headers=bearer(key)
        )
        assert page.status_code == 200
        body = page.json()
        assert len(body["items"]) <= 2
        seen += [item["id"] for item in body["items"]]
        cursor = body["next_cursor"]
    assert seen == ids
    detail = (await client.get(f"/api/v1/clients/{ids[0]}", headers=bearer(key))).json()
    assert detail["first_name"] == "P0" and detail["email"] == "p0@example.com"
    assert detail["country"] == "DE" and detail["status"] == "active"
    assert detail["marketing_opt_in"] is True and detail["group_name"] == "General"


async def test_opt_ins_are_filtered_like_the_wizard_and_carry_the_opt_in_time(
    client, company_id, key
):
    clients = await ten_clients(company_id)
    response = await client.get("/api/v1/marketing/opt-ins", headers=bearer(key))
    body = response.json()
    assert {item["id"] for item in body["items"]} == {
        clients[name] for name in ("ann", "bob", "cid", "dee", "eve")
    }
    assert all(item["opted_in_at"] for item in body["items"])
    assert body["next_cursor"] is None
    inactive = await client.get(
        "/api/v1/marketing/opt-ins", params={"status": "inactive"}, headers=bearer(key)
    )
    assert [item["id"] for item in inactive.json()["items"]] == [clients["ian"]]
    both = await client.get(
        "/api/v1/marketing/opt-ins",
        params={"status": ["active", "inactive"], "limit": 4},
        headers=bearer(key),
    )
    assert len(both.json()["items"]) == 4 and both.json()["next_cursor"] is not None
    nobody = await client.get(
        "/api/v1/marketing/opt-ins", params={"country": "ES"}, headers=bearer(key)
    )
    assert nobody.json() == {"items": [], "next_cursor": None}


@pytest.mark.parametrize(
    "params",
    [
        {"language": "xx"},
        {"country": "ZZZ"},
        {"status": "deleted"},
        {"limit": 0},
        {"limit": 501},
        {"cursor": -1},
        {"cursor": 2**40},
        {"group": "x"},
        {"group": 2**40},
        {"created_from": "2025-13-01"},
        {"language": "\x00"},
        {"group": 0},
        {"language": ""},
        {"": "true"},
        {"stauts": "active"},
    ],
)
async def test_bad_filters_are_a_400_with_a_reason(client, company_id, key, params):
    """What the schema does not allow (a range ending before it starts is allowed: it matches
    nobody)."""
    response = await client.get("/api/v1/marketing/opt-ins", params=params, headers=bearer(key))
    assert response.status_code == 400, response.text
    assert response.json()["detail"]


async def test_unknown_query_parameters_are_refused(client, company_id, key):
    """A typo is not quietly ignored: the schema declares each operation's parameters."""
    for path in ("/api/v1/clients", "/api/v1/marketing/opt-ins"):
        response = await client.get(path, params={"limt": "5"}, headers=bearer(key))
        assert response.status_code == 400, response.text
        assert "'limt'" in response.json()["detail"]
    assert (await client.get("/api/v1/clients?limit=5", headers=bearer(key))).status_code == 200


async def test_unsubscribes_and_bounces_from_an_external_mailer(client, company_id, key):
    clients = await ten_clients(company_id)
    response = await client.post(
        "/api/v1/marketing/unsubscribe",
        headers=bearer(key),
        json={"emails": ["SHARED@example.com", "nobody@example.com"], "reason": "bounce"},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"suppressed": 2, "clients_opted_out": 2}
    for name in ("ann", "bob"):
        row = await Client.select().where(Client.id == clients[name]).first()
        assert row["marketing_opt_in"] is False
        event = (
            await ConsentEvent.select()
            .where(ConsentEvent.client == clients[name])
            .order_by(ConsentEvent.id, ascending=False)
            .first()
        )
        assert (event["opted_in"], event["source"]) == (False, "api-bounce")
        assert event["actor"].startswith("api-key:")
    reasons = {r["email"]: r["reason"] for r in await Suppression.select()}
    assert reasons == {"shared@example.com": "bounce", "nobody@example.com": "bounce"}
    listed = await client.get("/api/v1/marketing/opt-ins", headers=bearer(key))
    assert {item["id"] for item in listed.json()["items"]} == {
        clients[name] for name in ("cid", "dee", "eve")
    }
    again = await client.post(
        "/api/v1/marketing/unsubscribe", headers=bearer(key), json={"emails": ["cid@example.com"]}
    )
    assert again.json() == {"suppressed": 1, "clients_opted_out": 1}
    assert (await Suppression.select().where(Suppression.email == "cid@example.com").first())[
        "reason"
    ] == "unsubscribe"


@pytest.mark.parametrize(
    "body",
    [
        {"emails": []},
        {"emails": ["not an address"]},
        {"emails": ["ok@example.com", "bad"]},
        {"emails": ["a@example.com"], "reason": "spam"},
        {"emails": "a@example.com"},
        {"emails": ["a@example.com"] * 1001},
        {"emails": ["a\x00@example.com"]},
        {},
        [],
    ],
)
async def test_bad_unsubscribe_requests_change_nothing(client, company_id, key, body):
    await add_client(company_id, "Ok", "ok@example.com", opted_in=True)
    response = await client.post("/api/v1/marketing/unsubscribe", headers=bearer(key), json=body)
    assert response.status_code == 400, response.text
    assert await Suppression.count() == 0
    assert await ConsentEvent.count().where(ConsentEvent.opted_in.eq(False)) == 0


async def test_the_openapi_schema_documents_the_api_only(client):
    response = await client.get("/api/v1/schema/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert set(schema["paths"]) == {
        "/api/v1/clients",
        "/api/v1/clients/{client_id}",
        "/api/v1/clients/{client_id}/status",
        "/api/v1/clients/{client_id}/contacts",
        "/api/v1/clients/{client_id}/contacts/{contact_id}",
        "/api/v1/clients/{client_id}/notes",
        "/api/v1/clients/{client_id}/notes/{note_id}",
        "/api/v1/marketing/opt-ins",
        "/api/v1/marketing/unsubscribe",
    }
    assert schema["components"]["securitySchemes"]["BearerKey"]["scheme"] == "bearer"
    opt_ins = schema["paths"]["/api/v1/marketing/opt-ins"]["get"]
    assert {p["name"] for p in opt_ins["parameters"]} >= {"cursor", "limit", "status", "country"}
    assert {"401", "403"} <= set(opt_ins["responses"])
    assert (await client.get("/api/v1/schema/openapi.yaml")).status_code == 200


def test_portal_api_key_create_prints_a_working_key_once(tmp_path):
    env = {**os.environ}
    result = subprocess.run(
        [sys.executable, "-m", "portal", "api-key", "create", "--name", "From the CLI"],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    printed = result.stdout.strip()
    assert re.fullmatch(r"pk_[A-Za-z0-9_-]{43}", printed)
    assert "not shown again" in result.stderr

    bad = subprocess.run(
        [sys.executable, "-m", "portal", "api-key", "create", "--name", "x", "--company", "99999"],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "No company with ID 99999" in bad.stderr
    assert "pk_" not in bad.stdout


async def test_the_cli_key_works_against_the_api(client, company_id):
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "portal", "api-key", "create", "--name", "cli"],
        cwd=PROJECT_DIR,
        env={**os.environ},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    response = await client.get("/api/v1/clients", headers=bearer(result.stdout.strip()))
    assert response.status_code == 200


async def test_api_errors_are_problem_documents_for_unknown_paths(client, key):
    response = await client.get("/api/v1/nothing-here", headers=bearer(key))
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": "There is nothing here, or you may not see it.",
    }
