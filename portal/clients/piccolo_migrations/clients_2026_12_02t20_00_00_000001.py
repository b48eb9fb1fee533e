from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from portal.core.migration_steps import add_sql

ID = "2026-12-02T20:00:00:000001"
VERSION = "1.38.0"
DESCRIPTION = "Usernames unique per company"

# A username was unique across the install, so the message "already in use" told one company's
# staff that another company had a client of that username (often an email address). Now each
# company has its own usernames; the client area's login tries the accounts of every company
# that has the username (at most a few), as it already did for an email shared by clients.
STATEMENTS = [
    "DROP INDEX client_username_ci",
    "CREATE UNIQUE INDEX client_username_ci ON client (company, lower(username))",
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="clients", description=DESCRIPTION)

    add_sql(manager, STATEMENTS)
    return manager
