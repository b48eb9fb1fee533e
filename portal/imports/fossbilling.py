"""Reading a FOSSBilling database (MySQL/MariaDB) into a snapshot for portal/imports/systems.py.

FOSSBilling keeps a client in one row of its `client` table (install/sql/structure.sql) and
its groups in `client_group`. What comes along: the client's ID (kept as the client ID), name,
company, address, email, phone (`phone_cc` and `phone`), Tax ID (`company_vat`), tax exemption,
currency, language, group, status (suspended and canceled clients become inactive), the
staff's notes on the client (`notes`, one note), the ten custom fields `custom_1`…`custom_10`
(as custom fields "Custom 1"…, in the groups whose clients have values: FOSSBilling keeps the
titles it shows for them encrypted with its installation's key, so staff rename them in the
portal), and whether the client confirmed its email address (`email_approved`). FOSSBilling
records no marketing consent, so nobody is opted in; passwords are never imported."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from portal.core.errors import ValidationError
from portal.core.forms import without_control_characters
from portal.imports.systems import (
    NoteExtra,
    Snapshot,
    SnapshotWriter,
    field_type,
    open_database,
    pymysql,
    read_all,
    reason,
    rows_by_id,
)

SYSTEM = "FOSSBilling"
CUSTOM_COLUMNS = [f"custom_{n}" for n in range(1, 11)]
NOTE_TITLE = "Notes from FOSSBilling"
GROUP_NAME_LENGTH = 100
# The CSV import's targets a FOSSBilling client fills, in the snapshot's column order.
COLUMNS = [
    "client_id",
    "first_name",
    "last_name",
    "company",
    "address1",
    "address2",
    "city",
    "country",
    "state",
    "zip",
    "email",
    "phone",
    "tax_exempt",
    "tax_id",
    "preferred_currency",
    "language",
    "group",
    "status",
]
# The code's own column names; the values travel as parameters.
CLIENTS_SQL = (
    "SELECT id, client_group_id, email, status, email_approved, tax_exempt, first_name, "  # noqa: S608
    "last_name, phone_cc, phone, company, company_vat, address_1, address_2, city, state, "
    f"postcode, country, notes, currency, lang, {', '.join(CUSTOM_COLUMNS)} "
    "FROM client WHERE id > %s ORDER BY id LIMIT %s"
)
# The longest value of each custom column, by group (NULL: none; 0: only empty values).
CUSTOM_SQL = (
    "SELECT client_group_id, "  # noqa: S608 - the code's own column names
    + ", ".join(f"MAX(CHAR_LENGTH(TRIM({name}))) AS {name}" for name in CUSTOM_COLUMNS)
    + " FROM client GROUP BY client_group_id"
)
NOT_IMPORTED = (
    "Not imported from FOSSBilling: passwords (clients choose new ones with “Forgot your "
    "password?”), orders, services, invoices, transactions, balances, support tickets, and "
    "the client fields the portal has no place for (gender, birthday, document and company "
    "numbers, referrer)."
)


def custom_label(column: str) -> str:
    return "Custom " + column.removeprefix("custom_")


def _text(value: Any) -> str:
    return "" if value is None else without_control_characters(str(value)).strip()


def _phone(row: dict[str, Any]) -> str:
    """FOSSBilling keeps the country calling code apart from the number."""
    code, number = _text(row["phone_cc"]).lstrip("+"), _text(row["phone"])
    return f"+{code} {number}" if code and number and not number.startswith("+") else number


def _group_names(cursor: Any) -> dict[int, str]:
    names = {}
    for row in read_all(cursor, "SELECT id, title FROM client_group ORDER BY id"):
        name = _text(row["title"])[:GROUP_NAME_LENGTH] or f"FOSSBilling group {row['id']}"
        names[row["id"]] = name
    return names


def _custom_fields(cursor: Any, groups: dict[int, str]) -> dict[str, dict[str, str]]:
    """The custom fields each group's clients have values for, by group name."""
    longest: dict[str, dict[str, int]] = {}
    for row in read_all(cursor, CUSTOM_SQL):
        lengths = longest.setdefault(groups.get(row["client_group_id"], ""), {})
        for column in CUSTOM_COLUMNS:
            if row[column]:
                label = custom_label(column)
                lengths[label] = max(lengths.get(label, 0), row[column])
    return {
        group: {label: field_type(length) for label, length in lengths.items()}
        for group, lengths in longest.items()
        if lengths
    }


def read(url: str, folder: Path) -> Snapshot:
    """Reads the FOSSBilling database at `url` into a snapshot in `folder`, a chunk of clients
    at a time. Runs off the event loop (PyMySQL blocks)."""
    connection = open_database(url, SYSTEM)
    name = connection.db.decode() if isinstance(connection.db, bytes) else connection.db
    snapshot = Snapshot(
        system=SYSTEM,
        source=f"FOSSBilling database {name}",
        clients_csv=folder / "clients.csv",
        extras=folder / "extras.jsonl",
        not_imported=NOT_IMPORTED,
    )
    try:
        with connection.cursor() as cursor:
            groups = _group_names(cursor)
            snapshot.custom_fields = _custom_fields(cursor, groups)
            snapshot.groups = sorted(set(groups.values()), key=str.casefold)
            labels = sorted(
                {label for kinds in snapshot.custom_fields.values() for label in kinds},
                key=lambda label: int(label.split()[-1]),
            )
            with SnapshotWriter(snapshot, COLUMNS, labels) as writer:
                for row in rows_by_id(cursor, CLIENTS_SQL):
                    _write_client(writer, row, groups)
    except pymysql.MySQLError as error:
        raise ValidationError(
            {"database": f"The database {name} cannot be read as FOSSBilling's: {reason(error)}."}
        ) from None
    finally:
        connection.close()
    if not writer.clients:
        raise ValidationError({"database": f"The FOSSBilling database {name} has no clients."})
    return snapshot


def _write_client(writer: SnapshotWriter, row: dict[str, Any], groups: dict[int, str]) -> None:
    values = {
        "client_id": str(row["id"]),
        "first_name": _text(row["first_name"]),
        "last_name": _text(row["last_name"]),
        "company": _text(row["company"]),
        "address1": _text(row["address_1"]),
        "address2": _text(row["address_2"]),
        "city": _text(row["city"]),
        "country": _text(row["country"]),
        "state": _text(row["state"]),
        "zip": _text(row["postcode"]),
        "email": _text(row["email"]),
        "phone": _phone(row),
        "tax_exempt": "yes" if row["tax_exempt"] else "no",
        "tax_id": _text(row["company_vat"]),
        "preferred_currency": _text(row["currency"]),
        "language": _text(row["lang"]),
        "group": groups.get(row["client_group_id"], ""),
        "status": _text(row["status"]),
    }
    custom = {custom_label(column): _text(row[column]) for column in CUSTOM_COLUMNS}
    note = _text(row["notes"])
    writer.add(
        values,
        custom,
        [NoteExtra(NOTE_TITLE, note)] if note else [],
        email_verified=bool(row["email_approved"]),
    )
