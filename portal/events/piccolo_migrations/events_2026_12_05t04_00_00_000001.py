"""The outbox of events. Self-contained: the table as it is at this migration."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns import ForeignKey, OnDelete, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from portal.core.migration_steps import add_create_tables, declared_reference_table

ID = "2026-12-05T04:00:00:000001"
VERSION = "1.38.0"
DESCRIPTION = "The outbox of events (client, contact and consent changes)"


Company = declared_reference_table("Company", "company")


class Event(Table, tablename="event"):
    company = ForeignKey(references=Company, null=False, on_delete=OnDelete.cascade)
    event_type = Varchar(length=50)
    data = Text()
    created_at = Timestamptz(default=TimestamptzNow())
    dispatched_at = Timestamptz(null=True, default=None)


# The worker reads the events not yet handed out, oldest first; old events are dropped by age.
INDEXES = [
    "CREATE INDEX event_waiting ON event (id) WHERE dispatched_at IS NULL",
    "CREATE INDEX event_created ON event (created_at)",
    "CREATE INDEX event_company ON event (company)",
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="events", description=DESCRIPTION)

    add_create_tables(manager, [Event], INDEXES)
    return manager
