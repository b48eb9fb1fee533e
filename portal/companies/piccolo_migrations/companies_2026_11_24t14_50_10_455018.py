from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import ForeignKey, Integer, Text, Timestamptz, Varchar

from portal.core.migration_steps import add_table, reference_table

Company = reference_table("Company", "company")

ID = "2026-11-24T14:50:10:455018"
VERSION = "1.38.0"
DESCRIPTION = "initial tables"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="companies", description=DESCRIPTION)

    add_table(
        manager,
        "ClientIdSequence",
        "client_id_sequence",
        [
            ("company", ForeignKey, {"references": Company}),
            ("id_format", Varchar, {"length": 64}),
            ("next_value", Integer, {}),
        ],
    )

    add_table(
        manager,
        "Company",
        "company",
        [
            ("name", Varchar, {}),
            ("default_currency", Varchar, {"length": 3, "default": "USD"}),
            ("default_language", Varchar, {"length": 16, "default": "en"}),
            ("default_country", Varchar, {"length": 2, "default": "US"}),
            ("client_id_format", Varchar, {"length": 64, "default": "{num}"}),
            ("client_id_start", Integer, {"default": 1500}),
            ("client_id_increment", Integer, {"default": 1}),
            ("created_at", Timestamptz, {}),
        ],
    )

    add_table(
        manager,
        "CompanySetting",
        "company_setting",
        [
            ("company", ForeignKey, {"references": Company}),
            ("key", Varchar, {"length": 100}),
            ("value", Text, {}),
        ],
    )

    return manager
