from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.table import Table

ID = "2026-12-02T04:55:32:000001"
VERSION = "1.38.0"
DESCRIPTION = "Client counts per month of creation: key and the clients already stored"

# The counts are unique per key (`portal.clients.counts` adds to a row or creates it); Browse
# reads a company's range of months. Then the clients already stored are counted, by the month
# (UTC) of their creation, with the bounds of their client numbers.
MONTH = {
    "sqlite": "date(created_at, 'start of month')",
    "postgres": "date_trunc('month', created_at AT TIME ZONE 'UTC')::date",
}


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="clients", description=DESCRIPTION)

    async def run():
        month = MONTH[Table._meta.db.engine_type]
        await Table.raw(
            "CREATE UNIQUE INDEX client_month_count_key "
            'ON client_month_count (company, month, "group", country, status)'
        )
        await Table.raw(
            "INSERT INTO client_month_count "  # noqa: S608 - fixed text
            '(company, month, "group", country, status, clients, first_number, last_number) '
            f'SELECT company, {month}, "group", country, status, count(*), min(number), '
            f'max(number) FROM client GROUP BY company, {month}, "group", country, status'
        )

    manager.add_raw(run)
    return manager
