"""Passkeys (WebAuthn, with py_webauthn): a login registers several, names and removes them,
and signs in with one alone. They are discoverable credentials, so the sign-in page asks for
no name first: the credential says whose it is.

Every ceremony uses a challenge the server made for it, for one purpose, and forgets at the
first answer (kept in the database rather than the session: a sign-in page has no session yet,
and making one would void the page's CSRF token), so an assertion cannot be replayed; the
authenticator's signature counter, where it keeps one, must also move on.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from portal.core import throttle
from portal.core.errors import NotFound, Throttled, ValidationError
from portal.core.forms import Field
from portal.core.i18n import N_
from portal.core.ids import is_row_id
from portal.core.lazy import lazy_module
from portal.security.tables import Passkey, PasskeyChallenge
from portal.security.two_factor import Login

# py_webauthn (with its crypto and CBOR) is loaded when a passkey is first used.
webauthn = lazy_module("webauthn")

THROTTLE_AREA = "passkey"
MAX_PASSKEYS = 20
MAX_CREDENTIAL_JSON = 20_000  # a real answer is a few kilobytes
NAME = Field("name", "Name", 100)
NOT_RECOGNISED = N_(
    "This passkey was not recognised. Try another one, or sign in with your password."
)


@dataclass(frozen=True)
class RelyingParty:
    """The site passkeys are made for: `id` is its host name, `origin` where pages are served."""

    id: str
    name: str
    origin: str


CHALLENGE_LIFETIME = timedelta(minutes=5)
# Counted per address only: a site-wide count (every sign-in page asks for options) would let
# one address slow everyone down.
OPTIONS_LIMITS = throttle.Limits(per_pair=100, per_address=100, account_slowdown=10**9)
SIGN_IN_LIMITS = throttle.Limits(per_pair=20, per_address=30, account_slowdown=10**9)
EXPIRED = N_("The passkey request expired. Try again.")


async def _new_challenge(purpose: str, address: str) -> bytes:
    """A challenge for one ceremony of `purpose`, kept until answered or expired."""
    if not await throttle.hit("passkey-options", "any", address, OPTIONS_LIMITS):
        raise Throttled()
    challenge = secrets.token_bytes(32)
    now = datetime.now(UTC)
    await PasskeyChallenge.delete().where(PasskeyChallenge.expires_at < now)
    await PasskeyChallenge.insert(
        PasskeyChallenge(
            challenge=webauthn.helpers.bytes_to_base64url(challenge),
            purpose=purpose,
            expires_at=now + CHALLENGE_LIFETIME,
        )
    )
    return challenge


async def _use_challenge(credential: dict, purpose: str) -> bytes:
    """The challenge the answer signed, once: it is forgotten now, so the same answer sent
    again finds nothing."""
    try:
        client_data = _parsed(
            webauthn.helpers.base64url_to_bytes(credential["response"]["clientDataJSON"])
        )
        challenge = str(client_data["challenge"])[:100]
    except (ValueError, KeyError, TypeError):
        raise ValidationError({"": NOT_RECOGNISED}) from None
    used = (
        await PasskeyChallenge.delete()
        .where(
            PasskeyChallenge.challenge == challenge,
            PasskeyChallenge.purpose == purpose,
            PasskeyChallenge.expires_at > datetime.now(UTC),
        )
        .returning(PasskeyChallenge.id)
    )
    if not used:
        raise ValidationError({"": EXPIRED})
    return webauthn.helpers.base64url_to_bytes(challenge)


def _user_handle(login: Login) -> bytes:
    return f"{login.kind}:{login.user_id}".encode()


def _where(login: Login):
    return (Passkey.kind == login.kind) & (Passkey.user_id == login.user_id)


async def list_passkeys(login: Login) -> list[dict]:
    return (
        await Passkey.select(Passkey.id, Passkey.name, Passkey.created_at, Passkey.last_used_at)
        .where(_where(login))
        .order_by(Passkey.id)
    )


async def has_passkeys(login: Login) -> bool:
    return await Passkey.exists().where(_where(login))


def _purpose(action: str, login: Login) -> str:
    return f"{action}:{login.label}"


async def registration(
    rp: RelyingParty, login: Login, user_name: str, display_name: str, address: str
) -> str:
    """Options for navigator.credentials.create (JSON)."""
    existing = await Passkey.select(Passkey.credential_id).where(_where(login))
    options = webauthn.generate_registration_options(
        rp_id=rp.id,
        rp_name=rp.name,
        user_id=_user_handle(login),
        user_name=user_name,
        challenge=await _new_challenge(_purpose("register", login), address),
        user_display_name=display_name or user_name,
        authenticator_selection=webauthn.helpers.structs.AuthenticatorSelectionCriteria(
            resident_key=webauthn.helpers.structs.ResidentKeyRequirement.REQUIRED,
            user_verification=webauthn.helpers.structs.UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=[
            webauthn.helpers.structs.PublicKeyCredentialDescriptor(
                id=webauthn.helpers.base64url_to_bytes(row["credential_id"])
            )
            for row in existing
        ],
    )
    return webauthn.options_to_json(options)


def _parsed(text: str | bytes) -> dict:
    """A JSON object of an answer; ValueError for anything else (not JSON, nested too deeply
    for the parser, not an object)."""
    try:
        parsed = json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    if not isinstance(parsed, dict):
        raise ValueError("not an object")
    return parsed


def _credential(credential_json: str) -> dict:
    if not credential_json or len(credential_json) > MAX_CREDENTIAL_JSON:
        raise ValidationError({"": NOT_RECOGNISED})
    try:
        return _parsed(credential_json)
    except ValueError:
        raise ValidationError({"": NOT_RECOGNISED}) from None


async def register(rp: RelyingParty, login: Login, credential_json: str, name: str) -> int:
    """Keeps the passkey the browser made; its id."""
    errors: dict[str, str] = {}
    name = name.strip() or "Passkey"
    NAME.check(errors, name)
    if errors:
        raise ValidationError(errors)
    credential = _credential(credential_json)
    challenge = await _use_challenge(credential, _purpose("register", login))
    if await Passkey.count().where(_where(login)) >= MAX_PASSKEYS:
        raise ValidationError(
            {"": N_("You have the most passkeys one may have: remove one first.")}
        )
    try:
        verified = webauthn.verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
            require_user_verification=True,
        )
    except (webauthn.helpers.exceptions.WebAuthnException, ValueError, KeyError, TypeError):
        raise ValidationError({"": N_("The passkey could not be registered. Try again.")}) from None
    credential_id = webauthn.helpers.bytes_to_base64url(verified.credential_id)
    if await Passkey.exists().where(Passkey.credential_id == credential_id):
        raise ValidationError({"": N_("This passkey is registered already.")})
    rows = await Passkey.insert(
        Passkey(
            kind=login.kind,
            user_id=login.user_id,
            credential_id=credential_id,
            public_key=webauthn.helpers.bytes_to_base64url(verified.credential_public_key),
            sign_count=verified.sign_count,
            name=name,
        )
    ).returning(Passkey.id)
    return rows[0]["id"]


def _auth_purpose(kind: str, login: Login | None) -> str:
    return _purpose("confirm", login) if login is not None else f"sign-in:{kind}"


async def authentication(
    rp: RelyingParty, kind: str, address: str, login: Login | None = None
) -> str:
    """Options for navigator.credentials.get (JSON): signing in with any passkey of `kind`, or
    confirming it is `login` with one of its own."""
    options = webauthn.generate_authentication_options(
        rp_id=rp.id,
        challenge=await _new_challenge(_auth_purpose(kind, login), address),
        user_verification=webauthn.helpers.structs.UserVerificationRequirement.REQUIRED,
    )
    return webauthn.options_to_json(options)


async def authenticate(
    rp: RelyingParty,
    kind: str,
    credential_json: str,
    address: str,
    login: Login | None = None,
) -> Login:
    """The login of `kind` (and, when given, only `login`) whose passkey signed the answer."""
    attempt = await throttle.begin(THROTTLE_AREA, "any", address, SIGN_IN_LIMITS)
    if attempt is None:
        raise Throttled()
    try:
        found = await _verified(rp, kind, credential_json, login)
    except ValidationError:
        await throttle.failed(attempt)
        raise
    await throttle.succeeded(attempt)
    return found


async def _verified(
    rp: RelyingParty, kind: str, credential_json: str, login: Login | None
) -> Login:
    credential = _credential(credential_json)
    challenge = await _use_challenge(credential, _auth_purpose(kind, login))
    try:
        credential_id = str(credential["id"])[:1400]
    except (ValueError, KeyError, TypeError):
        raise ValidationError({"": NOT_RECOGNISED}) from None
    row = (
        await Passkey.select()
        .where(Passkey.credential_id == credential_id, Passkey.kind == kind)
        .first()
    )
    if row is None or (login is not None and row["user_id"] != login.user_id):
        raise ValidationError({"": NOT_RECOGNISED})
    owner = Login(kind, row["user_id"])
    handle = (credential.get("response") or {}).get("userHandle")
    try:
        if handle and webauthn.helpers.base64url_to_bytes(handle) != _user_handle(owner):
            raise ValidationError({"": NOT_RECOGNISED})
        verified = webauthn.verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
            credential_public_key=webauthn.helpers.base64url_to_bytes(row["public_key"]),
            credential_current_sign_count=row["sign_count"],
            # A passkey stands for both the password and the code: the authenticator must
            # have checked its user (PIN, fingerprint, face), not only their presence.
            require_user_verification=True,
        )
    except (webauthn.helpers.exceptions.WebAuthnException, ValueError, KeyError, TypeError):
        raise ValidationError({"": NOT_RECOGNISED}) from None
    await Passkey.update(
        {Passkey.sign_count: verified.new_sign_count, Passkey.last_used_at: datetime.now(UTC)}
    ).where(Passkey.id == row["id"])
    return owner


async def rename(login: Login, passkey_id: int, name: str) -> None:
    errors: dict[str, str] = {}
    NAME.check(errors, name.strip(), required=True)
    if errors:
        raise ValidationError(errors)
    if not is_row_id(passkey_id):
        raise NotFound()
    updated = (
        await Passkey.update({Passkey.name: name.strip()})
        .where(_where(login), Passkey.id == passkey_id)
        .returning(Passkey.id)
    )
    if not updated:
        raise NotFound()


async def remove(login: Login, passkey_id: int) -> str:
    """Removes one of the login's passkeys; its name."""
    if not is_row_id(passkey_id):
        raise NotFound()
    removed = (
        await Passkey.delete()
        .where(_where(login), Passkey.id == passkey_id)
        .returning(Passkey.name)
    )
    if not removed:
        raise NotFound()
    return removed[0]["name"]


async def remove_all(login: Login) -> None:
    await Passkey.delete().where(_where(login))
