"""CSRF protection bound to the session.

Every state-changing request (any method but GET, HEAD, OPTIONS) must present, in the
`x-csrftoken` header (htmx) or the `_csrf_token` form field, the token of the CSRF cookie. The
token is a random value signed (HMAC, PORTAL_SECRET_KEY) together with the session cookie the
browser holds: a token taken from another session (an anonymous visit, somebody else's
account) does not verify, even with its own cookie planted in the browser. A page that meets a
cookie signed for another session (after a login or logout, which start new sessions) sends a
new one, so its forms carry a token of the session they are posted with. When cookies are
Secure, the cookie is named with the `__Host-` prefix, which no other host can set.

Pages carry the token masked, with a fresh random pad each time: compressed pages that also
show what a visitor typed (a search) then give no hint of it (BREACH).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence

from litestar import Request
from litestar.datastructures import Cookie, MutableScopeHeaders
from litestar.enums import RequestEncodingType
from litestar.exceptions import PermissionDeniedException
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from litestar.utils.scope.state import ScopeState

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
HEADER = "x-csrftoken"
FIELD = "_csrf_token"
NONCE_BYTES = 32


class SessionBoundCSRF:
    def __init__(
        self,
        app: ASGIApp,
        *,
        secret: str,
        session_cookie: str,
        secure: bool,
        exclude: Sequence[str] = (),
    ) -> None:
        self.app = app
        self.secret = secret.encode()
        self.session_cookie = session_cookie
        self.secure = secure
        self.cookie_name = "__Host-portal_csrf" if secure else "portal_csrf"
        self.exclude = re.compile("|".join(exclude)) if exclude else None

    def _signature(self, nonce: str, session_id: str) -> str:
        message = f"{nonce}|{session_id}".encode()
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()

    def _new_token(self, session_id: str) -> str:
        nonce = secrets.token_hex(NONCE_BYTES)
        return nonce + self._signature(nonce, session_id)

    def _is_bound(self, token: str, session_id: str) -> bool:
        nonce, signature = token[: NONCE_BYTES * 2], token[NONCE_BYTES * 2 :]
        return len(nonce) == NONCE_BYTES * 2 and hmac.compare_digest(
            signature, self._signature(nonce, session_id)
        )

    def _presented_matches(self, presented: str, bound: str) -> bool:
        """Whether a token a page sent back is the bound one, masked (or as it is)."""
        if hmac.compare_digest(presented, bound):
            return True
        return hmac.compare_digest(unmask(presented), bound)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (self.exclude and self.exclude.match(scope["path"])):
            await self.app(scope, receive, send)
            return
        request: Request = Request(scope, receive)
        session_id = request.cookies.get(self.session_cookie, "")
        cookie = request.cookies.get(self.cookie_name)
        bound = cookie if cookie and self._is_bound(cookie, session_id) else None
        state = ScopeState.from_scope(scope)
        if request.method in SAFE_METHODS:
            token = bound or self._new_token(session_id)
            state.csrf_token = mask(token)
            await self.app(scope, receive, send if token == cookie else self._setting(send, token))
            return
        presented = request.headers.get(HEADER)
        if presented is None and request.content_type[0] in {
            RequestEncodingType.URL_ENCODED,
            RequestEncodingType.MULTI_PART,
        }:
            presented = (await request.form()).get(FIELD)
        if bound is None or not isinstance(presented, str):
            raise PermissionDeniedException("CSRF token verification failed")
        if not self._presented_matches(presented, bound):
            raise PermissionDeniedException("CSRF token verification failed")
        state.csrf_token = mask(bound)
        await self.app(scope, receive, send)

    def _setting(self, send: Send, token: str) -> Send:
        cookie = Cookie(
            key=self.cookie_name,
            value=token,
            path="/",
            secure=self.secure,
            httponly=True,
            samesite="lax",
        ).to_header(header="")

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableScopeHeaders.from_message(message).add("set-cookie", cookie)
            await send(message)

        return send_with_cookie


def mask(token: str) -> str:
    """The token XOR-ed with a random pad of its length, the pad first, in hex."""
    data = token.encode()
    pad = secrets.token_bytes(len(data))
    masked = int.from_bytes(data, "big") ^ int.from_bytes(pad, "big")
    return (pad + masked.to_bytes(len(data), "big")).hex()


def unmask(presented: str) -> str:
    """The token a masked one stands for ("" when it is not one)."""
    try:
        data = bytes.fromhex(presented)
    except ValueError:
        return ""
    half = len(data) // 2
    if not half or len(data) != 2 * half:
        return ""
    token = int.from_bytes(data[:half], "big") ^ int.from_bytes(data[half:], "big")
    return token.to_bytes(half, "big").decode("ascii", errors="replace")


def csrf_middleware(*, secret: str, session_cookie: str, secure: bool, exclude: Sequence[str] = ()):
    """The middleware as the app's middleware list takes it."""

    def build(app: ASGIApp) -> ASGIApp:
        return SessionBoundCSRF(
            app, secret=secret, session_cookie=session_cookie, secure=secure, exclude=exclude
        )

    return build
