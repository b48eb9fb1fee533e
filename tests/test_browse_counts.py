"""Browse at scale: the kept client counts (portal.clients.counts) behind its tabs, and pages
read through the index in every order, forwards and backwards, on whichever engine
PORTAL_DATABASE_URL selects. (The counts are also compared with the clients after every test:
see conftest.)"""

from __future__ import annotations

import asyncio
import contextvars
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta

import pytest

from conftest import IS_POSTGRES
from portal.client_groups.services import (
    GroupDetails,
    count_group_clients,
    create_group,
    delete_group,
    list_groups,
)
from portal.clients import browse, counts, lifecycle, tags
from portal.clients.demo import load_demo
from portal.clients.tables import Client
from portal.core import db
from portal.core.actors import SYSTEM, Actor
from search_helpers import Person, add_client


def _day(months_ago: int, day: int = 1) -> date:
    """A day of the month `months_ago` months before this one: the demo clients are created
    over the last three years, so the views below stay among them whenever the tests run."""
    today = datetime.now(UTC).date()
    months = today.year * 12 + today.month - 1 - months_ago
    return date(months // 12, months % 12 + 1, day)


def _eve(months_ago: int) -> date:
    """The last day of the month before that one."""
    return _day(months_ago) - timedelta(days=1)


VIEWS = [
    {"sort": sort, "dir": direction} for sort in browse.SORTS for direction in browse.DIRECTIONS
] + [
    {"tab": "inactive", "sort": "name"},
    {"tab": "fraud", "sort": "email", "dir": "desc"},
    {"country": "DE", "sort": "name"},
    {"country": "US", "sort": "group", "dir": "desc"},
    {"created_from": _day(35), "sort": "company"},
    {"created_from": _day(23)},
    {"created_to": _eve(20), "sort": "created", "dir": "desc"},
    {"created_from": _day(42), "created_to": _eve(17), "sort": "group"},
    # Days before and after whole months, and a range inside two months with no whole one.
    {"created_from": _day(33, 17), "created_to": _day(15, 12), "sort": "group", "dir": "desc"},
    {"created_from": _day(23, 10), "created_to": _day(22, 20)},
    {"created_from": _day(33, 17), "country": "DE"},
    # Tagged clients: counted live, read through the index (tag, client).
    {"tag": "tagged", "sort": "name"},
    {"tag": "tagged", "country": "DE", "sort": "group", "dir": "desc"},
    {"tag": "tagged", "created_from": _day(23), "sort": "created", "dir": "desc"},
]


async def _tag_every_third_client(company_id: int) -> int:
    """A tag on every third client; returns its ID."""
    tag_id = await tags.create_tag(company_id, "Tagged", "green", SYSTEM)
    tag = await tags.get_tag(company_id, tag_id)
    rows = await Client.select(Client.id, Client.code).where(Client.company == company_id)
    async for transaction in db.write_transactions():
        async with transaction:
            await tags.add_to_clients(
                tag, [(row["id"], row["code"]) for row in rows[::3]], company_id, SYSTEM
            )
    return tag_id


async def _all_in_order(company_id: int, query: browse.BrowseQuery) -> list[int]:
    """The view's clients the plain way: one query, every match sorted, no index tricks."""
    conditions, args = browse.filter_conditions(company_id, query)
    direction = "DESC" if query.direction == "desc" else "ASC"
    terms = browse.SORTS[query.sort]
    if query.sort == "group":
        terms = ("lower(g.name)", "g.id", *terms)
    order = ", ".join(f"{term} {direction}" for term in terms)
    rows = await Client.raw(
        f"{browse._ROW_SELECT}WHERE {' AND '.join(conditions)} AND c.status = {{}} "
        f"ORDER BY {order}",
        *args,
        query.tab,
    )
    return [row["id"] for row in rows]


async def test_every_page_of_every_view_is_the_plain_sorted_list_cut_in_pages(company_id):
    """Pages near the end are read backwards from the end, contact sorts either walk the
    contact index or sort the matches, group sorts are cut group by group: all of it must add
    up to the plain sorted list, page after page, with the counts of the tabs. (One test for
    all views: loading the demo clients is the slow part.)"""
    await load_demo(150, company_id=company_id, seed=5)  # four groups, ten countries
    tag_id = await _tag_every_third_client(company_id)
    for view in VIEWS:
        params = {name: str(value) for name, value in view.items()}
        if "tag" in params:
            params["tag"] = str(tag_id)
        query = browse.read_browse_query(params)
        expected = await _all_in_order(company_id, query)
        assert expected, f"{params}: the view should list some clients"
        listed: list[int] = []
        for page in range(1, -(-len(expected) // 20) + 1):
            result = await browse.browse_clients(company_id, browse.replace(query, page=page))
            assert result.counts[query.tab] == len(expected), params
            listed += [row.id for row in result.rows]
        assert listed == expected, params


async def test_counts_of_a_creation_date_range_are_the_clients_in_it(company_id):
    """Whole months from the monthly counts and the days around them counted: together they
    are the clients created in the range, for ranges that start and end anywhere."""
    await load_demo(300, company_id=company_id, seed=8)
    clients = await Client.select(
        Client.group, Client.country, Client.status, Client.created_at
    ).where(Client.company == company_id)
    general = clients[0]["group"]
    days = [_day(36), _day(34, 28), _day(33), _eve(32), _day(23), _day(23, 2), _day(17, 15)]
    days += [_day(17), _eve(0), _day(-1)]
    bounds = [None, *(datetime.combine(day, time.min, UTC) for day in days)]
    checked = 0
    for start in bounds:
        for end in bounds:
            if start and end and end < start:
                continue
            for group_id, country in ((None, ""), (general, ""), (None, "DE")):
                tally = await counts.tally(
                    company_id,
                    group_id=group_id,
                    country=country,
                    created_from=start,
                    created_before=end,
                )
                expected = Counter(
                    (row["group"], row["status"])
                    for row in clients
                    if (start is None or row["created_at"] >= start)
                    and (end is None or row["created_at"] < end)
                    and group_id in (None, row["group"])
                    and country in ("", row["country"])
                )
                assert tally == expected, (start, end, group_id, country)  # zeros aside
                checked += 1
    assert checked == 3 * (1 + 10 + 10 + 55)


async def test_counts_follow_every_change_of_a_client(company_id, staff):
    async def tabs(**filters) -> dict[str, int]:
        query = browse.read_browse_query(filters)
        result = await browse.browse_clients(company_id, query)
        # Everyone was created in January 2024: filtered by it, each tab in client ID and in
        # group order (read between the month's client-number bounds) lists the same.
        for tab in browse.TABS:
            for sort in ("id", "group"):
                view = {**filters, "tab": tab, "sort": sort}
                plain = await browse.browse_clients(company_id, browse.read_browse_query(view))
                january = {"created_from": "2024-01-01", "created_to": "2024-01-31"}
                dated = await browse.browse_clients(
                    company_id, browse.read_browse_query({**view, **january})
                )
                assert (dated.counts, dated.rows) == (plain.counts, plain.rows), view
        return result.counts

    ada = await add_client(company_id, Person("Ada", "Lovelace", "ada@example.com"))
    grace = await add_client(company_id, Person("Grace", "Hopper", "grace@example.com"))
    assert await tabs() == {"active": 2, "inactive": 0, "fraud": 0}
    await lifecycle.set_status(company_id, ada, "fraud", SYSTEM)
    assert await tabs() == {"active": 1, "inactive": 0, "fraud": 1}
    assert await tabs(country="US") == {"active": 1, "inactive": 0, "fraud": 1}
    assert await tabs(country="DE") == {"active": 0, "inactive": 0, "fraud": 0}

    vip = await create_group(company_id, GroupDetails(name="VIP", colour="#bf8700"), SYSTEM)
    vera = await add_client(company_id, Person("Vera", "Vip", "vera@example.com"), vip)
    assert await tabs(group=str(vip)) == {"active": 1, "inactive": 0, "fraud": 0}
    assert await count_group_clients(company_id, vip) == 1
    assert {g["name"]: g["client_count"] for g in await list_groups(company_id)} == {
        "General": 2,
        "VIP": 1,
    }
    assert await delete_group(company_id, vip, SYSTEM) == 1
    assert await tabs() == {"active": 2, "inactive": 0, "fraud": 1}
    assert (await Client.select(Client.group).where(Client.id == vera).first())["group"] != vip

    await lifecycle.delete_client(
        company_id,
        grace,
        staff_id=staff["id"],
        password=staff["password"],
        actor=Actor(kind="staff", id=staff["id"]),
    )
    assert await tabs() == {"active": 1, "inactive": 0, "fraud": 1}


async def test_concurrent_status_changes_lose_no_count(company_id):
    """Forty clients change status at once, crosswise (active → inactive and back, fraud):
    the counts end where the clients are, with no deadlock on PostgreSQL."""
    ids = [
        await add_client(company_id, Person("Con", f"Current{n:02}", f"c{n}@example.com"))
        for n in range(40)
    ]
    await asyncio.gather(
        *(lifecycle.set_status(company_id, i, "inactive", SYSTEM) for i in ids[:20])
    )
    await asyncio.gather(
        *(lifecycle.set_status(company_id, i, "active", SYSTEM) for i in ids[:10]),
        *(lifecycle.set_status(company_id, i, "fraud", SYSTEM) for i in ids[20:]),
        *(lifecycle.set_status(company_id, i, "fraud", SYSTEM) for i in ids[10:20]),
    )
    # The same client at once, as a double click on Fraud would (counted out of Active once).
    await asyncio.gather(
        *(lifecycle.set_status(company_id, ids[0], "fraud", SYSTEM) for _ in range(8))
    )
    tally = await counts.tally(company_id)
    by_status = {status: n for (_, status), n in tally.items() if n}
    assert by_status == {"active": 9, "fraud": 31}


async def test_a_page_reads_one_snapshot_while_writers_commit(company_id):
    """Browse reads its counts and its rows in separate statements: a client added meanwhile
    (in a task of its own, so on a connection of its own) shows in neither until the next
    page."""
    await add_client(company_id, Person("Ada", "Lovelace", "ada@example.com"))
    query = browse.read_browse_query({})
    async with db.snapshot_transaction():
        before = await browse.browse_clients(company_id, query)
        await asyncio.create_task(
            add_client(company_id, Person("Grace", "Hopper", "grace@example.com")),
            context=contextvars.Context(),
        )
        during = await browse.browse_clients(company_id, query)
    after = await browse.browse_clients(company_id, query)
    assert before.counts == during.counts == {"active": 1, "inactive": 0, "fraud": 0}
    assert [row.last_name for row in during.rows] == ["Lovelace"]
    assert after.counts["active"] == 2
    assert [row.last_name for row in after.rows] == ["Lovelace", "Hopper"]


@pytest.mark.skipif(not IS_POSTGRES, reason="PostgreSQL's plan cache")
async def test_postgres_plans_browse_and_search_for_their_values(company_id):
    """Browse and search read in snapshot transactions, which plan every statement for its
    values: a generic plan, kept after five runs of a prepared statement, would read a date
    range by its creation-date index and sort it however narrow the client-number bounds are.
    Other reads may keep a generic plan (planned once, not on every run)."""
    async with db.snapshot_transaction():
        inside = await Client.raw("SHOW plan_cache_mode")
    outside = await Client.raw("SHOW plan_cache_mode")
    assert inside == [{"plan_cache_mode": "force_custom_plan"}]
    assert outside == [{"plan_cache_mode": "auto"}]


async def test_browse_sorts_names_among_their_letters_whatever_the_accents(
    admin_client, company_id
):
    """Álvaro between Alvarez and Amador, Édouard among the Es, Zänker among the Zs, on both
    engines: the name's collation key beside the search document."""
    from profile_helpers import make_client as make_named_client

    people = [
        ("Zoe", "Zänker"),
        ("Ana", "Amador"),
        ("Étienne", "Dupont"),
        ("Luis", "Álvaro"),
        ("Eva", "Alvarez"),
        ("Emil", "Eckert"),
        ("Éric", "Édouard"),
        ("Zack", "Young"),
    ]
    for first, last in people:
        await make_named_client(company_id, first_name=first, last_name=last)
    expected = ["Alvarez", "Álvaro", "Amador", "Dupont", "Eckert", "Édouard", "Young", "Zänker"]
    for direction, order in [("asc", expected), ("desc", expected[::-1])]:
        page = await admin_client.get("/admin/clients", params={"sort": "name", "dir": direction})
        shown = sorted(people, key=lambda person: page.text.index(f"{person[0]} {person[1]}"))
        assert [last for _, last in shown] == order
