from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from portal.core.migration_steps import add_sql

ID = "2026-11-24T15:06:41:000001"
VERSION = "1.38.0"
DESCRIPTION = "unique group settings"

# Indexes Piccolo's column options cannot express (multi-column, expression, partial). Written
# as SQL that SQLite and PostgreSQL both accept.
STATEMENTS = [
    'CREATE UNIQUE INDEX client_group_setting_group_key ON client_group_setting ("group", key)',
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="client_groups", description=DESCRIPTION)

    add_sql(manager, STATEMENTS)
    return manager
