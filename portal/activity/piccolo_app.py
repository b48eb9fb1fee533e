from pathlib import Path

from piccolo.conf.apps import AppConfig

from portal.activity.tables import ActivityEvent

APP_CONFIG = AppConfig(
    app_name="activity",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=[ActivityEvent],
    migration_dependencies=["portal.staff.piccolo_app"],
)
