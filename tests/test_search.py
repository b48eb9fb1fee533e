"""Client search and [Clients] > Browse: through the services and over HTTP, on the run's
database. Every expected result is written out, so the SQLite run and the PostgreSQL run
(PORTAL_DATABASE_URL) check the same thing: both engines give the same answers."""

from __future__ import annotations

import asyncio
import html
import re

import pytest

from conftest import IS_POSTGRES, login_staff
from portal.client_groups.services import (
    FieldDetails,
    GroupDetails,
    create_field,
    create_group,
    custom_values,
    delete_field,
    move_field,
    save_custom_values,
    update_field,
)
from portal.client_groups.tables import CustomField
from portal.clients import browse, lifecycle, search
from portal.clients.services import groups_of_company, update_client
from portal.clients.tables import Client, ClientSearch, CustomFieldValue
from portal.core.actors import SYSTEM, Actor
from portal.core.db import write_transactions
from portal.core.errors import Conflict
from portal.staff.services import create_staff
from search_helpers import PEOPLE, Person, add_client, add_people, details_of

GRACE, ADA, JURGEN, CONAN, LINUS, DENNIS = (f"{p.first_name} {p.last_name}" for p in PEOPLE)


@pytest.fixture
async def people(company_id: int) -> dict[str, int]:
    """The fixed set of clients (client IDs 1500 to 1505), by name."""
    return await add_people(company_id)


async def found(company_id: int, words: str) -> list[int]:
    """Client IDs (database ids) the search service lists for `words`, in order."""
    result = await browse.search_clients(company_id, browse.SearchPageQuery(q=words, per_page=100))
    return [row.id for row in result.rows]


def ids_of(people: dict[str, int], *names: str) -> list[int]:
    return [people[name] for name in names]


def listed(response) -> list[int]:
    """Clients listed in a results table, in order."""
    return [int(i) for i in re.findall(r'<td><a href="/admin/clients/(\d+)">', response.text)]


def suggested(response) -> list[int]:
    return [int(i) for i in re.findall(r'id="header-search-option-(\d+)"', response.text)]


# --- what the search finds ------------------------------------------------------------------

FINDS = [
    ("hopp", [GRACE, DENNIS]),  # last name, substring; in the order the clients were indexed
    ("HOPPER", [GRACE, DENNIS]),  # case does not matter
    ("  grace   HOP ", [GRACE]),  # full name; white space tidied
    ("navy", [GRACE]),  # company
    ("grace@EXAMPLE.com", [GRACE]),  # email
    ("compiler way", [GRACE]),  # address 1
    ("toronto", [GRACE]),  # city
    ("m5v 2t6", [GRACE]),  # zip
    ("4165550199", [GRACE]),  # national digits of +14165550199
    ("14165550199", [GRACE]),  # international digits
    ("+1 (416) 555-0199", [GRACE]),  # as people write it: compared as digits
    ("555-0199", [GRACE]),
    ("0301234567", [JURGEN]),  # German national number with its trunk prefix 0
    ("030 1234567", [JURGEN]),
    ("muller", [JURGEN]),  # accents do not matter
    ("MÜLLER", [JURGEN]),
    ("o'brien", [CONAN]),  # inactive clients are found too
    ("torvalds", [LINUS]),  # and fraud
    ("1502", [JURGEN]),  # a client ID exactly
    ("150", [GRACE, ADA, JURGEN, CONAN, LINUS, DENNIS]),  # part of every client ID
    ("qzxv", []),
]


@pytest.mark.parametrize(("words", "expected"), FINDS)
async def test_search_finds_clients_by_every_indexed_value(company_id, people, words, expected):
    assert await found(company_id, words) == ids_of(people, *expected)


async def test_an_exact_client_id_comes_first_then_substring_matches(company_id, people):
    # "1503" is Conan's ID and also a substring of nobody else's document.
    extra = await add_client(
        company_id, Person("Zed", "Ziff", "zed@example.com", address1="1503 Ocean Drive")
    )
    assert await found(company_id, "1503") == [people[CONAN], extra]
    # One or two digits: only a client ID exactly (no substring search below three characters).
    await Client.update({Client.code: "7"}).where(Client.id == people[ADA])
    assert await found(company_id, "7") == [people[ADA]]
    assert await found(company_id, "15") == []


async def test_custom_field_values_are_found_unless_encrypted(company_id):
    group = (await groups_of_company(company_id))[0]["id"]
    plain = await create_field(company_id, group, FieldDetails(label="Reseller code"), SYSTEM)
    secret = await create_field(
        company_id, group, FieldDetails(label="PIN", encrypted=True), SYSTEM
    )
    client_id = await add_client(
        company_id,
        Person("Ann", "Field", "ann@example.com"),
        custom={str(plain): "RSL-77821", str(secret): "SECRET-4242"},
    )
    assert await found(company_id, "rsl-778") == [client_id]
    assert await found(company_id, "secret-4242") == []
    document = await ClientSearch.select(ClientSearch.document).first()
    assert "secret" not in document["document"]


async def test_the_index_follows_custom_fields_being_encrypted_and_deleted(company_id):
    group = (await groups_of_company(company_id))[0]["id"]
    field = await create_field(company_id, group, FieldDetails(label="Reseller code"), SYSTEM)
    client_id = await add_client(
        company_id, Person("Ann", "Field", "ann@example.com"), custom={str(field): "RSL-77821"}
    )
    stored = CustomFieldValue.select(CustomFieldValue.value).where(CustomFieldValue.field == field)

    await update_field(
        company_id, field, FieldDetails(label="Reseller code", encrypted=True), SYSTEM
    )
    assert await found(company_id, "rsl-778") == []
    assert (await stored.first())["value"].startswith("enc1:")  # encrypted at once
    assert (await custom_values(client_id)) == {field: "RSL-77821"}

    await update_field(company_id, field, FieldDetails(label="Reseller code"), SYSTEM)
    assert await found(company_id, "rsl-778") == [client_id]
    assert (await stored.first())["value"] == "RSL-77821"

    await delete_field(company_id, field, SYSTEM)
    assert await found(company_id, "rsl-778") == []
    assert await found(company_id, "ann field") == [client_id]


async def test_values_saved_while_a_field_becomes_encrypted_are_stored_encrypted(company_id):
    """Edits checked against the field as it was (not encrypted) and saved while it becomes
    encrypted: every value ends up encrypted, whichever commits first."""
    group = (await groups_of_company(company_id))[0]["id"]
    field = await create_field(company_id, group, FieldDetails(label="Reseller code"), SYSTEM)
    people = [Person("Ann", f"Field{n}", f"ann{n}@example.com") for n in range(8)]
    ids = [await add_client(company_id, p, custom={str(field): "RSL-1"}) for p in people]

    async def edit(client_id: int, person: Person) -> None:
        version = await Client.select(Client.version).where(Client.id == client_id).first()
        await update_client(
            company_id,
            client_id,
            details_of(person, group, {str(field): f"RSL-{client_id}"}),
            expected_version=version["version"],
            new_password=None,
            actor=Actor(kind="system"),
        )

    encrypted = FieldDetails(label="Reseller code", encrypted=True)
    await asyncio.gather(
        *(edit(i, p) for i, p in zip(ids[:4], people[:4], strict=True)),
        update_field(company_id, field, encrypted, SYSTEM),
        *(edit(i, p) for i, p in zip(ids[4:], people[4:], strict=True)),
    )
    stored = await CustomFieldValue.select(CustomFieldValue.value).where(
        CustomFieldValue.field == field
    )
    assert len(stored) == 8 and all(row["value"].startswith("enc1:") for row in stored)
    assert {(await custom_values(i))[field] for i in ids} == {f"RSL-{i}" for i in ids}

    # The same, one step at a time: the setting changes inside the saving transaction.
    async for transaction in write_transactions():
        async with transaction:
            await CustomField.update({CustomField.encrypted: False}).where(CustomField.id == field)
            await save_custom_values(ids[0], {field: "RSL-PLAIN"})
    assert (await custom_values(ids[0]))[field] == "RSL-PLAIN"
    assert (
        await CustomFieldValue.select(CustomFieldValue.value)
        .where(CustomFieldValue.client == ids[0])
        .first()
    )["value"] == "RSL-PLAIN"


async def test_values_saved_while_fields_are_reordered_all_land(company_id):
    """Saving a client locks its fields' rows against a change of Encrypted, not against a
    change of their order: edits and moves at once all succeed (no deadlock on PostgreSQL)."""
    group = (await groups_of_company(company_id))[0]["id"]
    fields = [
        await create_field(company_id, group, FieldDetails(label=f"Code {n}"), SYSTEM)
        for n in range(3)
    ]
    person = Person("Ann", "Order", "ann@example.com")
    client_id = await add_client(company_id, person)

    async def edit(n: int) -> None:
        for _ in range(20):  # the version moves on with every other edit: try again
            version = await Client.select(Client.version).where(Client.id == client_id).first()
            values = {str(field): f"V{n}-{field}" for field in fields}
            try:
                await update_client(
                    company_id,
                    client_id,
                    details_of(person, group, values),
                    expected_version=version["version"],
                    new_password=None,
                    actor=Actor(kind="system"),
                )
                return
            except Conflict:
                continue

    await asyncio.gather(
        *(edit(n) for n in range(6)),
        *(move_field(company_id, fields[n % 3], ("up", "down")[n % 2], SYSTEM) for n in range(6)),
    )
    stored = set((await custom_values(client_id)).values())
    assert len(stored) == 3 and len({value.split("-")[0] for value in stored}) == 1


# --- bad input: taken literally or refused with a hint, never an error ----------------------

LITERAL = [
    ("o'b", [CONAN]),
    ("00%", [JURGEN]),  # % is a character ("100% Hosting"); as a wildcard it would find 1500
    ("1_0", []),  # _ is a character: as a LIKE wildcard it would match every client ID
    ("e_n", [CONAN]),  # "Late_Night"
    ('"shows"', [CONAN]),  # quotes are characters, not FTS phrase syntax
    ("\\temp", [CONAN]),  # "C:\Temp Street 5"
    ("AND", [LINUS]),  # the word "and" ("AND Partners", "Portland"), not an FTS operator
    ("hopper AND grace", []),  # as an FTS query it would find Grace Hopper
    ("grace OR linus", []),
    ("hopp*", []),  # as an FTS prefix query it would find both Hoppers
    ("NEAR(grace hopper)", []),
    ("document:grace", []),  # an FTS column filter
    ("'; DROP TABLE client; --", []),
    ("\x00grace", [GRACE]),  # a NUL is dropped
]
HINTS = [
    ("'", "Type letters or digits to search."),
    ('"', "Type letters or digits to search."),
    ("%", "Type letters or digits to search."),
    ("_", "Type letters or digits to search."),
    ("\\", "Type letters or digits to search."),
    ("*", "Type letters or digits to search."),
    ("NEAR(", None),  # five characters: searched for, literally; nobody matches
    ("gr", "Type at least 3 characters, or a client ID."),
    ("x" * 10_000, "Search for at most 255 characters."),
]


@pytest.mark.parametrize(("words", "expected"), LITERAL)
async def test_special_characters_and_fts_syntax_are_taken_literally(
    company_id, people, admin_client, words, expected
):
    assert await found(company_id, words) == ids_of(people, *expected)
    suggestions = await admin_client.get("/admin/clients/suggestions", params={"q": words})
    assert suggestions.status_code == 200
    assert suggested(suggestions) == ids_of(people, *expected)
    page = await admin_client.get("/admin/clients/search", params={"q": words, "page": "1"})
    assert page.status_code == 200
    assert listed(page) == ids_of(people, *expected)
    assert await Client.count() == len(PEOPLE)


@pytest.mark.parametrize(("words", "hint"), HINTS)
async def test_queries_that_cannot_be_searched_get_a_hint(
    company_id, people, admin_client, words, hint
):
    query = search.parse_query(words)
    assert query.hint == hint
    assert await found(company_id, words) == []
    suggestions = await admin_client.get("/admin/clients/suggestions", params={"q": words})
    assert suggestions.status_code == 200 and suggested(suggestions) == []
    if hint:
        assert hint in suggestions.text
    page = await admin_client.get("/admin/clients/search", params={"q": words})
    assert page.status_code == 200 and listed(page) == []


# --- the search box's endpoints -------------------------------------------------------------


async def test_suggestions_are_a_listbox_of_options_with_name_company_email_and_status(
    admin_client, people
):
    response = await admin_client.get("/admin/clients/suggestions", params={"q": "hopp"})
    assert response.status_code == 200
    text = html.unescape(response.text)
    assert '<div role="listbox" id="header-search-listbox"' in text
    assert suggested(response) == ids_of(people, GRACE, DENNIS)
    option = re.search(r'<a role="option" id="header-search-option-\d+".*?</a>', text, re.S)
    assert option and 'aria-selected="false"' in option.group(0)
    for shown in ("Grace Hopper", "#1500", "Navy Labs", "grace@example.com", "Active"):
        assert shown in option.group(0)
    # The count goes to the live region outside the list.
    assert 'hx-swap-oob="innerHTML:#header-search-status">2 clients found' in text
    assert (await admin_client.get("/admin/clients/suggestions?q=")).text.strip() == ""


async def test_suggestions_offer_all_results_when_more_match(admin_client, company_id):
    for n in range(browse.SUGGESTIONS + 1):
        await add_client(company_id, Person("Many", f"Smithers{n}", f"m{n}@example.com"))
    response = await admin_client.get("/admin/clients/suggestions", params={"q": "smithers"})
    assert len(suggested(response)) == browse.SUGGESTIONS
    assert 'href="/admin/clients/search?q=smithers"' in response.text
    assert f"All {browse.SUGGESTIONS + 1} matches" in response.text


async def test_suggestions_count_up_to_a_hundred_and_the_search_page_further(
    admin_client, company_id
):
    """The list under the box reads at most SUGGESTIONS_COUNTED matches ("100+"); the search
    page it links to counts them all, up to its own cap."""
    from portal.clients.demo import load_demo

    await load_demo(browse.SUGGESTIONS_COUNTED + 20, company_id=company_id, seed=3)
    response = await admin_client.get("/admin/clients/suggestions", params={"q": "example"})
    text = html.unescape(response.text)
    assert len(suggested(response)) == browse.SUGGESTIONS
    assert f"{browse.SUGGESTIONS_COUNTED}+ clients found" in text
    assert "All matches for “example”" in text
    page = await admin_client.get("/admin/clients/search", params={"q": "example"})
    shown = f"Showing 1–20 of {browse.SUGGESTIONS_COUNTED + 20} clients matching"
    assert shown in html.unescape(page.text)


@pytest.mark.skipif(not IS_POSTGRES, reason="PostgreSQL's trigram index and planner")
async def test_postgres_search_index_keeps_a_short_pending_list_and_many_samples(company_id):
    """What keeps a search on PostgreSQL from reading every document: the planner samples
    enough documents to tell a rare pattern from a common one; the trigram index's list of
    entries not yet merged is merged at 256 kB while serving, and after a bulk load."""
    from portal.clients.demo import load_demo

    rows = await Client.raw(
        "SELECT attstattarget, current_setting('gin_pending_list_limit') AS pending_limit"
        " FROM pg_attribute WHERE attrelid = 'client_search'::regclass AND attname = 'document'"
    )
    assert rows == [{"attstattarget": 1000, "pending_limit": "256kB"}]
    await load_demo(50, company_id=company_id, seed=4)
    merged = await Client.raw("SELECT gin_clean_pending_list('client_search_fts_trgm') AS pages")
    assert merged == [{"pages": 0}]  # load_demo's analyze() merged them


async def test_the_search_page_lists_matches_in_the_browse_fragment(admin_client, people):
    response = await admin_client.get("/admin/clients/search", params={"q": "hopp"})
    assert response.status_code == 200
    assert '<table class="data-table client-list">' in response.text  # the Browse fragment
    assert listed(response) == ids_of(people, GRACE, DENNIS)
    assert '<th scope="col">Status</th>' in response.text
    assert 'value="hopp"' in response.text  # the header box keeps the words
    assert "Showing 1–2 of 2 clients matching “hopp”." in html.unescape(response.text)


async def test_an_exact_client_id_goes_straight_to_the_profile(admin_client, people):
    response = await admin_client.get("/admin/clients/search", params={"q": "1502"})
    assert response.status_code == 303
    assert response.headers["location"] == f"/admin/clients/{people[JURGEN]}"
    # From htmx, the redirect is one htmx follows.
    response = await admin_client.get(
        "/admin/clients/search", params={"q": "1502"}, headers={"HX-Request": "true"}
    )
    assert response.headers["hx-redirect"] == f"/admin/clients/{people[JURGEN]}"


async def test_search_results_are_paged(admin_client, company_id):
    for n in range(21):
        await add_client(company_id, Person("Paula", f"Pager{n:02}", f"p{n}@example.com"))
    first = await admin_client.get("/admin/clients/search", params={"q": "pager"})
    second = await admin_client.get("/admin/clients/search", params={"q": "pager", "page": "2"})
    beyond = await admin_client.get("/admin/clients/search", params={"q": "pager", "page": "99"})
    assert (len(listed(first)), len(listed(second))) == (20, 1)
    assert listed(beyond) == listed(second)
    assert 'href="/admin/clients/search?q=pager&amp;page=2" rel="next"' in first.text


# --- Browse ---------------------------------------------------------------------------------


def tab_counts(response) -> dict[str, int]:
    found_counts = re.findall(
        r'id="tab-(\w+)"[^>]*>\w+ <span class="tab-count">([\d,]+)</span>', response.text
    )
    return {tab: int(count.replace(",", "")) for tab, count in found_counts}


async def test_browse_has_tabs_with_counts_and_lists_the_tab(admin_client, people):
    response = await admin_client.get("/admin/clients")
    assert response.status_code == 200
    assert tab_counts(response) == {"active": 4, "inactive": 1, "fraud": 1}
    assert re.search(
        r'id="tab-active" href="/admin/clients"[^>]*aria-current="page"', response.text
    )
    assert listed(response) == ids_of(people, GRACE, ADA, JURGEN, DENNIS)
    inactive = await admin_client.get("/admin/clients", params={"tab": "inactive"})
    assert listed(inactive) == [people[CONAN]]
    fraud = await admin_client.get("/admin/clients", params={"tab": "fraud"})
    assert listed(fraud) == [people[LINUS]]
    # Columns: the row's checkbox of the bulk actions, Client ID (a link to the profile), Name,
    # Company, Email, Group badge, Created.
    row = re.search(
        r'<tr>\s*<td class="select-cell">.*?</td>\s*<td><a href="/admin/clients/\d+">1500</a>'
        r"</td>.*?</tr>",
        response.text,
        re.S,
    )
    assert row
    for cell in (">Grace Hopper</td>", ">Navy Labs</td>", ">grace@example.com</td>"):
        assert cell in row.group(0)
    assert re.search(r'class="badge group-badge group-colour-\d+">General</span>', row.group(0))
    assert '<time datetime="2024-03-15T12:00:00+00:00">2024-03-15</time>' in row.group(0)
    assert '<link rel="stylesheet" href="/admin/settings/company/client-groups/colours.css">' in (
        response.text
    )


@pytest.fixture
async def vip(company_id: int, people: dict[str, int]) -> int:
    """A second group, "VIP", holding Ada and Dennis."""
    group_id = await create_group(company_id, GroupDetails(name="VIP", colour="#bf8700"), SYSTEM)
    for person in PEOPLE:
        client_id = people[f"{person.first_name} {person.last_name}"]
        if client_id in (people[ADA], people[DENNIS]):
            row = await Client.select(Client.version).where(Client.id == client_id).first()
            await update_client(
                company_id,
                client_id,
                details_of(person, group_id),
                expected_version=row["version"],
                new_password=None,
                actor=Actor(kind="system"),
            )
    return group_id


SORTED = [
    ("id", "asc", [GRACE, ADA, JURGEN, DENNIS]),
    ("id", "desc", [DENNIS, JURGEN, ADA, GRACE]),
    ("name", "asc", [DENNIS, GRACE, ADA, JURGEN]),  # last name, then first name
    ("name", "desc", [JURGEN, ADA, GRACE, DENNIS]),
    ("company", "asc", [JURGEN, ADA, DENNIS, GRACE]),  # 100% Hosting, Analytical, Easy, Navy
    ("email", "asc", [ADA, DENNIS, GRACE, JURGEN]),
    ("email", "desc", [JURGEN, GRACE, DENNIS, ADA]),
    ("group", "asc", [GRACE, JURGEN, ADA, DENNIS]),  # General, then VIP; by client ID within
    ("group", "desc", [DENNIS, ADA, JURGEN, GRACE]),
    ("created", "asc", [ADA, GRACE, JURGEN, DENNIS]),
    ("created", "desc", [DENNIS, JURGEN, GRACE, ADA]),
]


@pytest.mark.parametrize(("sort", "direction", "expected"), SORTED)
async def test_browse_sorts_by_each_column(admin_client, people, vip, sort, direction, expected):
    response = await admin_client.get("/admin/clients", params={"sort": sort, "dir": direction})
    assert response.status_code == 200
    assert listed(response) == ids_of(people, *expected)
    label = "ascending" if direction == "asc" else "descending"
    assert re.search(
        rf'<th scope="col" aria-sort="{label}">\s*<a class="sort-link" id="sort-{sort}"',
        response.text,
    )
    assert response.text.count("aria-sort=") == 1


async def test_browse_sorts_client_ids_as_numbers(admin_client, people):
    await Client.update({Client.number: 99, Client.code: "99"}).where(Client.id == people[DENNIS])
    response = await admin_client.get("/admin/clients", params={"sort": "id"})
    assert listed(response) == ids_of(people, DENNIS, GRACE, ADA, JURGEN)


async def test_browse_group_sort_pages_across_groups(admin_client, company_id, people, vip):
    for n in range(19):
        await add_client(company_id, Person("Vera", f"Vip{n:02}", f"v{n}@example.com"), vip)
    # Active, by group: General (Grace, Jürgen), then VIP (Ada, Dennis, the 19 new) = 23.
    first = await admin_client.get("/admin/clients", params={"sort": "group"})
    second = await admin_client.get("/admin/clients", params={"sort": "group", "page": "2"})
    assert listed(first)[:4] == ids_of(people, GRACE, JURGEN, ADA, DENNIS)
    assert len(listed(first)) == 20 and len(listed(second)) == 3
    assert not set(listed(first)) & set(listed(second))


async def test_browse_pages_and_out_of_range_pages(admin_client, company_id, people):
    for n in range(21):
        await add_client(company_id, Person("Paula", f"Pager{n:02}", f"p{n}@example.com"))
    # Active: the 4 of the fixed set and the 21 new = 25.
    pages = {
        page: listed(await admin_client.get("/admin/clients", params={"page": page}))
        for page in ("1", "2", "3", "99", "99999999999999999999999", "-3", "0", "abc", "1" * 5000)
    }
    assert len(pages["1"]) == 20 and len(pages["2"]) == 5
    assert pages["3"] == pages["99"] == pages["99999999999999999999999"] == pages["2"]
    assert pages["-3"] == pages["0"] == pages["abc"] == pages["1" * 5000] == pages["1"]
    hundred = await admin_client.get("/admin/clients", params={"per_page": "100"})
    assert len(listed(hundred)) == 25
    odd = await admin_client.get("/admin/clients", params={"per_page": "7"})
    assert listed(odd) == pages["1"]  # a page size that is not offered: 20
    response = await admin_client.get("/admin/clients", params={"page": "2"})
    assert "Page 2 of 2" in response.text
    assert 'href="/admin/clients" rel="prev"' in response.text  # page 1 is the plain address


async def test_browse_falls_back_on_unknown_sorts_directions_and_tabs(admin_client, people):
    default = listed(await admin_client.get("/admin/clients"))
    for params in (
        {"sort": "password_hash"},
        {"sort": "c.id; DROP TABLE client"},
        {"dir": "sideways"},
        {"dir": "asc; --"},
        {"tab": "deleted"},
        {"per_page": "-1"},
    ):
        response = await admin_client.get("/admin/clients", params=params)
        assert response.status_code == 200, params
        assert listed(response) == default, params


async def test_browse_filters(admin_client, people, vip):
    by_group = await admin_client.get("/admin/clients", params={"group": str(vip)})
    assert listed(by_group) == ids_of(people, ADA, DENNIS)
    assert tab_counts(by_group) == {"active": 2, "inactive": 0, "fraud": 0}
    by_country = await admin_client.get("/admin/clients", params={"country": "gb"})
    assert listed(by_country) == [people[ADA]]
    dates = {"created_from": "2024-03-15", "created_to": "2024-06-01"}  # both days included
    by_date = await admin_client.get("/admin/clients", params=dates)
    assert listed(by_date) == ids_of(people, GRACE, JURGEN)
    assert tab_counts(by_date) == {"active": 2, "inactive": 0, "fraud": 0}
    # Filters stay in every link: tabs, sorting, pages, and the form keeps them.
    assert f'href="/admin/clients?tab=inactive&amp;group={vip}"' in by_group.text
    assert f'<option value="{vip}" selected>VIP</option>' in by_group.text
    assert 'value="2024-03-15"' in by_date.text
    assert "Clear filters" in by_date.text


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"created_from": "2024-02-30"}, "Created from: enter a date as YYYY-MM-DD."),
        ({"created_to": "yesterday"}, "Created to: enter a date as YYYY-MM-DD."),
        ({"created_to": "20240101"}, "Created to: enter a date as YYYY-MM-DD."),
        ({"created_to": "9999-12-31"}, "Created to: enter a date before the year 9999."),
        ({"created_from": "9999-12-05"}, "Created from: enter a date before the year 9999."),
        ({"group": "VIP"}, "Client Group: choose a group from the list."),
        ({"group": "9" * 40}, "Client Group: choose a group from the list."),
        ({"country": "Narnia"}, "Country: choose a country from the list."),
    ],
)
async def test_browse_answers_filters_it_cannot_read_with_a_clear_400(
    admin_client, people, params, message
):
    response = await admin_client.get("/admin/clients", params=params)
    assert response.status_code == 400
    assert message in html.unescape(response.text)


async def test_browse_region_alone_for_htmx_and_the_whole_page_otherwise(admin_client, people):
    region = {"HX-Request": "true", "HX-Target": "client-browse"}
    response = await admin_client.get("/admin/clients?tab=fraud", headers=region)
    assert response.status_code == 200
    assert response.text.lstrip().startswith("{#") is False
    assert '<div id="client-browse"' in response.text and "<html" not in response.text
    assert listed(response) == [people[LINUS]]
    restore = await admin_client.get(
        "/admin/clients?tab=fraud", headers={**region, "HX-History-Restore-Request": "true"}
    )
    assert "<html" in restore.text and listed(restore) == [people[LINUS]]
    # Links and the filter form are plain GETs (work without JavaScript), boosted by htmx.
    full = await admin_client.get("/admin/clients")
    assert 'hx-push-url="true"' in full.text and 'hx-history="false"' in full.text
    assert '<form class="browse-filters" method="get" action="/admin/clients" hx-boost="true">' in (
        full.text
    )
    for label in ("Client Group", "Country", "Created from", "Created to", "Per page"):
        assert re.search(rf'<label for="filter-[\w-]+">{label}</label>', full.text), label


# --- company scoping ------------------------------------------------------------------------


async def test_staff_never_see_another_companys_clients(
    admin_client, company_id, second_company, people
):
    other_group = (await groups_of_company(second_company))[0]["id"]
    twin = Person(
        "Grace", "Hopper", "grace.two@example.de", country="DE", zip="10115", currency="EUR"
    )
    other = await add_client(second_company, twin, other_group)
    other_code = (await Client.select(Client.code).where(Client.id == other).first())["code"]
    assert other_code == "1500"  # the same client ID as Grace's in the first company

    assert await found(company_id, "hopper") == ids_of(people, GRACE, DENNIS)
    assert await found(second_company, "hopper") == [other]
    assert await found(company_id, "grace.two") == []
    suggestions = await admin_client.get("/admin/clients/suggestions", params={"q": "grace"})
    assert suggested(suggestions) == [people[GRACE]]
    by_id = await admin_client.get("/admin/clients/search", params={"q": "1500"})
    assert by_id.headers["location"] == f"/admin/clients/{people[GRACE]}"
    browse_page = await admin_client.get("/admin/clients", params={"per_page": "100"})
    assert tab_counts(browse_page) == {"active": 4, "inactive": 1, "fraud": 1}
    assert other not in listed(browse_page)
    zip_search = await admin_client.get("/admin/clients/search", params={"q": "10115"})
    assert listed(zip_search) == [people[JURGEN]]

    # Staff of the second company see its client only.
    await create_staff(
        email="b@example.com", password="Sturdy-horse-42", company_ids=[second_company]
    )
    await admin_client.post("/admin/logout", data={"_csrf_token": _csrf(browse_page.text)})
    await login_staff(admin_client, "b@example.com", "Sturdy-horse-42")
    response = await admin_client.get("/admin/clients/suggestions", params={"q": "hopper"})
    assert suggested(response) == [other]
    response = await admin_client.get("/admin/clients")
    assert tab_counts(response) == {"active": 1, "inactive": 0, "fraud": 0}


def _csrf(text: str) -> str:
    return re.search(r'name="_csrf_token" value="([^"]+)"', text).group(1)


# --- the index follows every write ----------------------------------------------------------


async def test_the_index_follows_edits(company_id, people):
    grace = PEOPLE[0]
    version = (await Client.select(Client.version).where(Client.id == people[GRACE]).first())[
        "version"
    ]
    group = (await groups_of_company(company_id))[0]["id"]
    renamed = Person(
        "Grace",
        "Brewster",
        "grace.b@example.com",
        country="CA",
        city="Ottawa",
        phone="+1 613 555 0123",
    )
    await update_client(
        company_id,
        people[GRACE],
        details_of(renamed, group),
        expected_version=version,
        new_password=None,
        actor=Actor(kind="system"),
    )
    assert await found(company_id, "grace hopper") == []
    assert await found(company_id, "hopp") == [people[DENNIS]]
    assert await found(company_id, "toronto") == []
    assert await found(company_id, grace.email) == []
    assert await found(company_id, "4165550199") == []
    assert await found(company_id, "brewster") == [people[GRACE]]
    assert await found(company_id, "6135550123") == [people[GRACE]]
    assert await found(company_id, "ottawa") == [people[GRACE]]


async def test_deleting_a_client_removes_it_from_the_index(company_id, people, staff):
    await lifecycle.delete_client(
        company_id,
        people[LINUS],
        staff_id=staff["id"],
        password=staff["password"],
        actor=Actor(kind="staff", id=staff["id"]),
    )
    assert await found(company_id, "torvalds") == []
    assert await ClientSearch.count() == len(PEOPLE) - 1
    if not IS_POSTGRES:
        # SQLite: the FTS5 index agrees with its content table (the triggers kept it in step).
        await ClientSearch.raw(
            "INSERT INTO client_search_fts(client_search_fts) VALUES ('integrity-check')"
        )


async def test_reindexing_rebuilds_every_document(company_id, people):
    await ClientSearch.update({ClientSearch.document: "stale"}, force=True)
    assert await found(company_id, "hopp") == []
    assert await search.reindex_company(company_id) == len(PEOPLE)
    assert await found(company_id, "hopp") == ids_of(people, GRACE, DENNIS)
    assert await search.reindex_all() == len(PEOPLE)  # unchanged documents are left alone
    assert await found(company_id, "hopp") == ids_of(people, GRACE, DENNIS)


# --- the document ---------------------------------------------------------------------------


def test_documents_hold_one_folded_value_a_line():
    document = search.build_document(
        ["1500", "Jürgen  Müller", "", "JUERGEN@example.de", "juergen@example.de", "Straße 1"]
    )
    assert document == "1500\njurgen muller\njuergen@example.de\nstraße 1"


@pytest.mark.parametrize(
    ("e164", "digits"),
    [
        ("+14165550199", ["14165550199"]),  # US/Canada: the trunk prefix 1 is the country code
        ("+49301234567", ["49301234567", "0301234567"]),
        ("+442079460958", ["442079460958", "02079460958"]),
        ("+390612345678", ["390612345678"]),  # Italy: the leading 0 is part of the number
    ],
)
def test_phone_numbers_are_indexed_as_the_digits_people_type(e164, digits):
    assert search.phone_digits(e164) == digits


async def test_name_matches_come_before_street_matches_and_say_what_matched(
    admin_client, company_id
):
    """Searching "baker" lists Ann Baker before the client who lives on Baker Street, and
    says of the second what matched."""
    from portal.clients.tables import Contact
    from profile_helpers import make_client as make_named_client

    street = await make_named_client(company_id, first_name="Sam", last_name="Street")
    await Contact.update({Contact.address1: "221B Baker Street"}).where(Contact.client == street)
    from portal.core.db import refresh_derived_data

    await refresh_derived_data()
    named = await make_named_client(company_id, first_name="Ann", last_name="Baker")
    page = await admin_client.get("/admin/clients/search", params={"q": "baker"})
    assert page.status_code == 200
    assert page.text.index("Ann Baker") < page.text.index("Sam Street")
    assert "matched on: address" in page.text
    suggestions = await admin_client.get("/admin/clients/suggestions", params={"q": "baker"})
    assert suggestions.text.index("Ann Baker") < suggestions.text.index("Sam Street")
    assert f"header-search-option-{named}" in suggestions.text
