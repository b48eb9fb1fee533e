"""Password hashing (argon2id, off the event loop) and the password rules shared by staff and
clients: 8 to 128 characters, no composition rules, very common passwords refused (NIST 800-63B)."""

from __future__ import annotations

import secrets
import string
from functools import cache

import anyio.to_thread
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from portal.core.config import get_settings
from portal.core.i18n import N_, Message

MIN_LENGTH = 8
MAX_LENGTH = 128


@cache
def hasher() -> PasswordHasher:
    if get_settings().argon2_profile == "fast":
        # Tests only: the same algorithm with cheap parameters.
        return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1, type=Type.ID)
    return PasswordHasher()  # RFC 9106 low-memory profile, argon2id


@cache
def _dummy_hash() -> str:
    return hasher().hash(secrets.token_urlsafe(16))


async def hash_password(password: str) -> str:
    return await anyio.to_thread.run_sync(hasher().hash, password)


async def verify_password(password_hash: str | None, password: str) -> tuple[bool, str | None]:
    """Check `password` against `password_hash`. Returns (matches, new_hash): `new_hash` is set
    when the stored hash uses outdated parameters and should be replaced. With no account
    (`password_hash` None) a dummy hash is verified so that the time taken does not tell."""

    def verify() -> tuple[bool, str | None]:
        ph = hasher()
        if password_hash is None:
            try:
                ph.verify(_dummy_hash(), password)
            except VerificationError:
                pass
            return False, None
        try:
            ph.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False, None
        return True, (ph.hash(password) if ph.check_needs_rehash(password_hash) else None)

    return await anyio.to_thread.run_sync(verify)


@cache
def _common_passwords() -> frozenset[str]:
    # zxcvbn ships the most common passwords of leaked corpora, ranked; the top 10,000 are refused.
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"][:10000])


def password_problem(password: str, *, user_inputs: tuple[str, ...] = ()) -> str | None:
    """The reason a new password is not acceptable, or None."""
    if len(password) < MIN_LENGTH:
        return Message(N_("Use at least %(count)d characters."), count=MIN_LENGTH)
    if len(password) > MAX_LENGTH:
        return Message(N_("Use at most %(count)d characters."), count=MAX_LENGTH)
    lowered = password.lower()
    if lowered in _common_passwords() or len(set(password)) < 3:
        return N_("This password is too common. Choose a less predictable one.")
    if any(item and lowered == item.lower() for item in user_inputs):
        return N_("The password must not be your name, username or email address.")
    return None


def generate_password(length: int = 20) -> str:
    """A strong random password of letters, digits and a few unambiguous symbols."""
    alphabet = string.ascii_letters + string.digits + "-_.!@#%+="
    while True:
        candidate = "".join(secrets.choice(alphabet) for _ in range(length))
        if any(c.isdigit() for c in candidate) and any(c.isalpha() for c in candidate):
            return candidate
