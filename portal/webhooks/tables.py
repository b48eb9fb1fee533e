"""Webhooks: the endpoints a company sends its events to, and every delivery and attempt."""

from piccolo.columns import (
    Boolean,
    ForeignKey,
    Integer,
    OnDelete,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from portal.companies.tables import Company
from portal.events.tables import Event

DELIVERY_STATUSES = ("pending", "delivered", "failed")


class WebhookEndpoint(Table, tablename="webhook_endpoint"):
    """A URL that gets the company's events of the chosen types, signed with its secret (the
    Standard Webhooks convention). `secret` is encrypted at rest (portal.core.crypto); after
    "Rotate secret" the previous one still signs beside it until `previous_secret_until`, so
    that the receiver can switch over. After repeated failed deliveries the endpoint is
    disabled (`enabled` off, `disabled_reason` says why) until staff enable it again."""

    company = ForeignKey(references=Company, null=False, on_delete=OnDelete.cascade, index=True)
    url = Varchar(length=2000)
    description = Varchar(length=255, default="")
    event_types = Text(default="")  # the chosen types, comma separated
    secret = Text()
    previous_secret = Text(default="")
    previous_secret_until = Timestamptz(null=True, default=None)
    enabled = Boolean(default=True)
    failed_deliveries = Integer(default=0)  # in a row, since the last delivered one
    disabled_at = Timestamptz(null=True, default=None)
    disabled_reason = Varchar(length=255, default="")
    created_at = Timestamptz(default=TimestamptzNow())


class WebhookDelivery(Table, tablename="webhook_delivery"):
    """One event for one endpoint: pending -> delivered | failed (no attempts left). A worker
    claims a due pending delivery for a while (`claimed_by`, `claimed_at`: a lease); one whose
    worker died is claimed again once the lease has run out, and sent again (at least once).
    "Redeliver" adds a new delivery of the same event."""

    endpoint = ForeignKey(
        references=WebhookEndpoint, null=False, on_delete=OnDelete.cascade, index=True
    )
    event = ForeignKey(references=Event, null=False, on_delete=OnDelete.cascade, index=True)
    status = Varchar(length=10, default="pending")
    attempts = Integer(default=0)
    next_attempt_at = Timestamptz(default=TimestamptzNow())
    claimed_by = Varchar(length=40, null=True, default=None)
    claimed_at = Timestamptz(null=True, default=None)
    response_code = Integer(null=True, default=None)  # of the last attempt
    error = Varchar(length=500, default="")  # why the last attempt failed
    created_at = Timestamptz(default=TimestamptzNow())
    delivered_at = Timestamptz(null=True, default=None)


class WebhookAttempt(Table, tablename="webhook_attempt"):
    """One POST of a delivery, as the delivery log shows it."""

    delivery = ForeignKey(
        references=WebhookDelivery, null=False, on_delete=OnDelete.cascade, index=True
    )
    attempted_at = Timestamptz(default=TimestamptzNow())
    response_code = Integer(null=True, default=None)  # None: no answer (refused, timed out)
    response_excerpt = Text(default="")  # the first bytes of the answer's body
    error = Varchar(length=500, default="")
    duration_ms = Integer(default=0)
