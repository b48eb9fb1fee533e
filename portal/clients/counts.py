"""How many clients a company has of each group, country and status (table `client_count`):
Browse's tabs, its pages sorted by group and the group list read these few rows instead of
counting every client.

Every write that adds, removes or moves a client (its group, status or primary contact's
country) calls `shift` in its transaction, so the counts commit or roll back with the change.
Tests compare the counts with the clients after every test; `portal clients recount` repairs
them after changes made around the services."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import NamedTuple

from portal.clients.tables import Client, ClientCount
from portal.core.db import lock_for_insert, write_transaction


class Key(NamedTuple):
    """What a client is counted under."""

    group_id: int
    country: str
    status: str


async def shift(company_id: int, *, added: Iterable[Key] = (), removed: Iterable[Key] = ()) -> None:
    """Counts clients in under `added` and out of `removed` (one entry a client). Call it last
    in the write transaction: on PostgreSQL the count rows stay locked until commit, and they
    are updated in key order, so two writers never wait for each other's rows crosswise."""
    changes = Counter(added)
    changes.subtract(removed)
    for key, change in sorted(changes.items()):
        if change:
            await ClientCount.raw(
                'INSERT INTO client_count (company, "group", country, status, clients) '
                "VALUES ({}, {}, {}, {}, {}) "
                'ON CONFLICT (company, "group", country, status) '
                "DO UPDATE SET clients = client_count.clients + excluded.clients",
                company_id,
                key.group_id,
                key.country,
                key.status,
                change,
            )


async def tally(
    company_id: int, *, group_id: int | None = None, country: str = ""
) -> Counter[tuple[int, str]]:
    """The company's clients per (group ID, status), of one group and one country if given."""
    conditions, args = ["company = {}"], [company_id]
    if group_id is not None:
        conditions.append('"group" = {}')
        args.append(group_id)
    if country:
        conditions.append("country = {}")
        args.append(country)
    where = " AND ".join(conditions)  # fixed text; values are bound parameters
    rows = await ClientCount.raw(
        'SELECT "group" AS group_id, status, sum(clients) AS clients FROM client_count '  # noqa: S608
        f'WHERE {where} GROUP BY "group", status',
        *args,
    )
    return Counter({(row["group_id"], row["status"]): int(row["clients"]) for row in rows})


async def recount() -> int:
    """Counts every company's clients afresh, with each client's copy of its primary contact's
    country: a repair after changes made around the services (by hand in the database, for
    instance). Returns how many clients were counted."""
    async with write_transaction():
        # Writers lock client rows before count rows: so does this, or it could deadlock.
        await lock_for_insert(Client._meta.tablename)
        await lock_for_insert(ClientCount._meta.tablename)
        await ClientCount.raw(
            "UPDATE client SET country = coalesce((SELECT ct.country FROM contact ct "
            "WHERE ct.client = client.id AND ct.contact_type = 'primary'), '')"
        )
        await ClientCount.delete(force=True)
        await ClientCount.raw(
            'INSERT INTO client_count (company, "group", country, status, clients) '
            'SELECT company, "group", country, status, count(*) FROM client '
            'GROUP BY company, "group", country, status'
        )
        rows = await ClientCount.raw(
            "SELECT coalesce(sum(clients), 0) AS clients FROM client_count"
        )
    return int(rows[0]["clients"])
