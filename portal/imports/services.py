"""Importing clients from a CSV file ([Clients] > Import and `portal import clients`): the
upload and what reading it finds, the mapping of its columns, and the job that checks every
row as Add Client would and writes the good ones in batches (a dry run writes nothing and lists
what would fail).

Each batch is one write transaction with its progress and checkpoint, so a job taken over
after a crash goes on after the last committed batch; a row is written whole or not at all.
Rows whose email or username names an existing client are skipped, update that client, or
become a new client, as the import was told; passwords are never imported."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

from portal.activity import services as activity
from portal.client_area.services import send_password_setup
from portal.client_groups.services import (
    custom_values,
    default_group_id,
    list_fields,
    list_groups,
)
from portal.clients import services as clients
from portal.clients.forms import client_details_of
from portal.clients.services import (
    MARKETING_OPT_IN_WORDING,
    CheckedClient,
    NewClient,
    check_client,
    client_rules,
)
from portal.clients.tables import Client
from portal.clients.users import USERNAME_TAKEN, owner_of
from portal.companies.services import currency_accepted, get_company
from portal.core.actors import Actor
from portal.core.db import violated_unique_index, write_transactions
from portal.core.errors import Conflict, NotFound, ValidationError
from portal.core.permissions import CLIENTS_EDIT, CLIENTS_IMPORT
from portal.core.placeholders import placeholders
from portal.imports.fields import (
    CUSTOM,
    ImportedRow,
    Lookups,
    auto_mapping,
    check_mapping,
    read_row,
    recognised_system,
    targets,
)
from portal.imports.reading import CsvFormat, CsvReader, Row, count_rows, detect_format
from portal.jobs import services as jobs

KIND = "import-clients"
BATCH_ROWS = 500
PREVIEW_ROWS = 5
MAX_FILE_BYTES = 100 * 1024 * 1024
ON_DUPLICATE = {
    "skip": "Skip the row",
    "update": "Update the client with the row",
    "create": "Add a new client anyway",
}


# --- the file --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Preview:
    file_id: int
    name: str
    size: int
    csv_format: CsvFormat
    header: list[str]
    rows: list[list[str]]  # the first few
    mapping: list[str]  # the last one used for the file, or the automatic one
    targets: dict[str, str]  # {target: label}
    custom_labels: list[str]

    def samples(self, index: int) -> list[str]:
        return [row[index] for row in self.rows if index < len(row) and row[index].strip()]

    @property
    def system(self) -> str | None:
        """The system whose client export the file looks like (WHMCS, Blesta), if any."""
        return recognised_system(self.header)


def _read_head(path: Path) -> dict[str, Any]:
    """Off the event loop: the format, the header and the first rows."""
    csv_format = detect_format(path)
    with CsvReader(path, csv_format) as reader:
        rows = [row.cells for row in itertools.islice(reader.rows(), PREVIEW_ROWS)]
        header = reader.header
    return {
        "encoding": csv_format.encoding,
        "delimiter": csv_format.delimiter,
        "header": header,
        "rows": rows,
    }


async def upload(company_id: int, name: str, path: Path, actor: Actor) -> int:
    """Keeps a file for importing, after reading its format, header and first rows; a file
    that is not CSV, empty or too large gets a ValidationError ({"file": ...})."""
    actor.require(CLIENTS_IMPORT)
    size = (await anyio.Path(path).stat()).st_size
    if size > MAX_FILE_BYTES:
        raise ValidationError(
            {"file": f"The file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB; split it."}
        )
    head = await anyio.to_thread.run_sync(_read_head, path)
    if not head["rows"]:
        raise ValidationError({"file": "The file has a header but no rows to import."})
    return await jobs.save_file(company_id, name or "clients.csv", jobs.local_chunks(path), head)


async def _custom_labels(company_id: int) -> list[str]:
    labels: dict[str, str] = {}
    for group in await list_groups(company_id, with_counts=False):
        for custom_field in await list_fields(company_id, group["id"]):
            labels.setdefault(custom_field["label"].casefold(), custom_field["label"])
    return sorted(labels.values(), key=str.casefold)


async def preview(company_id: int, file_id: int, actor: Actor) -> Preview:
    actor.require(CLIENTS_IMPORT)
    info = await jobs.file_info(company_id, file_id)
    meta = info["meta"]
    if "header" not in meta:
        raise NotFound  # a file of another kind of job
    labels = await _custom_labels(company_id)
    header = meta["header"]
    mapping = meta.get("mapping") or auto_mapping(header, labels)
    return Preview(
        file_id=file_id,
        name=info["name"],
        size=info["size"],
        csv_format=CsvFormat(meta["encoding"], meta["delimiter"]),
        header=header,
        rows=meta["rows"],
        mapping=mapping,
        targets=targets(labels),
        custom_labels=labels,
    )


# --- starting --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportChoices:
    """What staff choose on the mapping page (or the command line's options)."""

    mapping: list[str]  # a target per column, "" to leave it out
    on_duplicate: str = "skip"
    dry_run: bool = False
    invite: bool = False  # email each new client a link to choose a password


async def start(
    company_id: int, file_id: int, choices: ImportChoices, actor: Actor, return_to: str = ""
) -> int:
    """Checks the choices and queues the import (or its dry run)."""
    actor.require(CLIENTS_IMPORT, CLIENTS_EDIT)
    current = await preview(company_id, file_id, actor)
    errors = check_mapping(choices.mapping, current.targets)
    if len(choices.mapping) != len(current.header):
        errors[""] = "Choose a field (or none) for every column."
    if choices.on_duplicate not in ON_DUPLICATE:
        errors["on_duplicate"] = "Choose what happens to a row of an existing client."
    if errors:
        raise ValidationError(errors)
    meta = {**(await jobs.file_info(company_id, file_id))["meta"], "mapping": choices.mapping}
    await jobs.update_file_meta(company_id, file_id, meta)
    verb = "Dry run of the import" if choices.dry_run else "Import"
    return await jobs.start(
        company_id,
        KIND,
        f"{verb} of {current.name}",
        {
            "file_id": file_id,
            "file_name": current.name,
            "encoding": current.csv_format.encoding,
            "delimiter": current.csv_format.delimiter,
            "mapping": choices.mapping,
            "on_duplicate": choices.on_duplicate,
            "dry_run": choices.dry_run,
            "invite": choices.invite,
            "return_to": return_to,
        },
        actor,
    )


# --- the job ---------------------------------------------------------------------------------


@dataclass
class Tally:
    """What the job did so far (kept in its checkpoint)."""

    row: int = 1  # the last row done (the header is row 1)
    added: int = 0
    updated: int = 0
    skipped: int = 0
    failed: int = 0

    def sentence(self, dry_run: bool, file_name: str) -> str:
        if dry_run:
            return (
                f"Dry run of {file_name}: {self.added:,} rows would add a client, "
                f"{self.updated:,} would update one, {self.skipped:,} would be skipped, and "
                f"{self.failed:,} have problems. Nothing was saved."
            )
        return (
            f"From {file_name}: {self.added:,} clients added, {self.updated:,} updated, "
            f"{self.skipped:,} rows skipped (their client exists), {self.failed:,} rows left "
            "out for their problems."
        )


def _met_another_writer(error: BaseException) -> bool:
    """A batch's write refused for what another writer did meanwhile: a unique username or
    email taken, a group deleted, an address a group wants unique taken (the services' own
    checks in the transaction)."""
    return isinstance(error, ValidationError) or violated_unique_index(error) is not None


@dataclass
class Candidate:
    """A row on its way: read, checked, and what it is to become."""

    row: Row
    imported: ImportedRow
    checked: CheckedClient | None = None
    existing: int | None = None  # the client its email or username names


class ImportRun:
    """One run of an import job: the file, what rows are read against, and the batch loop."""

    def __init__(self, run: jobs.JobRun, path: Path, lookups: Lookups) -> None:
        self.run = run
        self.payload = run.payload
        self.path = path
        self.lookups = lookups
        self.csv_format = CsvFormat(run.payload["encoding"], run.payload["delimiter"])
        self.mapping: list[str] = run.payload["mapping"]
        self.dry_run: bool = run.payload["dry_run"]
        self.tally = Tally(**run.checkpoint) if run.checkpoint else Tally()
        self.currencies: dict[str, bool] = {}
        # The keys (emails, usernames, client IDs) of the batch met on earlier rows, and
        # those the batch meets first; kept by the job (see jobs.JobRun.first_rows).
        self.seen: dict[str, int] = {}
        self.new_keys: dict[str, int] = {}

    async def __call__(self) -> str:
        if not self.run.total:
            await self.run.set_total(
                await anyio.to_thread.run_sync(count_rows, self.path, self.csv_format)
            )
        reader = await anyio.to_thread.run_sync(CsvReader, self.path, self.csv_format)
        try:
            self.header = reader.header
            rows = (row for row in reader.rows() if row.number > self.tally.row)
            while batch := await anyio.to_thread.run_sync(self._read_batch, rows):
                await self._do_batch(batch)
        finally:
            reader.close()
        summary = self.tally.sentence(self.dry_run, self.payload["file_name"])
        if not self.dry_run:
            async for transaction in write_transactions():
                async with transaction:
                    await activity.record(self.run.company_id, self.run.actor, "clients", summary)
        return summary

    def _read_batch(self, rows: Any) -> list[Candidate]:
        """Off the event loop: the next rows, as Add Client's details."""
        header, mapping = self.header, self.mapping
        batch = []
        for row in itertools.islice(rows, BATCH_ROWS):
            batch.append(Candidate(row, read_row(row.cells, header, mapping, self.lookups)))
        return batch

    def _check(self, batch: list[Candidate]) -> None:
        """Off the event loop: every rule of Add Client that needs no other client."""
        for candidate in batch:
            details = candidate.imported.details
            rules = self.lookups.rules[int(details.group_id)]
            candidate.checked = check_client(
                details,
                rules,
                currency_accepted=self.currencies.get(details.preferred_currency, False),
            )

    async def _do_batch(self, batch: list[Candidate]) -> None:
        company_id = self.run.company_id
        for code in {c.imported.details.preferred_currency for c in batch} - set(self.currencies):
            self.currencies[code] = await currency_accepted(company_id, code)
        await anyio.to_thread.run_sync(self._check, batch)
        await self._find_existing(batch)
        self.seen = await self.run.first_rows(k for c in batch for k in self._keys(c))
        self.new_keys = {}
        problems: list[jobs.Problem] = []
        creating: list[Candidate] = []
        tally = Tally(**vars(self.tally))
        tally.row = batch[-1].row.number
        for candidate in batch:
            found = self._problems(candidate)
            if not found and candidate.existing is not None:
                if self.payload["on_duplicate"] == "skip":
                    tally.skipped += 1
                    continue
                if self.payload["on_duplicate"] == "update":
                    found = await self._update(candidate)
                    tally.updated += not found
                    if not found:
                        continue
            if found:
                problems += found
                tally.failed += 1
            else:
                creating.append(candidate)
        tally.added += len(creating)
        try:
            await self._commit(creating, tally, problems, len(batch))
        except Exception as error:
            if not _met_another_writer(error):
                raise
            # Another writer took a username or email of the batch meanwhile, or deleted its
            # group: the batch is written again a row at a time, so that only the rows that
            # meet it are left out, each with what it met.
            written = 0
            for candidate in creating:
                try:
                    await self._commit([candidate], None, [], 1)
                    written += 1
                except Exception as single_error:
                    if not _met_another_writer(single_error):
                        raise
                    tally.added -= 1
                    tally.failed += 1
                    problems += (
                        [self._problem(candidate, k, v) for k, v in single_error.errors.items()]
                        if isinstance(single_error, ValidationError)
                        else [
                            self._problem(
                                candidate, "", "Another client has this username meanwhile."
                            )
                        ]
                    )
            # The rest of the batch: every row but those written one by one above.
            await self._commit([], tally, problems, len(batch) - written)
        self.tally = tally

    async def _commit(
        self,
        creating: list[Candidate],
        tally: Tally | None,
        problems: list[jobs.Problem],
        rows: int,
    ) -> list[int]:
        """One transaction: the new clients (none in a dry run), then the progress of `rows`
        rows (those with problems as failed) and, when given, the checkpoint. Then the new
        clients' set-password invitations, when asked for. Returns the new clients."""
        failed = len({problem.row for problem in problems})
        client_ids: list[int] = []
        async for transaction in write_transactions():
            async with transaction:
                if creating and not self.dry_run:
                    client_ids = await clients.insert_clients(
                        self.run.company_id,
                        [self._new_client(candidate) for candidate in creating],
                        self.run.actor,
                        consent_source="import",
                        consent_wording=f"{MARKETING_OPT_IN_WORDING} (imported from "
                        f"{self.payload['file_name']})",
                        audit_note=f"imported from {self.payload['file_name']}",
                        log_activity=False,
                    )
                await self.run.step(
                    done=rows - failed,
                    failed=failed,
                    checkpoint=vars(tally) if tally else None,
                    problems=problems,
                    keys=self.new_keys if tally else None,
                )
        if self.payload.get("invite"):
            for client_id in client_ids:
                if owner := await owner_of(client_id):
                    await send_password_setup(owner["id"])
        return client_ids

    @staticmethod
    def _new_client(candidate: Candidate) -> NewClient:
        assert candidate.checked is not None
        imported = candidate.imported
        return NewClient(
            imported.details, candidate.checked, None, imported.status, imported.number
        )

    def _problem(self, candidate: Candidate, key: str, message: str) -> jobs.Problem:
        columns = candidate.imported.columns
        column = columns.get(key) or columns.get(key.removeprefix("custom_")) or ""
        if not column and key.startswith(CUSTOM):
            column = key.removeprefix(CUSTOM)
        return jobs.Problem(candidate.row.number, column, str(message))

    def _problems(self, candidate: Candidate) -> list[jobs.Problem]:
        """Why the row cannot be imported: its cells, Add Client's rules, the same email or
        username as an earlier row of the file, an existing client's when "Add a new client
        anyway" cannot add one."""
        row = candidate.row
        found = []
        if len(row.cells) != len(self.header):
            found.append(
                jobs.Problem(
                    row.number,
                    "",
                    f"This row has {len(row.cells)} cells; the header has {len(self.header)}.",
                )
            )
        errors = {**candidate.imported.problems}
        assert candidate.checked is not None
        for key, message in candidate.checked.errors.items():
            errors.setdefault(key, message)
        for key, message in errors.items():
            found.append(self._problem(candidate, key, message))
        if found:
            return found
        checked = candidate.checked
        for name, (key, kind) in self._keys(candidate).items():
            first = self.seen.get(name)
            if first is not None and first != row.number:
                return [
                    self._problem(
                        candidate, key, f"Row {first} has the same {kind}; this row is left out."
                    )
                ]
        for name in self._keys(candidate):
            self.seen[name] = self.new_keys[name] = row.number
        if candidate.existing is not None and self.payload["on_duplicate"] != "create":
            return []  # skipped or updated: nothing is added
        if checked.username in self.existing_usernames:
            return [self._problem(candidate, "username", str(USERNAME_TAKEN))]
        if (code := self._kept_code(candidate)) and code in self.existing_codes:
            return [self._problem(candidate, "client_id", f"Another client has the ID {code}.")]
        unique = checked.settings.unique_contact_emails if checked.settings else "no"
        users_of_email = self.existing_emails.get(checked.email.casefold(), {})
        if unique != "no" and users_of_email.get("primary" if unique == "primary" else "any"):
            return [
                self._problem(candidate, "email", "Another client already uses this email address.")
            ]
        return []

    def _keys(self, candidate: Candidate) -> dict[str, tuple[str, str]]:
        """What no two rows of a file may share, as job keys: {key: (target, words)}."""
        checked = candidate.checked
        if checked is None:
            return {}
        keys = {
            f"email:{checked.email.casefold()}": ("email", "email"),
            f"username:{checked.username}": ("username", "username"),
        }
        if code := self._kept_code(candidate):
            keys[f"client_id:{code}"] = ("client_id", "client ID")
        return keys

    @staticmethod
    def _kept_code(candidate: Candidate) -> str | None:
        """The client ID a row keeps from its file, when its group's format has a number."""
        settings = candidate.checked.settings if candidate.checked else None
        if candidate.imported.number is None or settings is None:
            return None
        return settings.client_id_format.replace("{num}", str(candidate.imported.number))

    async def _find_existing(self, batch: list[Candidate]) -> None:
        """The clients the rows' emails (primary contacts') and usernames (owners') name, and
        the IDs the rows keep that are taken."""
        emails = sorted(
            {c.checked.email.casefold() for c in batch if c.checked and c.checked.email}
        )
        usernames = sorted({c.checked.username for c in batch if c.checked and c.checked.username})
        company_id = self.run.company_id
        self.existing_emails = await _clients_by_email(company_id, emails)
        self.existing_usernames = await _clients_by_username(company_id, usernames)
        codes = sorted({code for c in batch if (code := self._kept_code(c))})
        self.existing_codes = await _taken_codes(company_id, codes)
        for candidate in batch:
            checked = candidate.checked
            if checked is None:
                continue
            candidate.existing = self.existing_usernames.get(checked.username) or (
                self.existing_emails.get(checked.email.casefold(), {}).get("primary")
            )

    async def _update(self, candidate: Candidate) -> list[jobs.Problem]:
        """Updates the existing client with the row's mapped cells (the others keep their
        values), as an edit in the admin area would."""
        assert candidate.existing is not None
        company_id = self.run.company_id
        if self.dry_run:
            return []
        try:
            current = await clients.get_client(company_id, candidate.existing)
            details = client_details_of(current, await custom_values(current.id))
            mapped = set(self.mapping)
            new = candidate.imported.details
            for name in vars(details):
                if name in mapped or (name == "phones" and mapped & {"phone", "fax"}):
                    setattr(details, name, getattr(new, name))
            if "group" in mapped:
                details.group_id = new.group_id
            if "username" in mapped and new.username_mode == "specify":
                details.username_mode, details.username = "specify", new.username
            details.custom.update(new.custom)
            await clients.update_client(
                company_id,
                current.id,
                details,
                expected_version=current.version,
                new_password=None,
                actor=self.run.actor,
                source="import",
            )
        except ValidationError as error:
            return [self._problem(candidate, k, v) for k, v in error.errors.items()]
        except (Conflict, NotFound):
            return [
                self._problem(candidate, "", "The client changed meanwhile; import the row again.")
            ]
        return []


async def company_rows_with(sql: str, company_id: int, values: Sequence[Any]) -> list[dict]:
    """The rows `sql` selects for the company and these values (none when there are none):
    fixed SQL whose first placeholder is the company's id and whose `IN ({values})` stands for
    the values' placeholders. Placeholders only: the values travel as parameters."""
    if not values:
        return []
    return await Client.raw(sql.replace("{values}", placeholders(len(values))), company_id, *values)


async def _clients_by_email(company_id: int, emails: list[str]) -> dict[str, dict[str, int]]:
    """{email: {"primary": client, "any": client}} of the company's contacts with these emails."""
    rows = await company_rows_with(
        "SELECT ct.client, lower(ct.email) AS email, ct.contact_type FROM contact ct "
        "JOIN client c ON c.id = ct.client "
        "WHERE c.company = {} AND lower(ct.email) IN ({values})",
        company_id,
        emails,
    )
    found: dict[str, dict[str, int]] = {}
    for row in rows:
        by_kind = found.setdefault(row["email"], {})
        by_kind.setdefault("any", row["client"])
        if row["contact_type"] == "primary":
            by_kind["primary"] = row["client"]
    return found


async def _clients_by_username(company_id: int, usernames: list[str]) -> dict[str, int | None]:
    """{username: the account it owns (None: a login of no account it owns)}."""
    rows = await company_rows_with(
        "SELECT lower(u.username) AS username, m.client FROM account_user u "
        'LEFT JOIN account_member m ON m."user" = u.id AND m.owner '
        "WHERE u.company = {} AND lower(u.username) IN ({values})",
        company_id,
        usernames,
    )
    return {row["username"]: row["client"] for row in rows}


async def _taken_codes(company_id: int, codes: list[str]) -> set[str]:
    if not codes:
        return set()
    rows = await Client.select(Client.code).where(
        Client.company == company_id, Client.code.is_in(codes)
    )
    return {row["code"] for row in rows}


async def lookups_of(company_id: int) -> Lookups:
    """What an import's rows are read against: the company's defaults, groups and rules."""
    company = await get_company(company_id)
    groups = await list_groups(company_id, with_counts=False)
    lookups = Lookups(
        default_group_id=await default_group_id(company_id),
        default_currency=company["default_currency"],
        default_language=company["default_language"],
        groups={
            **{group["name"].casefold(): group["id"] for group in groups},
            **{str(group["id"]): group["id"] for group in groups},
        },
    )
    for group in groups:
        lookups.rules[group["id"]] = await client_rules(company_id, str(group["id"]), None)
    return lookups


@jobs.handles(KIND, permission=CLIENTS_IMPORT)
async def run_import(run: jobs.JobRun) -> str:
    run.actor.require(CLIENTS_IMPORT, CLIENTS_EDIT)
    lookups = await lookups_of(run.company_id)
    async with jobs.local_copy(run.payload["file_id"]) as path:
        return await ImportRun(run, path, lookups)()
