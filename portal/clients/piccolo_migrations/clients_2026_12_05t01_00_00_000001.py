"""Merged clients: the old ID of a client merged into another leads to the kept client.
Self-contained: the table as it is at this migration."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns import ForeignKey, Integer, OnDelete, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from portal.core.migration_steps import add_create_tables, declared_reference_table

ID = "2026-12-05T01:00:00:000001"
VERSION = "1.38.0"
DESCRIPTION = "Merged clients and the client each was merged into"


Company = declared_reference_table("Company", "company")
Client = declared_reference_table("Client", "client")


class ClientMerge(Table, tablename="client_merge"):
    company = ForeignKey(references=Company, null=False, on_delete=OnDelete.cascade)
    merged_client_id = Integer()
    merged_code = Varchar(length=64)
    kept = ForeignKey(references=Client, null=False, on_delete=OnDelete.cascade, index=True)
    merged_by = Varchar(length=201, default="")
    merged_at = Timestamptz(default=TimestamptzNow())


# The profile and the API look a missing client up by its old ID.
INDEXES = ["CREATE INDEX client_merge_merged ON client_merge (merged_client_id)"]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="clients", description=DESCRIPTION)

    add_create_tables(manager, [ClientMerge], INDEXES)
    return manager
