"""Webhook endpoints, their deliveries and attempts. Self-contained: the tables as they are at
this migration."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns import Boolean, ForeignKey, Integer, OnDelete, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from portal.core.migration_steps import add_create_tables, declared_reference_table

ID = "2026-12-05T04:00:00:000002"
VERSION = "1.38.0"
DESCRIPTION = "Webhook endpoints, deliveries and attempts"


Company = declared_reference_table("Company", "company")
Event = declared_reference_table("Event", "event")


class WebhookEndpoint(Table, tablename="webhook_endpoint"):
    company = ForeignKey(references=Company, null=False, on_delete=OnDelete.cascade, index=True)
    url = Varchar(length=2000)
    description = Varchar(length=255, default="")
    event_types = Text(default="")
    secret = Text()
    previous_secret = Text(default="")
    previous_secret_until = Timestamptz(null=True, default=None)
    enabled = Boolean(default=True)
    failed_deliveries = Integer(default=0)
    disabled_at = Timestamptz(null=True, default=None)
    disabled_reason = Varchar(length=255, default="")
    created_at = Timestamptz(default=TimestamptzNow())


class WebhookDelivery(Table, tablename="webhook_delivery"):
    endpoint = ForeignKey(
        references=WebhookEndpoint, null=False, on_delete=OnDelete.cascade, index=True
    )
    event = ForeignKey(references=Event, null=False, on_delete=OnDelete.cascade, index=True)
    status = Varchar(length=10, default="pending")
    attempts = Integer(default=0)
    next_attempt_at = Timestamptz(default=TimestamptzNow())
    claimed_by = Varchar(length=40, null=True, default=None)
    claimed_at = Timestamptz(null=True, default=None)
    response_code = Integer(null=True, default=None)
    error = Varchar(length=500, default="")
    created_at = Timestamptz(default=TimestamptzNow())
    delivered_at = Timestamptz(null=True, default=None)


class WebhookAttempt(Table, tablename="webhook_attempt"):
    delivery = ForeignKey(
        references=WebhookDelivery, null=False, on_delete=OnDelete.cascade, index=True
    )
    attempted_at = Timestamptz(default=TimestamptzNow())
    response_code = Integer(null=True, default=None)
    response_excerpt = Text(default="")
    error = Varchar(length=500, default="")
    duration_ms = Integer(default=0)


# Workers look for pending deliveries that are due.
INDEXES = ["CREATE INDEX webhook_delivery_due ON webhook_delivery (status, next_attempt_at)"]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="webhooks", description=DESCRIPTION)

    add_create_tables(manager, [WebhookEndpoint, WebhookDelivery, WebhookAttempt], INDEXES)
    return manager
