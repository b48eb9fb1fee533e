"""Helpers for the client profile tests: clients made through the service layer (any company),
staff members, and the client IDs of tables that refer to a client."""

from __future__ import annotations

from itertools import count

from piccolo.columns import ForeignKey
from piccolo.conf.apps import Finder
from piccolo.table import Table

from portal.billing import services as billing
from portal.client_groups.tables import ClientGroup
from portal.clients import lifecycle, notes, users
from portal.clients.services import ClientDetails, PhoneRow, create_client
from portal.clients.tables import Client, Contact
from portal.companies.services import accepted_currencies, get_company, set_currencies
from portal.core.actors import SYSTEM, Actor
from portal.core.db import write_transactions
from portal.staff.services import create_staff

PASSWORD = "Sturdy-horse-42"
_serial = count(1)


async def default_group(company_id: int) -> int:
    row = (
        await ClientGroup.select(ClientGroup.id)
        .where(ClientGroup.company == company_id, ClientGroup.is_default.eq(True))
        .first()
    )
    return row["id"]


async def make_client(
    company_id: int,
    *,
    first_name: str = "Ada",
    last_name: str = "Lovelace",
    currency: str | None = None,
    tax_exempt: bool = False,
    group_id: int | None = None,
    custom: dict[str, str] | None = None,
    marketing_opt_in: bool = False,
) -> int:
    """A client with a work phone and a fax, created as staff would; its currency is the
    company's default unless given (and then one the company accepts)."""
    n = next(_serial)
    details = ClientDetails(
        first_name=first_name,
        last_name=last_name,
        company="Analytical Engines Ltd",
        address1="12 Difference Street",
        city="Toronto",
        country="CA",
        state="CA-ON",
        zip="M5V 2T6",
        email=f"client{n}@example.com",
        phones=[
            PhoneRow(row_id="a", number_type="phone", location="work", number="416 555 0199"),
            PhoneRow(row_id="b", number_type="fax", location="work", number="416 555 0188"),
        ],
        preferred_currency=currency or (await get_company(company_id))["default_currency"],
        language="en",
        tax_exempt=tax_exempt,
        group_id=str(group_id or await default_group(company_id)),
        custom=custom or {},
        marketing_opt_in=marketing_opt_in,
    )
    return await create_client(company_id, details, PASSWORD, Actor(kind="system"))


async def add_records(
    company_id: int, client_id: int, actor: Actor, *, login: str = "bill"
) -> None:
    """A USD invoice, a payment, a service, a sticky note, an email from staff, a billing
    contact with a login of its own (username `login`) and an invitation not yet answered."""
    await billing.create_invoice(
        company_id,
        client_id,
        billing.InvoiceDetails(
            description="Hosting",
            amount="20.00",
            currency="USD",
            date_billed="2026-01-01",
            date_due="2026-01-15",
        ),
        actor,
    )
    await billing.record_payment(
        company_id,
        client_id,
        billing.PaymentDetails(amount="5.00", currency="USD", date_received="2026-01-02"),
        actor,
    )
    await billing.create_service(
        company_id,
        client_id,
        billing.ServiceDetails(
            name="example.com",
            package="Basic",
            price="9.99",
            currency="USD",
            renewal_date="2026-02-01",
        ),
        actor,
    )
    await notes.add_note(company_id, client_id, notes.NoteDetails(title="VIP", sticky=True), actor)
    await lifecycle.email_client(company_id, client_id, "Hello", "A message.", actor)
    # A billing contact with a login of its own, and an invitation not yet answered.
    async for transaction in write_transactions():
        async with transaction:
            bill = await users.add_user(
                company_id,
                username=login,
                email=f"{login}@example.com",
                name="Bill Payer",
                password_hash=None,
                language="en",
            )
            await users.add_member(bill, client_id, permissions=["invoices"])
            await Contact.insert(
                Contact(
                    client=client_id,
                    contact_type="billing",
                    first_name="Bill",
                    last_name="Payer",
                    email=f"{login}@example.com",
                    login=bill,
                )
            )
    await users.invite(company_id, client_id, f"invited-{login}@example.com", ["invoices"], actor)


async def accept_currencies(company_id: int, *codes: str) -> None:
    """The company accepts these currencies too (its default stays), as staff would set in
    [Settings] > [Company] > General."""
    accepted = await accepted_currencies(company_id)
    if not set(codes) <= set(accepted):
        await set_currencies(company_id, [*accepted, *codes], accepted[0], SYSTEM)


async def make_staff(email: str, company_ids: list[int]) -> int:
    return await create_staff(email=email, password=PASSWORD, company_ids=company_ids)


def tables_referring_to(target: type[Table]) -> list[tuple[type[Table], str]]:
    """(table, column name) for every column of every installed table that points at `target`
    by foreign key, or is named after it (`client`, `client_id`)."""
    name = target._meta.tablename
    found = []
    for table in Finder().get_table_classes():
        for column in table._meta.columns:
            points_at = isinstance(column, ForeignKey) and (
                column._foreign_key_meta.resolved_references is target
            )
            if points_at or column._meta.name in {name, f"{name}_id"}:
                found.append((table, column._meta.name))
    return found


async def rows_of_client(client_id: int) -> dict[str, list[int]]:
    """The ids of every row that belongs to the client, directly or through rows that do
    (a contact's numbers), walking the foreign keys of every installed table."""
    exists = await Client.exists().where(Client.id == client_id)
    owned: dict[type[Table], set[int]] = {Client: {client_id}}
    frontier: list[type[Table]] = [Client]
    while frontier:
        target = frontier.pop()
        for table, column in tables_referring_to(target):
            ids = owned[target]
            if table is target or not ids:
                continue
            rows = await table.select(table._meta.primary_key).where(
                getattr(table, column).is_in(sorted(ids))
            )
            new = {row[table._meta.primary_key._meta.name] for row in rows}
            if new - owned.get(table, set()):
                owned[table] = owned.get(table, set()) | new
                frontier.append(table)
    if not exists:
        del owned[Client]
    return {table._meta.tablename: sorted(ids) for table, ids in owned.items() if ids}
