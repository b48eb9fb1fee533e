"""Two-factor sign-in with time-based codes (RFC 6238, pyotp) and single-use recovery codes.

A login enrols by scanning a secret and entering one code from it; then it gets ten recovery
codes, shown once and kept only as hashes. Codes are throttled like passwords (per login and
address), and a code is never accepted twice: each accepted one moves `last_step` on, in the
same statement that checks it, so two requests racing with one code cannot both pass.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import pyotp
import segno

from portal.core import throttle
from portal.core.crypto import decrypt, encrypt
from portal.core.db import violated_unique_index, write_transactions
from portal.core.errors import Throttled, ValidationError
from portal.core.i18n import N_
from portal.security.tables import RecoveryCode, TwoFactor

THROTTLE_AREA = "two-factor"
RECOVERY_CODES = 10
# A code of the step before or after the current one is accepted too (clocks drift).
DRIFT_STEPS = 1
CODE = re.compile(r"[0-9]{6}")
WRONG_CODE = N_("That code is not right. Enter the current 6-digit code from your app.")
WRONG_RECOVERY_CODE = N_("That recovery code is not right or was already used.")


@dataclass(frozen=True)
class Login:
    """Whose second factor: kind "staff" or "client", and the id of the staff member or user."""

    kind: str
    user_id: int

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.user_id}"


@dataclass(frozen=True)
class Enrolment:
    secret: str
    uri: str  # otpauth:// for authenticator apps

    @property
    def qr_svg(self) -> str:
        """The URI as an inline SVG QR code (no request leaves the portal with the secret)."""
        return segno.make(self.uri, error="m").svg_inline(scale=5, dark="#000", light="#fff")

    @property
    def grouped_secret(self) -> str:
        """The secret as people type it: groups of four."""
        return " ".join(self.secret[i : i + 4] for i in range(0, len(self.secret), 4))


def _where(login: Login, table=TwoFactor):
    return (table.kind == login.kind) & (table.user_id == login.user_id)


async def is_enabled(login: Login) -> bool:
    return await TwoFactor.exists().where(_where(login), TwoFactor.enabled_at.is_not_null())


async def enabled_among(kind: str, user_ids: list[int]) -> set[int]:
    """Those of the logins that have two-factor on."""
    rows = await TwoFactor.select(TwoFactor.user_id).where(
        TwoFactor.kind == kind,
        TwoFactor.user_id.is_in(user_ids or [0]),
        TwoFactor.enabled_at.is_not_null(),
    )
    return {row["user_id"] for row in rows}


async def start_enrolment(login: Login, account_name: str, issuer: str) -> Enrolment:
    """A new secret for a login without two-factor to scan (the one of an unfinished enrolment
    is replaced)."""
    secret = pyotp.random_base32()
    try:
        async for transaction in write_transactions():
            async with transaction:
                await TwoFactor.delete().where(_where(login), TwoFactor.enabled_at.is_null())
                await TwoFactor.insert(
                    TwoFactor(kind=login.kind, user_id=login.user_id, secret=encrypt(secret))
                )
    except Exception as error:
        # Another request of the login made one at the same moment: that one is shown.
        if violated_unique_index(error) and (
            pending := await pending_enrolment(login, account_name, issuer)
        ):
            return pending
        raise
    return Enrolment(secret, _uri(secret, account_name, issuer))


def _uri(secret: str, account_name: str, issuer: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=account_name, issuer_name=issuer)


async def pending_enrolment(login: Login, account_name: str, issuer: str) -> Enrolment | None:
    """The enrolment being made, to show again after a wrong code."""
    row = (
        await TwoFactor.select(TwoFactor.secret)
        .where(_where(login), TwoFactor.enabled_at.is_null())
        .first()
    )
    if row is None:
        return None
    secret = decrypt(row["secret"])
    return Enrolment(secret, _uri(secret, account_name, issuer))


def _matching_step(secret: str, code: str, now: float) -> int | None:
    totp = pyotp.TOTP(secret)
    current = totp.timecode(int(now))
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def clean_code(code: str) -> str:
    return re.sub(r"[\s-]", "", code or "")[:64]


async def _throttled(login: Login, address: str):
    attempt = await throttle.begin(THROTTLE_AREA, login.label, address)
    if attempt is None:
        raise Throttled()
    return attempt


async def _accept_code(login: Login, code: str, *, enabled: bool) -> bool:
    """Whether `code` is a current code of the login's secret (its enrolled one, or the one
    being enrolled) that was not used before; if so, its step is used up."""
    code = clean_code(code)
    if not CODE.fullmatch(code):
        return False
    state = TwoFactor.enabled_at.is_not_null() if enabled else TwoFactor.enabled_at.is_null()
    row = await TwoFactor.select(TwoFactor.id, TwoFactor.secret).where(_where(login), state).first()
    if row is None:
        return False
    step = _matching_step(decrypt(row["secret"]), code, time.time())
    if step is None:
        return False
    used = (
        await TwoFactor.update({TwoFactor.last_step: step})
        .where(TwoFactor.id == row["id"], TwoFactor.last_step < step)
        .returning(TwoFactor.id)
    )
    return bool(used)


async def confirm_enrolment(login: Login, code: str, address: str) -> list[str]:
    """Turns two-factor on with the secret being enrolled, once a code of it is right; the ten
    recovery codes, to show once."""
    attempt = await _throttled(login, address)
    if not await _accept_code(login, code, enabled=False):
        await throttle.failed(attempt)
        raise ValidationError({"code": WRONG_CODE})
    await throttle.succeeded(attempt)
    async for transaction in write_transactions():
        async with transaction:
            await TwoFactor.update({TwoFactor.enabled_at: datetime.now(UTC)}).where(
                _where(login), TwoFactor.enabled_at.is_null()
            )
            codes = await _replace_recovery_codes(login)
    return codes


def _code_hash(code: str) -> str:
    return hashlib.sha256(clean_code(code).lower().encode()).hexdigest()


def _new_recovery_code() -> str:
    raw = secrets.token_hex(5)  # 40 bits, shown as xxxxx-xxxxx
    return f"{raw[:5]}-{raw[5:]}"


async def _replace_recovery_codes(login: Login) -> list[str]:
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODES)]
    await RecoveryCode.delete().where(_where(login, RecoveryCode))
    await RecoveryCode.insert(
        *(
            RecoveryCode(kind=login.kind, user_id=login.user_id, code_hash=_code_hash(c))
            for c in codes
        )
    )
    return codes


async def regenerate_recovery_codes(login: Login) -> list[str]:
    """Ten new recovery codes; the old ones stop working."""
    async for transaction in write_transactions():
        async with transaction:
            if not await is_enabled(login):
                raise ValidationError({"": N_("Two-factor authentication is not on.")})
            codes = await _replace_recovery_codes(login)
    return codes


async def recovery_codes_left(login: Login) -> int:
    return await RecoveryCode.count().where(
        _where(login, RecoveryCode), RecoveryCode.used_at.is_null()
    )


async def verify(login: Login, code: str, address: str) -> str:
    """Checks a sign-in's second factor: a current code, or else an unused recovery code (which
    is then used up). Returns "code" or "recovery code"; ValidationError when neither."""
    attempt = await _throttled(login, address)
    if await _accept_code(login, code, enabled=True):
        await throttle.succeeded(attempt)
        return "code"
    used = []
    if clean_code(code):
        used = (
            await RecoveryCode.update({RecoveryCode.used_at: datetime.now(UTC)})
            .where(
                _where(login, RecoveryCode),
                RecoveryCode.code_hash == _code_hash(code),
                RecoveryCode.used_at.is_null(),
            )
            .returning(RecoveryCode.id)
        )
    if used:
        await throttle.succeeded(attempt)
        return "recovery code"
    await throttle.failed(attempt)
    message = WRONG_CODE if CODE.fullmatch(clean_code(code)) else WRONG_RECOVERY_CODE
    raise ValidationError({"code": message})


async def disable(login: Login) -> bool:
    """Turns two-factor off and forgets its secret and recovery codes; False when it was off.
    The caller has checked who asks (the login's password and a code, or staff's permission)."""
    async for transaction in write_transactions():
        async with transaction:
            removed = await TwoFactor.delete().where(_where(login)).returning(TwoFactor.enabled_at)
            await RecoveryCode.delete().where(_where(login, RecoveryCode))
    return any(row["enabled_at"] is not None for row in removed)
