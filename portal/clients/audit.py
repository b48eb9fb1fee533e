"""The audit log of clients: every change, field by field (old → new), with who, when and from
which address. Lines are written inside the transaction of the change they describe, so a change
and its line are saved together or not at all. Passwords never appear: only "password changed".

`client_id` is a plain integer, not a foreign key: when a client is deleted, its history goes with
it (it holds personal data) and one line remains, naming only the client ID and who deleted it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from portal.activity import services as activity
from portal.client_groups.tables import ClientGroup
from portal.clients.tables import ClientAudit
from portal.core.db import insert_rows, read_transaction
from portal.core.pagination import Page
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
    actor: str
    staff_name: str | None
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


async def record(
    company_id: int, client_id: int, client_code: str, actor: Actor, changes: list[Change]
) -> None:
    """Writes one line per change, and one line in the company's activity log. Call inside
    the write transaction of the change."""
    if not changes:
        return
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
    """The line of each new client (ID, code), with multi-row INSERTs, and (`log_activity`) a
    line each in the company's activity log; an import logs one line for all instead."""
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
        staff_ids = sorted({row["staff_id"] for row in rows if row["staff_id"] is not None})
        names = {}
        if staff_ids:
            for staff in await Staff.select(
                Staff.id, Staff.first_name, Staff.last_name, Staff.email
            ).where(Staff.id.is_in(staff_ids)):
                full = f"{staff['first_name']} {staff['last_name']}".strip()
                names[staff["id"]] = full or staff["email"]
    return [
        AuditLine(
            id=row["id"],
            field=row["field"],
            old_value=row["old_value"],
            new_value=row["new_value"],
            actor=row["actor"],
            staff_name=names.get(row["staff_id"]),
            address=row["address"],
            at=row["at"],
        )
        for row in rows
    ]
