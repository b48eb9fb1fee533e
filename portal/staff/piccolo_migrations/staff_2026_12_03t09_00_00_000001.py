from datetime import UTC, datetime

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.base import OnDelete
from piccolo.columns.column_types import ForeignKey, Serial, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

ID = "2026-12-03T09:00:00:000001"
VERSION = "1.38.0"
DESCRIPTION = "Staff groups with permissions, staff tokens"

class Company(Table, tablename="company", schema=None):
    id = Serial(primary_key=True)


class Staff(Table, tablename="staff", schema=None):
    id = Serial(primary_key=True)


class StaffGroup(Table, tablename="staff_group", schema=None):
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
    manager = MigrationManager(migration_id=ID, app_name="staff", description=DESCRIPTION)

    manager.add_table(class_name="StaffGroup", tablename="staff_group", schema=None, columns=None)
    group = ("StaffGroup", "staff_group")
    _column(manager, *group, "company", ForeignKey, references=Company,
            on_delete=OnDelete.cascade, null=False)
    _column(manager, *group, "name", Varchar, length=100, default="")
    _column(manager, *group, "builtin", Varchar, length=20, default="")
    _column(manager, *group, "created_at", Timestamptz, default=TimestamptzNow())

    manager.add_table(
        class_name="StaffGroupPermission",
        tablename="staff_group_permission",
        schema=None,
        columns=None,
    )
    permission = ("StaffGroupPermission", "staff_group_permission")
    _column(manager, *permission, "group", ForeignKey, references=StaffGroup,
            on_delete=OnDelete.cascade, null=False)
    _column(manager, *permission, "permission", Varchar, length=64, default="")

    manager.add_table(class_name="StaffToken", tablename="staff_token", schema=None, columns=None)
    token = ("StaffToken", "staff_token")
    _column(manager, *token, "staff", ForeignKey, references=Staff,
            on_delete=OnDelete.cascade, null=False, index=True)
    _column(manager, *token, "purpose", Varchar, length=10, default="")
    _column(manager, *token, "token_hash", Varchar, length=64, default="", unique=True)
    _column(manager, *token, "expires_at", Timestamptz, default=TimestamptzNow())
    _column(manager, *token, "used_at", Timestamptz, null=True, default=None)
    _column(manager, *token, "created_at", Timestamptz, default=TimestamptzNow())

    return manager
