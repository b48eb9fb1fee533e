"""Export of a client's personal data (GDPR Art. 15 and 20): a ZIP with one JSON document (all
of it, by section) and a CSV file per section: details, contacts, phone numbers, custom field
values (decrypted), consent history, mail log, invoices, transactions, services, logins and
their sign-ins. Staff-only notes are counted but left out unless staff choose to include them.

It is a background job (portal.jobs): rows are read a page at a time and written to temporary
files off the event loop, then zipped from there, so memory stays bounded whatever the client's
size. The ZIP is kept for LIFETIME, then deleted: staff download it from the job's page, a
client user (with the Account details permission) from the client area, in the session that
asked for it and no other. While an export of an account is being prepared, asking again
gives that one (or, from another client session, a message), never a second job.
"""

from __future__ import annotations

import csv
import hashlib
import json
import tempfile
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import anyio.to_thread
from piccolo.table import Table

from portal.billing.money import plain_amount
from portal.billing.tables import Invoice, Service, Transaction
from portal.client_area.services import ClientUser
from portal.client_groups.services import custom_values
from portal.client_groups.tables import CustomField
from portal.clients import audit, users
from portal.clients.services import get_client
from portal.clients.tables import (
    AccountUser,
    Client,
    ClientNote,
    ConsentEvent,
    Contact,
    ContactNumber,
)
from portal.companies.services import get_company
from portal.core.actors import Actor
from portal.core.db import lock_name, write_transactions
from portal.core.errors import NotFound, ValidationError
from portal.core.i18n import N_
from portal.core.lookups import company_row
from portal.core.permissions import CLIENTS_PRIVACY, Forbidden
from portal.jobs import services as jobs
from portal.mail import services as mail
from portal.mail.tables import MailMessage
from portal.privacy import services
from portal.privacy.services import RequestLine
from portal.privacy.tables import DataRequest
from portal.security import logins
from portal.security.tables import LoginSession

KIND = "privacy-export"
LIFETIME = timedelta(hours=24)
PAGE_ROWS = 500
DOCUMENT = "personal-data.json"
BUSY = N_(
    "An export of this account's data is being prepared already, asked from another session. "
    "Try again when it is ready."
)


class ExportExpired(Exception):
    """The export's download time is over (its file is gone): 410."""


def session_hash(handle: str) -> str:
    """What the log keeps of the sign-in a client-area export belongs to."""
    return hashlib.sha256(handle.encode()).hexdigest()


# --- asking for an export ---------------------------------------------------------------------


@dataclass(frozen=True)
class Started:
    request_id: int
    job_id: int
    already: bool  # an export of the account was being prepared: this is that one


async def start_export(
    company_id: int,
    client_id: int,
    actor: Actor,
    *,
    include_notes: bool = False,
    session_handle: str = "",
) -> Started:
    """Queues an export of the client's personal data (staff: `include_notes`; a user of the
    account with its Account details permission: the `session_handle` of its sign-in, the only
    session that may download it). While one is being prepared, staff get that one, and so
    does the client session that asked for it; another client session is refused with BUSY."""
    by_client = actor.kind == "client"
    if by_client:
        # A user of the account, allowed its details.
        member = await users.membership(actor.id or 0, client_id)
        if member is None or member.company_id != company_id:
            raise NotFound()
        if not member.may("details"):
            raise Forbidden("account.details")
    else:
        actor.require(CLIENTS_PRIVACY)
    session = session_hash(session_handle) if by_client else ""
    async for transaction in write_transactions():
        async with transaction:
            client = await company_row(Client, company_id, client_id, Client.code)
            await lock_name(f"privacy-export:{client_id}")
            running = await _being_prepared(company_id, client_id)
            if running is not None:
                if not by_client or running.session_hash == session:
                    return Started(running.id, running.job_id or 0, already=True)
                raise ValidationError({"": BUSY})
            request_id = await services.record(
                company_id,
                "export",
                actor,
                client_id=client_id,
                client_code=client["code"],
                session_hash=session,
                include_notes=include_notes and not by_client,
            )
            job_id = await jobs.start(
                company_id,
                KIND,
                f"Personal data of client {client['code']}",
                {"request": request_id, "return_to": f"/admin/clients/{client_id}/privacy"},
                actor,
                total=1,
            )
            await DataRequest.update({DataRequest.job: job_id}).where(DataRequest.id == request_id)
    return Started(request_id, job_id, already=False)


async def _being_prepared(company_id: int, client_id: int) -> RequestLine | None:
    lines = await services.client_requests(company_id, client_id, "export")
    return next((line for line in lines if line.preparing), None)


# --- the client area's downloads --------------------------------------------------------------


async def session_export(user: ClientUser, handle: str) -> RequestLine | None:
    """The latest export this sign-in of the user asked for in its account, if any."""
    session = session_hash(handle)
    lines = await services.client_requests(user.company_id, user.id, "export")
    return next(
        (
            line
            for line in lines
            if line.requester == f"client:{user.user_id}" and line.session_hash == session
        ),
        None,
    )


async def client_download(user: ClientUser, request_id: int, handle: str) -> dict[str, Any]:
    """The file of an export for its download in the client area: only in the session that
    asked for it (another session, user or account: NotFound), while it is ready (NotFound)
    and until it expires (ExportExpired)."""
    line = await services.request_line(user.company_id, request_id)
    if (
        line is None
        or line.kind != "export"
        or line.client_id != user.id
        or line.requester != f"client:{user.user_id}"
        or line.session_hash != session_hash(handle)
        or line.job_id is None
    ):
        raise NotFound()
    if line.status == "done" and line.expired:
        raise ExportExpired()
    if line.status != "done":
        raise NotFound()
    return await jobs.result_file(user.company_id, line.job_id, user.actor)


async def drop_expired() -> None:
    """Housekeeping: the files of exports whose time is over go (the log keeps the lines)."""
    rows = await DataRequest.raw(
        "SELECT r.company, r.job FROM data_request r JOIN job j ON j.id = r.job "
        "WHERE r.kind = 'export' AND r.expires_at < {} AND j.result_file IS NOT NULL",
        datetime.now(UTC),
    )
    for row in rows:
        await jobs.drop_result(row["company"], row["job"])


# --- the ZIP ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Section:
    name: str  # the JSON document's key and the CSV file's name
    columns: tuple[str, ...]


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"not exported as JSON: {type(value).__name__}")


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return jobs.formula_safe(str(value))


class ExportFiles:
    """The export's files in a temporary folder: the JSON document, written as sections come,
    and a CSV file a section. Its methods do file work: call them off the event loop."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.document: IO[str] = (folder / DOCUMENT).open("w", encoding="utf-8")
        self.document.write("{")
        self.csv_names: list[str] = []
        self.counts: dict[str, int] = {}
        self._csv: IO[str] | None = None
        self._writer: Any = None
        self._rows = 0

    def _key(self, name: str) -> None:
        self.document.write(("\n" if not self.counts else ",\n") + json.dumps(name) + ": ")

    def begin(self, section: Section) -> None:
        self._key(section.name)
        self.counts[section.name] = 0
        self.document.write("[")
        self._rows = 0
        self._open_csv(section)

    def _open_csv(self, section: Section) -> None:
        self.csv_names.append(f"{section.name}.csv")
        # utf-8-sig: spreadsheets then read the accents right.
        self._csv = (self.folder / f"{section.name}.csv").open(
            "w", encoding="utf-8-sig", newline=""
        )
        self._writer = csv.writer(self._csv)
        self._writer.writerow(section.columns)

    def one(self, section: Section, row: dict[str, Any]) -> None:
        """A section that is one object (the client's details): an object in the document, one
        row in its CSV file."""
        self._key(section.name)
        self.counts[section.name] = 1
        self.document.write(self._dumps(row))
        self._open_csv(section)
        self._writer.writerow([_csv_cell(row.get(column)) for column in section.columns])
        assert self._csv is not None
        self._csv.close()

    def rows(self, section: Section, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            self.document.write(("\n  " if not self._rows else ",\n  ") + self._dumps(row))
            self._writer.writerow([_csv_cell(row.get(column)) for column in section.columns])
            self._rows += 1
        self.counts[section.name] = self._rows

    def end(self) -> None:
        self.document.write("\n]" if self._rows else "]")
        assert self._csv is not None
        self._csv.close()

    def value(self, name: str, value: dict[str, Any]) -> None:
        """An object in the document alone (the export's own facts)."""
        self._key(name)
        self.document.write(self._dumps(value))

    @staticmethod
    def _dumps(value: Any) -> str:
        return json.dumps(value, default=_json_value, ensure_ascii=False)

    def zip(self, name: str) -> Path:
        self.document.write("\n}\n")
        self.document.close()
        path = self.folder / name
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for file_name in [DOCUMENT, *self.csv_names]:
                archive.write(self.folder / file_name, arcname=file_name)
        return path


Rows = AsyncIterator[list[dict[str, Any]]]


async def _paged(page_after: Callable[[int], Awaitable[list[dict[str, Any]]]]) -> Rows:
    """The rows of a query a page at a time, by id (`page_after(last id)`)."""
    last = 0
    while True:
        rows = await page_after(last)
        if rows:
            yield rows
        if len(rows) < PAGE_ROWS:
            return
        last = rows[-1]["id"]


def _mapped(rows: Rows, shape: Callable[[dict[str, Any]], dict[str, Any]]) -> Rows:
    async def mapped() -> Rows:
        async for page in rows:
            yield [shape(row) for row in page]

    return mapped()


def _rows_of(
    table: type[Table],
    where: Any,
    shape: Callable[[dict[str, Any]], dict[str, Any]],
    *columns: Any,
) -> Rows:
    """The rows of `table` that meet `where`, with its `columns` (none: all), a page at a
    time by id, each as `shape` makes it."""

    async def page_after(last: int) -> list[dict[str, Any]]:
        return await (
            table.select(*columns).where(where, table.id > last).order_by(table.id).limit(PAGE_ROWS)
        )

    return _mapped(_paged(page_after), shape)


async def _once(rows: list[dict[str, Any]]) -> Rows:
    if rows:
        yield rows


CONTACT_COLUMNS = (
    "first_name",
    "last_name",
    "company",
    "title",
    "address1",
    "address2",
    "city",
    "state",
    "zip",
    "country",
    "email",
)
DETAILS = Section(
    "details",
    (
        "client_id",
        "status",
        "client_group",
        *CONTACT_COLUMNS,
        "tax_exempt",
        "tax_id",
        "preferred_currency",
        "language",
        "marketing_opt_in",
        "created_at",
        "updated_at",
    ),
)
CONTACTS = Section(
    "contacts", ("contact_id", "type", *CONTACT_COLUMNS, "marketing_opt_in", "login")
)
NUMBERS = Section(
    "phone_numbers", ("contact_id", "contact_type", "type", "location", "number", "extension")
)
CUSTOM = Section("custom_fields", ("field", "value", "encrypted_at_rest"))
CONSENT = Section(
    "consent", ("at", "opted_in", "contact_id", "who", "through", "wording", "address")
)
MAIL = Section("mail_log", ("created_at", "sent_at", "kind", "to", "subject", "body", "status"))
INVOICES = Section(
    "invoices",
    (
        "number",
        "description",
        "currency",
        "date_billed",
        "date_due",
        "status",
        "subtotal",
        "tax_rate",
        "tax",
        "total",
        "amount_paid",
    ),
)
TRANSACTIONS = Section(
    "transactions",
    (
        "type",
        "currency",
        "amount",
        "amount_applied",
        "method",
        "reference",
        "date_received",
        "invoice",
    ),
)
SERVICES = Section(
    "services",
    ("name", "package", "status", "price", "currency", "term_months", "renewal_date", "created_at"),
)
LOGINS = Section(
    "logins",
    (
        "username",
        "name",
        "email",
        "owner",
        "permissions",
        "created_at",
        "last_login_at",
        "last_login_address",
        "email_verified_at",
    ),
)
SIGN_INS = Section(
    "sign_ins",
    (
        "username",
        "method",
        "started_at",
        "last_seen_at",
        "ended_at",
        "address",
        "device",
        "opened_by_staff",
    ),
)
NOTES = Section("notes", ("title", "body", "sticky", "created_at", "updated_at"))


@dataclass(frozen=True)
class ExportSource:
    """What an export holds: the client, whether staff included their notes, and whose logins
    and sign-ins (`sign_ins_of`: one user's, asked in the client area; None: every login's)."""

    company_id: int
    client_id: int
    include_notes: bool
    sign_ins_of: int | None


async def build_export(source: ExportSource, folder: Path, name: str) -> Path:
    """Writes the ZIP `name` into `folder` (a temporary one) and returns its path."""
    client = await get_client(source.company_id, source.client_id)
    company = await get_company(source.company_id)
    files = await anyio.to_thread.run_sync(ExportFiles, folder)

    async def put(section: Section, rows: Rows) -> None:
        await anyio.to_thread.run_sync(files.begin, section)
        async for page in rows:
            await anyio.to_thread.run_sync(files.rows, section, page)
        await anyio.to_thread.run_sync(files.end)

    contact = client.contact
    details = {
        "client_id": client.code,
        "status": client.status,
        "client_group": client.group_name,
        **{column: contact[column] for column in CONTACT_COLUMNS},
        "tax_exempt": client.tax_exempt,
        "tax_id": client.tax_id,
        "preferred_currency": client.preferred_currency,
        "language": client.language,
        "marketing_opt_in": client.marketing_opt_in,
        "created_at": client.created_at,
        "updated_at": client.updated_at,
    }
    await anyio.to_thread.run_sync(files.one, DETAILS, details)
    client_id = source.client_id
    await put(CONTACTS, _contacts(client_id))
    await put(NUMBERS, _numbers(client_id))
    await put(CUSTOM, _once(await _custom_values(client_id)))
    await put(CONSENT, _consent(client_id))
    await put(MAIL, _mail(client_id))
    await put(INVOICES, _invoices(client_id))
    await put(TRANSACTIONS, _transactions(client_id))
    await put(SERVICES, _services(client_id))
    members = await _members(client_id)
    if source.sign_ins_of is not None:  # the other users are people of their own
        members = [member for member in members if member["id"] == source.sign_ins_of]
    await put(LOGINS, _once([{k: v for k, v in m.items() if k != "id"} for m in members]))
    await put(SIGN_INS, _sign_ins({row["id"]: row["username"] for row in members}))
    notes = await ClientNote.count().where(ClientNote.client == client_id)
    if source.include_notes:
        await put(NOTES, _notes(client_id))
    facts = {
        "company": company["name"],
        "client_id": client.code,
        "created_at": datetime.now(UTC),
        "staff_only_notes": {"count": notes, "included": source.include_notes},
        "rows": dict(files.counts),
        "amounts": "decimal text in the currency of the row",
    }
    await anyio.to_thread.run_sync(files.value, "export", facts)
    return await anyio.to_thread.run_sync(files.zip, name)


def _contacts(client_id: int) -> Rows:
    def shape(row: dict[str, Any]) -> dict[str, Any]:
        return {
            "contact_id": row["id"],
            "type": row["contact_type"],
            **{column: row[column] for column in CONTACT_COLUMNS},
            "marketing_opt_in": row["marketing_opt_in"],
            "login": row["login.username"] or "",
        }

    return _rows_of(
        Contact, Contact.client == client_id, shape, Contact.all_columns(), Contact.login.username
    )


def _numbers(client_id: int) -> Rows:
    def shape(row: dict[str, Any]) -> dict[str, Any]:
        return {
            "contact_id": row["contact"],
            "contact_type": row["contact.contact_type"],
            "type": row["number_type"],
            "location": row["location"],
            "number": row["number"],
            "extension": row["extension"],
        }

    return _rows_of(
        ContactNumber,
        ContactNumber.contact.client == client_id,
        shape,
        ContactNumber.all_columns(),
        ContactNumber.contact.contact_type,
    )


async def _custom_values(client_id: int) -> list[dict[str, Any]]:
    values = await custom_values(client_id)
    fields = await CustomField.select(
        CustomField.id, CustomField.label, CustomField.encrypted
    ).where(CustomField.id.is_in(sorted(values) or [0]))
    return [
        {
            "field": field["label"],
            "value": values[field["id"]],
            "encrypted_at_rest": field["encrypted"],
        }
        for field in sorted(fields, key=lambda f: f["id"])
    ]


def _consent(client_id: int) -> Rows:
    async def page_after(last: int) -> list[dict[str, Any]]:
        rows = (
            await ConsentEvent.select()
            .where(ConsentEvent.client == client_id, ConsentEvent.id > last)
            .order_by(ConsentEvent.id)
            .limit(PAGE_ROWS)
        )
        return [
            {
                "id": row["id"],
                "at": row["at"],
                "opted_in": row["opted_in"],
                "contact_id": row["contact"],
                "who": who,
                "through": through,
                "wording": row["wording"],
                "address": row["address"],
            }
            for row, (who, through) in zip(rows, await audit.consent_words(rows), strict=True)
        ]

    return _mapped(_paged(page_after), lambda row: {k: v for k, v in row.items() if k != "id"})


def _mail(client_id: int) -> Rows:
    def shape(row: dict[str, Any]) -> dict[str, Any]:
        return {
            "created_at": row["created_at"],
            "sent_at": row["sent_at"],
            "kind": row["kind"],
            "to": row["to_address"],
            "subject": row["subject"],
            "body": mail.shareable_body(row["kind"], row["body_text"]),
            "status": row["status"],
        }

    return _rows_of(MailMessage, MailMessage.client == client_id, shape)


def _invoices(client_id: int) -> Rows:
    def shape(row: dict[str, Any]) -> dict[str, Any]:
        currency = row["currency"]
        amounts = ("subtotal", "tax", "total", "amount_paid")
        return {
            **{name: row[name] for name in ("number", "description", "currency", "status")},
            **{name: row[name] for name in ("date_billed", "date_due", "tax_rate")},
            **{name: plain_amount(row[name], currency) for name in amounts},
        }

    return _rows_of(Invoice, Invoice.client == client_id, shape)


def _transactions(client_id: int) -> Rows:
    def shape(row: dict[str, Any]) -> dict[str, Any]:
        currency = row["currency"]
        return {
            "type": row["transaction_type"],
            "currency": currency,
            "amount": plain_amount(row["amount"], currency),
            "amount_applied": plain_amount(row["amount_applied"], currency),
            "method": row["method"],
            "reference": row["reference"],
            "date_received": row["date_received"],
            "invoice": row["invoice.number"],
        }

    return _rows_of(
        Transaction,
        Transaction.client == client_id,
        shape,
        Transaction.all_columns(),
        Transaction.invoice.number,
    )


def _services(client_id: int) -> Rows:
    def shape(row: dict[str, Any]) -> dict[str, Any]:
        kept = ("name", "package", "status", "currency", "term_months", "renewal_date")
        return {
            **{name: row[name] for name in kept},
            "price": plain_amount(row["price"], row["currency"]),
            "created_at": row["created_at"],
        }

    return _rows_of(Service, Service.client == client_id, shape)


async def _members(client_id: int) -> list[dict[str, Any]]:
    """The account's logins (a few; the Users page's), with what the export shows of them and
    their id for their sign-ins."""
    rows = await AccountUser.raw(
        "SELECT u.id, u.username, u.name, u.email, m.owner, m.permissions, u.created_at, "
        "u.last_login_at, u.last_login_ip, u.email_verified_at FROM account_user u "
        'JOIN account_member m ON m."user" = u.id WHERE m.client = {} ORDER BY u.id',
        client_id,
    )
    return [
        {
            "id": row["id"],
            "username": row["username"],
            "name": row["name"],
            "email": row["email"],
            "owner": bool(row["owner"]),
            "permissions": "all" if row["owner"] else row["permissions"],
            "created_at": row["created_at"],
            "last_login_at": row["last_login_at"],
            "last_login_address": row["last_login_ip"] or "",
            "email_verified_at": row["email_verified_at"],
        }
        for row in rows
    ]


def _sign_ins(usernames: dict[int, str]) -> Rows:
    def shape(row: dict[str, Any]) -> dict[str, Any]:
        return {
            "username": usernames.get(row["user_id"], ""),
            "method": row["method"],
            "started_at": row["created_at"],
            "last_seen_at": row["last_seen_at"],
            "ended_at": row["ended_at"],
            "address": row["address"],
            "device": logins.device(row["user_agent"]),
            "opened_by_staff": row["staff_name"],
        }

    return _rows_of(
        LoginSession,
        (LoginSession.kind == "client") & (LoginSession.user_id.is_in(sorted(usernames) or [0])),
        shape,
    )


def _notes(client_id: int) -> Rows:
    def shape(row: dict[str, Any]) -> dict[str, Any]:
        return {name: row[name] for name in NOTES.columns}

    return _rows_of(ClientNote, ClientNote.client == client_id, shape)


# --- the job ----------------------------------------------------------------------------------


@jobs.handles(KIND, permission=CLIENTS_PRIVACY)
async def run_export(run: jobs.JobRun) -> str:
    """Builds the export and keeps it for its download, in one transaction with the log's line
    and the job's step. An export whose client was anonymised while it was being built is
    dropped: it may hold what the erasure removed."""
    request = await company_row(DataRequest, run.company_id, run.payload["request"])
    if request["client_id"] is None:
        raise NotFound()
    started = datetime.now(UTC)
    source = ExportSource(
        company_id=run.company_id,
        client_id=request["client_id"],
        include_notes=request["include_notes"],
        sign_ins_of=_user_of(request["requester"]),
    )
    code = "".join(c for c in request["client_code"] if c.isalnum() or c in "-_") or "client"
    name = f"personal-data-{code}-{started:%Y-%m-%d}.zip"
    with tempfile.TemporaryDirectory(prefix="portal-export-") as folder:
        path = await build_export(source, Path(folder), name)
        expires = datetime.now(UTC) + LIFETIME
        async for transaction in write_transactions():
            async with transaction:
                erased = await services.anonymisation(run.company_id, source.client_id)
                if erased is not None and (erased.finished_at or started) >= started:
                    raise NotFound()
                await run.save_result(name, jobs.local_chunks(path))
                await DataRequest.update(
                    {
                        DataRequest.status: "done",
                        DataRequest.finished_at: datetime.now(UTC),
                        DataRequest.expires_at: expires,
                        DataRequest.details: f"A ZIP of {path.stat().st_size:,} bytes.",
                    }
                ).where(DataRequest.id == request["id"])
                await run.step(done=1)
    return (
        f"The personal data of client {request['client_code']} is ready: download it before "
        f"{expires:%Y-%m-%d %H:%M} UTC, when it is deleted."
    )


def _user_of(requester: str) -> int | None:
    """The client user who asked (its own sign-ins only go into its export), or None (staff:
    every login's)."""
    kind, _, user_id = requester.partition(":")
    return int(user_id) if kind == "client" and user_id.isdigit() else None
