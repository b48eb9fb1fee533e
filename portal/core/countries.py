"""Countries (ISO 3166-1), their subdivisions (ISO 3166-2) and currencies (ISO 4217), named in
a language through pycountry's own translation catalogs."""

from __future__ import annotations

import gettext
import unicodedata
from functools import cache

import pycountry


def _sort_key(text: str) -> str:
    # Accents aside, so that "Österreich" sorts with the O's.
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


@cache
def _catalog(domain: str, language: str) -> gettext.NullTranslations:
    if language == "en":
        # pycountry's own names are English for countries and currencies, and the local names
        # for subdivisions ("Bayern"), which is what people in that country write.
        return gettext.NullTranslations()
    return gettext.translation(domain, pycountry.LOCALES_DIR, languages=[language], fallback=True)


def _name(record) -> str:
    return getattr(record, "common_name", None) or record.name


@cache
def countries(language: str = "en") -> tuple[tuple[str, str], ...]:
    """(alpha-2, name) of every country, sorted by name in `language`."""
    catalog = _catalog("iso3166-1", language)
    named = [(c.alpha_2, catalog.gettext(_name(c))) for c in pycountry.countries]
    return tuple(sorted(named, key=lambda item: _sort_key(item[1])))


def country_name(code: str, language: str = "en") -> str:
    country = pycountry.countries.get(alpha_2=code) if code else None
    return _catalog("iso3166-1", language).gettext(_name(country)) if country else code


def is_country(code: str) -> bool:
    return (
        bool(code) and len(code) == 2 and pycountry.countries.get(alpha_2=code.upper()) is not None
    )


@cache
def subdivisions(country: str, language: str = "en") -> tuple[tuple[str, str], ...]:
    """(ISO 3166-2 code, name) of the subdivisions of a country, sorted by name; maybe empty."""
    found = pycountry.subdivisions.get(country_code=country) if is_country(country) else None
    if not found:
        return ()
    catalog = _catalog("iso3166-2", language)
    named = [(s.code, catalog.gettext(s.name)) for s in found]
    return tuple(sorted(named, key=lambda item: _sort_key(item[1])))


def subdivision_name(code: str, language: str = "en") -> str:
    subdivision = pycountry.subdivisions.get(code=code) if code else None
    return _catalog("iso3166-2", language).gettext(subdivision.name) if subdivision else code


def state_belongs_to(state: str, country: str) -> bool:
    return any(code == state for code, _ in subdivisions(country))


@cache
def currencies(language: str = "en") -> tuple[tuple[str, str], ...]:
    """(ISO 4217 code, "CODE – name") sorted by code."""
    catalog = _catalog("iso4217", language)
    return tuple(
        sorted(
            (c.alpha_3, f"{c.alpha_3} – {catalog.gettext(c.name)}") for c in pycountry.currencies
        )
    )


def is_currency(code: str) -> bool:
    return (
        bool(code) and len(code) == 3 and pycountry.currencies.get(alpha_3=code.upper()) is not None
    )


# ISO 4217 codes that are not money a company bills in: precious metals, bond-market and
# accounting units, funds, the testing code and "no currency".
NOT_BILLED = frozenset(
    "BOV CHE CHW CLF COU MXV USN UYI UYW XAD XAG XAU XBA XBB XBC XBD XDR XPD XPT XSU XTS XUA "
    "XXX".split()
)


def is_billing_currency(code: str) -> bool:
    """A currency a company may accept: ISO 4217, and money (see NOT_BILLED)."""
    return is_currency(code) and code.upper() not in NOT_BILLED


@cache
def billing_currencies(language: str = "en") -> tuple[tuple[str, str], ...]:
    """(code, "CODE – name") of the currencies a company may accept, sorted by code."""
    return tuple(item for item in currencies(language) if item[0] not in NOT_BILLED)


def currency_choices(codes: list[str], language: str = "en") -> list[tuple[str, str]]:
    """(code, "CODE – name") of `codes`, in their order, for a select."""
    names = dict(currencies(language))
    return [(code, names.get(code, code)) for code in codes]
