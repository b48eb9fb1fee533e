from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import ForeignKey, Timestamptz, Varchar
from piccolo.table import Table

from portal.core.migration_steps import add_table, declared_reference_table

ID = "2026-12-04T00:00:02:000001"
VERSION = "1.38.0"
DESCRIPTION = "Password reset links belong to a user of the client area, not to a client"

AccountUser = declared_reference_table("AccountUser", "account_user")


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="client_area", description=DESCRIPTION)

    async def drop_client_links():
        # Links live an hour; the few outstanding ones are dropped rather than carried over.
        await Table.raw("DROP TABLE password_reset_token")

    manager.add_raw(drop_client_links)
    add_table(
        manager,
        "PasswordResetToken",
        "password_reset_link",
        [
            ("user", ForeignKey, {"references": AccountUser, "index": True}),
            ("token_hash", Varchar, {"length": 64, "unique": True}),
            ("expires_at", Timestamptz, {}),
            ("used_at", Timestamptz, {"null": True, "default": None}),
            ("created_at", Timestamptz, {}),
        ],
    )
    return manager
