"""The webhook worker: hands events from the outbox to the endpoints that want them, and
delivers them, signed, with retries.

It runs inside the server (started by the app's lifespan; PORTAL_WEBHOOKS_IN_SERVER=0 leaves
it to other processes) and as its own process, `portal webhooks run`. Several may run at once.

## At least once, never for a rolled-back change

1. **Outbox.** A change writes its event (portal.events) in its own transaction: no commit, no
   event; a commit, an event, whatever happens to any process afterwards.
2. **Dispatch.** A worker takes the events not yet dispatched (oldest first; `FOR UPDATE SKIP
   LOCKED` on PostgreSQL) and, in one transaction, adds a pending delivery for each enabled
   endpoint of the company that chose the event's type (and existed when it happened) and
   marks the events dispatched. A crash before the commit leaves them to be dispatched again;
   after it, the deliveries exist. Nothing in between.
3. **Claim.** A worker claims due pending deliveries for PORTAL_WEBHOOKS_LEASE_SECONDS (a
   lease: `claimed_by`, `claimed_at`) in one transaction; it never holds a transaction while
   it sends.
4. **Send.** The host is resolved and its addresses checked (portal.webhooks.addresses), then
   the body is POSTed to the checked address with the Standard Webhooks headers
   (portal.webhooks.signing): connecting within 5 s, all of it within 10 s, redirects not
   followed, the first 2 KB of the answer kept.
5. **Record.** The attempt is logged and the delivery updated in one transaction: a 2xx answer
   makes it delivered; anything else (another code, no answer, a refused address) makes it
   wait PORTAL_WEBHOOKS_RETRY_SECONDS × 2^(attempt − 1) (±10 %) for the next attempt, or
   failed after PORTAL_WEBHOOKS_MAX_ATTEMPTS. After 5 failed deliveries in a row (each having
   used all its attempts; `DeliveryPolicy.disable_after`) the endpoint is disabled and the
   staff who may change webhooks are mailed.

A worker killed between 3 and 5 (kill -9 in the middle of a POST) leaves its delivery claimed
and pending: once the lease has run out another worker claims it and sends it again. So an
event is delivered **at least once**: the receiver may get it twice (the first request may
have reached it before the worker died), with the same `webhook-id`, and should ignore an ID
it has handled already. Deliveries are not ordered: a retry may arrive after a later event.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import random
import ssl
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import click

from portal.core.config import get_settings
from portal.core.db import insert_rows, skip_locked, write_transactions
from portal.core.errors import Unavailable
from portal.core.lazy import lazy_module
from portal.core.workers import run_as_process, run_command, run_steps
from portal.events import services as events
from portal.events.tables import Event
from portal.webhooks import addresses, services, signing
from portal.webhooks.tables import WebhookAttempt, WebhookDelivery, WebhookEndpoint

# httpx (with the rich console it loads) is loaded when a process first delivers.
httpx = lazy_module("httpx")

logger = logging.getLogger("portal.webhooks")

DISPATCH_BATCH = 500  # events handed out per transaction
EXCERPT_BYTES = 2048  # of an answer's body, kept in the log
USER_AGENT = "client-portal-webhooks/1"
HOUSEKEEPING_SECONDS = 600


@dataclass(frozen=True)
class DeliveryPolicy:
    """How the worker delivers: from the environment (see README), or a test's own."""

    retry_seconds: float  # the first retry's wait; doubles with each attempt
    max_attempts: int
    lease_seconds: float  # after this, a claim of a worker that stopped is taken over
    disable_after: int = 5  # failed deliveries in a row that disable an endpoint
    connect_seconds: float = 5.0
    total_seconds: float = 10.0  # all of an attempt
    batch_size: int = 20  # deliveries claimed and sent at once
    poll_seconds: float = 1.0

    @classmethod
    def from_settings(cls) -> DeliveryPolicy:
        settings = get_settings()
        return cls(
            retry_seconds=settings.webhook_retry_seconds,
            max_attempts=settings.webhook_max_attempts,
            lease_seconds=settings.webhook_lease_seconds,
        )

    def retry_delay(self, attempts: int) -> timedelta:
        """The wait after the `attempts`-th failed attempt, with jitter, so that deliveries
        that failed together do not all come back at once."""
        seconds = self.retry_seconds * 2 ** (attempts - 1) * random.uniform(0.9, 1.1)
        return timedelta(seconds=seconds)


@dataclass(frozen=True)
class Claimed:
    id: int
    endpoint: int
    event: int
    attempts: int


@dataclass(frozen=True)
class Outcome:
    response_code: int | None  # None: no answer
    excerpt: str
    error: str
    duration_ms: int

    @property
    def delivered(self) -> bool:
        return self.response_code is not None and 200 <= self.response_code < 300


def _now() -> datetime:
    return datetime.now(UTC)


@cache
def _tls() -> ssl.SSLContext:
    return httpx.create_ssl_context()


def body_of(event: dict) -> bytes:
    """The request body, as the Standard Webhooks payload structure has it."""
    return json.dumps(
        {
            "type": event["event_type"],
            "timestamp": event["created_at"].isoformat().replace("+00:00", "Z"),
            "data": json.loads(event["data"]),
        },
        separators=(",", ":"),
    ).encode()


# --- 2. dispatch ------------------------------------------------------------------------------


async def dispatch_events() -> int:
    """Turns undispatched events into pending deliveries; returns how many events it took."""
    if not await Event.raw("SELECT id FROM event WHERE dispatched_at IS NULL LIMIT 1"):
        return 0  # idle: no write transaction (SQLite would take its lock for nothing)
    now = _now()
    async for transaction in write_transactions():
        async with transaction:
            taken = await Event.raw(
                "SELECT id, company, event_type, created_at FROM event "  # noqa: S608 - fixed SQL
                f"WHERE dispatched_at IS NULL ORDER BY id LIMIT {{}}{skip_locked()}",
                DISPATCH_BATCH,
            )
            if not taken:
                return 0
            endpoints = await WebhookEndpoint.select(
                WebhookEndpoint.id,
                WebhookEndpoint.company,
                WebhookEndpoint.event_types,
                WebhookEndpoint.created_at,
            ).where(
                WebhookEndpoint.company.is_in(sorted({row["company"] for row in taken})),
                WebhookEndpoint.enabled.eq(True),
            )
            wanted = [
                (endpoint["id"], event["id"], now, now)
                for event in taken
                for endpoint in endpoints
                if endpoint["company"] == event["company"]
                and event["event_type"] in endpoint["event_types"].split(",")
                and endpoint["created_at"] <= event["created_at"]
            ]
            await insert_rows(
                WebhookDelivery,
                (
                    WebhookDelivery.endpoint,
                    WebhookDelivery.event,
                    WebhookDelivery.next_attempt_at,
                    WebhookDelivery.created_at,
                ),
                wanted,
            )
            await Event.update({Event.dispatched_at: now}).where(
                Event.id.is_in([row["id"] for row in taken])
            )
    return len(taken)


# --- 4. sending -------------------------------------------------------------------------------


def _refusal(response: httpx.Response) -> str:
    """Why an answer does not count as delivered ("" when it does)."""
    if response.is_success:
        return ""
    if response.is_redirect:
        return f"HTTP {response.status_code}: redirects are not followed; use the final URL."
    return f"HTTP {response.status_code}"


async def _post(
    target: addresses.Target, body: bytes, headers: dict[str, str], policy: DeliveryPolicy
) -> Outcome:
    """POSTs to the first of the target's checked addresses that accepts a connection (never
    to whatever the name resolves to by then), naming the host in `Host` and, for https, in
    TLS (SNI and the certificate check)."""
    started = time.monotonic()
    headers = {
        **headers,
        "host": target.url.netloc,
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "accept-encoding": "identity",  # the excerpt is read as it comes, never inflated
    }
    extensions = {"sni_hostname": target.host} if target.url.scheme == "https" else {}
    timeout = httpx.Timeout(policy.total_seconds, connect=policy.connect_seconds)
    last_error: Exception | None = None
    async with httpx.AsyncClient(
        timeout=timeout, follow_redirects=False, trust_env=False, verify=_tls()
    ) as client:
        for address in target.addresses:
            host = f"[{address}]" if isinstance(address, ipaddress.IPv6Address) else str(address)
            pinned = target.url._replace(netloc=f"{host}:{target.port}").geturl()
            try:
                async with client.stream(
                    "POST", pinned, content=body, headers=headers, extensions=extensions
                ) as response:
                    excerpt = b""
                    # What a service inside the network answers stays there: the log of a
                    # delivery to a private address keeps its status only, so that a webhook
                    # cannot be used to read internal services.
                    async for chunk in response.aiter_raw():
                        if addresses.is_internal(address):
                            break
                        excerpt += chunk
                        if len(excerpt) >= EXCERPT_BYTES:
                            break
                    return Outcome(
                        response.status_code,
                        excerpt[:EXCERPT_BYTES].decode("utf-8", "replace"),
                        _refusal(response),
                        int((time.monotonic() - started) * 1000),
                    )
            except httpx.ConnectError as error:
                last_error = error  # the next address, if there is one
    raise last_error or httpx.ConnectError("no address")


async def attempt(
    url: str, allow_private: bool, headers: dict[str, str], body: bytes, policy: DeliveryPolicy
) -> Outcome:
    """One attempt, within the policy's time; every failure is an Outcome, never raised."""
    started = time.monotonic()

    def failed(error: str) -> Outcome:
        return Outcome(None, "", error[:500], int((time.monotonic() - started) * 1000))

    try:
        async with asyncio.timeout(policy.total_seconds):
            target = await addresses.resolve(url, allow_private)
            return await _post(target, body, headers, policy)
    except addresses.RefusedURL as refusal:
        return failed(f"Not sent: {refusal}")
    except (TimeoutError, httpx.TimeoutException):
        return failed(f"No complete answer within {policy.total_seconds:g} seconds.")
    except httpx.ConnectError as error:
        return failed(f"Could not connect: {error or 'refused'}")
    except httpx.HTTPError as error:
        return failed(f"The connection failed: {type(error).__name__} {error}")


# --- the worker -------------------------------------------------------------------------------


# Deliveries a worker may claim now (parameters: now, stale, True): pending and due, claimed
# by nobody or under a lease that ran out, for an enabled endpoint.
CLAIMABLE = (
    "d.status = 'pending' AND d.next_attempt_at <= {} "
    "AND (d.claimed_at IS NULL OR d.claimed_at < {}) "
    "AND EXISTS (SELECT 1 FROM webhook_endpoint w WHERE w.id = d.endpoint AND w.enabled = {})"
)


class DeliveryWorker:
    def __init__(self, policy: DeliveryPolicy | None = None) -> None:
        self.policy = policy or DeliveryPolicy.from_settings()
        self.id = uuid.uuid4().hex[:16]
        self.attempted = 0
        self.last_housekeeping = 0.0

    async def step(self) -> bool:
        """Dispatches waiting events and sends one batch of due deliveries; False when there
        was nothing to do."""
        if time.monotonic() - self.last_housekeeping > HOUSEKEEPING_SECONDS:
            await events.delete_old()
            self.last_housekeeping = time.monotonic()
        dispatched = await dispatch_events()
        batch = await self.claim()
        await asyncio.gather(*(self.deliver(claimed) for claimed in batch))
        return bool(dispatched or batch)

    async def run_until_idle(self) -> int:
        """Works until nothing is due now (later retries are not waited for); returns the
        attempts made."""
        before = self.attempted
        while await self.step():
            pass
        return self.attempted - before

    async def run_forever(self, stop: asyncio.Event | None = None) -> None:
        await run_steps(
            self.step,
            stop,
            poll_seconds=self.policy.poll_seconds,
            logger=logger,
            failure="Webhook worker step failed",
        )

    # -- 3. claim --

    async def claim(self) -> list[Claimed]:
        now = _now()
        stale = now - timedelta(seconds=self.policy.lease_seconds)
        if not await WebhookDelivery.raw(
            f"SELECT d.id FROM webhook_delivery d WHERE {CLAIMABLE} LIMIT 1",  # noqa: S608
            now,
            stale,
            True,
        ):
            return []  # idle: no write transaction (SQLite would take its lock for nothing)
        async for transaction in write_transactions():
            async with transaction:
                rows = await WebhookDelivery.raw(
                    "UPDATE webhook_delivery SET claimed_by = {}, claimed_at = {} "  # noqa: S608 - placeholders and fixed SQL only
                    f"WHERE id IN (SELECT d.id FROM webhook_delivery d WHERE {CLAIMABLE} "
                    f"ORDER BY d.next_attempt_at, d.id LIMIT {{}}{skip_locked()}) "
                    "RETURNING id, endpoint, event, attempts",
                    self.id,
                    now,
                    now,
                    stale,
                    True,
                    self.policy.batch_size,
                )
        return [Claimed(r["id"], r["endpoint"], r["event"], r["attempts"]) for r in rows]

    # -- 4. and 5. --

    async def deliver(self, claimed: Claimed) -> None:
        try:
            endpoint = (
                await WebhookEndpoint.select().where(WebhookEndpoint.id == claimed.endpoint).first()
            )
            event = await Event.select().where(Event.id == claimed.event).first()
            if endpoint is None or event is None:
                return  # deleted meanwhile, and its deliveries with it
            body = body_of(event)
            headers = signing.signed_headers(
                services.secrets_in_use(endpoint),
                signing.message_id(event["id"]),
                int(time.time()),
                body,
            )
            allow_private = await services.allows_private(endpoint["company"])
            outcome = await attempt(endpoint["url"], allow_private, headers, body, self.policy)
            self.attempted += 1
            await self.record(claimed, endpoint, outcome)
        except Unavailable:
            raise
        except Exception:
            # The claim runs out and another round tries again; a bug must not stop the batch.
            logger.exception("Webhook delivery %s failed", claimed.id)

    async def record(self, claimed: Claimed, endpoint: dict, outcome: Outcome) -> None:
        now = _now()
        attempts = claimed.attempts + 1
        failed = not outcome.delivered and attempts >= self.policy.max_attempts
        values: dict[Any, Any] = {
            WebhookDelivery.attempts: attempts,
            WebhookDelivery.response_code: outcome.response_code,
            WebhookDelivery.error: outcome.error,
            WebhookDelivery.claimed_by: None,
            WebhookDelivery.claimed_at: None,
        }
        if outcome.delivered:
            values |= {WebhookDelivery.status: "delivered", WebhookDelivery.delivered_at: now}
        elif failed:
            values |= {WebhookDelivery.status: "failed"}
        else:
            values |= {WebhookDelivery.next_attempt_at: now + self.policy.retry_delay(attempts)}
        disabled_reason = None
        async for transaction in write_transactions():
            async with transaction:
                updated = (
                    await WebhookDelivery.update(values)
                    .where(
                        WebhookDelivery.id == claimed.id,
                        WebhookDelivery.claimed_by == self.id,
                    )
                    .returning(WebhookDelivery.id)
                )
                if not updated:
                    # Deleted with its endpoint meanwhile, or taken over by another worker
                    # (this one outlived its lease): the delivery is no longer this one's.
                    return
                await WebhookAttempt.insert(
                    WebhookAttempt(
                        delivery=claimed.id,
                        attempted_at=now,
                        response_code=outcome.response_code,
                        response_excerpt=outcome.excerpt,
                        error=outcome.error,
                        duration_ms=outcome.duration_ms,
                    )
                )
                if outcome.delivered:
                    await WebhookEndpoint.update({WebhookEndpoint.failed_deliveries: 0}).where(
                        WebhookEndpoint.id == claimed.endpoint
                    )
                elif failed:
                    disabled_reason = await self.count_failure(claimed.endpoint, outcome, now)
        if disabled_reason is not None:
            await services.mail_endpoint_disabled(
                endpoint["company"], endpoint["id"], endpoint["url"], disabled_reason
            )

    async def count_failure(self, endpoint_id: int, outcome: Outcome, now: datetime) -> str | None:
        """Inside the transaction: one more failed delivery in a row; the endpoint is disabled
        at the policy's `disable_after`. Returns why, when this disabled it."""
        rows = (
            await WebhookEndpoint.update(
                {WebhookEndpoint.failed_deliveries: WebhookEndpoint.failed_deliveries + 1}
            )
            .where(WebhookEndpoint.id == endpoint_id)
            .returning(WebhookEndpoint.failed_deliveries, WebhookEndpoint.enabled)
        )
        if not rows or not rows[0]["enabled"]:
            return None
        if rows[0]["failed_deliveries"] < self.policy.disable_after:
            return None
        reason = (
            f"{rows[0]['failed_deliveries']} deliveries in a row failed, each after "
            f"{self.policy.max_attempts} attempts (the last: {outcome.error})."
        )[:255]
        await WebhookEndpoint.update(
            {
                WebhookEndpoint.enabled: False,
                WebhookEndpoint.disabled_at: now,
                WebhookEndpoint.disabled_reason: reason,
            }
        ).where(WebhookEndpoint.id == endpoint_id)
        return reason


# --- entry points ---------------------------------------------------------------------------


async def server_worker() -> None:
    """The worker inside `portal serve` (the app's lifespan runs it), unless
    PORTAL_WEBHOOKS_IN_SERVER=0 leaves delivering to `portal webhooks run` processes."""
    if get_settings().webhooks_in_server:
        await DeliveryWorker().run_forever()


async def run_worker(once: bool = False) -> int:
    """`portal webhooks run`: until SIGTERM/SIGINT (or, with `once`, until nothing is due)."""

    async def work(stop: asyncio.Event) -> int:
        worker = DeliveryWorker()
        if once:
            return await worker.run_until_idle()
        await worker.run_forever(stop)
        return worker.attempted

    return await run_as_process(work)


@click.group("webhooks")
def webhooks_command() -> None:
    """Webhooks: the delivery worker."""


@webhooks_command.command("run")
@click.option("--once", is_flag=True, help="Stop when nothing is due now.")
def webhooks_run(once: bool) -> None:
    """Deliver events to the companies' webhook endpoints."""
    from portal.cli import prepare

    logging.getLogger("httpx").setLevel(logging.WARNING)  # each attempt is in the delivery log
    attempted = run_command(prepare, lambda: run_worker(once))
    click.echo(f"Webhook worker stopped; {attempted} attempts made.")
