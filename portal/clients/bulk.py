"""Bulk actions on clients, from Browse and the search results: on the rows ticked, on a whole
page, or on all the clients the view finds. Change status, change group, add or remove a tag,
export CSV, delete. Each runs as one background job (portal.jobs) with its progress, in steps
of STEP clients, each step one write transaction; each client changed gets its line in its
history, and the company's activity log one line for the whole job.

What is acted on is fixed when the job is queued: the clients of the selection then, the
number the staff member confirmed (a different number asks again). A client deleted since is
a problem row of the job ("deleted meanwhile"), never an error of the whole job; a group or
tag deleted since stops the job with a message. The staff permissions are those of who queued
it: CLIENTS_BULK, and each action's own."""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from portal.activity import services as activity
from portal.client_groups.tables import ClientGroup
from portal.clients import audit, browse, lifecycle, search, tags
from portal.clients.services import STATUSES, hold_group
from portal.clients.tables import Client
from portal.core.actors import Actor
from portal.core.db import locked, read_transaction, write_transactions
from portal.core.errors import NotFound, ValidationError
from portal.core.forms import many, text
from portal.core.ids import parse_id
from portal.core.permissions import (
    CLIENTS_BULK,
    CLIENTS_DELETE,
    CLIENTS_EDIT,
    CLIENTS_STATUS,
    CLIENTS_VIEW,
    Forbidden,
)
from portal.jobs import services as jobs

KIND = "clients-bulk"
STEP = 200  # clients a step, each step one write transaction
MAX_POSTED = 1000  # client IDs a form may send (a page holds at most 100)
# Clients handed to another tool (a plugin's client action) by their IDs, in its address.
HANDOFF_MAX_CLIENTS = 300
DELETED_MEANWHILE = "Deleted meanwhile: nothing done."
NONE_SELECTED = "Tick the clients to act on, or choose the whole page or all matching clients."


@dataclass(frozen=True)
class Action:
    key: str
    label: str
    permission: str  # besides CLIENTS_BULK


ACTIONS = {
    action.key: action
    for action in (
        Action("status", "Change status", CLIENTS_STATUS),
        Action("group", "Change group", CLIENTS_EDIT),
        Action("add_tag", "Add a tag", CLIENTS_EDIT),
        Action("remove_tag", "Remove a tag", CLIENTS_EDIT),
        Action("export", "Export CSV", CLIENTS_VIEW),
        Action("delete", "Delete", CLIENTS_DELETE),
    )
}

# The columns an export may have: key -> header. The first ones are ticked to start with.
EXPORT_COLUMNS = {
    "code": "Client ID",
    "first_name": "First Name",
    "last_name": "Last Name",
    "company": "Company/Org.",
    "email": "Email",
    "country": "Country",
    "group_name": "Client Group",
    "status": "Status",
    "title": "Title",
    "address1": "Address 1",
    "address2": "Address 2",
    "city": "City",
    "state": "State/Province",
    "zip": "Zip/Postal Code",
    "language": "Language",
    "preferred_currency": "Preferred Currency",
    "tax_id": "Tax ID/VATIN",
    "created_at": "Created",
    "tags": "Tags",
}
DEFAULT_COLUMNS = ("code", "first_name", "last_name", "company", "email", "country", "group_name")


def actions_for(actor: Actor) -> list[Action]:
    """The bulk actions the actor may start."""
    if not actor.may(CLIENTS_BULK):
        return []
    return [action for action in ACTIONS.values() if actor.may(action.permission)]


# --- what is selected -------------------------------------------------------------------------


@dataclass(frozen=True)
class Selection:
    """The clients a bulk action is for: `client_ids` (rows ticked, or a page), or with
    scope "all" every client the view finds: Browse's view (its tab and filters) or the
    search page's words, as their query strings (`view`, without "?")."""

    source: str  # "browse" | "search"
    view: str
    scope: str  # "ids" | "all"
    client_ids: tuple[int, ...] = ()

    @property
    def return_to(self) -> str:
        path = "/admin/clients/search" if self.source == "search" else "/admin/clients"
        return f"{path}?{self.view}" if self.view else path


def read_selection(data: Mapping[str, Any]) -> Selection:
    """The selection a form sends: `scope` ("selected": the ticked `client` values, "page":
    the page's `page_client` values, "all"), `source` and `view`. IDs that name no row are
    dropped; ValidationError for more than MAX_POSTED, and for a Browse view whose filters
    Browse cannot read."""
    source = "search" if text(data, "source") == "search" else "browse"
    view = text(data, "view").removeprefix("?")
    scope = text(data, "scope")
    if scope == "all":
        if source == "browse":
            browse.read_browse_query(dict(parse_qsl(view)))
        return Selection(source, view, "all")
    posted = many(data, "page_client" if scope == "page" else "client")
    if len(posted) > MAX_POSTED:
        raise ValidationError({"": f"Choose at most {MAX_POSTED:,} clients at once."})
    ids = {client_id for value in posted if (client_id := parse_id(value)) is not None}
    return Selection(source, view, "ids", tuple(sorted(ids)))


async def resolve(company_id: int, selection: Selection) -> list[tuple[int, int]]:
    """The selection's clients of the company now, as (ID, number) by ID: IDs of other
    companies, or of clients no longer there, are left out."""
    if selection.scope == "all" and selection.source == "browse":
        query = browse.read_browse_query(dict(parse_qsl(selection.view)))
        return await browse.matching_clients(company_id, query)
    if selection.scope == "all":
        query = browse.read_search_query(dict(parse_qsl(selection.view)))
        client_ids = (await search.find_clients(company_id, search.parse_query(query.q))).client_ids
    else:
        client_ids = list(selection.client_ids)
    if not client_ids:
        return []
    # At most MAX_POSTED posted, or search.MATCH_CAP matches: one statement.
    rows = await Client.select(Client.id, Client.number).where(
        Client.company == company_id, Client.id.is_in(client_ids)
    )
    return sorted((row["id"], row["number"]) for row in rows)


async def handoff_query(company_id: int, selection: Selection) -> str:
    """The selection as another tool (a plugin's client action) receives it, a query string:
    Browse's filters and tab when it is all a Browse view finds (so the tool finds the same
    clients as they change), else `client=<ID>` for each client, at most
    HANDOFF_MAX_CLIENTS."""
    if selection.scope == "all" and selection.source == "browse":
        query = browse.read_browse_query(dict(parse_qsl(selection.view)))
        return replace(query.filters, tab=query.tab).query_string().removeprefix("?")
    clients = await resolve(company_id, selection)
    if not clients:
        raise ValidationError({"": NONE_SELECTED})
    if len(clients) > HANDOFF_MAX_CLIENTS:
        raise ValidationError(
            {
                "": f"{len(clients):,} clients are selected: hand at most "
                f"{HANDOFF_MAX_CLIENTS} over by name, or filter Browse to the clients you "
                "want and choose all matching clients."
            }
        )
    return "&".join(f"client={client_id}" for client_id, _ in clients)


# --- queueing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Order:
    """What to do to the selection: an action of ACTIONS with its value."""

    action: str
    status: str = ""
    group_id: int | None = None
    tag_id: int | None = None
    columns: tuple[str, ...] = DEFAULT_COLUMNS

    def payload(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "status": self.status,
            "group_id": self.group_id,
            "tag_id": self.tag_id,
            "columns": list(self.columns),
        }

    @classmethod
    def of(cls, payload: Mapping[str, Any]) -> Order:
        return cls(
            payload["action"],
            payload["status"],
            payload["group_id"],
            payload["tag_id"],
            tuple(payload["columns"]),
        )


def read_order(data: Mapping[str, Any]) -> Order:
    """The action and its value as a form sends them (checked by `start`)."""
    return Order(
        action=text(data, "action"),
        status=text(data, "status"),
        group_id=parse_id(text(data, "group")),
        tag_id=parse_id(text(data, "tag")),
        columns=tuple(dict.fromkeys(many(data, "column"))),
    )


def require(actor: Actor, action: str) -> Action:
    """The action, once the actor may do it (Forbidden otherwise); ValidationError for one
    that does not exist."""
    if action not in ACTIONS:
        raise ValidationError({"action": "Choose an action from the list."})
    actor.require(CLIENTS_BULK, ACTIONS[action].permission)
    return ACTIONS[action]


async def _group_name(company_id: int, group_id: int | None) -> str | None:
    if group_id is None:
        return None
    row = (
        await ClientGroup.select(ClientGroup.name)
        .where(ClientGroup.id == group_id, ClientGroup.company == company_id)
        .first()
    )
    return row["name"] if row else None


async def _tag(company_id: int, tag_id: int | None) -> tags.TagView | None:
    try:
        return await tags.get_tag(company_id, tag_id) if tag_id is not None else None
    except NotFound:
        return None


async def job_title(company_id: int, order: Order, count: int) -> str:
    """The order in words, as the job's title: "Change status to Inactive: 12 clients"."""
    what = f"{count:,} {'client' if count == 1 else 'clients'}"
    if order.action == "status":
        return f"Change status to {STATUSES.get(order.status, order.status)}: {what}"
    if order.action == "group":
        return f"Move to the group {await _group_name(company_id, order.group_id)}: {what}"
    if order.action in ("add_tag", "remove_tag"):
        tag = await _tag(company_id, order.tag_id)
        verb = "Add the tag" if order.action == "add_tag" else "Remove the tag"
        return f"{verb} {tag.name if tag else ''}: {what}"
    if order.action == "export":
        return f"Export {what} as CSV"
    return f"Delete {what}"


async def check_order(company_id: int, actor: Actor, order: Order) -> None:
    """ValidationError, field by field, for an order that cannot be done as given."""
    require(actor, order.action)
    errors: dict[str, str] = {}
    if order.action == "status" and order.status not in STATUSES:
        errors["status"] = "Choose Active, Inactive or Fraud."
    if order.action == "group" and await _group_name(company_id, order.group_id) is None:
        errors["group"] = "Choose a client group from the list."
    if order.action in ("add_tag", "remove_tag") and await _tag(company_id, order.tag_id) is None:
        errors["tag"] = "Choose a tag from the list."
    if order.action == "export" and (
        not order.columns or any(column not in EXPORT_COLUMNS for column in order.columns)
    ):
        errors["columns"] = "Tick the columns the file should have."
    if errors:
        raise ValidationError(errors)


class Changed(Exception):
    """The selection holds another number of clients than the staff member confirmed."""

    def __init__(self, count: int):
        super().__init__(f"{count} clients selected now")
        self.count = count


async def start(
    company_id: int,
    actor: Actor,
    selection: Selection,
    order: Order,
    *,
    confirmed: int,
    password: str = "",
) -> int:
    """Queues the job of `order` on the selection's clients now, which must be `confirmed`
    in number (Changed otherwise, with the number now). A deletion needs the staff member's
    password (ValidationError, Throttled as for Delete Client). Returns the job's ID."""
    await check_order(company_id, actor, order)
    clients = await resolve(company_id, selection)
    if not clients:
        raise ValidationError({"": NONE_SELECTED})
    if len(clients) != confirmed:
        raise Changed(len(clients))
    if order.action == "delete":
        if actor.kind != "staff" or actor.id is None:
            raise Forbidden(CLIENTS_DELETE)  # only a staff member has a password to confirm
        await lifecycle.confirm_password(actor.id, password, actor.address)
    return await jobs.start(
        company_id,
        KIND,
        await job_title(company_id, order, len(clients)),
        {
            **order.payload(),
            "clients": [list(client) for client in clients],
            "return_to": selection.return_to,
        },
        actor,
        total=len(clients),
    )


# --- running ----------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What a step did: clients done (changed or already so), of those unchanged, problems."""

    done: int = 0
    unchanged: int = 0
    problems: list[jobs.Problem] = field(default_factory=list)

    def problem(self, number: int, message: str) -> None:
        self.problems.append(jobs.Problem(number, "", message))


async def _codes(company_id: int, batch: Sequence[tuple[int, int]]) -> dict[int, str]:
    """The batch's clients still in the company, ID -> code, locked until commit."""
    query = Client.select(Client.id, Client.code).where(
        Client.company == company_id, Client.id.is_in([client_id for client_id, _ in batch])
    )
    return {row["id"]: row["code"] for row in await locked(query)}


def _outcome(batch: Sequence[tuple[int, int]], found: Collection[int], *, changed: int) -> Outcome:
    """A change made at once to the clients of the batch still `found`, `changed` of which it
    changed; the others were deleted meanwhile."""
    outcome = Outcome(done=len(found), unchanged=len(found) - changed)
    for client_id, number in batch:
        if client_id not in found:
            outcome.problem(number, DELETED_MEANWHILE)
    return outcome


async def _set_status(run: jobs.JobRun, order: Order, batch: Sequence[tuple[int, int]]) -> Outcome:
    outcome = Outcome()
    for client_id, number in batch:
        try:
            changed = await lifecycle.set_status(
                run.company_id, client_id, order.status, run.actor, log_activity=False
            )
        except NotFound:
            outcome.problem(number, DELETED_MEANWHILE)
            continue
        outcome.done += 1
        outcome.unchanged += not changed
    return outcome


async def _set_group(run: jobs.JobRun, order: Order, batch: Sequence[tuple[int, int]]) -> Outcome:
    try:  # the group held before its clients, in the order a group's delete takes them
        await hold_group(run.company_id, order.group_id)
    except ValidationError:
        raise ValidationError({"group": "The client group was deleted meanwhile."}) from None
    names = {group["id"]: group["name"] for group in await browse.company_groups(run.company_id)}
    rows = await locked(
        Client.select(Client.id, Client.code, Client.group).where(
            Client.company == run.company_id,
            Client.id.is_in([client_id for client_id, _ in batch]),
        )
    )
    found = {row["id"]: row for row in rows}
    moving = [row for row in rows if row["group"] != order.group_id]
    if moving:
        await Client.update(
            {
                Client.group: order.group_id,
                Client.version: Client.version + 1,
                Client.updated_at: datetime.now(UTC),
            }
        ).where(Client.id.is_in([row["id"] for row in moving]))
    for row in moving:
        await audit.record(
            run.company_id,
            row["id"],
            row["code"],
            run.actor,
            [("Client Group", names.get(row["group"], ""), names[order.group_id])],
            log_activity=False,
        )
    return _outcome(batch, found, changed=len(moving))


async def _set_tag(run: jobs.JobRun, order: Order, batch: Sequence[tuple[int, int]]) -> Outcome:
    tag = await _tag(run.company_id, order.tag_id)
    if tag is None:
        raise ValidationError({"tag": "The tag was deleted meanwhile."})
    codes = await _codes(run.company_id, batch)
    change = tags.add_to_clients if order.action == "add_tag" else tags.remove_from_clients
    changed = await change(tag, list(codes.items()), run.company_id, run.actor, log_activity=False)
    return _outcome(batch, codes, changed=len(changed))


async def _delete(run: jobs.JobRun, order: Order, batch: Sequence[tuple[int, int]]) -> Outcome:
    outcome = Outcome()
    for client_id, number in batch:
        if await lifecycle.remove_client(run.company_id, client_id, run.actor, log_activity=False):
            outcome.done += 1
        else:
            outcome.problem(number, DELETED_MEANWHILE)
    return outcome


CHANGES = {
    "status": _set_status,
    "group": _set_group,
    "add_tag": _set_tag,
    "remove_tag": _set_tag,
    "delete": _delete,
}


async def _summary(run: jobs.JobRun, order: Order, *, ended: str = "") -> str:
    """What the job did, in a sentence: its message, and its line in the activity log."""
    done = f"{run.done:,} {'client' if run.done == 1 else 'clients'}"
    tag = await _tag(run.company_id, order.tag_id)
    tag_name = tag.name if tag else ""
    group_name = await _group_name(run.company_id, order.group_id) or ""
    did = {
        "status": f"set the status of {done} to {STATUSES.get(order.status, order.status)}",
        "group": f"moved {done} to the group {group_name}",
        "add_tag": f"put the tag {tag_name} on {done}",
        "remove_tag": f"took the tag {tag_name} off {done}",
        "export": f"exported {done} as CSV",
        "delete": f"deleted {done}",
    }[order.action]
    parts = [f"Bulk action (job {run.id}){ended}: {did}"]
    if unchanged := run.checkpoint.get("unchanged", 0):
        parts.append(f"{unchanged:,} of them already were so")
    if run.failed:
        parts.append(f"{run.failed:,} not done (see the job)")
    return "; ".join(parts) + "."


async def _log(run: jobs.JobRun, summary: str) -> None:
    async for transaction in write_transactions():
        async with transaction:
            await activity.record(run.company_id, run.actor, "clients", summary)


# What a bulk action made (an export of clients' details) is for staff who may see clients.
@jobs.handles(KIND, permission=(CLIENTS_BULK, CLIENTS_VIEW))
async def run_bulk(run: jobs.JobRun) -> str:
    """Runs a bulk action's job from its checkpoint (the position of the next step)."""
    order = Order.of(run.payload)
    require(run.actor, order.action)
    clients = [(client_id, number) for client_id, number in run.payload["clients"]]
    try:
        if order.action == "export":
            await _export(run, order, clients)
        else:
            await _change(run, order, clients)
    except jobs.Cancelled:
        await _log(run, await _summary(run, order, ended=", cancelled"))
        raise
    summary = await _summary(run, order)
    await _log(run, summary)
    return summary


async def _change(run: jobs.JobRun, order: Order, clients: Sequence[tuple[int, int]]) -> None:
    change = CHANGES[order.action]
    while (position := run.checkpoint.get("next", 0)) < len(clients):
        batch = clients[position : position + STEP]
        # Read before the attempts: a step PostgreSQL rolled back runs again from here.
        unchanged = run.checkpoint.get("unchanged", 0)
        async for transaction in write_transactions():
            async with transaction:
                outcome = await change(run, order, batch)
                await run.step(
                    done=outcome.done,
                    failed=len(outcome.problems),
                    checkpoint={
                        "next": position + len(batch),
                        "unchanged": unchanged + outcome.unchanged,
                    },
                    problems=outcome.problems,
                )


# --- the export -------------------------------------------------------------------------------

_EXPORT_SELECT = (
    "SELECT c.id, c.code, c.status, c.language, c.preferred_currency, c.tax_id, c.created_at, "
    "g.name AS group_name, ct.first_name, ct.last_name, ct.company, ct.title, ct.email, "
    "ct.address1, ct.address2, ct.city, ct.state, ct.zip, ct.country FROM client c "
    "JOIN contact ct ON ct.client = c.id AND ct.contact_type = 'primary' "
    'JOIN client_group g ON g.id = c."group" '
)


def _cell(column: str, row: dict) -> str:
    """A cell of the export, as a spreadsheet shows it: text, never a formula."""
    if column == "tags":
        value = ", ".join(tag.name for tag in row["tags"])
    elif column == "status":
        value = STATUSES.get(row["status"], row["status"])
    elif column == "created_at":
        value = row["created_at"].astimezone(UTC).date().isoformat()
    else:
        value = str(row[column] or "")
    return jobs.formula_safe(value)


async def _export_rows(company_id: int, batch: Sequence[tuple[int, int]]) -> dict[int, dict]:
    client_ids = [client_id for client_id, _ in batch]
    async with read_transaction():
        rows = await Client.raw(
            f"{_EXPORT_SELECT}WHERE c.company = {{}} "  # noqa: S608 - placeholders
            f"AND c.id IN ({', '.join(['{}'] * len(client_ids))})",
            company_id,
            *client_ids,
        )
        by_client = await tags.tags_of_clients(client_ids)
    return {row["id"]: {**row, "tags": by_client.get(row["id"], [])} for row in rows}


async def _export(run: jobs.JobRun, order: Order, clients: Sequence[tuple[int, int]]) -> None:
    """The chosen columns of the clients, a step at a time, into a file kept with the job.
    The file is written afresh when a job is taken over (it was in the lost process); the
    steps counted before are not counted again."""
    counted = run.checkpoint.get("next", 0)
    with tempfile.TemporaryDirectory(prefix="portal-export-") as folder:
        path = Path(folder) / "clients.csv"
        with path.open("w", newline="", encoding="utf-8") as file:
            writer = csv.writer(file)
            writer.writerow([EXPORT_COLUMNS[column] for column in order.columns])
            for position in range(0, len(clients), STEP):
                batch = clients[position : position + STEP]
                rows = await _export_rows(run.company_id, batch)
                outcome = Outcome()
                for client_id, number in batch:
                    if (row := rows.get(client_id)) is None:
                        outcome.problem(number, DELETED_MEANWHILE)
                        continue
                    writer.writerow([_cell(column, row) for column in order.columns])
                    outcome.done += 1
                if position < counted:
                    continue
                async for transaction in write_transactions():
                    async with transaction:
                        await run.step(
                            done=outcome.done,
                            failed=len(outcome.problems),
                            checkpoint={"next": position + len(batch)},
                            problems=outcome.problems,
                        )
        name = f"clients-{datetime.now(UTC).date().isoformat()}.csv"
        await run.save_result(name, jobs.local_chunks(path))
