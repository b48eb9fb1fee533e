"""How errors reach people: HTML error pages, htmx error fragments, problem details (RFC 9457)
for the API.

htmx convention: validation errors come back as the re-rendered form with 422 and are swapped in
place (htmx-config lets 4xx responses swap); any other error on an htmx request answers with a
message fragment retargeted to the page's flash area.
"""

from __future__ import annotations

import logging

from litestar import Response
from litestar.exceptions import HTTPException, NotAuthorizedException
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect, Template
from litestar.status_codes import (
    HTTP_403_FORBIDDEN,
    HTTP_404_NOT_FOUND,
    HTTP_500_INTERNAL_SERVER_ERROR,
    HTTP_503_SERVICE_UNAVAILABLE,
)

from portal.core.errors import NotFound, Unavailable
from portal.core.i18n import N_, translate
from portal.core.permissions import AS_STAFF, Forbidden, label_of
from portal.core.problems import problem_response
from portal.core.web import client_redirect

logger = logging.getLogger("portal")

TITLES = {
    400: "Bad request",
    403: "Forbidden",
    404: "Page not found",
    405: "Method not allowed",
    408: "The request took too long",
    413: "Request too large",
    429: "Too many requests",
    500: "Something went wrong",
    503: "Please try again in a moment",
}
MESSAGES = {
    403: "You may not do that. If you submitted a form, reload the page and try again.",
    404: "There is nothing here, or you may not see it.",
    500: "An unexpected error stopped this request. It has been logged; please try again.",
    503: (
        "The portal is busy, or cannot reach a service it needs, so this request was not "
        "carried out and nothing of it was saved. Please try again in a few seconds."
    ),
}


def _login_url(request: HTMXRequest) -> str:
    area = "/client" if request.url.path.startswith("/client") else "/admin"
    return f"{area}/login"


def error_response(
    request: HTMXRequest,
    status_code: int,
    detail: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    title = TITLES.get(status_code, "Error")
    message = detail or MESSAGES.get(status_code, title)
    if request.url.path.startswith("/api/"):
        return problem_response(status_code, message, headers=headers)
    context = {"status_code": status_code, "title": title, "message": message}
    if request.htmx:
        return Template(
            "components/error_fragment.html",
            context=context,
            status_code=status_code,
            headers={"HX-Retarget": "#flash-messages", "HX-Reswap": "innerHTML", **(headers or {})},
        )
    return Template("errors/error.html", context=context, status_code=status_code, headers=headers)


def http_exception_handler(request: HTMXRequest, exc: HTTPException) -> Response:
    if isinstance(exc, NotAuthorizedException) and not request.url.path.startswith("/api/"):
        url = _login_url(request)
        if request.method == "GET" and not request.htmx:
            url = f"{url}?next={request.url.path}"
        if request.htmx:
            return client_redirect(url)
        return Redirect(url)
    # Our own wording for the usual cases; a specific reason only where it helps the person.
    detail = exc.detail if exc.status_code in {400, 408, 413, 422, 429} else None
    return error_response(request, exc.status_code, detail, headers=exc.headers)


def not_found_handler(request: HTMXRequest, _: NotFound) -> Response:
    """A service's NotFound: the thing does not exist or is not the caller's to see."""
    return error_response(request, HTTP_404_NOT_FOUND)


def forbidden_handler(request: HTMXRequest, exc: Forbidden) -> Response:
    """A permission the staff member's group (or the API key) does not hold, or one a user of
    a client account was not given there."""
    if exc.permission == AS_STAFF:
        detail = translate(N_("Staff working as a client cannot do this."))
        return error_response(request, HTTP_403_FORBIDDEN, detail)
    if exc.permission.startswith("account."):
        detail = translate(
            N_("Your access to this account does not include this. Ask the account's owner.")
        )
        return error_response(request, HTTP_403_FORBIDDEN, detail)
    detail = (
        f"Your staff group does not allow this: it needs the permission "
        f"“{label_of(exc.permission)}”. Ask an administrator if you need it."
    )
    return error_response(request, HTTP_403_FORBIDDEN, detail)


def unavailable_handler(request: HTMXRequest, exc: Unavailable) -> Response:
    """Overload or an outage: a readable answer with the time to wait, never a traceback (the
    outage itself is logged once, by portal.core.availability)."""
    return error_response(
        request, HTTP_503_SERVICE_UNAVAILABLE, headers={"Retry-After": str(exc.retry_after)}
    )


def internal_error_handler(request: HTMXRequest, exc: Exception) -> Response:
    logger.exception("Unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(request, HTTP_500_INTERNAL_SERVER_ERROR)


exception_handlers = {
    HTTPException: http_exception_handler,
    NotFound: not_found_handler,
    Forbidden: forbidden_handler,
    Unavailable: unavailable_handler,
    Exception: internal_error_handler,
}
