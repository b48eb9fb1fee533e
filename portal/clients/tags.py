"""Tags on clients: labels shared by the whole company ("VIP", "Reseller"), each in a colour of
a fixed palette, shown as chips in Browse, search results and the profile, and a filter of
Browse. Staff who add and edit clients manage the tags and put them on clients; each client's
tags added and removed are in its history.

Tag names are not part of the search documents: a tag's clients are listed by Browse's tag
filter, and renaming a tag of many clients would otherwise rewrite all their documents."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from portal.activity import services as activity
from portal.clients import audit
from portal.clients.limits import refuse_beyond
from portal.clients.tables import ClientTag, Tag
from portal.core.actors import Actor
from portal.core.db import read_transaction, write_transactions
from portal.core.errors import NotFound, ValidationError
from portal.core.forms import Field
from portal.core.ids import is_row_id
from portal.core.permissions import CLIENTS_EDIT
from portal.core.placeholders import placeholders
from portal.core.unique import taken_as_invalid

# The palette: key -> name. Each key is a CSS class of the chips (.tag-<key>, static/css), so
# no inline style is needed; every pair of colours there reads at WCAG AA contrast.
COLOURS = {
    "grey": "Grey",
    "red": "Red",
    "orange": "Orange",
    "yellow": "Yellow",
    "green": "Green",
    "teal": "Teal",
    "blue": "Blue",
    "purple": "Purple",
    "pink": "Pink",
}
NAME = Field("name", "Name", 50, required=True)
MAX_TAGS = 200  # a company's tags: each is a choice in Browse's filter and the profile
TAG_ADDED, TAG_REMOVED = "Tag added", "Tag removed"  # the fields of a client's history lines
DUPLICATE_NAME = "The company already has a tag with this name."


@dataclass(frozen=True)
class TagView:
    id: int
    name: str
    colour: str
    clients: int = 0  # how many clients have it, where counted


def _view(row: dict) -> TagView:
    return TagView(row["id"], row["name"], row["colour"], row.get("clients", 0))


async def list_tags(company_id: int, *, with_counts: bool = False) -> list[TagView]:
    """The company's tags by name, with their number of clients when asked."""
    clients = "(SELECT count(*) FROM client_tag ct WHERE ct.tag = t.id)" if with_counts else "0"
    rows = await Tag.raw(
        f"SELECT t.id, t.name, t.colour, {clients} AS clients FROM tag t "  # noqa: S608 - fixed SQL
        "WHERE t.company = {} ORDER BY lower(t.name), t.id",
        company_id,
    )
    return [_view(row) for row in rows]


async def get_tag(company_id: int, tag_id: int, *, with_count: bool = False) -> TagView:
    """A tag of the company (NotFound otherwise), with its number of clients when asked."""
    if not is_row_id(tag_id):
        raise NotFound()
    row = (
        await Tag.select(Tag.id, Tag.name, Tag.colour)
        .where(Tag.id == tag_id, Tag.company == company_id)
        .first()
    )
    if row is None:
        raise NotFound()
    if with_count:
        row["clients"] = await ClientTag.count().where(ClientTag.tag == tag_id)
    return _view(row)


def _checked(name: str, colour: str) -> str:
    """The name as kept; ValidationError for a bad name or colour."""
    name = " ".join(name.split())
    errors: dict[str, str] = {}
    NAME.check(errors, name)
    if colour not in COLOURS:
        errors["colour"] = "Choose a colour from the list."
    if errors:
        raise ValidationError(errors)
    return name


async def create_tag(company_id: int, name: str, colour: str, actor: Actor) -> int:
    actor.require(CLIENTS_EDIT)
    name = _checked(name, colour)
    with taken_as_invalid("tag_company_name", {"name": DUPLICATE_NAME}):
        async for transaction in write_transactions():
            async with transaction:
                await refuse_beyond(Tag, company_id, MAX_TAGS, "tags")
                rows = await Tag.insert(
                    Tag(company=company_id, name=name, colour=colour)
                ).returning(Tag.id)
                await activity.record(company_id, actor, "clients", f"Created the tag {name}.")
    return rows[0]["id"]


async def update_tag(company_id: int, tag_id: int, name: str, colour: str, actor: Actor) -> None:
    """Renames or recolours a tag: every client that has it shows the change."""
    actor.require(CLIENTS_EDIT)
    old = await get_tag(company_id, tag_id)
    name = _checked(name, colour)
    with taken_as_invalid("tag_company_name", {"name": DUPLICATE_NAME}):
        async for transaction in write_transactions():
            async with transaction:
                await Tag.update({Tag.name: name, Tag.colour: colour}).where(
                    Tag.id == tag_id, Tag.company == company_id
                )
                renamed = f"{old.name} → {name}" if name != old.name else name
                await activity.record(
                    company_id, actor, "clients", f"Edited the tag {renamed} ({COLOURS[colour]})."
                )


async def delete_tag(company_id: int, tag_id: int, actor: Actor) -> int:
    """Deletes a tag, taking it off every client; returns how many had it."""
    actor.require(CLIENTS_EDIT)
    async for transaction in write_transactions():
        async with transaction:
            tag = await get_tag(company_id, tag_id, with_count=True)
            had = tag.clients
            await Tag.delete().where(Tag.id == tag_id, Tag.company == company_id)
            await activity.record(
                company_id,
                actor,
                "clients",
                f"Deleted the tag {tag.name}, taking it off {had} "
                f"{'client' if had == 1 else 'clients'}.",
            )
    return had


# --- the tags of clients ----------------------------------------------------------------------


async def tags_of_clients(client_ids: Sequence[int]) -> dict[int, list[TagView]]:
    """Each client's tags, by name (clients without tags are left out)."""
    if not client_ids:
        return {}
    rows = await ClientTag.raw(
        "SELECT ct.client, t.id, t.name, t.colour FROM client_tag ct "  # noqa: S608 - placeholders
        f"JOIN tag t ON t.id = ct.tag WHERE ct.client IN ({placeholders(len(client_ids))}) "
        "ORDER BY lower(t.name), t.id",
        *client_ids,
    )
    found: dict[int, list[TagView]] = {}
    for row in rows:
        found.setdefault(row["client"], []).append(_view(row))
    return found


async def add_to_clients(
    tag: TagView,
    clients: Sequence[tuple[int, str]],
    company_id: int,
    actor: Actor,
    *,
    log_activity: bool = True,
) -> list[int]:
    """Inside a write transaction: puts `tag` (one of the company's) on the clients (ID, code;
    of the company, checked by the caller) that lack it, each with a line in its history;
    returns the IDs of those that got it."""
    actor.require(CLIENTS_EDIT)
    if not clients:
        return []
    rows = await ClientTag.raw(
        "INSERT INTO client_tag (client, tag) "  # noqa: S608 - placeholders
        f"VALUES {', '.join(['({}, {})'] * len(clients))} "
        "ON CONFLICT (client, tag) DO NOTHING RETURNING client",
        *(value for client_id, _ in clients for value in (client_id, tag.id)),
    )
    added = {row["client"] for row in rows}
    return await _audited(
        company_id, clients, added, actor, (TAG_ADDED, "", tag.name), log_activity
    )


async def remove_from_clients(
    tag: TagView,
    clients: Sequence[tuple[int, str]],
    company_id: int,
    actor: Actor,
    *,
    log_activity: bool = True,
) -> list[int]:
    """Inside a write transaction: takes `tag` off the clients (ID, code) that have it, each
    with a line in its history; returns the IDs of those that had it."""
    actor.require(CLIENTS_EDIT)
    if not clients:
        return []
    rows = (
        await ClientTag.delete()
        .where(
            ClientTag.tag == tag.id,
            ClientTag.client.is_in([client_id for client_id, _ in clients]),
        )
        .returning(ClientTag.client)
    )
    removed = {row["client"] for row in rows}
    change = (TAG_REMOVED, "", tag.name)
    return await _audited(company_id, clients, removed, actor, change, log_activity)


async def _audited(
    company_id: int,
    clients: Sequence[tuple[int, str]],
    changed: set[int],
    actor: Actor,
    change: audit.Change,
    log_activity: bool,
) -> list[int]:
    """A line in the history of each of the clients (ID, code) the change reached; their IDs."""
    for client_id, code in clients:
        if client_id in changed:
            await audit.record(
                company_id, client_id, code, actor, [change], log_activity=log_activity
            )
    return [client_id for client_id, _ in clients if client_id in changed]


async def tag_client(company_id: int, client_id: int, tag_id: int, actor: Actor) -> bool:
    """Puts a tag on one client (the profile); returns whether it was not there yet."""
    return await _change_one(add_to_clients, company_id, client_id, tag_id, actor)


async def untag_client(company_id: int, client_id: int, tag_id: int, actor: Actor) -> bool:
    """Takes a tag off one client (the profile); returns whether it was there."""
    return await _change_one(remove_from_clients, company_id, client_id, tag_id, actor)


async def _change_one(
    change: Callable[..., Awaitable[list[int]]],
    company_id: int,
    client_id: int,
    tag_id: int,
    actor: Actor,
) -> bool:
    """`change` (add_to_clients or remove_from_clients) for one client; whether it changed it."""
    actor.require(CLIENTS_EDIT)
    async for transaction in write_transactions():
        async with transaction:
            code = await audit.client_code(company_id, client_id)
            tag = await get_tag(company_id, tag_id)
            changed = await change(tag, [(client_id, code)], company_id, actor)
    return bool(changed)


@dataclass(frozen=True)
class ClientTags:
    """What the profile's tag box shows: the client's tags, and the others it may get."""

    client_id: int
    tags: list[TagView]
    others: list[TagView]


async def client_tags(company_id: int, client_id: int) -> ClientTags:
    async with read_transaction():
        await audit.client_code(company_id, client_id)
        company_tags = await list_tags(company_id)
        had = (await tags_of_clients([client_id])).get(client_id, [])
    ids = {tag.id for tag in had}
    return ClientTags(client_id, had, [tag for tag in company_tags if tag.id not in ids])
