from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from portal.core.migration_steps import add_sql

ID = "2026-12-06T00:00:00:000002"
VERSION = "1.38.0"
DESCRIPTION = "Every search document is rebuilt with its names"

# client_search.names is filled by the indexer (names are folded in Python): every client is
# queued, and the migrate command brings the queue up to date before the portal serves.
STATEMENTS = ["INSERT INTO client_search_pending (client) SELECT client FROM client_search"]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="clients", description=DESCRIPTION)

    add_sql(manager, STATEMENTS)
    return manager
