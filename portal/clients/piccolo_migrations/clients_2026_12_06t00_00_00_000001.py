from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Text

from portal.core.migration_steps import add_columns

ID = "2026-12-06T00:00:00:000001"
VERSION = "1.38.0"
DESCRIPTION = "The search document's names apart"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="clients", description=DESCRIPTION)

    add_columns(manager, "ClientSearch", "client_search", [("names", Text, {})])
    return manager
