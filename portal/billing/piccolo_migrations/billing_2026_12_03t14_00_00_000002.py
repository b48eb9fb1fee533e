from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from portal.core.migration_steps import add_sql

ID = "2026-12-03T14:00:00:000002"
VERSION = "1.38.0"
DESCRIPTION = "Open invoices by due date"

# The admin dashboard sums what is overdue (open invoices past their due date) per currency:
# this index holds only open invoices, by company and due date, so the sum reads the overdue
# ones and nothing else. SQL that SQLite and PostgreSQL both accept.
STATEMENTS = [
    "CREATE INDEX invoice_open_due ON invoice (company, date_due, currency, total, amount_paid) "
    "WHERE status = 'open'",
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="billing", description=DESCRIPTION)

    add_sql(manager, STATEMENTS)
    return manager
