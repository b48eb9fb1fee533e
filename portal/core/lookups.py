"""Reading one row of a company's by the id a URL or form named: another company's row is not
found, the same as one that does not exist (and so is an id no row can have)."""

from __future__ import annotations

from typing import Any

from piccolo.columns import Column
from piccolo.table import Table

from portal.core.db import locked
from portal.core.errors import NotFound
from portal.core.ids import is_row_id


def row_id(value: int) -> int:
    """`value`, when it is an id a row can have; NotFound otherwise."""
    if not is_row_id(value):
        raise NotFound()
    return value


async def owned_row(
    table: type[Table],
    owner: Column,
    owner_id: int,
    value: int,
    *columns: Column,
    lock: bool = False,
) -> dict[str, Any]:
    """The row of `table` with the id `value` when its column `owner` is `owner_id`, with its
    `columns` (none: all of them); NotFound otherwise. `lock`, inside a write transaction: the
    row stays as read until commit."""
    query = table.select(*columns).where(table.id == row_id(value), owner == owner_id)  # type: ignore[attr-defined]
    row = await (locked(query) if lock else query).first()
    if row is None:
        raise NotFound()
    return row


async def company_row(
    table: type[Table], company_id: int, value: int, *columns: Column, lock: bool = False
) -> dict[str, Any]:
    """The row of `table` with the id `value` when it belongs to the company (its `company`
    column), with its `columns` (none: all of them); NotFound otherwise. `lock`: as for
    owned_row."""
    return await owned_row(table, table.company, company_id, value, *columns, lock=lock)  # type: ignore[attr-defined]
