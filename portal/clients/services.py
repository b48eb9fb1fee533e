"""Clients: the rules for creating, editing and reading a client, in one place.

The admin area, the client area, the JSON API and plugins all call these functions.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import phonenumbers

from portal.client_groups.services import (
    ALWAYS_REQUIRED,
    EffectiveSettings,
    check_custom_values,
    custom_values,
    effective_settings,
    get_group,
    list_fields,
    save_clients_custom_values,
    save_custom_values,
)
from portal.client_groups.tables import ClientGroup
from portal.clients import audit, users, verification
from portal.clients.fields import CONTACT_FIELDS, EMAIL, FAX, PHONE, STATE, TAX_ID
from portal.clients.tables import (
    AccountMember,
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
from portal.core.db import insert_rows, lock_name, locked, read_transaction, write_transactions
from portal.core.errors import Conflict, NotFound, ValidationError
from portal.core.forms import normalise_email
from portal.core.i18n import N_, Message
from portal.core.ids import is_row_id, parse_id
from portal.core.passwords import hash_password, password_problem
from portal.core.permissions import CLIENTS_EDIT
from portal.core.rows import from_row
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
    "WHERE client.company = {} AND lower(contact.email) = lower({}) AND contact.client <> {} "
    "LIMIT 1"
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
class CheckedClient:
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


EMAIL_IN_USE = N_("Another client already uses this email address.")


async def email_in_use(company_id: int, email: str, scope: str, client_id: int | None) -> bool:
    """Whether another client of the company has this email on its primary contact, or (scope
    "all") on any of its contacts."""
    query = EMAIL_IN_USE_PRIMARY if scope == "primary" else EMAIL_IN_USE_ANY
    return bool(await Contact.raw(query, company_id, email, client_id or 0))


CHOOSE_GROUP = "Choose a client group from the list."


async def hold_group(company_id: int, group_id: int) -> None:
    """Inside the write transaction that puts a client in the group: the group held until
    commit (its delete waits, then moves the client too), or, deleted since the form was
    checked, the form's own message rather than the foreign key's failure."""
    held = await locked(
        ClientGroup.select(ClientGroup.id).where(
            ClientGroup.id == group_id, ClientGroup.company == company_id
        ),
        "KEY SHARE",
    )
    if not held:
        raise ValidationError({"group_id": CHOOSE_GROUP})


async def hold_contact_email(
    company_id: int, email: str, scope: str, client_id: int | None
) -> None:
    """Inside the write transaction that gives a contact of `client_id` (None: a new client)
    the address `email`, under a group rule that contact emails are unique (`scope` "primary"
    or "all"; "no" holds nothing): the company's writers of that address wait for each other
    and the address is checked again, so that clients added or edited at once cannot both
    take it. The check before the transaction answers the form; this one keeps the rule."""
    if not email or scope == "no":
        return
    await lock_name(f"contact-email:{company_id}:{email.casefold()}")
    if await email_in_use(company_id, email, scope, client_id):
        raise ValidationError({"email": EMAIL_IN_USE})


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


@dataclass(frozen=True)
class ClientRules:
    """What a client's details are checked against: the languages the company offers and the
    chosen group's settings and custom fields (`group_id` None: no such group)."""

    languages: frozenset[str]
    group_id: int | None
    settings: EffectiveSettings | None
    fields: list[dict]


async def client_rules(company_id: int, group_id_text: str, client_id: int | None) -> ClientRules:
    languages = frozenset((await internationalization(company_id)).enabled)
    group_id = parse_id(group_id_text)
    if group_id is None or not await ClientGroup.exists().where(
        ClientGroup.id == group_id, ClientGroup.company == company_id
    ):
        return ClientRules(languages, None, None, [])
    settings = await effective_settings(company_id, group_id, client_id)
    return ClientRules(languages, group_id, settings, await list_fields(company_id, group_id))


def check_client(
    details: ClientDetails,
    rules: ClientRules,
    *,
    currency_accepted: bool,
    current_custom: dict[int, str] | None = None,
    by_client: bool = False,
) -> CheckedClient:
    """Every rule of a client's details that needs no lookup of other clients (the uniqueness
    of its email and username is checked by the caller)."""
    errors: dict[str, str] = {}
    email, numbers = check_contact_fields(details, errors)
    TAX_ID.check(errors, details.tax_id)
    if not currency_accepted:
        errors["preferred_currency"] = "Choose a currency from the list."
    if details.language not in rules.languages:
        errors["language"] = N_("Choose a language from the list.")
    if rules.group_id is None:
        errors["group_id"] = CHOOSE_GROUP
    custom: dict[int, str] = {}
    if rules.settings is not None:
        check_required_fields(details, numbers, rules.settings, errors)
        custom, custom_errors = check_custom_values(
            rules.fields, details.custom, current=current_custom, by_client=by_client
        )
        errors.update(custom_errors)
    username = _username(details, email, rules.settings, errors)
    return CheckedClient(
        errors, numbers, email, username, rules.group_id, rules.settings, rules.fields, custom
    )


async def _validate(
    company_id: int,
    details: ClientDetails,
    *,
    password: str | None,
    password_required: bool,
    client_id: int | None,
    by_client: bool = False,
    kept_currency: str | None = None,
) -> CheckedClient:
    """Checks every field, under the rules of the chosen client group. A client's own edit is
    checked against the custom fields it may see and change; the others keep their values.
    The Preferred Currency must be one the company accepts, unless it is `kept_currency` (the
    client's own, unchanged)."""
    rules = await client_rules(company_id, details.group_id, client_id)
    checked = check_client(
        details,
        rules,
        currency_accepted=details.preferred_currency == kept_currency
        or await currency_accepted(company_id, details.preferred_currency),
        current_custom=await custom_values(client_id) if by_client and client_id else None,
        by_client=by_client,
    )
    errors, email, username = checked.errors, checked.email, checked.username
    unique_emails = _email_scope(checked)
    if email and unique_emails != "no" and "email" not in errors:
        if await email_in_use(company_id, email, unique_emails, client_id):
            errors["email"] = EMAIL_IN_USE
    login = await users.primary_login(client_id) if client_id else None
    if username and await users.username_taken(
        company_id, username, except_user_id=login["id"] if login else None
    ):
        # The email's own message first, when the email is the username and both are taken.
        errors.setdefault(
            "email" if details.username_mode == "email" else "username", users.USERNAME_TAKEN
        )

    if password or password_required:
        user_inputs = (details.email, username, details.first_name, details.last_name)
        if problem := password_problem(password or "", user_inputs=user_inputs):
            errors["password"] = "Password is required." if not password else problem
    return checked


def _email_scope(checked: CheckedClient) -> str:
    """How unique the client's group wants contact emails: "no", "primary" or "all"."""
    return checked.settings.unique_contact_emails if checked.settings else "no"


def _duplicate_username_error(
    error: BaseException, details: ClientDetails
) -> ValidationError | None:
    if users.is_duplicate_username(error):
        name = "email" if details.username_mode == "email" else "username"
        return ValidationError({name: users.USERNAME_TAKEN})
    return None


# --- client IDs -----------------------------------------------------------------------------


# Codes of a format that another format has given already (`{num}` from 1811 and `1{num}` from
# 811 both give 1811) are passed over, this many in a row at most: past that the two formats
# overlap for good, and staff must change one.
MAX_TAKEN_CLIENT_IDS_IN_A_ROW = 1000


async def next_client_ids(
    company_id: int,
    id_format: str,
    start: int,
    increment: int,
    count: int,
    *,
    taken: Collection[str] = (),
) -> list[tuple[int, str]] | None:
    """Takes the next `count` numbers of a client ID format (one sequence per company and
    format, created at `start`) whose codes no client of the company has, nor `taken` (the
    codes of the caller's batch): [(number, code)]. Called inside the write transaction that
    inserts the clients. None when MAX_TAKEN_CLIENT_IDS_IN_A_ROW codes in a row are taken:
    the caller names the setting to change."""
    await _lock_sequence(company_id, id_format, start)
    rows = await ClientIdSequence.raw(
        "UPDATE client_id_sequence SET next_value = next_value + {} "
        "WHERE company = {} AND id_format = {} RETURNING next_value",
        count * increment,
        company_id,
        id_format,
    )
    taken_up_to = rows[0]["next_value"]
    number = taken_up_to - count * increment
    ids: list[tuple[int, str]] = []
    taken_in_a_row = 0
    while len(ids) < count:
        # The codes still wanted, and as many more as the run of taken ones so far: a long run
        # is passed over in a few queries.
        codes = {
            n: id_format.replace("{num}", str(n))
            for n in range(
                number, number + (count - len(ids) + taken_in_a_row) * increment, increment
            )
        }
        in_use = await _codes_in_use(company_id, list(codes.values()))
        for n, code in codes.items():
            number = n + increment
            if code in in_use or code in taken:
                taken_in_a_row += 1
                if taken_in_a_row >= MAX_TAKEN_CLIENT_IDS_IN_A_ROW:
                    return None
                continue
            taken_in_a_row = 0
            ids.append((n, code))
            if len(ids) == count:
                break
    if number != taken_up_to:
        await ClientIdSequence.update({ClientIdSequence.next_value: number}).where(
            ClientIdSequence.company == company_id, ClientIdSequence.id_format == id_format
        )
    return ids


async def _kept_client_id(
    company_id: int, settings: EffectiveSettings, number: int
) -> tuple[int, str]:
    """A number brought from another system (an import keeps its client IDs): the sequence of
    the format moves past it, so that the clients added later never take it."""
    await _lock_sequence(company_id, settings.client_id_format, settings.client_id_start)
    await ClientIdSequence.raw(
        "UPDATE client_id_sequence SET next_value = {} "
        "WHERE company = {} AND id_format = {} AND next_value < {}",
        number + settings.client_id_increment,
        company_id,
        settings.client_id_format,
        number + settings.client_id_increment,
    )
    return number, settings.client_id_format.replace("{num}", str(number))


async def _lock_sequence(company_id: int, id_format: str, start: int) -> None:
    """The company's client IDs locked until commit, and the format's sequence, created at
    `start` if new. One lock for all of the company's formats, taken before any sequence's row:
    two formats may give the same code, and two creates of different formats must not both
    find it free."""
    await lock_name(f"client-ids:{company_id}")
    await ClientIdSequence.raw(
        "INSERT INTO client_id_sequence (company, id_format, next_value) VALUES ({}, {}, {}) "
        "ON CONFLICT (company, id_format) DO NOTHING",
        company_id,
        id_format,
        start,
    )


async def _codes_in_use(company_id: int, codes: list[str]) -> set[str]:
    rows = await Client.select(Client.code).where(
        Client.company == company_id, Client.code.is_in(codes)
    )
    return {row["code"] for row in rows}


async def _client_ids(company_id: int, new_clients: list[NewClient]) -> list[tuple[int, str]]:
    """Each new client's number and code, in order: the number it keeps (an import's), else the
    next free one of its group's format. The kept ones come first, so that the others pass
    over their codes."""
    ids: dict[int, tuple[int, str]] = {}
    waiting: dict[tuple[str, int, int], list[int]] = {}  # (format, start, increment): indexes
    for index, new in enumerate(new_clients):
        settings = new.checked.settings
        assert settings is not None and new.checked.group_id is not None
        if new.number is not None:
            ids[index] = await _kept_client_id(company_id, settings, new.number)
        else:
            rule = (
                settings.client_id_format,
                settings.client_id_start,
                settings.client_id_increment,
            )
            waiting.setdefault(rule, []).append(index)
    for (id_format, start, increment), indexes in waiting.items():
        taken = {code for _, code in ids.values()}
        found = await next_client_ids(
            company_id, id_format, start, increment, len(indexes), taken=taken
        )
        if found is None:
            raise await _client_ids_taken(company_id, new_clients[indexes[0]].checked)
        ids.update(zip(indexes, found, strict=True))
    return [ids[index] for index in range(len(new_clients))]


async def _client_ids_taken(company_id: int, checked: CheckedClient) -> ValidationError:
    """The answer when the next codes of the group's format all belong to other clients."""
    assert checked.settings is not None and checked.group_id is not None
    if checked.settings.sources["client_id_format"] == "group":
        group = await get_group(company_id, checked.group_id)
        setting = f"the Client ID format of the client group {group['name']} (Client Groups)"
    else:
        setting = "the company's Client ID format (Client Settings)"
    return ValidationError(
        {
            "group_id": f"The next {MAX_TAKEN_CLIENT_IDS_IN_A_ROW} client IDs of the format "
            f"{checked.settings.client_id_format} all belong to clients of another format: "
            f"change {setting}."
        }
    )


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


NUMBER_COLUMNS = (
    ContactNumber.contact,
    ContactNumber.number_type,
    ContactNumber.location,
    ContactNumber.number,
    ContactNumber.extension,
    ContactNumber.position,
)
NEW_CLIENT_COLUMNS = (
    Client.company,
    Client.group,
    Client.number,
    Client.code,
    Client.status,
    # The contact's trigger keeps it; given here, it spares an update of every new client.
    Client.country,
    Client.preferred_currency,
    Client.language,
    Client.tax_exempt,
    Client.tax_id,
    Client.marketing_opt_in,
)
NEW_USER_COLUMNS = (
    AccountUser.company,
    AccountUser.username,
    AccountUser.email,
    AccountUser.name,
    AccountUser.password_hash,
    AccountUser.language,
)
# A contact's names, address and email, in the order of the forms.
CONTACT_DETAIL_COLUMNS = (
    Contact.first_name,
    Contact.last_name,
    Contact.company,
    Contact.title,
    Contact.address1,
    Contact.address2,
    Contact.city,
    Contact.state,
    Contact.zip,
    Contact.country,
    Contact.email,
)
NEW_CONTACT_COLUMNS = (Contact.client, Contact.contact_type, Contact.login, *CONTACT_DETAIL_COLUMNS)


def number_row(number: CleanNumber, position: int) -> tuple:
    """A number's columns after its contact (NUMBER_COLUMNS)."""
    return (number.number_type, number.location, number.e164, number.extension, position)


async def insert_numbers(contact_id: int, numbers: list[CleanNumber]) -> None:
    await insert_rows(
        ContactNumber,
        NUMBER_COLUMNS,
        [(contact_id, *number_row(number, position)) for position, number in enumerate(numbers)],
    )


async def record_consent(
    client_id: int,
    opted_in: bool,
    actor: Actor,
    source: str,
    wording: str = MARKETING_OPT_IN_WORDING,
    *,
    contacts: Iterable[int | None] = (None,),
    address: str | None = None,
) -> None:
    """Inside the caller's write transaction: a line in the consent log for each of `contacts`
    (None: the client's own consent, which is its primary contact's; an id: a billing or other
    contact's own), with the wording the choice was made against and the address it was made
    from (the actor's unless `address` says otherwise). Every writer of the log but the demo's
    bulk load comes here."""
    given_from = actor.address if address is None else address
    await ConsentEvent.insert(
        *(
            ConsentEvent(
                client=client_id,
                contact=contact_id,
                opted_in=opted_in,
                actor=actor.label[:100],
                source=source[:50],
                wording=wording,
                address=given_from[:45],
            )
            for contact_id in contacts
        )
    )


@dataclass(frozen=True)
class NewClient:
    """A client ready to be written: its details and what checking them gave."""

    details: ClientDetails
    checked: CheckedClient
    password_hash: str | None  # None: no password yet (an imported client)
    status: str = "active"
    number: int | None = None  # the client ID's number another system gave it; None: the next


async def _hold_references(company_id: int, new_clients: list[NewClient]) -> None:
    """What new clients refer to, as it was checked: their groups, held until commit, and,
    under a group's rule, their contact addresses (ValidationError for one gone or taken
    meanwhile). Groups by ID, then addresses in order, then the client IDs: every writer
    takes these locks in that order, so that none waits for another in a circle."""
    for group_id in sorted({new.checked.group_id or 0 for new in new_clients}):
        await hold_group(company_id, group_id)
    addresses = {(new.checked.email, _email_scope(new.checked)) for new in new_clients}
    for email, scope in sorted(addresses):
        await hold_contact_email(company_id, email, scope, None)


async def insert_clients(
    company_id: int,
    new_clients: list[NewClient],
    actor: Actor,
    *,
    consent_source: str,
    consent_wording: str = MARKETING_OPT_IN_WORDING,
    audit_note: str = "created",
    log_activity: bool = True,
) -> list[int]:
    """The rows of new clients, inside the write transaction that creates them (one client from
    the Add Client form, or a whole batch of an import), with multi-row INSERTs: each client
    under the next ID of its group's format, with its owner login, primary contact, numbers,
    custom values, consent record and audit line. Returns their IDs, in order."""
    if not new_clients:
        return []
    await _hold_references(company_id, new_clients)
    codes = await _client_ids(company_id, new_clients)
    inserted = await insert_rows(
        Client,
        NEW_CLIENT_COLUMNS,
        [
            (
                company_id,
                new.checked.group_id,
                number,
                code,
                new.status,
                new.details.country.upper(),
                new.details.preferred_currency,
                new.details.language,
                new.details.tax_exempt,
                new.details.tax_id,
                new.details.marketing_opt_in,
            )
            for new, (number, code) in zip(new_clients, codes, strict=True)
        ],
        Client.code,
    )
    # RETURNING does not promise the order of the VALUES: rows are matched by a unique value.
    client_by_code = {row["code"]: row["id"] for row in inserted}
    client_ids = [client_by_code[code] for _, code in codes]
    placed = list(zip(new_clients, client_ids, strict=True))
    inserted = await insert_rows(
        AccountUser,
        NEW_USER_COLUMNS,
        [
            (
                company_id,
                users.normalise_username(new.checked.username),
                new.checked.email,
                f"{new.details.first_name} {new.details.last_name}".strip()[:201],
                new.password_hash,
                new.details.language,
            )
            for new in new_clients
        ],
        AccountUser.username,
    )
    user_by_name = {row["username"]: row["id"] for row in inserted}
    owner_ids = [
        user_by_name[users.normalise_username(new.checked.username)] for new in new_clients
    ]
    await insert_rows(
        AccountMember,
        (AccountMember.user, AccountMember.client, AccountMember.owner, AccountMember.permissions),
        [
            (owner_id, client_id, True, "")
            for owner_id, client_id in zip(owner_ids, client_ids, strict=True)
        ],
    )
    inserted = await insert_rows(
        Contact,
        NEW_CONTACT_COLUMNS,
        [
            (
                client_id,
                "primary",
                owner_id,
                *contact_values(new.details, new.checked.email).values(),
            )
            for (new, client_id), owner_id in zip(placed, owner_ids, strict=True)
        ],
        Contact.client,
    )
    contact_by_client = {row["client"]: row["id"] for row in inserted}
    await insert_rows(
        ContactNumber,
        NUMBER_COLUMNS,
        [
            (contact_by_client[client_id], *number_row(number, position))
            for new, client_id in placed
            for position, number in enumerate(new.checked.numbers)
        ],
    )
    await save_clients_custom_values(
        {
            client_id: new.checked.custom_values
            for new, client_id in placed
            if new.checked.custom_values
        }
    )
    await insert_rows(
        ConsentEvent,
        (
            ConsentEvent.client,
            ConsentEvent.opted_in,
            ConsentEvent.actor,
            ConsentEvent.source,
            ConsentEvent.wording,
            ConsentEvent.address,
        ),
        [
            (
                client_id,
                True,
                actor.label[:100],
                consent_source[:50],
                consent_wording,
                actor.address[:45],
            )
            for new, client_id in placed
            if new.details.marketing_opt_in
        ],
    )
    await audit.record_created(
        company_id,
        [(client_id, code) for client_id, (_, code) in zip(client_ids, codes, strict=True)],
        actor,
        audit_note,
        log_activity=log_activity,
    )
    return client_ids


async def create_client(
    company_id: int,
    details: ClientDetails,
    password: str | None,
    actor: Actor,
    source: str = "admin-add-client",
) -> int:
    """Creates the client, its primary contact, numbers, custom values and consent record in one
    transaction, under the next client ID of its group's format; sends the registration email
    when asked. `password` None: the owner has none until it chooses one (as an imported
    client); Add Client requires one. `source` names where the client came from (consent
    records)."""
    actor.require(CLIENTS_EDIT)
    checked = await _validate(
        company_id,
        details,
        password=password,
        password_required=password is not None,
        client_id=None,
    )
    if checked.errors:
        raise ValidationError(checked.errors)
    password_hash = await hash_password(password) if password is not None else None
    try:
        async for transaction in write_transactions():
            async with transaction:
                new = NewClient(details, checked, password_hash)
                [client_id] = await insert_clients(company_id, [new], actor, consent_source=source)
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
                assert checked.group_id is not None
                await hold_group(company_id, checked.group_id)
                await hold_contact_email(
                    company_id, checked.email, _email_scope(checked), client_id
                )
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
                    await record_consent(client_id, details.marketing_opt_in, actor, source)
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
    return from_row(
        ClientView,
        row,
        username=login.get("username", ""),
        last_login_at=login.get("last_login_at"),
        last_login_ip=login.get("last_login_ip"),
        group_id=row["group"],
        group_name=row["group.name"],
        group_colour=row["group.colour"],
        contact=contact,
        numbers=number_views(numbers),
    )


def number_views(numbers: list[dict]) -> list[Number]:
    """A contact's stored numbers (in their order) as pages show them; the first fax is the
    one invoices print."""
    first_fax = next((n["id"] for n in numbers if n["number_type"] == "fax"), None)
    return [
        from_row(
            Number,
            n,
            e164=n["number"],
            display=format_number(n["number"], n["extension"]),
            is_default_fax=n["id"] == first_fax,
        )
        for n in numbers
    ]


async def groups_of_company(company_id: int) -> list[dict]:
    return (
        await ClientGroup.select(ClientGroup.id, ClientGroup.name, ClientGroup.is_default)
        .where(ClientGroup.company == company_id)
        .order_by(ClientGroup.is_default, ascending=False)
        .order_by(ClientGroup.name)
    )


@dataclass(frozen=True)
class ConsentLine:
    """A consent record as staff read it: who, through what, against which words."""

    opted_in: bool
    at: datetime
    who: str
    through: str
    wording: str


async def consent_events(company_id: int, client_id: int) -> list[ConsentLine]:
    await audit.client_code(company_id, client_id)  # NotFound unless it is the company's
    rows = (
        await ConsentEvent.select()
        .where(ConsentEvent.client == client_id)
        .order_by(ConsentEvent.id)
    )
    return [
        ConsentLine(
            opted_in=row["opted_in"], at=row["at"], who=who, through=through, wording=row["wording"]
        )
        for row, (who, through) in zip(rows, await audit.consent_words(rows), strict=True)
    ]


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
                await record_consent(client_id, opted_in, actor, source, wording)
            elif not await Client.exists().where(
                Client.id == client_id, Client.company == company_id
            ):
                raise NotFound()
    return bool(changed)
