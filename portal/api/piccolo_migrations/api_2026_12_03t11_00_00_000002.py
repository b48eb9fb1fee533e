from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-12-03T11:00:00:000002"
VERSION = "1.38.0"
DESCRIPTION = "Existing API keys keep every permission; their makers by staff id"

# Keys made before permissions existed could do everything the API offered: they keep it.
# created_by held "staff:<id>" or "cli"; the id moves to creator_staff_id.
PERMISSIONS = ("clients.read", "clients.write", "marketing.read", "marketing.write")


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="api", description=DESCRIPTION)

    async def fill():
        await Table.raw(
            "CREATE UNIQUE INDEX api_key_permission_api_key_permission "
            "ON api_key_permission (api_key, permission)"
        )
        for name in PERMISSIONS:
            await Table.raw(
                "INSERT INTO api_key_permission (api_key, permission) "  # noqa: S608 - constants
                f"SELECT id, '{name}' FROM api_key"
            )
        await Table.raw(
            "UPDATE api_key SET creator_staff_id = CAST(substr(created_by, 7) AS INTEGER) "
            "WHERE created_by LIKE 'staff:%'"
        )
        await Table.raw("ALTER TABLE api_key DROP COLUMN created_by")

    manager.add_raw(fill)
    return manager
