"""Companies: creation (with their default "General" client group and staff groups), staff
access to them, and [Settings] > [Company] > General: the company's details and sender, its
logo, time zone and date format, the currencies it accepts and the languages it offers."""

from __future__ import annotations

import io
import zoneinfo
from dataclasses import dataclass, fields, replace
from functools import cache

import anyio.to_thread
import phonenumbers
from piccolo.columns import Column
from PIL import Image, UnidentifiedImageError

from portal.activity import services as activity
from portal.billing.tables import Invoice
from portal.client_groups.tables import ClientGroup
from portal.clients.fields import ADDRESS1, ADDRESS2, CITY, COUNTRY, STATE, ZIP
from portal.clients.tables import Client
from portal.companies.tables import Company, CompanyLogo, CompanySetting
from portal.core.actors import Actor
from portal.core.countries import is_billing_currency, is_country, state_belongs_to
from portal.core.db import read_transaction, write_transactions
from portal.core.errors import NotFound, ValidationError
from portal.core.forms import Field, normalise_email
from portal.core.i18n import LANGUAGES
from portal.core.permissions import COMPANIES_ADD, COMPANY_SETTINGS
from portal.core.rows import from_row
from portal.staff.groups import create_builtin_groups
from portal.staff.tables import StaffCompany

DEFAULT_COMPANY_NAME = "My Company"
DEFAULT_GROUP_NAME = "General"

# strftime pattern -> how the choice reads (the same day in each)
DATE_FORMATS = {
    "%Y-%m-%d": "2026-01-31 (year-month-day)",
    "%d/%m/%Y": "31/01/2026 (day/month/year)",
    "%m/%d/%Y": "01/31/2026 (month/day/year)",
    "%d.%m.%Y": "31.01.2026 (day.month.year)",
    "%d %b %Y": "31 Jan 2026",
}


@cache
def timezones() -> tuple[str, ...]:
    """IANA time zone names, sorted; the old aliases without a region ("EST", "GB") aside."""
    return tuple(sorted(z for z in zoneinfo.available_timezones() if "/" in z or z == "UTC"))


def logo_url(company_id: int, version: int, image_type: str) -> str | None:
    """The logo's path on the portal, or None when the company has none."""
    return f"/logo/{company_id}/{version}.{image_type}" if image_type else None


@dataclass(frozen=True)
class CompanyRef:
    """A company as pages show it: the header's name and logo, the dates' zone and format."""

    id: int
    name: str
    logo_url: str | None = None
    timezone: str = "UTC"
    date_format: str = "%Y-%m-%d"


def _ref_columns(company=Company) -> tuple:
    """The columns of a CompanyRef, of Company or of a foreign key to it."""
    return (
        company.id,
        company.name,
        company.logo_version,
        company.logo_type,
        company.timezone,
        company.date_format,
    )


def company_ref_of_row(row: dict, prefix: str = "") -> CompanyRef:
    """A CompanyRef of a row with `_ref_columns` (named after `prefix`)."""

    def value(name: str):
        return row[prefix + name]

    return CompanyRef(
        id=value("id"),
        name=value("name"),
        logo_url=logo_url(value("id"), value("logo_version"), value("logo_type")),
        timezone=value("timezone"),
        date_format=value("date_format"),
    )


COMPANY_NAME = Field("name", "Company Name", 255, required=True)


def _check(name: str, currency: str, language: str, country: str) -> None:
    errors: dict[str, str] = {}
    COMPANY_NAME.check(errors, name.strip())
    if not is_billing_currency(currency):
        errors["currency"] = f"Unknown currency {currency!r} (use an ISO 4217 code such as USD)."
    if language not in LANGUAGES:
        errors["language"] = f"Unknown language {language!r} (one of {', '.join(LANGUAGES)})."
    if not is_country(country):
        errors["country"] = f"Unknown country {country!r} (use an ISO 3166-1 code such as US)."
    if errors:
        raise ValidationError(errors)


async def create_company(
    name: str,
    currency: str = "USD",
    language: str = "en",
    country: str = "US",
    *,
    administrator_id: int | None = None,
    actor: Actor | None = None,
) -> int:
    """A company with its default client group and its built-in staff groups, in one
    transaction; `administrator_id`, a staff member, joins its Administrators. A change made
    by someone (`actor`, who must be allowed to add companies) goes in the new company's log."""
    if actor is not None:
        actor.require(COMPANIES_ADD)
    currency, country = currency.upper(), country.upper()
    _check(name, currency, language, country)
    async for transaction in write_transactions():
        async with transaction:
            rows = await Company.insert(
                Company(
                    name=name.strip(),
                    default_currency=currency,
                    default_language=language,
                    default_country=country,
                )
            ).returning(Company.id)
            company_id = rows[0]["id"]
            await ClientGroup.insert(
                ClientGroup(
                    company=company_id,
                    name=DEFAULT_GROUP_NAME,
                    description="The default group for new clients.",
                    is_default=True,
                )
            )
            administrators = await create_builtin_groups(company_id)
            if administrator_id is not None:
                await StaffCompany.insert(
                    StaffCompany(
                        staff=administrator_id, company=company_id, staff_group=administrators
                    )
                )
            if actor is not None:
                await activity.record(
                    company_id, actor, "companies", f"Added the company {name.strip()}."
                )
    return company_id


async def ensure_default_company() -> None:
    """The first run of an install creates a company to work in."""
    if not await Company.exists().where(Company.id.is_not_null()):
        await create_company(DEFAULT_COMPANY_NAME)


async def all_companies() -> list[CompanyRef]:
    rows = await Company.select(*_ref_columns()).order_by(Company.id)
    return [company_ref_of_row(row) for row in rows]


async def companies_of_staff(staff_id: int) -> list[CompanyRef]:
    """The companies a staff member may work in (memberships not disabled)."""
    rows = (
        await StaffCompany.select(*_ref_columns(StaffCompany.company))
        .where(StaffCompany.staff == staff_id, StaffCompany.active.eq(True))
        .order_by(StaffCompany.company.name)
    )
    return [company_ref_of_row(row, "company.") for row in rows]


async def company_ref(company_id: int | None) -> CompanyRef | None:
    """The company, or the install's first one when `company_id` is None or unknown (what the
    client area's pages show before anyone logs in)."""
    row = None
    if company_id is not None:
        row = await Company.select(*_ref_columns()).where(Company.id == company_id).first()
    if row is None:
        row = await Company.select(*_ref_columns()).order_by(Company.id).first()
    return company_ref_of_row(row) if row else None


async def get_company(company_id: int, *columns: Column) -> dict:
    """The company's row, with its `columns` (none: all of them)."""
    row = await Company.select(*columns).where(Company.id == company_id).first()
    if row is None:
        raise NotFound()
    return row


async def _save_offered(
    company_id: int,
    key: str,
    codes: list[str],
    default_column: Column,
    default: str,
    actor: Actor,
    summary: str,
) -> None:
    """Stores what the company offers (the setting `key`, a comma-separated list) and the
    default among it (a column of the company's row), with the activity line that says so."""
    await CompanySetting.put(company_id, key, ",".join(codes))
    await Company.update({default_column: default}).where(Company.id == company_id)
    await activity.record(company_id, actor, "settings", summary)


# --- internationalization -------------------------------------------------------------------

LANGUAGES_KEY = "languages"


@dataclass(frozen=True)
class Internationalization:
    enabled: list[str]  # language codes offered to the company's clients, in LANGUAGES order
    default: str


async def internationalization(company_id: int) -> Internationalization:
    """The languages a company offers (all the portal ships, unless staff chose fewer) and its
    default language."""
    company = await get_company(company_id)
    value = await CompanySetting.get(company_id, LANGUAGES_KEY)
    chosen = set(value.split(",")) if value is not None else set(LANGUAGES)
    enabled = [code for code in LANGUAGES if code in chosen] or [company["default_language"]]
    return Internationalization(enabled=enabled, default=company["default_language"])


async def set_internationalization(
    company_id: int, enabled: list[str], default: str, actor: Actor
) -> None:
    actor.require(COMPANY_SETTINGS)
    errors: dict[str, str] = {}
    chosen = [code for code in LANGUAGES if code in set(enabled)]
    if not chosen or len(chosen) != len(set(enabled)):
        errors["languages"] = "Choose at least one of the languages listed."
    elif default not in chosen:
        errors["default_language"] = "The default language must be one of the enabled languages."
    if errors:
        raise ValidationError(errors)
    async for transaction in write_transactions():
        async with transaction:
            await _save_offered(
                company_id,
                LANGUAGES_KEY,
                chosen,
                Company.default_language,
                default,
                actor,
                f"Set the languages offered to clients: {', '.join(LANGUAGES[c] for c in chosen)}"
                f" (default {LANGUAGES[default]}).",
            )


# --- the company's details ------------------------------------------------------------------

PHONE = Field("phone", "Phone Number", 40, autocomplete="tel")
SENDER_NAME = Field("sender_name", "Sender Name", 100)
SENDER_EMAIL = Field("sender_email", "Sender Email", 254)
DETAIL_FIELDS = (COMPANY_NAME, ADDRESS1, ADDRESS2, CITY, COUNTRY, STATE, ZIP, PHONE)


@dataclass
class CompanyDetails:
    """What [Settings] > [Company] > General > Company Details holds. `country` is also the
    country new clients start in."""

    name: str = ""
    address1: str = ""
    address2: str = ""
    city: str = ""
    country: str = ""
    state: str = ""
    zip: str = ""
    phone: str = ""
    sender_name: str = ""
    sender_email: str = ""
    timezone: str = "UTC"
    date_format: str = "%Y-%m-%d"


_LABELS = {
    **{field.name: str(field.label) for field in (*DETAIL_FIELDS, SENDER_NAME, SENDER_EMAIL)},
    "timezone": "Time Zone",
    "date_format": "Date Format",
}


async def company_details(company_id: int) -> CompanyDetails:
    company = await get_company(company_id)
    return from_row(CompanyDetails, company, country=company["default_country"])


def _one_line(value: str) -> bool:
    return not any(ord(char) < 32 for char in value)


def _check_details(details: CompanyDetails) -> CompanyDetails:
    """The details as they are stored (country upper case, phone formatted, email
    normalised), or ValidationError."""
    errors: dict[str, str] = {}
    for field in (*DETAIL_FIELDS, SENDER_NAME, SENDER_EMAIL):
        field.check(errors, getattr(details, field.name))
    country = details.country.upper()
    if "country" not in errors and not is_country(country):
        errors["country"] = "Choose a country from the list."
    elif details.state and not state_belongs_to(details.state, country):
        errors["state"] = "This State/Province is not in the chosen country. Choose one."
    phone = details.phone
    if phone and "phone" not in errors:
        try:
            parsed = phonenumbers.parse(phone, country if is_country(country) else None)
        except phonenumbers.NumberParseException:
            parsed = None
        if parsed is None or not phonenumbers.is_valid_number(parsed):
            errors["phone"] = (
                "Enter a valid phone number, with the area code (and +country code for a "
                "number outside the company's country)."
            )
        else:
            phone = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    if "sender_name" not in errors and not _one_line(details.sender_name):
        errors["sender_name"] = "Sender Name must be one line."
    email = details.sender_email
    if email and "sender_email" not in errors:
        email = normalise_email(email) or ""
        # The From of every message: SMTP without SMTPUTF8 carries ASCII addresses only.
        if not email or not email.isascii():
            errors["sender_email"] = "Enter a valid email address, like billing@example.com."
    if details.timezone not in timezones():
        errors["timezone"] = "Choose a time zone from the list."
    if details.date_format not in DATE_FORMATS:
        errors["date_format"] = "Choose a date format from the list."
    if errors:
        raise ValidationError(errors)
    return replace(details, country=country, phone=phone, sender_email=email)


async def save_company_details(company_id: int, details: CompanyDetails, actor: Actor) -> None:
    actor.require(COMPANY_SETTINGS)
    checked = _check_details(details)
    values = {
        getattr(Company, f.name): getattr(checked, f.name)
        for f in fields(CompanyDetails)
        if f.name != "country"
    }
    values[Company.default_country] = checked.country
    async for transaction in write_transactions():
        async with transaction:
            current = await company_details(company_id)
            changed = [
                _LABELS[f.name]
                for f in fields(CompanyDetails)
                if getattr(current, f.name) != getattr(checked, f.name)
            ]
            await Company.update(values).where(Company.id == company_id)
            if changed:
                await activity.record(
                    company_id,
                    actor,
                    "settings",
                    f"Changed the company's details: {', '.join(changed)}.",
                )


@dataclass(frozen=True)
class MailIdentity:
    """Who the company's mail comes from, and the name and logo its HTML part shows."""

    name: str
    sender_name: str  # empty: the company's name
    sender_email: str  # empty: the portal's PORTAL_MAIL_FROM
    logo_url: str | None  # a path on the portal


async def mail_identity(company_id: int) -> MailIdentity:
    row = await get_company(
        company_id,
        Company.name,
        Company.sender_name,
        Company.sender_email,
        Company.logo_version,
        Company.logo_type,
    )
    return from_row(
        MailIdentity, row, logo_url=logo_url(company_id, row["logo_version"], row["logo_type"])
    )


# --- the logo -------------------------------------------------------------------------------

LOGO_MAX_BYTES = 1024 * 1024
LOGO_MAX_SIDE = 2000  # pixels, either way
# Pillow's format -> (the file extension of the logo's URL, its media type). Only formats that
# cannot carry script: SVG is refused, as is anything else Pillow could read.
LOGO_FORMATS = {
    "PNG": ("png", "image/png"),
    "JPEG": ("jpg", "image/jpeg"),
    "GIF": ("gif", "image/gif"),
    "WEBP": ("webp", "image/webp"),
}
LOGO_MEDIA_TYPES = dict(LOGO_FORMATS.values())
NOT_AN_IMAGE = "Choose a PNG, JPEG, GIF or WebP image (other kinds, SVG included, are refused)."


def logo_problem(data: bytes) -> tuple[str | None, str]:
    """(problem, extension) of an uploaded logo, judged by its content: its size, its format
    and its dimensions (read from the header before anything is decoded, so a small file that
    would decompress into a huge image is refused), then a full decode of the first frame, so a
    damaged file is refused too. Run in a worker thread."""
    if not data:
        return "Choose an image file to upload.", ""
    if len(data) > LOGO_MAX_BYTES:
        return "The image is larger than 1 MB. Choose a smaller one.", ""
    too_large = f"{LOGO_MAX_SIDE}×{LOGO_MAX_SIDE} pixels"
    try:
        with Image.open(io.BytesIO(data), formats=list(LOGO_FORMATS)) as image:
            width, height = image.size
            if not (0 < width <= LOGO_MAX_SIDE and 0 < height <= LOGO_MAX_SIDE):
                return (
                    f"The image is {width}×{height} pixels; a logo may be at most {too_large}.",
                    "",
                )
            image_format = image.format or ""
            image.load()
    except Image.DecompressionBombError:
        return f"The image has too many pixels; a logo may be at most {too_large}.", ""
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return NOT_AN_IMAGE, ""
    if image_format not in LOGO_FORMATS:
        return NOT_AN_IMAGE, ""
    return None, LOGO_FORMATS[image_format][0]


async def set_logo(company_id: int, data: bytes, actor: Actor) -> None:
    """Replaces the company's logo with an uploaded image (ValidationError on "logo" when it
    is not one the portal serves)."""
    actor.require(COMPANY_SETTINGS)
    problem, extension = await anyio.to_thread.run_sync(logo_problem, data)
    if problem:
        raise ValidationError({"logo": problem})
    async for transaction in write_transactions():
        async with transaction:
            await CompanyLogo.delete().where(CompanyLogo.company == company_id)
            await CompanyLogo.insert(CompanyLogo(company=company_id, content=data))
            await Company.update(
                {Company.logo_version: Company.logo_version + 1, Company.logo_type: extension}
            ).where(Company.id == company_id)
            await activity.record(company_id, actor, "settings", "Uploaded a new logo.")


async def remove_logo(company_id: int, actor: Actor) -> None:
    actor.require(COMPANY_SETTINGS)
    async for transaction in write_transactions():
        async with transaction:
            await CompanyLogo.delete().where(CompanyLogo.company == company_id)
            # The version stays: a later logo gets a URL no browser has cached.
            await Company.update({Company.logo_type: ""}).where(Company.id == company_id)
            await activity.record(company_id, actor, "settings", "Removed the logo.")


async def logo_image(company_id: int, version: int, extension: str) -> tuple[bytes, str]:
    """(content, media type) of the logo at that URL; NotFound for any other version."""
    row = (
        await CompanyLogo.select(CompanyLogo.content)
        .where(
            CompanyLogo.company == company_id,
            CompanyLogo.company.logo_version == version,
            CompanyLogo.company.logo_type == extension,
        )
        .first()
    )
    if row is None or extension not in LOGO_MEDIA_TYPES:
        raise NotFound()
    return bytes(row["content"]), LOGO_MEDIA_TYPES[extension]


# --- accepted currencies --------------------------------------------------------------------

CURRENCIES_KEY = "currencies"


async def _chosen_currencies(company_id: int) -> list[str] | None:
    value = await CompanySetting.get(company_id, CURRENCIES_KEY)
    return value.split(",") if value is not None else None


async def accepted_currencies(company_id: int) -> list[str]:
    """The currencies the company bills in, its default first: the ones staff chose, or, until
    they do, the default and every currency its clients prefer."""
    async with read_transaction():
        default = (await get_company(company_id))["default_currency"]
        chosen = await _chosen_currencies(company_id)
        if chosen is None:
            rows = (
                await Client.select(Client.preferred_currency)
                .distinct()
                .where(Client.company == company_id)
            )
            chosen = [row["preferred_currency"] for row in rows]
    others = sorted({code for code in chosen if is_billing_currency(code)} - {default})
    return [default, *others]


async def currency_accepted(company_id: int, code: str) -> bool:
    """Whether the company bills in `code` (cheaper than listing them all: the default is
    known at once, and a client using the code is looked up alone)."""
    if not is_billing_currency(code):
        return False
    async with read_transaction():
        if (await get_company(company_id))["default_currency"] == code:
            return True
        chosen = await _chosen_currencies(company_id)
        if chosen is not None:
            return code in chosen
        return await Client.exists().where(
            Client.company == company_id, Client.preferred_currency == code
        )


def _counted(count: int, one: str, many: str) -> str:
    return f"{count:,} {one if count == 1 else many}"


async def _currency_in_use(company_id: int, code: str) -> str | None:
    """Why the company cannot stop accepting `code`, or None."""
    clients = await Client.count().where(
        Client.company == company_id, Client.preferred_currency == code
    )
    invoices = await Invoice.count().where(
        Invoice.company == company_id,
        Invoice.currency == code,
        Invoice.status.is_in(["open", "draft"]),
    )
    if not clients and not invoices:
        return None
    users = []
    if clients:
        users.append(f"{_counted(clients, 'client uses', 'clients use')} it as Preferred Currency")
    if invoices:
        users.append(f"{_counted(invoices, 'unpaid invoice is', 'unpaid invoices are')} in it")
    return f"{code} cannot be removed: {' and '.join(users)}."


async def set_currencies(company_id: int, accepted: list[str], default: str, actor: Actor) -> None:
    """The currencies the company accepts and its default one. A currency clients prefer or
    unpaid invoices are in cannot be removed (ValidationError on "currencies")."""
    actor.require(COMPANY_SETTINGS)
    codes = sorted({code.strip().upper() for code in accepted})
    default = default.strip().upper()
    errors: dict[str, str] = {}
    if not all(is_billing_currency(code) for code in codes):
        errors["currencies"] = "Choose currencies from the list."
    elif default not in codes:
        errors["default_currency"] = (
            "The default currency must be one the company accepts: choose another default "
            "before removing it."
        )
    if errors:
        raise ValidationError(errors)
    async for transaction in write_transactions():
        async with transaction:
            current = await accepted_currencies(company_id)
            for code in sorted(set(current) - set(codes)):
                if problem := await _currency_in_use(company_id, code):
                    raise ValidationError({"currencies": problem})
            await _save_offered(
                company_id,
                CURRENCIES_KEY,
                codes,
                Company.default_currency,
                default,
                actor,
                f"Set the currencies accepted: {', '.join(codes)} (default {default}).",
            )
