"""A name taken meanwhile: the write that runs into a unique index answers as a form error."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from portal.core.db import violated_unique_index
from portal.core.errors import ValidationError


@contextmanager
def taken_as_invalid(index: str, errors: dict[str, str]) -> Iterator[None]:
    """Around writes whose values were checked first: another writer can still take the same
    value before ours commits, and the unique index `index` refuses ours. That answers as a
    ValidationError with `errors`; every other error passes through unchanged."""
    try:
        yield
    except Exception as error:
        if violated_unique_index(error) == index:
            raise ValidationError(errors) from error
        raise
