"""Reading the billing forms (Create Invoice, Record Payment, Add Service, billing settings)."""

from __future__ import annotations

from typing import Any

from portal.billing.services import BillingSettings, InvoiceDetails, PaymentDetails, ServiceDetails
from portal.core.forms import text


def _multiline(data: dict[str, Any], name: str) -> str:
    value = data.get(name, "")
    return value.replace("\x00", "").strip() if isinstance(value, str) else ""


def read_invoice(data: dict[str, Any]) -> InvoiceDetails:
    return InvoiceDetails(
        description=text(data, "description"),
        amount=text(data, "amount"),
        currency=text(data, "currency").upper(),
        date_billed=text(data, "date_billed"),
        date_due=text(data, "date_due"),
        status=text(data, "status"),
    )


def read_payment(data: dict[str, Any]) -> PaymentDetails:
    return PaymentDetails(
        transaction_type=text(data, "transaction_type"),
        amount=text(data, "amount"),
        currency=text(data, "currency").upper(),
        date_received=text(data, "date_received"),
        method=text(data, "method"),
        reference=text(data, "reference"),
        invoice_id=text(data, "invoice_id"),
    )


def read_service(data: dict[str, Any]) -> ServiceDetails:
    return ServiceDetails(
        name=text(data, "name"),
        package=text(data, "package"),
        status=text(data, "status"),
        price=text(data, "price"),
        currency=text(data, "currency").upper(),
        term_months=text(data, "term_months"),
        renewal_date=text(data, "renewal_date"),
    )


def read_settings(data: dict[str, Any]) -> BillingSettings:
    return BillingSettings(
        tax_rate=text(data, "tax_rate"), exchange_rates=_multiline(data, "exchange_rates")
    )
