from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from portal.core.migration_steps import add_sql

ID = "2026-11-24T15:06:41:000002"
VERSION = "1.38.0"
DESCRIPTION = "unique custom values and client settings"

# Indexes Piccolo's column options cannot express (multi-column, expression, partial). Written
# as SQL that SQLite and PostgreSQL both accept.
STATEMENTS = [
    "CREATE UNIQUE INDEX custom_field_value_field_client ON custom_field_value (field, client)",
    "CREATE UNIQUE INDEX client_setting_client_key ON client_setting (client, key)",
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="clients", description=DESCRIPTION)

    add_sql(manager, STATEMENTS)
    return manager
