"""The company's activity log: every audited change (clients, groups, settings, staff,
permissions, API keys, mailings) and every staff and client sign-in, good or failed.

Lines are written inside the transaction of the change they describe (`record`), so a change
and its line are saved together or not at all. Sign-ins are written on their own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from portal.activity.tables import ActivityEvent
from portal.core.actors import Actor
from portal.core.db import read_transaction
from portal.core.errors import ValidationError
from portal.core.forms import iso_date
from portal.core.ids import parse_id
from portal.core.pagination import Page

# kind -> what staff read in the log's filter
KINDS = {
    "clients": "Clients",
    "client_groups": "Client groups and fields",
    "settings": "Settings",
    "staff": "Staff",
    "permissions": "Permissions",
    "api_keys": "API keys",
    "mailer": "Mass mailer",
    "companies": "Companies",
    "login": "Logins",
    "login_failed": "Failed logins",
}
# Who acted, in words, beside their name (staff members are known by their name alone).
ACTOR_KINDS = {"client": "client", "api-key": "API key"}
MAX_SUMMARY = 500
PER_PAGE = 50
# A filter lists at most this many lines, newest first; older ones are reached by narrowing
# the dates. Counting every line of a busy company's years would cost each page a long scan.
MAX_LISTED = 10_000
MAX_TYPED = 100  # characters of a filter value kept from the address bar
FIRST_YEAR, LAST_YEAR = 1900, 2999


@dataclass(frozen=True)
class ActivityFilter:
    staff_id: int | None = None
    client_id: int | None = None
    kind: str | None = None
    since: date | None = None
    until: date | None = None


@dataclass(frozen=True)
class ActivityLine:
    id: int
    at: datetime
    kind: str
    kind_label: str
    actor_kind: str
    actor_name: str
    staff_id: int | None
    client_id: int | None
    summary: str
    address: str

    @property
    def actor_kind_label(self) -> str:
        return ACTOR_KINDS.get(self.actor_kind, "")


def _actor_name(actor: Actor) -> str:
    if actor.name:
        return actor.name
    return {"system": "System", "unsubscribe-link": "Unsubscribe link"}.get(actor.kind, actor.kind)


async def record(
    company_id: int, actor: Actor, kind: str, summary: str, *, client_id: int | None = None
) -> None:
    """One line in the company's log. Call inside the write transaction of the change."""
    await record_many([company_id], actor, kind, summary, client_id=client_id)


async def record_many(
    company_ids: list[int],
    actor: Actor,
    kind: str,
    summary: str,
    *,
    client_id: int | None = None,
) -> None:
    """The same line in the logs of several companies (a staff member's sign-in is seen by
    each company they work in)."""
    if not company_ids:
        return
    assert kind in KINDS, kind
    await ActivityEvent.insert(
        *(
            ActivityEvent(
                company=company_id,
                at=datetime.now(UTC),
                kind=kind,
                actor_kind=actor.kind[:20],
                actor_name=_actor_name(actor)[:200],
                staff_id=actor.id if actor.kind == "staff" else None,
                client_id=client_id,
                summary=summary[:MAX_SUMMARY],
                address=actor.address[:45],
            )
            for company_id in company_ids
        )
    )


async def forget_client(company_id: int, client_id: int) -> None:
    """A deleted client's lines go with it: they may quote its personal data."""
    await ActivityEvent.delete().where(
        ActivityEvent.company == company_id, ActivityEvent.client_id == client_id
    )


# --- reading the log ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ActivityQuery:
    """The log's filter as typed and the page shown. It lives in the address bar (a GET form),
    so reload, back and bookmarks bring the same view back."""

    staff: str = ""  # a staff member's ID, from the list of the company's staff
    client: str = ""  # a client ID as people read it ("1501")
    kind: str = ""
    since: str = ""  # YYYY-MM-DD, the field "from"
    until: str = ""  # YYYY-MM-DD, the field "to"
    page: int = 1

    @classmethod
    def of(cls, params: Mapping[str, str]) -> ActivityQuery:
        def text(name: str) -> str:
            return (params.get(name) or "").strip()[:MAX_TYPED]

        page = parse_id(text("page")) or 1
        return cls(text("staff"), text("client"), text("kind"), text("from"), text("to"), page)

    @property
    def has_filters(self) -> bool:
        return any((self.staff, self.client, self.kind, self.since, self.until))

    def query_string(self, **changes: Any) -> str:
        view = replace(self, **changes)
        params = {
            "staff": view.staff,
            "client": view.client,
            "kind": view.kind,
            "from": view.since,
            "to": view.until,
            "page": str(view.page) if view.page != 1 else "",
        }
        kept = {name: value for name, value in params.items() if value}
        return f"?{urlencode(kept)}" if kept else ""


def _date(value: str, name: str, label: str, errors: dict[str, str]) -> date | None:
    if not value:
        return None
    parsed = iso_date(value)
    if parsed is None or not FIRST_YEAR <= parsed.year <= LAST_YEAR:
        errors[name] = f"{label}: enter a date like 2026-01-31."
        return None
    return parsed


async def read_filter(
    query: ActivityQuery,
    staff_ids: Collection[int],
    find_client: Callable[[str], Awaitable[int | None]],
) -> ActivityFilter:
    """The filter the typed values ask for. `staff_ids` are the company's staff members (the
    choices of the list); `find_client` gives the company's client of a client ID, or None.
    A value that cannot be understood raises ValidationError, field by field: silently
    dropping a filter would show the wrong lines."""
    errors: dict[str, str] = {}
    staff_id = parse_id(query.staff) if query.staff else None
    if query.staff and staff_id not in staff_ids:
        errors["staff"] = "Staff member: choose a staff member from the list."
    if query.kind and query.kind not in KINDS:
        errors["kind"] = "Kind: choose a kind from the list."
    since = _date(query.since, "from", "From", errors)
    until = _date(query.until, "to", "To", errors)
    if since and until and until < since:
        errors["to"] = "To: choose a date on or after the From date."
    client_id = await find_client(query.client) if query.client else None
    if query.client and client_id is None:
        errors["client"] = f"Client ID: this company has no client “{query.client}”."
    if errors:
        raise ValidationError(errors)
    return ActivityFilter(
        staff_id=staff_id, client_id=client_id, kind=query.kind or None, since=since, until=until
    )


_COLUMNS = "id, at, kind, actor_kind, actor_name, staff_id, client_id, summary, address"


def _where(company_id: int, activity_filter: ActivityFilter) -> tuple[str, list[Any]]:
    """WHERE conditions of fixed text with `{}` placeholders (values travel as bound
    parameters, hence the S608 waivers below). Each filter, alone or with the dates, is read
    in order from an index (see the activity migrations); with a client, that client's few
    lines are read and the rest checked on them."""
    f = activity_filter
    conditions, args = ["company = {}"], [company_id]
    for column, value in (("kind", f.kind), ("staff_id", f.staff_id), ("client_id", f.client_id)):
        if value is not None:
            conditions.append(f"{column} = {{}}")
            args.append(value)
    if f.since:
        conditions.append("at >= {}")
        args.append(datetime.combine(f.since, time(), tzinfo=UTC))
    if f.until:  # a whole day: up to the start of the next
        conditions.append("at < {}")
        args.append(datetime.combine(f.until + timedelta(days=1), time(), tzinfo=UTC))
    return " AND ".join(conditions), args


def _line(row: dict) -> ActivityLine:
    return ActivityLine(
        kind_label=KINDS.get(row["kind"], "Other"),
        **{name: row[name] for name in _COLUMNS.split(", ")},
    )


@dataclass(frozen=True)
class ActivityPage:
    lines: list[ActivityLine]
    pager: Page
    capped: bool  # more than MAX_LISTED lines match: the newest MAX_LISTED are listed


async def list_activity(
    company_id: int, activity_filter: ActivityFilter, page_number: int, per_page: int = PER_PAGE
) -> ActivityPage:
    """A page of the company's log, newest first, and how many lines the filter matches (up
    to MAX_LISTED)."""
    where, args = _where(company_id, activity_filter)
    async with read_transaction():
        counted = await ActivityEvent.raw(
            "SELECT count(*) AS lines FROM "  # noqa: S608
            f"(SELECT 1 FROM activity_event WHERE {where} LIMIT {{}}) AS matched",
            *args,
            MAX_LISTED + 1,
        )
        matched = int(counted[0]["lines"])
        pager = Page.of(page_number, per_page, min(matched, MAX_LISTED))
        rows = await ActivityEvent.raw(
            f"SELECT {_COLUMNS} FROM activity_event WHERE {where} "  # noqa: S608
            "ORDER BY at DESC, id DESC LIMIT {} OFFSET {}",
            *args,
            min(pager.per_page, pager.total - pager.offset),  # the last listed page ends there
            pager.offset,
        )
    return ActivityPage(
        lines=[_line(row) for row in rows], pager=pager, capped=matched > MAX_LISTED
    )


RECENT_LINES = 50  # lines read to find the clients changed last


async def latest_client_changes(company_id: int, clients: int) -> list[ActivityLine]:
    """The newest line of each of the (at most) `clients` clients changed last, newest first,
    read from the company's newest RECENT_LINES lines about clients."""
    rows = await ActivityEvent.raw(
        f"SELECT {_COLUMNS} FROM activity_event "  # noqa: S608
        "WHERE company = {} AND kind = 'clients' AND client_id IS NOT NULL "
        "ORDER BY at DESC, id DESC LIMIT {}",
        company_id,
        RECENT_LINES,
    )
    latest: dict[int, ActivityLine] = {}
    for row in rows:
        if row["client_id"] not in latest and len(latest) < clients:
            latest[row["client_id"]] = _line(row)
    return list(latest.values())


async def has_lines(company_id: int, kind: str) -> bool:
    """Whether anything of `kind` was ever done in the company."""
    rows = await ActivityEvent.raw(
        "SELECT 1 AS found FROM activity_event WHERE company = {} AND kind = {} LIMIT 1",
        company_id,
        kind,
    )
    return bool(rows)
