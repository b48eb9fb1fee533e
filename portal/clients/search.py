"""Client search: one searchable document per client, and matching staff input against it.

The document (`client_search.document`) is built here, in Python, from the values of SOURCES:
client ID; every contact's names, company, email, address 1, city, zip and phone numbers (as
digits); the usernames of the account's users; custom field values that are not encrypted.
Each value is lower-cased, stripped of accents and put on a line of its own; a query never
holds a line break, so a match never runs across two values.

Each engine indexes the document for substring search, created by the clients migrations:
- SQLite: the FTS5 table `client_search_fts` (trigram tokenizer) over `client_search`, kept in
  step by triggers, so the index changes in the same transaction as the row;
- PostgreSQL: a pg_trgm GIN index on `client_search.document`, queried with LIKE.

No writer rebuilds documents itself: the database's triggers queue every client whose values
change (table `client_search_pending`), and `index_pending` rebuilds their documents at the end
of every write transaction, before it commits (see portal.core.db.before_commit). A write made
around the portal (raw SQL in a shell) is indexed by the next write transaction;
`reindex_company` rebuilds every document, as a repair.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache

import phonenumbers

from portal.clients.tables import Client, ClientSearch, ClientSearchPending
from portal.core.db import analyze, is_sqlite, write_transactions
from portal.core.placeholders import placeholders

# Trigram indexes answer substrings from three characters.
MIN_SUBSTRING_LENGTH = 3
# Longer input is no search: names, addresses and emails are at most 255 characters.
MAX_QUERY_LENGTH = 255
# Matches read at most; beyond that the list is cut and people are asked to refine the query.
MATCH_CAP = 1000
# Clients indexed per statement: keeps bound parameters under both engines' limits.
INDEX_BATCH = 5000

Value = tuple[int, str, str]  # (client ID, a value to find the client by, what it is)
Source = Callable[[Sequence[int]], Awaitable[list[Value]]]

_WHITESPACE = re.compile(r"\s+")
# What people type for a phone number: digits with the usual punctuation.
_PHONE_LIKE = re.compile(r"\+?[\d\s().\-/]+")
_NON_DIGITS = re.compile(r"\D")
_WORDS = re.compile(r"[^\W_]+")  # runs of letters and digits, as pg_trgm splits words


# --- the document -----------------------------------------------------------------------------


def fold(text: str) -> str:
    """Lower case, accents removed, runs of white space as one space: applied alike to what is
    indexed and to queries, so "Müller" is found by "muller" and "MÜLLER"."""
    text = _WHITESPACE.sub(" ", text.replace("\x00", "")).strip().lower()
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def build_document(values: Iterable[str]) -> str:
    """The searchable text of one client: its values folded, one a line, each once (a username
    is often the email address). The shorter the document, the smaller and faster the index."""
    return "\n".join(dict.fromkeys(folded for value in values if (folded := fold(value))))


@cache
def _trunk_prefix(country_code: int) -> str:
    region = phonenumbers.region_code_for_country_code(country_code)
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    return (metadata.national_prefix or "") if metadata else ""


def phone_digits(e164: str) -> list[str]:
    """The digit strings people type for a stored number: international without the plus
    (+14165550199 -> 14165550199, which also holds the national 4165550199 as a substring) and,
    where the country dials a trunk prefix, the national number with it (+49301234567 ->
    0301234567). Parsing with phonenumbers costs about 20 µs a number; reading the country code
    off the prefix keeps a reindex of a million clients in seconds."""
    digits = _NON_DIGITS.sub("", e164)
    for length in (1, 2, 3):
        country_code = int(digits[:length] or 0)
        if country_code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            with_trunk_prefix = _trunk_prefix(country_code) + digits[length:]
            return [digits] if with_trunk_prefix in digits else [digits, with_trunk_prefix]
    return [digits]


# Letters that Unicode does not decompose into a base letter and a mark.
_FOLDED_LETTERS = str.maketrans(
    {"ø": "o", "đ": "d", "ł": "l", "ħ": "h", "ı": "i", "æ": "ae", "œ": "oe", "þ": "th"}
)
NAME_KEY_LENGTH = 200


def collation_key(text: str) -> str:
    """A name as Browse sorts it: case and accents folded away ("Álvaro" → "alvaro",
    "Zänker" → "zanker", "Straße" → "strasse"), so that names sort among their letters in
    every language the portal speaks; compared byte by byte."""
    folded = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(char for char in folded if not unicodedata.combining(char))
    return bare.translate(_FOLDED_LETTERS).strip()


def name_key(last_name: str, first_name: str) -> str:
    """Last name, then first name: the unit separator sorts before every letter."""
    return f"{collation_key(last_name)}\x1f{collation_key(first_name)}"[:NAME_KEY_LENGTH]


async def _name_keys(client_ids: Sequence[int]) -> dict[int, str]:
    rows = await Client.raw(
        "SELECT client, first_name, last_name FROM contact "  # noqa: S608
        f"WHERE client IN ({placeholders(len(client_ids))}) AND contact_type = 'primary'",
        *client_ids,
    )
    return {row["client"]: name_key(row["last_name"], row["first_name"]) for row in rows}


async def _account_values(client_ids: Sequence[int]) -> tuple[dict[int, int], list[Value]]:
    """Which of the clients exist, with their company, and their client IDs."""
    rows = await Client.raw(
        "SELECT id, company, code FROM client "  # noqa: S608
        f"WHERE id IN ({placeholders(len(client_ids))})",
        *client_ids,
    )
    codes = [(row["id"], row["code"], "client ID") for row in rows]
    return {row["id"]: row["company"] for row in rows}, codes


async def _contact_values(client_ids: Sequence[int]) -> list[Value]:
    """Every contact's names, organisation, email and address, the primary contact's first."""
    rows = await Client.raw(
        "SELECT client, first_name, last_name, company, email, address1, city, zip "  # noqa: S608
        f"FROM contact WHERE client IN ({placeholders(len(client_ids))}) "
        "ORDER BY client, contact_type <> 'primary', id",
        *client_ids,
    )
    return [
        (row["client"], value, what)
        for row in rows
        for value, what in (
            # Matching is by substring: the full name also finds the first or the last name.
            (f"{row['first_name']} {row['last_name']}", "name"),
            (row["company"], "company"),
            (row["email"], "email"),
            (row["address1"], "address"),
            (row["city"], "address"),
            (row["zip"], "address"),
        )
    ]


async def _username_values(client_ids: Sequence[int]) -> list[Value]:
    """The usernames of the account's users."""
    rows = await Client.raw(
        'SELECT m.client, u.username FROM account_member m JOIN account_user u ON u.id = m."user" '  # noqa: S608
        f"WHERE m.client IN ({placeholders(len(client_ids))})",
        *client_ids,
    )
    return [(row["client"], row["username"], "username") for row in rows]


async def _phone_values(client_ids: Sequence[int]) -> list[Value]:
    rows = await Client.raw(
        "SELECT ct.client, n.number FROM contact_number n "  # noqa: S608
        "JOIN contact ct ON ct.id = n.contact "
        f"WHERE ct.client IN ({placeholders(len(client_ids))}) "
        # One order whatever plan the engine picks: a document rebuilt later must be the same.
        "ORDER BY ct.client, ct.id, n.position, n.id",
        *client_ids,
    )
    return [
        (row["client"], digits, "phone") for row in rows for digits in phone_digits(row["number"])
    ]


async def _custom_field_values(client_ids: Sequence[int]) -> list[Value]:
    # Encrypted values stay out of the index, which is plain text; a checkbox's "1" says nothing.
    rows = await Client.raw(
        "SELECT v.client, v.value FROM custom_field_value v "  # noqa: S608
        "JOIN custom_field f ON f.id = v.field "
        f"WHERE v.client IN ({placeholders(len(client_ids))}) "
        "AND NOT f.encrypted AND f.field_type <> 'checkbox'",
        *client_ids,
    )
    return [(row["client"], row["value"], "custom field") for row in rows]


# Values beyond the client ID. A source takes client IDs and returns (client ID, value, what
# it is) triples: making one more thing searchable is one more source here (and a reindex).
SOURCES: tuple[Source, ...] = (
    _contact_values,
    _username_values,
    _phone_values,
    _custom_field_values,
)


# --- keeping the index up to date -------------------------------------------------------------


async def index_pending() -> None:
    """Rebuilds the documents of the clients the triggers queued in this transaction, and
    empties the queue. Every write transaction runs it before it commits."""
    rows = await ClientSearchPending.raw("DELETE FROM client_search_pending RETURNING client")
    if rows:
        await index_clients(sorted({row["client"] for row in rows}))


async def index_clients(client_ids: Sequence[int]) -> None:
    """Rebuilds the documents of these clients (IDs that no longer exist are skipped), inside
    the write transaction that runs it."""
    for start in range(0, len(client_ids), INDEX_BATCH):
        batch = client_ids[start : start + INDEX_BATCH]
        companies, account_values = await _account_values(batch)
        values: dict[int, list[str]] = {client_id: [] for client_id in companies}
        names: dict[int, list[str]] = {client_id: [] for client_id in companies}
        for source_values in (account_values, *[await source(batch) for source in SOURCES]):
            for client_id, value, what in source_values:
                values[client_id].append(value)
                if what == "name":
                    names[client_id].append(value)
        if not values:
            continue
        keys = await _name_keys(batch)
        rows = [
            (
                client_id,
                companies[client_id],
                build_document(client_values),
                keys.get(client_id, ""),
                build_document(names[client_id]),
            )
            for client_id, client_values in values.items()
        ]
        # An unchanged document is not rewritten: no work for the engine's index either.
        await ClientSearch.raw(
            "INSERT INTO client_search (client, company, document, name_key, names) "  # noqa: S608
            f"VALUES {', '.join(['({}, {}, {}, {}, {})'] * len(rows))} "
            "ON CONFLICT (client) DO UPDATE SET company = excluded.company, "
            "document = excluded.document, name_key = excluded.name_key, "
            "names = excluded.names "
            "WHERE client_search.document <> excluded.document "
            "OR client_search.company <> excluded.company "
            "OR client_search.name_key <> excluded.name_key "
            "OR client_search.names <> excluded.names",
            *(value for row in rows for value in row),
        )


async def reindex_company(company_id: int) -> int:
    """Rebuilds the documents of every client of the company, INDEX_BATCH clients a
    transaction, and returns how many there were. For bulk loads and format changes."""
    count, last_id = 0, 0
    while True:
        rows = await Client.raw(
            "SELECT id FROM client WHERE company = {} AND id > {} ORDER BY id LIMIT {}",
            company_id,
            last_id,
            INDEX_BATCH,
        )
        if not rows:
            break
        client_ids = [row["id"] for row in rows]
        async for transaction in write_transactions():
            async with transaction:
                await index_clients(client_ids)
        count += len(client_ids)
        last_id = client_ids[-1]
    await optimize_index()
    await analyze(ClientSearch._meta.tablename)
    return count


async def reindex_all() -> int:
    """Rebuilds every client's document, company by company."""
    count = 0
    for row in await Client.raw("SELECT DISTINCT company FROM client ORDER BY company"):
        count += await reindex_company(row["company"])
    return count


async def optimize_index() -> None:
    """After many documents were written at once: merges FTS5's segments on SQLite (fewer
    b-trees for each query to read)."""
    if is_sqlite():
        await ClientSearch.raw(
            "INSERT INTO client_search_fts(client_search_fts) VALUES ('optimize')"
        )


# --- matching ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchQuery:
    """What a person typed, made ready to look up."""

    text: str  # as typed, white space tidied: compared with client IDs as they are written
    patterns: tuple[str, ...]  # folded substrings to look for; none when too short or odd
    hint: str | None  # why substrings are not looked up, to tell the person


def parse_query(raw: str) -> SearchQuery:
    text = _WHITESPACE.sub(" ", raw.replace("\x00", "")).strip()
    if not text:
        return SearchQuery(text="", patterns=(), hint=None)
    if len(text) > MAX_QUERY_LENGTH:
        return SearchQuery(
            text=text[:MAX_QUERY_LENGTH],
            patterns=(),
            hint=f"Search for at most {MAX_QUERY_LENGTH} characters.",
        )
    if not any(char.isalnum() for char in text):
        return SearchQuery(text=text, patterns=(), hint="Type letters or digits to search.")
    folded = fold(text)
    if len(folded) < MIN_SUBSTRING_LENGTH:
        return SearchQuery(
            text=text,
            patterns=(),
            hint=f"Type at least {MIN_SUBSTRING_LENGTH} characters, or a client ID.",
        )
    patterns = [folded]
    # "+1 (416) 555-0199" is looked for as typed and as digits, the way numbers are indexed.
    digits = _NON_DIGITS.sub("", text)
    if _PHONE_LIKE.fullmatch(text) and len(digits) >= MIN_SUBSTRING_LENGTH and digits != folded:
        patterns.append(digits)
    return SearchQuery(text=text, patterns=tuple(patterns), hint=None)


@dataclass(frozen=True)
class Matches:
    client_ids: list[int]  # the exact client-ID match first, then name matches, then the rest
    exact_id: int | None  # the client whose ID is exactly the query
    capped: bool  # more than the cap matched; only the first so many are in client_ids
    named: frozenset[int]  # the clients of client_ids whose contacts' names hold a pattern


# What a match on each kind of value says of the client, best first: a name beats a street.
MATCH_RANK = (
    "client ID",
    "name",
    "company",
    "email",
    "username",
    "phone",
    "address",
    "custom field",
    "several fields",  # the words run across values of the document
)


async def find_clients(company_id: int, query: SearchQuery, cap: int = MATCH_CAP) -> Matches:
    """The company's clients that match: the one whose client ID is the query, then those whose
    document holds one of the query's patterns, at most `cap`, in the order they were
    indexed. Both engines give the same list; only when more than `cap` match may they pick
    different ones (SQLite the first indexed, PostgreSQL the first it reads)."""
    exact_id = await _exact_client_id(company_id, query.text) if query.text else None
    found = await _substring_matches(company_id, query.patterns, cap) if query.patterns else []
    capped = len(found) > cap
    # A name beats a street: clients whose name holds the words come first (stable: each
    # part keeps the index's order).
    ranked = sorted(found[:cap], key=lambda hit: not hit[1])
    client_ids = [exact_id] if exact_id is not None else []
    client_ids += [client_id for client_id, _ in ranked if client_id != exact_id]
    named = frozenset(client_id for client_id, is_named in ranked if is_named)
    return Matches(client_ids=client_ids, exact_id=exact_id, capped=capped, named=named)


async def what_matched(
    client_ids: list[int], patterns: Sequence[str], named: frozenset[int]
) -> dict[int, str]:
    """For each of the clients shown, the best kind of value (MATCH_RANK) that holds a pattern,
    read from the same sources as its document. Of the `named` ones (a name holds a pattern,
    as the match said) only the client ID, the one kind above a name, is read again."""
    best: dict[int, str] = {
        client_id: "name" if client_id in named else MATCH_RANK[-1] for client_id in client_ids
    }
    if not client_ids:
        return best
    _, account_values = await _account_values(client_ids)
    unnamed = [client_id for client_id in client_ids if client_id not in named]
    sources = [await source(unnamed) for source in SOURCES] if unnamed else []
    for source_values in (account_values, *sources):
        for client_id, value, what in source_values:
            if MATCH_RANK.index(what) < MATCH_RANK.index(best[client_id]) and any(
                pattern in fold(value) for pattern in patterns
            ):
                best[client_id] = what
    return best


async def _exact_client_id(company_id: int, text: str) -> int | None:
    rows = await Client.raw(
        "SELECT id FROM client WHERE company = {} AND code = {}", company_id, text
    )
    return rows[0]["id"] if rows else None


async def _substring_matches(
    company_id: int, patterns: Sequence[str], cap: int
) -> list[tuple[int, bool]]:
    """(client ID, whether a contact's name holds a pattern) of up to `cap` + 1 matching
    documents, in document order. The cap is applied before ordering, so a common substring
    costs a bounded amount of work; the patterns only ever travel as bound parameters."""
    # The same LIKE on both engines: `names` and the patterns are folded to lower case.
    named = " OR ".join(["names LIKE {} ESCAPE '\\'"] * len(patterns))
    named_args = [f"%{_escape_like(pattern)}%" for pattern in patterns]
    if is_sqlite():
        # A quoted FTS5 phrase is taken literally ("" stands for a quote): AND, *, NEAR( and
        # column filters in the input are plain text. The trigram tokenizer matches substrings.
        # FTS5 returns rows in rowid order by itself, so the LIMIT stops the scan early.
        expression = " OR ".join('"' + pattern.replace('"', '""') + '"' for pattern in patterns)
        rows = await ClientSearch.raw(
            f"SELECT s.client, ({named}) AS named FROM client_search_fts"  # noqa: S608
            " JOIN client_search s ON s.id = client_search_fts.rowid"
            " WHERE client_search_fts MATCH {} AND s.company = {}"
            " ORDER BY client_search_fts.rowid LIMIT {}",
            *named_args,
            expression,
            company_id,
            cap + 1,
        )
    else:
        conditions, args = [], []
        for pattern in patterns:
            condition, condition_args = _trigram_condition(pattern)
            conditions.append(condition)
            args += condition_args
        rows = await ClientSearch.raw(
            "SELECT client, named FROM ("  # noqa: S608
            f" SELECT id, client, ({named}) AS named FROM client_search"
            f" WHERE company = {{}} AND ({' OR '.join(conditions)}) LIMIT {{}}"
            ") AS hits ORDER BY id",
            *named_args,
            company_id,
            *args,
            cap + 1,
        )
    return [(row["client"], bool(row["named"])) for row in rows]


def _trigram_condition(pattern: str) -> tuple[str, list[str]]:
    """PostgreSQL: `document` holds `pattern`. The GIN index reads the list of every trigram
    of a LIKE pattern, and trigrams such as those of "example.com" are in nearly every
    document: for a pattern of several words the index looks up the longest word only, and
    strpos() checks the whole pattern on the few documents found."""
    word = max(_WORDS.findall(pattern), key=len, default="")
    if len(word) >= MIN_SUBSTRING_LENGTH and word != pattern:
        return "(document LIKE {} ESCAPE '\\' AND strpos(document, {}) > 0)", [
            f"%{_escape_like(word)}%",
            pattern,
        ]
    return "document LIKE {} ESCAPE '\\'", [f"%{_escape_like(pattern)}%"]


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
