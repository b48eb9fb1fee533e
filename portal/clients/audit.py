"""The audit log of clients: every change, field by field (old → new), with who, when and from
which address. Lines are written inside the transaction of the change they describe, so a change
and its line are saved together or not at all. Passwords never appear: only "password changed".

`client_id` is a plain integer, not a foreign key: when a client is deleted, its history goes with
it (it holds personal data) and one line remains, naming only the client ID and who deleted it.

Every change of a client passes through here, so its event (portal.events: client.created,
client.updated, client.status_changed, client.deleted, client.anonymised, contact.*) is
emitted here too, in the same transaction (see `_events_of`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from portal.activity import services as activity
from portal.client_groups.tables import ClientGroup
from portal.clients.tables import CLIENT_STATUSES, Client, ClientAudit
from portal.core.db import insert_rows, read_transaction
from portal.core.errors import NotFound
from portal.core.ids import is_row_id
from portal.core.pagination import Page
from portal.core.rows import from_row
from portal.events import services as events
from portal.staff.tables import Staff

if TYPE_CHECKING:
    from portal.clients.services import ClientDetails, ClientView
    from portal.core.actors import Actor

MAX_VALUE = 2000  # characters of an old or new value kept in a line
PASSWORD_CHANGED = "password changed"  # noqa: S105 - a label, not a password

Change = tuple[str, str, str]  # (field, old value, new value)

CONTACT_LABELS = (
    ("first_name", "First Name"),
    ("last_name", "Last Name"),
    ("company", "Company/Org."),
    ("title", "Title"),
    ("address1", "Address 1"),
    ("address2", "Address 2"),
    ("city", "City"),
    ("country", "Country"),
    ("state", "State/Province"),
    ("zip", "Zip/Postal Code"),
    ("email", "Email"),
)


@dataclass(frozen=True)
class AuditLine:
    id: int
    field: str
    old_value: str
    new_value: str
    who: str  # the staff member's name, or who else acted, in words
    address: str
    at: datetime


SHORT_VALUE = 40  # values longer than this are named, not quoted, in the activity log


def _activity_line(client_code: str, changes: list[Change]) -> tuple[str, bool]:
    """The change as one sentence of the company's activity log, and whether the line stays
    linked to the client (not once it is deleted: its lines went with it, see delete_client)."""
    if changes == [("Client", "", "created")]:
        return f"Added the client {client_code}.", True
    if len(changes) == 1 and changes[0][0] == "Client" and changes[0][2] == "deleted":
        return f"Deleted the client {client_code}.", False
    parts = []
    for field, old, new in changes:
        if not old:
            parts.append(f"{field}: {new}")
        elif len(old) <= SHORT_VALUE and len(new) <= SHORT_VALUE and "\n" not in old + new:
            parts.append(f"{field}: {old} → {new}")
        else:
            parts.append(f"{field} changed")
    return f"Client {client_code}: {'; '.join(parts)}.", True


# --- the events of changes (portal.events) ----------------------------------------------------

# The field of the lines of a client's creation (record_created) and of its end: anonymised
# (the new value "anonymised"), or deleted (by Delete Client, a bulk delete, a merge).
CLIENT = "Client"
ANONYMISED = "anonymised"
STATUS = "Status"
CONTACT = "Contact"  # the field of the lines of a contact's creation ("" → …) and deletion
STATUS_CODES = {code.capitalize(): code for code in CLIENT_STATUSES}  # "Active" → "active"
# Lines that record something done for or about a client rather than a change of its details
# (mail from staff, notes, billing, the account's users, sign-ins): no client.updated. Any other
# line is a change of its details, so a new kind of line emits one event too many, never one
# too few. "Email" is also the field of the client's address: a message from staff is told
# apart by its empty old value (an address is never empty).
NOT_DETAILS = frozenset(
    {
        "Email",
        "Note",
        "Note title",
        "Note sticky",
        "Invoice",
        "Payment",
        "Credit",
        "Service",
        "User",
        "Owner",
        "Invitation",
        "Login as Client",
        "Two-factor authentication",
    }
)
NOT_DETAILS_PREFIX = "Permissions of user "


def _is_detail(field: str, old: str) -> bool:
    if field == "Email":
        return bool(old)
    return field not in NOT_DETAILS and not field.startswith(NOT_DETAILS_PREFIX)


def _events_of(
    client_id: int, client_code: str, changes: list[Change], contact_id: int | None
) -> list[events.Emitted]:
    """The events of an audited change: of the contact `contact_id` (a billing or other
    contact) when given, else of the client. Their data names what changed, never values."""
    about: dict[str, Any] = {"client": events.client_ref(client_id, client_code)}
    if contact_id is not None:
        about["contact"] = {"id": contact_id}
        if any(field == CONTACT and new == "deleted" for field, _, new in changes):
            return [("contact.deleted", about)]
        if any(field == CONTACT and not old for field, old, _ in changes):
            return [("contact.created", about)]
        # The contact's lines are "Billing contact Bill Payer: Email": the field is the end.
        names = [field.rpartition(": ")[2] for field, _, _ in changes]
        return [("contact.updated", {**about, "changes": list(dict.fromkeys(names))})]
    emitted: list[events.Emitted] = []
    updated: list[str] = []
    for field, old, new in changes:
        if field == CLIENT:
            emitted.append(("client.anonymised" if new == ANONYMISED else "client.deleted", about))
        elif field == STATUS:
            status = {"old": STATUS_CODES.get(old, old), "new": STATUS_CODES.get(new, new)}
            emitted.append(("client.status_changed", {**about, "status": status}))
        elif _is_detail(field, old) and field not in updated:
            updated.append(field)
    if updated:
        emitted.append(("client.updated", {**about, "changes": updated}))
    return emitted


async def client_code(company_id: int, client_id: int) -> str:
    """The client ID (code) the lines of a client name; NotFound unless it is the company's."""
    if not is_row_id(client_id):
        raise NotFound()
    row = (
        await Client.select(Client.code)
        .where(Client.id == client_id, Client.company == company_id)
        .first()
    )
    if row is None:
        raise NotFound()
    return row["code"]


async def record(
    company_id: int,
    client_id: int,
    client_code: str,
    actor: Actor,
    changes: list[Change],
    *,
    log_activity: bool = True,
    contact_id: int | None = None,
) -> None:
    """Writes one line per change, its events, and (`log_activity`) one line in the company's
    activity log; a bulk action logs one line for all its clients instead. `contact_id`: the
    changes are of that billing or other contact. Call inside the write transaction of the
    change."""
    if not changes:
        return
    await events.emit_many(company_id, _events_of(client_id, client_code, changes, contact_id))
    if log_activity:
        summary, linked = _activity_line(client_code, changes)
        await activity.record(
            company_id, actor, "clients", summary, client_id=client_id if linked else None
        )
    await ClientAudit.insert(
        *(
            ClientAudit(
                company=company_id,
                client_id=client_id,
                client_code=client_code[:64],
                field=field[:100],
                old_value=old[:MAX_VALUE],
                new_value=new[:MAX_VALUE],
                actor=actor.label[:100],
                staff_id=actor.id if actor.kind == "staff" else None,
                address=actor.address[:45],
            )
            for field, old, new in changes
        )
    )


async def record_created(
    company_id: int,
    clients: list[tuple[int, str]],
    actor: Actor,
    note: str = "created",
    *,
    log_activity: bool = True,
) -> None:
    """The line and the client.created event of each new client (ID, code), with multi-row
    INSERTs, and (`log_activity`) a line each in the company's activity log; an import logs
    one line for all instead."""
    await events.emit_many(
        company_id,
        [("client.created", {"client": events.client_ref(*client)}) for client in clients],
    )
    if log_activity:
        for client_id, code in clients:
            summary, _ = _activity_line(code, [("Client", "", "created")])
            await activity.record(company_id, actor, "clients", summary, client_id=client_id)
    await insert_rows(
        ClientAudit,
        (
            ClientAudit.company,
            ClientAudit.client_id,
            ClientAudit.client_code,
            ClientAudit.field,
            ClientAudit.new_value,
            ClientAudit.actor,
            ClientAudit.staff_id,
            ClientAudit.address,
        ),
        [
            (
                company_id,
                client_id,
                code[:64],
                "Client",
                note[:MAX_VALUE],
                actor.label[:100],
                actor.id if actor.kind == "staff" else None,
                actor.address[:45],
            )
            for client_id, code in clients
        ],
    )


def _yes_no(value: bool) -> str:
    return "Yes" if value else "No"


def _numbers_text(numbers: list[tuple[str, str, str, str]]) -> str:
    """Phone rows as one line: "Phone (Work) +14165550199; Fax (Home) +16475550177 ext. 12"."""
    return "; ".join(
        f"{kind.capitalize()} ({location.capitalize()}) {number}"
        + (f" ext. {extension}" if extension else "")
        for kind, location, number, extension in numbers
    )


def _custom_text(field: dict, value: str) -> str:
    if field["encrypted"]:
        return "(encrypted)" if value else ""
    if field["field_type"] == "checkbox":
        return _yes_no(value == "1")
    return value


async def changes_of_update(
    current: ClientView,
    old_custom: dict[int, str],
    details: ClientDetails,
    checked: Any,
    *,
    password_changed: bool,
) -> list[Change]:
    """What an edit changes, field by field, comparing the client as read (`current`, with its
    custom values `old_custom`) with the validated new values (`checked`, the services' _Checked).
    Values of encrypted custom fields are not written out, only that they changed."""
    changes: list[Change] = []
    new_contact = {name: getattr(details, name) for name, _ in CONTACT_LABELS}
    new_contact["country"] = details.country.upper()
    new_contact["email"] = checked.email
    for name, label in CONTACT_LABELS:
        old, new = str(current.contact.get(name) or ""), str(new_contact[name] or "")
        if old != new:
            changes.append((label, old, new))

    old_numbers = [(n.number_type, n.location, n.e164, n.extension) for n in current.numbers]
    new_numbers = [(n.number_type, n.location, n.e164, n.extension) for n in checked.numbers]
    if old_numbers != new_numbers:
        changes.append(("Phone Numbers", _numbers_text(old_numbers), _numbers_text(new_numbers)))

    simple = (
        ("Username", current.username, checked.username),
        ("Tax Exempt", _yes_no(current.tax_exempt), _yes_no(details.tax_exempt)),
        ("Tax ID/VATIN", current.tax_id, details.tax_id),
        ("Preferred Currency", current.preferred_currency, details.preferred_currency),
        ("Language", current.language, details.language),
        (
            "Opt-in to marketing emails",
            _yes_no(current.marketing_opt_in),
            _yes_no(details.marketing_opt_in),
        ),
    )
    changes += [(label, old, new) for label, old, new in simple if old != new]

    if checked.group_id != current.group_id:
        row = (
            await ClientGroup.select(ClientGroup.name)
            .where(ClientGroup.id == checked.group_id)
            .first()
        )
        changes.append(("Client Group", current.group_name, row["name"] if row else ""))

    for field in checked.fields:
        old = old_custom.get(field["id"], "")
        new = checked.custom_values.get(field["id"], "")
        if old != new:
            changes.append(
                (field["label"], _custom_text(field, old), _custom_text(field, new))
                if not field["encrypted"]
                else (field["label"], "(encrypted)", "(encrypted value changed)")
            )
    if password_changed:
        changes.append(("Password", "", PASSWORD_CHANGED))
    return changes


async def staff_names(staff_ids: set[int | None]) -> dict[int, str]:
    """{staff id: name as people read it} of the staff members (their email when nameless)."""
    ids = sorted(staff_id for staff_id in staff_ids if staff_id is not None)
    if not ids:
        return {}
    rows = await Staff.select(Staff.id, Staff.first_name, Staff.last_name, Staff.email).where(
        Staff.id.is_in(ids)
    )
    return {
        row["id"]: f"{row['first_name']} {row['last_name']}".strip() or row["email"] for row in rows
    }


# Who acted and where, in words, for the actor labels and consent sources that are not a
# staff member (see portal.core.actors.Actor.label).
ACTOR_WORDS = {
    "client": "The client",
    "system": "System",
    "command-line": "Command line",
    "api-key": "An API key",
    "unsubscribe-link": "Unsubscribe link",
}
SOURCE_WORDS = {
    "admin-add-client": "Add Client",
    "admin-edit-client": "Edit Client",
    "admin-add-contact": "Add Contact",
    "admin-edit-contact": "Edit Contact",
    "client-area": "the client area",
    "unsubscribe-link": "an unsubscribe link",
    "unsubscribe": "an unsubscribe link",
    "import": "an import",
    "api": "the API",
    "mailer": "the mass mailer",
}


def source_words(source: str) -> str:
    """Where a consent was given or withdrawn ("admin-add-client"), as people read it."""
    return SOURCE_WORDS.get(source, source.replace("-", " "))


async def consent_words(rows: Sequence[dict]) -> list[tuple[str, str]]:
    """(who, through what) in words for each consent event row, the staff members among the
    actors read by name in one query."""
    staff_ids = {
        int(actor_id)
        for kind, _, actor_id in (row["actor"].partition(":") for row in rows)
        if kind == "staff" and actor_id.isdigit()
    }
    names = await staff_names(staff_ids)
    return [(actor_words(row["actor"], names), source_words(row["source"])) for row in rows]


def actor_words(label: str, names: dict[int, str]) -> str:
    """An actor label ("staff:12", "client:34", "system") as people read it."""
    kind, _, actor_id = label.partition(":")
    if kind == "staff" and actor_id.isdigit() and int(actor_id) in names:
        return names[int(actor_id)]
    if kind == "staff":
        return "A former staff member"
    return ACTOR_WORDS.get(kind, kind.replace("-", " ").capitalize())


async def count_lines(company_id: int, client_id: int) -> int:
    return await ClientAudit.count().where(
        ClientAudit.company == company_id, ClientAudit.client_id == client_id
    )


async def list_lines(company_id: int, client_id: int, page: Page) -> list[AuditLine]:
    """A page of the client's history, newest first, with the staff members' names."""
    async with read_transaction():
        rows = (
            await ClientAudit.select()
            .where(ClientAudit.company == company_id, ClientAudit.client_id == client_id)
            .order_by(ClientAudit.id, ascending=False)
            .limit(page.per_page)
            .offset(page.offset)
        )
        names = await staff_names({row["staff_id"] for row in rows})
    return [from_row(AuditLine, row, who=actor_words(row["actor"], names)) for row in rows]
