from pathlib import Path

from piccolo.conf.apps import AppConfig

from portal.staff.tables import (
    Staff,
    StaffCompany,
    StaffGroup,
    StaffGroupPermission,
    StaffToken,
    StaffWidgetState,
)

APP_CONFIG = AppConfig(
    app_name="staff",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=[
        Staff,
        StaffGroup,
        StaffGroupPermission,
        StaffCompany,
        StaffToken,
        StaffWidgetState,
    ],
    migration_dependencies=["portal.companies.piccolo_app"],
)
