"""A job keeps the page it was started from in a column of its own, so that its page (polled
every second) need not read the payload, which may name a great many clients."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-12-05T07:00:00:000001"
VERSION = "1.38.0"
DESCRIPTION = "The page a job was started from"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="jobs", description=DESCRIPTION)

    async def run():
        await Table.raw("ALTER TABLE job ADD COLUMN return_to VARCHAR(500) NOT NULL DEFAULT ''")

    manager.add_raw(run)
    return manager
