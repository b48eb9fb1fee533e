from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import ForeignKey, Text, Varchar

from portal.core.migration_steps import add_table, reference_table

Client = reference_table("Client", "client")
CustomField = reference_table("CustomField", "custom_field")

ID = "2026-11-24T15:06:40:355322"
VERSION = "1.38.0"
DESCRIPTION = "custom field values and client settings"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="clients", description=DESCRIPTION)

    add_table(
        manager,
        "ClientSetting",
        "client_setting",
        [
            ("client", ForeignKey, {"references": Client}),
            ("key", Varchar, {"length": 100}),
            ("value", Text, {}),
        ],
    )

    add_table(
        manager,
        "CustomFieldValue",
        "custom_field_value",
        [
            ("field", ForeignKey, {"references": CustomField}),
            ("client", ForeignKey, {"references": Client, "index": True}),
            ("value", Text, {}),
        ],
    )

    return manager
