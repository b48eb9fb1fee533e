"""The client session of the self-service area, kept apart from the staff session: a client
session never opens /admin, and a staff session never opens /client (a login starts a new
session either way)."""

from __future__ import annotations

import time

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException
from litestar.handlers import BaseRouteHandler

from portal.client_area.services import ClientUser, session_client
from portal.core.config import get_settings
from portal.core.sessions import start_new_session

SESSION_KEY = "client"


async def log_in(request: Request, user: ClientUser) -> None:
    await start_new_session(request)
    request.session[SESSION_KEY] = {
        "user": user.user_id,
        "account": user.id,
        "company": user.company_id,
        "epoch": user.session_epoch,
        "lang": user.language,
        "since": int(time.time()),
    }


async def log_out(request: Request) -> None:
    await start_new_session(request)


def remember(request: Request, **values: object) -> None:
    """Keeps the session in step after the user changed its language, password or account."""
    request.session[SESSION_KEY] = {**request.session[SESSION_KEY], **values}


async def require_client(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    data = connection.session.get(SESSION_KEY) if connection.scope.get("session") else None
    user = None
    if (
        isinstance(data, dict)
        and time.time() - data.get("since", 0) <= get_settings().session_absolute_seconds
    ):
        user = await session_client(
            data.get("user", 0), data.get("account", 0), data.get("epoch", -1)
        )
    if user is None:
        if isinstance(data, dict):
            connection.session.pop(SESSION_KEY, None)
        raise NotAuthorizedException("Log in to continue.")
    connection.state.client_user = user


def provide_client_user(request: Request) -> ClientUser:
    return request.state.client_user


# How client-area handlers ask for the logged-in client: `user: CurrentClient`.
CurrentClient = NamedDependency[ClientUser]
