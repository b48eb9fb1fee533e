from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from portal.core.migration_steps import add_sql

ID = "2026-11-24T14:55:00:000004"
VERSION = "1.38.0"
DESCRIPTION = "unique client IDs and usernames"

# Indexes Piccolo's column options cannot express (multi-column, expression, partial). Written
# as SQL that SQLite and PostgreSQL both accept.
STATEMENTS = [
    "CREATE UNIQUE INDEX client_company_code ON client (company, code)",
    "CREATE UNIQUE INDEX client_username_ci ON client (lower(username))",
    "CREATE INDEX client_company_status ON client (company, status, number)",
    'CREATE INDEX client_group_idx ON client ("group")',
    "CREATE INDEX contact_email_ci ON contact (lower(email))",
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="clients", description=DESCRIPTION)

    add_sql(manager, STATEMENTS)
    return manager
