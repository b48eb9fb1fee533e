from pathlib import Path

from piccolo.conf.apps import AppConfig

from portal.jobs.tables import Job, JobFile, JobFilePart, JobKey, JobProblem

APP_CONFIG = AppConfig(
    app_name="jobs",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=[Job, JobProblem, JobKey, JobFile, JobFilePart],
    migration_dependencies=["portal.companies.piccolo_app"],
)
