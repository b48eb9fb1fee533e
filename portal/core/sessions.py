"""Server-side sessions that cannot be fixed by an attacker nor outlive a logout.

Litestar's server-side session middleware accepts any id a client sends and keeps it across
login. This backend only adopts ids it finds in the store, hands out a fresh id otherwise, and
lets a login or a logout start a new session (the old one deleted from the store at once, its
data forgotten). It writes a session only when it holds something, and then at most once a
minute unless it changed; a session that was deleted meanwhile (a logout elsewhere) is never
written back.

Sessions live in the database by default, so several app processes share them, or in Redis
when PORTAL_REDIS_URL is set (portal.core.redis_sessions, imported only then). A store that
cannot answer raises Unavailable; when that happens while the answer is being sent (the
request's own work is done and committed), the answer goes out without the session cookie
rather than as an error.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie, MutableScopeHeaders
from litestar.middleware.session.server_side import (
    ServerSideSessionBackend,
    ServerSideSessionConfig,
)
from litestar.stores.base import Store
from litestar.types import Message, ScopeSession
from litestar.utils.dataclass import extract_dataclass_items

from portal.core.errors import Unavailable
from portal.core.tables import Session

logger = logging.getLogger("portal")

STORE_NAME = "sessions"  # the app's store the sessions live in
SESSION_COOKIE = "portal_session"
SCOPE_KEY = "portal.session"
TOUCH_INTERVAL_SECONDS = 60
TOUCHED_KEY = "_touched"


def _expiry(expires_in: int | timedelta | None) -> datetime | None:
    if expires_in is None:
        return None
    seconds = expires_in.total_seconds() if isinstance(expires_in, timedelta) else expires_in
    return datetime.now(UTC) + timedelta(seconds=seconds)


class DatabaseStore(Store):
    """A Litestar store on the `portal_session` table."""

    async def set(
        self, key: str, value: str | bytes, expires_in: int | timedelta | None = None
    ) -> None:
        if not await self.update_existing(key, value, expires_in):
            data = value.encode() if isinstance(value, str) else value
            await Session.insert(Session(key=key, data=data, expires_at=_expiry(expires_in)))

    async def update_existing(
        self, key: str, value: str | bytes, expires_in: int | timedelta | None = None
    ) -> bool:
        """Writes a session that still exists; False when it is gone (logged out meanwhile)."""
        data = value.encode() if isinstance(value, str) else value
        updated = (
            await Session.update({Session.data: data, Session.expires_at: _expiry(expires_in)})
            .where(Session.key == key)
            .returning(Session.key)
        )
        return bool(updated)

    async def get(self, key: str, renew_for: int | timedelta | None = None) -> bytes | None:
        # Read on every request: plain SQL, which Piccolo passes on as it is (building its
        # select took longer than reading the row).
        rows = await Session.raw(
            "SELECT data, expires_at FROM portal_session WHERE key = {}", key
        ).run()
        if not rows:
            return None
        row = rows[0]
        if row["expires_at"] is not None and row["expires_at"] <= datetime.now(UTC):
            await self.delete(key)
            return None
        if renew_for is not None:
            await Session.update({Session.expires_at: _expiry(renew_for)}).where(Session.key == key)
        return bytes(row["data"])

    async def delete(self, key: str) -> None:
        await Session.delete().where(Session.key == key)

    async def delete_all(self) -> None:
        await Session.delete(force=True)

    async def exists(self, key: str) -> bool:
        return await self.get(key) is not None

    async def expires_in(self, key: str) -> int | None:
        row = await Session.select(Session.expires_at).where(Session.key == key).first()
        if row is None or row["expires_at"] is None:
            return None
        return int((row["expires_at"] - datetime.now(UTC)).total_seconds())

    async def delete_expired(self) -> None:
        await Session.delete().where(Session.expires_at < datetime.now(UTC))


def _state(connection: ASGIConnection) -> dict[str, Any]:
    return connection.scope.setdefault(SCOPE_KEY, {})  # type: ignore[arg-type]


async def start_new_session(connection: ASGIConnection) -> None:
    """At every login and logout: the session the browser had ends now (deleted from the store
    before the answer is sent) and what it held is forgotten, so that no identity of another
    area or person carries over; what is stored afterwards goes under a fresh id."""
    state = _state(connection)
    if old_id := state.get("known_id"):
        await connection.scope["app"].stores.get(STORE_NAME).delete(old_id)
    state["known_id"] = None
    state["id"] = None
    state["loaded"] = None
    connection.session.clear()


class PortalSessionBackend(ServerSideSessionBackend):
    async def load_from_connection(self, connection: ASGIConnection) -> dict[str, Any]:
        state = _state(connection)
        state.update(id=None, known_id=None, loaded=None)
        cookie_id = connection.cookies.get(self.config.key)
        if cookie_id and cookie_id != "null" and len(cookie_id) <= 128:
            store = self.config.get_store_from_app(connection.scope["app"])
            data = await store.get(cookie_id)
            if data is not None:
                state.update(id=cookie_id, known_id=cookie_id, loaded=data)
                return self.deserialize_data(data)
        return {}

    def get_session_id(self, connection: ASGIConnection) -> str:
        state = _state(connection)
        if not state.get("id"):
            # Never an id taken from the request: only one found in the store, or a new one.
            state["id"] = state.get("known_id") or self.generate_session_id()
        return state["id"]

    async def store_in_message(
        self, scope_session: ScopeSession, message: Message, connection: ASGIConnection
    ) -> None:
        try:
            cookie = await self._save(scope_session, connection)
        except Unavailable:
            # The request's work is done; only the session could not be kept. The answer goes
            # out without a cookie (the next request meets the store's outage as a 503).
            return
        if cookie is not None:
            MutableScopeHeaders.from_message(message).add("Set-Cookie", cookie.to_header(header=""))

    async def _save(self, scope_session: ScopeSession, connection: ASGIConnection) -> Cookie | None:
        """Writes the session if it needs writing; the cookie to send, if one."""
        state = _state(connection)
        store = self.config.get_store_from_app(connection.scope["app"])
        cookie_params = dict(
            extract_dataclass_items(self.config, exclude_none=True, include=Cookie.__dict__.keys())
        )
        session = scope_session if isinstance(scope_session, dict) else {}
        data = {k: v for k, v in session.items() if k != TOUCHED_KEY}
        if not data:
            if state.get("known_id"):
                await store.delete(state["known_id"])
            if connection.cookies.get(self.config.key):
                return Cookie(value="", key=self.config.key, **{**cookie_params, "max_age": 0})
            return None

        session_id = self.get_session_id(connection)
        now = int(time.time())
        previous = state.get("loaded")
        touched = session.get(TOUCHED_KEY, 0)
        unchanged = (
            previous is not None
            and session_id == state.get("known_id")
            and self.serialize_data({**data, TOUCHED_KEY: touched}) == previous
        )
        if unchanged and now - touched < TOUCH_INTERVAL_SECONDS:
            return None  # the cookie the browser holds is still right, the expiry fresh enough
        serialised = self.serialize_data({**data, TOUCHED_KEY: now})
        if session_id == state.get("known_id"):
            # A request that began before a logout elsewhere must not bring the session back.
            if not await store.update_existing(session_id, serialised, int(self.config.max_age)):
                return None
        else:
            await store.set(session_id, serialised, expires_in=int(self.config.max_age))
        return Cookie(value=session_id, key=self.config.key, **cookie_params)


class PortalSessionConfig(ServerSideSessionConfig):
    _backend_class = PortalSessionBackend
