"""Login throttling shared by the admin and client areas.

Failures are counted per account (the identifier typed, whether or not it exists, so the answer
tells nothing about accounts) and per address, over a sliding window. The limits are small enough
to stop guessing and the window short enough that nobody can lock an account out for long.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from portal.core.tables import LoginFailure

WINDOW = timedelta(minutes=15)
KEEP = timedelta(hours=1)


@dataclass(frozen=True)
class Limits:
    per_account: int = 5
    per_address: int = 30


def _keys(area: str, identifier: str, address: str) -> tuple[str, str]:
    return f"{area}:account:{identifier.strip().lower()[:254]}", f"{area}:address:{address}"


async def is_throttled(area: str, identifier: str, address: str, limits: Limits = Limits()) -> bool:
    account_key, address_key = _keys(area, identifier, address)
    since = datetime.now(UTC) - WINDOW
    account = await LoginFailure.count().where(
        LoginFailure.key == account_key, LoginFailure.at > since
    )
    if account >= limits.per_account:
        return True
    by_address = await LoginFailure.count().where(
        LoginFailure.key == address_key, LoginFailure.at > since
    )
    return by_address >= limits.per_address


async def record_failure(area: str, identifier: str, address: str) -> None:
    account_key, address_key = _keys(area, identifier, address)
    now = datetime.now(UTC)
    await LoginFailure.insert(
        LoginFailure(key=account_key, at=now), LoginFailure(key=address_key, at=now)
    )


async def clear_account(area: str, identifier: str) -> None:
    """A successful login forgets that account's failures (not the address's)."""
    account_key, _ = _keys(area, identifier, "")
    await LoginFailure.delete().where(LoginFailure.key == account_key)


async def delete_old_failures() -> None:
    await LoginFailure.delete().where(LoginFailure.at < datetime.now(UTC) - KEEP)
