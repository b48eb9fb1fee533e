from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import ForeignKey, Integer, Varchar

from portal.core.migration_steps import add_columns, add_table, reference_table

ClientGroup = reference_table("ClientGroup", "client_group")
Company = reference_table("Company", "company")

ID = "2026-11-24T17:51:12:943052"
VERSION = "1.38.0"
DESCRIPTION = "True"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="clients", description=DESCRIPTION)

    add_table(
        manager,
        "ClientCount",
        "client_count",
        [
            ("company", ForeignKey, {"references": Company}),
            ("group", ForeignKey, {"references": ClientGroup}),
            ("country", Varchar, {"length": 2}),
            ("status", Varchar, {"length": 10, "default": "active"}),
            ("clients", Integer, {}),
        ],
    )

    add_columns(
        manager,
        "Client",
        "client",
        [
            ("country", Varchar, {"length": 2}),
        ],
    )

    return manager
