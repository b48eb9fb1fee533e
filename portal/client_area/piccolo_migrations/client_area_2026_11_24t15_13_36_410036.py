from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import ForeignKey, Timestamptz, Varchar

from portal.core.migration_steps import add_table, reference_table

Client = reference_table("Client", "client")

ID = "2026-11-24T15:13:36:410036"
VERSION = "1.38.0"
DESCRIPTION = "password reset tokens"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="client_area", description=DESCRIPTION)

    add_table(
        manager,
        "PasswordResetToken",
        "password_reset_token",
        [
            ("client", ForeignKey, {"references": Client, "index": True}),
            ("token_hash", Varchar, {"length": 64, "unique": True}),
            ("expires_at", Timestamptz, {}),
            ("used_at", Timestamptz, {"default": None, "null": True}),
            ("created_at", Timestamptz, {}),
        ],
    )

    return manager
