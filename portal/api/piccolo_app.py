from pathlib import Path

from piccolo.conf.apps import AppConfig

from portal.api.tables import ApiIdempotency, ApiKey, ApiKeyPermission

APP_CONFIG = AppConfig(
    app_name="api",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=[ApiKey, ApiKeyPermission, ApiIdempotency],
    migration_dependencies=["portal.companies.piccolo_app"],
)
