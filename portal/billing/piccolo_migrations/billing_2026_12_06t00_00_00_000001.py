from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import BigInt, Date, ForeignKey, Integer, Varchar

from portal.core.migration_steps import add_table, reference_table

Company = reference_table("Company", "company")

ID = "2026-12-06T00:00:00:000001"
VERSION = "1.38.0"
DESCRIPTION = "Open invoices summed per company, currency and due date"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="billing", description=DESCRIPTION)

    add_table(
        manager,
        "OpenInvoiceTotal",
        "open_invoice_total",
        [
            ("company", ForeignKey, {"references": Company}),
            ("currency", Varchar, {"length": 3}),
            ("date_due", Date, {}),
            ("amount", BigInt, {}),
            ("invoices", Integer, {}),
        ],
    )
    return manager
