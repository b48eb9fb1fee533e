from pathlib import Path

from piccolo.conf.apps import AppConfig

from portal.plugins.mass_mailer.tables import MailingJob, MailingRecipient, Suppression

APP_CONFIG = AppConfig(
    app_name="mass_mailer",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=[MailingJob, MailingRecipient, Suppression],
    migration_dependencies=[
        "portal.companies.piccolo_app",
        "portal.clients.piccolo_app",
        "portal.mail.piccolo_app",
    ],
)
