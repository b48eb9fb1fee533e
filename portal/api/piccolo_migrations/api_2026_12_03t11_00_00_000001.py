from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import ForeignKey, Integer, Varchar

from portal.core.migration_steps import add_columns, add_table, declared_reference_table

ID = "2026-12-03T11:00:00:000001"
VERSION = "1.38.0"
DESCRIPTION = "Permissions of API keys; the staff member who made a key, by id"

ApiKey = declared_reference_table("ApiKey", "api_key")


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="api", description=DESCRIPTION)

    add_table(
        manager,
        "ApiKeyPermission",
        "api_key_permission",
        [
            ("api_key", ForeignKey, {"references": ApiKey}),
            ("permission", Varchar, {"length": 64}),
        ],
    )

    add_columns(
        manager,
        "ApiKey",
        "api_key",
        [("creator_staff_id", Integer, {"null": True, "default": None})],
    )

    return manager
