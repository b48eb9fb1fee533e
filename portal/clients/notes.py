"""Staff notes on a client: title, body, sticky (shown across the top of the profile). Every
add, edit and delete is written to the client's audit log in the same transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from portal.clients import audit
from portal.clients.tables import ClientNote
from portal.core.actors import Actor
from portal.core.db import write_transactions
from portal.core.errors import NotFound, ValidationError
from portal.core.forms import Field, without_control_characters
from portal.core.ids import is_row_id
from portal.core.pagination import Page
from portal.core.permissions import CLIENTS_NOTES

TITLE = Field("title", "Title", 255, required=True)
BODY = Field("body", "Note", 20_000)
MAX_STICKY_SHOWN = 20


@dataclass
class NoteDetails:
    title: str = ""
    body: str = ""
    sticky: bool = False


def kept_text(text: str) -> str:
    """A note's title or body as it is kept."""
    return without_control_characters(text).strip()


def _check(details: NoteDetails) -> NoteDetails:
    clean = NoteDetails(
        title=kept_text(details.title),
        body=kept_text(details.body),
        sticky=details.sticky,
    )
    errors: dict[str, str] = {}
    TITLE.check(errors, clean.title)
    BODY.check(errors, clean.body)
    if errors:
        raise ValidationError(errors)
    return clean


async def get_note(company_id: int, client_id: int, note_id: int) -> dict:
    """The note, when it is the client's and the client is the company's; else NotFound."""
    await audit.client_code(company_id, client_id)
    if not is_row_id(note_id):
        raise NotFound()
    row = (
        await ClientNote.select()
        .where(ClientNote.id == note_id, ClientNote.client == client_id)
        .first()
    )
    if row is None:
        raise NotFound()
    return row


async def add_note(company_id: int, client_id: int, details: NoteDetails, actor: Actor) -> int:
    actor.require(CLIENTS_NOTES)
    clean = _check(details)
    async for transaction in write_transactions():
        async with transaction:
            code = await audit.client_code(company_id, client_id)
            rows = await ClientNote.insert(
                ClientNote(
                    client=client_id,
                    title=clean.title,
                    body=clean.body,
                    sticky=clean.sticky,
                    staff_id=actor.id if actor.kind == "staff" else None,
                )
            ).returning(ClientNote.id)
            sticky = " (sticky)" if clean.sticky else ""
            await audit.record(
                company_id, client_id, code, actor, [("Note", "", f"added: {clean.title}{sticky}")]
            )
    return rows[0]["id"]


async def update_note(
    company_id: int, client_id: int, note_id: int, details: NoteDetails, actor: Actor
) -> None:
    actor.require(CLIENTS_NOTES)
    clean = _check(details)
    async for transaction in write_transactions():
        async with transaction:
            code = await audit.client_code(company_id, client_id)
            note = await get_note(company_id, client_id, note_id)
            await ClientNote.update(
                {
                    ClientNote.title: clean.title,
                    ClientNote.body: clean.body,
                    ClientNote.sticky: clean.sticky,
                    ClientNote.updated_at: datetime.now(UTC),
                }
            ).where(ClientNote.id == note_id)
            changes = []
            if note["title"] != clean.title:
                changes.append(("Note title", note["title"], clean.title))
            if note["body"] != clean.body:
                changes.append(("Note", note["body"], clean.body))
            if note["sticky"] != clean.sticky:
                changes.append(
                    (
                        "Note sticky",
                        "Yes" if note["sticky"] else "No",
                        "Yes" if clean.sticky else "No",
                    )
                )
            await audit.record(company_id, client_id, code, actor, changes)


async def delete_note(company_id: int, client_id: int, note_id: int, actor: Actor) -> None:
    actor.require(CLIENTS_NOTES)
    async for transaction in write_transactions():
        async with transaction:
            code = await audit.client_code(company_id, client_id)
            note = await get_note(company_id, client_id, note_id)
            await ClientNote.delete().where(ClientNote.id == note_id)
            await audit.record(
                company_id, client_id, code, actor, [("Note", note["title"], "deleted")]
            )


async def count_notes(client_id: int) -> int:
    return await ClientNote.count().where(ClientNote.client == client_id)


async def list_notes(client_id: int, page: Page) -> list[dict]:
    return (
        await ClientNote.select()
        .where(ClientNote.client == client_id)
        .order_by(ClientNote.sticky, ascending=False)
        .order_by(ClientNote.id, ascending=False)
        .limit(page.per_page)
        .offset(page.offset)
    )


async def sticky_notes(client_id: int) -> list[dict]:
    return (
        await ClientNote.select()
        .where(ClientNote.client == client_id, ClientNote.sticky.eq(True))
        .order_by(ClientNote.id, ascending=False)
        .limit(MAX_STICKY_SHOWN)
    )
