from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from portal.core.migration_steps import add_sql

ID = "2026-11-24T15:15:07:000003"
VERSION = "1.38.0"
DESCRIPTION = "invoice numbers unique per company"

# Indexes Piccolo's column options cannot express (multi-column, expression, partial). Written
# as SQL that SQLite and PostgreSQL both accept.
STATEMENTS = [
    "CREATE UNIQUE INDEX invoice_company_number ON invoice (company, number)",
    "CREATE INDEX service_company ON service (company)",
    "CREATE INDEX billing_transaction_company ON billing_transaction (company)",
    "CREATE INDEX billing_transaction_invoice ON billing_transaction (invoice)",
    "CREATE INDEX invoice_service ON invoice (service)",
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="billing", description=DESCRIPTION)

    add_sql(manager, STATEMENTS)
    return manager
