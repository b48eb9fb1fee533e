from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import ForeignKey, Timestamptz, Varchar

from portal.core.migration_steps import add_table, reference_table

Company = reference_table("Company", "company")
Staff = reference_table("Staff", "staff")

ID = "2026-11-24T15:15:06:297103"
VERSION = "1.38.0"
DESCRIPTION = "True"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="staff", description=DESCRIPTION)

    add_table(
        manager,
        "StaffWidgetState",
        "staff_widget_state",
        [
            ("staff", ForeignKey, {"references": Staff}),
            ("company", ForeignKey, {"references": Company}),
            ("key", Varchar, {"length": 50}),
            ("widget_order", Varchar, {"length": 500}),
            ("minimized", Varchar, {"length": 500}),
            ("updated_at", Timestamptz, {}),
        ],
    )

    return manager
