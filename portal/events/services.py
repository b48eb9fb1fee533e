"""Events: what happened to a company's data, written to the outbox (`Event`) inside the
transaction of the change, so that another system hears of every committed change and of no
rolled-back one. Domains emit; the webhooks deliver (portal.webhooks).

Who emits what, each from the one place every writer passes through:

- client.* and contact.*: the clients' audit log (portal.clients.audit.record and
  record_created), which every change of a client writes in its transaction;
- consent.*: a database trigger on the consent log (the clients migration of 2026-12-05T04:00),
  whichever code or SQL inserts the record.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from portal.core.db import engine, insert_rows, write_transactions
from portal.events.tables import Event

# Every type there is, with what it means; endpoints subscribe to these.
EVENT_TYPES = {
    "client.created": "A client was added (Add Client, an import, the API).",
    "client.updated": "A client's details, group, tags or login changed.",
    "client.status_changed": "A client became Active, Inactive or Fraud.",
    "client.deleted": "A client was deleted with everything of it.",
    "client.anonymised": "A client's personal data was replaced (erasure).",
    "contact.created": "A billing or other contact was added to a client.",
    "contact.updated": "A billing or other contact changed.",
    "contact.deleted": "A billing or other contact was deleted.",
    "consent.granted": "A client or contact opted in to marketing email.",
    "consent.withdrawn": "A client or contact opted out of marketing email (or unsubscribed).",
}
# Sent to one endpoint on request ("Send test event"), never subscribed to.
TEST_EVENT = "webhook.test"
KEPT_DAYS = 30  # events (and their deliveries) older than this are dropped


Emitted = tuple[str, dict[str, Any]]  # (type, data)


def client_ref(client_id: int, code: str) -> dict[str, Any]:
    """How events name a client: its ID and its client ID as people see it."""
    return {"id": client_id, "code": code}


async def emit(company_id: int, event_type: str, data: dict[str, Any]) -> None:
    """Writes one event. Call inside the write transaction of the change it tells of."""
    await emit_many(company_id, [(event_type, data)])


async def emit_many(company_id: int, events: Iterable[Emitted]) -> None:
    """Writes events of one company, in order, with multi-row INSERTs (an import's batch).
    Call inside the write transaction of the changes they tell of."""
    assert engine().current_transaction.get() is not None, "emit inside the change's transaction"
    now = datetime.now(UTC)
    rows = []
    for event_type, data in events:
        assert event_type in EVENT_TYPES or event_type == TEST_EVENT, event_type
        rows.append((company_id, event_type, json.dumps(data, separators=(",", ":")), now))
    await insert_rows(Event, (Event.company, Event.event_type, Event.data, Event.created_at), rows)


async def delete_old() -> None:
    """Drops the events older than KEPT_DAYS (their deliveries go with them)."""
    cutoff = datetime.now(UTC) - timedelta(days=KEPT_DAYS)
    async for transaction in write_transactions():
        async with transaction:
            await Event.delete().where(Event.created_at < cutoff)
