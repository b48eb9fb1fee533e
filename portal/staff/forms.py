"""The admin area's account and staff forms: what they hold, read from a submitted form."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from portal.core.forms import FormValues, many, text
from portal.core.ids import parse_id
from portal.staff.services import MemberDetails, ProfileDetails


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


def read_member(data: FormValues) -> MemberDetails:
    return MemberDetails(
        **asdict(read_profile(data)), group_id=parse_id(data.get("group_id", "")) or 0
    )


def read_profile(data: FormValues) -> ProfileDetails:
    return ProfileDetails(
        first_name=text(data, "first_name"),
        last_name=text(data, "last_name"),
        email=text(data, "email"),
        language=text(data, "language") or "en",
    )


@dataclass
class GroupForm:
    name: str = ""
    permissions: list[str] | None = None

    @classmethod
    def read(cls, data: FormValues) -> GroupForm:
        return cls(name=text(data, "name"), permissions=many(data, "permissions"))
