from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from portal.core.migration_steps import add_sql

ID = "2026-11-24T14:55:00:000002"
VERSION = "1.38.0"
DESCRIPTION = "unique staff-company pairs"

# Indexes Piccolo's column options cannot express (multi-column, expression, partial). Written
# as SQL that SQLite and PostgreSQL both accept.
STATEMENTS = [
    "CREATE UNIQUE INDEX staff_company_staff_company ON staff_company (staff, company)",
    "CREATE INDEX staff_company_company ON staff_company (company)",
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="staff", description=DESCRIPTION)

    add_sql(manager, STATEMENTS)
    return manager
