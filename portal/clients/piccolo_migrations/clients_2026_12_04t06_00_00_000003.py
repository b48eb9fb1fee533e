from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import ForeignKey, Timestamptz, Varchar

from portal.core.migration_steps import add_table, declared_reference_table

ID = "2026-12-04T06:00:00:000003"
VERSION = "1.38.0"
DESCRIPTION = "Email verification links of client-area users"

AccountUser = declared_reference_table("AccountUser", "account_user")


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="clients", description=DESCRIPTION)
    add_table(
        manager,
        "EmailVerification",
        "email_verification_link",
        [
            ("user", ForeignKey, {"references": AccountUser, "index": True}),
            ("email", Varchar, {"length": 254}),
            ("token_hash", Varchar, {"length": 64, "unique": True}),
            ("expires_at", Timestamptz, {}),
            ("used_at", Timestamptz, {"null": True, "default": None}),
            ("created_at", Timestamptz, {}),
        ],
    )
    return manager
