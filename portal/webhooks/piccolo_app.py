from pathlib import Path

from piccolo.conf.apps import AppConfig

from portal.webhooks.tables import WebhookAttempt, WebhookDelivery, WebhookEndpoint

APP_CONFIG = AppConfig(
    app_name="webhooks",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=[WebhookEndpoint, WebhookDelivery, WebhookAttempt],
    migration_dependencies=["portal.companies.piccolo_app", "portal.events.piccolo_app"],
)
