"""Billing: invoices, payments and credits, services and their renewal, and what a client owes
or has in credit in each currency. The admin area, the client area and the API call these.

Amounts are integers in the currency's minor unit (see `portal.billing.money`). An invoice's tax
is the company's tax rate (a company setting) unless the client is Tax Exempt; a payment applied
to an invoice raises its amount paid, and what is not applied stays as the client's credit."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from portal.activity import services as activity
from portal.billing.money import (
    AmountError,
    convert,
    format_money,
    parse_amount,
    parse_percentage,
    percent_of,
)
from portal.billing.tables import Invoice, Service, Transaction
from portal.clients import audit
from portal.clients.tables import Client, Contact
from portal.companies.services import currency_accepted
from portal.companies.tables import Company, CompanySetting
from portal.core.actors import Actor
from portal.core.countries import is_currency
from portal.core.db import lock_for_insert, locked, read_transaction, write_transactions
from portal.core.errors import NotFound, ValidationError
from portal.core.forms import REQUIRED, Field, iso_date
from portal.core.i18n import N_, Message
from portal.core.ids import is_row_id
from portal.core.lookups import company_row, owned_row
from portal.core.pagination import Page
from portal.core.permissions import BILLING_MANAGE, COMPANY_SETTINGS

TAX_RATE_KEY = "tax_rate_percent"
EXCHANGE_RATES_KEY = "exchange_rates"
DEFAULT_DUE_DAYS = 14
INVOICE_STATUSES = {
    "draft": N_("Draft"),
    "open": N_("Open"),
    "paid": N_("Paid"),
    "void": N_("Void"),
}
# What an invoice shows: its status, or "Overdue" for an open one past its due date.
SHOWN_INVOICE_STATUSES = {**INVOICE_STATUSES, "overdue": N_("Overdue")}
NEW_INVOICE_STATUSES = ("open", "draft")
TRANSACTION_TYPES = {"payment": N_("Payment"), "credit": N_("Credit")}
SERVICE_STATUSES = {
    "pending": N_("Pending"),
    "active": N_("Active"),
    "suspended": N_("Suspended"),
    "canceled": N_("Canceled"),
}
RENEWABLE = {"active", "suspended"}
TERMS = {1: "Monthly", 3: "Quarterly", 6: "Semi-annually", 12: "Annually", 24: "Biennially"}
CHOOSE_OPEN_INVOICE = "Choose an open invoice from the list."
RATE_LINE = re.compile(r"([A-Za-z]{3})\s*[=:\s]\s*([0-9]{1,9}(?:[.,][0-9]{1,10})?)")

DESCRIPTION = Field("description", "Description", 255, required=True)
METHOD = Field("method", "Method", 30)
REFERENCE = Field("reference", "Reference", 100)
SERVICE_NAME = Field("name", "Name", 255, required=True)
PACKAGE = Field("package", "Package", 255)


# --- company settings -----------------------------------------------------------------------


async def _setting(company_id: int, key: str) -> str | None:
    row = (
        await CompanySetting.select(CompanySetting.value)
        .where(CompanySetting.company == company_id, CompanySetting.key == key)
        .first()
    )
    return row["value"] if row else None


async def tax_rate(company_id: int) -> Decimal:
    """The company's tax rate in percent (0 when not set)."""
    value = await _setting(company_id, TAX_RATE_KEY)
    try:
        return parse_percentage(value) if value else Decimal(0)
    except AmountError:
        return Decimal(0)


def parse_rates(text: str, default_currency: str) -> tuple[dict[str, Decimal], list[str]]:
    """Exchange rates typed one a line, "EUR 0.92": units of the currency per one unit of the
    company's default currency. Returns (rates, problems)."""
    rates: dict[str, Decimal] = {}
    problems: list[str] = []
    for number, line in enumerate((text or "").splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        match = RATE_LINE.fullmatch(line)
        if not match or not is_currency(match.group(1)):
            problems.append(f"Line {number}: write a currency code and a rate, like EUR 0.92.")
            continue
        rate = Decimal(match.group(2).replace(",", "."))
        if rate <= 0:
            problems.append(f"Line {number}: the rate must be greater than zero.")
            continue
        rates[match.group(1).upper()] = rate
    rates[default_currency] = Decimal(1)
    return rates, problems


async def exchange_rates(company_id: int) -> dict[str, Decimal]:
    default_currency = await _default_currency(company_id)
    rates, _ = parse_rates(await _setting(company_id, EXCHANGE_RATES_KEY) or "", "")
    rates.pop("", None)
    rates[default_currency] = Decimal(1)
    return rates


async def _default_currency(company_id: int) -> str:
    company = await Company.select(Company.default_currency).where(Company.id == company_id).first()
    if company is None:
        raise NotFound()
    return company["default_currency"]


@dataclass
class BillingSettings:
    tax_rate: str = "0"
    exchange_rates: str = ""


async def billing_settings(company_id: int) -> BillingSettings:
    return BillingSettings(
        tax_rate=await _setting(company_id, TAX_RATE_KEY) or "0",
        exchange_rates=await _setting(company_id, EXCHANGE_RATES_KEY) or "",
    )


async def save_billing_settings(company_id: int, settings: BillingSettings, actor: Actor) -> None:
    actor.require(COMPANY_SETTINGS)
    errors: dict[str, str] = {}
    try:
        rate = parse_percentage(settings.tax_rate)
    except AmountError as error:
        errors["tax_rate"] = str(error)
    _, problems = parse_rates(settings.exchange_rates, await _default_currency(company_id))
    if problems:
        errors["exchange_rates"] = " ".join(problems[:3])
    elif len(settings.exchange_rates) > 5000:
        errors["exchange_rates"] = "Too many exchange rates."
    if errors:
        raise ValidationError(errors)
    lines = "\n".join(line.strip() for line in settings.exchange_rates.splitlines() if line.strip())
    async for transaction in write_transactions():
        async with transaction:
            for key, value in ((TAX_RATE_KEY, f"{rate:f}"), (EXCHANGE_RATES_KEY, lines)):
                await CompanySetting.put(company_id, key, value)
            await activity.record(
                company_id,
                actor,
                "settings",
                "Changed the billing settings (tax rate, exchange rates).",
            )


# --- helpers --------------------------------------------------------------------------------


CLIENT_FACTS = (Client.id, Client.code, Client.tax_exempt, Client.preferred_currency, Client.status)


async def _client(company_id: int, client_id: int) -> dict:
    """The client's billing facts; NotFound when it does not exist or is another company's."""
    return await company_row(Client, company_id, client_id, *CLIENT_FACTS)


async def _history(
    company_id: int, client: dict, actor: Actor, field: str, new: str, old: str = ""
) -> None:
    """The line of a billing change in the client's history; inside its write transaction."""
    await audit.record(company_id, client["id"], client["code"], actor, [(field, old, new)])


def _date(value: str, name: str, label: str, errors: dict[str, str]) -> date | None:
    value = (value or "").strip()
    if not value:
        errors[name] = Message(REQUIRED, label=label)
        return None
    parsed = iso_date(value)
    if parsed is None or not 1900 <= parsed.year <= 2999:
        errors[name] = f"Enter {label} as a date, like 2026-01-31."
        return None
    return parsed


async def _currency(company_id: int, value: str, errors: dict[str, str]) -> str:
    """The currency of an invoice, payment or service: one the company accepts."""
    currency = (value or "").strip().upper()
    if not await currency_accepted(company_id, currency):
        errors["currency"] = "Choose a currency from the list."
    return currency


def _amount(
    value: str, currency: str, name: str, errors: dict[str, str], allow_zero: bool = False
) -> int:
    if "currency" in errors:
        # The amount cannot be read without a known currency; say so beside the amount too.
        errors.setdefault(name, "Choose a known currency to enter the amount in.")
        return 0
    try:
        return parse_amount(value, currency, allow_zero=allow_zero)
    except AmountError as error:
        errors[name] = str(error)
        return 0


def add_months(day: date, months: int) -> date:
    """The same day `months` later, or the month's last day when it is shorter."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


async def _next_invoice_number(company_id: int) -> int:
    """Inside the write transaction that inserts the invoice (the table lock, on PostgreSQL,
    keeps two writers from taking the same number; SQLite's write lock already does)."""
    await lock_for_insert(Invoice._meta.tablename)
    rows = await Invoice.raw(
        "SELECT COALESCE(MAX(number), 0) + 1 AS next FROM invoice WHERE company = {}", company_id
    )
    return int(rows[0]["next"])


async def _insert_invoice(
    company_id: int,
    client: dict,
    *,
    currency: str,
    description: str,
    subtotal: int,
    date_billed: date,
    date_due: date,
    status: str,
    service_id: int | None = None,
) -> tuple[int, int, int]:
    """Adds the company's tax (unless the client is Tax Exempt); returns (id, number, total).
    Call inside a write transaction."""
    rate = Decimal(0) if client["tax_exempt"] else await tax_rate(company_id)
    tax = percent_of(subtotal, rate)
    number = await _next_invoice_number(company_id)
    rows = await Invoice.insert(
        Invoice(
            company=company_id,
            client=client["id"],
            service=service_id,
            number=number,
            currency=currency,
            description=description,
            date_billed=date_billed,
            date_due=date_due,
            status=status,
            subtotal=subtotal,
            tax_rate=f"{rate:f}",
            tax=tax,
            total=subtotal + tax,
        )
    ).returning(Invoice.id)
    return rows[0]["id"], number, subtotal + tax


# --- invoices -------------------------------------------------------------------------------


@dataclass
class InvoiceDetails:
    description: str = ""
    amount: str = ""
    currency: str = ""
    date_billed: str = ""
    date_due: str = ""
    status: str = "open"


def new_invoice_details(currency: str, today: date | None = None) -> InvoiceDetails:
    today = today or datetime.now(UTC).date()
    return InvoiceDetails(
        currency=currency,
        date_billed=today.isoformat(),
        date_due=(today + timedelta(days=DEFAULT_DUE_DAYS)).isoformat(),
    )


async def create_invoice(
    company_id: int, client_id: int, details: InvoiceDetails, actor: Actor
) -> int:
    """A one-line invoice with the company's tax added (unless the client is Tax Exempt)."""
    actor.require(BILLING_MANAGE)
    client = await _client(company_id, client_id)
    errors: dict[str, str] = {}
    description = details.description.strip()
    DESCRIPTION.check(errors, description)
    currency = await _currency(company_id, details.currency, errors)
    subtotal = _amount(details.amount, currency, "amount", errors)
    billed = _date(details.date_billed, "date_billed", "Date Billed", errors)
    due = _date(details.date_due, "date_due", "Date Due", errors)
    if billed and due and due < billed:
        errors["date_due"] = "Date Due cannot be before Date Billed."
    if details.status not in NEW_INVOICE_STATUSES:
        errors["status"] = "Choose Open or Draft."
    if errors:
        raise ValidationError(errors)
    assert billed and due
    async for transaction in write_transactions():
        async with transaction:
            invoice_id, number, total = await _insert_invoice(
                company_id,
                client,
                currency=currency,
                description=description,
                subtotal=subtotal,
                date_billed=billed,
                date_due=due,
                status=details.status,
            )
            created = f"#{number} created: {format_money(total, currency)}"
            await _history(company_id, client, actor, "Invoice", created)
    return invoice_id


# --- payments and credits -------------------------------------------------------------------


@dataclass
class PaymentDetails:
    transaction_type: str = "payment"
    amount: str = ""
    currency: str = ""
    date_received: str = ""
    method: str = ""
    reference: str = ""
    invoice_id: str = ""


def new_payment_details(currency: str, invoice_id: str = "") -> PaymentDetails:
    return PaymentDetails(
        currency=currency,
        date_received=datetime.now(UTC).date().isoformat(),
        invoice_id=invoice_id,
    )


async def record_payment(
    company_id: int, client_id: int, details: PaymentDetails, actor: Actor
) -> int:
    """Records a payment or credit. Applied to one of the client's open invoices of the same
    currency, it pays up to what is due (the invoice becomes Paid when nothing is left); the rest,
    or all of it when no invoice is named, is the client's credit."""
    actor.require(BILLING_MANAGE)
    client = await _client(company_id, client_id)
    errors: dict[str, str] = {}
    if details.transaction_type not in TRANSACTION_TYPES:
        errors["transaction_type"] = "Choose Payment or Credit."
    currency = await _currency(company_id, details.currency, errors)
    amount = _amount(details.amount, currency, "amount", errors)
    received = _date(details.date_received, "date_received", "Date Received", errors)
    method, reference = details.method.strip(), details.reference.strip()
    METHOD.check(errors, method)
    REFERENCE.check(errors, reference)
    invoice_text = details.invoice_id.strip()
    invoice_id = int(invoice_text) if invoice_text.isascii() and invoice_text.isdigit() else None
    if invoice_text and (invoice_id is None or not is_row_id(invoice_id)):
        errors["invoice_id"] = CHOOSE_OPEN_INVOICE
    if errors:
        raise ValidationError(errors)
    assert received is not None
    async for transaction in write_transactions():
        async with transaction:
            applied, invoice_number = 0, None
            if invoice_id is not None:
                invoice = await locked(
                    Invoice.select(
                        Invoice.id,
                        Invoice.number,
                        Invoice.currency,
                        Invoice.status,
                        Invoice.total,
                        Invoice.amount_paid,
                    ).where(Invoice.id == invoice_id, Invoice.client == client_id)
                ).first()
                if invoice is None or invoice["status"] != "open":
                    raise ValidationError({"invoice_id": CHOOSE_OPEN_INVOICE})
                if invoice["currency"] != currency:
                    raise ValidationError(
                        {
                            "invoice_id": f"Invoice #{invoice['number']} is in "
                            f"{invoice['currency']}; the payment is in {currency}."
                        }
                    )
                applied = min(amount, invoice["total"] - invoice["amount_paid"])
                paid = invoice["amount_paid"] + applied
                await Invoice.update(
                    {
                        Invoice.amount_paid: paid,
                        Invoice.status: "paid" if paid >= invoice["total"] else "open",
                    }
                ).where(Invoice.id == invoice_id)
                invoice_number = invoice["number"]
            rows = await Transaction.insert(
                Transaction(
                    company=company_id,
                    client=client_id,
                    invoice=invoice_id,
                    transaction_type=details.transaction_type,
                    currency=currency,
                    amount=amount,
                    amount_applied=applied,
                    method=method,
                    reference=reference,
                    date_received=received,
                )
            ).returning(Transaction.id)
            text = f"{format_money(amount, currency)} recorded"
            if invoice_number is not None:
                text += f", {format_money(applied, currency)} applied to invoice #{invoice_number}"
            label = TRANSACTION_TYPES[details.transaction_type]
            await _history(company_id, client, actor, label, text)
    return rows[0]["id"]


# --- services -------------------------------------------------------------------------------


@dataclass
class ServiceDetails:
    name: str = ""
    package: str = ""
    status: str = "active"
    price: str = ""
    currency: str = ""
    term_months: str = "1"
    renewal_date: str = ""


def new_service_details(currency: str) -> ServiceDetails:
    today = datetime.now(UTC).date()
    return ServiceDetails(currency=currency, renewal_date=add_months(today, 1).isoformat())


async def create_service(
    company_id: int, client_id: int, details: ServiceDetails, actor: Actor
) -> int:
    actor.require(BILLING_MANAGE)
    client = await _client(company_id, client_id)
    errors: dict[str, str] = {}
    name, package = details.name.strip(), details.package.strip()
    SERVICE_NAME.check(errors, name)
    PACKAGE.check(errors, package)
    if details.status not in SERVICE_STATUSES:
        errors["status"] = "Choose a status from the list."
    currency = await _currency(company_id, details.currency, errors)
    price = _amount(details.price, currency, "price", errors, allow_zero=True)
    term = int(details.term_months) if details.term_months in {str(t) for t in TERMS} else None
    if term is None:
        errors["term_months"] = "Choose a term from the list."
    renewal = _date(details.renewal_date, "renewal_date", "Renewal Date", errors)
    if errors:
        raise ValidationError(errors)
    async for transaction in write_transactions():
        async with transaction:
            rows = await Service.insert(
                Service(
                    company=company_id,
                    client=client_id,
                    name=name,
                    package=package,
                    status=details.status,
                    price=price,
                    currency=currency,
                    term_months=term,
                    renewal_date=renewal,
                )
            ).returning(Service.id)
            await _history(company_id, client, actor, "Service", f"{name} added")
    return rows[0]["id"]


async def renew_service(company_id: int, client_id: int, service_id: int, actor: Actor) -> int:
    """Invoices the next term of a service in the client's preferred currency (converted with
    the company's exchange rates when the service is priced in another) and moves its renewal
    date on by one term. Returns the invoice's id."""
    actor.require(BILLING_MANAGE)
    client = await _client(company_id, client_id)
    currency = client["preferred_currency"]
    today = datetime.now(UTC).date()
    async for transaction in write_transactions():
        async with transaction:
            service = await owned_row(Service, Service.client, client_id, service_id, lock=True)
            if service["status"] not in RENEWABLE:
                raise ValidationError(
                    {"": f"A {SERVICE_STATUSES[service['status']].lower()} service is not renewed."}
                )
            try:
                amount = convert(
                    service["price"],
                    service["currency"],
                    currency,
                    await exchange_rates(company_id),
                )
            except AmountError as error:
                raise ValidationError(
                    {
                        "": f"{error} Set it under Settings > Company > Billing "
                        "to renew this service."
                    }
                ) from None
            start = service["renewal_date"] or today
            end = add_months(start, service["term_months"])
            label = (
                f"{service['name']} ({service['package']})"
                if service["package"]
                else service["name"]
            )
            invoice_id, number, _ = await _insert_invoice(
                company_id,
                client,
                currency=currency,
                description=f"{label}, {start.isoformat()} to {end.isoformat()}"[:255],
                subtotal=amount,
                date_billed=today,
                date_due=max(start, today),
                status="open",
                service_id=service_id,
            )
            await Service.update({Service.renewal_date: end}).where(Service.id == service_id)
            renewed = f"{service['name']} renewed to {end.isoformat()}, invoice #{number}"
            await _history(company_id, client, actor, "Service", renewed, old=start.isoformat())
    return invoice_id


# --- reading --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Balance:
    currency: str
    due: int  # minor units owed on open invoices
    credit: int  # minor units of payments and credits not applied to an invoice


async def balances(client_id: int) -> list[Balance]:
    """What the client owes and has in credit, per currency it uses, summed in the database
    as integers (exact)."""
    async with read_transaction():
        due_rows = await Invoice.raw(
            "SELECT currency, SUM(total - amount_paid) AS due FROM invoice "
            "WHERE client = {} AND status = 'open' GROUP BY currency",
            client_id,
        )
        credit_rows = await Transaction.raw(
            "SELECT currency, SUM(amount - amount_applied) AS credit FROM billing_transaction "
            "WHERE client = {} GROUP BY currency",
            client_id,
        )
    due = {row["currency"]: int(row["due"] or 0) for row in due_rows}
    credit = {row["currency"]: int(row["credit"] or 0) for row in credit_rows}
    return [
        Balance(currency=code, due=due.get(code, 0), credit=credit.get(code, 0))
        for code in sorted(due.keys() | credit.keys())
    ]


async def bill_to(client_id: int) -> dict | None:
    """The contact the client's invoices are addressed to: its billing contact when it has one
    (the first made), else its primary contact."""
    rows = (
        await Contact.select()
        .where(Contact.client == client_id, Contact.contact_type.is_in(["billing", "primary"]))
        .order_by(Contact.contact_type)  # "billing" before "primary"
        .order_by(Contact.id)
        .limit(1)
    )
    return rows[0] if rows else None


def _invoices_of(client_id: int, sent_only: bool) -> list:
    """The where-clauses of a client's invoices; `sent_only` leaves drafts out (what the client
    itself sees: a draft is not sent yet)."""
    clauses = [Invoice.client == client_id]
    if sent_only:
        clauses.append(Invoice.status != "draft")
    return clauses


async def count_invoices(client_id: int, sent_only: bool = False) -> int:
    return await Invoice.count().where(*_invoices_of(client_id, sent_only))


def _shown(invoice: dict) -> dict:
    """The invoice with `shown_status`: its status, or "overdue" when it is open and its due
    date has passed."""
    overdue = invoice["status"] == "open" and invoice["date_due"] < datetime.now(UTC).date()
    return {**invoice, "shown_status": "overdue" if overdue else invoice["status"]}


async def list_invoices(client_id: int, page: Page, sent_only: bool = False) -> list[dict]:
    rows = (
        await Invoice.select()
        .where(*_invoices_of(client_id, sent_only))
        .order_by(Invoice.date_billed, ascending=False)
        .order_by(Invoice.id, ascending=False)
        .limit(page.per_page)
        .offset(page.offset)
    )
    return [_shown(row) for row in rows]


async def sent_invoice(client_id: int, invoice_id: int) -> dict | None:
    """One of the client's invoices as the client may see it (not a draft); None otherwise."""
    if not is_row_id(invoice_id):
        return None
    row = (
        await Invoice.select()
        .where(*_invoices_of(client_id, True), Invoice.id == invoice_id)
        .first()
    )
    return _shown(row) if row else None


async def invoice_payments(invoice_id: int) -> list[dict]:
    """The payments and credits applied to an invoice, oldest first."""
    return (
        await Transaction.select()
        .where(Transaction.invoice == invoice_id)
        .order_by(Transaction.date_received)
        .order_by(Transaction.id)
    )


async def open_invoices(client_id: int) -> list[dict]:
    return (
        await Invoice.select(
            Invoice.id, Invoice.number, Invoice.currency, Invoice.total, Invoice.amount_paid
        )
        .where(Invoice.client == client_id, Invoice.status == "open")
        .order_by(Invoice.number)
        .limit(200)
    )


async def count_transactions(client_id: int) -> int:
    return await Transaction.count().where(Transaction.client == client_id)


async def list_transactions(client_id: int, page: Page) -> list[dict]:
    return (
        await Transaction.select(Transaction.all_columns(), Transaction.invoice.number)
        .where(Transaction.client == client_id)
        .order_by(Transaction.date_received, ascending=False)
        .order_by(Transaction.id, ascending=False)
        .limit(page.per_page)
        .offset(page.offset)
    )


async def count_services(client_id: int) -> int:
    return await Service.count().where(Service.client == client_id)


async def list_services(client_id: int, page: Page) -> list[dict]:
    return (
        await Service.select()
        .where(Service.client == client_id)
        .order_by(Service.id, ascending=False)
        .limit(page.per_page)
        .offset(page.offset)
    )
