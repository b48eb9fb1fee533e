"""The JSON API under /api/v1 (documented by Litestar's OpenAPI at /api/v1/schema/openapi.json)
and [Settings] > Company > API Keys in the admin area.

Every API request carries `Authorization: Bearer <key>`; a missing, unknown or revoked key is a
401 with a JSON body. Every route names the API permission it needs (`@get(...,
permission=CLIENTS_READ)`); a key without it gets a 403. A key reads and changes only its own
company's data: another company's client is a 404, the same as one that does not exist. Plugins
add endpoints of their own (the mass mailer's /marketing/…) behind the same checks.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from copy import copy
from inspect import cleandoc
from typing import Annotated, Any

from litestar import Request, Response, Router, get, post
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency, Provide
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    NotFoundException,
    ValidationException,
)
from litestar.handlers import BaseRouteHandler
from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.plugins import JsonRenderPlugin, YamlRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme, Tag
from litestar.params import FromPath, FromQuery, Parameter
from litestar.plugins.flash import flash
from litestar.response import Template
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from portal.api import services
from portal.api.permissions import (
    CLIENTS_READ,
    PERMISSION,
    all_api_permissions,
    api_catalog,
    api_label_of,
)
from portal.api.schemas import (
    ApiError,
    ClientDetail,
    ClientPage,
    ClientSummary,
    ContactDetail,
    ContactList,
    PhoneNumber,
)
from portal.api.services import ApiKeyRef
from portal.clients.services import get_client
from portal.core.errors import NotFound, ValidationError
from portal.core.forms import many, text
from portal.core.ids import MAX_ID, is_row_id
from portal.core.permissions import API_KEYS, Forbidden, label_of
from portal.core.web import form_data, redirect
from portal.staff.access import Admin

logger = logging.getLogger("portal")

API_PATH = "/api/v1"
SCHEMA_PATH = f"{API_PATH}/schema"  # openapi.json and openapi.yaml below it
SECURITY_SCHEME = "BearerKey"

# --- authentication ----------------------------------------------------------------------------


async def require_api_key(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    scheme, _, key = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise NotAuthorizedException("Send an API key: Authorization: Bearer <key>.")
    found = await services.authenticate(key.strip())
    if found is None:
        raise NotAuthorizedException("The API key is not valid, or has been revoked.")
    connection.state.api_key = found


def require_api_permission(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    """The key must hold the API permission the route names. Every route of ours names one
    (see `_documented`); the OPTIONS answers Litestar adds, which only list the methods, none."""
    needed = handler.opt.get(PERMISSION)
    if needed is not None and needed not in connection.state.api_key.permissions:
        raise Forbidden(needed)


def refuse_unknown_query(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    """A query parameter the operation does not declare is a mistake (a typo would otherwise
    quietly fall back to the default): refused with 400, as the schema says."""
    declared = {
        getattr(definition.kwarg_definition, "query", None) or name
        for name, definition in handler.parsed_fn_signature.parameters.items()
    }
    unknown = sorted(set(connection.query_params) - declared)
    if unknown:
        raise ValidationException(
            detail=f"Unknown query parameters: {', '.join(repr(name) for name in unknown)}."
        )


def provide_api_key(request: Request) -> ApiKeyRef:
    return request.state.api_key


# How API handlers ask for the caller: `api_key: ApiKeyParam`.
ApiKeyParam = NamedDependency[ApiKeyRef]

# What the router's guards answer, on every operation.
ERROR_RESPONSES = {
    401: ResponseSpec(
        ApiError,
        generate_examples=False,
        description="No API key, or one that is not valid or revoked.",
    ),
    403: ResponseSpec(
        ApiError,
        generate_examples=False,
        description="The API key does not have the permission this operation needs.",
    ),
}
NOT_FOUND = {
    404: ResponseSpec(
        ApiError, generate_examples=False, description="No such client in the key's company."
    )
}

# --- errors as JSON ----------------------------------------------------------------------------


def _api_http_error(request: Request, exc: HTTPException) -> Response:
    body: dict[str, Any] = {"status_code": exc.status_code, "detail": exc.detail}
    if isinstance(exc, ValidationException) and exc.extra:
        body["extra"] = exc.extra
    headers = dict(exc.headers or {})
    if exc.status_code == 401:
        headers["www-authenticate"] = 'Bearer realm="api"'
    return Response(body, status_code=exc.status_code, headers=headers)


def _api_forbidden(request: Request, exc: Forbidden) -> Response:
    """A permission the key lacks: an API permission the route needs (the guard), or a staff
    permission a service checked on the key's actor."""
    if exc.permission in all_api_permissions():
        detail = (
            f"This API key does not have the permission {exc.permission} "
            f"({api_label_of(exc.permission)}), or the staff member who made it no longer may."
        )
    else:
        detail = f"This API key may not do this: it needs “{label_of(exc.permission)}”."
    return _api_http_error(request, HTTPException(status_code=403, detail=detail))


def _api_internal_error(request: Request, exc: Exception) -> Response:
    logger.exception("Unhandled API error on %s %s", request.method, request.url.path)
    return Response(
        {"status_code": 500, "detail": "An unexpected error stopped this request."},
        status_code=HTTP_500_INTERNAL_SERVER_ERROR,
    )


def bad_request(error: ValidationError) -> ValidationException:
    """A service's field errors as a 400 with the fields in `extra`."""
    return ValidationException(
        detail="; ".join(f"{k or 'request'}: {v}" for k, v in error.errors.items()),
        extra=[{"key": key, "message": message} for key, message in error.errors.items()],
    )


# --- clients -----------------------------------------------------------------------------------

Cursor = Annotated[
    int,
    Parameter(ge=0, le=MAX_ID, description="Return items with an id above this (next_cursor)."),
]
Limit = Annotated[int, Parameter(ge=1, le=500, description="Items per page.")]


@get("/clients", summary="List clients", tags=["clients"], permission=CLIENTS_READ)
async def list_clients(api_key: ApiKeyParam, cursor: Cursor = 0, limit: Limit = 100) -> ClientPage:
    """The key's company's clients, by id, a page at a time."""
    ids = await services.client_ids_after(api_key.company_id, cursor, limit + 1)
    rows = await services.client_rows(api_key.company_id, ids[:limit])
    items = [
        ClientSummary(
            id=row["id"],
            client_id=row["code"],
            status=row["status"],
            first_name=row["first_name"],
            last_name=row["last_name"],
            company_name=row["company_name"],
            email=row["email"],
            language=row["language"],
            country=row["country"],
            group_id=row["group_id"],
            group_name=row["group_name"],
            marketing_opt_in=bool(row["marketing_opt_in"]),
            created_at=row["created_at"],
        )
        for row in rows
    ]
    return ClientPage(items=items, next_cursor=ids[limit - 1] if len(ids) > limit else None)


@get(
    "/clients/{client_id:int}",
    summary="Read a client",
    tags=["clients"],
    permission=CLIENTS_READ,
    responses=NOT_FOUND,
)
async def read_client(api_key: ApiKeyParam, client_id: FromPath[int]) -> ClientDetail:
    """One client of the key's company, with its primary contact and phone numbers."""
    if not is_row_id(client_id):
        raise NotFoundException("No such client.")
    client = await get_client(api_key.company_id, client_id)
    contact = client.contact
    return ClientDetail(
        id=client.id,
        client_id=client.code,
        status=client.status,  # type: ignore[arg-type]
        first_name=contact["first_name"],
        last_name=contact["last_name"],
        company_name=contact["company"],
        title=contact["title"],
        email=contact["email"],
        address1=contact["address1"],
        address2=contact["address2"],
        city=contact["city"],
        state=contact["state"],
        zip=contact["zip"],
        country=contact["country"],
        phone_numbers=[
            PhoneNumber(
                type=n.number_type,  # type: ignore[arg-type]
                location=n.location,  # type: ignore[arg-type]
                number=n.e164,
                extension=n.extension,
            )
            for n in client.numbers
        ],
        language=client.language,
        preferred_currency=client.preferred_currency,
        tax_exempt=client.tax_exempt,
        tax_id=client.tax_id,
        group_id=client.group_id,
        group_name=client.group_name,
        marketing_opt_in=client.marketing_opt_in,
        created_at=client.created_at,
        updated_at=client.updated_at,
    )


CONTACT_NOT_FOUND = {
    404: ResponseSpec(
        ApiError,
        generate_examples=False,
        description="No such client in the key's company, or no such contact of the client.",
    )
}


def _contact(row: dict) -> ContactDetail:
    return ContactDetail(
        id=row["id"],
        type=row["contact_type"],
        first_name=row["first_name"],
        last_name=row["last_name"],
        company=row["company"],
        title=row["title"],
        address1=row["address1"],
        address2=row["address2"],
        city=row["city"],
        state=row["state"],
        zip=row["zip"],
        country=row["country"],
        email=row["email"],
        phone_numbers=[
            PhoneNumber(
                type=n["number_type"],
                location=n["location"],
                number=n["number"],
                extension=n["extension"],
            )
            for n in row["numbers"]
        ],
        marketing_opt_in=row["marketing_opt_in"],
        has_login=row["has_login"],
    )


@get(
    "/clients/{client_id:int}/contacts",
    summary="List a client's contacts",
    tags=["clients"],
    permission=CLIENTS_READ,
    responses=NOT_FOUND,
)
async def list_contacts(api_key: ApiKeyParam, client_id: FromPath[int]) -> ContactList:
    """Every contact of one client of the key's company: its primary contact first, then its
    billing and other contacts, each with its phone numbers, its marketing consent and whether
    it logs in to the client area."""
    try:
        rows = await services.client_contacts(api_key.company_id, client_id)
    except NotFound:
        raise NotFoundException("No such client.") from None
    return ContactList(items=[_contact(row) for row in rows])


@get(
    "/clients/{client_id:int}/contacts/{contact_id:int}",
    summary="Read a contact of a client",
    tags=["clients"],
    permission=CLIENTS_READ,
    responses=CONTACT_NOT_FOUND,
)
async def read_contact(
    api_key: ApiKeyParam, client_id: FromPath[int], contact_id: FromPath[int]
) -> ContactDetail:
    """One contact (primary, billing or other) of one client of the key's company."""
    try:
        rows = await services.client_contacts(api_key.company_id, client_id, contact_id)
    except NotFound:
        raise NotFoundException("No such contact.") from None
    return _contact(rows[0])


def _documented(handler: Any) -> Any:
    """A copy of an API route handler whose schema states what the router's guards answer and,
    in its description, the permission it needs. A route that names none is a mistake."""
    if PERMISSION not in handler.opt:
        raise TypeError(f"the API route {handler.paths} does not name the permission it needs")
    needed = handler.opt[PERMISSION]
    documented = copy(handler)
    documented.responses = {**ERROR_RESPONSES, **(handler.responses or {})}
    purpose = cleandoc(handler.fn.__doc__ or "")
    documented.description = (
        f"{purpose}\n\nNeeds the API permission `{needed}` ({api_label_of(needed)})."
    ).strip()
    return documented


def api_router(extra_handlers: Sequence[Any] = ()) -> Router:
    """/api/v1 with the key and permission checks on every route; `extra_handlers` come from
    plugins."""
    return Router(
        path=API_PATH,
        route_handlers=[
            _documented(h)
            for h in (list_clients, read_client, list_contacts, read_contact, *extra_handlers)
        ],
        guards=[require_api_key, require_api_permission, refuse_unknown_query],
        dependencies={"api_key": Provide(provide_api_key, sync_to_thread=False)},
        exception_handlers={
            HTTPException: _api_http_error,
            Forbidden: _api_forbidden,
            Exception: _api_internal_error,
        },
        include_in_schema=True,
        security=[{SECURITY_SCHEME: []}],
    )


def openapi_config() -> OpenAPIConfig:
    """The schema of /api/v1 only (the app leaves every other route out of it), as JSON at
    /api/v1/schema/openapi.json and YAML at /api/v1/schema/openapi.yaml. No HTML viewer: those
    load scripts from CDNs, which the portal's CSP forbids."""
    return OpenAPIConfig(
        title="Client portal API",
        version="1.0.0",
        description=(
            "Clients, their contacts and marketing opt-ins of one company, for external "
            "mailers and other systems. Authenticate with `Authorization: Bearer <key>`; keys "
            "are made in the admin area ([Settings] > Company > API Keys) or with "
            "`portal api-key create`. "
            "Each operation's description names the permission it needs; a key has those "
            "it was given ("
            + ", ".join(f"`{p.key}`: {p.label}" for p in api_catalog())
            + "), and keeps each only while the staff member who made it may still do the "
            "same in the admin area (keys made with `portal api-key create` keep theirs). "
            "Without it: 403."
        ),
        path=SCHEMA_PATH,
        render_plugins=[JsonRenderPlugin(), YamlRenderPlugin()],
        components=Components(
            security_schemes={
                SECURITY_SCHEME: SecurityScheme(
                    type="http", scheme="bearer", description="An API key of the company."
                )
            }
        ),
        tags=[
            Tag(name="clients", description="Read clients and their contacts."),
            Tag(name="marketing", description="Opted-in clients, unsubscribes and bounces."),
        ],
        use_handler_docstrings=True,
    )


# --- [Settings] > Company > API Keys (admin area) ---------------------------------------------

KEYS_URL = "/admin/settings/company/api-keys"


async def _keys_page(
    admin: Any,
    errors: dict[str, str],
    name: str = "",
    chosen: Sequence[str] = (),
    new_key: str | None = None,
    page: int = 1,
    status: int = 200,
) -> Template:
    return Template(
        "admin/api_keys/list.html",
        context={
            "page_title": "API Keys",
            "result": await services.list_keys(admin.company.id, page),
            "api_permissions": api_catalog(),
            "errors": errors,
            "name": name,
            "chosen": chosen,
            "new_key": new_key,
            "schema_url": f"{SCHEMA_PATH}/openapi.json",
        },
        status_code=status,
    )


@get("/settings/company/api-keys", name="admin:api-keys", permission=API_KEYS, confirm=True)
async def keys_page(admin: Admin, page: FromQuery[int] = 1) -> Template:
    return await _keys_page(admin, {}, page=page)


@post(
    "/settings/company/api-keys",
    name="admin:api-keys:create",
    permission=API_KEYS,
    confirm=True,
    status_code=200,
)
async def create_key(admin: Admin, request: Request) -> Template:
    """The new key is shown on this response only; it is never stored in clear."""
    data = await form_data(request)
    name, chosen = text(data, "name"), many(data, "permissions")
    try:
        _, key = await services.create_key(admin.company.id, name, chosen, admin.actor(request))
    except ValidationError as error:
        return await _keys_page(admin, error.errors, name=name, chosen=chosen, status=422)
    return await _keys_page(admin, {}, new_key=key)


@post(
    "/settings/company/api-keys/{key_id:int}/revoke",
    name="admin:api-keys:revoke",
    permission=API_KEYS,
    confirm=True,
)
async def revoke_key(admin: Admin, request: Request, key_id: FromPath[int]) -> Response:
    await services.revoke_key(admin.company.id, key_id, admin.actor(request))
    flash(request, "The API key is revoked: requests with it are refused from now on.", "success")
    return redirect(request, KEYS_URL)


admin_handlers = [keys_page, create_key, revoke_key]
