"""Throttling of password checks (logins, confirmations) and of requests that mail people.

What is counted, in a sliding WINDOW, are the attempts that failed (a wrong password), never
those still being checked. They are counted per account, resolved from what was typed (the
username and the email of one account are one account; an unknown one is counted by what was
typed, so the answers tell nothing), and:

- per account and address: past `per_pair` failures that address may not try that account any
  more until the window moves on. Someone guessing from one address cannot lock the account's
  owner out at another;
- per account, from every address: past `account_slowdown` failures each further attempt must
  wait SLOWDOWN_SECONDS after the previous one — guessing from many addresses is slowed for
  everyone, but nobody is locked out for good;
- per address, whatever the account: past `per_address` failures the address is refused.

Parallel guesses must not outrun the count: while the failures and the attempts being checked
for an account from an address would reach `per_pair`, a new attempt waits (up to
ADMISSION_WAIT_SECONDS) for those to end rather than being let in — so a correct password tried
several times at once waits a moment and succeeds, and no more than `per_pair` guesses are ever
checked. Admission is decided under a lock of the account (PostgreSQL: an advisory lock;
SQLite's write transaction excludes every other writer anyway), and an attempt ends under the
same lock: admission counts failures and attempts in flight in two statements, and under READ
COMMITTED an attempt ending between them would be counted in neither (a sixth guess let in).

One-time links (password resets, invitations, unsubscribe links) are counted the same way:
every lookup of a link is an attempt, failed when the link is unknown, used or expired
(`counted_link`). Every route that takes a token from a link goes through it, GET and POST alike
(FOSSBilling's CVE-2026-43926: a reset confirmation route left outside the rate limiter).

Routes answer a refused request with `portal.core.web.throttled`: 429, with Retry-After.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from portal.core.db import lock_name, write_transactions
from portal.core.errors import Throttled
from portal.core.tables import LoginFailure

WINDOW = timedelta(minutes=15)
KEEP = timedelta(hours=1)
IN_FLIGHT_EXPIRY = timedelta(minutes=1)  # an attempt left open by a crash stops counting
SLOWDOWN_SECONDS = 10
ADMISSION_WAIT_SECONDS = 10
# What a refused request is told to wait: a limit frees up at the latest when the failures that
# fill it leave the window (an account's slowdown, sooner).
RETRY_AFTER_SECONDS = int(WINDOW.total_seconds())
T = TypeVar("T")


@dataclass(frozen=True)
class Limits:
    per_pair: int = 5
    per_address: int = 30
    account_slowdown: int = 20
    # A hard limit per account from every address: for requests that mail the account's owner
    # (a lockout is harmless there, a flooded mailbox is not); logins are slowed down instead.
    per_account: int | None = None


@dataclass(frozen=True)
class Attempt:
    area: str
    account: str
    address: str
    row_id: int  # the attempt while it is being checked

    @property
    def pair_key(self) -> str:
        return _key(self.area, "pair", f"{self.account}|{self.address}")

    @property
    def account_key(self) -> str:
        return _key(self.area, "account", self.account)

    @property
    def address_key(self) -> str:
        return _key(self.area, "address", self.address)


def _key(area: str, kind: str, value: str) -> str:
    return f"{area}:{kind}:{value.strip().lower()}"[:300]


async def _count(key: str, since: datetime) -> int:
    return await LoginFailure.count().where(LoginFailure.key == key, LoginFailure.at > since)


async def begin(area: str, account: str, address: str, limits: Limits = Limits()) -> Attempt | None:
    """Admits one check of a password for `account` (e.g. "staff:12", or the identifier typed
    when no account has it) from `address`; None when it must not be tried now. Call `failed`
    or `succeeded` when the check is done."""
    waited_until = time.monotonic() + ADMISSION_WAIT_SECONDS
    while True:
        admitted = await _admit(area, account, address, limits)
        if admitted is not WAIT:
            return admitted
        if time.monotonic() > waited_until:
            return None
        await asyncio.sleep(0.05)


WAIT = object()  # _admit: come back when the attempts being checked are done


async def _admit(area: str, account: str, address: str, limits: Limits) -> Attempt | object | None:
    now = datetime.now(UTC)
    since = now - WINDOW
    probe = Attempt(area, account, address, 0)
    checking_key = _key(area, "checking", f"{account}|{address}")
    async for transaction in write_transactions():
        async with transaction:
            await lock_name(probe.account_key)
            failures = await _count(probe.pair_key, since)
            if (
                failures >= limits.per_pair
                or await _count(probe.address_key, since) >= limits.per_address
                or (
                    limits.per_account is not None
                    and await _count(probe.account_key, since) >= limits.per_account
                )
            ):
                return None
            if failures + await _count(checking_key, now - IN_FLIGHT_EXPIRY) >= limits.per_pair:
                return WAIT
            if await _count(probe.account_key, since) >= limits.account_slowdown:
                latest = (
                    await LoginFailure.select(LoginFailure.at)
                    .where(LoginFailure.key.is_in([probe.account_key, checking_key]))
                    .order_by(LoginFailure.at, ascending=False)
                    .first()
                )
                if latest and now - latest["at"] < timedelta(seconds=SLOWDOWN_SECONDS):
                    return None
            rows = await LoginFailure.insert(LoginFailure(key=checking_key, at=now)).returning(
                LoginFailure.id
            )
    return Attempt(area, account, address, rows[0]["id"])


async def failed(attempt: Attempt) -> None:
    """The password was wrong: counted for the account, the pair and the address."""
    now = datetime.now(UTC)
    async for transaction in write_transactions():
        async with transaction:
            await lock_name(attempt.account_key)  # admission counts under it (module docstring)
            await LoginFailure.delete().where(LoginFailure.id == attempt.row_id)
            await LoginFailure.insert(
                *(
                    LoginFailure(key=key, at=now)
                    for key in (attempt.pair_key, attempt.account_key, attempt.address_key)
                )
            )


async def succeeded(attempt: Attempt) -> None:
    """The password was right: the attempt and the failures of this account from this address
    are forgotten (not the address's failures with other accounts)."""
    async for transaction in write_transactions():
        async with transaction:
            await lock_name(attempt.account_key)  # admission counts under it (module docstring)
            await LoginFailure.delete().where(
                (LoginFailure.id == attempt.row_id) | (LoginFailure.key == attempt.pair_key)
            )


async def hit(area: str, account: str, address: str, limits: Limits) -> bool:
    """Counts a request that is limited however it ends (one that mails someone): False when
    there were too many already."""
    attempt = await begin(area, account, address, limits)
    if attempt is None:
        return False
    await failed(attempt)
    return True


# Links looked up from one address: past this many unknown (used, expired) links in the window,
# the address gets no answer about links any more, not even for a real one. A real link is 256
# random bits; this keeps guessing from costing the database.
LINK_LIMITS = Limits(per_pair=30, per_address=30)


async def counted_link(
    area: str,
    token: str,
    address: str,
    lookup: Callable[[str], Awaitable[T | None]],
    limits: Limits = LINK_LIMITS,
) -> T | None:
    """What a one-time link names (`lookup(token)`), or None for a used, expired or unknown
    link, which counts as a failure of `address` in `area`. Past `limits` the address is
    refused whatever the link: Throttled (answer it with `portal.core.web.throttled`)."""
    # Counted under a digest of the link: whatever was typed into the address (a NUL byte,
    # which PostgreSQL refuses in text), and no part of a real link is kept.
    digest = hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    attempt = await begin(area, f"link:{digest}", address, limits)
    if attempt is None:
        raise Throttled()
    found = await lookup(token)
    await (failed(attempt) if found is None else succeeded(attempt))
    return found


async def delete_old_failures() -> None:
    await LoginFailure.delete().where(LoginFailure.at < datetime.now(UTC) - KEEP)
