"""Records made from database rows: a dataclass or msgspec Struct takes the row's values under
its own fields' names, so a view lists its fields once (in its class), not again where it is
filled."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from functools import cache
from typing import Any, TypeVar

T = TypeVar("T")


@cache
def field_names(kind: type) -> tuple[str, ...]:
    if dataclasses.is_dataclass(kind):
        return tuple(field.name for field in dataclasses.fields(kind) if field.init)
    return kind.__struct_fields__  # a msgspec Struct


def from_row(kind: type[T], row: Mapping[str, Any], **values: Any) -> T:
    """A `kind` of the row's values under its fields' names; `values` are given for the fields
    the row names otherwise or lacks (a field with a default may be missing from both)."""
    taken = {name: row[name] for name in field_names(kind) if name not in values and name in row}
    return kind(**taken, **values)
