"""How many clients a company has of each group, country and status (table `client_count`),
and so created in each month (table `client_month_count`): Browse's tabs, its filters,
its pages sorted by group and the group list read these few rows instead of counting every
client.

The database keeps the counts: triggers on the client table move a client between them in
the statement that adds, removes or moves it (its group, status or primary contact's country),
whatever writes it (see the clients migration of 2026-12-02T18:00). Tests compare the counts
with the clients after every test; `portal clients recount` counts afresh, as a repair."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

from portal.clients.tables import CLIENT_STATUSES, Client, ClientCount, ClientMonthCount
from portal.core.db import lock_for_insert, lock_table, month_of, write_transactions


def _month_start(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return datetime(moment.year, moment.month, 1, tzinfo=UTC)


def _next_month(month: datetime) -> datetime:
    return month.replace(year=month.year + month.month // 12, month=month.month % 12 + 1)


async def tally(
    company_id: int,
    *,
    group_id: int | None = None,
    country: str = "",
    created_from: datetime | None = None,
    created_before: datetime | None = None,
    tag_id: int | None = None,
) -> Counter[tuple[int, str]]:
    """The company's clients per (group ID, status), of one group and one country if given,
    created from `created_from` up to (not including) `created_before` if given, with the tag
    `tag_id` if given. Whole months of a date range are read from the monthly counts, the days
    before and after them counted through the creation-date index (at most a month each). No
    count is kept per tag: the tag's clients are counted, read through the index (tag,
    client)."""
    if tag_id is not None:
        return await _counted(company_id, group_id, country, created_from, created_before, tag_id)
    if created_from is None and created_before is None:
        return await _kept(ClientCount, company_id, group_id=group_id, country=country)
    whole_from = created_from and _month_start(created_from)
    if created_from and whole_from != created_from:
        whole_from = _next_month(whole_from)
    whole_before = created_before and _month_start(created_before)
    if whole_from and whole_before and whole_from >= whole_before:
        return await _counted(company_id, group_id, country, created_from, created_before)
    months = []
    if whole_from:
        months.append(("month >= {}", whole_from.date()))
    if whole_before:
        months.append(("month < {}", whole_before.date()))
    result = await _kept(
        ClientMonthCount, company_id, group_id=group_id, country=country, months=months
    )
    if created_from and created_from < whole_from:
        result.update(await _counted(company_id, group_id, country, created_from, whole_from))
    if created_before and whole_before < created_before:
        result.update(await _counted(company_id, group_id, country, whole_before, created_before))
    return result


async def _kept(
    table: type[ClientCount | ClientMonthCount],
    company_id: int,
    *,
    group_id: int | None,
    country: str = "",
    months: Iterable[tuple[str, date]] = (),
) -> Counter[tuple[int, str]]:
    conditions, args = _conditions(company_id, group_id, country)
    for condition, month in months:
        conditions.append(condition)
        args.append(month)
    where = " AND ".join(conditions)  # fixed text; values are bound parameters
    return _by_group_and_status(
        await table.raw(
            f'SELECT "group" AS group_id, status, sum(clients) AS clients '  # noqa: S608
            f'FROM {table._meta.tablename} WHERE {where} GROUP BY "group", status',
            *args,
        )
    )


async def _counted(
    company_id: int,
    group_id: int | None,
    country: str,
    created_from: datetime | None,
    created_before: datetime | None,
    tag_id: int | None = None,
) -> Counter[tuple[int, str]]:
    """Counts the clients themselves: a date range reads the index (company, status,
    created_at, group, country), one range of it for each status; a tag reads its clients
    through the index (tag, client)."""
    conditions, args = _conditions(company_id, group_id, country)
    if created_from is not None or created_before is not None:
        conditions.append("status IN ({}, {}, {})")
        args.extend(CLIENT_STATUSES)
    if created_from is not None:
        conditions.append("created_at >= {}")
        args.append(created_from)
    if created_before is not None:
        conditions.append("created_at < {}")
        args.append(created_before)
    if tag_id is not None:
        conditions.append("id IN (SELECT client FROM client_tag WHERE tag = {})")
        args.append(tag_id)
    where = " AND ".join(conditions)  # fixed text; values are bound parameters
    return _by_group_and_status(
        await Client.raw(
            'SELECT "group" AS group_id, status, count(*) AS clients FROM client '  # noqa: S608
            f'WHERE {where} GROUP BY "group", status',
            *args,
        )
    )


def _by_group_and_status(rows: list[dict]) -> Counter[tuple[int, str]]:
    return Counter({(row["group_id"], row["status"]): int(row["clients"]) for row in rows})


def _conditions(company_id: int, group_id: int | None, country: str) -> tuple[list[str], list[Any]]:
    conditions, args = ["company = {}"], [company_id]
    if group_id is not None:
        conditions.append('"group" = {}')
        args.append(group_id)
    if country:
        conditions.append("country = {}")
        args.append(country)
    return conditions, args


async def recount() -> int:
    """Counts every company's clients afresh, with each client's copy of its primary contact's
    country: a repair after the counts were changed by hand. Returns how many clients were
    counted."""
    month = month_of("created_at")
    async for transaction in write_transactions():
        async with transaction:
            # Writers lock client rows before count rows (the triggers run after the client's
            # row changed): so does this. On PostgreSQL, EXCLUSIVE waits for every writer
            # that holds a client row, and holds off new ones until the recount commits.
            await lock_table(Client._meta.tablename, "EXCLUSIVE")
            await lock_for_insert(ClientCount._meta.tablename)
            await lock_for_insert(ClientMonthCount._meta.tablename)
            await ClientCount.raw(
                "UPDATE client SET country = coalesce((SELECT ct.country FROM contact ct "
                "WHERE ct.client = client.id AND ct.contact_type = 'primary'), '') "
                "WHERE country <> coalesce((SELECT ct.country FROM contact ct "
                "WHERE ct.client = client.id AND ct.contact_type = 'primary'), '')"
            )
            await ClientCount.delete(force=True)
            await ClientCount.raw(
                'INSERT INTO client_count (company, "group", country, status, clients) '
                'SELECT company, "group", country, status, count(*) FROM client '
                'GROUP BY company, "group", country, status'
            )
            await ClientMonthCount.delete(force=True)
            await ClientMonthCount.raw(
                "INSERT INTO client_month_count "  # noqa: S608
                '(company, month, "group", country, status, clients) '
                f'SELECT company, {month}, "group", country, status, count(*) FROM client '
                f'GROUP BY company, {month}, "group", country, status'
            )
            rows = await ClientCount.raw(
                "SELECT coalesce(sum(clients), 0) AS clients FROM client_count"
            )
    return int(rows[0]["clients"])
