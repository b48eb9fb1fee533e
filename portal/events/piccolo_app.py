from pathlib import Path

from piccolo.conf.apps import AppConfig

from portal.events.tables import Event

APP_CONFIG = AppConfig(
    app_name="events",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=[Event],
    migration_dependencies=["portal.companies.piccolo_app"],
)
