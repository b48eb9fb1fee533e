"""Moving in from another billing system's database (`portal import fossbilling`).

A reader of the system's tables (portal/imports/fossbilling.py) writes a **snapshot**: the
clients as a CSV file whose headers are the portal's own labels, so that the CSV import maps
it by itself, and a file of what a CSV row cannot carry (notes, an email address the system
had verified), one JSON line per client. One job then imports the snapshot:

1. the client groups the clients belong to and the custom fields they have values for are
   created where the portal lacks them (by name, through the client groups services);
2. the rows go through the CSV import's own run (`ImportRun`): checked as Add Client checks
   them, written by `insert_clients`, IDs kept, clients that exist skipped;
3. the extras are attached to the clients the rows became, found by their kept ID and email.

Every step can run again: a job taken over after a crash goes on from the import's
checkpoint, and groups, fields and notes that exist are not made twice, so importing the
same database again adds nothing.

The database is read by the command line only, before the job starts: a database address
given to the server from a web form would let staff make the server connect anywhere. Its
password is never stored; the job works from the snapshot."""

from __future__ import annotations

import csv
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import unquote, urlsplit

import anyio.to_thread

from portal.client_groups.services import (
    FieldDetails,
    GroupDetails,
    create_field,
    create_group,
    default_group_id,
    list_fields,
    list_groups,
)
from portal.clients import notes
from portal.clients.tables import AccountUser, ClientNote
from portal.core.actors import Actor
from portal.core.db import write_transactions
from portal.core.errors import ValidationError
from portal.core.lazy import lazy_module
from portal.core.permissions import CLIENTS_EDIT, CLIENTS_IMPORT
from portal.core.placeholders import placeholders
from portal.imports import services as imports
from portal.imports.fields import TARGETS
from portal.jobs import services as jobs

# PyMySQL is loaded when an import first reads another system's database.
pymysql = lazy_module("pymysql")

KINDS = {"FOSSBilling": "import-fossbilling"}
EXTRAS_BATCH = 500
CONNECT_SECONDS = 10
TEXTBOX_LENGTH = 255  # a longer custom value needs a Textarea field


# --- the source database ---------------------------------------------------------------------


def open_database(url: str, system: str) -> pymysql.connections.Connection:
    """A read connection to a MySQL/MariaDB database given as
    mysql://user:password@host:port/name; a ValidationError that names the database (never
    the password) when it cannot be opened."""
    parts = urlsplit(url)
    name = unquote(parts.path.lstrip("/"))
    try:
        port = parts.port or 3306
    except ValueError:
        port = None
    if parts.scheme not in {"mysql", "mariadb"} or not name or port is None:
        raise ValidationError(
            {"database": "Give the database as mysql://user:password@host:port/name."}
        )
    host = parts.hostname or "127.0.0.1"
    try:
        return pymysql.connect(
            host=host,
            port=port,
            user=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            database=name,
            charset="utf8mb4",
            cursorclass=pymysql.cursors.DictCursor,
            connect_timeout=CONNECT_SECONDS,
        )
    except pymysql.MySQLError as error:
        raise ValidationError(
            {
                "database": f"Cannot open the {system} database {name} at {host}:{port}: "
                f"{reason(error)}."
            }
        ) from None


def reason(error: pymysql.MySQLError) -> str:
    """The server's words for an error, without its code."""
    return str(error.args[-1]) if error.args else str(error)


def read_all(cursor: Any, sql: str, *params: Any) -> list[dict[str, Any]]:
    cursor.execute(sql, params)
    return list(cursor.fetchall())


def rows_by_id(cursor: Any, sql: str, chunk: int = 1000) -> Iterator[dict[str, Any]]:
    """The rows of `sql` (a SELECT with `WHERE id > %s ORDER BY id LIMIT %s` at its end) a
    chunk at a time, by ID, so that memory stays flat whatever the table's size."""
    last_id = 0
    while rows := read_all(cursor, sql, last_id, chunk):
        yield from rows
        last_id = rows[-1]["id"]


# --- the snapshot ----------------------------------------------------------------------------


@dataclass(frozen=True)
class NoteExtra:
    title: str
    body: str
    sticky: bool = False


@dataclass
class Snapshot:
    """What a reader made of a system's database, in a folder the caller owns."""

    system: str  # "FOSSBilling"
    source: str  # where the clients come from, as their history and consent records say
    clients_csv: Path
    extras: Path
    groups: list[str] = field(default_factory=list)  # the groups the clients belong to
    # The custom fields the clients have values for: group ("" the default) -> label -> type.
    custom_fields: dict[str, dict[str, str]] = field(default_factory=dict)
    not_imported: str = ""  # one sentence: what the system holds that does not come along


class SnapshotWriter:
    """Writes a snapshot's two files a client at a time (memory stays flat)."""

    def __init__(self, snapshot: Snapshot, columns: list[str], custom_labels: list[str]) -> None:
        self.snapshot = snapshot
        self.columns = columns  # the CSV import's targets the reader fills, in order
        self.custom_labels = custom_labels
        self.clients_file: TextIO = snapshot.clients_csv.open("w", newline="", encoding="utf-8")
        self.extras_file: TextIO = snapshot.extras.open("w", encoding="utf-8")
        self.writer = csv.writer(self.clients_file)
        self.writer.writerow([TARGETS[target] for target in columns] + custom_labels)
        self.row = 1  # the header's

    @property
    def clients(self) -> int:
        return self.row - 1

    def add(
        self,
        values: dict[str, str],
        custom: dict[str, str],
        notes: list[NoteExtra],
        email_verified: bool,
    ) -> None:
        """A client: its values by target (client_id and email among them), its custom
        values by label, and its extras."""
        self.row += 1
        self.writer.writerow(
            [values.get(target, "") for target in self.columns]
            + [custom.get(label, "") for label in self.custom_labels]
        )
        if notes or email_verified:
            extra = {
                "row": self.row,
                "number": values["client_id"],
                "email": values["email"],
                "notes": [vars(note) for note in notes],
                "email_verified": email_verified,
            }
            self.extras_file.write(json.dumps(extra) + "\n")

    def close(self) -> None:
        self.clients_file.close()
        self.extras_file.close()

    def __enter__(self) -> SnapshotWriter:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def field_type(longest_value: int) -> str:
    return "textarea" if longest_value > TEXTBOX_LENGTH else "textbox"


# --- starting --------------------------------------------------------------------------------


async def start(company_id: int, snapshot: Snapshot, dry_run: bool, actor: Actor) -> int:
    """Keeps the snapshot's files and queues the job that imports them."""
    actor.require(CLIENTS_IMPORT, CLIENTS_EDIT)
    file_id = await imports.upload(
        company_id, f"{snapshot.source}.csv", snapshot.clients_csv, actor
    )
    extras_id = await jobs.save_file(
        company_id, f"{snapshot.source} extras.jsonl", jobs.local_chunks(snapshot.extras)
    )
    preview = await imports.preview(company_id, file_id, actor)
    verb = "Dry run of the import" if dry_run else "Import"
    return await jobs.start(
        company_id,
        KINDS[snapshot.system],
        f"{verb} from the {snapshot.source}",
        {
            # What the CSV import's run reads (see imports.start); the job maps the columns
            # once the custom fields exist.
            "file_id": file_id,
            "file_name": snapshot.source,
            "encoding": preview.csv_format.encoding,
            "delimiter": preview.csv_format.delimiter,
            "on_duplicate": "skip",
            "dry_run": dry_run,
            "invite": False,
            # What this job adds.
            "extras_file": extras_id,
            "groups": snapshot.groups,
            "custom_fields": snapshot.custom_fields,
            "not_imported": snapshot.not_imported,
        },
        actor,
    )


# --- the job ---------------------------------------------------------------------------------


@dataclass
class Made:
    """What the job made besides clients, for its report."""

    groups: list[str] = field(default_factory=list)
    fields: int = 0
    notes: int = 0
    verified: int = 0

    def sentence(self, dry_run: bool) -> str:
        would = "would be " if dry_run else ""
        parts = []
        if self.groups:
            parts.append(f"client groups {would}created: {', '.join(self.groups)}")
        if self.fields:
            parts.append(f"{self.fields:,} custom fields {would}created")
        parts.append(f"{self.notes:,} notes {would}added")
        parts.append(f"{self.verified:,} email addresses {would}kept as verified")
        text = "; ".join(parts)
        return text[0].upper() + text[1:] + "."


async def _groups_and_fields(run: jobs.JobRun, made: Made) -> None:
    """The groups and custom fields the snapshot needs that the company lacks; in a dry run
    they are only named."""
    company_id, payload = run.company_id, run.payload
    group_ids = {
        group["name"].casefold(): group["id"]
        for group in await list_groups(company_id, with_counts=False)
    }
    for name in payload["groups"]:
        if name.casefold() in group_ids:
            continue
        made.groups.append(name)
        if not payload["dry_run"]:
            details = GroupDetails(name=name)
            group_ids[name.casefold()] = await create_group(company_id, details, run.actor)
    default = await default_group_id(company_id)
    for group_name, fields in payload["custom_fields"].items():
        group_id = group_ids.get(group_name.casefold()) if group_name else default
        labels = (
            {row["label"].casefold() for row in await list_fields(company_id, group_id)}
            if group_id is not None
            else set()
        )
        for label, kind in fields.items():
            if label.casefold() in labels:
                continue
            made.fields += 1
            if group_id is not None and not payload["dry_run"]:
                details = FieldDetails(label=label, field_type=kind)
                await create_field(company_id, group_id, details, run.actor)


def _read_extras(lines: Iterator[str]) -> list[dict[str, Any]]:
    """Off the event loop: the next batch of the extras file."""
    return [json.loads(line) for line in itertools.islice(lines, EXTRAS_BATCH)]


async def _imported_clients(company_id: int, batch: list[dict[str, Any]]) -> dict[int, int]:
    """{kept number: client} of the batch's entries whose client the import made (or made
    before): the company's client with that number and that primary email. A row that was
    left out, or an existing client with another number, gets nothing."""
    numbers = sorted({int(entry["number"]) for entry in batch})
    rows = await imports.company_rows_with(
        "SELECT c.id, c.number, lower(ct.email) AS email FROM client c "
        "JOIN contact ct ON ct.client = c.id AND ct.contact_type = 'primary' "
        "WHERE c.company = {} AND c.number IN ({values})",
        company_id,
        numbers,
    )
    emails = {int(entry["number"]): entry["email"].strip().casefold() for entry in batch}
    return {row["number"]: row["id"] for row in rows if emails.get(row["number"]) == row["email"]}


async def _attach_extras(run: jobs.JobRun, made: Made) -> None:
    """Notes and verified addresses, to the clients the rows became, a batch at a time; a
    note the client has already (the same title and text) is not added again."""
    company_id, dry_run = run.company_id, run.payload["dry_run"]
    async with jobs.local_copy(run.payload["extras_file"]) as path:
        with path.open(encoding="utf-8") as file:
            lines = iter(file)
            while batch := await anyio.to_thread.run_sync(_read_extras, lines):
                if dry_run:
                    made.notes += sum(len(entry["notes"]) for entry in batch)
                    made.verified += sum(entry["email_verified"] for entry in batch)
                    continue
                await _attach_batch(run, made, batch, await _imported_clients(company_id, batch))


async def _attach_batch(
    run: jobs.JobRun, made: Made, batch: list[dict[str, Any]], clients: dict[int, int]
) -> None:
    kept = {
        (row["client"], row["title"], row["body"])
        for row in await ClientNote.select(
            ClientNote.client, ClientNote.title, ClientNote.body
        ).where(ClientNote.client.is_in(sorted(clients.values()) or [0]))
    }
    limit = notes.BODY.max_length or 0
    problems = []
    verified = []
    for entry in batch:
        client_id = clients.get(int(entry["number"]))
        if client_id is None:
            continue  # its row was left out or skipped: the import's problems say why
        for note in entry["notes"]:
            title, body = notes.kept_text(note["title"]), notes.kept_text(note["body"])
            if len(body) > limit:
                body = body[:limit].rstrip()
                message = f"The note was cut to its first {limit:,} characters."
                problems.append(jobs.Problem(entry["row"], "", message))
            if (client_id, title, body) in kept:
                continue
            details = notes.NoteDetails(title, body, note["sticky"])
            await notes.add_note(run.company_id, client_id, details, run.actor)
            kept.add((client_id, title, body))
            made.notes += 1
        if entry["email_verified"]:
            verified.append(client_id)
    async for transaction in write_transactions():
        async with transaction:
            if verified:
                made.verified += await _mark_verified(verified)
            await run.step(problems=problems)


async def _mark_verified(client_ids: list[int]) -> int:
    """The owners' logins of these clients, whose address the other system had verified,
    count as verified while they keep that address (the primary contact's)."""
    rows = await AccountUser.raw(
        # Placeholders only: the values travel as parameters.
        "UPDATE account_user SET email_verified_at = {} WHERE email_verified_at IS NULL "  # noqa: S608
        "AND id IN (SELECT ct.login FROM contact ct WHERE ct.contact_type = 'primary' "
        f"AND ct.client IN ({placeholders(len(client_ids))}) "
        "AND lower(ct.email) = lower(account_user.email)) "
        "RETURNING id",
        datetime.now(UTC),
        *client_ids,
    )
    return len(rows)


@jobs.handles(KINDS["FOSSBilling"], permission=CLIENTS_IMPORT)
async def run_system_import(run: jobs.JobRun) -> str:
    run.actor.require(CLIENTS_IMPORT, CLIENTS_EDIT)
    payload = run.payload
    made = Made()
    await _groups_and_fields(run, made)
    lookups = await imports.lookups_of(run.company_id)
    for name in made.groups if payload["dry_run"] else ():
        # Not made in a dry run: its rows are checked under the default group's rules.
        lookups.groups[name.casefold()] = lookups.default_group_id
    # Columns map themselves now that the custom fields exist.
    preview = await imports.preview(run.company_id, payload["file_id"], run.actor)
    payload["mapping"] = preview.mapping
    async with jobs.local_copy(payload["file_id"]) as path:
        summary = await imports.ImportRun(run, path, lookups)()
    await _attach_extras(run, made)
    return " ".join(
        filter(None, [summary, made.sentence(payload["dry_run"]), payload["not_imported"]])
    )
