"""Small helpers for reading and checking submitted forms."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from email_validator import EmailNotValidError, validate_email

MAX_TEXT = 255


class FormValues(dict[str, str]):
    """A submitted form. Reading a name gives its last value as text, whatever a request sends
    (a name sent twice, a file where text was expected), so no handler meets a list or an
    upload it did not ask for; `getall` gives every value of a name that may repeat."""

    def __init__(self) -> None:
        super().__init__()
        self._all: dict[str, list[str]] = {}

    @classmethod
    def of(cls, items: Iterable[tuple[str, Any]]) -> FormValues:
        values = cls()
        for name, value in items:
            text_value = value if isinstance(value, str) else ""
            values._all.setdefault(name, []).append(text_value)
            values[name] = text_value
        return values

    def getall(self, name: str) -> list[str]:
        return list(self._all.get(name, []))


def many(data: Mapping[str, Any], name: str) -> list[str]:
    """Every value submitted under `name`, in page order, stripped (a plain dict may hold a
    list, as tests build forms)."""
    if isinstance(data, FormValues):
        values: list[Any] = data.getall(name)
    else:
        value = data.get(name, [])
        values = value if isinstance(value, list) else [value]
    return [v.strip() if isinstance(v, str) else "" for v in values]


def text(data: Mapping[str, Any], name: str) -> str:
    """A single-line text value, stripped; over-long input is kept as typed and reported by
    `check_length` rather than silently cut."""
    value = data.get(name, "")
    if not isinstance(value, str):
        return ""
    return value.strip().replace("\x00", "")


def checkbox(data: Mapping[str, Any], name: str) -> bool:
    return data.get(name) in {"1", "on", "true", "yes"}


def check_length(
    errors: dict[str, str], name: str, value: str, max_length: int, label: str
) -> None:
    if len(value) > max_length and name not in errors:
        errors[name] = f"{label} is too long (at most {max_length} characters)."


def require(errors: dict[str, str], name: str, value: str, label: str) -> None:
    if not value and name not in errors:
        errors[name] = f"{label} is required."


def normalise_email(value: str) -> str | None:
    """The address in its normal form (domain lower-cased, IDN encoded), or None when malformed."""
    if not value or len(value) > 254:
        return None
    try:
        result = validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        return None
    return result.normalized
