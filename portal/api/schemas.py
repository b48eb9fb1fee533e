"""What the JSON API sends and takes, as msgspec Structs: the OpenAPI schema is built from these."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec
from litestar.params import KwargDefinition

from portal.core.forms import MAX_ADDRESS, REPORTED_ADDRESS

# An address as an outside mailer reports it (portal.core.forms.REPORTED_ADDRESS). What the
# schema says is what is checked: msgspec's Meta checks, Litestar's KwargDefinition is what the
# schema says of a list's items, where it leaves msgspec's out.
Email = Annotated[
    str,
    msgspec.Meta(max_length=MAX_ADDRESS, pattern=REPORTED_ADDRESS),
    KwargDefinition(max_length=MAX_ADDRESS, pattern=REPORTED_ADDRESS),
]


class ApiError(msgspec.Struct):
    status_code: int
    detail: str


class ClientSummary(msgspec.Struct):
    id: int
    client_id: str  # the code people see, in the company's client ID format
    status: Literal["active", "inactive", "fraud"]
    first_name: str
    last_name: str
    company_name: str
    email: str
    language: str
    country: str
    group_id: int
    group_name: str
    marketing_opt_in: bool
    created_at: datetime


class ClientPage(msgspec.Struct):
    items: list[ClientSummary]
    next_cursor: int | None  # pass as `cursor` for the next page; null on the last page


class PhoneNumber(msgspec.Struct):
    type: Literal["phone", "fax"]
    location: Literal["home", "work"]
    number: str  # E.164
    extension: str


class ClientDetail(msgspec.Struct):
    id: int
    client_id: str
    status: Literal["active", "inactive", "fraud"]
    first_name: str
    last_name: str
    company_name: str
    title: str
    email: str
    address1: str
    address2: str
    city: str
    state: str  # ISO 3166-2
    zip: str
    country: str  # ISO 3166-1 alpha-2
    phone_numbers: list[PhoneNumber]
    language: str
    preferred_currency: str
    tax_exempt: bool
    tax_id: str
    group_id: int
    group_name: str
    marketing_opt_in: bool
    created_at: datetime
    updated_at: datetime


ContactType = Literal["primary", "billing", "other"]


class OptIn(msgspec.Struct):
    """A person who may get marketing email: a client's primary contact (the client opted
    in) or one of its billing or other contacts (the contact opted in itself)."""

    id: Annotated[int, msgspec.Meta(description="The client's id.")]
    email: str
    first_name: str
    last_name: str
    language: Annotated[str, msgspec.Meta(description="The client's language.")]
    country: Annotated[str, msgspec.Meta(description="The person's country (ISO 3166-1).")]
    group_id: int
    group_name: str
    opted_in_at: Annotated[
        datetime | None,
        msgspec.Meta(description="The person's latest opt-in in the client's consent log."),
    ]
    contact_id: Annotated[
        int | None,
        msgspec.Meta(
            description="The billing or other contact's id; null for the primary contact."
        ),
    ]
    contact_type: Annotated[ContactType, msgspec.Meta(description="Whose address this is.")]


class OptInPage(msgspec.Struct):
    items: list[OptIn]
    next_cursor: int | None


class UnsubscribeRequest(msgspec.Struct):
    emails: Annotated[list[Email], msgspec.Meta(min_length=1, max_length=1000)]
    reason: Literal["unsubscribe", "bounce"] = "unsubscribe"


class UnsubscribeResult(msgspec.Struct):
    suppressed: int  # addresses now suppressed for marketing mail
    clients_opted_out: int  # clients whose opt-in this turned off (with a consent record)


class ContactDetail(msgspec.Struct):
    """A person of a client account: its primary contact, or a billing or other contact."""

    id: Annotated[int, msgspec.Meta(description="The contact's id.")]
    type: ContactType
    first_name: str
    last_name: str
    company: Annotated[str, msgspec.Meta(description="Company/Org.")]
    title: str
    address1: str
    address2: str
    city: str
    state: Annotated[str, msgspec.Meta(description="ISO 3166-2 code, or empty.")]
    zip: str
    country: Annotated[str, msgspec.Meta(description="ISO 3166-1 alpha-2 code, or empty.")]
    email: str
    phone_numbers: list[PhoneNumber]
    marketing_opt_in: Annotated[
        bool,
        msgspec.Meta(
            description="Consent to marketing email: the client's own for the primary "
            "contact, the contact's own for a billing or other contact."
        ),
    ]
    has_login: Annotated[
        bool, msgspec.Meta(description="Whether the contact logs in to the client area.")
    ]


class ContactList(msgspec.Struct):
    items: Annotated[
        list[ContactDetail],
        msgspec.Meta(description="Every contact of the client, the primary contact first."),
    ]
