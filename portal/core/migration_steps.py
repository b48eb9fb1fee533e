"""Steps the Piccolo migrations share, so that a migration reads one line per column.

For migrations only: a released migration calls these functions, and what they hand to Piccolo's
`MigrationManager` must never change. Change nothing here that a released migration reaches (a
default, a parameter's meaning, the order of the calls); add a new function instead. This module
depends on Piccolo alone, never on application code, so that a migration keeps working whatever
the application's tables become.

`add_sql`, `add_sql_per_engine` and `add_create_tables` are the raw steps the hand-written
migrations repeated: each adds one step that sends the given statements, unchanged and in order,
through `Table.raw`.

`add_table` and `add_columns` make exactly the `manager.add_table` / `manager.add_column` calls
that `piccolo migrations new --auto` (Piccolo 1.38) writes out in full: every parameter of a
column that a migration does not give takes the value the generated code spelled out (the
defaults below, frozen here rather than read from Piccolo, so that a later Piccolo with other
defaults changes nothing). A migration gives only the parameters that differ.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.base import Column, OnDelete, OnUpdate
from piccolo.columns.column_types import (
    BigInt,
    Boolean,
    Bytea,
    Date,
    ForeignKey,
    Integer,
    Serial,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.defaults.date import DateNow
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.indexes import IndexMethod
from piccolo.table import Table, create_table_class

# (column name, column class, the parameters that differ from the defaults below)
ColumnSpec = tuple[str, type[Column], dict[str, Any]]


def _type_defaults(column_class: type[Column]) -> dict[str, Any]:
    """The parameters of one column type that the generated code wrote before the common ones.
    A new dict each call: default objects (TimestamptzNow(), …) are never shared."""
    if column_class is ForeignKey:
        return {"on_delete": OnDelete.cascade, "on_update": OnUpdate.cascade, "target_column": None}
    if column_class is Varchar:
        return {"length": 255, "default": ""}
    if column_class is Text:
        return {"default": ""}
    if column_class in (Integer, BigInt):
        return {"default": 0}
    if column_class is Boolean:
        return {"default": False}
    if column_class is Timestamptz:
        return {"default": TimestamptzNow()}
    if column_class is Date:
        return {"default": DateNow()}
    if column_class is Bytea:
        return {"default": b""}
    # A type not listed has no frozen defaults yet: add its own branch rather than guess.
    raise ValueError(f"no frozen migration defaults for {column_class.__name__}")


def _common_defaults() -> dict[str, Any]:
    return {
        "null": False,
        "primary_key": False,
        "unique": False,
        "index": False,
        "index_method": IndexMethod.btree,
        "choices": None,
        "db_column_name": None,
        "secret": False,
    }


def column_params(column_class: type[Column], params: dict[str, Any]) -> dict[str, Any]:
    """The full params of a generated `add_column` call: the defaults, with `params` over them
    (in the generated order: a ForeignKey's `references` first, then the type's, then the
    common ones; a parameter the defaults lack comes last)."""
    full: dict[str, Any] = {}
    if column_class is ForeignKey:
        full["references"] = params["references"]
    full.update(_type_defaults(column_class))
    full.update(_common_defaults())
    full.update(params)
    return full


def add_columns(
    manager: MigrationManager, table_class_name: str, tablename: str, columns: Iterable[ColumnSpec]
) -> None:
    """`manager.add_column` for each column, in order, as the generated code calls it."""
    for column_name, column_class, params in columns:
        manager.add_column(
            table_class_name=table_class_name,
            tablename=tablename,
            column_name=column_name,
            db_column_name=column_name,
            column_class_name=column_class.__name__,
            column_class=column_class,
            params=column_params(column_class, params),
            schema=None,
        )


def add_table(
    manager: MigrationManager, class_name: str, tablename: str, columns: Iterable[ColumnSpec] = ()
) -> None:
    """A new table (Piccolo gives it its `id` primary key) and its columns, in order."""
    manager.add_table(class_name=class_name, tablename=tablename, schema=None, columns=None)
    add_columns(manager, class_name, tablename, columns)


def reference_table(class_name: str, tablename: str) -> type[Table]:
    """The stand-in a migration declares for a table its foreign keys point at: the table's name
    and its `id` primary key, as the generated code declares it."""
    return create_table_class(
        class_name=class_name,
        class_kwargs={"tablename": tablename, "schema": None},
        class_members={
            "id": Serial(
                null=False,
                primary_key=True,
                unique=False,
                index=False,
                index_method=IndexMethod.btree,
                choices=None,
                db_column_name="id",
                secret=False,
            )
        },
    )


def declared_reference_table(class_name: str, tablename: str) -> type[Table]:
    """The stand-in as the hand-written migrations declared it, `id = Serial(primary_key=True)`:
    to the database the same as `reference_table`'s (the key's column is `id` either way), kept
    apart so that what those migrations hand to Piccolo stays exactly what it was."""
    return create_table_class(
        class_name=class_name,
        class_kwargs={"tablename": tablename, "schema": None},
        class_members={"id": Serial(primary_key=True)},
    )


def add_sql(manager: MigrationManager, statements: Sequence[str]) -> None:
    """One raw step: each statement, in order, through `Table.raw`."""

    async def run() -> None:
        for statement in statements:
            await Table.raw(statement)

    manager.add_raw(run)


def add_sql_per_engine(
    manager: MigrationManager, *, sqlite: Sequence[str], postgres: Sequence[str]
) -> None:
    """One raw step: the statements for the engine the migration runs on (`sqlite` on SQLite,
    `postgres` on any other), each in order, through `Table.raw`."""

    async def run() -> None:
        engine_type = Table._meta.db.engine_type
        for statement in sqlite if engine_type == "sqlite" else postgres:
            await Table.raw(statement)

    manager.add_raw(run)


def add_create_tables(
    manager: MigrationManager, tables: Sequence[type[Table]], statements: Sequence[str] = ()
) -> None:
    """One raw step: `create_table()` of each table (declared in the migration, as the table is
    at that migration), in order, then each statement (its indexes) through `Table.raw`."""

    async def run() -> None:
        for table in tables:
            await table.create_table()
        for statement in statements:
            await Table.raw(statement)

    manager.add_raw(run)
