from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Boolean, ForeignKey, Text, Timestamptz, Varchar

from portal.core.migration_steps import add_table, reference_table

Client = reference_table("Client", "client")

ID = "2026-11-24T14:59:04:623294"
VERSION = "1.38.0"
DESCRIPTION = "consent events"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="clients", description=DESCRIPTION)

    add_table(
        manager,
        "ConsentEvent",
        "consent_event",
        [
            ("client", ForeignKey, {"references": Client, "index": True}),
            ("opted_in", Boolean, {}),
            ("actor", Varchar, {"length": 100}),
            ("source", Varchar, {"length": 50}),
            ("wording", Text, {}),
            ("address", Varchar, {"length": 45}),
            ("at", Timestamptz, {}),
        ],
    )

    return manager
