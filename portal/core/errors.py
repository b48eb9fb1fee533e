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


class Unavailable(Exception):
    """A service the request needs (the database, Redis) cannot answer now: it is down, does
    not answer in time, or too many requests wait for it. Nothing of the request's transaction
    was kept. `retry_after` is the advice to give, in seconds; `retryable` marks a failure the
    same transaction may simply be tried again after (a PostgreSQL deadlock or serialization
    failure)."""

    def __init__(self, service: str, reason: str, *, retry_after: int = 5, retryable: bool = False):
        super().__init__(f"{service}: {reason}")
        self.service = service
        self.reason = reason
        self.retry_after = retry_after
        self.retryable = retryable
