"""[Settings] > [Company] > Webhooks: endpoints (URL, chosen events, a secret, enabled), their
delivery log, "Redeliver", "Send test event", and the company's setting "Allow webhooks to
private addresses". The worker that delivers is portal.webhooks.worker."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from portal.activity import services as activity
from portal.companies.services import get_company
from portal.companies.tables import CompanySetting
from portal.core import crypto
from portal.core.actors import Actor
from portal.core.config import get_settings
from portal.core.db import read_transaction, write_transactions
from portal.core.errors import NotFound, ValidationError
from portal.core.forms import Field
from portal.core.lookups import company_row, owned_row, row_id
from portal.core.pagination import Page
from portal.core.permissions import WEBHOOKS
from portal.core.rows import from_row
from portal.events.services import EVENT_TYPES, TEST_EVENT
from portal.events.tables import Event
from portal.mail import services as mail
from portal.staff.groups import group_permissions
from portal.staff.services import list_members
from portal.staff.tables import StaffGroup
from portal.webhooks import addresses, signing
from portal.webhooks.tables import WebhookAttempt, WebhookDelivery, WebhookEndpoint

ALLOW_PRIVATE_KEY = "webhooks.allow_private"
ROTATION_GRACE = timedelta(hours=24)  # a rotated secret still signs beside the new one
DELIVERIES_PER_PAGE = 25
URL = Field("url", "URL", addresses.MAX_URL, required=True)
DESCRIPTION = Field("description", "Description", 255)
ENABLE_FIRST = "The endpoint is disabled: enable it first (a disabled endpoint is sent nothing)."


@dataclass
class EndpointDetails:
    url: str = ""
    description: str = ""
    event_types: list[str] = field(default_factory=list)
    enabled: bool = True


@dataclass(frozen=True)
class EndpointView:
    id: int
    url: str
    description: str
    event_types: list[str]
    enabled: bool
    failed_deliveries: int
    disabled_at: datetime | None
    disabled_reason: str
    created_at: datetime
    previous_secret_until: datetime | None  # the rotated secret signs too until then

    @property
    def details(self) -> EndpointDetails:
        return EndpointDetails(self.url, self.description, list(self.event_types), self.enabled)

    @classmethod
    def of(cls, row: dict) -> EndpointView:
        until = row["previous_secret_until"]
        return from_row(
            cls,
            row,
            event_types=[name for name in row["event_types"].split(",") if name],
            enabled=bool(row["enabled"]),
            previous_secret_until=until if until and until > datetime.now(UTC) else None,
        )


@dataclass(frozen=True)
class DeliveryView:
    id: int
    event_type: str
    status: str
    attempts: int
    response_code: int | None
    error: str
    created_at: datetime
    next_attempt_at: datetime
    delivered_at: datetime | None

    @property
    def finished(self) -> bool:
        return self.status != "pending"


@dataclass(frozen=True)
class DeliveryPage:
    deliveries: list[DeliveryView]
    pager: Page


@dataclass(frozen=True)
class AttemptView:
    attempted_at: datetime
    response_code: int | None
    response_excerpt: str
    error: str
    duration_ms: int


@dataclass(frozen=True)
class DeliveryDetail:
    delivery: DeliveryView
    message_id: str  # the webhook-id header
    body: str  # the event as sent, indented for reading
    attempts: list[AttemptView]


async def _log(company_id: int, actor: Actor, message: str) -> None:
    """A change of the webhooks, in the activity log under Settings, where they are managed."""
    await activity.record(company_id, actor, "settings", message)


# --- the setting ----------------------------------------------------------------------------


async def allows_private(company_id: int) -> bool:
    """Whether the company's webhooks may go to private addresses: its setting, or when unset
    on a development install only (PORTAL_ENV=development)."""
    value = await CompanySetting.get(company_id, ALLOW_PRIVATE_KEY)
    return get_settings().development if value is None else value == "1"


async def set_allows_private(company_id: int, allowed: bool, actor: Actor) -> None:
    actor.require(WEBHOOKS)
    async for transaction in write_transactions():
        async with transaction:
            await CompanySetting.put(company_id, ALLOW_PRIVATE_KEY, "1" if allowed else "0")
            await _log(
                company_id,
                actor,
                "Allowed webhooks to private addresses."
                if allowed
                else "Stopped webhooks to private addresses.",
            )


# --- endpoints ------------------------------------------------------------------------------


async def _checked(company_id: int, details: EndpointDetails) -> EndpointDetails:
    """The details cleaned, or ValidationError with every problem beside its field. The URL
    is resolved now: a host that cannot be found, or a private address the company does not
    allow, is refused here rather than at the first delivery."""
    errors: dict[str, str] = {}
    url = details.url.strip()
    description = " ".join(details.description.split())
    URL.check(errors, url)
    DESCRIPTION.check(errors, description)
    if "url" not in errors:
        try:
            await addresses.resolve(url, await allows_private(company_id))
        except addresses.RefusedURL as refusal:
            errors["url"] = str(refusal)
    chosen = [name for name in EVENT_TYPES if name in details.event_types]
    if not chosen or len(set(details.event_types)) != len(chosen):
        errors["event_types"] = "Choose at least one of the events listed."
    if errors:
        raise ValidationError(errors)
    return EndpointDetails(url, description, chosen, details.enabled)


async def _endpoint_row(company_id: int, endpoint_id: int) -> dict:
    return await company_row(WebhookEndpoint, company_id, endpoint_id)


async def list_endpoints(company_id: int) -> list[EndpointView]:
    rows = (
        await WebhookEndpoint.select()
        .where(WebhookEndpoint.company == company_id)
        .order_by(WebhookEndpoint.id)
    )
    return [EndpointView.of(row) for row in rows]


async def get_endpoint(company_id: int, endpoint_id: int) -> EndpointView:
    """NotFound for an endpoint of another company (the same answer as for none)."""
    return EndpointView.of(await _endpoint_row(company_id, endpoint_id))


async def create_endpoint(
    company_id: int, details: EndpointDetails, actor: Actor
) -> tuple[int, str]:
    """(id, secret): the secret in clear, to show once."""
    actor.require(WEBHOOKS)
    clean = await _checked(company_id, details)
    secret = signing.new_secret()
    async for transaction in write_transactions():
        async with transaction:
            rows = await WebhookEndpoint.insert(
                WebhookEndpoint(
                    company=company_id,
                    url=clean.url,
                    description=clean.description,
                    event_types=",".join(clean.event_types),
                    secret=crypto.encrypt(secret),
                    enabled=clean.enabled,
                    created_at=datetime.now(UTC),
                )
            ).returning(WebhookEndpoint.id)
            await _log(company_id, actor, f"Added the webhook endpoint {clean.url}.")
    return rows[0]["id"], secret


async def update_endpoint(
    company_id: int, endpoint_id: int, details: EndpointDetails, actor: Actor
) -> None:
    """Saves the endpoint. Enabling a disabled one starts its count of failures afresh, and
    the deliveries that waited go out."""
    actor.require(WEBHOOKS)
    await _endpoint_row(company_id, endpoint_id)  # another company's: not found, before checking
    clean = await _checked(company_id, details)
    values: dict[Any, Any] = {
        WebhookEndpoint.url: clean.url,
        WebhookEndpoint.description: clean.description,
        WebhookEndpoint.event_types: ",".join(clean.event_types),
        WebhookEndpoint.enabled: clean.enabled,
    }
    async for transaction in write_transactions():
        async with transaction:
            # Read under the row's lock: the worker may have disabled the endpoint since the
            # form was shown, and enabling it again must start its count of failures afresh.
            was_enabled = (
                await company_row(
                    WebhookEndpoint, company_id, endpoint_id, WebhookEndpoint.enabled, lock=True
                )
            )["enabled"]
            changes = dict(values)  # a retried transaction decides afresh
            if clean.enabled and not was_enabled:
                changes |= {
                    WebhookEndpoint.failed_deliveries: 0,
                    WebhookEndpoint.disabled_at: None,
                    WebhookEndpoint.disabled_reason: "",
                }
            elif not clean.enabled and was_enabled:
                changes |= {
                    WebhookEndpoint.disabled_at: datetime.now(UTC),
                    WebhookEndpoint.disabled_reason: f"Disabled by {actor.name or actor.label}.",
                }
            await WebhookEndpoint.update(changes).where(WebhookEndpoint.id == endpoint_id)
            await _log(company_id, actor, f"Changed the webhook endpoint {clean.url}.")


async def delete_endpoint(company_id: int, endpoint_id: int, actor: Actor) -> None:
    """The endpoint goes with its delivery log; nothing more is sent to it."""
    actor.require(WEBHOOKS)
    async for transaction in write_transactions():
        async with transaction:
            deleted = (
                await WebhookEndpoint.delete()
                .where(
                    WebhookEndpoint.id == row_id(endpoint_id),
                    WebhookEndpoint.company == company_id,
                )
                .returning(WebhookEndpoint.url)
            )
            if not deleted:
                raise NotFound()
            await _log(company_id, actor, f"Deleted the webhook endpoint {deleted[0]['url']}.")


async def rotate_secret(company_id: int, endpoint_id: int, actor: Actor) -> str:
    """A new secret, returned to show once. The one it replaces keeps signing beside it for
    ROTATION_GRACE, so the receiver can switch without losing events."""
    actor.require(WEBHOOKS)
    secret = signing.new_secret()
    async for transaction in write_transactions():
        async with transaction:
            row = await _endpoint_row(company_id, endpoint_id)
            await WebhookEndpoint.update(
                {
                    WebhookEndpoint.secret: crypto.encrypt(secret),
                    WebhookEndpoint.previous_secret: row["secret"],
                    WebhookEndpoint.previous_secret_until: datetime.now(UTC) + ROTATION_GRACE,
                }
            ).where(WebhookEndpoint.id == endpoint_id)
            await _log(
                company_id, actor, f"Rotated the secret of the webhook endpoint {row['url']}."
            )
    return secret


def secrets_in_use(row: dict) -> list[str]:
    """The secrets a request to the endpoint is signed with: its own, and the previous one
    while it is still honoured."""
    found = [crypto.decrypt(row["secret"])]
    until = row["previous_secret_until"]
    if row["previous_secret"] and until and until > datetime.now(UTC):
        found.append(crypto.decrypt(row["previous_secret"]))
    return [secret for secret in found if secret]


# --- deliveries -----------------------------------------------------------------------------


def _delivery(row: dict) -> DeliveryView:
    return from_row(DeliveryView, row, event_type=row["event.event_type"])


DELIVERY_COLUMNS = (
    WebhookDelivery.all_columns(),
    WebhookDelivery.event.event_type,
)


async def list_deliveries(company_id: int, endpoint_id: int, page_number: int = 1) -> DeliveryPage:
    """A page of the endpoint's delivery log, newest first."""
    async with read_transaction():
        await _endpoint_row(company_id, endpoint_id)
        pager = Page.of(
            page_number,
            DELIVERIES_PER_PAGE,
            await WebhookDelivery.count().where(WebhookDelivery.endpoint == endpoint_id),
        )
        rows = (
            await WebhookDelivery.select(*DELIVERY_COLUMNS)
            .where(WebhookDelivery.endpoint == endpoint_id)
            .order_by(WebhookDelivery.id, ascending=False)
            .limit(pager.per_page)
            .offset(pager.offset)
        )
    return DeliveryPage([_delivery(row) for row in rows], pager)


async def get_delivery(company_id: int, endpoint_id: int, delivery_id: int) -> DeliveryDetail:
    """A delivery with every attempt and the event as it is sent."""
    async with read_transaction():
        await _endpoint_row(company_id, endpoint_id)
        row = await owned_row(
            WebhookDelivery,
            WebhookDelivery.endpoint,
            endpoint_id,
            delivery_id,
            *DELIVERY_COLUMNS,
            WebhookDelivery.event.id,
            WebhookDelivery.event.data,
        )
        attempts = (
            await WebhookAttempt.select()
            .where(WebhookAttempt.delivery == delivery_id)
            .order_by(WebhookAttempt.id)
        )
    return DeliveryDetail(
        delivery=_delivery(row),
        message_id=signing.message_id(row["event.id"]),
        body=json.dumps(
            {"type": row["event.event_type"], "data": json.loads(row["event.data"])}, indent=2
        ),
        attempts=[from_row(AttemptView, attempt) for attempt in attempts],
    )


async def _queue(endpoint_id: int, event_id: int) -> int:
    now = datetime.now(UTC)
    rows = await WebhookDelivery.insert(
        WebhookDelivery(endpoint=endpoint_id, event=event_id, next_attempt_at=now, created_at=now)
    ).returning(WebhookDelivery.id)
    return rows[0]["id"]


async def redeliver(company_id: int, endpoint_id: int, delivery_id: int, actor: Actor) -> int:
    """Sends the delivery's event to the endpoint again, as a new delivery with the same
    webhook-id (a receiver that already has it can tell). Returns the new delivery's ID."""
    actor.require(WEBHOOKS)
    async for transaction in write_transactions():
        async with transaction:
            endpoint = await get_endpoint(company_id, endpoint_id)
            row = await owned_row(
                WebhookDelivery,
                WebhookDelivery.endpoint,
                endpoint_id,
                delivery_id,
                WebhookDelivery.event,
                WebhookDelivery.status,
            )
            if not endpoint.enabled:
                raise ValidationError({"": ENABLE_FIRST})
            if row["status"] == "pending":
                raise ValidationError({"": "This delivery is still being tried."})
            new_id = await _queue(endpoint_id, row["event"])
    return new_id


async def send_test_event(company_id: int, endpoint_id: int, actor: Actor) -> int:
    """A `webhook.test` event for this endpoint alone; returns its delivery's ID."""
    actor.require(WEBHOOKS)
    now = datetime.now(UTC)
    async for transaction in write_transactions():
        async with transaction:
            endpoint = await get_endpoint(company_id, endpoint_id)
            if not endpoint.enabled:
                raise ValidationError({"": ENABLE_FIRST})
            data = {"endpoint": {"id": endpoint_id}, "sent_by": actor.name or actor.label}
            rows = await Event.insert(
                Event(
                    company=company_id,
                    event_type=TEST_EVENT,
                    data=json.dumps(data),
                    created_at=now,
                    dispatched_at=now,  # for this endpoint only, never to subscribers
                )
            ).returning(Event.id)
            delivery_id = await _queue(endpoint_id, rows[0]["id"])
    return delivery_id


# --- telling the company --------------------------------------------------------------------


async def _webhook_managers(company_id: int) -> list[tuple[str, str]]:
    """(email, first name) of the company's active staff members who may change webhooks."""
    members = [m for m in await list_members(company_id) if m.active and not m.invited]
    if not members:
        return []
    builtin = {
        row["id"]: row["builtin"]
        for row in await StaffGroup.select(StaffGroup.id, StaffGroup.builtin).where(
            StaffGroup.id.is_in(sorted({m.group_id for m in members}))
        )
    }
    allowed = {
        group_id
        for group_id, kind in builtin.items()
        if WEBHOOKS in await group_permissions(group_id, kind)
    }
    return [(m.email, m.first_name) for m in members if m.group_id in allowed]


async def mail_endpoint_disabled(company_id: int, endpoint_id: int, url: str, reason: str) -> None:
    """Tells the staff who may change webhooks that an endpoint was disabled, and why."""
    company = await get_company(company_id)
    link = f"{get_settings().base_url}/admin/settings/company/webhooks/{endpoint_id}"
    for email, first_name in await _webhook_managers(company_id):
        body = (f"Hello {first_name},\n\n" if first_name else "Hello,\n\n") + (
            f"The webhook endpoint {url} of {company['name']} was disabled: {reason}\n\n"
            "No events are sent to it now; those it has not received yet wait. When the "
            "receiver works again, enable the endpoint under [Settings] > [Company] > "
            f"Webhooks:\n{link}\n"
        )
        await mail.send(
            company_id,
            company["name"],
            mail.Mail(
                to=email,
                subject=f"Webhook endpoint disabled: {url}"[:255],
                body_text=body,
                kind="webhook_disabled",
            ),
        )
