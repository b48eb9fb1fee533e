"""The client session of the self-service area, kept apart from the staff session: a client
session never opens /admin, and a staff session never opens /client (a login starts a new
session either way)."""

from __future__ import annotations

from dataclasses import replace

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException
from litestar.handlers import BaseRouteHandler

from portal.client_area import services
from portal.client_area.services import ClientUser, session_client
from portal.core.errors import ValidationError
from portal.core.permissions import AS_STAFF, CLIENTS_LOGIN_AS, Forbidden
from portal.core.web import client_address
from portal.security.two_factor import Login
from portal.security.web import REFUSED_AS_STAFF, Area, Who
from portal.staff.access import load_admin
from portal.staff.groups import membership

SESSION_KEY = "client"


async def log_in(request: Request, user: ClientUser, method: str = "password") -> None:
    await CLIENT_AREA.start_session(
        request,
        Login("client", user.user_id),
        method,
        lambda: services.must_enrol_two_factor(user),
        user=user.user_id,
        account=user.id,
        company=user.company_id,
        epoch=user.session_epoch,
        lang=user.language,
    )


async def sign_in_with_password(request: Request, user: ClientUser, next_url: str) -> str:
    return await CLIENT_AREA.sign_in_with_password(
        request, Login("client", user.user_id), next_url, lambda: log_in(request, user)
    )


async def log_out(request: Request) -> None:
    await CLIENT_AREA.log_out(request)


async def current_client(connection: ASGIConnection) -> ClientUser | None:
    """The client-area user of this browser's session while it is valid: within its absolute
    lifetime, the user still in the (active) account, its password unchanged since, its
    session not ended from "Your sessions"; when a staff member opened it (Login as Client),
    while that staff member may still do so. An invalid session is forgotten."""
    data = CLIENT_AREA.entry(connection)
    if not data:
        return None
    user = None
    if CLIENT_AREA.within_lifetime(data):
        user = await session_client(
            data.get("user", 0), data.get("account", 0), data.get("epoch", -1)
        )
    if user is not None and not await CLIENT_AREA.is_live(
        connection, Login("client", user.user_id)
    ):
        user = None
    if user is not None and isinstance(data.get("staff"), dict):
        user = await _as_staff(connection, user, data["staff"])
    if user is None:
        await CLIENT_AREA.forget(connection)
    return user


async def _as_staff(connection: ASGIConnection, user: ClientUser, staff: dict) -> ClientUser | None:
    """Login as Client lasts while the staff member's own session is valid and they may still
    log in as clients of this client's company."""
    admin = await load_admin(connection)
    if admin is None or admin.staff.id != staff.get("id"):
        return None
    member = await membership(admin.staff.id, user.company_id)
    if member is None or CLIENTS_LOGIN_AS not in member.permissions:
        return None
    return replace(user, acting_staff=admin.staff.name, acting_staff_id=admin.staff.id)


async def require_client(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    user = await current_client(connection)
    if user is None:
        raise NotAuthorizedException("Log in to continue.")
    connection.state.client_user = user
    if user.acting_staff and handler.opt.get(REFUSED_AS_STAFF):
        raise Forbidden(AS_STAFF)
    CLIENT_AREA.require_enrolled(connection, handler)  # where the client group requires it


def provide_client_user(request: Request) -> ClientUser:
    return request.state.client_user


# How client-area handlers ask for the logged-in client: `user: CurrentClient`.
CurrentClient = NamedDependency[ClientUser]


# --- the security pages of the client area (portal.security.routes) ---------------------------


async def _who(request: Request) -> Who:
    user: ClientUser = request.state.client_user
    return Who(
        login=Login("client", user.user_id),
        user_name=user.username,
        display_name=user.name,
        issuer=await services.company_name(user.company_id),
        acting_staff=user.acting_staff,
    )


async def _check_password(request: Request, who: Who, password: str) -> None:
    if who.acting_staff:
        raise ValidationError({"password": services.NOT_AS_STAFF})
    await services.confirm_password(request.state.client_user, password, client_address(request))


async def _sign_in(request: Request, login: Login, method: str) -> None:
    user = await services.signed_in_user(login.user_id, client_address(request), method)
    if user is None:
        raise NotAuthorizedException("Log in to continue.")
    await log_in(request, user, method)


async def _record(request: Request, who: Who, summary: str) -> None:
    await services.record_security_change(
        request.state.client_user, client_address(request), summary
    )


CLIENT_AREA = Area(
    name="client",
    kind="client",
    session_key=SESSION_KEY,
    who=_who,
    check_password=_check_password,
    sign_in=_sign_in,
    record=_record,
    home="/client",
)
