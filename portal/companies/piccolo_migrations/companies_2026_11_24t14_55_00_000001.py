from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from portal.core.migration_steps import add_sql

ID = "2026-11-24T14:55:00:000001"
VERSION = "1.38.0"
DESCRIPTION = "unique keys"

# Indexes Piccolo's column options cannot express (multi-column, expression, partial). Written
# as SQL that SQLite and PostgreSQL both accept.
STATEMENTS = [
    "CREATE UNIQUE INDEX company_setting_company_key ON company_setting (company, key)",
    "CREATE UNIQUE INDEX client_id_sequence_company_format ON client_id_sequence (company, id_format)",
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="companies", description=DESCRIPTION)

    add_sql(manager, STATEMENTS)
    return manager
