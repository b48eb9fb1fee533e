"""What the admin area and the client area share about signing in safely, on the HTTP side:
which area a request is in (`Area`), the step of a sign-in that waits for a second factor,
recent confirmation of sensitive actions ("confirm it's you"), and the site passkeys are for.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from litestar import Request, Response
from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect
from litestar.status_codes import HTTP_303_SEE_OTHER

from portal.core.config import get_settings
from portal.core.sessions import start_new_session
from portal.core.web import client_address, client_redirect, safe_next
from portal.security import logins, two_factor
from portal.security.passkeys import RelyingParty
from portal.security.two_factor import Login

# How long a confirmation ("confirm it's you") holds for sensitive actions, and how long a
# sign-in may wait for its second factor.
CONFIRMATION_SECONDS = 5 * 60
# A route handler's opt for what staff working as a client (Login as Client) may not do there:
# invite or remove its users, hand ownership over, end its sessions.
REFUSED_AS_STAFF = "not_as_staff"
# A route handler's opt for pages that stay open to a login that must turn two-factor sign-in
# on and has not yet (the security pages that do it).
DURING_ENROLMENT = "during_enrolment"
PENDING_SECONDS = 5 * 60


@dataclass(frozen=True)
class Who:
    """The login of a request, as the security pages need it."""

    login: Login
    user_name: str  # what authenticator apps and passkey pickers show (an email, a username)
    display_name: str
    issuer: str  # the company, as authenticator apps list it
    acting_staff: str = ""  # a staff member working as this client (Login as Client)


@dataclass(frozen=True)
class Area:
    """The admin area ("admin", staff) or the client area ("client", its users)."""

    name: str
    kind: str
    session_key: str  # where the area's login lives in the session
    who: Callable[[Request], Awaitable[Who]]
    # Raises ValidationError({"password": …}) or Throttled unless it is the login's password.
    check_password: Callable[[Request, Who, str], Awaitable[None]]
    # Completes a sign-in of `login` by `method` after its checks passed (a new session).
    sign_in: Callable[[Request, Login, str], Awaitable[None]]
    # A change of the login's sign-in security (an N_-marked sentence): written in the
    # activity log, and the login is mailed about it.
    record: Callable[[Request, Who, str], Awaitable[None]]
    home: str

    @property
    def prefix(self) -> str:
        return f"/{self.name}"

    def entry(self, request: ASGIConnection) -> dict:
        data = request.session.get(self.session_key) if request.scope.get("session") else None
        return data if isinstance(data, dict) else {}

    def update_entry(self, request: ASGIConnection, **values: object) -> None:
        """Keeps the session in step after the user changed its language, password, account
        or company."""
        request.session[self.session_key] = {**self.entry(request), **values}

    def within_lifetime(self, entry: dict) -> bool:
        """Whether a session entry is younger than the absolute lifetime of a session."""
        return time.time() - entry.get("since", 0) <= get_settings().session_absolute_seconds

    async def is_live(self, connection: ASGIConnection, login: Login) -> bool:
        """Whether the session's line in "Your sessions" is still open, for this login."""
        return await logins.is_live(login, str(self.entry(connection).get("login", "")))

    async def forget(self, connection: ASGIConnection) -> None:
        """An invalid session: its line in "Your sessions" ends and the area's entry goes."""
        if handle := self.entry(connection).get("login"):
            await logins.end_session(str(handle))
        connection.session.pop(self.session_key, None)

    async def end_others(self, request: Request, login: Login) -> None:
        """After a password, two-factor or passkey change, or asked for in "Your sessions":
        the login's other sessions end (not this one)."""
        await logins.end_others(login, self.entry(request).get("login"))

    # --- signing in and out ---

    async def start_session(
        self,
        request: Request,
        login: Login,
        method: str,
        must_enrol: Callable[[], Awaitable[bool]],
        **entry: object,
    ) -> None:
        """Starts the login's session (a new one: the old is deleted at once), listed in "Your
        sessions"; `entry` is what the area keeps of the login in it."""
        await start_new_session(request)
        handle = await logins.open_session(
            login,
            address=client_address(request),
            user_agent=request.headers.get("user-agent", ""),
            method=method,
        )
        now = int(time.time())
        request.session[self.session_key] = {
            **entry,
            "since": now,
            "login": handle,
            "confirmed": now,  # signing in is a confirmation for the next minutes
            # A passkey is a stronger sign-in than a password and a code: it is not made to
            # wait for two-factor enrolment.
            "enrol": method != "passkey" and await must_enrol(),
        }

    async def sign_in_with_password(
        self,
        request: Request,
        login: Login,
        next_url: str,
        sign_in: Callable[[], Awaitable[None]],
    ) -> str:
        """After a right password (a login form, a reset or invitation link): `sign_in`, or,
        with two-factor on, the sign-in waits for its code. Where to go on to."""
        if await self.second_step_needed(request, login, next_url):
            return self.second_step_url
        await sign_in()
        return safe_next(next_url, self.home)

    async def log_out(self, request: Request) -> None:
        """Ends the session server-side, and its line in "Your sessions"."""
        await self.forget(request)
        await start_new_session(request)

    # --- a sign-in waiting for its second factor ---

    @property
    def pending_key(self) -> str:
        return f"{self.name}_pending"

    async def second_step_needed(self, request: Request, login: Login, next_url: str) -> bool:
        """After a right password: when the login has two-factor on, the sign-in waits for its
        code (in a new session, not yet signed in) and this says so; else the caller signs in."""
        if not await two_factor.is_enabled(login):
            return False
        await start_new_session(request)
        request.session[self.pending_key] = {
            "id": login.user_id,
            "since": int(time.time()),
            "next": next_url,
        }
        return True

    @property
    def second_step_url(self) -> str:
        return f"{self.prefix}/login/two-factor"

    def pending(self, request: Request) -> tuple[Login, str] | None:
        data = request.session.get(self.pending_key) if request.scope.get("session") else None
        if not isinstance(data, dict) or time.time() - data.get("since", 0) > PENDING_SECONDS:
            return None
        return Login(self.kind, int(data.get("id", 0))), str(data.get("next", ""))

    # --- confirmation of sensitive actions ---

    def mark_confirmed(self, request: Request) -> None:
        self.update_entry(request, confirmed=int(time.time()))

    def confirmed_recently(self, request: ASGIConnection) -> bool:
        return time.time() - self.entry(request).get("confirmed", 0) <= CONFIRMATION_SECONDS

    def page_of(self, connection: ASGIConnection) -> str:
        """Where to come back to after a confirmation: the page asked for, or for a form
        sent, the page of the form (when it is one of this area's)."""
        if connection.scope.get("method") == "GET":
            query = connection.scope.get("query_string", b"").decode()
            return connection.url.path + (f"?{query}" if query else "")
        referrer = urlsplit(connection.headers.get("referer", ""))
        if referrer.netloc == connection.url.netloc and referrer.path.startswith(self.prefix):
            return referrer.path + (f"?{referrer.query}" if referrer.query else "")
        return self.home

    def confirm_url(self, back: str) -> str:
        return f"{self.prefix}/confirm?next={quote(back, safe='/')}"

    @property
    def two_factor_setup_url(self) -> str:
        return f"{self.prefix}/security/two-factor"

    def require_enrolled(self, connection: ASGIConnection, handler: BaseRouteHandler) -> None:
        """For the area's guard: a login whose rules require two-factor sign-in, and that has
        not turned it on, turns it on before anything else."""
        if self.entry(connection).get("enrol") and not handler.opt.get(DURING_ENROLMENT):
            raise SecurityStep(self.two_factor_setup_url)


class SecurityStep(Exception):
    """A step the person must take first, at `url`: confirm it is them (password or passkey)
    before a sensitive action, or turn on two-factor where it is required."""

    def __init__(self, url: str):
        super().__init__(url)
        self.url = url


def security_step_handler(request: HTMXRequest, step: SecurityStep) -> Response:
    if request.htmx:
        return client_redirect(step.url)
    return Redirect(step.url, status_code=HTTP_303_SEE_OTHER)


def require_confirmation(request: Request, area: Area, back: str) -> None:
    if not area.confirmed_recently(request):
        raise SecurityStep(area.confirm_url(back))


def relying_party(request: Request, name: str) -> RelyingParty:
    """The site passkeys are made for: the configured address (PORTAL_BASE_URL) when it names a
    host, else (development on an IP address, which WebAuthn does not accept) the host the
    request came to. Browsers check that a page's origin belongs to the site either way."""
    configured = urlsplit(get_settings().base_url)
    host = configured.hostname or ""
    try:
        ipaddress.ip_address(host)
        is_address = True
    except ValueError:
        is_address = not host
    if not is_address:
        return RelyingParty(id=host, name=name, origin=f"{configured.scheme}://{configured.netloc}")
    url = request.url
    return RelyingParty(
        id=url.hostname or "localhost", name=name, origin=f"{url.scheme}://{url.netloc}"
    )
