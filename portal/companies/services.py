"""Companies: creation (with their default "General" client group) and staff access to them."""

from __future__ import annotations

from dataclasses import dataclass

from portal.client_groups.tables import ClientGroup
from portal.companies.tables import Company, CompanySetting
from portal.core.countries import is_country, is_currency
from portal.core.db import write_transactions
from portal.core.errors import NotFound, ValidationError
from portal.core.forms import Field
from portal.core.i18n import LANGUAGES
from portal.staff.tables import StaffCompany

DEFAULT_COMPANY_NAME = "My Company"
DEFAULT_GROUP_NAME = "General"


@dataclass(frozen=True)
class CompanyRef:
    id: int
    name: str


COMPANY_NAME = Field("name", "Name", 255, required=True)


def _check(name: str, currency: str, language: str, country: str) -> None:
    errors: dict[str, str] = {}
    COMPANY_NAME.check(errors, name.strip())
    if not is_currency(currency):
        errors["currency"] = f"Unknown currency {currency!r} (use an ISO 4217 code such as USD)."
    if language not in LANGUAGES:
        errors["language"] = f"Unknown language {language!r} (one of {', '.join(LANGUAGES)})."
    if not is_country(country):
        errors["country"] = f"Unknown country {country!r} (use an ISO 3166-1 code such as US)."
    if errors:
        raise ValidationError(errors)


async def create_company(
    name: str, currency: str = "USD", language: str = "en", country: str = "US"
) -> int:
    """A company and its default client group, in one transaction."""
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
    return company_id


async def ensure_default_company() -> None:
    """The first run of an install creates a company to work in."""
    if not await Company.exists().where(Company.id.is_not_null()):
        await create_company(DEFAULT_COMPANY_NAME)


async def all_companies() -> list[CompanyRef]:
    rows = await Company.select(Company.id, Company.name).order_by(Company.id)
    return [CompanyRef(**row) for row in rows]


async def companies_of_staff(staff_id: int) -> list[CompanyRef]:
    rows = (
        await StaffCompany.select(StaffCompany.company.id, StaffCompany.company.name)
        .where(StaffCompany.staff == staff_id)
        .order_by(StaffCompany.company.name)
    )
    return [CompanyRef(id=row["company.id"], name=row["company.name"]) for row in rows]


async def get_company(company_id: int) -> dict:
    row = await Company.select().where(Company.id == company_id).first()
    if row is None:
        raise NotFound()
    return row


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
    row = (
        await CompanySetting.select(CompanySetting.value)
        .where(CompanySetting.company == company_id, CompanySetting.key == LANGUAGES_KEY)
        .first()
    )
    chosen = set(row["value"].split(",")) if row else set(LANGUAGES)
    enabled = [code for code in LANGUAGES if code in chosen] or [company["default_language"]]
    return Internationalization(enabled=enabled, default=company["default_language"])


async def set_internationalization(company_id: int, enabled: list[str], default: str) -> None:
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
            await CompanySetting.delete().where(
                CompanySetting.company == company_id, CompanySetting.key == LANGUAGES_KEY
            )
            await CompanySetting.insert(
                CompanySetting(company=company_id, key=LANGUAGES_KEY, value=",".join(chosen))
            )
            await Company.update({Company.default_language: default}).where(
                Company.id == company_id
            )
