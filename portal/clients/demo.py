"""Demo clients for `portal demo --clients N`: people in several countries with names, addresses,
phone numbers and settings that look real, loaded fast enough that 100,000 take seconds.

Speed comes from three choices: Faker (tens of microseconds a value) fills small pools once and
the clients combine pool values at random; rows go in as multi-row INSERTs; every demo client
shares one password hash (argon2 costs about 0.1 s a hash)."""

from __future__ import annotations

import random
import string
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from itertools import accumulate
from typing import Any

import phonenumbers
import pycountry
from faker import Faker
from phonenumbers import PhoneNumber, PhoneNumberFormat, PhoneNumberType
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from portal.billing.demo import DemoAccount, add_demo_billing
from portal.client_groups.tables import ClientGroup
from portal.clients import search
from portal.clients.services import (
    CONTACT_DETAIL_COLUMNS,
    MARKETING_OPT_IN_WORDING,
    NEW_CLIENT_COLUMNS,
    NEW_USER_COLUMNS,
    NUMBER_COLUMNS,
    next_client_ids,
)
from portal.clients.tables import (
    AccountMember,
    AccountUser,
    Client,
    ConsentEvent,
    Contact,
    ContactNumber,
)
from portal.companies.tables import Company
from portal.core.db import analyze, insert_rows, lock_for_insert, write_transactions
from portal.core.errors import ValidationError
from portal.core.i18n import LANGUAGES
from portal.core.passwords import hash_password
from portal.core.placeholders import placeholders

DEMO_PASSWORD = "demo-client-password"  # noqa: S105 - printed so people can log in as any demo client
CLIENTS_PER_TRANSACTION = 5_000
# Bind parameters in one statement: SQLite allows 32,766, asyncpg 32,767.
POOL_SIZE = 2_000  # Faker values per field and locale
PHONE_POOL_SIZE = 500  # valid numbers per country and line type
# Domains reserved for examples (RFC 2606): nothing sent to a demo client reaches a real person.
EMAIL_DOMAINS = ("example.com", "example.org", "example.net")
HISTORY = timedelta(days=3 * 365)  # demo clients joined over the last three years


@dataclass(frozen=True)
class Country:
    code: str  # ISO 3166-1 alpha-2, also the phonenumbers region
    locale: str  # Faker's
    share: int  # relative share of the demo clients
    currency: str
    language: str  # the usual language, among those the portal ships
    tax_id_format: str  # "#" stands for a digit


COUNTRIES = (
    Country("US", "en_US", 34, "USD", "en", "##-#######"),  # EIN
    Country("CA", "en_CA", 9, "CAD", "en", "#########RT0001"),  # business number
    Country("GB", "en_GB", 12, "GBP", "en", "GB#########"),
    Country("DE", "de_DE", 13, "EUR", "de", "DE#########"),
    Country("FR", "fr_FR", 9, "EUR", "en", "FR###########"),
    Country("ES", "es_ES", 8, "EUR", "es", "ESB########"),
    Country("AU", "en_AU", 7, "AUD", "en", "## ### ### ###"),  # ABN
    Country("NL", "nl_NL", 8, "EUR", "en", "NL#########B01"),
)

# (name, colour, description, share of the clients); the company's default group takes the rest.
DEMO_GROUPS = (
    ("VIP", "#bf8700", "Top customers: priority support.", 7),
    ("Resellers", "#8250df", "Partners who resell our services.", 5),
    ("Wholesale", "#1a7f37", "Volume pricing.", 8),
)
STATUS_SHARES = (("active", 88), ("inactive", 10), ("fraud", 2))

# Add Client's columns, with the dates of clients that joined over the past years.
CLIENT_COLUMNS = (*NEW_CLIENT_COLUMNS, Client.created_at, Client.updated_at)
CONTACT_COLUMNS = (Contact.client, *CONTACT_DETAIL_COLUMNS, Contact.login)
BILLING_CONTACT_COLUMNS = (Contact.client, Contact.contact_type, *CONTACT_DETAIL_COLUMNS)
USER_COLUMNS = (*NEW_USER_COLUMNS, AccountUser.created_at)
MEMBER_COLUMNS = (
    AccountMember.user,
    AccountMember.client,
    AccountMember.owner,
    AccountMember.permissions,
    AccountMember.created_at,
)
CONSENT_COLUMNS = (
    ConsentEvent.client,
    ConsentEvent.opted_in,
    ConsentEvent.actor,
    ConsentEvent.source,
    ConsentEvent.wording,
    ConsentEvent.at,
)


@dataclass(frozen=True)
class CountryPool:
    """Values of one country to combine at random."""

    country: Country
    first_names: list[str]
    last_names: list[str]
    companies: list[str]
    titles: list[str]
    streets: list[str]
    secondary_addresses: list[str]  # empty where Faker's locale has none
    cities: list[str]
    postcodes: list[str]
    states: list[str]  # ISO 3166-2 codes
    landlines: list[str]  # E.164
    mobiles: list[str]  # E.164


@dataclass(slots=True)
class DemoClient:
    """One client. Its number, code and username are set inside the write transaction."""

    mailbox: str  # the e-mail address's local part, before the client number
    domain: str
    group_id: int
    status: str
    country: str
    currency: str
    language: str
    tax_exempt: bool
    tax_id: str
    marketing_opt_in: bool
    created_at: datetime
    updated_at: datetime
    contact: tuple[str, ...]  # CONTACT_COLUMNS between `client` and `email`
    numbers: list[tuple[str, str, str, str]]  # type, location, E.164 number, extension
    # A billing contact (CONTACT_COLUMNS between `client` and `email`) and its mailbox, for
    # some of the clients with a company.
    billing: tuple[str, ...] | None = None
    billing_mailbox: str = ""
    number: int = 0
    code: str = ""
    username: str = ""

    def client_row(self, company_id: int) -> tuple:
        return (
            company_id,
            self.group_id,
            self.number,
            self.code,
            self.status,
            self.country,
            self.currency,
            self.language,
            self.tax_exempt,
            self.tax_id,
            self.marketing_opt_in,
            self.created_at,
            self.updated_at,
        )

    def consent_row(self, client_id: int) -> tuple:
        """The opt-in's record, as when staff tick the box; given at sign-up."""
        return (client_id, True, "system", "demo-data", MARKETING_OPT_IN_WORDING, self.created_at)

    def user_row(self, company_id: int, password_hash: str) -> tuple:
        """The owner's login: the username is the email address."""
        name = f"{self.contact[0]} {self.contact[1]}"
        return (
            company_id,
            self.username,
            self.username,
            name,
            password_hash,
            self.language,
            self.created_at,
        )

    def contact_row(self, client_id: int, user_id: int) -> tuple:
        return (client_id, *self.contact, self.username, user_id)

    def billing_row(self, client_id: int) -> tuple:
        assert self.billing is not None
        email = f"{self.billing_mailbox}{self.number}@{self.domain}"
        return (client_id, "billing", *self.billing, email)

    def account(self, client_id: int) -> DemoAccount:
        """What the billing demo data needs of the client."""
        domain = self.mailbox.replace(".", "-").replace("_", "-") + ".example"
        return DemoAccount(
            client_id, self.currency, self.tax_exempt, self.status, self.created_at, domain
        )

    def number_rows(self, contact_id: int) -> list[tuple]:
        return [(contact_id, *phone, position) for position, phone in enumerate(self.numbers)]


async def load_demo(count: int, company_id: int | None = None, seed: int | None = None) -> None:
    """Add `count` demo clients to the company (default: the first one), each with a primary
    contact and one to three phone numbers, in transactions of CLIENTS_PER_TRANSACTION."""
    started = time.perf_counter()
    console = Console()
    rng = random.Random(seed)
    company = await _company(company_id)
    with console.status("Preparing names, addresses and phone numbers…"):
        groups = await _ensure_demo_groups(company["id"])
        pools = [_country_pool(country, rng) for country in COUNTRIES]
        password_hash = await hash_password(DEMO_PASSWORD)
    factory = ClientFactory(rng, pools, groups)
    with _progress(console) as progress:
        task = progress.add_task("Demo clients", total=count)
        for first in range(0, count, CLIENTS_PER_TRANSACTION):
            batch = factory.batch(first, min(CLIENTS_PER_TRANSACTION, count - first), count)
            await _save(company, batch, password_hash, rng)
            progress.advance(task, len(batch))
    with console.status("Refreshing the planner's statistics…"):
        await search.optimize_index()
        await analyze()
    console.print(
        f"Created {count:,} demo clients in {company['name']!r} in "
        f"{time.perf_counter() - started:.1f} s. They all log in with the password "
        f"{DEMO_PASSWORD!r}.",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


# --- Company and groups ---------------------------------------------------------------------


async def _company(company_id: int | None) -> dict[str, Any]:
    query = Company.select().order_by(Company.id)
    if company_id is not None:
        query = query.where(Company.id == company_id)
    company = await query.first()
    if company is None:
        raise ValidationError({"company": f"No company with ID {company_id}."})
    # Either would give every demo client the same code.
    if "{num}" not in company["client_id_format"]:
        raise ValidationError({"company": "The company's client ID format lacks {num}."})
    if company["client_id_increment"] < 1:
        raise ValidationError({"company": "The company's client ID increment is below 1."})
    return company


async def _ensure_demo_groups(company_id: int) -> list[tuple[int, int]]:
    """The groups to spread clients over, as (group ID, share): the company's default group
    and the demo groups, created if missing."""
    async for transaction in write_transactions():
        async with transaction:
            await lock_for_insert(ClientGroup._meta.tablename)
            existing = await ClientGroup.select(ClientGroup.name).where(
                ClientGroup.company == company_id
            )
            names = {row["name"].lower() for row in existing}
            missing = [
                ClientGroup(company=company_id, name=name, colour=colour, description=description)
                for name, colour, description, _ in DEMO_GROUPS
                if name.lower() not in names
            ]
            if missing:
                await ClientGroup.insert(*missing)
            rows = await ClientGroup.select(
                ClientGroup.id, ClientGroup.name, ClientGroup.is_default
            ).where(ClientGroup.company == company_id)
    if not any(row["is_default"] for row in rows):
        raise ValidationError({"company": "The company has no default client group."})
    shares = {name.lower(): share for name, _, _, share in DEMO_GROUPS}
    default_share = 100 - sum(shares.values())
    return [
        (row["id"], default_share if row["is_default"] else shares[row["name"].lower()])
        for row in rows
        if row["is_default"] or row["name"].lower() in shares
    ]


# --- Pools ----------------------------------------------------------------------------------


def _country_pool(country: Country, rng: random.Random) -> CountryPool:
    fake = Faker(country.locale)
    fake.seed_instance(rng.getrandbits(32))

    def draw(make: Callable[[], str]) -> list[str]:
        return [make() for _ in range(POOL_SIZE)]

    has_secondary = hasattr(fake, "secondary_address")
    return CountryPool(
        country=country,
        first_names=draw(fake.first_name),
        last_names=draw(fake.last_name),
        companies=draw(fake.company),
        titles=[title for title in draw(fake.job) if len(title) <= Contact.title.length],
        # Some locales write a street over two lines; the form has one field for it.
        streets=[
            ", ".join(line.strip() for line in s.splitlines()) for s in draw(fake.street_address)
        ],
        secondary_addresses=draw(fake.secondary_address) if has_secondary else [],
        cities=draw(fake.city),
        postcodes=draw(fake.postcode),
        states=_main_subdivisions(country.code),
        landlines=_phone_pool(country.code, PhoneNumberType.FIXED_LINE, rng),
        mobiles=_phone_pool(country.code, PhoneNumberType.MOBILE, rng),
    )


def _main_subdivisions(country_code: str) -> list[str]:
    """The country's top-level subdivisions of its most common kind (states, provinces, Länder),
    so that addresses land in France's regions rather than in its overseas territories."""
    top_level = [
        subdivision
        for subdivision in pycountry.subdivisions.get(country_code=country_code) or ()
        if subdivision.parent_code is None
    ]
    main_type, _ = Counter(subdivision.type for subdivision in top_level).most_common(1)[0]
    return sorted(s.code for s in top_level if s.type == main_type)


def _phone_pool(region: str, line_type: int, rng: random.Random) -> list[str]:
    """Valid numbers of the region and line type, in E.164: phonenumbers' example number with
    its last digits drawn at random, kept when the library accepts the result."""
    example = phonenumbers.example_number_for_type(region, line_type)
    digits = str(example.national_number)
    kept_digits = max(1, len(digits) - 7)
    accepted = {line_type, PhoneNumberType.FIXED_LINE_OR_MOBILE}
    pool = {phonenumbers.format_number(example, PhoneNumberFormat.E164)}
    for _ in range(PHONE_POOL_SIZE * 4):
        tail = "".join(rng.choices(string.digits, k=len(digits) - kept_digits))
        candidate = PhoneNumber(
            country_code=example.country_code, national_number=int(digits[:kept_digits] + tail)
        )
        if phonenumbers.is_valid_number(candidate) and (
            phonenumbers.number_type(candidate) in accepted
        ):
            pool.add(phonenumbers.format_number(candidate, PhoneNumberFormat.E164))
            if len(pool) == PHONE_POOL_SIZE:
                break
    return sorted(pool)


# --- Clients --------------------------------------------------------------------------------


class ClientFactory:
    """Makes demo clients from the pools. The shares are plausible guesses at a client base."""

    def __init__(
        self, rng: random.Random, pools: Sequence[CountryPool], groups: Sequence[tuple[int, int]]
    ) -> None:
        self.rng = rng
        self.pools = list(pools)
        self.pool_weights = list(accumulate(pool.country.share for pool in pools))
        self.group_ids = [group_id for group_id, _ in groups]
        self.group_weights = list(accumulate(share for _, share in groups))
        self.statuses = [status for status, _ in STATUS_SHARES]
        self.status_weights = list(accumulate(share for _, share in STATUS_SHARES))
        self.languages = list(LANGUAGES)
        self.now = datetime.now(UTC)

    def batch(self, first: int, size: int, total: int) -> list[DemoClient]:
        """Clients `first` to `first + size` of a run of `total`. Their sign-up times spread
        over HISTORY in client order, so that client numbers grow with them."""
        begin = self.now - HISTORY + HISTORY * (first / total)
        window = HISTORY * (size / total)
        return [
            self._make(begin + window * share)
            for share in sorted(self.rng.random() for _ in range(size))
        ]

    def _make(self, joined: datetime) -> DemoClient:
        rng = self.rng
        pool = rng.choices(self.pools, cum_weights=self.pool_weights)[0]
        country = pool.country
        first_name, last_name = rng.choice(pool.first_names), rng.choice(pool.last_names)
        company = rng.choice(pool.companies) if rng.random() < 0.33 else ""
        title = rng.choice(pool.titles) if rng.random() < (0.6 if company else 0.1) else ""
        address2 = (
            rng.choice(pool.secondary_addresses)
            if pool.secondary_addresses and rng.random() < 0.2
            else ""
        )
        billing_first, billing_last = rng.choice(pool.first_names), rng.choice(pool.last_names)
        has_billing_contact = bool(company) and rng.random() < 0.3
        tax_exempt = rng.random() < 0.05
        has_tax_id = tax_exempt or rng.random() < (0.5 if company else 0.05)
        return DemoClient(
            mailbox=_mailbox(first_name, last_name, rng),
            domain=rng.choice(EMAIL_DOMAINS),
            group_id=rng.choices(self.group_ids, cum_weights=self.group_weights)[0],
            status=rng.choices(self.statuses, cum_weights=self.status_weights)[0],
            country=country.code,
            currency=country.currency,
            language=country.language if rng.random() < 0.95 else rng.choice(self.languages),
            tax_exempt=tax_exempt,
            tax_id=_fill_digits(country.tax_id_format, rng) if has_tax_id else "",
            marketing_opt_in=rng.random() < 0.4,
            created_at=joined,
            updated_at=joined + (self.now - joined) * rng.random() ** 3,
            contact=(
                first_name,
                last_name,
                company,
                title,
                rng.choice(pool.streets),
                address2,
                rng.choice(pool.cities),
                rng.choice(pool.states),
                rng.choice(pool.postcodes),
                country.code,
            ),
            numbers=self._numbers(pool, at_work=bool(company)),
            billing=(
                billing_first,
                billing_last,
                company,
                "Accounts",
                rng.choice(pool.streets),
                "",
                rng.choice(pool.cities),
                rng.choice(pool.states),
                rng.choice(pool.postcodes),
                country.code,
            )
            if has_billing_contact
            else None,
            billing_mailbox=_mailbox(billing_first, billing_last, rng)
            if has_billing_contact
            else "",
        )

    def _numbers(self, pool: CountryPool, at_work: bool) -> list[tuple[str, str, str, str]]:
        rng = self.rng
        numbers = []
        for position in range(rng.choices((1, 2, 3), cum_weights=(50, 85, 100))[0]):
            if position and rng.random() < 0.25:
                numbers.append(("fax", "work", rng.choice(pool.landlines), ""))
                continue
            location = "work" if at_work and rng.random() < 0.7 else "home"
            lines = pool.mobiles if rng.random() < 0.5 else pool.landlines
            extension = (
                str(rng.randint(10, 999)) if location == "work" and rng.random() < 0.2 else ""
            )
            numbers.append(("phone", location, rng.choice(lines), extension))
        return numbers


def _mailbox(first_name: str, last_name: str, rng: random.Random) -> str:
    first, last = _ascii_letters(first_name) or "client", _ascii_letters(last_name) or "demo"
    return rng.choice(
        (f"{first}.{last}", f"{first[0]}.{last}", f"{first}{last}", f"{first}_{last}")
    )


@cache
def _ascii_letters(name: str) -> str:
    """The letters of a name as an e-mail address holds them: "Jürgen Groß" -> "jurgengross"."""
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    return "".join(char for char in decomposed if char in string.ascii_lowercase)


def _fill_digits(pattern: str, rng: random.Random) -> str:
    return "".join(rng.choice(string.digits) if char == "#" else char for char in pattern)


# --- Saving ---------------------------------------------------------------------------------


async def _save(
    company: dict[str, Any], batch: list[DemoClient], password_hash: str, rng: random.Random
) -> None:
    """One transaction: the clients' numbers from the company's sequence, their rows, consent
    records, contacts and phone numbers, all or nothing."""
    async for transaction in write_transactions():
        async with transaction:
            ids = await next_client_ids(  # before the tables, as Add Client takes them
                company["id"],
                company["client_id_format"],
                company["client_id_start"],
                company["client_id_increment"],
                len(batch),
            )
            if ids is None:
                raise ValidationError(
                    {
                        "company": "The next client IDs of the company's format belong to "
                        "clients of another format: change its Client ID format."
                    }
                )
            # Serialises with other writers the username check below and the inserts that follow.
            await lock_for_insert(Client._meta.tablename)
            await lock_for_insert(AccountUser._meta.tablename)
            for client, (number, code) in zip(batch, ids, strict=True):
                client.number, client.code = number, code
                client.username = f"{client.mailbox}{client.number}@{client.domain}"
            await _free_usernames(batch, rng)
            client_rows = [client.client_row(company["id"]) for client in batch]
            # RETURNING does not promise the order of the VALUES: rows are matched by a unique
            # value.
            inserted = await insert_rows(Client, CLIENT_COLUMNS, client_rows, Client.number)
            client_ids = {row["number"]: row["id"] for row in inserted}
            user_rows = [client.user_row(company["id"], password_hash) for client in batch]
            inserted = await insert_rows(AccountUser, USER_COLUMNS, user_rows, AccountUser.username)
            user_ids = {row["username"]: row["id"] for row in inserted}
            member_rows = [
                (user_ids[c.username], client_ids[c.number], True, "", c.created_at) for c in batch
            ]
            await insert_rows(AccountMember, MEMBER_COLUMNS, member_rows)
            consent_rows = [
                c.consent_row(client_ids[c.number]) for c in batch if c.marketing_opt_in
            ]
            await insert_rows(ConsentEvent, CONSENT_COLUMNS, consent_rows)
            contact_rows = [
                client.contact_row(client_ids[client.number], user_ids[client.username])
                for client in batch
            ]
            inserted = await insert_rows(Contact, CONTACT_COLUMNS, contact_rows, Contact.client)
            contact_ids = {row["client"]: row["id"] for row in inserted}
            billing_rows = [
                client.billing_row(client_ids[client.number])
                for client in batch
                if client.billing is not None
            ]
            await insert_rows(Contact, BILLING_CONTACT_COLUMNS, billing_rows)
            number_rows = [
                row
                for client in batch
                for row in client.number_rows(contact_ids[client_ids[client.number]])
            ]
            await insert_rows(ContactNumber, NUMBER_COLUMNS, number_rows)
            accounts = [client.account(client_ids[client.number]) for client in batch]
            await add_demo_billing(company["id"], accounts, rng)


async def _free_usernames(batch: list[DemoClient], rng: random.Random) -> None:
    """Makes unique with a random suffix the usernames already taken in the install (by earlier
    runs, other companies or real clients). The client number in each keeps those of the batch
    apart from each other."""
    while taken := await _taken_usernames([client.username for client in batch]):
        for client in batch:
            if client.username in taken:
                mailbox, domain = client.username.split("@")
                client.username = f"{mailbox}.{rng.getrandbits(24):06x}@{domain}"


async def _taken_usernames(usernames: list[str]) -> set[str]:
    """Those of the (lower-case) usernames that exist, compared as the unique index does."""
    table = AccountUser._meta.get_formatted_tablename()
    rows = await AccountUser.raw(
        # The table's own name and placeholders: the values travel as parameters.
        f"SELECT lower(username) AS username FROM {table} "  # noqa: S608
        f"WHERE lower(username) IN ({placeholders(len(usernames))})",
        *usernames,
    )
    return {row["username"] for row in rows}


# --- Progress -------------------------------------------------------------------------------


class RateColumn(ProgressColumn):
    """Clients a second."""

    def render(self, task: Task) -> Text:
        rate = f"{task.speed:,.0f}/s" if task.speed else "…/s"
        return Text(rate, style="progress.data.speed")


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeRemainingColumn(),
        console=console,
    )
