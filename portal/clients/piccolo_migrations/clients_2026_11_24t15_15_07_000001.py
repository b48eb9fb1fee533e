from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from portal.core.migration_steps import add_sql

ID = "2026-11-24T15:15:07:000001"
VERSION = "1.38.0"
DESCRIPTION = "client audit log index"

# Indexes Piccolo's column options cannot express (multi-column, expression, partial). Written
# as SQL that SQLite and PostgreSQL both accept.
STATEMENTS = [
    "CREATE INDEX client_audit_company_client ON client_audit (company, client_id, id)",
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="clients", description=DESCRIPTION)

    add_sql(manager, STATEMENTS)
    return manager
