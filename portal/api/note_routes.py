"""/api/v1/clients/{id}/notes: a client's staff notes listed and read (as staff who may view
clients read them on the profile), added, edited and deleted through the services of the
profile's Notes, with the same rules and messages. A note has no version: its ETag is a digest
of what GET shows of it."""

from __future__ import annotations

from litestar import Request, Response, delete, get, patch, post
from litestar.params import FromPath

from portal.api import services
from portal.api.conventions import (
    API_PATH,
    CLIENT_NOT_FOUND,
    ETAG_HEADER,
    IDEMPOTENCY,
    INVALID_DATA,
    LOCATION_HEADER,
    NOTE_NOT_FOUND,
    PRECONDITIONS,
    REPLAYED_HEADER,
    Answer,
    ApiKeyParam,
    Cursor,
    IdempotencyKey,
    IfMatch,
    Limit,
    as_problems,
    content_tag,
    created,
    idempotently,
    read_strictly,
    require_match,
    respond,
    stored,
)
from portal.api.permissions import CLIENTS_NOTES, CLIENTS_READ
from portal.api.schemas import NoteBody, NoteDetail, NotePage
from portal.clients import notes
from portal.clients.tables import ClientNote
from portal.core.db import locked, write_transactions
from portal.core.errors import NotFound
from portal.core.ids import is_row_id
from portal.core.web import client_address


def _note(row: dict) -> NoteDetail:
    return NoteDetail(
        id=row["id"],
        title=row["title"],
        body=row["body"],
        sticky=row["sticky"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def _read(company_id: int, client_id: int, note_id: int) -> tuple[NoteDetail, str]:
    """The note as GET shows it, and its ETag."""
    detail = _note(await notes.get_note(company_id, client_id, note_id))
    return detail, content_tag(detail)


def _answer(detail: NoteDetail, etag: str) -> Response:
    return respond(stored(Answer(200, detail, {"ETag": etag})))


async def _checked(
    company_id: int, client_id: int, note_id: int, if_match: str | None
) -> notes.NoteDetails:
    """Inside a write transaction: the note, held until commit, when If-Match names it as it
    is; what it holds, as the service takes it."""
    if not is_row_id(client_id) or not is_row_id(note_id):
        raise NotFound()
    await locked(
        ClientNote.select(ClientNote.id).where(
            ClientNote.id == note_id, ClientNote.client == client_id
        )
    )
    detail, etag = await _read(company_id, client_id, note_id)
    require_match(if_match, etag, "note")
    return notes.NoteDetails(title=detail.title, body=detail.body, sticky=detail.sticky)


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
    return NotePage(
        items=[_note(row) for row in rows[:limit]],
        next_cursor=rows[limit - 1]["id"] if len(rows) > limit else None,
    )


@get(
    "/clients/{client_id:int}/notes/{note_id:int}",
    summary="Read a note of a client",
    tags=["notes"],
    permission=CLIENTS_READ,
    responses=NOTE_NOT_FOUND,
    response_headers=[ETAG_HEADER],
)
async def read_note(
    api_key: ApiKeyParam, client_id: FromPath[int], note_id: FromPath[int]
) -> Response[NoteDetail]:
    return _answer(*await _read(api_key.company_id, client_id, note_id))


@post(
    "/clients/{client_id:int}/notes",
    summary="Add a note to a client",
    tags=["notes"],
    permission=CLIENTS_NOTES,
    responses={**CLIENT_NOT_FOUND, **INVALID_DATA, **IDEMPOTENCY},
    response_headers=[LOCATION_HEADER, ETAG_HEADER, REPLAYED_HEADER],
)
async def create_note(
    api_key: ApiKeyParam,
    request: Request,
    client_id: FromPath[int],
    data: NoteBody,
    idempotency_key: IdempotencyKey = None,
) -> Response[NoteDetail]:
    """Add Note, with its rules and messages; the client's history records it."""
    data = await read_strictly(request, data)
    company_id = api_key.company_id

    async def carry_out() -> Answer:
        details = notes.NoteDetails()
        data.apply_to(details)
        with as_problems():
            note_id = await notes.add_note(
                company_id, client_id, details, api_key.actor(client_address(request))
            )
        detail, etag = await _read(company_id, client_id, note_id)
        return created(detail, f"{API_PATH}/clients/{client_id}/notes/{note_id}", etag)

    return await idempotently(request, api_key, idempotency_key, data, carry_out)


@patch(
    "/clients/{client_id:int}/notes/{note_id:int}",
    summary="Edit a note of a client",
    tags=["notes"],
    permission=CLIENTS_NOTES,
    responses={**NOTE_NOT_FOUND, **INVALID_DATA, **PRECONDITIONS},
    response_headers=[ETAG_HEADER],
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
    data = await read_strictly(request, data)
    company_id = api_key.company_id
    async for transaction in write_transactions():
        async with transaction:
            details = await _checked(company_id, client_id, note_id, if_match)
            data.apply_to(details)
            with as_problems():
                await notes.update_note(
                    company_id, client_id, note_id, details, api_key.actor(client_address(request))
                )
    return _answer(*await _read(company_id, client_id, note_id))


@delete(
    "/clients/{client_id:int}/notes/{note_id:int}",
    summary="Delete a note of a client",
    tags=["notes"],
    permission=CLIENTS_NOTES,
    responses={**NOTE_NOT_FOUND, **PRECONDITIONS},
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
    async for transaction in write_transactions():
        async with transaction:
            await _checked(company_id, client_id, note_id, if_match)
            await notes.delete_note(
                company_id, client_id, note_id, api_key.actor(client_address(request))
            )


handlers = [list_notes, read_note, create_note, update_note, delete_note]
