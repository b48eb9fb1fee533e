"""Records made from database rows (portal.core.rows)."""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec
import pytest

from portal.core.rows import from_row


@dataclass(frozen=True)
class Person:
    id: int
    name: str
    tags: list[str] = field(default_factory=list)


class PersonOut(msgspec.Struct):
    id: int
    name: str
    active: bool = True


def test_a_record_takes_its_fields_from_the_row_and_leaves_other_columns():
    row = {"id": 7, "name": "Ada", "company": 3}
    assert from_row(Person, row) == Person(id=7, name="Ada")
    assert from_row(PersonOut, row) == PersonOut(id=7, name="Ada")


def test_values_given_win_over_the_row_and_fill_what_it_lacks():
    row = {"id": 7, "name": "Ada", "active": 0}
    assert from_row(Person, row, tags=["vip"], name="Ada L.") == Person(7, "Ada L.", ["vip"])
    assert from_row(PersonOut, row, active=bool(row["active"])).active is False


def test_a_field_without_a_default_must_be_in_the_row_or_given():
    with pytest.raises(TypeError):
        from_row(Person, {"id": 7})
