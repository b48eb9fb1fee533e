from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.base import OnDelete
from piccolo.columns.column_types import BigInt, Date, ForeignKey, Integer, Timestamptz, Varchar

from portal.core.migration_steps import add_table, reference_table

Client = reference_table("Client", "client")
Company = reference_table("Company", "company")
Invoice = reference_table("Invoice", "invoice")
Service = reference_table("Service", "service")

ID = "2026-11-24T15:15:06:696745"
VERSION = "1.38.0"
DESCRIPTION = "True"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="billing", description=DESCRIPTION)

    add_table(
        manager,
        "Invoice",
        "invoice",
        [
            ("company", ForeignKey, {"references": Company}),
            ("client", ForeignKey, {"references": Client, "index": True}),
            (
                "service",
                ForeignKey,
                {"references": Service, "on_delete": OnDelete.set_null, "null": True},
            ),
            ("number", Integer, {}),
            ("currency", Varchar, {"length": 3}),
            ("description", Varchar, {}),
            ("date_billed", Date, {}),
            ("date_due", Date, {}),
            ("status", Varchar, {"length": 10, "default": "open"}),
            ("subtotal", BigInt, {}),
            ("tax_rate", Varchar, {"length": 16, "default": "0"}),
            ("tax", BigInt, {}),
            ("total", BigInt, {}),
            ("amount_paid", BigInt, {}),
            ("created_at", Timestamptz, {}),
        ],
    )

    add_table(
        manager,
        "Service",
        "service",
        [
            ("company", ForeignKey, {"references": Company}),
            ("client", ForeignKey, {"references": Client, "index": True}),
            ("name", Varchar, {}),
            ("package", Varchar, {}),
            ("status", Varchar, {"length": 10, "default": "pending"}),
            ("price", BigInt, {}),
            ("currency", Varchar, {"length": 3}),
            ("term_months", Integer, {"default": 1}),
            ("renewal_date", Date, {"default": None, "null": True}),
            ("created_at", Timestamptz, {}),
        ],
    )

    add_table(
        manager,
        "Transaction",
        "billing_transaction",
        [
            ("company", ForeignKey, {"references": Company}),
            ("client", ForeignKey, {"references": Client, "index": True}),
            (
                "invoice",
                ForeignKey,
                {"references": Invoice, "on_delete": OnDelete.set_null, "null": True},
            ),
            ("transaction_type", Varchar, {"length": 10, "default": "payment"}),
            ("currency", Varchar, {"length": 3}),
            ("amount", BigInt, {}),
            ("amount_applied", BigInt, {}),
            ("method", Varchar, {"length": 30}),
            ("reference", Varchar, {"length": 100}),
            ("date_received", Date, {}),
            ("created_at", Timestamptz, {}),
        ],
    )

    return manager
