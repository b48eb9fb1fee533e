from pathlib import Path

from piccolo.conf.apps import AppConfig

from portal.billing.tables import Invoice, OpenInvoiceTotal, Service, Transaction

APP_CONFIG = AppConfig(
    app_name="billing",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=[Service, Invoice, Transaction, OpenInvoiceTotal],
    migration_dependencies=["portal.clients.piccolo_app", "portal.companies.piccolo_app"],
)
