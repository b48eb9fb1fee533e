"""Bounds on what a request makes the server read before any handler runs: a body must arrive
within PORTAL_BODY_SECONDS (a client trickling it is cut off), and a form may have at most
MAX_FORM_FIELDS fields, counted before the form is parsed (an urlencoded POST of 480,000 empty
fields took seconds to parse, for its CSRF check alone). Litestar's multipart parser takes the
same limit (`multipart_form_part_limit`). Headers sent slowly are the server's to cut
(portal.core.server)."""

from __future__ import annotations

import asyncio
import time

from litestar import Request
from litestar.enums import RequestEncodingType
from litestar.exceptions import HTTPException
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from portal.core.config import get_settings

MAX_FORM_FIELDS = 1_000


def request_limits_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in {"GET", "HEAD", "OPTIONS"}:
            await app(scope, receive, send)
            return
        deadline = time.monotonic() + get_settings().body_seconds

        async def receive_in_time() -> Message:
            try:
                async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                    return await receive()
            except TimeoutError:
                raise HTTPException(
                    status_code=408, detail="The request took too long to arrive."
                ) from None

        request: Request = Request(scope, receive_in_time)
        if request.content_type[0] == RequestEncodingType.URL_ENCODED:
            # Read (and kept for the handlers, as Litestar keeps a body) before it is parsed.
            body = await request.body()
            if body.count(b"&") >= MAX_FORM_FIELDS:
                raise HTTPException(
                    status_code=413,
                    detail=f"The form has too many fields (at most {MAX_FORM_FIELDS:,}).",
                )
        await app(scope, receive_in_time, send)

    return middleware
