from pathlib import Path

from piccolo.conf.apps import AppConfig

from portal.clients.tables import (
    Client,
    ClientAudit,
    ClientCount,
    ClientMonthCount,
    ClientNote,
    ClientSearch,
    ClientSetting,
    ConsentEvent,
    Contact,
    ContactNumber,
    CustomFieldValue,
)

APP_CONFIG = AppConfig(
    app_name="clients",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=[
        Client,
        Contact,
        ContactNumber,
        ConsentEvent,
        CustomFieldValue,
        ClientSetting,
        ClientSearch,
        ClientNote,
        ClientAudit,
        ClientCount,
        ClientMonthCount,
    ],
    migration_dependencies=["portal.client_groups.piccolo_app", "portal.companies.piccolo_app"],
)
