"""Signatures of webhook requests, as the Standard Webhooks specification has them
(https://www.standardwebhooks.com): each request carries `webhook-id` (the same for every
attempt of one event), `webhook-timestamp` (seconds since the epoch, of this attempt) and
`webhook-signature`: `v1,` and the base64 HMAC-SHA256, under the endpoint's secret, of
"{webhook-id}.{webhook-timestamp}.{body}". The secret is `whsec_` and 32 random bytes in base64;
its bytes are the HMAC key. While a rotated secret is still honoured, the header carries one
signature for each, separated by a space."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from functools import cache

from portal.core.config import get_settings

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
SECRET_BYTES = 32


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def signed_headers(
    secrets_in_use: list[str], message_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(
            signature(secret, message_id, timestamp, body) for secret in secrets_in_use
        ),
    }


@cache
def _message_id_key() -> bytes:
    key = get_settings().secret_key.encode()
    return hashlib.sha256(b"portal: webhook message ids " + key).digest()


def message_id(event_id: int) -> str:
    """The `webhook-id` of an event: the same for every attempt and every endpoint, so that
    receivers can tell a retry from a new event; derived from the event's row ID without
    showing it (row IDs would tell how busy the install's other companies are)."""
    digest = hmac.new(_message_id_key(), str(event_id).encode(), hashlib.sha256).digest()
    return "msg_" + base64.urlsafe_b64encode(digest[:18]).decode()
