from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Boolean, ForeignKey, Integer, Text, Timestamptz, Varchar

from portal.core.migration_steps import add_table, reference_table

Client = reference_table("Client", "client")
Company = reference_table("Company", "company")

ID = "2026-11-24T15:15:05:812046"
VERSION = "1.38.0"
DESCRIPTION = "True"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="clients", description=DESCRIPTION)

    add_table(
        manager,
        "ClientNote",
        "client_note",
        [
            ("client", ForeignKey, {"references": Client, "index": True}),
            ("title", Varchar, {}),
            ("body", Text, {}),
            ("sticky", Boolean, {}),
            ("staff_id", Integer, {"default": None, "null": True}),
            ("created_at", Timestamptz, {}),
            ("updated_at", Timestamptz, {}),
        ],
    )

    add_table(
        manager,
        "ClientAudit",
        "client_audit",
        [
            ("company", ForeignKey, {"references": Company}),
            ("client_id", Integer, {}),
            ("client_code", Varchar, {"length": 64}),
            ("field", Varchar, {"length": 100}),
            ("old_value", Text, {}),
            ("new_value", Text, {}),
            ("actor", Varchar, {"length": 100}),
            ("staff_id", Integer, {"default": None, "null": True}),
            ("address", Varchar, {"length": 45}),
            ("at", Timestamptz, {}),
        ],
    )

    return manager
