from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Varchar

from portal.core.migration_steps import add_columns

ID = "2026-11-24T14:59:04:270386"
VERSION = "1.38.0"
DESCRIPTION = "staff language"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="staff", description=DESCRIPTION)

    add_columns(
        manager,
        "Staff",
        "staff",
        [
            ("language", Varchar, {"length": 16, "default": "en"}),
        ],
    )

    return manager
