"""kill -9 of a real `portal serve` while it is creating clients, ten times: every client whose
creation was acknowledged (the redirect to its profile) is there afterwards, whole; no client
is there in part; the counts and search documents are right; SQLite's file passes
`PRAGMA integrity_check`."""

from __future__ import annotations

import asyncio
import random
import re

import httpx

from clients_helpers import VALID_FORM
from conftest import IS_POSTGRES, check_kept_in_step
from portal.clients.tables import Client, ClientSearch, Contact, ContactNumber
from portal.core import db
from server_helpers import CSRF_FIELD, PortalServer, staff_session

ROUNDS = 10
POSTS_PER_ROUND = 100
AT_ONCE = 20
PROFILE = re.compile(r"^/admin/clients/(\d+)$")


async def _load_then_kill(server: PortalServer, staff: dict, round_number: int) -> list[int]:
    acknowledged: list[int] = []
    async with staff_session(server.url, staff["email"], staff["password"], timeout=30) as http:
        page = await http.get("/admin/clients/add")
        group = re.search(r'name="group_id"[^>]*>\s*<option value="(\d+)"', page.text).group(1)
        form = {**VALID_FORM, "_csrf_token": CSRF_FIELD.search(page.text).group(1)}

        async def post(n: int) -> None:
            data = {
                **form,
                "group_id": group,
                "first_name": f"Crash{round_number}-{n}",
                "email": f"crash{round_number}-{n}@example.com",
            }
            try:
                async with at_once:
                    response = await http.post("/admin/clients/add", data=data)
            except httpx.HTTPError:
                return  # cut by the kill: not acknowledged
            if response.status_code == 303:
                acknowledged.append(int(PROFILE.match(response.headers["location"]).group(1)))

        at_once = asyncio.Semaphore(AT_ONCE)
        tasks = [asyncio.create_task(post(n)) for n in range(POSTS_PER_ROUND)]
        await asyncio.sleep(random.uniform(0.3, 2.0))  # noqa: S311 - timing only
        server.kill()
        await asyncio.gather(*tasks)
    return acknowledged


async def test_kill_9_under_load_keeps_every_acknowledged_client_whole(staff, tmp_path):
    acknowledged: list[int] = []
    for round_number in range(ROUNDS):
        server = PortalServer(tmp_path / "server.log").start()
        acknowledged += await _load_then_kill(server, staff, round_number)
        if not IS_POSTGRES:
            assert await db.engine().run_ddl("PRAGMA integrity_check") == [
                {"integrity_check": "ok"}
            ]
    assert acknowledged, "no creation was acknowledged before the kills"
    assert len(acknowledged) < ROUNDS * POSTS_PER_ROUND, "no kill came in the middle of the load"
    found = await Client.select(Client.id).where(Client.id.is_in(acknowledged))
    assert len(found) == len(acknowledged)
    # Whole: a contact and its three numbers for every client there is, acknowledged or not.
    assert (
        await Client.raw("SELECT id FROM client WHERE id NOT IN (SELECT client FROM contact)") == []
    )
    contacts = await Contact.count()
    assert await ContactNumber.count() == 3 * contacts == 3 * await Client.count()
    assert await ClientSearch.count() == await Client.count()
    await db.refresh_derived_data()  # nothing was left queued for the search
    assert await ClientSearch.count() == await Client.count()
    await check_kept_in_step()
