"""What the JSON API sends and takes, as msgspec Structs: the OpenAPI schema is built from these.

Request bodies refuse members they do not know (`forbid_unknown_fields`) and leave absent ones
UNSET: a POST starts from what Add Client (or Add Contact, Add Note) starts from, a PATCH from
what is stored, and only the members sent change. What the schema says of them is checked as
the body is read (a 400 problem): types, the lengths of the admin forms' fields, choices. The
rules of the data (required fields, a valid email or phone number, a country and its states,
a group's custom fields…) are the services', with the admin forms' messages (a 422 problem).
A body is at most 2 MB in all (a 413 problem), so no value is long enough to be slow.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar.enums import RequestEncodingType
from litestar.openapi.spec import Example, OpenAPIType, Schema
from litestar.params import Body, KwargDefinition
from msgspec import UNSET, UnsetType

from portal.clients import fields, notes
from portal.clients.contacts import ContactDetails
from portal.clients.services import MAX_PHONE_ROWS, ClientDetails, ContactFields, PhoneRow
from portal.core.forms import MAX_ADDRESS, REPORTED_ADDRESS, Field, without_control_characters
from portal.core.ids import MAX_ID

# An address as an outside mailer reports it (portal.core.forms.REPORTED_ADDRESS). What the
# schema says is what is checked: msgspec's Meta checks, Litestar's KwargDefinition is what the
# schema says of a list's items, where it leaves msgspec's out.
Email = Annotated[
    str,
    msgspec.Meta(max_length=MAX_ADDRESS, pattern=REPORTED_ADDRESS),
    KwargDefinition(max_length=MAX_ADDRESS, pattern=REPORTED_ADDRESS),
]


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
    username: Annotated[str, msgspec.Meta(description="What the owner logs in with.")]
    custom_fields: Annotated[
        dict[str, str],
        msgspec.Meta(description="Values of the client group's custom fields, by field id."),
    ]
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
        msgspec.Meta(description="The client's contacts, the primary contact first."),
    ]
    next_cursor: Annotated[
        int | None,
        msgspec.Meta(description="Pass as `cursor` for the next page; null on the last page."),
    ]


class NoteDetail(msgspec.Struct):
    """A staff note on a client; sticky notes are shown across the top of its profile."""

    id: int
    title: str
    body: str
    sticky: bool
    created_at: datetime
    updated_at: datetime


class NotePage(msgspec.Struct):
    items: Annotated[list[NoteDetail], msgspec.Meta(description="By id, oldest first.")]
    next_cursor: int | None  # pass as `cursor` for the next page; null on the last page


# --- request bodies ---------------------------------------------------------------------------


FIELD_ID = r"^[0-9]{1,10}$"


def _clean(value: str) -> str:
    return without_control_characters(value).strip()


def _text(field: Field, description: str | None = None) -> Any:
    """An optional text member, at most as long as the admin form's field allows."""
    return (
        Annotated[
            str,
            msgspec.Meta(max_length=field.max_length, description=description or str(field.label)),
        ]
        | UnsetType
    )


class PhoneNumberInput(msgspec.Struct, forbid_unknown_fields=True):
    number: Annotated[
        str,
        msgspec.Meta(
            max_length=40,
            description="With the area code, and +country code for a number outside the "
            "contact's country.",
        ),
    ]
    type: Literal["phone", "fax"] = "phone"
    location: Literal["home", "work"] = "home"
    extension: Annotated[str, msgspec.Meta(pattern=r"^[0-9]{0,10}$")] = ""


# The contact fields whose text the request gives as is: the guide's contact fields but the
# company's (named apart: a client's `company_name`, a contact's `company`, as they read) and
# the phone rows.
PERSON_TEXT = tuple(
    field.name
    for field in dataclasses.fields(ContactFields)
    if field.name not in ("company", "phones")
)


class _PersonInput(msgspec.Struct, forbid_unknown_fields=True):
    """The guide's contact fields, as a client's primary contact and its other contacts have
    them."""

    first_name: _text(fields.FIRST_NAME) = UNSET
    last_name: _text(fields.LAST_NAME) = UNSET
    title: _text(fields.TITLE) = UNSET
    address1: _text(fields.ADDRESS1) = UNSET
    address2: _text(fields.ADDRESS2) = UNSET
    city: _text(fields.CITY) = UNSET
    state: _text(fields.STATE, "ISO 3166-2 code of the country's State/Province, e.g. CA-ON.") = (
        UNSET
    )
    zip: _text(fields.ZIP) = UNSET
    country: (
        Annotated[str, msgspec.Meta(max_length=2, description="ISO 3166-1 alpha-2 code.")]
        | UnsetType
    ) = UNSET
    email: _text(fields.EMAIL) = UNSET
    phone_numbers: (
        Annotated[
            list[PhoneNumberInput],
            msgspec.Meta(
                max_length=MAX_PHONE_ROWS, description="The numbers, replacing those there were."
            ),
        ]
        | UnsetType
    ) = UNSET

    def apply_to(self, details: ContactFields) -> None:
        """The members sent, read as the admin forms read their fields (text stripped, NUL
        left out: no one types it, PostgreSQL refuses it), over `details`. Phone numbers
        are rows by index, as problems name them."""
        for name in PERSON_TEXT:
            if (value := getattr(self, name)) is not UNSET:
                setattr(details, name, _clean(value))
        details.country = details.country.upper()
        if self.phone_numbers is not UNSET:
            details.phones = [
                PhoneRow(
                    row_id="",
                    number_type=number.type,
                    location=number.location,
                    number=_clean(number.number)
                    + (f" ext. {number.extension}" if number.extension else ""),
                )
                for number in self.phone_numbers
            ]
        for index, row in enumerate(details.phones):
            row.row_id = str(index)


class ClientInput(_PersonInput):
    """Edit Client's fields; absent ones keep their values."""

    company_name: _text(fields.COMPANY) = UNSET
    tax_exempt: bool | UnsetType = UNSET
    tax_id: _text(fields.TAX_ID) = UNSET
    preferred_currency: (
        Annotated[str, msgspec.Meta(max_length=3, description="A currency the company accepts.")]
        | UnsetType
    ) = UNSET
    language: (
        Annotated[str, msgspec.Meta(max_length=16, description="A language the company offers.")]
        | UnsetType
    ) = UNSET
    group_id: (
        Annotated[int, msgspec.Meta(ge=1, le=MAX_ID, description="The client group's id.")]
        | UnsetType
    ) = UNSET
    username: (
        Annotated[
            str,
            msgspec.Meta(
                max_length=254,
                description="What the owner logs in with; empty: the email address, which it "
                "then follows.",
            ),
        ]
        | UnsetType
    ) = UNSET
    password: (
        Annotated[
            str,
            msgspec.Meta(
                max_length=128,
                description="The owner's password, never shown again. Without one, a new "
                "client has none until it chooses one (Forgot password?).",
            ),
        ]
        | UnsetType
    ) = UNSET
    marketing_opt_in: bool | UnsetType = UNSET
    custom_fields: (
        Annotated[
            dict[Annotated[str, msgspec.Meta(pattern=FIELD_ID)], str],
            msgspec.Meta(
                description="Values of the client group's custom fields, by field id; those "
                "not sent keep their values, and an id the group has no field of is refused.",
                # Litestar leaves the keys' pattern out of the schema: said here.
                extra_json_schema={
                    "extra": {"propertyNames": Schema(type=OpenAPIType.STRING, pattern=FIELD_ID)}
                },
            ),
        ]
        | UnsetType
    ) = UNSET

    def apply_to(self, details: ClientDetails) -> None:  # type: ignore[override]
        super().apply_to(details)
        if self.company_name is not UNSET:
            details.company = _clean(self.company_name)
        if self.tax_exempt is not UNSET:
            details.tax_exempt = self.tax_exempt
        if self.tax_id is not UNSET:
            details.tax_id = _clean(self.tax_id)
        if self.preferred_currency is not UNSET:
            details.preferred_currency = _clean(self.preferred_currency).upper()
        if self.language is not UNSET:
            details.language = _clean(self.language)
        if self.group_id is not UNSET:
            details.group_id = str(self.group_id)
        if self.username is not UNSET:
            details.username = _clean(self.username)
            details.username_mode = "specify" if details.username else "email"
        if self.marketing_opt_in is not UNSET:
            details.marketing_opt_in = self.marketing_opt_in
        if self.custom_fields is not UNSET:
            details.custom = {
                **details.custom,
                **{field_id: _clean(value) for field_id, value in self.custom_fields.items()},
            }


class NewClientInput(ClientInput):
    """Add Client's fields. Absent ones are what Add Client starts with: the company's
    country, currency and language, its default client group, the email as username."""

    send_registration_email: bool = False

    def apply_to(self, details: ClientDetails) -> None:
        super().apply_to(details)
        details.send_registration_email = self.send_registration_email


class StatusChange(msgspec.Struct, forbid_unknown_fields=True):
    status: Literal["active", "inactive", "fraud"]


class ContactInput(_PersonInput):
    """A billing or other contact's fields; a new contact starts in the client's country, as a
    billing contact. Logins of contacts are given by staff and account owners, not here."""

    type: Literal["billing", "other"] | UnsetType = UNSET
    company: _text(fields.COMPANY) = UNSET
    marketing_opt_in: (
        Annotated[bool, msgspec.Meta(description="The contact's own consent.")] | UnsetType
    ) = UNSET

    def apply_to(self, details: ContactDetails) -> None:  # type: ignore[override]
        super().apply_to(details)
        if self.type is not UNSET:
            details.contact_type = self.type
        if self.company is not UNSET:
            details.company = _clean(self.company)
        if self.marketing_opt_in is not UNSET:
            details.marketing_opt_in = self.marketing_opt_in


class NoteInput(msgspec.Struct, forbid_unknown_fields=True):
    """A staff note's fields; a new note is not sticky unless said."""

    title: _text(notes.TITLE) = UNSET
    body: _text(notes.BODY) = UNSET
    sticky: bool | UnsetType = UNSET

    def apply_to(self, details: notes.NoteDetails) -> None:
        """The service strips the text and leaves NUL out itself."""
        for name in ("title", "body", "sticky"):
            if (value := getattr(self, name)) is not UNSET:
                setattr(details, name, value)


# The bodies as handlers take them, each with an example for the schema's readers (and for
# schemathesis, which sends it).
def _json(model: type, summary: str, example: dict[str, Any]) -> Any:
    return Annotated[
        model,
        Body(
            media_type=RequestEncodingType.JSON,
            examples=[Example(summary=summary, value=example)],
        ),
    ]


NewClientBody = _json(
    NewClientInput,
    "A client in Ontario with a work phone",
    {
        "first_name": "Grace",
        "last_name": "Hopper",
        "email": "grace.hopper@example.com",
        "company_name": "Analytical Engines Ltd",
        "address1": "12 Difference Street",
        "city": "Toronto",
        "country": "CA",
        "state": "CA-ON",
        "zip": "M5V 2T6",
        "phone_numbers": [{"number": "+1 416 555 0199", "type": "phone", "location": "work"}],
        "marketing_opt_in": False,
    },
)
ClientChangesBody = _json(ClientInput, "A new address", {"address1": "1 King Street W"})
StatusBody = _json(StatusChange, "Deactivate", {"status": "inactive"})
ContactBody = _json(
    ContactInput,
    "A billing contact",
    {
        "type": "billing",
        "first_name": "Bill",
        "last_name": "Payer",
        "email": "accounts@example.com",
        "phone_numbers": [{"number": "+1 416 555 0188", "type": "fax", "location": "work"}],
    },
)
NoteBody = _json(NoteInput, "A sticky note", {"title": "Prefers email", "sticky": True})
