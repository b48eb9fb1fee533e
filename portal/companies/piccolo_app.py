from pathlib import Path

from piccolo.conf.apps import AppConfig

from portal.companies.tables import ClientIdSequence, Company, CompanyLogo, CompanySetting

APP_CONFIG = AppConfig(
    app_name="companies",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=[Company, CompanySetting, ClientIdSequence, CompanyLogo],
    migration_dependencies=["portal.core.piccolo_app"],
)
