"""Errors services raise; controllers turn them into pages or fragments."""

from __future__ import annotations


class ValidationError(Exception):
    """Bad input, field by field: {field name: message}. The "" key is for the form as a whole."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k or 'form'}: {v}" for k, v in errors.items()))
        self.errors = errors


class NotFound(Exception):
    """The thing does not exist, or the caller may not see it (the same answer for both)."""


class Conflict(Exception):
    """Someone else changed the thing since the caller read it."""


class Throttled(Exception):
    """Too many attempts; try again later."""
