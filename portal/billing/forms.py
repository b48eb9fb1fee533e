"""Reading the billing forms (Create Invoice, Record Payment, Add Service, billing settings)."""

from __future__ import annotations

from dataclasses import fields
from typing import Any, TypeVar

from portal.billing.services import BillingSettings, InvoiceDetails, PaymentDetails, ServiceDetails
from portal.core.forms import text, without_control_characters

Details = TypeVar("Details", InvoiceDetails, PaymentDetails, ServiceDetails)


def _multiline(data: dict[str, Any], name: str) -> str:
    value = data.get(name, "")
    return without_control_characters(value).strip() if isinstance(value, str) else ""


def _read_texts(kind: type[Details], data: dict[str, Any]) -> Details:
    """A form whose inputs are named after the fields of `kind`, each one line of text; a
    currency code in capitals."""
    values = {f.name: text(data, f.name) for f in fields(kind)}
    values["currency"] = values["currency"].upper()
    return kind(**values)


def read_invoice(data: dict[str, Any]) -> InvoiceDetails:
    return _read_texts(InvoiceDetails, data)


def read_payment(data: dict[str, Any]) -> PaymentDetails:
    return _read_texts(PaymentDetails, data)


def read_service(data: dict[str, Any]) -> ServiceDetails:
    return _read_texts(ServiceDetails, data)


def read_settings(data: dict[str, Any]) -> BillingSettings:
    return BillingSettings(
        tax_rate=text(data, "tax_rate"), exchange_rates=_multiline(data, "exchange_rates")
    )
