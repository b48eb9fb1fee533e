from pathlib import Path

from piccolo.conf.apps import AppConfig

from portal.core.tables import LoginFailure, Session

APP_CONFIG = AppConfig(
    app_name="core",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=[Session, LoginFailure],
    migration_dependencies=[],
)
