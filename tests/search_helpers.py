"""A fixed set of clients for the search and Browse tests, created through the service the way
staff create them. The tests state their expected results explicitly, so the same checks run
on SQLite and on PostgreSQL (whichever PORTAL_DATABASE_URL selects)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from conftest import check_kept_in_step
from portal.clients import counts
from portal.clients.lifecycle import set_status
from portal.clients.services import (
    ClientDetails,
    PhoneRow,
    create_client,
    groups_of_company,
)
from portal.clients.tables import Client
from portal.core.actors import Actor


@dataclass(frozen=True)
class Person:
    first_name: str
    last_name: str
    email: str
    country: str = "US"
    company: str = ""
    address1: str = ""
    city: str = ""
    zip: str = ""
    phone: str = ""
    status: str = "active"
    created: str = "2024-01-01"
    currency: str = "USD"  # one its company accepts


# In creation order: with the default client ID format they get the IDs 1500, 1501, …
PEOPLE = (
    Person(
        "Grace",
        "Hopper",
        "grace@example.com",
        country="CA",
        company="Navy Labs",
        address1="1 Compiler Way",
        city="Toronto",
        zip="M5V 2T6",
        phone="+1 416 555 0199",
        created="2024-03-15",
    ),
    Person(
        "Ada",
        "Lovelace",
        "ada@example.org",
        country="GB",
        company="Analytical Engines",
        city="London",
        zip="SW1A 1AA",
        phone="+44 20 7946 0958",
        created="2023-12-10",
    ),
    Person(
        "Jürgen",
        "Müller",
        "juergen@example.de",
        country="DE",
        company="100% Hosting GmbH",
        city="Berlin",
        zip="10115",
        phone="030 1234567",
        created="2024-06-01",
    ),
    Person(
        "Conan",
        "O'Brien",
        "conan@example.com",
        company='Late_Night "Shows" Inc',
        address1="C:\\Temp Street 5",
        city="New York",
        zip="10112",
        status="inactive",
        created="2024-02-29",
    ),
    Person(
        "Linus",
        "Torvalds",
        "linus@example.net",
        company="AND Partners",
        city="Portland",
        zip="97201",
        status="fraud",
        created="2022-07-04",
    ),
    Person(
        "Dennis",
        "Hopper",
        "dennis@example.com",
        company="Easy Riders",
        city="Dodge City",
        zip="67801",
        created="2024-09-30",
    ),
)


def details_of(
    person: Person, group_id: int, custom: dict[str, str] | None = None
) -> ClientDetails:
    return ClientDetails(
        first_name=person.first_name,
        last_name=person.last_name,
        company=person.company,
        address1=person.address1,
        city=person.city,
        zip=person.zip,
        country=person.country,
        email=person.email,
        phones=[PhoneRow(row_id="a", number=person.phone)],
        preferred_currency=person.currency,
        language="en",
        group_id=str(group_id),
        custom=custom or {},
    )


async def add_client(
    company_id: int,
    person: Person,
    group_id: int | None = None,
    custom: dict[str, str] | None = None,
) -> int:
    """Creates the client through the service, then sets what the form does not hold (status,
    creation date) the way the database keeps them; no service backdates a client, so the
    counts, checked first, are then repaired as after any change made around the services."""
    if group_id is None:
        group_id = (await groups_of_company(company_id))[0]["id"]
    client_id = await create_client(
        company_id, details_of(person, group_id, custom), "Sturdy-horse-42", Actor(kind="system")
    )
    await set_status(company_id, client_id, person.status, Actor(kind="system"))
    await check_kept_in_step()
    await Client.update(
        {Client.created_at: datetime.fromisoformat(person.created).replace(hour=12, tzinfo=UTC)}
    ).where(Client.id == client_id)
    await counts.recount()
    return client_id


async def add_people(company_id: int) -> dict[str, int]:
    """The PEOPLE in the company; their client IDs by full name."""
    return {
        f"{person.first_name} {person.last_name}": await add_client(company_id, person)
        for person in PEOPLE
    }
