"""Small helpers for reading and checking submitted forms."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from email_validator import EmailNotValidError, validate_email

MAX_TEXT = 255


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
