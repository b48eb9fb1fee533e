"""`Idempotency-Key` on the API's POSTs: a request sent again (after a timeout, a dropped
connection) gets the answer the first one got, instead of making a second client.

The first request with a key claims it (a row whose unique index decides between requests sent
at once), is carried out, and stores its answer. The same key again, with the same method, path
and body: the stored answer. With another request: refused (`KeyReused`). While the first has
not finished: refused (`KeyInUse`); the client tries again shortly. A request refused before it
changed anything (invalid data, no such client) gives its key back, so that a corrected
request may use it; one that failed in a way that leaves unknown whether it was carried out
keeps the key claimed, unanswered, so that nothing is done twice. Keys are kept for a day.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from portal.api.tables import ApiIdempotency
from portal.core.config import get_settings
from portal.core.db import write_transactions

LIFETIME = timedelta(hours=24)


class KeyReused(Exception):
    """The key was used for another request (method, path or body)."""


class KeyInUse(Exception):
    """The first request with the key has not finished (or did not finish)."""


@dataclass(frozen=True)
class StoredAnswer:
    status_code: int
    body: bytes
    headers: dict[str, str]


def request_hash(method: str, path: str, body: bytes) -> str:
    """Keyed with the portal's secret: a body may hold a password, which a plain digest would
    let anyone who reads the table try guesses against."""
    message = f"{method} {path}\n".encode() + body
    return hmac.new(get_settings().secret_key.encode(), message, hashlib.sha256).hexdigest()


def _this(api_key_id: int, key: str) -> tuple:
    return (ApiIdempotency.api_key == api_key_id, ApiIdempotency.idempotency_key == key)


async def claim(api_key_id: int, key: str, hashed_request: str) -> StoredAnswer | None:
    """None: the key is the caller's now; carry the request out, then `complete` or
    `release`. A StoredAnswer: the first request's, to send again. Raises KeyReused or
    KeyInUse."""
    now = datetime.now(UTC)
    async for transaction in write_transactions():
        async with transaction:
            await ApiIdempotency.delete().where(
                *_this(api_key_id, key), ApiIdempotency.created_at < now - LIFETIME
            )
            claimed = (
                await ApiIdempotency.insert(
                    ApiIdempotency(
                        api_key=api_key_id,
                        idempotency_key=key,
                        request_hash=hashed_request,
                        created_at=now,
                    )
                )
                .on_conflict(target=(ApiIdempotency.api_key, ApiIdempotency.idempotency_key))
                .returning(ApiIdempotency.id)
            )
            first = (
                None
                if claimed
                else await ApiIdempotency.select().where(*_this(api_key_id, key)).first()
            )
    if claimed:
        return None
    if first is None:
        raise KeyInUse()  # given back meanwhile: the client's next try claims it
    if first["request_hash"] != hashed_request:
        raise KeyReused()
    if first["status_code"] is None:
        raise KeyInUse()
    return StoredAnswer(
        status_code=first["status_code"],
        body=first["response_body"].encode(),
        headers=json.loads(first["response_headers"] or "{}"),
    )


async def complete(api_key_id: int, key: str, answer: StoredAnswer) -> None:
    async for transaction in write_transactions():
        async with transaction:
            await ApiIdempotency.update(
                {
                    ApiIdempotency.status_code: answer.status_code,
                    ApiIdempotency.response_body: answer.body.decode(),
                    ApiIdempotency.response_headers: json.dumps(answer.headers),
                }
            ).where(*_this(api_key_id, key))


async def release(api_key_id: int, key: str) -> None:
    """The request was refused before it changed anything: the key may be used again."""
    async for transaction in write_transactions():
        async with transaction:
            await ApiIdempotency.delete().where(
                *_this(api_key_id, key), ApiIdempotency.status_code.is_null()
            )


async def delete_expired() -> None:
    """Housekeeping: keys older than a day are forgotten."""
    async for transaction in write_transactions():
        async with transaction:
            await ApiIdempotency.delete().where(
                ApiIdempotency.created_at < datetime.now(UTC) - LIFETIME
            )
