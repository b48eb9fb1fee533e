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


async def begin_attempt(
    area: str, identifier: str, address: str, limits: Limits = Limits()
) -> list[int] | None:
    """Counts an attempt before its password is checked, so that guesses sent in parallel are
    counted too. Returns the rows to forget if the attempt succeeds, or None when too many
    attempts were made already (then this one is not counted)."""
    account_key, address_key = _keys(area, identifier, address)
    now = datetime.now(UTC)
    rows = await LoginFailure.insert(
        LoginFailure(key=account_key, at=now), LoginFailure(key=address_key, at=now)
    ).returning(LoginFailure.id)
    ids = [row["id"] for row in rows]
    since = now - WINDOW
    account = await LoginFailure.count().where(
        LoginFailure.key == account_key, LoginFailure.at > since
    )
    by_address = await LoginFailure.count().where(
        LoginFailure.key == address_key, LoginFailure.at > since
    )
    if account > limits.per_account or by_address > limits.per_address:
        await LoginFailure.delete().where(LoginFailure.id.is_in(ids))
        return None
    return ids


async def succeeded(area: str, identifier: str, attempt: list[int]) -> None:
    """A successful login forgets the attempt and that account's failures (not the address's
    other failures)."""
    account_key, _ = _keys(area, identifier, "")
    await LoginFailure.delete().where(
        (LoginFailure.key == account_key) | LoginFailure.id.is_in(attempt)
    )


async def delete_old_failures() -> None:
    await LoginFailure.delete().where(LoginFailure.at < datetime.now(UTC) - KEEP)
