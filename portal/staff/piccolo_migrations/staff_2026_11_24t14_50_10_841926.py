from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import ForeignKey, Integer, Timestamptz, Varchar

from portal.core.migration_steps import add_table, reference_table

Company = reference_table("Company", "company")
Staff = reference_table("Staff", "staff")

ID = "2026-11-24T14:50:10:841926"
VERSION = "1.38.0"
DESCRIPTION = "initial tables"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="staff", description=DESCRIPTION)

    add_table(
        manager,
        "StaffCompany",
        "staff_company",
        [
            ("staff", ForeignKey, {"references": Staff}),
            ("company", ForeignKey, {"references": Company}),
        ],
    )

    add_table(
        manager,
        "Staff",
        "staff",
        [
            ("email", Varchar, {"length": 254, "unique": True}),
            ("first_name", Varchar, {"length": 100}),
            ("last_name", Varchar, {"length": 100}),
            ("password_hash", Varchar, {}),
            ("status", Varchar, {"length": 10, "default": "active"}),
            ("session_epoch", Integer, {}),
            ("created_at", Timestamptz, {}),
            ("last_login_at", Timestamptz, {"default": None, "null": True}),
        ],
    )

    return manager
