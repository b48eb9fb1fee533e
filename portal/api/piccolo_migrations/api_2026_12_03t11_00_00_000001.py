from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.base import OnDelete
from piccolo.columns.column_types import ForeignKey, Integer, Serial, Varchar
from piccolo.table import Table

ID = "2026-12-03T11:00:00:000001"
VERSION = "1.38.0"
DESCRIPTION = "Permissions of API keys; the staff member who made a key, by id"


class ApiKey(Table, tablename="api_key", schema=None):
    id = Serial(primary_key=True)


def _column(manager, class_name, tablename, name, column_class, **params):
    manager.add_column(
        table_class_name=class_name,
        tablename=tablename,
        column_name=name,
        db_column_name=name,
        column_class_name=column_class.__name__,
        column_class=column_class,
        params=params,
        schema=None,
    )


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="api", description=DESCRIPTION)

    manager.add_table(
        class_name="ApiKeyPermission", tablename="api_key_permission", schema=None, columns=None
    )
    permission = ("ApiKeyPermission", "api_key_permission")
    _column(manager, *permission, "api_key", ForeignKey, references=ApiKey,
            on_delete=OnDelete.cascade, null=False)
    _column(manager, *permission, "permission", Varchar, length=64, default="")

    _column(manager, "ApiKey", "api_key", "creator_staff_id", Integer, null=True, default=None)

    return manager
