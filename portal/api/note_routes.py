"""/api/v1/clients/{id}/notes: a client's staff notes listed and read (as staff who may view
clients read them on the profile), added, edited and deleted through the services of the
profile's Notes, with the same rules and messages. A note has no version: its ETag is a digest
of what GET shows of it."""

from __future__ import annotations

from functools import partial

from litestar import Request, Response, delete, get, patch, post
from litestar.params import FromPath

from portal.api import services
from portal.api.conventions import (
    CLIENT_NOT_FOUND,
    NOTE_NOT_FOUND,
    ApiKeyParam,
    Cursor,
    IdempotencyKey,
    IfMatch,
    Limit,
    Resource,
    adding,
    as_problems,
    cursor_page,
    deleting,
    editing,
    reading,
)
from portal.api.permissions import CLIENTS_NOTES, CLIENTS_READ
from portal.api.schemas import NoteBody, NoteDetail, NotePage
from portal.clients import notes
from portal.clients.tables import ClientNote
from portal.core.rows import from_row
from portal.core.web import client_address


async def _shown(company_id: int, client_id: int, note_id: int) -> NoteDetail:
    """The note as GET shows it."""
    return from_row(NoteDetail, await notes.get_note(company_id, client_id, note_id))


NOTE = Resource.of_client("note", "notes", ClientNote, _shown)


@get(
    "/clients/{client_id:int}/notes",
    summary="List a client's notes",
    tags=["notes"],
    permission=CLIENTS_READ,
    responses=CLIENT_NOT_FOUND,
)
async def list_notes(
    api_key: ApiKeyParam, client_id: FromPath[int], cursor: Cursor = 0, limit: Limit = 100
) -> NotePage:
    """The staff notes of one client of the key's company, by id, a page at a time."""
    rows = await services.client_notes(api_key.company_id, client_id, cursor, limit + 1)
    return cursor_page(NotePage, rows, limit, partial(from_row, NoteDetail))


@get(
    "/clients/{client_id:int}/notes/{note_id:int}",
    summary="Read a note of a client",
    tags=["notes"],
    permission=CLIENTS_READ,
    **reading(NOTE_NOT_FOUND),
)
async def read_note(
    api_key: ApiKeyParam, client_id: FromPath[int], note_id: FromPath[int]
) -> Response[NoteDetail]:
    return await NOTE.answer(api_key.company_id, client_id, note_id)


@post(
    "/clients/{client_id:int}/notes",
    summary="Add a note to a client",
    tags=["notes"],
    permission=CLIENTS_NOTES,
    **adding(CLIENT_NOT_FOUND),
)
async def create_note(
    api_key: ApiKeyParam,
    request: Request,
    client_id: FromPath[int],
    data: NoteBody,
    idempotency_key: IdempotencyKey = None,
) -> Response[NoteDetail]:
    """Add Note, with its rules and messages; the client's history records it."""

    async def add(sent: NoteBody) -> int:
        details = notes.NoteDetails()
        sent.apply_to(details)
        with as_problems():
            return await notes.add_note(
                api_key.company_id, client_id, details, api_key.actor(client_address(request))
            )

    return await NOTE.add(request, api_key, idempotency_key, data, add, client_id)


@patch(
    "/clients/{client_id:int}/notes/{note_id:int}",
    summary="Edit a note of a client",
    tags=["notes"],
    permission=CLIENTS_NOTES,
    **editing(NOTE_NOT_FOUND),
)
async def update_note(
    api_key: ApiKeyParam,
    request: Request,
    client_id: FromPath[int],
    note_id: FromPath[int],
    data: NoteBody,
    if_match: IfMatch = None,
) -> Response[NoteDetail]:
    """Edit Note: the members sent change, the others keep their values; the client's
    history records what changed. Needs `If-Match` with the note's ETag."""
    company_id = api_key.company_id

    async def change(sent: NoteBody, held: NoteDetail | None) -> None:
        assert held is not None
        details = notes.NoteDetails(title=held.title, body=held.body, sticky=held.sticky)
        sent.apply_to(details)
        with as_problems():
            await notes.update_note(
                company_id, client_id, note_id, details, api_key.actor(client_address(request))
            )

    return await NOTE.edit_held(request, data, if_match, company_id, (client_id, note_id), change)


@delete(
    "/clients/{client_id:int}/notes/{note_id:int}",
    summary="Delete a note of a client",
    tags=["notes"],
    permission=CLIENTS_NOTES,
    **deleting(NOTE_NOT_FOUND),
)
async def delete_note(
    api_key: ApiKeyParam,
    request: Request,
    client_id: FromPath[int],
    note_id: FromPath[int],
    if_match: IfMatch = None,
) -> None:
    """The client's history records it. Needs `If-Match` with the note's ETag."""
    company_id = api_key.company_id

    async def remove(_: NoteDetail | None) -> None:
        await notes.delete_note(
            company_id, client_id, note_id, api_key.actor(client_address(request))
        )

    await NOTE.change_held(if_match, company_id, (client_id, note_id), remove)


handlers = [list_notes, read_note, create_note, update_note, delete_note]
