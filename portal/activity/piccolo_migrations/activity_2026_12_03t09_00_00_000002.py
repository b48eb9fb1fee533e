from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import ForeignKey, Integer, Timestamptz, Varchar

from portal.core.migration_steps import add_table, declared_reference_table

ID = "2026-12-03T09:00:00:000002"
VERSION = "1.38.0"
DESCRIPTION = "The company's activity log"

Company = declared_reference_table("Company", "company")


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="activity", description=DESCRIPTION)
    add_table(
        manager,
        "ActivityEvent",
        "activity_event",
        [
            ("company", ForeignKey, {"references": Company}),
            ("at", Timestamptz, {}),
            ("kind", Varchar, {"length": 20}),
            ("actor_kind", Varchar, {"length": 20}),
            ("actor_name", Varchar, {"length": 200}),
            ("staff_id", Integer, {"null": True, "default": None}),
            ("client_id", Integer, {"null": True, "default": None}),
            ("summary", Varchar, {"length": 500}),
            ("address", Varchar, {"length": 45}),
        ],
    )

    return manager
