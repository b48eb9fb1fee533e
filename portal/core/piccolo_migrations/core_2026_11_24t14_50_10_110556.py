from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Bytea, Timestamptz, Varchar

from portal.core.migration_steps import add_table

ID = "2026-11-24T14:50:10:110556"
VERSION = "1.38.0"
DESCRIPTION = "initial tables"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="core", description=DESCRIPTION)

    add_table(
        manager,
        "LoginFailure",
        "login_failure",
        [
            ("key", Varchar, {"length": 300, "index": True}),
            ("at", Timestamptz, {"index": True}),
        ],
    )

    add_table(
        manager,
        "Session",
        "portal_session",
        [
            ("key", Varchar, {"length": 128, "primary_key": True}),
            ("data", Bytea, {}),
            ("expires_at", Timestamptz, {"default": None, "null": True, "index": True}),
        ],
    )

    return manager
