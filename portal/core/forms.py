"""Form fields declared once, and small helpers for reading submitted forms."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from email_validator import EmailNotValidError, validate_email

from portal.core.i18n import N_, Label, Message

MAX_TEXT = 255
# An address as another system reports it (a bounce, an unsubscribe): one @, no spaces or
# control characters (spelt out: JSON Schema's \s and Python's differ). Looser than an address
# people type in (normalise_email): suppressing one only ever stops mail. The JSON API's schema
# states the same pattern.
REPORTED_ADDRESS = r"^[^@ \x00-\x1f\x7f-\x9f]{1,64}@[^@ \x00-\x1f\x7f-\x9f]{1,189}$"
MAX_ADDRESS = 254  # as stored (and as SMTP allows a path)
REQUIRED = N_("%(label)s is required.")
TOO_LONG = N_("%(label)s is too long (at most %(max_length)d characters).")


def _invisible(value: str) -> bool:
    """Nothing anyone sees: empty, or format characters only (zero-width spaces and joiners,
    direction marks), which would pass for a filled-in required field."""
    return all(unicodedata.category(char) == "Cf" for char in value)


@dataclass(frozen=True)
class Field:
    """A form field, declared once: the input's name, its label (the guide's words, marked for
    the catalogs with N_), the longest value it keeps, whether it must be filled in, and the
    browser's autocomplete token. Services check values with it, templates show it, the
    catalogs translate its label and its messages."""

    name: str
    label: str
    max_length: int | None = None
    required: bool = False
    autocomplete: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "label", Label(self.label))

    def problem(self, value: str, *, required: bool | None = None) -> Message | None:
        """Why `value` cannot be kept, or None. `required` overrides the declaration (a
        client group may require a field)."""
        needed = self.required if required is None else required
        if needed and _invisible(value):
            return Message(REQUIRED, label=self.label)
        if not value:
            return None
        if self.max_length is not None and len(value) > self.max_length:
            return Message(TOO_LONG, label=self.label, max_length=self.max_length)
        return None

    def check(self, errors: dict[str, str], value: str, *, required: bool | None = None) -> None:
        """Adds the field's problem with `value` to `errors`, unless it has one already."""
        if self.name not in errors and (problem := self.problem(value, required=required)):
            errors[self.name] = problem


# Characters nobody types (the C0 controls but tab and line breaks, DEL, the C1 controls): a
# terminal or a spreadsheet acts on them, and PostgreSQL refuses NUL in text. What is kept of
# any text a person or a file sends leaves them out.
_CONTROL_CHARACTERS = dict.fromkeys(
    [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), *range(0x7F, 0xA0)]
)


def without_control_characters(value: str) -> str:
    return value.translate(_CONTROL_CHARACTERS)


def _kept(name: str, value: str) -> str:
    """A submitted value as a form keeps it. A password is the exact secret its owner chose
    (through the API, too, where nothing is left out): only NUL, which no secret holds."""
    if "password" in name:
        return value.replace("\x00", "")
    return without_control_characters(value)


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
            text_value = _kept(name, value) if isinstance(value, str) else ""
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
    return without_control_characters(value).strip()


ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def iso_date(value: str) -> date | None:
    """A date typed as YYYY-MM-DD (what <input type=date> sends), or None for anything else,
    2025-02-30 included. Callers word their own message and bound the years they accept."""
    if not ISO_DATE.fullmatch(value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def checkbox(data: Mapping[str, Any], name: str) -> bool:
    return data.get(name) in {"1", "on", "true", "yes"}


def reported_address(value: str) -> str | None:
    """A reported address in the form it is compared in (lower case; normalised when it is an
    address people could type), or None when it is not one at all."""
    if len(value) > MAX_ADDRESS or not re.fullmatch(REPORTED_ADDRESS, value):
        return None
    return (normalise_email(value) or value).lower()


def normalise_email(value: str) -> str | None:
    """The address in its normal form (domain lower-cased, IDN encoded), or None when malformed."""
    if not value or len(value) > 254:
        return None
    try:
        result = validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        return None
    return result.normalized
