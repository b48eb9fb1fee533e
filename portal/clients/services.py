"""Clients: the rules for creating, editing and reading a client, in one place.

The admin area, the client area, the JSON API and plugins all call these functions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

import phonenumbers

from portal.client_groups.tables import ClientGroup
from portal.clients.tables import Client, ConsentEvent, Contact, ContactNumber
from portal.companies.services import get_company
from portal.companies.tables import ClientIdSequence
from portal.core.config import get_settings
from portal.core.countries import is_country, is_currency, state_belongs_to
from portal.core.db import read_transaction, violated_unique_index, write_transaction
from portal.core.errors import Conflict, NotFound, ValidationError
from portal.core.forms import check_length, normalise_email, require
from portal.core.i18n import LANGUAGES
from portal.core.passwords import hash_password, password_problem
from portal.mail import services as mail

MARKETING_OPT_IN_WORDING = "Opt-in to marketing emails"
NUMBER_TYPES = {"phone": "Phone", "fax": "Fax"}
NUMBER_LOCATIONS = {"home": "Home", "work": "Work"}
STATUSES = {"active": "Active", "inactive": "Inactive", "fraud": "Fraud"}
MAX_PHONE_ROWS = 50
USERNAME_PATTERN = re.compile(r"^[\w.@+-]+$")

# Contact fields: (name, label, max length)
CONTACT_FIELDS = (
    ("first_name", "First Name", 100),
    ("last_name", "Last Name", 100),
    ("company", "Company/Org.", 255),
    ("title", "Title", 100),
    ("address1", "Address 1", 255),
    ("address2", "Address 2", 255),
    ("city", "City", 100),
    ("zip", "Zip/Postal Code", 20),
)


@dataclass
class PhoneRow:
    """One row of the Phone Numbers section; `row_id` names its inputs in the page."""

    row_id: str
    number_type: str = "phone"
    location: str = "home"
    number: str = ""


@dataclass
class ClientDetails:
    """What a person fills in on the client form (and what the API sends)."""

    first_name: str = ""
    last_name: str = ""
    company: str = ""
    title: str = ""
    address1: str = ""
    address2: str = ""
    city: str = ""
    country: str = ""
    state: str = ""
    zip: str = ""
    email: str = ""
    phones: list[PhoneRow] = field(default_factory=list)
    tax_exempt: bool = False
    tax_id: str = ""
    preferred_currency: str = ""
    username_mode: str = "email"  # email | specify
    username: str = ""
    language: str = ""
    group_id: str = ""
    send_registration_email: bool = False
    marketing_opt_in: bool = False


@dataclass(frozen=True)
class Actor:
    """Who acts, for consent and audit records: kind staff/client/system, and the address."""

    kind: str
    id: int | None = None
    address: str = ""

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.id}" if self.id is not None else self.kind


@dataclass(frozen=True)
class Number:
    id: int
    number_type: str
    location: str
    e164: str
    extension: str
    display: str
    is_default_fax: bool


@dataclass(frozen=True)
class ClientView:
    id: int
    code: str
    status: str
    username: str
    preferred_currency: str
    language: str
    tax_exempt: bool
    tax_id: str
    marketing_opt_in: bool
    version: int
    created_at: datetime
    updated_at: datetime
    last_login_at: datetime | None
    last_login_ip: str | None
    group_id: int
    group_name: str
    group_colour: str
    contact: dict
    numbers: list[Number]

    @property
    def name(self) -> str:
        return f"{self.contact['first_name']} {self.contact['last_name']}".strip()

    @property
    def default_fax(self) -> Number | None:
        return next((n for n in self.numbers if n.is_default_fax), None)


@dataclass(frozen=True)
class _CleanNumber:
    number_type: str
    location: str
    e164: str
    extension: str


# --- validation -----------------------------------------------------------------------------


def format_number(e164: str, extension: str = "") -> str:
    """International format for people, e.g. +49 30 1234567 ext. 12."""
    try:
        parsed = phonenumbers.parse(e164)
    except phonenumbers.NumberParseException:
        return e164
    if extension:
        parsed.extension = extension
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def _clean_numbers(rows: list[PhoneRow], region: str, errors: dict[str, str]) -> list[_CleanNumber]:
    if len(rows) > MAX_PHONE_ROWS:
        errors["phone-rows"] = f"At most {MAX_PHONE_ROWS} numbers can be stored."
        return []
    numbers = []
    for row in rows:
        if not row.number:
            continue  # an empty row is a row nobody filled in
        field_id = f"phone-number-{row.row_id}"
        if row.number_type not in NUMBER_TYPES:
            errors[f"phone-type-{row.row_id}"] = "Choose Phone or Fax."
        if row.location not in NUMBER_LOCATIONS:
            errors[f"phone-location-{row.row_id}"] = "Choose Home or Work."
        if len(row.number) > 40:
            errors[field_id] = "Number is too long (at most 40 characters)."
            continue
        try:
            parsed = phonenumbers.parse(row.number, region or None)
        except phonenumbers.NumberParseException:
            parsed = None
        if parsed is None or not phonenumbers.is_valid_number(parsed):
            errors[field_id] = (
                "Enter a valid phone number, with the area code (and +country code for "
                "numbers outside the contact's country)."
            )
            continue
        numbers.append(
            _CleanNumber(
                number_type=row.number_type,
                location=row.location,
                e164=phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164),
                extension=(parsed.extension or "")[:10],
            )
        )
    return numbers


def normalise_username(value: str) -> str:
    return value.strip().casefold()


async def _validate(
    company_id: int,
    details: ClientDetails,
    *,
    password: str | None,
    password_required: bool,
    client_id: int | None,
) -> tuple[dict[str, str], list[_CleanNumber], str, str]:
    """Checks every field and returns (errors, numbers, email, username)."""
    errors: dict[str, str] = {}
    for name, label, max_length in CONTACT_FIELDS:
        check_length(errors, name, getattr(details, name), max_length, label)
    require(errors, "first_name", details.first_name, "First Name")
    require(errors, "last_name", details.last_name, "Last Name")

    email = ""
    if not details.email:
        errors["email"] = "Email is required."
    elif (normalised := normalise_email(details.email)) is None:
        errors["email"] = "Enter a valid email address, like name@example.com."
    else:
        email = normalised

    country = details.country.upper()
    if not is_country(country):
        errors["country"] = "Choose a country from the list."
    elif details.state and not state_belongs_to(details.state, country):
        errors["state"] = (
            "This State/Province is not in the chosen country. Choose one from the list."
        )

    numbers = _clean_numbers(details.phones, country if is_country(country) else "", errors)

    check_length(errors, "tax_id", details.tax_id, 64, "Tax ID/VATIN")
    if not is_currency(details.preferred_currency):
        errors["preferred_currency"] = "Choose a currency from the list."
    if details.language not in LANGUAGES:
        errors["language"] = "Choose a language from the list."
    if not details.group_id.isdigit() or not await ClientGroup.exists().where(
        ClientGroup.id == int(details.group_id), ClientGroup.company == company_id
    ):
        errors["group_id"] = "Choose a client group from the list."

    username = ""
    if details.username_mode == "specify":
        username = normalise_username(details.username)
        if not username:
            errors["username"] = "Username is required when you specify one."
        elif len(username) > 254:
            errors["username"] = "Username is too long (at most 254 characters)."
        elif not USERNAME_PATTERN.match(username):
            errors["username"] = "Use letters, digits and . _ - + @ only."
    elif details.username_mode == "email":
        username = email.casefold()
    else:
        errors["username_mode"] = "Choose how the username is set."
    if username and await username_taken(username, except_client_id=client_id):
        errors["email" if details.username_mode == "email" else "username"] = (
            "This username is already in use by another client."
        )

    if password or password_required:
        user_inputs = (details.email, username, details.first_name, details.last_name)
        if problem := password_problem(password or "", user_inputs=user_inputs):
            errors["password"] = "Password is required." if not password else problem
    return errors, numbers, email, username


async def username_taken(username: str, except_client_id: int | None = None) -> bool:
    rows = await Client.raw(
        "SELECT id FROM client WHERE lower(username) = lower({}) LIMIT 2",
        normalise_username(username),
    )
    return any(row["id"] != except_client_id for row in rows)


def _duplicate_username_error(
    error: BaseException, details: ClientDetails
) -> ValidationError | None:
    if violated_unique_index(error) in {"client_username_ci", "client.username"}:
        name = "email" if details.username_mode == "email" else "username"
        return ValidationError({name: "This username is already in use by another client."})
    return None


# --- client IDs -----------------------------------------------------------------------------


async def _next_client_id(company: dict) -> tuple[int, str]:
    """Takes the next number of the company's client ID format; called inside the write
    transaction that inserts the client, so two creates never get the same number."""
    id_format = company["client_id_format"]
    await ClientIdSequence.raw(
        "INSERT INTO client_id_sequence (company, id_format, next_value) VALUES ({}, {}, {}) "
        "ON CONFLICT (company, id_format) DO NOTHING",
        company["id"],
        id_format,
        company["client_id_start"],
    )
    rows = await ClientIdSequence.raw(
        "UPDATE client_id_sequence SET next_value = next_value + {} "
        "WHERE company = {} AND id_format = {} RETURNING next_value - {} AS number",
        company["client_id_increment"],
        company["id"],
        id_format,
        company["client_id_increment"],
    )
    number = rows[0]["number"]
    return number, id_format.replace("{num}", str(number))


# --- writing --------------------------------------------------------------------------------


def _contact_values(details: ClientDetails, email: str) -> dict:
    return {
        "first_name": details.first_name,
        "last_name": details.last_name,
        "company": details.company,
        "title": details.title,
        "address1": details.address1,
        "address2": details.address2,
        "city": details.city,
        "state": details.state,
        "zip": details.zip,
        "country": details.country.upper(),
        "email": email,
    }


async def _insert_numbers(contact_id: int, numbers: list[_CleanNumber]) -> None:
    if numbers:
        await ContactNumber.insert(
            *(
                ContactNumber(
                    contact=contact_id,
                    number_type=n.number_type,
                    location=n.location,
                    number=n.e164,
                    extension=n.extension,
                    position=position,
                )
                for position, n in enumerate(numbers)
            )
        )


async def _record_consent(client_id: int, opted_in: bool, actor: Actor, source: str) -> None:
    await ConsentEvent.insert(
        ConsentEvent(
            client=client_id,
            opted_in=opted_in,
            actor=actor.label,
            source=source,
            wording=MARKETING_OPT_IN_WORDING,
            address=actor.address[:45],
        )
    )


async def create_client(
    company_id: int, details: ClientDetails, password: str, actor: Actor
) -> int:
    """Creates the client, its primary contact, numbers and consent record in one transaction,
    under the next client ID of the company; sends the registration email when asked."""
    company = await get_company(company_id)
    errors, numbers, email, username = await _validate(
        company_id, details, password=password, password_required=True, client_id=None
    )
    if errors:
        raise ValidationError(errors)
    password_hash = await hash_password(password)
    try:
        async with write_transaction():
            number, code = await _next_client_id(company)
            rows = await Client.insert(
                Client(
                    company=company_id,
                    group=int(details.group_id),
                    number=number,
                    code=code,
                    username=username,
                    password_hash=password_hash,
                    preferred_currency=details.preferred_currency,
                    language=details.language,
                    tax_exempt=details.tax_exempt,
                    tax_id=details.tax_id,
                    marketing_opt_in=details.marketing_opt_in,
                )
            ).returning(Client.id)
            client_id = rows[0]["id"]
            contact = await Contact.insert(
                Contact(client=client_id, contact_type="primary", **_contact_values(details, email))
            ).returning(Contact.id)
            await _insert_numbers(contact[0]["id"], numbers)
            if details.marketing_opt_in:
                await _record_consent(client_id, True, actor, "admin-add-client")
    except Exception as error:
        if duplicate := _duplicate_username_error(error, details):
            raise duplicate from None
        raise
    if details.send_registration_email:
        await send_registration_email(client_id, company_id)
    return client_id


async def update_client(
    company_id: int,
    client_id: int,
    details: ClientDetails,
    *,
    expected_version: int,
    new_password: str | None,
    actor: Actor,
) -> None:
    """Saves an edit. Raises Conflict when someone else saved the client since
    `expected_version` was read; the password changes only when a new one is given."""
    current = await get_client(company_id, client_id)
    errors, numbers, email, username = await _validate(
        company_id, details, password=new_password, password_required=False, client_id=client_id
    )
    if errors:
        raise ValidationError(errors)
    values = {
        Client.group: int(details.group_id),
        Client.username: username,
        Client.preferred_currency: details.preferred_currency,
        Client.language: details.language,
        Client.tax_exempt: details.tax_exempt,
        Client.tax_id: details.tax_id,
        Client.marketing_opt_in: details.marketing_opt_in,
        Client.version: Client.version + 1,
        Client.updated_at: datetime.now(UTC),
    }
    if new_password:
        values[Client.password_hash] = await hash_password(new_password)
        values[Client.session_epoch] = Client.session_epoch + 1  # other sessions end
    try:
        async with write_transaction():
            updated = (
                await Client.update(values)
                .where(
                    Client.id == client_id,
                    Client.company == company_id,
                    Client.version == expected_version,
                )
                .returning(Client.id)
            )
            if not updated:
                raise Conflict()
            await Contact.update(_contact_values(details, email)).where(
                Contact.id == current.contact["id"]
            )
            await ContactNumber.delete().where(ContactNumber.contact == current.contact["id"])
            await _insert_numbers(current.contact["id"], numbers)
            if details.marketing_opt_in != current.marketing_opt_in:
                await _record_consent(
                    client_id, details.marketing_opt_in, actor, "admin-edit-client"
                )
    except Exception as error:
        if duplicate := _duplicate_username_error(error, details):
            raise duplicate from None
        raise


async def send_registration_email(client_id: int, company_id: int) -> int:
    client = await get_client(company_id, client_id)
    company = await get_company(company_id)
    subject, body = mail.render(
        "registration.txt",
        client.language,
        company=company["name"],
        first_name=client.contact["first_name"],
        login_url=f"{get_settings().base_url}/client/login",
        username=client.username,
    )
    return await mail.send(
        company_id,
        company["name"],
        mail.Mail(
            to=client.contact["email"],
            subject=subject,
            body_text=body,
            kind="registration",
            client_id=client_id,
        ),
    )


# --- reading --------------------------------------------------------------------------------


async def get_client(company_id: int, client_id: int) -> ClientView:
    """The client with its primary contact and numbers; NotFound when it does not exist or
    belongs to another company (the same answer for both)."""
    async with read_transaction():
        row = (
            await Client.select(Client.all_columns(), Client.group.name, Client.group.colour)
            .where(Client.id == client_id, Client.company == company_id)
            .first()
        )
        if row is None:
            raise NotFound()
        contact = (
            await Contact.select()
            .where(Contact.client == client_id, Contact.contact_type == "primary")
            .first()
        )
        numbers = (
            await ContactNumber.select()
            .where(ContactNumber.contact == contact["id"])
            .order_by(ContactNumber.position)
        )
    first_fax = next((n["id"] for n in numbers if n["number_type"] == "fax"), None)
    return ClientView(
        id=row["id"],
        code=row["code"],
        status=row["status"],
        username=row["username"],
        preferred_currency=row["preferred_currency"],
        language=row["language"],
        tax_exempt=row["tax_exempt"],
        tax_id=row["tax_id"],
        marketing_opt_in=row["marketing_opt_in"],
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        last_login_at=row["last_login_at"],
        last_login_ip=row["last_login_ip"],
        group_id=row["group"],
        group_name=row["group.name"],
        group_colour=row["group.colour"],
        contact=contact,
        numbers=[
            Number(
                id=n["id"],
                number_type=n["number_type"],
                location=n["location"],
                e164=n["number"],
                extension=n["extension"],
                display=format_number(n["number"], n["extension"]),
                is_default_fax=n["id"] == first_fax,
            )
            for n in numbers
        ],
    )


async def groups_of_company(company_id: int) -> list[dict]:
    return (
        await ClientGroup.select(ClientGroup.id, ClientGroup.name, ClientGroup.is_default)
        .where(ClientGroup.company == company_id)
        .order_by(ClientGroup.is_default, ascending=False)
        .order_by(ClientGroup.name)
    )


async def consent_events(company_id: int, client_id: int) -> list[dict]:
    await get_client(company_id, client_id)
    return (
        await ConsentEvent.select()
        .where(ConsentEvent.client == client_id)
        .order_by(ConsentEvent.id)
    )
