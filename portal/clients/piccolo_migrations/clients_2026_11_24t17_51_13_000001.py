from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from portal.core.migration_steps import add_sql

ID = "2026-11-24T17:51:13:000001"
VERSION = "1.38.0"
DESCRIPTION = "Client counts, the country filter, primary-contact sort indexes"

# The counts are unique per key (`portal.clients.counts` adds to a row or creates it). Browse's
# country filter reads a page of one country's clients in client ID order; with a creation date
# range it counts and finds a page's clients (also of one group or country, in client ID order)
# from one index. Then the clients already stored get their primary contact's
# country and are counted. SQL that SQLite and PostgreSQL both accept.
STATEMENTS = [
    'CREATE UNIQUE INDEX client_count_key ON client_count (company, "group", country, status)',
    "CREATE INDEX client_company_country ON client (company, country, status, number)",
    "DROP INDEX client_company_status_created",
    "CREATE INDEX client_company_status_created "
    'ON client (company, status, created_at, "group", country, number, id)',
    # Browse walks these in sort order checking each client; holding primary contacts only,
    # they spare a read of every contact row on the way.
    "DROP INDEX contact_sort_name",
    "DROP INDEX contact_sort_company",
    "DROP INDEX contact_sort_email",
    "CREATE INDEX contact_sort_name ON contact (lower(last_name), lower(first_name), client) "
    "WHERE contact_type = 'primary'",
    "CREATE INDEX contact_sort_company ON contact (lower(company), client) "
    "WHERE contact_type = 'primary'",
    "CREATE INDEX contact_sort_email ON contact (lower(email), client) "
    "WHERE contact_type = 'primary'",
    "UPDATE client SET country = coalesce((SELECT ct.country FROM contact ct "
    "WHERE ct.client = client.id AND ct.contact_type = 'primary'), '')",
    'INSERT INTO client_count (company, "group", country, status, clients) '
    'SELECT company, "group", country, status, count(*) FROM client '
    'GROUP BY company, "group", country, status',
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="clients", description=DESCRIPTION)

    add_sql(manager, STATEMENTS)
    return manager
