from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.base import OnDelete
from piccolo.columns.column_types import ForeignKey, Integer, Serial, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

ID = "2026-12-03T09:00:00:000002"
VERSION = "1.38.0"
DESCRIPTION = "The company's activity log"

class Company(Table, tablename="company", schema=None):
    id = Serial(primary_key=True)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="activity", description=DESCRIPTION)
    manager.add_table(
        class_name="ActivityEvent", tablename="activity_event", schema=None, columns=None
    )
    columns = [
        ("company", ForeignKey, {"references": Company, "on_delete": OnDelete.cascade,
                                 "null": False}),
        ("at", Timestamptz, {"default": TimestamptzNow()}),
        ("kind", Varchar, {"length": 20, "default": ""}),
        ("actor_kind", Varchar, {"length": 20, "default": ""}),
        ("actor_name", Varchar, {"length": 200, "default": ""}),
        ("staff_id", Integer, {"null": True, "default": None}),
        ("client_id", Integer, {"null": True, "default": None}),
        ("summary", Varchar, {"length": 500, "default": ""}),
        ("address", Varchar, {"length": 45, "default": ""}),
    ]
    for name, column_class, params in columns:
        manager.add_column(
            table_class_name="ActivityEvent",
            tablename="activity_event",
            column_name=name,
            db_column_name=name,
            column_class_name=column_class.__name__,
            column_class=column_class,
            params=params,
            schema=None,
        )

    return manager
