from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from portal.core.migration_steps import add_sql

ID = "2026-11-24T15:15:07:000002"
VERSION = "1.38.0"
DESCRIPTION = "one widget state per staff member, company and page"

# Indexes Piccolo's column options cannot express (multi-column, expression, partial). Written
# as SQL that SQLite and PostgreSQL both accept.
STATEMENTS = [
    "CREATE UNIQUE INDEX staff_widget_state_staff_company_key ON staff_widget_state (staff, company, key)",
    "CREATE INDEX staff_widget_state_company ON staff_widget_state (company)",
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="staff", description=DESCRIPTION)

    add_sql(manager, STATEMENTS)
    return manager
