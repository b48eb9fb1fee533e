"""Helpers shared by the controllers of every area: client address, redirects, form data."""

from __future__ import annotations

from typing import Any, TypeVar
from urllib.parse import urlsplit

from litestar import Request, Response
from litestar.exceptions import SerializationException
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect
from litestar.status_codes import HTTP_200_OK, HTTP_303_SEE_OTHER, HTTP_429_TOO_MANY_REQUESTS

from portal.core.forms import FormValues
from portal.core.throttle import RETRY_AFTER_SECONDS

Answer = TypeVar("Answer", bound=Response)


class PortalRequest(HTMXRequest):
    """The app's request class: htmx's, with a JSON body nested past the decoder's depth
    answered as bad input (400) rather than by a RecursionError (a 500)."""

    async def json(self) -> Any:
        try:
            return await super().json()
        except RecursionError as error:
            raise SerializationException("The JSON body is nested too deeply.") from error


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def redirect(request: HTMXRequest, url: str) -> Response:
    """After a successful POST: a 303 for plain forms, HX-Redirect for htmx requests (every
    request is an HTMXRequest: the htmx plugin sets the app's request class)."""
    if request.htmx:
        return client_redirect(url)
    return Redirect(path=url, status_code=HTTP_303_SEE_OTHER)


def client_redirect(url: str) -> Response:
    """htmx follows HX-Redirect only on a 200 (a POST handler would otherwise answer 201)."""
    return Response(content=None, status_code=HTTP_200_OK, headers={"HX-Redirect": url})


def throttled(answer: Answer) -> Answer:
    """`answer` (the form's page again, its message beside the field; a JSON error) made the
    answer to a request the throttle refused: 429, and Retry-After, so that browsers, scripts
    and proxies know when to come back."""
    answer.status_code = HTTP_429_TOO_MANY_REQUESTS
    answer.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return answer


def wants_region(request: Request, region: str) -> bool:
    """An htmx request that swaps only `region` (its hx-target) gets that fragment alone;
    restoring history needs the whole page."""
    return (
        request.headers.get("hx-target") == region
        and request.headers.get("hx-history-restore-request") != "true"
    )


def safe_next(url: str | None, default: str) -> str:
    """Only same-site paths are followed after login (no open redirects)."""
    if not url:
        return default
    parts = urlsplit(url)
    if (
        parts.scheme
        or parts.netloc
        or not url.startswith("/")
        or url.startswith("//")
        or "\\" in url
    ):
        return default
    return url


async def form_data(request: Request) -> FormValues:
    """The submitted form: one text value per name (see FormValues)."""
    form = await request.form()
    return FormValues.of(form.multi_items())
