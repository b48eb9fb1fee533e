from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from portal.core.migration_steps import add_sql

ID = "2026-11-24T15:12:37:000002"
VERSION = "1.38.0"
DESCRIPTION = "Browse sort indexes"

# [Clients] > Browse lists one status of one company a page at a time, sorted by a column: with
# an index in that order the database reads the page's rows instead of sorting every client.
# The contact indexes end with the client so that ties keep one order. SQL that SQLite and
# PostgreSQL both accept.
STATEMENTS = [
    "CREATE INDEX client_company_status_created ON client (company, status, created_at)",
    'CREATE INDEX client_company_status_group ON client (company, status, "group", number)',
    "CREATE INDEX contact_sort_name ON contact (lower(last_name), lower(first_name), client)",
    "CREATE INDEX contact_sort_company ON contact (lower(company), client)",
    "CREATE INDEX contact_sort_email ON contact (lower(email), client)",
    # The country filter: counted from the clients of that country, not from every client.
    "CREATE INDEX contact_country ON contact (country, client)",
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="clients", description=DESCRIPTION)

    add_sql(manager, STATEMENTS)
    return manager
