"""Tokens of one-time links (password resets, invitations): 256 random bits, of which only
the SHA-256 is stored, so a copy of the database opens no account."""

from __future__ import annotations

import hashlib
import secrets

MAX_TOKEN_LENGTH = 100  # what a link may carry; longer is not one of ours


def new_token() -> tuple[str, str]:
    """(token for the link, hash to store)."""
    token = secrets.token_urlsafe(32)
    return token, token_hash(token)


def token_hash(token: str) -> str:
    return hashlib.sha256(token[:MAX_TOKEN_LENGTH].encode()).hexdigest()
