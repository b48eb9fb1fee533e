from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from portal.core.migration_steps import add_sql

ID = "2026-11-24T14:55:00:000003"
VERSION = "1.38.0"
DESCRIPTION = "unique names and one default per company"

# Indexes Piccolo's column options cannot express (multi-column, expression, partial). Written
# as SQL that SQLite and PostgreSQL both accept.
STATEMENTS = [
    "CREATE UNIQUE INDEX client_group_company_name ON client_group (company, lower(name))",
    "CREATE UNIQUE INDEX client_group_one_default ON client_group (company) WHERE is_default",
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="client_groups", description=DESCRIPTION)

    add_sql(manager, STATEMENTS)
    return manager
