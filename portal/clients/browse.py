"""Finding clients ("Finding Clients" in the guide): [Clients] > Browse with its status tabs,
sorting, filters and pages, and the results of the header search box, as suggestions while
typing and as a full page. Every read is scoped to one company and one page's reads share one
read-only snapshot, so that its counts and rows agree while clients change."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from portal.clients import counts, search, tags
from portal.clients.tables import CLIENT_STATUSES, Client
from portal.core.countries import is_country
from portal.core.db import snapshot_transaction
from portal.core.errors import ValidationError
from portal.core.forms import iso_date
from portal.core.ids import parse_id
from portal.core.pagination import Page
from portal.core.placeholders import placeholders

TABS = CLIENT_STATUSES
PER_PAGE_CHOICES = (20, 50, 100)
DIRECTIONS = ("asc", "desc")
# The sorts people can ask for and the ORDER BY terms behind them: SQL is chosen from here,
# never taken from input. Each matches an index (see the clients migrations) so a page is read
# in order rather than sorted, and ends with the client so that ties keep one order and pages
# never overlap. The client ID sorts by its number: 1500 before 10000. "group" sorts by group
# name, then client ID; it is cut group by group (see _rows_by_group).
SORTS = {
    "id": ("c.number", "c.id"),
    "name": ("cs.name_key", "cs.client"),
    "company": ("lower(ct.company)", "ct.client"),
    "email": ("lower(ct.email)", "ct.client"),
    "group": ("c.number", "c.id"),
    "created": ("c.created_at", "c.id"),
}
# The sorts by a column of the primary contact, and by the name's collation key (which sits
# beside the client's search document): {sort: (the table as `ct` or `cs`, how it joins)}.
JOINED_SORTS = {
    "company": ("contact ct", "ct.client = c.id AND ct.contact_type = 'primary'"),
    "email": ("contact ct", "ct.client = c.id AND ct.contact_type = 'primary'"),
    "name": ("client_search cs", "cs.client = c.id AND cs.company = c.company"),
}
SUGGESTIONS = 8  # results under the header search box
# Matches the suggestions count at most ("100+ clients found"): a common name is answered
# by reading a hundred documents, not the thousand a page of results may list.
SUGGESTIONS_COUNTED = 100
LAST_YEAR = 9999  # dates of filters come before it

_ROW_SELECT = (
    'SELECT c.id, c.code, c.status, c.created_at, c."group" AS group_id, g.name AS group_name, '
    "ct.first_name, ct.last_name, ct.company, ct.email "
    "FROM client c "
    "JOIN contact ct ON ct.client = c.id AND ct.contact_type = 'primary' "
    'JOIN client_group g ON g.id = c."group" '
    # The name's collation key, for Browse's name sort (every client has its search row).
    "LEFT JOIN client_search cs ON cs.client = c.id "
)


@dataclass(frozen=True)
class ClientRow:
    """One client in a list: what Browse and search results show."""

    id: int
    code: str
    status: str
    first_name: str
    last_name: str
    company: str
    email: str
    group_id: int
    group_name: str
    created_at: datetime
    tags: tuple[tags.TagView, ...] = ()
    matched_on: str = ""  # in search results: what of the client matched the words

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


# --- reading the address bar ----------------------------------------------------------------


def _number(value: str | None, default: int) -> int:
    try:
        return int(value or "")
    except ValueError:  # also a number too long to convert
        return default


def _date(params: Mapping[str, str], name: str, label: str, errors: dict[str, str]) -> date | None:
    value = (params.get(name) or "").strip()
    if not value:
        return None
    parsed = iso_date(value)
    if parsed is None:
        errors[name] = f"{label}: enter a date as YYYY-MM-DD."
    elif parsed.year >= LAST_YEAR:  # the day or month after it would not be a date
        errors[name] = f"{label}: enter a date before the year {LAST_YEAR}."
        parsed = None
    return parsed


@dataclass(frozen=True)
class BrowseQuery:
    """What a Browse page shows; it lives in the address bar, so reload, back and bookmarks
    bring the same view back."""

    tab: str = "active"
    sort: str = "id"
    direction: str = "asc"
    page: int = 1
    per_page: int = PER_PAGE_CHOICES[0]
    group_id: int | None = None
    country: str = ""
    created_from: date | None = None
    created_to: date | None = None
    tag_id: int | None = None

    @property
    def has_filters(self) -> bool:
        return bool(self.group_id or self.country or self.has_dates or self.tag_id)

    @property
    def filters(self) -> BrowseQuery:
        """The filters alone, on the default tab, sort and page: what a segment keeps."""
        return BrowseQuery(
            group_id=self.group_id,
            country=self.country,
            created_from=self.created_from,
            created_to=self.created_to,
            tag_id=self.tag_id,
        )

    @property
    def has_dates(self) -> bool:
        return bool(self.created_from or self.created_to)

    def query_string(self, **changes: Any) -> str:
        """The address's query string of this view with `changes` applied ("" for the
        default view), defaults left out so that addresses stay short."""
        values, defaults = _browse_params(replace(self, **changes)), _browse_params(BrowseQuery())
        return _query_string({k: v for k, v in values.items() if v != defaults[k]})


def _browse_params(query: BrowseQuery) -> dict[str, str]:
    return {
        "tab": query.tab,
        "sort": query.sort,
        "dir": query.direction,
        "per_page": str(query.per_page),
        "page": str(query.page),
        "group": str(query.group_id or ""),
        "country": query.country,
        "created_from": query.created_from.isoformat() if query.created_from else "",
        "created_to": query.created_to.isoformat() if query.created_to else "",
        "tag": str(query.tag_id or ""),
    }


def read_browse_query(params: Mapping[str, str]) -> BrowseQuery:
    """The view asked for. Unknown tabs, sorts, directions and page sizes fall back to the
    defaults and page numbers out of range are brought into range (links may be old or
    hand-made); a filter value that cannot be understood raises ValidationError, because
    silently dropping a filter would show the wrong clients."""
    errors: dict[str, str] = {}
    group = (params.get("group") or "").strip()
    group_id = parse_id(group)
    if group and group_id is None:
        errors["group"] = "Client Group: choose a group from the list."
    tag = (params.get("tag") or "").strip()
    tag_id = parse_id(tag)
    if tag and tag_id is None:
        errors["tag"] = "Tag: choose a tag from the list."
    country = (params.get("country") or "").strip().upper()
    if country and not is_country(country):
        errors["country"] = "Country: choose a country from the list."
    created_from = _date(params, "created_from", "Created from", errors)
    created_to = _date(params, "created_to", "Created to", errors)
    if errors:
        raise ValidationError(errors)
    per_page = _number(params.get("per_page"), PER_PAGE_CHOICES[0])
    return BrowseQuery(
        tab=params.get("tab") if params.get("tab") in TABS else "active",
        sort=params.get("sort") if params.get("sort") in SORTS else "id",
        direction=params.get("dir") if params.get("dir") in DIRECTIONS else "asc",
        page=max(1, _number(params.get("page"), 1)),
        per_page=per_page if per_page in PER_PAGE_CHOICES else PER_PAGE_CHOICES[0],
        group_id=group_id,
        country=country,
        created_from=created_from,
        created_to=created_to,
        tag_id=tag_id,
    )


@dataclass(frozen=True)
class SearchPageQuery:
    """The full search results page: the words, and which page of the matches."""

    q: str = ""
    page: int = 1
    per_page: int = PER_PAGE_CHOICES[0]

    def query_string(self, **changes: Any) -> str:
        view = replace(self, **changes)
        values = {"q": view.q, "page": str(view.page), "per_page": str(view.per_page)}
        defaults = {"page": "1", "per_page": str(PER_PAGE_CHOICES[0])}
        return _query_string({k: v for k, v in values.items() if v and defaults.get(k) != v})


def _query_string(params: dict[str, str]) -> str:
    return f"?{urlencode(params)}" if params else ""


def read_search_query(params: Mapping[str, str]) -> SearchPageQuery:
    per_page = _number(params.get("per_page"), PER_PAGE_CHOICES[0])
    return SearchPageQuery(
        q=params.get("q") or "",
        page=max(1, _number(params.get("page"), 1)),
        per_page=per_page if per_page in PER_PAGE_CHOICES else PER_PAGE_CHOICES[0],
    )


# --- Browse ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class BrowseResult:
    query: BrowseQuery  # with the page number as shown
    counts: dict[str, int]  # clients per tab, filters applied
    pager: Page
    rows: list[ClientRow]
    groups: list[dict]  # the company's groups (id, name): the filter's choices
    tags: list[tags.TagView]  # the company's tags: the filter's choices


def _created_range(query: BrowseQuery) -> tuple[datetime | None, datetime | None]:
    """The creation-date filter as [from, before): dates are whole days in UTC, both ends
    included."""
    return (
        datetime.combine(query.created_from, time.min, UTC) if query.created_from else None,
        (
            datetime.combine(query.created_to + timedelta(days=1), time.min, UTC)
            if query.created_to
            else None
        ),
    )


def filter_conditions(company_id: int, query: BrowseQuery) -> tuple[list[str], list[Any]]:
    """WHERE conditions of the company and the query's filters (not its tab), and their
    arguments, on the client table as `c`. SQL in this module is made of fixed text and `{}`
    placeholders only (hence the S608 waivers): values always travel as bound parameters."""
    conditions, args = ["c.company = {}"], [company_id]
    if query.group_id is not None:
        conditions.append('c."group" = {}')
        args.append(query.group_id)
    if query.country:
        conditions.append("c.country = {}")
        args.append(query.country)
    created_from, created_before = _created_range(query)
    if created_from:
        conditions.append("c.created_at >= {}")
        args.append(created_from)
    if created_before:
        conditions.append("c.created_at < {}")
        args.append(created_before)
    if query.tag_id is not None:
        # Read through the index (tag, client): the tag's clients, not every client's tags.
        conditions.append("c.id IN (SELECT t.client FROM client_tag t WHERE t.tag = {})")
        args.append(query.tag_id)
    return conditions, args


async def browse_clients(company_id: int, query: BrowseQuery) -> BrowseResult:
    conditions, args = filter_conditions(company_id, query)
    where = " AND ".join(conditions)
    created_from, created_before = _created_range(query)
    async with snapshot_transaction():
        company_counts = await counts.tally(company_id)
        tally = (
            await counts.tally(
                company_id,
                group_id=query.group_id,
                country=query.country,
                created_from=created_from,
                created_before=created_before,
                tag_id=query.tag_id,
            )
            if query.has_filters
            else company_counts
        )
        tab_counts = {tab: sum(n for (_, s), n in tally.items() if s == tab) for tab in TABS}
        in_group = {group: n for (group, s), n in tally.items() if s == query.tab}
        pager = Page.of(query.page, query.per_page, tab_counts[query.tab])
        window = _Window(
            where,
            args,
            query,
            in_tab=tab_counts[query.tab],
            in_company=company_counts.total(),
        )
        groups = await company_groups(company_id)
        if query.sort == "group":
            rows = await _rows_by_group(window, pager, in_group, groups)
        else:
            rows = await window.rows(pager.offset, pager.per_page)
        client_rows = await _client_rows(rows)
        company_tags = await tags.list_tags(company_id)
    return BrowseResult(
        query=replace(query, page=pager.number),
        counts=tab_counts,
        pager=pager,
        rows=client_rows,
        groups=groups,
        tags=company_tags,
    )


async def matching_clients(company_id: int, query: BrowseQuery) -> list[tuple[int, int]]:
    """Every client the view lists on all its pages (its tab and filters), as (ID, number),
    by ID."""
    conditions, args = filter_conditions(company_id, query)
    rows = await Client.raw(
        f"SELECT c.id, c.number FROM client c WHERE {' AND '.join(conditions)} "  # noqa: S608
        "AND c.status = {} ORDER BY c.id",
        *args,
        query.tab,
    )
    return [(row["id"], row["number"]) for row in rows]


@dataclass(frozen=True)
class _Window:
    """The clients of one tab that a Browse view lists, read a slice at a time."""

    where: str
    args: list[Any]
    query: BrowseQuery
    in_tab: int  # how many there are
    in_company: int  # how many clients the company has in all

    def of_group(self, group_id: int, clients: int) -> _Window:
        return replace(
            self,
            where=f'{self.where} AND c."group" = {{}}',
            args=[*self.args, group_id],
            in_tab=clients,
        )

    async def rows(self, first: int, limit: int) -> list[dict]:
        """`limit` clients from position `first`, in the query's order. The slice's client IDs
        are found first from the client table (and the contact, when sorting by one of its
        columns), then only its rows are joined. A slice nearer the end than the start is read
        backwards from the end, so that the last pages skip as few rows as the first ones."""
        end = min(first + limit, self.in_tab)
        if end <= first:
            return []
        backwards = self.in_tab - end < first
        descending = (self.query.direction == "desc") != backwards
        order = ", ".join(
            f"{term} {'DESC' if descending else 'ASC'}" for term in SORTS[self.query.sort]
        )
        ids = self._slice(order, needed=self.in_tab - first if backwards else end)
        rows = await Client.raw(
            f"{_ROW_SELECT}WHERE c.id IN ({ids}) ORDER BY {order}",  # noqa: S608
            *self.args,
            self.query.tab,
            end - first,
            self.in_tab - end if backwards else first,
        )
        return rows[::-1] if backwards else rows

    def _slice(self, order: str, needed: int) -> str:
        """The query of the slice's client IDs; `needed` rows of the order lead to it."""
        if self.query.sort not in JOINED_SORTS:
            source, joined = "client c", ""
        else:
            table, condition = JOINED_SORTS[self.query.sort]
            joined = f"AND {condition} "
            if needed * self.in_company < self.in_tab * self.in_tab:
                # Reading rows in sort order until the slice is complete costs about
                # in_company / in_tab rows for each row needed, less than sorting every
                # match: walk the sort's index. CROSS JOIN keeps SQLite from starting at the
                # client side and sorting (PostgreSQL plans the join either way).
                source = f"{table} CROSS JOIN client c"
            else:
                source = f"client c JOIN {table} ON TRUE"
        return (
            f"SELECT c.id FROM {source} WHERE {self.where} AND c.status = {{}} {joined}"  # noqa: S608
            f"ORDER BY {order} LIMIT {{}} OFFSET {{}}"
        )


async def _rows_by_group(
    window: _Window, pager: Page, in_group: dict[int, int], groups: list[dict]
) -> list[dict]:
    """The page sorted by group name. A join sorted by the group's name would sort every
    client of the tab; instead, with the tab's clients counted per group, the page is cut from
    the groups in name order, each read in client ID order through an index."""
    names = {group["id"]: group["name"].lower() for group in groups}
    ordered = sorted(
        (group_id for group_id, clients in in_group.items() if clients),
        key=lambda group_id: (names.get(group_id, ""), group_id),
    )
    if window.query.direction == "desc":
        ordered.reverse()
    rows: list[dict] = []
    skip = pager.offset
    for group_id in ordered:
        if skip >= in_group[group_id]:
            skip -= in_group[group_id]
            continue
        group_window = window.of_group(group_id, in_group[group_id])
        rows += await group_window.rows(skip, pager.per_page - len(rows))
        skip = 0
        if len(rows) >= pager.per_page:
            break
    return rows


ROW_EXTRAS = ("tags", "matched_on")  # the ClientRow fields that are not columns of the rows


async def _client_rows(rows: list[dict]) -> list[ClientRow]:
    """The rows as ClientRows, each with its tags."""
    by_client = await tags.tags_of_clients([row["id"] for row in rows])
    fields = [name for name in ClientRow.__dataclass_fields__ if name not in ROW_EXTRAS]
    return [
        ClientRow(**{name: row[name] for name in fields}, tags=tuple(by_client.get(row["id"], ())))
        for row in rows
    ]


async def _rows_in_order(company_id: int, client_ids: list[int]) -> list[ClientRow]:
    if not client_ids:
        return []
    rows = await Client.raw(
        f"{_ROW_SELECT}WHERE c.company = {{}} AND c.id IN ({placeholders(len(client_ids))})",
        company_id,
        *client_ids,
    )
    by_id = {row.id: row for row in await _client_rows(rows)}
    return [by_id[client_id] for client_id in client_ids if client_id in by_id]


async def company_groups(company_id: int) -> list[dict]:
    return await Client.raw(
        "SELECT id, name FROM client_group WHERE company = {} "
        "ORDER BY is_default DESC, lower(name)",
        company_id,
    )


# --- search ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchResult:
    query: SearchPageQuery  # with the page number as shown
    text: str  # the words looked for, tidied
    hint: str | None  # why only client IDs were compared, when so
    exact_id: int | None  # the client whose ID is exactly the words
    capped: bool  # more matched than are listed
    pager: Page
    rows: list[ClientRow]


async def search_clients(
    company_id: int, page_query: SearchPageQuery, cap: int = search.MATCH_CAP
) -> SearchResult:
    """One page of the clients matching the words, of the first `cap` found (see
    `search.find_clients` for the order)."""
    query = search.parse_query(page_query.q)
    async with snapshot_transaction():
        matches = await search.find_clients(company_id, query, cap)
        pager = Page.of(page_query.page, page_query.per_page, len(matches.client_ids))
        shown = matches.client_ids[pager.offset : pager.offset + pager.per_page]
        matched_on = await search.what_matched(shown, query.patterns, matches.named)
        if matches.exact_id is not None:
            matched_on[matches.exact_id] = "client ID"
        rows = [
            replace(row, matched_on=matched_on.get(row.id, ""))
            for row in await _rows_in_order(company_id, shown)
        ]
    return SearchResult(
        query=replace(page_query, page=pager.number),
        text=query.text,
        hint=query.hint,
        exact_id=matches.exact_id,
        capped=matches.capped,
        pager=pager,
        rows=rows,
    )


async def suggest_clients(company_id: int, words: str) -> SearchResult:
    """The first few matches, for the list under the header search box."""
    return await search_clients(
        company_id, SearchPageQuery(q=words, per_page=SUGGESTIONS), SUGGESTIONS_COUNTED
    )
