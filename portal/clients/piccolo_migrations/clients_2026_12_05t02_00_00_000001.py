"""Tags on clients, and segments (saved Browse filters). Self-contained: the tables as they are
at this migration."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns import ForeignKey, OnDelete, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from portal.core.migration_steps import add_create_tables, declared_reference_table

ID = "2026-12-05T02:00:00:000001"
VERSION = "1.38.0"
DESCRIPTION = "Tags on clients and segments of Browse"


Company = declared_reference_table("Company", "company")
Client = declared_reference_table("Client", "client")


class Tag(Table, tablename="tag"):
    company = ForeignKey(references=Company, null=False, on_delete=OnDelete.cascade)
    name = Varchar(length=50)
    colour = Varchar(length=10, default="blue")
    created_at = Timestamptz(default=TimestamptzNow())


class ClientTag(Table, tablename="client_tag"):
    client = ForeignKey(references=Client, null=False, on_delete=OnDelete.cascade)
    tag = ForeignKey(references=Tag, null=False, on_delete=OnDelete.cascade)


class Segment(Table, tablename="segment"):
    company = ForeignKey(references=Company, null=False, on_delete=OnDelete.cascade)
    name = Varchar(length=100)
    filters = Varchar(length=500)
    created_by = Varchar(length=201, default="")
    created_at = Timestamptz(default=TimestamptzNow())


# Names are unique per company whatever their case; a client has a tag once; Browse's tag
# filter and count read a tag's clients through (tag, client).
INDEXES = [
    "CREATE UNIQUE INDEX tag_company_name ON tag (company, lower(name))",
    "CREATE UNIQUE INDEX client_tag_pair ON client_tag (client, tag)",
    "CREATE INDEX client_tag_by_tag ON client_tag (tag, client)",
    "CREATE UNIQUE INDEX segment_company_name ON segment (company, lower(name))",
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="clients", description=DESCRIPTION)

    add_create_tables(manager, [Tag, ClientTag, Segment], INDEXES)
    return manager
