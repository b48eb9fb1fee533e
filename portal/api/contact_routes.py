"""/api/v1/clients/{id}/contacts: a client's contacts listed and read, and its billing and other
contacts added, edited and deleted through the services of the admin area's Add Contact and
Edit Contact, with the same rules and messages (the primary contact is the client's own: PATCH
the client). A contact has no version: its ETag is a digest of what GET shows of it."""

from __future__ import annotations

from litestar import Request, Response, delete, get, patch, post
from litestar.params import FromPath

from portal.api import services
from portal.api.conventions import (
    CLIENT_NOT_FOUND,
    CONTACT_NOT_FOUND,
    INVALID_DATA,
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
from portal.api.permissions import CLIENTS_READ, CLIENTS_WRITE
from portal.api.schemas import ContactBody, ContactDetail, ContactList, PhoneNumber
from portal.clients import contacts
from portal.clients import services as clients
from portal.clients.contacts import ContactDetails
from portal.clients.forms import contact_details_of
from portal.clients.tables import Contact
from portal.core.rows import from_row
from portal.core.web import client_address

# The admin form's field names that the API names otherwise (as ContactDetail reads).
RENAMED = {"contact_type": "type"}


def _contact(row: dict) -> ContactDetail:
    return from_row(
        ContactDetail,
        row,
        type=row["contact_type"],
        phone_numbers=[from_row(PhoneNumber, n, type=n["number_type"]) for n in row["numbers"]],
    )


async def _shown(company_id: int, client_id: int, contact_id: int) -> ContactDetail:
    """The contact as GET shows it."""
    return _contact((await services.client_contacts(company_id, client_id, contact_id))[0])


CONTACT = Resource.of_client("contact", "contacts", Contact, _shown)


@get(
    "/clients/{client_id:int}/contacts",
    summary="List a client's contacts",
    tags=["clients"],
    permission=CLIENTS_READ,
    responses=CLIENT_NOT_FOUND,
)
async def list_contacts(
    api_key: ApiKeyParam, client_id: FromPath[int], cursor: Cursor = 0, limit: Limit = 100
) -> ContactList:
    """The contacts of one client of the key's company, a page at a time: its primary contact
    first, then its billing and other contacts by id, each with its phone numbers, its
    marketing consent and whether it logs in to the client area."""
    rows = await services.client_contacts(
        api_key.company_id, client_id, after=cursor, limit=limit + 1
    )
    return cursor_page(ContactList, rows, limit, _contact)


@get(
    "/clients/{client_id:int}/contacts/{contact_id:int}",
    summary="Read a contact of a client",
    tags=["clients"],
    permission=CLIENTS_READ,
    **reading(CONTACT_NOT_FOUND),
)
async def read_contact(
    api_key: ApiKeyParam, client_id: FromPath[int], contact_id: FromPath[int]
) -> Response[ContactDetail]:
    """One contact (primary, billing or other) of one client of the key's company."""
    return await CONTACT.answer(api_key.company_id, client_id, contact_id)


@post(
    "/clients/{client_id:int}/contacts",
    summary="Add a contact to a client",
    tags=["clients"],
    permission=CLIENTS_WRITE,
    **adding(CLIENT_NOT_FOUND),
)
async def create_contact(
    api_key: ApiKeyParam,
    request: Request,
    client_id: FromPath[int],
    data: ContactBody,
    idempotency_key: IdempotencyKey = None,
) -> Response[ContactDetail]:
    """Add Contact: a billing (unless `type` says other) contact with its phone numbers and
    its own marketing consent (recorded in the consent log), under the client group's rules
    for contacts and with Add Contact's messages. It starts in the client's country."""

    async def add(sent: ContactBody) -> int:
        client = await clients.get_client(api_key.company_id, client_id)
        details = ContactDetails(country=client.contact["country"])
        sent.apply_to(details)
        with as_problems(RENAMED):
            return await contacts.add_contact(
                api_key.company_id,
                client.id,
                details,
                api_key.actor(client_address(request)),
                source="api",
            )

    return await CONTACT.add(request, api_key, idempotency_key, data, add, client_id)


@patch(
    "/clients/{client_id:int}/contacts/{contact_id:int}",
    summary="Edit a contact of a client",
    tags=["clients"],
    permission=CLIENTS_WRITE,
    **editing(CONTACT_NOT_FOUND),
)
async def update_contact(
    api_key: ApiKeyParam,
    request: Request,
    client_id: FromPath[int],
    contact_id: FromPath[int],
    data: ContactBody,
    if_match: IfMatch = None,
) -> Response[ContactDetail]:
    """Edit Contact, for a billing or other contact: the members sent change, the others keep
    their values. A contact's login keeps its username and permissions; its email and name
    follow the contact's when the login belongs to this account alone. Needs `If-Match` with
    the contact's ETag. (Its check and the change are two steps: a change another writer
    makes between them is not seen; what it changed, the history shows.)"""
    company_id = api_key.company_id

    async def change(sent: ContactBody) -> None:
        _, etag = await CONTACT.read(company_id, client_id, contact_id)
        CONTACT.check(if_match, etag)
        details = contact_details_of(await contacts.get_contact(company_id, client_id, contact_id))
        sent.apply_to(details)
        with as_problems(RENAMED):
            await contacts.update_contact(
                company_id,
                client_id,
                contact_id,
                details,
                api_key.actor(client_address(request)),
                source="api",
            )

    return await CONTACT.edit(request, data, company_id, (client_id, contact_id), change)


@delete(
    "/clients/{client_id:int}/contacts/{contact_id:int}",
    summary="Delete a contact of a client",
    tags=["clients"],
    permission=CLIENTS_WRITE,
    **deleting(CONTACT_NOT_FOUND, refusals={422: INVALID_DATA[422]}),
)
async def delete_contact(
    api_key: ApiKeyParam,
    request: Request,
    client_id: FromPath[int],
    contact_id: FromPath[int],
    if_match: IfMatch = None,
) -> None:
    """Deletes a billing or other contact with its numbers and consent records; its login
    leaves the account, and goes when it belongs to no other account. The primary contact,
    and a contact whose login owns the account, cannot be deleted (422). Needs `If-Match`
    with the contact's ETag."""
    company_id = api_key.company_id

    async def remove(_: ContactDetail | None) -> None:
        with as_problems(RENAMED):
            await contacts.delete_contact(
                company_id, client_id, contact_id, api_key.actor(client_address(request))
            )

    await CONTACT.change_held(if_match, company_id, (client_id, contact_id), remove)


handlers = [list_contacts, read_contact, create_contact, update_contact, delete_contact]
