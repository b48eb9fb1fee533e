"""The admin area's account forms: what they hold, read from a submitted form."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from portal.core.forms import text


@dataclass
class SetupForm:
    first_name: str = ""
    last_name: str = ""
    email: str = ""

    @classmethod
    def read(cls, data: dict[str, Any]) -> SetupForm:
        return cls(
            first_name=text(data, "first_name"),
            last_name=text(data, "last_name"),
            email=text(data, "email"),
        )


@dataclass
class LoginForm:
    email: str = ""
    next: str = ""

    @classmethod
    def read(cls, data: dict[str, Any]) -> LoginForm:
        return cls(email=text(data, "email"), next=text(data, "next"))
