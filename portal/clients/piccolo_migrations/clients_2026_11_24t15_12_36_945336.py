from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import ForeignKey, Text

from portal.core.migration_steps import add_table, reference_table

Client = reference_table("Client", "client")
Company = reference_table("Company", "company")

ID = "2026-11-24T15:12:36:945336"
VERSION = "1.38.0"
DESCRIPTION = "client search documents"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="clients", description=DESCRIPTION)

    add_table(
        manager,
        "ClientSearch",
        "client_search",
        [
            ("client", ForeignKey, {"references": Client, "unique": True}),
            ("company", ForeignKey, {"references": Company}),
            ("document", Text, {}),
        ],
    )

    return manager
