"""Security headers on every response, pages, fragments, static files and errors alike."""

from __future__ import annotations

from litestar.datastructures import MutableScopeHeaders
from litestar.types import Message, Scope

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    )
)

HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cross-origin-opener-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=(), payment=()",
}


def security_headers_hook(secure: bool):
    headers = dict(HEADERS)
    if secure:
        headers["strict-transport-security"] = "max-age=63072000; includeSubDomains"

    async def before_send(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        response_headers = MutableScopeHeaders.from_message(message)
        for name, value in headers.items():
            response_headers[name] = value
        # Pages show personal data: never keep them in shared or back-button caches.
        if (
            not scope.get("path", "").startswith("/static/")
            and "cache-control" not in response_headers
        ):
            response_headers["cache-control"] = "no-store"

    return before_send
