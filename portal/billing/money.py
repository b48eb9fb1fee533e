"""Money as integer minor units: parsing what people type, and showing amounts.

An amount is stored as a whole number of the currency's minor unit (USD 12.34 -> 1234, JPY 500 ->
500), its decimal places taken from CLDR through Babel. Arithmetic happens on integers or on
`Decimal`; a float never touches money."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from babel.numbers import format_currency, get_currency_precision

from portal.core.countries import is_currency

# Digits, optionally one decimal point (or comma) and more digits. No sign, no exponent, no
# thousands separators: "1,234.50" would be ambiguous between locales.
AMOUNT = re.compile(r"([0-9]{1,15})(?:[.,]([0-9]{1,10}))?")
MAX_MAJOR_UNITS = 10**12  # a trillion: far above any invoice, far below BIGINT's limit


class AmountError(ValueError):
    """What is wrong with a typed amount, in words for the person who typed it."""


def precision(currency: str) -> int:
    return get_currency_precision(currency.upper())


def parse_amount(text: str, currency: str, *, allow_zero: bool = False) -> int:
    """The typed amount in minor units of `currency`. Raises AmountError with a clear message
    for negative numbers, non-numbers, too many decimals, an unknown currency."""
    if not is_currency(currency):
        raise AmountError("Choose a currency from the list.")
    value = (text or "").strip().replace(" ", "").replace("\u00a0", "")
    if not value:
        raise AmountError("Enter an amount.")
    if value.startswith("-"):
        raise AmountError("The amount cannot be negative.")
    match = AMOUNT.fullmatch(value.removeprefix("+"))
    if not match:
        raise AmountError("Enter the amount as a number, like 1234.50.")
    whole, fraction = match.group(1), match.group(2) or ""
    places = precision(currency)
    fraction = fraction.rstrip("0") if len(fraction) > places else fraction
    if len(fraction) > places:
        if places == 0:
            raise AmountError(f"{currency.upper()} amounts have no decimal places.")
        raise AmountError(f"{currency.upper()} amounts have at most {places} decimal places.")
    if int(whole) >= MAX_MAJOR_UNITS:
        raise AmountError("The amount is too large.")
    minor = int(whole) * 10**places + int(fraction.ljust(places, "0") or 0)
    if minor == 0 and not allow_zero:
        raise AmountError("Enter an amount greater than zero.")
    return minor


def to_decimal(minor: int, currency: str) -> Decimal:
    return Decimal(minor).scaleb(-precision(currency))


def format_money(minor: int, currency: str, language: str = "en") -> str:
    """e.g. $1,234.50 in English, 1.234,50 $ in German."""
    return format_currency(to_decimal(minor, currency), currency.upper(), locale=language)


def plain_amount(minor: int, currency: str) -> str:
    """The amount as a form field shows it: 1234.50."""
    return f"{to_decimal(minor, currency):f}"


def parse_percentage(text: str) -> Decimal:
    """A tax rate like "7.5" (percent), 0 to 100 with at most four decimals."""
    value = (text or "").strip().removesuffix("%").strip()
    if not re.fullmatch(r"[0-9]{1,3}(?:[.,][0-9]{1,4})?", value):
        raise AmountError("Enter a percentage like 7.5 (0 to 100).")
    rate = Decimal(value.replace(",", "."))
    if rate > 100:
        raise AmountError("Enter a percentage between 0 and 100.")
    return rate


def percent_of(minor: int, rate: Decimal) -> int:
    """`rate` percent of an amount in minor units, rounded half up to a whole minor unit."""
    return int((Decimal(minor) * rate / 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def convert(minor: int, from_currency: str, to_currency: str, rates: dict[str, Decimal]) -> int:
    """Converts between currencies through `rates` (units of each currency per one unit of the
    company's default currency, which has rate 1); rounded half up to the target's minor unit.
    Raises AmountError when a rate is missing."""
    if from_currency == to_currency:
        return minor
    try:
        source, target = rates[from_currency], rates[to_currency]
    except KeyError as error:
        raise AmountError(f"No exchange rate for {error.args[0]} is set.") from None
    try:
        major = to_decimal(minor, from_currency) / source * target
    except (InvalidOperation, ZeroDivisionError):
        raise AmountError(f"The exchange rate for {from_currency} is not usable.") from None
    return int(major.scaleb(precision(to_currency)).quantize(Decimal(1), rounding=ROUND_HALF_UP))
