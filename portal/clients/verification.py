"""Email verification of client-area users, as Blesta's client-group setting "Users must verify
their email address" (`email_verification`).

A user must verify its address when the group of one of its accounts says so (the address is
the user's, whichever account it works in). Such a user gets a single-use link, valid for
VERIFY_LIFETIME, when it is made (a new client's owner, a contact given a login) and whenever
its address changes; the link confirms the address it was sent to, and only while that is still
the user's. Opening the link shows a page; only pressing its button (a POST) uses the link, so
mail scanners that fetch links do not. A user who accepts an invitation through the link mailed
to its address has proven that address already.

That a change of address makes it unverified is the database's rule (a trigger on
account_user.email): no writer can forget it. What this module adds to every change is the
mail: the old address is told, the new one gets a link when the user must verify it.

Links are counted like the client area's other one-time links (throttle.counted_link): unknown,
used and expired links all get the same answer, and too many from one address are refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from portal.client_groups.services import on_for_user
from portal.clients import users
from portal.clients.tables import AccountUser, EmailVerification
from portal.core import throttle
from portal.core.config import get_settings
from portal.core.db import write_transactions
from portal.core.errors import Throttled
from portal.core.tokens import new_token, token_hash

SETTING = "email_verification"
VERIFY_LIFETIME = timedelta(hours=48)
# Counted with the client area's other one-time links (client_area.services.LINK_THROTTLE_AREA).
LINK_THROTTLE_AREA = "client-link"
# "Resend the link": at most this often per user and address in the throttle window, so that
# the button cannot be used to flood a mailbox (as the password reset mails).
RESEND_THROTTLE_AREA = "client-verify-resend"
RESEND_LIMITS = throttle.Limits(per_pair=3, per_account=3, per_address=10)


@dataclass(frozen=True)
class VerificationLink:
    """What a valid link confirms: the user's address."""

    user_id: int
    company_id: int
    email: str


async def must_verify(user_id: int) -> bool:
    """Whether the group of one of the user's accounts requires verified email addresses."""
    return await on_for_user(SETTING, user_id)


async def is_unverified(user_id: int) -> bool:
    """Whether the user must verify its address and has not (yet, or since it changed)."""
    row = (
        await AccountUser.select(AccountUser.email_verified_at)
        .where(AccountUser.id == user_id)
        .first()
    )
    return row is not None and row["email_verified_at"] is None and await must_verify(user_id)


async def _user(user_id: int) -> dict | None:
    return (
        await AccountUser.select(
            AccountUser.id,
            AccountUser.company,
            AccountUser.email,
            AccountUser.name,
            AccountUser.language,
            AccountUser.email_verified_at,
        )
        .where(AccountUser.id == user_id)
        .first()
    )


async def send_link(user_id: int) -> bool:
    """Mails the user a link that confirms its current address, when it must verify it and
    has not. Returns whether a link was sent."""
    user = await _user(user_id)
    if user is None or user["email_verified_at"] is not None or not user["email"]:
        return False
    if not await must_verify(user_id):
        return False
    token, stored_hash = new_token()
    await EmailVerification.insert(
        EmailVerification(
            user=user_id,
            email=user["email"],
            token_hash=stored_hash,
            expires_at=datetime.now(UTC) + VERIFY_LIFETIME,
        )
    )
    await users.mail_user(
        user_id,
        "email_verification.txt",
        "email_verification",
        to=user["email"],
        email=user["email"],
        verify_url=f"{get_settings().base_url}/client/verify/{token}",
    )
    return True


async def email_changed(user_id: int, old_email: str) -> None:
    """After the user's address changed (which made it unverified): the old address is told,
    and the new one gets a link when the user must verify it. Call after the change commits."""
    user = await _user(user_id)
    if user is None or user["email"].casefold() == old_email.casefold():
        return
    if old_email:
        await users.mail_user(
            user_id, "email_changed.txt", "email_changed", to=old_email, new_email=user["email"]
        )
    await send_link(user_id)


async def resend(user_id: int, address: str) -> bool:
    """Another link, on the user's request ("Resend the link"): counted per user and address,
    too many raise Throttled. Returns whether a link was sent (not when there is nothing to
    confirm)."""
    if not await throttle.hit(RESEND_THROTTLE_AREA, f"user:{user_id}", address, RESEND_LIMITS):
        raise Throttled()
    return await send_link(user_id)


# --- the link --------------------------------------------------------------------------------

# A link is valid while it is not used, not expired, and the address it was sent to is still
# its user's.
_VALID = (
    "l.token_hash = {} AND l.used_at IS NULL AND l.expires_at > {} "
    "AND lower(u.email) = lower(l.email)"
)


async def _valid_link(token: str) -> VerificationLink | None:
    rows = await EmailVerification.raw(
        'SELECT l."user", l.email, u.company FROM email_verification_link l '  # noqa: S608 - fixed SQL and placeholders
        f'JOIN account_user u ON u.id = l."user" WHERE {_VALID}',
        token_hash(token),
        datetime.now(UTC),
    )
    if not rows:
        return None
    row = rows[0]
    return VerificationLink(user_id=row["user"], company_id=row["company"], email=row["email"])


class _Stale(Exception):
    """The address changed while the link was being used: nothing is kept."""


async def _use_link(token: str) -> VerificationLink | None:
    now = datetime.now(UTC)
    try:
        async for transaction in write_transactions():
            async with transaction:
                used = await EmailVerification.raw(
                    "UPDATE email_verification_link SET used_at = {} WHERE id = ("  # noqa: S608 - fixed SQL and placeholders
                    "SELECT l.id FROM email_verification_link l "
                    f'JOIN account_user u ON u.id = l."user" WHERE {_VALID}) '
                    'AND used_at IS NULL RETURNING "user", email',
                    now,
                    token_hash(token),
                    now,
                )
                if not used:
                    return None
                verified = await AccountUser.raw(
                    "UPDATE account_user SET email_verified_at = {} "
                    "WHERE id = {} AND lower(email) = lower({}) RETURNING company",
                    now,
                    used[0]["user"],
                    used[0]["email"],
                )
                if not verified:
                    raise _Stale()
    except _Stale:
        return None
    return VerificationLink(
        user_id=used[0]["user"], company_id=verified[0]["company"], email=used[0]["email"]
    )


async def open_link(token: str, address: str) -> VerificationLink | None:
    """What a link would confirm, without using it (the page with the button); None for an
    unknown, used or expired link, or one sent to an address that is no longer the user's.
    Counted for `address`: too many such links, Throttled."""
    return await throttle.counted_link(LINK_THROTTLE_AREA, token, address, _valid_link)


async def verify(token: str, address: str) -> VerificationLink | None:
    """Uses the link: the user's address counts as verified from now on. None, and counted
    for `address`, as `open_link`."""
    return await throttle.counted_link(LINK_THROTTLE_AREA, token, address, _use_link)
