from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.base import OnDelete
from piccolo.columns.base import OnUpdate
from piccolo.columns.column_types import ForeignKey
from piccolo.columns.column_types import Serial
from piccolo.columns.column_types import Text
from piccolo.columns.indexes import IndexMethod
from piccolo.table import Table


class Client(Table, tablename="client", schema=None):
    id = Serial(
        null=False,
        primary_key=True,
        unique=False,
        index=False,
        index_method=IndexMethod.btree,
        choices=None,
        db_column_name="id",
        secret=False,
    )


class Company(Table, tablename="company", schema=None):
    id = Serial(
        null=False,
        primary_key=True,
        unique=False,
        index=False,
        index_method=IndexMethod.btree,
        choices=None,
        db_column_name="id",
        secret=False,
    )


ID = "2026-11-24T15:12:36:945336"
VERSION = "1.38.0"
DESCRIPTION = "client search documents"


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="clients", description=DESCRIPTION
    )

    manager.add_table(
        class_name="ClientSearch",
        tablename="client_search",
        schema=None,
        columns=None,
    )

    manager.add_column(
        table_class_name="ClientSearch",
        tablename="client_search",
        column_name="client",
        db_column_name="client",
        column_class_name="ForeignKey",
        column_class=ForeignKey,
        params={
            "references": Client,
            "on_delete": OnDelete.cascade,
            "on_update": OnUpdate.cascade,
            "target_column": None,
            "null": False,
            "primary_key": False,
            "unique": True,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    manager.add_column(
        table_class_name="ClientSearch",
        tablename="client_search",
        column_name="company",
        db_column_name="company",
        column_class_name="ForeignKey",
        column_class=ForeignKey,
        params={
            "references": Company,
            "on_delete": OnDelete.cascade,
            "on_update": OnUpdate.cascade,
            "target_column": None,
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    manager.add_column(
        table_class_name="ClientSearch",
        tablename="client_search",
        column_name="document",
        db_column_name="document",
        column_class_name="Text",
        column_class=Text,
        params={
            "default": "",
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    return manager
