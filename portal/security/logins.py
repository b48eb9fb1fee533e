"""The sessions a login opened: listed on its "Your sessions" page (device, address, last seen),
ended one by one, all but the current one, or all at once (by staff for a client account, by
a password or two-factor change for the others). A session whose row has ended is logged out
at its next request."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import ua_parser

from portal.core.errors import NotFound
from portal.core.ids import is_row_id
from portal.security.tables import LoginSession, Passkey, RecoveryCode, TwoFactor
from portal.security.two_factor import Login

# How often a session's "last seen" is written at most, and how long ended ones are listed.
SEEN_INTERVAL = timedelta(minutes=1)
HISTORY = timedelta(days=90)


async def open_session(
    login: Login,
    *,
    address: str,
    user_agent: str,
    method: str,
    staff_id: int | None = None,
    staff_name: str = "",
    reason: str = "",
) -> str:
    """Records a new session of the login; the handle its session keeps."""
    handle = secrets.token_urlsafe(24)
    now = datetime.now(UTC)
    await LoginSession.delete().where(
        LoginSession.kind == login.kind,
        LoginSession.user_id == login.user_id,
        LoginSession.last_seen_at < now - HISTORY,
    )
    await LoginSession.insert(
        LoginSession(
            handle=handle,
            kind=login.kind,
            user_id=login.user_id,
            method=method,
            user_agent=user_agent[:300],
            address=address[:45],
            staff_id=staff_id,
            staff_name=staff_name[:201],
            reason=reason,
            created_at=now,
            last_seen_at=now,
        )
    )
    return handle


async def is_live(login: Login, handle: str) -> bool:
    """Whether the session is still open; its "last seen" moves on (at most once a minute)."""
    row = (
        await LoginSession.select(LoginSession.id, LoginSession.last_seen_at)
        .where(
            LoginSession.handle == handle[:64],
            LoginSession.kind == login.kind,
            LoginSession.user_id == login.user_id,
            LoginSession.ended_at.is_null(),
        )
        .first()
    )
    if row is None:
        return False
    await mark_seen(row["id"], row["last_seen_at"])
    return True


async def mark_seen(session_row_id: int, last_seen_at: datetime) -> None:
    """A live session was used now: its "last seen" moves on, at most once a minute."""
    now = datetime.now(UTC)
    if now - last_seen_at >= SEEN_INTERVAL:
        await LoginSession.update({LoginSession.last_seen_at: now}).where(
            LoginSession.id == session_row_id
        )


async def end_session(handle: str) -> None:
    """At logout."""
    await LoginSession.update({LoginSession.ended_at: datetime.now(UTC)}).where(
        LoginSession.handle == handle[:64], LoginSession.ended_at.is_null()
    )


def _of(login: Login):
    return (LoginSession.kind == login.kind) & (LoginSession.user_id == login.user_id)


async def sessions_of(login: Login, idle_seconds: int) -> list[dict]:
    """The login's open sessions (not idle longer than `idle_seconds`, after which a session
    expires), latest first, and its past ones opened by staff."""
    live = LoginSession.ended_at.is_null() & (
        LoginSession.last_seen_at > datetime.now(UTC) - timedelta(seconds=idle_seconds)
    )
    return (
        await LoginSession.select(
            LoginSession.id,
            LoginSession.handle,
            LoginSession.method,
            LoginSession.user_agent,
            LoginSession.address,
            LoginSession.staff_name,
            LoginSession.reason,
            LoginSession.created_at,
            LoginSession.last_seen_at,
            LoginSession.ended_at,
        )
        .where(_of(login), live | (LoginSession.staff_name != ""))
        .order_by(LoginSession.last_seen_at, ascending=False)
        .limit(200)
    )


async def end_one(login: Login, session_id: int) -> None:
    if not is_row_id(session_id):
        raise NotFound()
    ended = (
        await LoginSession.update({LoginSession.ended_at: datetime.now(UTC)})
        .where(_of(login), LoginSession.id == session_id, LoginSession.ended_at.is_null())
        .returning(LoginSession.id)
    )
    if not ended:
        raise NotFound()


async def end_others(login: Login, keep_handle: str | None) -> int:
    """Ends every open session of the login but the one of `keep_handle`; how many."""
    query = LoginSession.update({LoginSession.ended_at: datetime.now(UTC)}).where(
        _of(login), LoginSession.ended_at.is_null()
    )
    if keep_handle:
        query = query.where(LoginSession.handle != keep_handle)
    return len(await query.returning(LoginSession.id))


async def end_all(kind: str, user_ids: list[int]) -> int:
    """Ends every open session of these logins; how many."""
    if not user_ids:
        return 0
    ended = (
        await LoginSession.update({LoginSession.ended_at: datetime.now(UTC)})
        .where(
            LoginSession.kind == kind,
            LoginSession.user_id.is_in(user_ids),
            LoginSession.ended_at.is_null(),
        )
        .returning(LoginSession.id)
    )
    return len(ended)


async def forget(kind: str, user_ids: list[int]) -> int:
    """Inside the caller's write transaction, for logins that are deleted: their sessions
    (browsers, addresses) and second factors go too; how many sessions there were."""
    if not user_ids:
        return 0
    for table in (TwoFactor, RecoveryCode, Passkey):
        await table.delete().where(table.kind == kind, table.user_id.is_in(user_ids))
    sessions = (
        await LoginSession.delete()
        .where(LoginSession.kind == kind, LoginSession.user_id.is_in(user_ids))
        .returning(LoginSession.id)
    )
    return len(sessions)


def device(user_agent: str) -> str:
    """A browser and system as people name them ("Firefox on Windows"), from a User-Agent."""
    parsed = ua_parser.parse(user_agent[:300]) if user_agent else None
    browser = parsed.user_agent.family if parsed and parsed.user_agent else "Unknown browser"
    system = parsed.os.family if parsed and parsed.os and parsed.os.family != "Other" else ""
    return f"{browser} on {system}" if system else browser
