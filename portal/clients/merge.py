"""Merge Client: a duplicate client of a company moves into the client that is kept, and its old
ID then leads there (`ClientMerge`).

Everything of the duplicate moves, in one write transaction: its contacts (its primary contact
becomes an Other contact of the kept client, with the duplicate's marketing consent as its own)
and their numbers, its users (members of the kept account, never its owner), invitations,
invoices, transactions, services, notes, mail log, consent records, tags, custom field values,
settings, the mass mailer's recipients, earlier merges into it, its history and its activity
lines. The tables are found by their foreign keys to the client, so a plugin's table moves too.
Where a client has a thing once (a tag, a custom field's value, a setting, a user), the kept
client's stays and the duplicate's moves only where the kept client has none; the duplicate's
own account details (group, status, currency…) go with it, and the preview lists those that
differ. Then the duplicate is deleted. Counts and search documents follow from the database's
triggers and the before-commit step, as for every write.

Both clients are locked for the transaction and must still be at the versions the staff member
saw on the preview, so a change made meanwhile is never lost under a merge."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

from piccolo.columns import Column, ForeignKey
from piccolo.columns.combination import Where
from piccolo.conf.apps import Finder
from piccolo.table import Table

from portal.activity.tables import ActivityEvent
from portal.billing.tables import Invoice, Service, Transaction
from portal.client_groups.services import custom_values
from portal.client_groups.tables import CustomField
from portal.clients import audit, browse, users
from portal.clients.browse import SearchResult
from portal.clients.services import STATUSES, ClientView, get_client
from portal.clients.tables import (
    AccountMember,
    Client,
    ClientAudit,
    ClientMerge,
    ClientNote,
    ClientSearch,
    ClientSetting,
    ClientTag,
    ConsentEvent,
    Contact,
    ContactNumber,
    CustomFieldValue,
)
from portal.core.actors import Actor
from portal.core.db import locked, read_transaction, write_transactions
from portal.core.errors import Conflict, NotFound, ValidationError
from portal.core.i18n import LANGUAGES, N_
from portal.core.ids import is_row_id
from portal.core.permissions import CLIENTS_DELETE, CLIENTS_EDIT, CLIENTS_VIEW
from portal.mail.tables import MailMessage

MERGED_INTO_ITSELF = N_("A client cannot be merged into itself. Choose another client.")
CHANGED_MEANWHILE = N_(
    "One of the two clients was changed after this page was opened, so nothing was merged. "
    "Check what moves below, as it is now, and merge again."
)
# Tables where a client has each key once: the duplicate's row moves only where the kept
# client has none for its key; the others go with the duplicate.
ONCE_PER_KEY: dict[type[Table], str] = {
    ClientTag: "tag",
    CustomFieldValue: "field",
    ClientSetting: "key",
}
# Tables moved by their own rules: the contacts (the primary one changes type), the users (the
# kept account keeps its owner); the search document is derived, rebuilt before commit.
MOVED_APART = (Contact, AccountMember, ClientSearch)


@dataclass(frozen=True)
class Records:
    """A kind of record in the preview: how many the kept client has, how many move to it."""

    label: str
    kept: int
    moving: int


@dataclass(frozen=True)
class Difference:
    """A detail of the duplicate's account that differs from the kept client's and is not
    kept (the kept client's value stays)."""

    label: str
    kept: str
    merged: str


@dataclass(frozen=True)
class MergePreview:
    kept: ClientView
    merged: ClientView
    records: list[Records]
    differences: list[Difference]


@dataclass(frozen=True)
class MergedClient:
    """Where a merged client's old ID leads."""

    merged_code: str
    kept_id: int
    kept_code: str
    merged_at: datetime


# --- the preview ----------------------------------------------------------------------------


# What the preview counts: (label, table, the column naming the client, the key a client has
# once, if so).
COUNTED: tuple[tuple[str, type[Table], Column, Column | None], ...] = (
    (N_("Contacts"), Contact, Contact.client, None),
    (N_("Phone numbers"), ContactNumber, ContactNumber.contact.client, None),
    (N_("Users"), AccountMember, AccountMember.client, AccountMember.user),
    (N_("Invoices"), Invoice, Invoice.client, None),
    (N_("Transactions"), Transaction, Transaction.client, None),
    (N_("Services"), Service, Service.client, None),
    (N_("Notes"), ClientNote, ClientNote.client, None),
    (N_("Emails"), MailMessage, MailMessage.client, None),
    (N_("History lines"), ClientAudit, ClientAudit.client_id, None),
    (N_("Consent records"), ConsentEvent, ConsentEvent.client, None),
    (N_("Tags"), ClientTag, ClientTag.client, ClientTag.tag),
    (N_("Custom field values"), CustomFieldValue, CustomFieldValue.client, CustomFieldValue.field),
)


def _not_held_by_kept(table: type[Table], column: Column, key: Column, kept_id: int) -> Where:
    """The rows whose key (a tag, a field, a user…) the kept client does not hold already."""
    return key.not_in(table.select(key).where(column == kept_id))


def _refuse_same(kept_id: int, merged_id: int) -> None:
    if kept_id == merged_id:
        raise ValidationError({"": MERGED_INTO_ITSELF})
    if not (is_row_id(kept_id) and is_row_id(merged_id)):
        raise NotFound()


# A merge shows both clients and changes one and deletes the other.
MERGING = (CLIENTS_VIEW, CLIENTS_EDIT, CLIENTS_DELETE)


async def candidates(company_id: int, q: str, actor: Actor) -> SearchResult | None:
    """The clients a search for the duplicate finds (the header search's matches), for staff
    who may merge; None before anything is typed."""
    actor.require(*MERGING)
    return await browse.suggest_clients(company_id, q) if q.strip() else None


async def preview(company_id: int, kept_id: int, merged_id: int, actor: Actor) -> MergePreview:
    """Both clients side by side: what each has, what moves, and the duplicate's details that
    are not kept. NotFound when either is not a client of the company."""
    actor.require(*MERGING)
    _refuse_same(kept_id, merged_id)
    kept = await get_client(company_id, kept_id)
    merged = await get_client(company_id, merged_id)
    async with read_transaction():
        records = []
        for label, table, column, key in COUNTED:
            moving = table.count().where(column == merged_id)
            if key is not None:
                moving = moving.where(_not_held_by_kept(table, column, key, kept_id))
            records.append(
                Records(label, await table.count().where(column == kept_id), await moving)
            )
        differences = await _differences(kept, merged)
    return MergePreview(kept, merged, records, differences)


def _yes_no(value: bool) -> str:
    return "Yes" if value else "No"


def _language(code: str) -> str:
    return LANGUAGES.get(code, code)


async def _differences(kept: ClientView, merged: ClientView) -> list[Difference]:
    """The duplicate's account details and custom field values that differ from the kept
    client's and go with it. (Its contact details, users and consent move: not listed.)"""
    details = (
        ("Client Group", kept.group_name, merged.group_name),
        ("Status", STATUSES[kept.status], STATUSES[merged.status]),
        ("Preferred Currency", kept.preferred_currency, merged.preferred_currency),
        ("Language", _language(kept.language), _language(merged.language)),
        ("Tax Exempt", _yes_no(kept.tax_exempt), _yes_no(merged.tax_exempt)),
        ("Tax ID/VATIN", kept.tax_id, merged.tax_id),
    )
    differences = [Difference(*detail) for detail in details if detail[1] != detail[2]]
    kept_values, merged_values = await custom_values(kept.id), await custom_values(merged.id)
    both = sorted(
        field_id
        for field_id, value in merged_values.items()
        if kept_values.get(field_id) and kept_values[field_id] != value
    )
    if both:
        fields = await CustomField.select(
            CustomField.id, CustomField.label, CustomField.field_type
        ).where(CustomField.id.is_in(both))
        for field in sorted(fields, key=lambda row: row["label"].casefold()):
            shown = [kept_values[field["id"]], merged_values[field["id"]]]
            if field["field_type"] == "checkbox":
                shown = [_yes_no(value == "1") for value in shown]
            differences.append(Difference(field["label"], *shown))
    return differences


# --- the merge ------------------------------------------------------------------------------


@cache
def _client_columns() -> tuple[ForeignKey, ...]:
    """Every foreign key to the client table, of every installed app (plugins' included)."""
    return tuple(
        column
        for table in Finder().get_table_classes()
        for column in table._meta.foreign_key_columns
        if column._foreign_key_meta.resolved_references is Client
    )


def _contact_column(table: type[Table]) -> ForeignKey | None:
    return next(
        (
            column
            for column in table._meta.foreign_key_columns
            if column._foreign_key_meta.resolved_references is Contact
        ),
        None,
    )


async def merge_clients(
    company_id: int,
    kept_id: int,
    merged_id: int,
    *,
    kept_version: int,
    merged_version: int,
    actor: Actor,
) -> str:
    """Moves everything of the client `merged_id` into the client `kept_id` and deletes it, if
    both are still at the versions the preview showed (Conflict otherwise). Returns the merged
    client's client ID (code). NotFound when either is not a client of the company (any
    more)."""
    actor.require(*MERGING)
    _refuse_same(kept_id, merged_id)
    async for transaction in write_transactions():
        async with transaction:
            # Locked until commit, in ID order (two merges of the same pair never deadlock).
            rows = await locked(
                Client.select(Client.id, Client.code, Client.version, Client.marketing_opt_in)
                .where(Client.id.is_in([kept_id, merged_id]), Client.company == company_id)
                .order_by(Client.id)
            )
            found = {row["id"]: row for row in rows}
            if len(found) != 2:
                raise NotFound()
            kept, merged = found[kept_id], found[merged_id]
            if (kept["version"], merged["version"]) != (kept_version, merged_version):
                raise Conflict()
            primary = (
                await Contact.select(Contact.id, Contact.first_name, Contact.last_name)
                .where(Contact.client == merged_id, Contact.contact_type == "primary")
                .first()
            )
            await _move_users(kept_id, merged_id)
            await _move_records(kept_id, merged_id, primary["id"])
            await Contact.update(
                {
                    Contact.contact_type: "other",
                    # The account's consent was the primary contact's: now its own.
                    Contact.marketing_opt_in: merged["marketing_opt_in"],
                }
            ).where(Contact.id == primary["id"])
            await Contact.update({Contact.client: kept_id}).where(Contact.client == merged_id)
            for table in (ClientAudit, ActivityEvent):
                await table.update({table.client_id: kept_id}).where(
                    table.company == company_id, table.client_id == merged_id
                )
            await Client.update(
                {Client.version: Client.version + 1, Client.updated_at: datetime.now(UTC)}
            ).where(Client.id == kept_id)
            await Client.delete().where(Client.id == merged_id)
            await ClientMerge.insert(
                ClientMerge(
                    company=company_id,
                    merged_client_id=merged_id,
                    merged_code=merged["code"],
                    kept=kept_id,
                    merged_by=actor.name[:201],
                )
            )
            name = f"{primary['first_name']} {primary['last_name']}".strip()
            await audit.record(
                company_id,
                kept_id,
                kept["code"],
                actor,
                [("Merged client", "", f"Client ID {merged['code']} ({name})")],
            )
            # The merged ID's own line names no person: it outlives the kept client's history.
            await audit.record(
                company_id,
                merged_id,
                merged["code"],
                actor,
                [("Client", f"Client ID {merged['code']}", f"merged into {kept['code']}")],
                log_activity=False,
            )
    return merged["code"]


async def _move_users(kept_id: int, merged_id: int) -> None:
    """The duplicate's users join the kept account where they are not in it yet, never as its
    owner: the duplicate's owner may do everything there as a user."""
    members = await AccountMember.select(
        AccountMember.user, AccountMember.owner, AccountMember.permissions
    ).where(
        AccountMember.client == merged_id,
        _not_held_by_kept(AccountMember, AccountMember.client, AccountMember.user, kept_id),
    )
    for member in members:
        permissions = (
            users.ACCOUNT_PERMISSIONS
            if member["owner"]
            else users.permissions_of(member["permissions"])
        )
        await users.add_member(member["user"], kept_id, permissions=permissions)


async def _move_records(kept_id: int, merged_id: int, merged_primary_id: int) -> None:
    """Every row that refers to the duplicate by foreign key now refers to the kept client,
    but for the tables moved apart and the rows a key the kept client has already holds."""
    for column in _client_columns():
        table = column._meta.table
        if table in MOVED_APART:
            continue
        if (contact := _contact_column(table)) is not None:
            # A row naming no contact is the primary contact's (a consent record, a mailing's
            # recipient): it names that contact, which stays one of the kept client's.
            await table.update({contact: merged_primary_id}).where(
                column == merged_id, contact.is_null()
            )
        move = table.update({column: kept_id}).where(column == merged_id)
        if key_name := ONCE_PER_KEY.get(table):
            move = move.where(_not_held_by_kept(table, column, getattr(table, key_name), kept_id))
        await move


# --- the old ID -----------------------------------------------------------------------------


async def merged_into(company_id: int, client_id: int) -> MergedClient | None:
    """The client the company's client `client_id` was merged into, if it was (and still
    exists)."""
    if not is_row_id(client_id):
        return None
    row = (
        await ClientMerge.select(
            ClientMerge.merged_code, ClientMerge.kept, ClientMerge.kept.code, ClientMerge.merged_at
        )
        .where(ClientMerge.company == company_id, ClientMerge.merged_client_id == client_id)
        .order_by(ClientMerge.id, ascending=False)
        .first()
    )
    if row is None:
        return None
    return MergedClient(row["merged_code"], row["kept"], row["kept.code"], row["merged_at"])
