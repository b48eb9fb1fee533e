from pathlib import Path

from piccolo.conf.apps import AppConfig

from portal.client_area.tables import PasswordResetToken

APP_CONFIG = AppConfig(
    app_name="client_area",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=[PasswordResetToken],
    migration_dependencies=["portal.clients.piccolo_app"],
)
