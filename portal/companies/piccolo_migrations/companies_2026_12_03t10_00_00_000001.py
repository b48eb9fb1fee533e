from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Bytea, ForeignKey, Integer, Varchar

from portal.core.migration_steps import add_columns, add_table, declared_reference_table

ID = "2026-12-03T10:00:00:000001"
VERSION = "1.38.0"
DESCRIPTION = "The company's details, sender, time zone, date format and logo"

Company = declared_reference_table("Company", "company")


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="companies", description=DESCRIPTION)

    add_columns(
        manager,
        "Company",
        "company",
        [
            ("address1", Varchar, {}),
            ("address2", Varchar, {}),
            ("city", Varchar, {"length": 100}),
            ("state", Varchar, {"length": 10}),
            ("zip", Varchar, {"length": 20}),
            ("phone", Varchar, {"length": 40}),
            ("sender_name", Varchar, {"length": 100}),
            ("sender_email", Varchar, {"length": 254}),
            ("timezone", Varchar, {"length": 64, "default": "UTC"}),
            ("date_format", Varchar, {"length": 16, "default": "%Y-%m-%d"}),
            ("logo_type", Varchar, {"length": 4}),
            ("logo_version", Integer, {}),
        ],
    )

    add_table(
        manager,
        "CompanyLogo",
        "company_logo",
        [
            ("company", ForeignKey, {"references": Company, "unique": True}),
            ("content", Bytea, {}),
        ],
    )

    return manager
