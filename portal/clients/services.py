"""Clients: the rules for creating, editing and reading a client, in one place.

The admin area, the client area, the JSON API and plugins all call these functions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import phonenumbers

from portal.client_groups.services import (
    ALWAYS_REQUIRED,
    EffectiveSettings,
    check_custom_values,
    custom_values,
    effective_settings,
    list_fields,
    save_custom_values,
)
from portal.client_groups.tables import ClientGroup
from portal.clients import audit, users, verification
from portal.clients.fields import CONTACT_FIELDS, EMAIL, FAX, PHONE, STATE, TAX_ID
from portal.clients.tables import (
    AccountUser,
    Client,
    ConsentEvent,
    Contact,
    ContactNumber,
)
from portal.companies.services import currency_accepted, get_company, internationalization
from portal.companies.tables import ClientIdSequence
from portal.core.actors import Actor
from portal.core.config import get_settings
from portal.core.countries import is_country, state_belongs_to, subdivisions
from portal.core.db import read_transaction, write_transactions
from portal.core.errors import Conflict, NotFound, ValidationError
from portal.core.forms import normalise_email
from portal.core.i18n import N_, Message
from portal.core.ids import is_row_id, parse_id
from portal.core.passwords import hash_password, password_problem
from portal.core.permissions import CLIENTS_EDIT
from portal.mail import services as mail

MARKETING_OPT_IN_WORDING = N_("Opt-in to marketing emails")
NUMBER_TYPES = {"phone": PHONE, "fax": FAX}
NUMBER_LOCATIONS = {"home": N_("Home"), "work": N_("Work")}
STATUSES = {"active": "Active", "inactive": "Inactive", "fraud": "Fraud"}
MAX_PHONE_ROWS = 50
CONTACT_BY_NAME = {contact_field.name: contact_field for contact_field in CONTACT_FIELDS}
# Contact fields whose text is kept as typed (country, state and email are checked as such).
CHECKED_AS_TEXT = tuple(f for f in CONTACT_FIELDS if f.name not in {"country", "state", "email"})
EMAIL_IN_USE_ANY = (
    "SELECT contact.client FROM contact JOIN client ON client.id = contact.client "
    "WHERE client.company = {} AND lower(contact.email) = lower({}) LIMIT 2"
)
EMAIL_IN_USE_PRIMARY = EMAIL_IN_USE_ANY.replace(
    " LIMIT", " AND contact.contact_type = 'primary' LIMIT"
)


@dataclass
class PhoneRow:
    """One row of the Phone Numbers section; `row_id` names its inputs in the page."""

    row_id: str
    number_type: str = "phone"
    location: str = "home"
    number: str = ""


@dataclass
class ContactFields:
    """The guide's contact fields, as every contact form has them (the client's primary
    contact, its billing and other contacts)."""

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


@dataclass
class ClientDetails(ContactFields):
    """What a person fills in on the client form (and what the API sends)."""

    tax_exempt: bool = False
    tax_id: str = ""
    preferred_currency: str = ""
    username_mode: str = "email"  # email | specify
    username: str = ""
    language: str = ""
    group_id: str = ""
    send_registration_email: bool = False
    marketing_opt_in: bool = False
    # Values of the chosen group's custom fields, by field id (as text)
    custom: dict[str, str] = field(default_factory=dict)


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
class CleanNumber:
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


def clean_numbers(rows: list[PhoneRow], region: str, errors: dict[str, str]) -> list[CleanNumber]:
    if len(rows) > MAX_PHONE_ROWS:
        errors["phone-rows"] = Message(
            N_("At most %(count)d numbers can be stored."), count=MAX_PHONE_ROWS
        )
        del rows[MAX_PHONE_ROWS:]  # the form comes back with the rows that can be kept
        return []
    numbers = []
    for row in rows:
        if not row.number:
            continue  # an empty row is a row nobody filled in
        field_id = f"phone-number-{row.row_id}"
        if row.number_type not in NUMBER_TYPES:
            errors[f"phone-type-{row.row_id}"] = N_("Choose Phone or Fax.")
        if row.location not in NUMBER_LOCATIONS:
            errors[f"phone-location-{row.row_id}"] = N_("Choose Home or Work.")
        if len(row.number) > 40:
            errors[field_id] = N_("Number is too long (at most 40 characters).")
            continue
        try:
            parsed = phonenumbers.parse(row.number, region or None)
        except phonenumbers.NumberParseException:
            parsed = None
        if parsed is None or not phonenumbers.is_valid_number(parsed):
            errors[field_id] = N_(
                "Enter a valid phone number, with the area code (and +country code for "
                "numbers outside the contact's country)."
            )
            continue
        numbers.append(
            CleanNumber(
                number_type=row.number_type,
                location=row.location,
                e164=phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164),
                extension=(parsed.extension or "")[:10],
            )
        )
    return numbers


@dataclass(frozen=True)
class _Checked:
    """What validation found: errors, or the clean values to store."""

    errors: dict[str, str]
    numbers: list[CleanNumber]
    email: str
    username: str
    group_id: int | None
    settings: EffectiveSettings | None
    fields: list[dict]
    custom_values: dict[int, str]


def _username(
    details: ClientDetails, email: str, settings: EffectiveSettings | None, errors: dict[str, str]
) -> str:
    """The username the client gets: the email, or the one specified."""
    if details.username_mode == "email":
        return email.casefold()
    if details.username_mode != "specify":
        errors["username_mode"] = "Choose how the username is set."
        return ""
    username = users.normalise_username(details.username)
    if not username:
        errors["username"] = "Username is required when you specify one."
        return ""
    must_be_email = bool(settings and settings.usernames_must_be_emails)
    if problem := users.username_problem(username, must_be_email):
        errors["username"] = problem
        return ""
    return username


def check_required_fields(
    details: ClientDetails,
    numbers: list[CleanNumber],
    settings: EffectiveSettings,
    errors: dict[str, str],
) -> None:
    """The group's required contact fields. Requiring Phone or Fax means at least one number
    of that type."""
    for name in sorted(settings.required_fields - ALWAYS_REQUIRED):
        if name in {"phone", "fax"}:
            if not any(n.number_type == name for n in numbers) and "phone-rows" not in errors:
                errors["phone-rows"] = Message(
                    N_("At least one %(label)s number is required."),
                    label=PHONE if name == "phone" else FAX,
                )
        elif name == "state":
            if subdivisions(details.country.upper()):
                STATE.check(errors, details.state, required=True)
        else:
            CONTACT_BY_NAME[name].check(errors, getattr(details, name), required=True)


async def email_in_use(company_id: int, email: str, scope: str, client_id: int | None) -> bool:
    """Whether another client of the company has this email on its primary contact, or (scope
    "all") on any of its contacts."""
    query = EMAIL_IN_USE_PRIMARY if scope == "primary" else EMAIL_IN_USE_ANY
    rows = await Contact.raw(query, company_id, email)
    return any(row["client"] != client_id for row in rows)


def check_contact_fields(
    details: ContactFields, errors: dict[str, str]
) -> tuple[str, list[CleanNumber]]:
    """The contact fields every contact form has (a client's primary contact and its other
    contacts): length of the text fields, the email, the country and its state, the phone
    rows. The problems go into `errors`; returns the normalised email and the clean numbers.
    The group's required fields are checked apart (`check_required_fields`)."""
    for text_field in CHECKED_AS_TEXT:
        text_field.check(errors, getattr(details, text_field.name))
    email = ""
    if not details.email:
        EMAIL.check(errors, details.email)
    elif (normalised := normalise_email(details.email)) is None:
        errors["email"] = N_("Enter a valid email address, like name@example.com.")
    else:
        email = normalised
    country = details.country.upper()
    if not is_country(country):
        errors["country"] = N_("Choose a country from the list.")
    elif details.state and not state_belongs_to(details.state, country):
        errors["state"] = N_(
            "This State/Province is not in the chosen country. Choose one from the list."
        )
    numbers = clean_numbers(details.phones, country if is_country(country) else "", errors)
    return email, numbers


async def _validate(
    company_id: int,
    details: ClientDetails,
    *,
    password: str | None,
    password_required: bool,
    client_id: int | None,
    by_client: bool = False,
    kept_currency: str | None = None,
) -> _Checked:
    """Checks every field, under the rules of the chosen client group. A client's own edit is
    checked against the custom fields it may see and change; the others keep their values.
    The Preferred Currency must be one the company accepts, unless it is `kept_currency` (the
    client's own, unchanged)."""
    errors: dict[str, str] = {}
    email, numbers = check_contact_fields(details, errors)
    TAX_ID.check(errors, details.tax_id)
    if details.preferred_currency != kept_currency and not await currency_accepted(
        company_id, details.preferred_currency
    ):
        errors["preferred_currency"] = "Choose a currency from the list."
    if details.language not in (await internationalization(company_id)).enabled:
        errors["language"] = N_("Choose a language from the list.")

    group_id = parse_id(details.group_id)
    if group_id is None or not await ClientGroup.exists().where(
        ClientGroup.id == group_id, ClientGroup.company == company_id
    ):
        errors["group_id"] = "Choose a client group from the list."
        group_id = None
    settings, fields, custom = None, [], {}
    if group_id is not None:
        settings = await effective_settings(company_id, group_id, client_id)
        check_required_fields(details, numbers, settings, errors)
        fields = await list_fields(company_id, group_id)
        current = await custom_values(client_id) if by_client and client_id else None
        custom, custom_errors = check_custom_values(
            fields, details.custom, current=current, by_client=by_client
        )
        errors.update(custom_errors)
        if email and settings.unique_contact_emails != "no" and "email" not in errors:
            if await email_in_use(company_id, email, settings.unique_contact_emails, client_id):
                errors["email"] = N_("Another client already uses this email address.")

    username = _username(details, email, settings, errors)
    login = await users.primary_login(client_id) if client_id else None
    if username and await users.username_taken(
        company_id, username, except_user_id=login["id"] if login else None
    ):
        errors["email" if details.username_mode == "email" else "username"] = users.USERNAME_TAKEN

    if password or password_required:
        user_inputs = (details.email, username, details.first_name, details.last_name)
        if problem := password_problem(password or "", user_inputs=user_inputs):
            errors["password"] = "Password is required." if not password else problem
    return _Checked(errors, numbers, email, username, group_id, settings, fields, custom)


def _duplicate_username_error(
    error: BaseException, details: ClientDetails
) -> ValidationError | None:
    if users.is_duplicate_username(error):
        name = "email" if details.username_mode == "email" else "username"
        return ValidationError({name: users.USERNAME_TAKEN})
    return None


# --- client IDs -----------------------------------------------------------------------------


async def _next_client_id(company_id: int, settings: EffectiveSettings) -> tuple[int, str]:
    """Takes the next number of the group's client ID format (one sequence per company and
    format); called inside the write transaction that inserts the client, so two creates never
    get the same number."""
    id_format = settings.client_id_format
    await ClientIdSequence.raw(
        "INSERT INTO client_id_sequence (company, id_format, next_value) VALUES ({}, {}, {}) "
        "ON CONFLICT (company, id_format) DO NOTHING",
        company_id,
        id_format,
        settings.client_id_start,
    )
    rows = await ClientIdSequence.raw(
        "UPDATE client_id_sequence SET next_value = next_value + {} "
        "WHERE company = {} AND id_format = {} RETURNING next_value - {} AS number",
        settings.client_id_increment,
        company_id,
        id_format,
        settings.client_id_increment,
    )
    number = rows[0]["number"]
    return number, id_format.replace("{num}", str(number))


# --- writing --------------------------------------------------------------------------------


def contact_values(details: ContactFields, email: str) -> dict:
    """The contact table's columns of the guide's contact fields (every contact type)."""
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


async def insert_numbers(contact_id: int, numbers: list[CleanNumber]) -> None:
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


async def _record_consent(
    client_id: int,
    opted_in: bool,
    actor: Actor,
    source: str,
    wording: str = MARKETING_OPT_IN_WORDING,
) -> None:
    await ConsentEvent.insert(
        ConsentEvent(
            client=client_id,
            opted_in=opted_in,
            actor=actor.label,
            source=source,
            wording=wording,
            address=actor.address[:45],
        )
    )


async def _insert_client(
    company_id: int, details: ClientDetails, checked: _Checked, password_hash: str, actor: Actor
) -> int:
    """The rows of a new client, inside the write transaction that creates it."""
    assert checked.settings is not None and checked.group_id is not None
    number, code = await _next_client_id(company_id, checked.settings)
    rows = await Client.insert(
        Client(
            company=company_id,
            group=checked.group_id,
            number=number,
            code=code,
            preferred_currency=details.preferred_currency,
            language=details.language,
            tax_exempt=details.tax_exempt,
            tax_id=details.tax_id,
            marketing_opt_in=details.marketing_opt_in,
        )
    ).returning(Client.id)
    client_id = rows[0]["id"]
    owner_id = await users.add_user(
        company_id,
        username=checked.username,
        email=checked.email,
        name=f"{details.first_name} {details.last_name}".strip(),
        password_hash=password_hash,
        language=details.language,
    )
    await users.add_member(owner_id, client_id, owner=True)
    contact = await Contact.insert(
        Contact(
            client=client_id,
            contact_type="primary",
            login=owner_id,
            **contact_values(details, checked.email),
        )
    ).returning(Contact.id)
    await insert_numbers(contact[0]["id"], checked.numbers)
    await save_custom_values(client_id, checked.custom_values)
    if details.marketing_opt_in:
        await _record_consent(client_id, True, actor, "admin-add-client")
    await audit.record(company_id, client_id, code, actor, [("Client", "", "created")])
    return client_id


async def create_client(
    company_id: int, details: ClientDetails, password: str, actor: Actor
) -> int:
    """Creates the client, its primary contact, numbers, custom values and consent record in one
    transaction, under the next client ID of its group's format; sends the registration email
    when asked."""
    actor.require(CLIENTS_EDIT)
    checked = await _validate(
        company_id, details, password=password, password_required=True, client_id=None
    )
    if checked.errors:
        raise ValidationError(checked.errors)
    password_hash = await hash_password(password)
    try:
        async for transaction in write_transactions():
            async with transaction:
                client_id = await _insert_client(company_id, details, checked, password_hash, actor)
    except Exception as error:
        if duplicate := _duplicate_username_error(error, details):
            raise duplicate from None
        raise
    if details.send_registration_email:
        await send_registration_email(client_id, company_id)
    if owner := await users.owner_of(client_id):
        await verification.send_link(owner["id"])  # when the client's group requires it
    return client_id


async def update_client(
    company_id: int,
    client_id: int,
    details: ClientDetails,
    *,
    expected_version: int,
    new_password: str | None,
    actor: Actor,
    source: str = "admin-edit-client",
) -> None:
    """Saves an edit. Raises Conflict when someone else saved the client since
    `expected_version` was read; the password changes only when a new one is given. `source`
    names where the edit came from (consent records); a client's own edits come with actor kind
    "client" and are checked as such. A new email address of the primary contact is its
    login's too, which makes it unverified: the old address is told, the new one gets a
    verification link when the group requires verified addresses."""
    actor.require(CLIENTS_EDIT)
    current = await get_client(company_id, client_id)
    if current.version != expected_version:
        raise Conflict()  # saved by someone else since the form was opened
    checked = await _validate(
        company_id,
        details,
        password=new_password,
        password_required=False,
        client_id=client_id,
        by_client=actor.kind == "client",
        kept_currency=current.preferred_currency,
    )
    if checked.errors:
        raise ValidationError(checked.errors)
    values = {
        Client.group: checked.group_id,
        Client.preferred_currency: details.preferred_currency,
        Client.language: details.language,
        Client.tax_exempt: details.tax_exempt,
        Client.tax_id: details.tax_id,
        Client.marketing_opt_in: details.marketing_opt_in,
        Client.version: Client.version + 1,
        Client.updated_at: datetime.now(UTC),
    }
    # The primary contact's login follows the form: its username, and the contact's email and
    # name; a new password ends its other sessions.
    login_values = {
        AccountUser.username: checked.username,
        AccountUser.email: checked.email,
        AccountUser.name: f"{details.first_name} {details.last_name}".strip(),
        AccountUser.language: details.language,
    }
    if new_password:
        login_values[AccountUser.password_hash] = await hash_password(new_password)
        login_values[AccountUser.session_epoch] = AccountUser.session_epoch + 1
    contact_id = current.contact["id"]
    changes = await audit.changes_of_update(
        current,
        await custom_values(client_id),
        details,
        checked,
        password_changed=bool(new_password),
    )
    try:
        async for transaction in write_transactions():
            async with transaction:
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
                await Contact.update(contact_values(details, checked.email)).where(
                    Contact.id == contact_id
                )
                logins = (
                    await AccountUser.update(login_values)
                    .where(
                        AccountUser.id.is_in(
                            Contact.select(Contact.login).where(
                                Contact.client == client_id, Contact.contact_type == "primary"
                            )
                        )
                    )
                    .returning(AccountUser.id)
                )
                await ContactNumber.delete().where(ContactNumber.contact == contact_id)
                await insert_numbers(contact_id, checked.numbers)
                await save_custom_values(client_id, checked.custom_values)
                if details.marketing_opt_in != current.marketing_opt_in:
                    await _record_consent(client_id, details.marketing_opt_in, actor, source)
                await audit.record(company_id, client_id, current.code, actor, changes)
    except Exception as error:
        if duplicate := _duplicate_username_error(error, details):
            raise duplicate from None
        raise
    old_email = current.contact["email"]
    if checked.email.casefold() != old_email.casefold():
        for login in logins:
            await verification.email_changed(login["id"], old_email)


async def send_registration_email(
    client_id: int, company_id: int, contact_id: int | None = None
) -> int:
    """The registration email (where to log in and the username, never the password) to the
    client's primary contact, or to another of its contacts that has a login (`contact_id`), in
    that login's language."""
    client = await get_client(company_id, client_id)
    to, first_name, username, language = (
        client.contact["email"],
        client.contact["first_name"],
        client.username,
        client.language,
    )
    if contact_id is not None:
        rows = await Contact.raw(
            "SELECT ct.email, ct.first_name, u.username, u.language FROM contact ct "
            "JOIN account_user u ON u.id = ct.login WHERE ct.id = {} AND ct.client = {}",
            contact_id,
            client_id,
        )
        if not rows:
            raise NotFound()
        to, first_name, username, language = (
            rows[0]["email"],
            rows[0]["first_name"],
            rows[0]["username"],
            rows[0]["language"],
        )
    company = await get_company(company_id)
    subject, body = mail.render(
        "registration.txt",
        language,
        company=company["name"],
        first_name=first_name,
        login_url=f"{get_settings().base_url}/client/login",
        username=username,
    )
    return await mail.send(
        company_id,
        company["name"],
        mail.Mail(to=to, subject=subject, body_text=body, kind="registration", client_id=client_id),
    )


# --- reading --------------------------------------------------------------------------------


async def get_client(company_id: int, client_id: int) -> ClientView:
    """The client with its primary contact and numbers; NotFound when it does not exist or
    belongs to another company (the same answer for both)."""
    if not is_row_id(client_id):
        raise NotFound()
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
        login = await users.primary_login(client_id) or {}
    first_fax = next((n["id"] for n in numbers if n["number_type"] == "fax"), None)
    return ClientView(
        id=row["id"],
        code=row["code"],
        status=row["status"],
        username=login.get("username", ""),
        preferred_currency=row["preferred_currency"],
        language=row["language"],
        tax_exempt=row["tax_exempt"],
        tax_id=row["tax_id"],
        marketing_opt_in=row["marketing_opt_in"],
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        last_login_at=login.get("last_login_at"),
        last_login_ip=login.get("last_login_ip"),
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


async def set_marketing_opt_in(
    company_id: int,
    client_id: int,
    opted_in: bool,
    actor: Actor,
    source: str,
    wording: str = MARKETING_OPT_IN_WORDING,
) -> bool:
    """Sets the client's marketing opt-in and records the change in the consent log, in one
    transaction. Returns whether anything changed (setting the current value again writes
    nothing). Raises NotFound for a client of another company. The client's version moves on,
    so an edit form opened before does not silently put the old choice back."""
    async for transaction in write_transactions():
        async with transaction:
            changed = (
                await Client.update(
                    {
                        Client.marketing_opt_in: opted_in,
                        Client.version: Client.version + 1,
                        Client.updated_at: datetime.now(UTC),
                    }
                )
                .where(
                    Client.id == client_id,
                    Client.company == company_id,
                    Client.marketing_opt_in != opted_in,
                )
                .returning(Client.id)
            )
            if changed:
                await _record_consent(client_id, opted_in, actor, source, wording)
            elif not await Client.exists().where(
                Client.id == client_id, Client.company == company_id
            ):
                raise NotFound()
    return bool(changed)
