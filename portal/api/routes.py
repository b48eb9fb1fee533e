"""The JSON API under /api/v1 (documented by Litestar's OpenAPI at /api/v1/schema/openapi.json)
and [Settings] > Company > API Keys in the admin area.

Every API request carries `Authorization: Bearer <key>`; a missing, unknown or revoked key is a
401. Every error is a problem document (RFC 9457, portal.core.problems). Every route names the
API permission it needs (`@get(..., permission=CLIENTS_READ)`); a key without it gets a 403. A
key reads and changes only its own company's data: another company's client is a 404, the same
as one that does not exist. Plugins add endpoints of their own (the mass mailer's /marketing/…)
behind the same checks. The operations themselves: client_routes, contact_routes, note_routes;
what they share: conventions.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from copy import copy
from inspect import cleandoc
from typing import Any

from litestar import Request, Response, Router, get, post
from litestar.connection import ASGIConnection
from litestar.di import Provide
from litestar.enums import HttpMethod
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    ValidationException,
)
from litestar.handlers import BaseRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, YamlRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme, Tag
from litestar.params import FromPath, FromQuery
from litestar.plugins.flash import flash
from litestar.response import Template
from litestar.routes import HTTPRoute

from portal.api import client_routes, contact_routes, note_routes, services
from portal.api.conventions import (
    API_PATH,
    ERROR_RESPONSES,
    ApiOperation,
    ApiProblem,
    provide_api_key,
)
from portal.api.permissions import PERMISSION, all_api_permissions, api_catalog, api_label_of
from portal.core.errors import ValidationError
from portal.core.forms import many, text
from portal.core.permissions import API_KEYS, Forbidden, label_of
from portal.core.problems import FieldProblem, problem_response
from portal.core.web import form_data, redirect
from portal.staff.access import Admin

logger = logging.getLogger("portal")

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


# --- errors as problem details ------------------------------------------------------------------


def _schema_problems(request: Request, exc: ValidationException) -> list[FieldProblem]:
    """Litestar's findings on a request that breaks the schema: a body member by its path
    (`phone_numbers[0].type`, `custom_fields[...]`; `data` is the body as a whole), a
    parameter by the name the schema gives it (`If-Match`, not the handler's `if_match`)."""
    declared = request.route_handler.parsed_fn_signature.parameters
    problems = []
    for finding in exc.extra if isinstance(exc.extra, list) else []:
        key, message = str(finding.get("key", "")), str(finding.get("message", ""))
        if finding.get("source") == "body":
            path = "" if key == "data" else key.replace("[...]", "").replace("]", "")
            pointer = "#/" + path.replace("[", ".").strip(".").replace(".", "/")
            problems.append(FieldProblem(detail=message, pointer=pointer.rstrip("/")))
        else:
            kwarg = getattr(declared.get(key), "kwarg_definition", None)
            name = next(
                (getattr(kwarg, a) for a in ("name", "header", "query") if getattr(kwarg, a, None)),
                key,
            )
            problems.append(FieldProblem(detail=message, parameter=name or None))
    return problems


def _api_http_error(request: Request, exc: HTTPException) -> Response:
    headers = dict(exc.headers or {})
    if exc.status_code == 401:
        headers["www-authenticate"] = 'Bearer realm="api"'
    if isinstance(exc, ApiProblem):
        return problem_response(exc.status_code, exc.detail, errors=exc.errors, headers=headers)
    if isinstance(exc, ValidationException) and (errors := _schema_problems(request, exc)):
        detail = "The request does not match the schema: " + "; ".join(
            f"{error.pointer or error.parameter or 'body'}: {error.detail}" for error in errors
        )
        return problem_response(400, detail, errors=errors, headers=headers)
    return problem_response(exc.status_code, exc.detail, headers=headers)


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
    return problem_response(403, detail)


def _api_internal_error(request: Request, exc: Exception) -> Response:
    logger.exception("Unhandled API error on %s %s", request.method, request.url.path)
    return problem_response(500, "An unexpected error stopped this request.")


def _documented(handler: Any) -> Any:
    """A copy of an API route handler whose schema states what the router's guards answer and,
    in its description, the permission it needs. A route that names none is a mistake."""
    if PERMISSION not in handler.opt:
        raise TypeError(f"the API route {handler.paths} does not name the permission it needs")
    needed = handler.opt[PERMISSION]
    documented = copy(handler)
    documented.responses = {**ERROR_RESPONSES, **(handler.responses or {})}
    documented.operation_class = ApiOperation
    purpose = cleandoc(handler.fn.__doc__ or "")
    documented.description = (
        f"{purpose}\n\nNeeds the API permission `{needed}` ({api_label_of(needed)})."
    ).strip()
    return documented


def _allowing_every_method(router: Router) -> Router:
    """Litestar 2.25 answers OPTIONS (and its Allow header) with the methods of a path's first
    handler only: the OPTIONS handler made with the first route is kept when the other
    handlers of the path join it in a new route. Each route is made again here, from all its
    handlers, with an OPTIONS handler of its own."""
    router.routes = [
        HTTPRoute(
            path=route.path,
            route_handlers=[
                handler
                for handler in route.route_handlers
                if set(handler.http_methods) != {HttpMethod.OPTIONS}
            ],
        )
        if isinstance(route, HTTPRoute)
        else route
        for route in router.routes
    ]
    return router


def api_router(extra_handlers: Sequence[Any] = ()) -> Router:
    """/api/v1 with the key and permission checks on every route; `extra_handlers` come from
    plugins."""
    router = Router(
        path=API_PATH,
        route_handlers=[
            _documented(h)
            for h in (
                *client_routes.handlers,
                *contact_routes.handlers,
                *note_routes.handlers,
                *extra_handlers,
            )
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
    return _allowing_every_method(router)


def openapi_config() -> OpenAPIConfig:
    """The schema of /api/v1 only (the app leaves every other route out of it), as JSON at
    /api/v1/schema/openapi.json and YAML at /api/v1/schema/openapi.yaml. No HTML viewer: those
    load scripts from CDNs, which the portal's CSP forbids."""
    return OpenAPIConfig(
        title="Client portal API",
        version="1.0.0",
        description=(
            "Clients of one company, with their contacts, notes and marketing opt-ins, read and "
            "changed by other systems (a CRM, an external mailer) under the rules of the admin "
            "area, with its messages. Authenticate with `Authorization: Bearer <key>`; keys "
            "are made in the admin area ([Settings] > Company > API Keys) or with "
            "`portal api-key create`. "
            "Each operation's description names the permission it needs; a key has those "
            "it was given ("
            + ", ".join(f"`{p.key}`: {p.label}" for p in api_catalog())
            + "), and keeps each only while the staff member who made it may still do the "
            "same in the admin area (keys made with `portal api-key create` keep theirs). "
            "Without it: 403.\n\n"
            "Errors are problem details (RFC 9457, `application/problem+json`), with the "
            "problems of each field in `errors` (a JSON Pointer into the body, or the "
            "parameter). A change (PATCH, PUT, DELETE) needs `If-Match` with the ETag of what "
            "you read: 428 without it, 412 when it was changed since, and nothing is changed. "
            "A POST that creates may carry `Idempotency-Key`, so that sending it again is "
            "safe. Lists come a page at a time: pass `next_cursor` as `cursor`."
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
            Tag(name="clients", description="Clients and their contacts."),
            Tag(name="notes", description="Staff notes on clients."),
            Tag(name="marketing", description="Opted-in clients, unsubscribes and bounces."),
        ],
        use_handler_docstrings=True,
    )


# --- [Settings] > Company > API Keys (admin area) ---------------------------------------------

KEYS_PATH = "/settings/company/api-keys"  # below the admin router's /admin
KEYS_URL = f"/admin{KEYS_PATH}"
ACCESS: dict[str, Any] = {"permission": API_KEYS, "confirm": True}


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


@get(KEYS_PATH, name="admin:api-keys", **ACCESS)
async def keys_page(admin: Admin, page: FromQuery[int] = 1) -> Template:
    return await _keys_page(admin, {}, page=page)


@post(KEYS_PATH, name="admin:api-keys:create", status_code=200, **ACCESS)
async def create_key(admin: Admin, request: Request) -> Template:
    """The new key is shown on this response only; it is never stored in clear."""
    data = await form_data(request)
    name, chosen = text(data, "name"), many(data, "permissions")
    try:
        _, key = await services.create_key(admin.company.id, name, chosen, admin.actor(request))
    except ValidationError as error:
        return await _keys_page(admin, error.errors, name=name, chosen=chosen, status=422)
    return await _keys_page(admin, {}, new_key=key)


@post(f"{KEYS_PATH}/{{key_id:int}}/revoke", name="admin:api-keys:revoke", **ACCESS)
async def revoke_key(admin: Admin, request: Request, key_id: FromPath[int]) -> Response:
    await services.revoke_key(admin.company.id, key_id, admin.actor(request))
    flash(request, "The API key is revoked: requests with it are refused from now on.", "success")
    return redirect(request, KEYS_URL)


admin_handlers = [keys_page, create_key, revoke_key]
