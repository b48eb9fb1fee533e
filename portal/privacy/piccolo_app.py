from pathlib import Path

from piccolo.conf.apps import AppConfig

from portal.privacy.tables import DataRequest

APP_CONFIG = AppConfig(
    app_name="privacy",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=[DataRequest],
    migration_dependencies=["portal.companies.piccolo_app"],
)
