from pathlib import Path

from piccolo.conf.apps import AppConfig

from portal.client_groups.tables import ClientGroup, ClientGroupSetting, CustomField

APP_CONFIG = AppConfig(
    app_name="client_groups",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=[ClientGroup, ClientGroupSetting, CustomField],
    migration_dependencies=["portal.companies.piccolo_app"],
)
