from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import ForeignKey, Timestamptz, Varchar

from portal.core.migration_steps import add_table, reference_table

Company = reference_table("Company", "company")

ID = "2026-11-24T15:16:29:879790"
VERSION = "1.38.0"
DESCRIPTION = "True"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="api", description=DESCRIPTION)

    add_table(
        manager,
        "ApiKey",
        "api_key",
        [
            ("company", ForeignKey, {"references": Company, "index": True}),
            ("name", Varchar, {"length": 100}),
            ("key_hash", Varchar, {"length": 64, "unique": True}),
            ("prefix", Varchar, {"length": 16}),
            ("created_by", Varchar, {"length": 100}),
            ("created_at", Timestamptz, {}),
            ("last_used_at", Timestamptz, {"default": None, "null": True}),
            ("revoked_at", Timestamptz, {"default": None, "null": True}),
        ],
    )

    return manager
