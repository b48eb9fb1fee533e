from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Date, ForeignKey, Integer, Varchar

from portal.core.migration_steps import add_table, reference_table

ClientGroup = reference_table("ClientGroup", "client_group")
Company = reference_table("Company", "company")

ID = "2026-12-02T04:55:31:803446"
VERSION = "1.38.0"
DESCRIPTION = "Client counts per month of creation"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="clients", description=DESCRIPTION)

    add_table(
        manager,
        "ClientMonthCount",
        "client_month_count",
        [
            ("company", ForeignKey, {"references": Company}),
            ("month", Date, {}),
            ("group", ForeignKey, {"references": ClientGroup}),
            ("country", Varchar, {"length": 2}),
            ("status", Varchar, {"length": 10, "default": "active"}),
            ("clients", Integer, {}),
            ("first_number", Integer, {"default": None, "null": True}),
            ("last_number", Integer, {"default": None, "null": True}),
        ],
    )

    return manager
