"""Idempotency keys of the API's POSTs. Self-contained: the table as it is at this migration."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns import ForeignKey, Integer, OnDelete, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from portal.core.migration_steps import add_create_tables, declared_reference_table

ID = "2026-12-05T03:00:00:000001"
VERSION = "1.38.0"
DESCRIPTION = "Idempotency keys of API requests"


ApiKey = declared_reference_table("ApiKey", "api_key")


class ApiIdempotency(Table, tablename="api_idempotency"):
    api_key = ForeignKey(references=ApiKey, null=False, on_delete=OnDelete.cascade)
    idempotency_key = Varchar(length=255)
    request_hash = Varchar(length=64)
    status_code = Integer(null=True, default=None)
    response_body = Text(default="")
    response_headers = Text(default="")
    created_at = Timestamptz(default=TimestamptzNow())


# A key is claimed once per API key (the unique index decides between requests sent at once);
# housekeeping deletes by age.
INDEXES = [
    "CREATE UNIQUE INDEX api_idempotency_key ON api_idempotency (api_key, idempotency_key)",
    "CREATE INDEX api_idempotency_created_at ON api_idempotency (created_at)",
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="api", description=DESCRIPTION)

    add_create_tables(manager, [ApiIdempotency], INDEXES)
    return manager
