"""How errors reach people: HTML error pages, htmx error fragments, JSON for the API.

htmx convention: validation errors come back as the re-rendered form with 422 and are swapped in
place (htmx-config lets 4xx responses swap); any other error on an htmx request answers with a
message fragment retargeted to the page's flash area.
"""

from __future__ import annotations

import logging

from litestar import Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from portal.core.web import client_redirect, is_htmx

logger = logging.getLogger("portal")

TITLES = {
    400: "Bad request",
    403: "Forbidden",
    404: "Page not found",
    405: "Method not allowed",
    413: "Request too large",
    429: "Too many requests",
    500: "Something went wrong",
}
MESSAGES = {
    403: "You may not do that. If you submitted a form, reload the page and try again.",
    404: "There is nothing here, or you may not see it.",
    500: "An unexpected error stopped this request. It has been logged; please try again.",
}


def _login_url(request: Request) -> str:
    area = "/client" if request.url.path.startswith("/client") else "/admin"
    return f"{area}/login"


def error_response(request: Request, status_code: int, detail: str | None = None) -> Response:
    title = TITLES.get(status_code, "Error")
    message = detail or MESSAGES.get(status_code, title)
    if request.url.path.startswith("/api/"):
        return Response({"status_code": status_code, "detail": message}, status_code=status_code)
    context = {"status_code": status_code, "title": title, "message": message}
    if is_htmx(request):
        return Template(
            "components/error_fragment.html",
            context=context,
            status_code=status_code,
            headers={"HX-Retarget": "#flash-messages", "HX-Reswap": "innerHTML"},
        )
    return Template("errors/error.html", context=context, status_code=status_code)


def http_exception_handler(request: Request, exc: HTTPException) -> Response:
    if isinstance(exc, NotAuthorizedException) and not request.url.path.startswith("/api/"):
        url = _login_url(request)
        if request.method == "GET" and not is_htmx(request):
            url = f"{url}?next={request.url.path}"
        if is_htmx(request):
            return client_redirect(url)
        return Redirect(url)
    # Our own wording for the usual cases; a specific reason only where it helps the person.
    detail = exc.detail if exc.status_code in {400, 413, 422, 429} else None
    return error_response(request, exc.status_code, detail)


def internal_error_handler(request: Request, exc: Exception) -> Response:
    logger.exception("Unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(request, HTTP_500_INTERNAL_SERVER_ERROR)


exception_handlers = {HTTPException: http_exception_handler, Exception: internal_error_handler}
