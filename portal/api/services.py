"""API keys (created, listed, revoked, checked) and the reads the JSON API makes.

A key is `pk_` and 43 random URL-safe characters (256 bits). Only its SHA-256 is stored, with
its first characters to recognise it by; the key itself is shown once, when it is created.
A key belongs to one company and only ever reads and changes that company's data.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from portal.api.tables import ApiKey
from portal.clients.tables import Client
from portal.companies.services import get_company
from portal.core.errors import NotFound, ValidationError
from portal.core.forms import Field
from portal.core.ids import is_row_id

KEY_PREFIX = "pk_"
SHOWN_CHARACTERS = 10  # "pk_" and 7 characters of the secret
LAST_USED_PRECISION = timedelta(minutes=1)  # at most one write a minute per key


@dataclass(frozen=True)
class ApiKeyRef:
    """Who calls the API: the key's id, name and company."""

    id: int
    company_id: int
    name: str


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


KEY_NAME = Field("name", "Name", 100, required=True)


async def create_key(company_id: int, name: str, created_by: str = "") -> tuple[int, str]:
    """(id, key): the key in clear, to show once."""
    name = name.strip()
    errors: dict[str, str] = {}
    KEY_NAME.check(errors, name)
    if "name" not in errors and any(ord(char) < 32 for char in name):
        errors["name"] = "Name must be one line, without control characters."
    try:
        await get_company(company_id)
    except NotFound:
        errors["company"] = f"No company with ID {company_id}."
    if errors:
        raise ValidationError(errors)
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    rows = await ApiKey.insert(
        ApiKey(
            company=company_id,
            name=name,
            key_hash=hash_key(key),
            prefix=key[:SHOWN_CHARACTERS],
            created_by=created_by[:100],
            created_at=datetime.now(UTC),
        )
    ).returning(ApiKey.id)
    return rows[0]["id"], key


async def list_keys(company_id: int) -> list[dict]:
    return (
        await ApiKey.select(
            ApiKey.id,
            ApiKey.name,
            ApiKey.prefix,
            ApiKey.created_by,
            ApiKey.created_at,
            ApiKey.last_used_at,
            ApiKey.revoked_at,
        )
        .where(ApiKey.company == company_id)
        .order_by(ApiKey.id, ascending=False)
    )


async def get_key(company_id: int, key_id: int) -> dict:
    if not is_row_id(key_id):
        raise NotFound()
    row = await ApiKey.select().where(ApiKey.id == key_id, ApiKey.company == company_id).first()
    if row is None:
        raise NotFound()
    return row


async def revoke_key(company_id: int, key_id: int) -> None:
    """The key stops working at once; revoking twice is harmless."""
    await get_key(company_id, key_id)
    await ApiKey.update({ApiKey.revoked_at: datetime.now(UTC)}).where(
        ApiKey.id == key_id, ApiKey.company == company_id, ApiKey.revoked_at.is_null()
    )


async def authenticate(key: str) -> ApiKeyRef | None:
    """The key's owner, or None for an unknown or revoked key (the same answer for both)."""
    if not key.startswith(KEY_PREFIX) or len(key) > 200 or not key.isascii():
        return None
    row = (
        await ApiKey.select(ApiKey.id, ApiKey.company, ApiKey.name, ApiKey.last_used_at)
        .where(ApiKey.key_hash == hash_key(key), ApiKey.revoked_at.is_null())
        .first()
    )
    if row is None:
        return None
    now = datetime.now(UTC)
    if row["last_used_at"] is None or now - row["last_used_at"] > LAST_USED_PRECISION:
        await ApiKey.update({ApiKey.last_used_at: now}).where(ApiKey.id == row["id"])
    return ApiKeyRef(id=row["id"], company_id=row["company"], name=row["name"])


async def client_ids_after(company_id: int, after_id: int, limit: int) -> list[int]:
    """The company's client ids after `after_id`, in order (the API's cursor pages)."""
    rows = (
        await Client.select(Client.id)
        .where(Client.company == company_id, Client.id > after_id)
        .order_by(Client.id)
        .limit(limit)
    )
    return [row["id"] for row in rows]


async def client_rows(company_id: int, ids: list[int]) -> list[dict]:
    """List fields of these clients of the company (primary contact and group), by id."""
    if not ids:
        return []
    placeholders = ", ".join(["{}"] * len(ids))
    return await Client.raw(
        "SELECT c.id, c.code, c.status, c.language, c.marketing_opt_in, c.created_at, "  # noqa: S608 - placeholders and fixed SQL only
        'c."group" AS group_id, g.name AS group_name, ct.first_name, ct.last_name, '
        "ct.company AS company_name, ct.email, ct.country FROM client c "
        "JOIN contact ct ON ct.client = c.id AND ct.contact_type = 'primary' "
        'JOIN client_group g ON g.id = c."group" '
        f"WHERE c.company = {{}} AND c.id IN ({placeholders}) ORDER BY c.id",  # noqa: S608
        company_id,
        *ids,
    )
