from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Boolean, ForeignKey, Text, Varchar

from portal.core.migration_steps import add_table, reference_table

Company = reference_table("Company", "company")

ID = "2026-11-24T14:50:11:213595"
VERSION = "1.38.0"
DESCRIPTION = "initial tables"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="client_groups", description=DESCRIPTION)

    add_table(
        manager,
        "ClientGroup",
        "client_group",
        [
            ("company", ForeignKey, {"references": Company}),
            ("name", Varchar, {"length": 100}),
            ("description", Text, {}),
            ("colour", Varchar, {"length": 7, "default": "#1f6feb"}),
            ("is_default", Boolean, {}),
        ],
    )

    return manager
