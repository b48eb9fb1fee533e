from pathlib import Path

from piccolo.conf.apps import AppConfig

from portal.mail.tables import MailMessage

APP_CONFIG = AppConfig(
    app_name="mail",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=[MailMessage],
    migration_dependencies=["portal.clients.piccolo_app"],
)
