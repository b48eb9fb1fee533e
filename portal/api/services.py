"""API keys (created, listed, revoked, checked) and the reads the JSON API makes.

A key is `pk_` and 43 random URL-safe characters (256 bits). Only its SHA-256 is stored, with
its first characters to recognise it by; the key itself is shown once, when it is created.
A key belongs to one company and only ever reads and changes that company's data, and only
with the permissions it was granted that its maker still holds (portal.api.permissions).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from portal.activity import services as activity
from portal.api.permissions import (
    ApiPermission,
    all_api_permissions,
    api_catalog,
    in_effect,
    staff_equivalents,
)
from portal.api.tables import ApiKey, ApiKeyPermission
from portal.clients.audit import staff_names
from portal.clients.tables import Client, ClientNote, ContactNumber
from portal.companies.services import get_company
from portal.core.actors import Actor
from portal.core.db import read_transaction, write_transactions
from portal.core.errors import NotFound, ValidationError
from portal.core.forms import Field
from portal.core.lookups import company_row, row_id
from portal.core.pagination import Page
from portal.core.permissions import API_KEYS
from portal.core.placeholders import placeholders
from portal.core.rows import from_row
from portal.staff.groups import membership

KEY_PREFIX = "pk_"
SHOWN_CHARACTERS = 10  # "pk_" and 7 characters of the secret
LAST_USED_PRECISION = timedelta(minutes=1)  # at most one write a minute per key
KEYS_PER_PAGE = 50


@dataclass(frozen=True)
class ApiKeyRef:
    """Who calls the API: the key's id, name and company, and the API permissions it has now."""

    id: int
    company_id: int
    name: str
    permissions: frozenset[str]

    def actor(self, address: str) -> Actor:
        """The key as the actor of a change. It holds its API permissions and the staff
        permissions they stand for, so services check it as they check staff."""
        return Actor(
            kind="api-key",
            id=self.id,
            address=address,
            name=self.name,
            permissions=self.permissions | staff_equivalents(self.permissions),
        )


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


KEY_NAME = Field("name", "Name", 100, required=True)


def _summary(permissions: Collection[str]) -> str:
    return "; ".join(p.label for p in api_catalog() if p.key in permissions)


def _check_permissions(chosen: frozenset[str], actor: Actor, errors: dict[str, str]) -> None:
    """A key cannot do more than the staff member who makes it."""
    if not chosen:
        errors["permissions"] = "Choose at least one permission."
    elif chosen - all_api_permissions():
        errors["permissions"] = "Choose permissions from the list."
    elif refused := [p for p in api_catalog() if p.key in chosen and not actor.may(p.requires)]:
        errors["permissions"] = "You cannot give a key what your staff group does not allow: " + (
            "; ".join(f"“{p.label}” needs “{p.requires_label}”" for p in refused) + "."
        )


async def create_key(
    company_id: int, name: str, permissions: Collection[str], actor: Actor
) -> tuple[int, str]:
    """(id, key): the key in clear, to show once. A staff member becomes the key's maker: the
    key keeps a permission only while they do."""
    actor.require(API_KEYS)
    name = name.strip()
    chosen = frozenset(permissions)
    errors: dict[str, str] = {}
    KEY_NAME.check(errors, name)
    if "name" not in errors and any(ord(char) < 32 for char in name):
        errors["name"] = "Name must be one line, without control characters."
    _check_permissions(chosen, actor, errors)
    try:
        await get_company(company_id)
    except NotFound:
        errors["company"] = f"No company with ID {company_id}."
    if errors:
        raise ValidationError(errors)
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    async for transaction in write_transactions():
        async with transaction:
            rows = await ApiKey.insert(
                ApiKey(
                    company=company_id,
                    name=name,
                    key_hash=hash_key(key),
                    prefix=key[:SHOWN_CHARACTERS],
                    creator_staff_id=actor.id if actor.kind == "staff" else None,
                    created_at=datetime.now(UTC),
                )
            ).returning(ApiKey.id)
            key_id = rows[0]["id"]
            await ApiKeyPermission.insert(
                *(ApiKeyPermission(api_key=key_id, permission=p) for p in sorted(chosen))
            )
            await activity.record(
                company_id, actor, "api_keys", f"Created the API key {name}: {_summary(chosen)}."
            )
    return key_id, key


@dataclass(frozen=True)
class KeyView:
    """A key as the keys page lists it."""

    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    maker: str | None  # the staff member's name; None: the command line
    granted: list[ApiPermission]
    in_effect: frozenset[str]  # of `granted`, what the key has now


@dataclass(frozen=True)
class KeyList:
    keys: list[KeyView]
    pager: Page


async def _maker_holds(staff_id: int | None, company_id: int) -> frozenset[str] | None:
    """What a key's maker may do in the company now (nothing once disabled or removed there);
    None for a key made on the command line."""
    if staff_id is None:
        return None
    member = await membership(staff_id, company_id)
    return member.permissions if member else frozenset()


async def _granted(key_ids: list[int]) -> dict[int, set[str]]:
    granted: dict[int, set[str]] = {key_id: set() for key_id in key_ids}
    if key_ids:
        rows = await ApiKeyPermission.select(
            ApiKeyPermission.api_key, ApiKeyPermission.permission
        ).where(ApiKeyPermission.api_key.is_in(key_ids))
        for row in rows:
            granted[row["api_key"]].add(row["permission"])
    return granted


async def list_keys(company_id: int, page_number: int = 1) -> KeyList:
    """A page of the company's keys, newest first, with their makers and permissions."""
    async with read_transaction():
        pager = Page.of(
            page_number, KEYS_PER_PAGE, await ApiKey.count().where(ApiKey.company == company_id)
        )
        rows = (
            await ApiKey.select()
            .where(ApiKey.company == company_id)
            .order_by(ApiKey.id, ascending=False)
            .limit(pager.per_page)
            .offset(pager.offset)
        )
        granted = await _granted([row["id"] for row in rows])
        maker_ids = sorted({row["creator_staff_id"] for row in rows} - {None})
        makers = await staff_names(set(maker_ids))
        holds = {maker: await _maker_holds(maker, company_id) for maker in [None, *maker_ids]}
    catalog = api_catalog()
    return KeyList(
        keys=[
            from_row(
                KeyView,
                row,
                maker=(
                    None
                    if row["creator_staff_id"] is None
                    else makers.get(row["creator_staff_id"], "a staff member since deleted")
                ),
                granted=[p for p in catalog if p.key in granted[row["id"]]],
                in_effect=in_effect(granted[row["id"]], holds[row["creator_staff_id"]]),
            )
            for row in rows
        ],
        pager=pager,
    )


async def get_key(company_id: int, key_id: int) -> dict:
    return await company_row(ApiKey, company_id, key_id)


async def revoke_key(company_id: int, key_id: int, actor: Actor) -> None:
    """The key stops working at once; revoking twice is harmless."""
    actor.require(API_KEYS)
    key = await get_key(company_id, key_id)
    async for transaction in write_transactions():
        async with transaction:
            revoked = (
                await ApiKey.update({ApiKey.revoked_at: datetime.now(UTC)})
                .where(
                    ApiKey.id == key_id, ApiKey.company == company_id, ApiKey.revoked_at.is_null()
                )
                .returning(ApiKey.id)
            )
            if revoked:
                await activity.record(
                    company_id, actor, "api_keys", f"Revoked the API key {key['name']}."
                )


async def authenticate(key: str) -> ApiKeyRef | None:
    """The key's owner with what it may do now, or None for an unknown or revoked key (the same
    answer for both)."""
    if not key.startswith(KEY_PREFIX) or len(key) > 200 or not key.isascii():
        return None
    async with read_transaction(replica=False):  # a revoked key stops at once
        row = (
            await ApiKey.select(
                ApiKey.id,
                ApiKey.company,
                ApiKey.name,
                ApiKey.creator_staff_id,
                ApiKey.last_used_at,
            )
            .where(ApiKey.key_hash == hash_key(key), ApiKey.revoked_at.is_null())
            .first()
        )
        if row is None:
            return None
        granted = (await _granted([row["id"]]))[row["id"]]
        holds = await _maker_holds(row["creator_staff_id"], row["company"])
    now = datetime.now(UTC)
    if row["last_used_at"] is None or now - row["last_used_at"] > LAST_USED_PRECISION:
        async for transaction in write_transactions():
            async with transaction:
                await ApiKey.update({ApiKey.last_used_at: now}).where(ApiKey.id == row["id"])
    return ApiKeyRef(
        id=row["id"],
        company_id=row["company"],
        name=row["name"],
        permissions=in_effect(granted, holds),
    )


async def client_ids_after(company_id: int, after_id: int, limit: int) -> list[int]:
    """The company's client ids after `after_id`, in order (the API's cursor pages)."""
    async with read_transaction():  # on the replica, when there is one
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
    async with read_transaction():  # on the replica, when there is one
        return await Client.raw(
            "SELECT c.id, c.code, c.status, c.language, c.marketing_opt_in, c.created_at, "  # noqa: S608 - placeholders and fixed SQL only
            'c."group" AS group_id, g.name AS group_name, ct.first_name, ct.last_name, '
            "ct.company AS company_name, ct.email, ct.country FROM client c "
            "JOIN contact ct ON ct.client = c.id AND ct.contact_type = 'primary' "
            'JOIN client_group g ON g.id = c."group" '
            f"WHERE c.company = {{}} AND c.id IN ({placeholders(len(ids))}) ORDER BY c.id",  # noqa: S608
            company_id,
            *ids,
        )


CONTACT_ORDER = "CASE ct.contact_type WHEN 'primary' THEN 0 ELSE 1 END, ct.id"
# The contacts after the cursor, in CONTACT_ORDER: the billing and other contacts with a higher
# id, or all of them after the primary contact (whose id may be higher: contacts move between
# clients when they are merged).
AFTER_CURSOR = (
    "AND ct.contact_type <> 'primary' AND (ct.id > {} OR {} IN "
    "(SELECT p.id FROM contact p WHERE p.client = c.id AND p.contact_type = 'primary')) "
)


async def client_contacts(
    company_id: int,
    client_id: int,
    contact_id: int | None = None,
    *,
    after: int = 0,
    limit: int | None = None,
) -> list[dict]:
    """The contacts of a client of the company, the primary contact first (only the one with
    `contact_id` when given; those after the contact `after` and at most `limit` when given),
    each with its `numbers` (by position), `marketing_opt_in` (the client's for the primary
    contact, the contact's own for the others) and `has_login`. NotFound for a client of
    another company or a contact of another client, the same as for one that does not exist."""
    conditions, parameters = "", [client_id, company_id]
    if contact_id is not None:
        conditions, parameters = "AND ct.id = {} ", [*parameters, row_id(contact_id)]
    elif after:
        conditions, parameters = AFTER_CURSOR, [*parameters, after, after]
    page = f"LIMIT {int(limit)}" if limit is not None else ""
    async with read_transaction():
        await company_row(Client, company_id, client_id, Client.id)
        contacts = await Client.raw(
            "SELECT ct.id, ct.contact_type, ct.first_name, ct.last_name, ct.company, ct.title, "  # noqa: S608 - placeholders and fixed SQL only
            "ct.address1, ct.address2, ct.city, ct.state, ct.zip, ct.country, ct.email, "
            "CASE WHEN ct.contact_type = 'primary' THEN c.marketing_opt_in "
            "ELSE ct.marketing_opt_in END AS marketing_opt_in, "
            "CASE WHEN ct.login IS NULL THEN 0 ELSE 1 END AS has_login "
            "FROM client c JOIN contact ct ON ct.client = c.id "
            f"WHERE c.id = {{}} AND c.company = {{}} {conditions}ORDER BY {CONTACT_ORDER} {page}",
            *parameters,
        )
        if contact_id is not None and not contacts:
            raise NotFound()
        numbers = (
            await ContactNumber.select()
            .where(ContactNumber.contact.is_in([row["id"] for row in contacts]))
            .order_by(ContactNumber.position, ContactNumber.id)
            if contacts
            else []
        )
    by_contact: dict[int, list[dict]] = {}
    for number in numbers:
        by_contact.setdefault(number["contact"], []).append(number)
    for row in contacts:
        row["marketing_opt_in"] = bool(row["marketing_opt_in"])
        row["has_login"] = bool(row["has_login"])
        row["numbers"] = by_contact.get(row["id"], [])
    return contacts


async def client_notes(company_id: int, client_id: int, after_id: int, limit: int) -> list[dict]:
    """The notes of a client of the company with an id above `after_id`, by id (the API's
    cursor pages); NotFound for a client of another company."""
    async with read_transaction():
        await company_row(Client, company_id, client_id, Client.id)
        return (
            await ClientNote.select()
            .where(ClientNote.client == client_id, ClientNote.id > after_id)
            .order_by(ClientNote.id)
            .limit(limit)
        )
