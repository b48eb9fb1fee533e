"""How many clients a company has of each group, country and status (table `client_count`),
and so created in each month (table `client_month_count`): Browse's tabs, its filters,
its pages sorted by group and the group list read these few rows instead of counting every
client.

Every write that adds, removes or moves a client (its group, status or primary contact's
country) calls `shift` in its transaction, so the counts commit or roll back with the change.
Tests compare the counts with the clients after every test; `portal clients recount` repairs
them after changes made around the services."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple

from portal.clients.tables import CLIENT_STATUSES, Client, ClientCount, ClientMonthCount
from portal.core.db import is_sqlite, lock_for_insert, write_transaction


class Key(NamedTuple):
    """A client as counted: under its group, country and status, of all time and of the month
    (UTC) of its creation, whose client-number bounds its number widens."""

    group_id: int
    country: str
    status: str
    created_at: datetime
    number: int

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> Key:
        """The key of a row of the client table that holds the columns counted by."""
        return cls(row["group"], row["country"], row["status"], row["created_at"], row["number"])


def _month_start(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return datetime(moment.year, moment.month, 1, tzinfo=UTC)


def _next_month(month: datetime) -> datetime:
    return month.replace(year=month.year + month.month // 12, month=month.month % 12 + 1)


def _month_of(moment: datetime) -> date:
    return _month_start(moment).date()


def month_sql(created_at: str = "created_at") -> str:
    """SQL of the first day of the month (UTC) of the timestamp column `created_at`."""
    if is_sqlite():
        return f"date({created_at}, 'start of month')"
    return f"date_trunc('month', {created_at} AT TIME ZONE 'UTC')::date"


async def shift(company_id: int, *, added: Iterable[Key] = (), removed: Iterable[Key] = ()) -> None:
    """Counts clients in under `added` and out of `removed` (one entry a client). Call it last
    in the write transaction: on PostgreSQL the count rows stay locked until commit, and they
    are updated in one order (all-time counts, then monthly ones, each in key order), so two
    writers never wait for each other's rows crosswise."""
    changes = Counter(added)
    changes.subtract(removed)
    all_time: Counter[tuple[int, str, str]] = Counter()
    monthly: Counter[tuple[date, int, str, str]] = Counter()
    # The clients counted in under each month's key, not those counted out and in again.
    counted_in: dict[tuple[date, int, str, str], Counter[int]] = defaultdict(Counter)
    for key, change in changes.items():
        all_time[key.group_id, key.country, key.status] += change
        month_key = (_month_of(key.created_at), key.group_id, key.country, key.status)
        monthly[month_key] += change
        counted_in[month_key][key.number] += change
    for (group_id, country, status), change in sorted(all_time.items()):
        if change:
            await ClientCount.raw(
                'INSERT INTO client_count (company, "group", country, status, clients) '
                "VALUES ({}, {}, {}, {}, {}) "
                'ON CONFLICT (company, "group", country, status) '
                "DO UPDATE SET clients = client_count.clients + excluded.clients",
                company_id,
                group_id,
                country,
                status,
                change,
            )
    for month_key, change in sorted(monthly.items()):
        numbers = [n for n, c in counted_in[month_key].items() if c > 0]
        if change or numbers:
            # NULL bounds (nothing counted in) leave the row's bounds as they are.
            await ClientMonthCount.raw(
                "INSERT INTO client_month_count "
                '(company, month, "group", country, status, clients, first_number, last_number) '
                "VALUES ({}, {}, {}, {}, {}, {}, {}, {}) "
                'ON CONFLICT (company, month, "group", country, status) DO UPDATE SET '
                "clients = client_month_count.clients + excluded.clients, "
                "first_number = CASE WHEN excluded.first_number < client_month_count.first_number "
                "OR client_month_count.first_number IS NULL THEN excluded.first_number "
                "ELSE client_month_count.first_number END, "
                "last_number = CASE WHEN excluded.last_number > client_month_count.last_number "
                "OR client_month_count.last_number IS NULL THEN excluded.last_number "
                "ELSE client_month_count.last_number END",
                company_id,
                *month_key,
                change,
                min(numbers, default=None),
                max(numbers, default=None),
            )


async def tally(
    company_id: int,
    *,
    group_id: int | None = None,
    country: str = "",
    created_from: datetime | None = None,
    created_before: datetime | None = None,
) -> Counter[tuple[int, str]]:
    """The company's clients per (group ID, status), of one group and one country if given,
    created from `created_from` up to (not including) `created_before` if given. Whole months
    of a date range are read from the monthly counts, the days before and after them counted
    through the creation-date index (at most a month each)."""
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


async def number_range(
    company_id: int,
    status: str,
    *,
    group_id: int | None = None,
    country: str = "",
    created_from: datetime | None = None,
    created_before: datetime | None = None,
) -> tuple[int, int] | None:
    """Bounds of the client numbers of the company's clients of `status` (and group, country)
    created from `created_from` up to `created_before`: those of the months the range touches
    (whatever their counts say, so that a miscount never hides a client). None when no client
    was ever counted in such a month."""
    conditions, args = _conditions(company_id, group_id, country)
    conditions.append("status = {}")
    args.append(status)
    if created_from:
        conditions.append("month >= {}")
        args.append(_month_of(created_from))
    if created_before:
        conditions.append("month <= {}")
        args.append(_month_of(created_before - timedelta(microseconds=1)))
    where = " AND ".join(conditions)  # fixed text; values are bound parameters
    rows = await ClientMonthCount.raw(
        "SELECT min(first_number) AS low, max(last_number) AS high "  # noqa: S608
        f"FROM client_month_count WHERE {where}",
        *args,
    )
    low, high = rows[0]["low"], rows[0]["high"]
    return None if low is None or high is None else (low, high)


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
    created_from: datetime,
    created_before: datetime,
) -> Counter[tuple[int, str]]:
    """Counts the clients themselves, reading the index (company, status, created_at, group,
    country): one range of it for each status."""
    conditions, args = _conditions(company_id, group_id, country)
    conditions.append("status IN ({}, {}, {}) AND created_at >= {} AND created_at < {}")
    args.extend([*CLIENT_STATUSES, created_from, created_before])
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
    country: a repair after changes made around the services (by hand in the database, for
    instance). Returns how many clients were counted."""
    month = month_sql()
    async with write_transaction():
        # Writers lock client rows before count rows: so does this, or it could deadlock. On
        # PostgreSQL, EXCLUSIVE also waits for writers that have only locked a client row so far
        # (SELECT … FOR UPDATE), which would otherwise wait for this UPDATE while it waits for them.
        if not is_sqlite():
            await Client.raw("LOCK TABLE client IN EXCLUSIVE MODE")
        await lock_for_insert(ClientCount._meta.tablename)
        await lock_for_insert(ClientMonthCount._meta.tablename)
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
        await ClientMonthCount.delete(force=True)
        await ClientMonthCount.raw(
            "INSERT INTO client_month_count "  # noqa: S608
            '(company, month, "group", country, status, clients, first_number, last_number) '
            f'SELECT company, {month}, "group", country, status, count(*), min(number), '
            f'max(number) FROM client GROUP BY company, {month}, "group", country, status'
        )
        rows = await ClientCount.raw(
            "SELECT coalesce(sum(clients), 0) AS clients FROM client_count"
        )
    return int(rows[0]["clients"])
