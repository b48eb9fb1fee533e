"""What API keys may do: each API route needs one permission (403 without it); a key gets only
what its maker may grant, and keeps a permission only while its maker may still do the same in
the key's company (a group changed, a move to Support, a disabled or removed maker take it away
at once); keys made on the command line keep theirs; the keys page says all this in words; the
activity log records keys made and revoked; keys made before permissions keep every one."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from playwright.async_api import expect
from test_api import bearer, full_key

from a11y_helpers import a11y_context, assert_accessible
from conftest import PROJECT_DIR, STAFF_PASSWORD, csrf_from, log_in_admin_page, login_staff
from portal.activity.tables import ActivityEvent
from portal.api.cli import COMMAND_LINE
from portal.api.permissions import (
    CLIENTS_DELETE,
    CLIENTS_NOTES,
    CLIENTS_READ,
    CLIENTS_STATUS,
    CLIENTS_WRITE,
    all_api_permissions,
)
from portal.api.services import authenticate, create_key, hash_key
from portal.api.tables import ApiKey, ApiKeyPermission
from portal.app import create_app
from portal.clients.tables import Client
from portal.core.actors import SYSTEM, Actor
from portal.core.errors import ValidationError
from portal.core.permissions import (
    API_KEYS,
    CLIENTS_EDIT,
    CLIENTS_VIEW,
    SUPPORT_PERMISSIONS,
    Forbidden,
)
from portal.plugins.mass_mailer import MAILER_COMPOSE, MAILER_SEND, MARKETING_READ, MARKETING_WRITE
from portal.plugins.mass_mailer.tables import Suppression
from portal.staff import groups
from portal.staff.services import (
    MemberDetails,
    create_staff,
    remove_member,
    set_member_active,
    update_member,
)
from test_mass_mailer_helpers import add_client

KEYS_PAGE = "/admin/settings/company/api-keys"
MAILERS = [API_KEYS, CLIENTS_VIEW, MAILER_COMPOSE, MAILER_SEND]  # a group that may grant it all
POSTGRES_ADMIN_URL = os.environ.get(
    "PORTAL_TEST_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@contextlib.asynccontextmanager
async def _session(email: str) -> AsyncIterator[httpx.AsyncClient]:
    """A staff member's own browser."""
    transport = httpx.ASGITransport(app=create_app(), client=("127.0.0.1", 50002))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as http:
        await login_staff(http, email, STAFF_PASSWORD)
        yield http


async def _member(company_id: int, group: str, email: str = "max@example.com") -> int:
    return await create_staff(
        email=email,
        password=STAFF_PASSWORD,
        first_name="Max",
        last_name="Mailer",
        company_ids=[company_id],
        group=group,
    )


async def _actor(staff_id: int, company_id: int) -> Actor:
    member = await groups.membership(staff_id, company_id)
    assert member is not None
    return Actor(kind="staff", id=staff_id, name="Max Mailer", permissions=member.permissions)


async def _mailers_group(company_id: int, permissions: list[str] = MAILERS) -> int:
    return await groups.create_group(company_id, "Mailers", permissions, SYSTEM)


async def _statuses(client: httpx.AsyncClient, key: str) -> dict[str, int]:
    """The status of one request to each API operation."""
    client_id = (await Client.select(Client.id).first())["id"]
    answers = {
        CLIENTS_READ: await client.get("/api/v1/clients", headers=bearer(key)),
        "client": await client.get(f"/api/v1/clients/{client_id}", headers=bearer(key)),
        MARKETING_READ: await client.get("/api/v1/marketing/opt-ins", headers=bearer(key)),
        MARKETING_WRITE: await client.post(
            "/api/v1/marketing/unsubscribe",
            headers=bearer(key),
            json={"emails": ["nobody@example.com"]},
        ),
    }
    for response in answers.values():
        if response.status_code == 403:
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["status"] == 403
            assert "permission" in response.json()["detail"]
        else:
            assert response.headers["content-type"] == "application/json"
    return {name: response.status_code for name, response in answers.items()}


ALL_ALLOWED = {CLIENTS_READ: 200, "client": 200, MARKETING_READ: 200, MARKETING_WRITE: 200}


async def test_each_route_needs_its_permission(client, company_id):
    await add_client(company_id, "Mia", "mia@example.com", opted_in=True)
    _, marketing_only = await create_key(company_id, "mailer", [MARKETING_READ], SYSTEM)
    assert await _statuses(client, marketing_only) == {
        CLIENTS_READ: 403,
        "client": 403,
        MARKETING_READ: 200,
        MARKETING_WRITE: 403,
    }
    refused = await client.get("/api/v1/clients", headers=bearer(marketing_only))
    assert refused.json() == {
        "type": "about:blank",
        "title": "Forbidden",
        "status": 403,
        "detail": "This API key does not have the permission clients.read (Read clients), "
        "or the staff member who made it no longer may.",
    }
    assert await Suppression.count() == 0  # the refused unsubscribe changed nothing

    _, clients_only = await create_key(company_id, "crm", [CLIENTS_READ, CLIENTS_WRITE], SYSTEM)
    assert await _statuses(client, clients_only) == {
        CLIENTS_READ: 200,
        "client": 200,
        MARKETING_READ: 403,
        MARKETING_WRITE: 403,
    }
    # A key without the permission cannot probe either: an unknown query is refused as 403 too.
    probe = await client.get("/api/v1/clients?limt=5", headers=bearer(marketing_only))
    assert probe.status_code == 403


async def test_the_schema_says_what_each_operation_needs(client):
    schema = (await client.get("/api/v1/schema/openapi.json")).json()
    needs = {
        ("/api/v1/clients", "get"): CLIENTS_READ,
        ("/api/v1/clients/{client_id}", "get"): CLIENTS_READ,
        ("/api/v1/clients/{client_id}/contacts", "get"): CLIENTS_READ,
        ("/api/v1/clients/{client_id}/contacts/{contact_id}", "get"): CLIENTS_READ,
        ("/api/v1/clients/{client_id}/notes", "get"): CLIENTS_READ,
        ("/api/v1/clients/{client_id}/notes/{note_id}", "get"): CLIENTS_READ,
        ("/api/v1/clients", "post"): CLIENTS_WRITE,
        ("/api/v1/clients/{client_id}", "patch"): CLIENTS_WRITE,
        ("/api/v1/clients/{client_id}/contacts", "post"): CLIENTS_WRITE,
        ("/api/v1/clients/{client_id}/contacts/{contact_id}", "patch"): CLIENTS_WRITE,
        ("/api/v1/clients/{client_id}/contacts/{contact_id}", "delete"): CLIENTS_WRITE,
        ("/api/v1/clients/{client_id}/status", "put"): CLIENTS_STATUS,
        ("/api/v1/clients/{client_id}", "delete"): CLIENTS_DELETE,
        ("/api/v1/clients/{client_id}/notes", "post"): CLIENTS_NOTES,
        ("/api/v1/clients/{client_id}/notes/{note_id}", "patch"): CLIENTS_NOTES,
        ("/api/v1/clients/{client_id}/notes/{note_id}", "delete"): CLIENTS_NOTES,
        ("/api/v1/marketing/opt-ins", "get"): MARKETING_READ,
        ("/api/v1/marketing/unsubscribe", "post"): MARKETING_WRITE,
    }
    operations = {
        (path, method): operation
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    }
    assert set(operations) == set(needs)
    for where, permission in needs.items():
        operation = operations[where]
        assert f"Needs the API permission `{permission}`" in operation["description"], where
        assert operation["responses"]["403"]["content"]["application/problem+json"]["schema"]
        assert {"401", "403"} <= set(operation["responses"])
    assert "`marketing.write`: Report unsubscribes and bounces" in schema["info"]["description"]


async def test_the_keys_actor_holds_what_its_permissions_stand_for(company_id):
    """Services check an API key's actor as they check staff: clients.read stands for
    clients.view, marketing.write for mailer.send; a staff permission a service needs that the
    key lacks is a 403 in the API's JSON."""
    from litestar import Litestar, get

    from portal.api.routes import api_router

    _, key = await create_key(company_id, "mailer", [CLIENTS_READ, MARKETING_WRITE], SYSTEM)
    actor = (await authenticate(key)).actor("192.0.2.1")
    assert (actor.kind, actor.name, actor.address) == ("api-key", "mailer", "192.0.2.1")
    assert actor.may(CLIENTS_READ) and actor.may(CLIENTS_VIEW) and actor.may(MAILER_SEND)
    assert not actor.may(CLIENTS_EDIT) and not actor.may(MAILER_COMPOSE)

    @get("/edit-something", permission=CLIENTS_READ)
    async def edit_something() -> dict:
        raise Forbidden(CLIENTS_EDIT)

    transport = httpx.ASGITransport(app=Litestar(route_handlers=[api_router([edit_something])]))
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as http:
        response = await http.get("/api/v1/edit-something", headers=bearer(key))
    assert response.status_code == 403
    assert response.json() == {
        "type": "about:blank",
        "title": "Forbidden",
        "status": 403,
        "detail": "This API key may not do this: it needs “Add and edit clients”.",
    }


def test_every_api_route_must_name_its_permission():
    """A plugin route that forgets is refused when the app is built, not left open."""
    from litestar import get

    from portal.api.routes import api_router

    @get("/forgotten")
    async def forgotten() -> dict:
        return {}

    with pytest.raises(TypeError, match="does not name the permission"):
        api_router([forgotten])


async def test_support_cannot_give_a_key_what_support_may_not_do(company_id):
    """Support may manage keys here, but not send mail: marketing.write is refused, beside the
    field on the page and by the service."""
    support = await groups.group_by_name(company_id, "Support")
    await groups.update_group(
        company_id, support, "Support", [*SUPPORT_PERMISSIONS, API_KEYS], SYSTEM
    )
    sam = await _member(company_id, "Support", "sam@example.com")
    async with _session("sam@example.com") as browser:
        page = await browser.get(KEYS_PAGE)
        assert page.status_code == 200
        assert re.search(r'value="marketing\.write" disabled', page.text)
        assert "Needs “Send and cancel mailings”, which your staff group does not allow." in (
            page.text
        )
        assert re.search(r'value="clients\.read"(?! disabled)', page.text)
        refused = await browser.post(
            KEYS_PAGE,
            data={
                "_csrf_token": csrf_from(page.text),
                "name": "Helpdesk",
                "permissions": [CLIENTS_READ, MARKETING_WRITE],
            },
        )
        assert refused.status_code == 422
        assert await ApiKey.count() == 0
        beside = re.search(
            r'<fieldset[^>]*id="permissions".*?<p class="field-error" id="permissions-error">'
            r"([^<]*)</p>\s*</fieldset>",
            refused.text,
            re.S,
        )
        assert beside, refused.text
        assert "“Report unsubscribes and bounces” needs “Send and cancel mailings”" in (
            beside.group(1).replace("&#8220;", "“").replace("&#8221;", "”")
        )
        assert 'value="Helpdesk"' in refused.text
        assert re.search(r'value="clients\.read" checked', refused.text)

        made = await browser.post(
            KEYS_PAGE,
            data={
                "_csrf_token": csrf_from(page.text),
                "name": "Helpdesk",
                "permissions": [CLIENTS_READ],
            },
        )
        assert made.status_code == 200 and 'id="new-api-key"' in made.text
    row = await ApiKey.select().first()
    assert row["creator_staff_id"] == sam

    actor = await _actor(sam, company_id)
    with pytest.raises(ValidationError) as refused_by_service:
        await create_key(company_id, "direct", [MARKETING_WRITE], actor)
    assert "Report unsubscribes and bounces" in refused_by_service.value.errors["permissions"]
    without_keys = Actor(kind="staff", id=sam, permissions=frozenset({CLIENTS_VIEW}))
    with pytest.raises(Forbidden):
        await create_key(company_id, "direct", [CLIENTS_READ], without_keys)
    with pytest.raises(ValidationError) as unknown:
        await create_key(company_id, "direct", ["clients.everything"], SYSTEM)
    assert unknown.value.errors == {"permissions": "Choose permissions from the list."}
    assert await ApiKey.count() == 1


async def test_a_key_loses_what_its_maker_loses_at_once(client, admin_client, company_id):
    await add_client(company_id, "Mia", "mia@example.com", opted_in=True)
    mailers = await _mailers_group(company_id)
    max_id = await _member(company_id, "Mailers")
    actor = await _actor(max_id, company_id)
    with pytest.raises(ValidationError):  # Mailers may not edit clients: not theirs to give
        await create_key(company_id, "Newsletter", all_api_permissions(), actor)
    _, key = await create_key(
        company_id, "Newsletter", [CLIENTS_READ, MARKETING_READ, MARKETING_WRITE], actor
    )
    assert await _statuses(client, key) == ALL_ALLOWED

    # The group stops sending: the key stops reporting unsubscribes, on its next request.
    await groups.update_group(
        company_id, mailers, "Mailers", [API_KEYS, CLIENTS_VIEW, MAILER_COMPOSE], SYSTEM
    )
    assert await _statuses(client, key) == {**ALL_ALLOWED, MARKETING_WRITE: 403}
    page = (await admin_client.get(KEYS_PAGE)).text
    assert 'Report unsubscribes and bounces <span class="muted">(not in effect' in page
    assert "by Max Mailer" in page

    # Moved to Support (clients, notes, email): only reading clients is left.
    support = await groups.group_by_name(company_id, "Support")
    await update_member(
        company_id,
        max_id,
        MemberDetails("Max", "Mailer", "max@example.com", "en", support),
        SYSTEM,
    )
    assert await _statuses(client, key) == {
        **ALL_ALLOWED,
        MARKETING_READ: 403,
        MARKETING_WRITE: 403,
    }
    # Back among the Mailers, as they were: the key has it all again.
    await groups.update_group(company_id, mailers, "Mailers", MAILERS, SYSTEM)
    await update_member(
        company_id,
        max_id,
        MemberDetails("Max", "Mailer", "max@example.com", "en", mailers),
        SYSTEM,
    )
    assert await _statuses(client, key) == ALL_ALLOWED


async def test_a_key_never_gains_what_its_maker_gains(client, company_id):
    """A maker given more later does not widen a key: it keeps to what it was granted."""
    await add_client(company_id, "Mia", "mia@example.com", opted_in=True)
    mailers = await _mailers_group(company_id)
    max_id = await _member(company_id, "Mailers")
    _, key = await create_key(
        company_id, "Reader", [CLIENTS_READ], await _actor(max_id, company_id)
    )
    await groups.update_group(company_id, mailers, "Mailers", [*MAILERS, CLIENTS_EDIT], SYSTEM)
    assert (await authenticate(key)).permissions == {CLIENTS_READ}


async def test_a_disabled_or_removed_maker_takes_every_permission_away(
    client, admin_client, company_id
):
    await add_client(company_id, "Mia", "mia@example.com", opted_in=True)
    await _mailers_group(company_id)
    max_id = await _member(company_id, "Mailers")
    actor = await _actor(max_id, company_id)
    _, key = await create_key(
        company_id, "Newsletter", [CLIENTS_READ, MARKETING_READ, MARKETING_WRITE], actor
    )
    cli_key = await full_key(company_id, "made by code")
    assert await _statuses(client, key) == ALL_ALLOWED

    assert await set_member_active(company_id, max_id, False, SYSTEM)
    nothing = {name: 403 for name in ALL_ALLOWED}
    assert await _statuses(client, key) == nothing
    assert await _statuses(client, cli_key) == ALL_ALLOWED  # no maker: keeps its set
    assert await set_member_active(company_id, max_id, True, SYSTEM)
    assert await _statuses(client, key) == ALL_ALLOWED

    await remove_member(company_id, max_id, SYSTEM)
    assert await _statuses(client, key) == nothing
    assert (await authenticate(key)).permissions == frozenset()
    page = (await admin_client.get(KEYS_PAGE)).text
    assert "by a staff member since deleted" in page


async def test_what_a_maker_may_do_elsewhere_lends_nothing_here(
    client, staff, company_id, second_company
):
    """A maker's permissions are read in the key's company, not wherever they work."""
    await add_client(company_id, "Mia", "mia@example.com", opted_in=True)
    max_id = await create_staff(
        email="max@example.com",
        password=STAFF_PASSWORD,
        first_name="Max",
        last_name="Mailer",
        company_ids=[company_id, second_company],
    )
    _, key = await create_key(
        company_id, "Newsletter", [CLIENTS_READ], await _actor(max_id, company_id)
    )
    assert await set_member_active(company_id, max_id, False, SYSTEM)
    assert await groups.membership(max_id, second_company) is not None  # still an admin there
    assert (await authenticate(key)).permissions == frozenset()
    assert (await client.get("/api/v1/clients", headers=bearer(key))).status_code == 403


async def test_keys_page_shows_words_and_makers_and_the_log_has_every_key(
    admin_client, staff, company_id
):
    page = await admin_client.get(KEYS_PAGE)
    made = await admin_client.post(
        KEYS_PAGE,
        data={
            "_csrf_token": csrf_from(page.text),
            "name": "Newsletter service",
            "permissions": [CLIENTS_READ, MARKETING_READ],
        },
    )
    assert made.status_code == 200
    await create_key(company_id, "Night job", [MARKETING_WRITE], COMMAND_LINE)
    listed = (await admin_client.get(KEYS_PAGE)).text
    table = listed[listed.index("<table") : listed.index("</table>")]
    assert "Read clients" in table and "Read marketing opt-ins" in table
    assert "Report unsubscribes and bounces" in table
    assert "by Ada Admin" in table and "on the command line" in table
    for code in ("clients.read", "marketing.read", "marketing.write", "staff:", "command-line"):
        assert code not in table
    assert "(not in effect" not in table  # an administrator holds everything

    key_id = (await ApiKey.select(ApiKey.id).where(ApiKey.name == "Newsletter service").first())[
        "id"
    ]
    for _ in range(2):  # revoking twice logs it once
        revoked = await admin_client.post(
            f"{KEYS_PAGE}/{key_id}/revoke", data={"_csrf_token": csrf_from(listed)}
        )
        assert revoked.status_code == 303
    lines = (
        await ActivityEvent.select(
            ActivityEvent.kind, ActivityEvent.actor_name, ActivityEvent.summary
        )
        .where(ActivityEvent.company == company_id, ActivityEvent.kind == "api_keys")
        .order_by(ActivityEvent.id)
    )
    assert lines == [
        {
            "kind": "api_keys",
            "actor_name": "Ada Admin",
            "summary": "Created the API key Newsletter service: Read clients; "
            "Read marketing opt-ins.",
        },
        {
            "kind": "api_keys",
            "actor_name": "Command line",
            "summary": "Created the API key Night job: Report unsubscribes and bounces.",
        },
        {
            "kind": "api_keys",
            "actor_name": "Ada Admin",
            "summary": "Revoked the API key Newsletter service.",
        },
    ]
    log = await admin_client.get("/admin/tools/activity", params={"kind": "api_keys"})
    assert "Revoked the API key Newsletter service." in log.text


async def test_keys_page_from_the_keyboard_and_accessible(browser, live_server, company_id):
    """A Support member who may manage keys: what they cannot grant is shown, disabled, with
    the reason; the form works from the keyboard; axe finds nothing serious, errors shown or
    not."""
    support = await groups.group_by_name(company_id, "Support")
    await groups.update_group(
        company_id, support, "Support", [*SUPPORT_PERMISSIONS, API_KEYS], SYSTEM
    )
    await _member(company_id, "Support", "sam@example.com")
    context = await a11y_context(browser)
    try:
        page = await context.new_page()
        await log_in_admin_page(page, live_server, "sam@example.com", STAFF_PASSWORD)
        await page.goto(f"{live_server}{KEYS_PAGE}")
        await expect(page.get_by_label("Report unsubscribes and bounces")).to_be_disabled()
        await assert_accessible(page, "API Keys")

        # Enter in the name, with no permission ticked: the error is beside the fieldset.
        await page.get_by_label("Name").focus()
        await page.keyboard.type("Helpdesk")
        await page.keyboard.press("Enter")
        summary = page.locator("#form-errors")
        await expect(summary).to_contain_text("Choose at least one permission.")
        await expect(page.locator("#permissions-error")).to_be_visible()
        await expect(page.get_by_label("Name")).to_have_value("Helpdesk")
        await assert_accessible(page, "API Keys with an error")

        # Tab from the name reaches the first permission; Space ticks it.
        await page.get_by_label("Name").focus()
        await page.keyboard.press("Tab")
        await expect(page.get_by_label("Read clients")).to_be_focused()
        await page.keyboard.press("Space")
        await page.get_by_role("button", name="Create API Key").focus()
        await page.keyboard.press("Enter")
        await expect(page.get_by_label("New API key")).to_have_value(re.compile(r"^pk_"))
        await expect(page.locator("table")).to_contain_text("by Max Mailer")
        await assert_accessible(page, "API Keys with a new key")
        new_key = await page.get_by_label("New API key").input_value()
    finally:
        await context.close()
    assert (await authenticate(new_key)).permissions == {CLIENTS_READ}


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "portal", "api-key", "create", *args],
        cwd=PROJECT_DIR,
        env={**os.environ},
        capture_output=True,
        text=True,
        timeout=60,
    )


async def _granted(key: str) -> set[str]:
    row = (
        await ApiKey.select(ApiKey.id, ApiKey.creator_staff_id)
        .where(ApiKey.key_hash == hash_key(key))
        .first()
    )
    assert row["creator_staff_id"] is None
    rows = await ApiKeyPermission.select(ApiKeyPermission.permission).where(
        ApiKeyPermission.api_key == row["id"]
    )
    return {r["permission"] for r in rows}


async def test_cli_permissions_all_a_list_or_a_clear_error(client, company_id):
    await add_client(company_id, "Mia", "mia@example.com", opted_in=True)
    everything = await asyncio.to_thread(_cli, "--name", "All", "--permissions", "all")
    assert everything.returncode == 0, everything.stderr
    assert await _granted(everything.stdout.strip()) == all_api_permissions()
    default = await asyncio.to_thread(_cli, "--name", "Default")
    assert default.returncode == 0, default.stderr
    assert await _granted(default.stdout.strip()) == all_api_permissions()

    listed = await asyncio.to_thread(
        _cli, "--name", "Mailer", "--permissions", " marketing.read, marketing.write "
    )
    assert listed.returncode == 0, listed.stderr
    key = listed.stdout.strip()
    assert await _granted(key) == {MARKETING_READ, MARKETING_WRITE}
    assert await _statuses(client, key) == {**ALL_ALLOWED, CLIENTS_READ: 403, "client": 403}

    for wrong, expected in (
        ("clients.read,clients.erase", "unknown permission 'clients.erase'"),
        ("everything", "unknown permission 'everything'"),
        (",", "none given"),
    ):
        bad = await asyncio.to_thread(_cli, "--name", "Bad", "--permissions", wrong)
        assert bad.returncode == 2, bad.stderr
        assert f"error: permissions: {expected}" in bad.stderr
        assert (
            "clients.read, clients.write, clients.status, clients.delete, clients.notes, "
            "marketing.read, marketing.write, or all"
        ) in bad.stderr
        assert "pk_" not in bad.stdout and "Traceback" not in bad.stderr
    assert await ApiKey.count() == 3


# --- the migration: keys made before permissions keep every one they could have ----------------

OLD_KEYS = [  # (name, created_by as it was stored, the maker's id it becomes)
    ("by staff", "staff:7", 7),
    ("by the cli", "cli", None),
]
# A migrated database taken back to before the data migration: its keys are made the old way,
# then `portal migrate` runs it again.
REWIND = [
    "ALTER TABLE api_key ADD COLUMN created_by VARCHAR(100) NOT NULL DEFAULT ''",
    "DROP INDEX api_key_permission_api_key_permission",
    "DELETE FROM api_key_permission",
    "UPDATE api_key SET creator_staff_id = NULL",
    "DELETE FROM migration WHERE name = '2026-12-03T11:00:00:000002'",
]


def _migrate(database_url: str, var_dir: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "portal", "migrate"],
        cwd=PROJECT_DIR,
        env={**os.environ, "PORTAL_DATABASE_URL": database_url, "PORTAL_VAR_DIR": str(var_dir)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _insert_old_keys() -> list[str]:
    return [
        "INSERT INTO api_key (company, name, key_hash, prefix, created_by, created_at) "
        f"VALUES (1, '{name}', '{index:064d}', 'pk_old', '{created_by}', "
        "'2026-11-30 10:00:00+00')"
        for index, (name, created_by, _) in enumerate(OLD_KEYS)
    ]


# Every permission there was when permissions came (later ones are granted, never assumed).
PERMISSIONS_THEN = {CLIENTS_READ, CLIENTS_WRITE, MARKETING_READ, MARKETING_WRITE}


def _expected() -> set[tuple[str, int | None, str]]:
    return {(name, maker, p) for name, _, maker in OLD_KEYS for p in PERMISSIONS_THEN}


READ_BACK = (
    "SELECT k.name, k.creator_staff_id, p.permission FROM api_key k "
    "JOIN api_key_permission p ON p.api_key = k.id"
)


def test_existing_keys_keep_every_permission_on_sqlite(tmp_path: Path):
    database = tmp_path / "old.sqlite3"
    _migrate(f"sqlite:///{database}", tmp_path / "var")
    connection = sqlite3.connect(database)
    for statement in [*REWIND, *_insert_old_keys()]:
        connection.execute(statement)
    connection.commit()
    connection.close()

    _migrate(f"sqlite:///{database}", tmp_path / "var")
    connection = sqlite3.connect(database)
    try:
        assert set(connection.execute(READ_BACK).fetchall()) == _expected()
        columns = {row[1] for row in connection.execute("PRAGMA table_info(api_key)")}
        assert "created_by" not in columns
    finally:
        connection.close()


async def test_existing_keys_keep_every_permission_on_postgresql(tmp_path: Path):
    try:
        admin = await asyncpg.connect(POSTGRES_ADMIN_URL)
    except (OSError, asyncpg.PostgresError) as error:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL unreachable outside CI: {error}")
    name = f"portal_keys_{uuid.uuid4().hex[:8]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
        await asyncio.to_thread(_migrate, url, tmp_path / "var")
        connection = await asyncpg.connect(url)
        try:
            for statement in [*REWIND, *_insert_old_keys()]:
                await connection.execute(statement)
            await asyncio.to_thread(_migrate, url, tmp_path / "var")
            rows = await connection.fetch(READ_BACK)
            assert {tuple(row) for row in rows} == _expected()
            assert not await connection.fetchval(
                "SELECT count(*) FROM information_schema.columns "
                "WHERE table_name = 'api_key' AND column_name = 'created_by'"
            )
        finally:
            await connection.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
