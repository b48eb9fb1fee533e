"""Many writers at once, through a real `portal serve` over HTTP: Add Client posted 200 times, 50
at a time, by one and by two worker processes on the run's database. Every answer is a redirect
to the new client's profile or a 503 with Retry-After, never a 500; every client a redirect
names exists whole (contact, numbers, counts, search document). When the wait for the write
lock is cut short, the refused posts leave nothing behind."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest

from clients_helpers import VALID_FORM
from conftest import IS_POSTGRES, check_kept_in_step
from portal.clients.tables import Client, ClientSearch, Contact, ContactNumber
from server_helpers import CSRF_FIELD, PortalServer, staff_session

POSTS = 200
AT_ONCE = 50
PROFILE = re.compile(r"^/admin/clients/(\d+)$")


async def _post_clients(server: PortalServer, staff: dict) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=AT_ONCE)
    async with staff_session(
        server.url, staff["email"], staff["password"], limits=limits, timeout=120
    ) as http:
        page = await http.get("/admin/clients/add")
        token = CSRF_FIELD.search(page.text).group(1)
        group = re.search(
            r'<select id="group_id" name="group_id"[^>]*>\s*<option value="(\d+)"', page.text
        )
        gate = asyncio.Semaphore(AT_ONCE)

        async def post(n: int) -> httpx.Response:
            form = {
                **VALID_FORM,
                "_csrf_token": token,
                "group_id": group.group(1),
                "first_name": f"Load{n}",
                "email": f"load{n}@example.com",
            }
            async with gate:
                return await http.post("/admin/clients/add", data=form)

        return await asyncio.gather(*(post(n) for n in range(POSTS)))


async def _check_created(responses: list[httpx.Response]) -> list[int]:
    created = []
    for response in responses:
        if response.status_code == 503:
            assert response.headers["retry-after"].isdigit()
            assert "try again" in response.text
            continue
        assert response.status_code == 303, (response.status_code, response.text[:2000])
        match = PROFILE.match(response.headers["location"])
        assert match, response.headers["location"]
        created.append(int(match.group(1)))
    assert len(set(created)) == len(created)
    rows = await Client.select(Client.id).where(Client.id.is_in(created or [0]))
    assert len(rows) == len(created)
    contacts = await Contact.select(Contact.id).where(Contact.client.is_in(created or [0]))
    assert len(contacts) == len(created)
    numbers = await ContactNumber.count().where(
        ContactNumber.contact.is_in([c["id"] for c in contacts] or [0])
    )
    assert numbers == 3 * len(created)
    documents = await ClientSearch.select(ClientSearch.client, ClientSearch.document).where(
        ClientSearch.client.is_in(created or [0])
    )
    assert len(documents) == len(created)
    assert all("@example.com" in row["document"] for row in documents)
    # Nothing half-written: no client of the run without its contact.
    orphans = await Client.raw("SELECT id FROM client WHERE id NOT IN (SELECT client FROM contact)")
    assert orphans == []
    await check_kept_in_step()
    return created


@pytest.mark.parametrize("workers", [1, 2])
async def test_add_client_under_load_answers_a_profile_or_503(staff, tmp_path, workers):
    with PortalServer(tmp_path / "server.log", workers=workers) as server:
        responses = await _post_clients(server, staff)
        log = server.log()
    created = await _check_created(responses)
    assert len(created) >= POSTS * 0.9  # the default wait is long enough for nearly all
    assert " 500 " not in log and "Traceback" not in log


async def test_writers_past_the_wait_get_503_and_leave_nothing(staff, tmp_path):
    """With the wait cut to a hair (for SQLite's write lock; for one of PostgreSQL's two pooled
    connections), many posts are refused: each with a readable 503 page and Retry-After, none
    half-saved."""
    if IS_POSTGRES:
        env = {"PORTAL_DB_WAIT_SECONDS": "0.1", "PORTAL_DB_POOL": "2"}
    else:
        env = {"PORTAL_DB_WAIT_SECONDS": "0.001"}
    with PortalServer(tmp_path / "server.log", env=env) as server:
        responses = await _post_clients(server, staff)
        log = server.log()
    created = await _check_created(responses)
    refused = [r for r in responses if r.status_code == 503]
    assert refused, "no post waited too long"
    assert len(created) + len(refused) == POSTS
    assert "Traceback" not in log
