from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import ForeignKey, Timestamptz, Varchar

from portal.core.migration_steps import add_table, declared_reference_table

ID = "2026-12-03T09:00:00:000001"
VERSION = "1.38.0"
DESCRIPTION = "Staff groups with permissions, staff tokens"

Company = declared_reference_table("Company", "company")
Staff = declared_reference_table("Staff", "staff")
StaffGroup = declared_reference_table("StaffGroup", "staff_group")


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="staff", description=DESCRIPTION)

    add_table(
        manager,
        "StaffGroup",
        "staff_group",
        [
            ("company", ForeignKey, {"references": Company}),
            ("name", Varchar, {"length": 100}),
            ("builtin", Varchar, {"length": 20}),
            ("created_at", Timestamptz, {}),
        ],
    )

    add_table(
        manager,
        "StaffGroupPermission",
        "staff_group_permission",
        [
            ("group", ForeignKey, {"references": StaffGroup}),
            ("permission", Varchar, {"length": 64}),
        ],
    )

    add_table(
        manager,
        "StaffToken",
        "staff_token",
        [
            ("staff", ForeignKey, {"references": Staff, "index": True}),
            ("purpose", Varchar, {"length": 10}),
            ("token_hash", Varchar, {"length": 64, "unique": True}),
            ("expires_at", Timestamptz, {}),
            ("used_at", Timestamptz, {"null": True, "default": None}),
            ("created_at", Timestamptz, {}),
        ],
    )

    return manager
