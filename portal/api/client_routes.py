"""/api/v1/clients: list, read, add, edit, change the status of and delete a company's clients,
through the services the admin area calls (Add Client, Edit Client, the profile's status and
Delete Client), with the same rules and messages. A client's ETag is its version."""

from __future__ import annotations

from litestar import Request, Response, delete, get, patch, post, put
from litestar.exceptions import NotFoundException
from litestar.params import FromPath

from portal.api import services
from portal.api.conventions import (
    API_PATH,
    CLIENT_NOT_FOUND,
    ApiKeyParam,
    Cursor,
    IdempotencyKey,
    IfMatch,
    Limit,
    Resource,
    adding,
    as_problems,
    deleting,
    editing,
    next_cursor,
    reading,
    version_tag,
)
from portal.api.permissions import CLIENTS_DELETE, CLIENTS_READ, CLIENTS_STATUS, CLIENTS_WRITE
from portal.api.schemas import (
    ClientChangesBody,
    ClientDetail,
    ClientPage,
    ClientSummary,
    NewClientBody,
    PhoneNumber,
    StatusBody,
)
from portal.client_groups.services import custom_values, list_fields
from portal.clients import lifecycle, merge
from portal.clients import services as clients
from portal.clients.forms import blank_client_details, client_details_of
from portal.clients.services import ClientDetails
from portal.clients.tables import Client
from portal.companies.services import get_company
from portal.core.errors import Conflict, NotFound, ValidationError
from portal.core.lookups import company_row
from portal.core.rows import from_row
from portal.core.web import client_address

# The admin form's field names that the API names otherwise (as ClientDetail reads).
RENAMED = {"company": "company_name"}


NO_SUCH_FIELD = "The client's group has no custom field with this id."


async def _refuse_unknown_fields(company_id: int, details: ClientDetails, sent: dict) -> None:
    """Custom field ids `sent` that the client's group has none of are refused: a form cannot
    send one, and an integration that does has the wrong id and must hear it rather than see
    its value dropped. (A group that is not the company's is the service's to refuse.)"""
    groups = {str(group["id"]) for group in await clients.groups_of_company(company_id)}
    if not sent or details.group_id not in groups:
        return
    known = {str(row["id"]) for row in await list_fields(company_id, int(details.group_id))}
    unknown = {f"custom_{field_id}": NO_SUCH_FIELD for field_id in sent if field_id not in known}
    if unknown:
        raise ValidationError(unknown)


def _client_url(client_id: int) -> str:
    return f"{API_PATH}/clients/{client_id}"


async def _read(company_id: int, client_id: int) -> tuple[ClientDetail, str]:
    """The client as GET shows it, and its ETag. A client merged into another is a 404 that
    names the client it lives on in (a redirect would answer for another ID than the one
    asked for)."""
    try:
        client = await clients.get_client(company_id, client_id)
    except NotFound:
        if (merged := await merge.merged_into(company_id, client_id)) is None:
            raise
        raise NotFoundException(
            f"Client {client_id} was merged into client {merged.kept_id} "
            f"(client ID {merged.kept_code}): read {_client_url(merged.kept_id)}."
        ) from None
    custom = await custom_values(client.id)
    # The primary contact's fields, and the client's own (its id, status, consent, times…).
    detail = from_row(
        ClientDetail,
        {**client.contact, **vars(client)},
        client_id=client.code,
        company_name=client.contact["company"],
        phone_numbers=[
            PhoneNumber(
                type=n.number_type,  # type: ignore[arg-type]
                location=n.location,  # type: ignore[arg-type]
                number=n.e164,
                extension=n.extension,
            )
            for n in client.numbers
        ],
        custom_fields={str(field_id): value for field_id, value in sorted(custom.items())},
    )
    return detail, version_tag(client.version)


async def _hold(company_id: int, client_id: int) -> tuple[None, str]:
    """Inside a write transaction: the client's ETag, its version, which stays so until
    commit."""
    row = await company_row(Client, company_id, client_id, Client.version, lock=True)
    return None, version_tag(row["version"])


CLIENT = Resource("client", read=_read, url=_client_url, hold=_hold)


@get("/clients", summary="List clients", tags=["clients"], permission=CLIENTS_READ)
async def list_clients(api_key: ApiKeyParam, cursor: Cursor = 0, limit: Limit = 100) -> ClientPage:
    """The key's company's clients, by id, a page at a time."""
    ids = await services.client_ids_after(api_key.company_id, cursor, limit + 1)
    rows = await services.client_rows(api_key.company_id, ids[:limit])
    items = [
        from_row(
            ClientSummary,
            row,
            client_id=row["code"],
            marketing_opt_in=bool(row["marketing_opt_in"]),
        )
        for row in rows
    ]
    return ClientPage(items=items, next_cursor=next_cursor(ids, limit))


@get(
    "/clients/{client_id:int}",
    summary="Read a client",
    tags=["clients"],
    permission=CLIENTS_READ,
    **reading(CLIENT_NOT_FOUND),
)
async def read_client(api_key: ApiKeyParam, client_id: FromPath[int]) -> Response[ClientDetail]:
    """One client of the key's company, with its primary contact, phone numbers and custom
    field values."""
    return await CLIENT.answer(api_key.company_id, client_id)


@post(
    "/clients",
    summary="Add a client",
    tags=["clients"],
    permission=CLIENTS_WRITE,
    **adding(),
)
async def create_client(
    api_key: ApiKeyParam,
    request: Request,
    data: NewClientBody,
    idempotency_key: IdempotencyKey = None,
) -> Response[ClientDetail]:
    """Add Client: the client, its owner login, primary contact, numbers, custom values and
    consent record in one transaction, under the next client ID of its group's format, with
    Add Client's rules and messages. Without a `password` the owner has none until it chooses
    one ("Forgot password?")."""
    company_id = api_key.company_id

    async def add(sent: NewClientBody) -> int:
        company = await get_company(company_id)
        groups = await clients.groups_of_company(company_id)
        default_group = next((group["id"] for group in groups if group["is_default"]), None)
        details = blank_client_details(company, default_group)
        sent.apply_to(details)
        with as_problems(RENAMED):
            await _refuse_unknown_fields(company_id, details, sent.custom_fields or {})
            return await clients.create_client(
                company_id,
                details,
                sent.password or None,
                api_key.actor(client_address(request)),
                source="api",
            )

    return await CLIENT.add(request, api_key, idempotency_key, data, add)


@patch(
    "/clients/{client_id:int}",
    summary="Edit a client",
    tags=["clients"],
    permission=CLIENTS_WRITE,
    **editing(CLIENT_NOT_FOUND),
)
async def update_client(
    api_key: ApiKeyParam,
    request: Request,
    client_id: FromPath[int],
    data: ClientChangesBody,
    if_match: IfMatch = None,
) -> Response[ClientDetail]:
    """Edit Client: the members sent change, the others keep their values, under Edit
    Client's rules and messages (a `password` is the owner's new one, and ends its other
    sessions). Needs `If-Match` with the client's ETag."""
    company_id = api_key.company_id

    async def change(sent: ClientChangesBody) -> None:
        current = await clients.get_client(company_id, client_id)
        CLIENT.check(if_match, version_tag(current.version))
        details = client_details_of(current, await custom_values(current.id))
        sent.apply_to(details)
        try:
            with as_problems(RENAMED):
                await _refuse_unknown_fields(company_id, details, sent.custom_fields or {})
                await clients.update_client(
                    company_id,
                    current.id,
                    details,
                    expected_version=current.version,
                    new_password=sent.password or None,
                    actor=api_key.actor(client_address(request)),
                    source="api",
                )
        except Conflict:
            raise CLIENT.changed_meanwhile() from None

    return await CLIENT.edit(request, data, company_id, (client_id,), change)


@put(
    "/clients/{client_id:int}/status",
    summary="Change a client's status",
    tags=["clients"],
    permission=CLIENTS_STATUS,
    **editing(CLIENT_NOT_FOUND, invalid=False),
)
async def change_status(
    api_key: ApiKeyParam,
    request: Request,
    client_id: FromPath[int],
    data: StatusBody,
    if_match: IfMatch = None,
) -> Response[ClientDetail]:
    """Active, Inactive or Fraud, as on the profile: Inactive and Fraud end the sessions of
    the account's users at once and refuse their logins; the records stay. Setting the status
    it has changes nothing. Needs `If-Match` with the client's ETag."""
    company_id = api_key.company_id

    async def change(sent: StatusBody, _: None) -> None:
        await lifecycle.set_status(
            company_id, client_id, sent.status, api_key.actor(client_address(request))
        )

    return await CLIENT.edit_held(request, data, if_match, company_id, (client_id,), change)


@delete(
    "/clients/{client_id:int}",
    summary="Delete a client",
    tags=["clients"],
    permission=CLIENTS_DELETE,
    **deleting(CLIENT_NOT_FOUND),
)
async def delete_client(
    api_key: ApiKeyParam, request: Request, client_id: FromPath[int], if_match: IfMatch = None
) -> None:
    """Delete Client: the client and everything of it (contacts, logins of this account alone,
    notes, invoices, the mail log…) in one transaction; the activity log keeps one line naming
    its client ID. Needs `If-Match` with the client's ETag. (The admin area also asks staff
    for their password; a key is its own proof.)"""
    company_id = api_key.company_id

    async def remove(_: None) -> None:
        await lifecycle.remove_client(company_id, client_id, api_key.actor(client_address(request)))

    await CLIENT.change_held(if_match, company_id, (client_id,), remove)


handlers = [
    list_clients,
    read_client,
    create_client,
    update_client,
    change_status,
    delete_client,
]
