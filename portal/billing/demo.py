"""Billing demo data for `portal demo`: services, their invoices and the payments on them, for a
batch of demo clients, inserted in the batch's transaction with multi-row INSERTs.

Each client gets zero to three services priced in its currency; each service one or two invoices
for past terms (most paid, some open, a few void); each paid invoice a payment; a few clients a
credit. Amounts are whole minor units, tax is the company's rate unless the client is exempt."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from portal.billing.money import percent_of, precision
from portal.billing.services import add_months, tax_rate
from portal.billing.tables import Invoice, Service, Transaction
from portal.core.db import copy_rows, lock_for_insert

# (service name pattern, package, price in major units of a dollar-like currency, term months)
PACKAGES = (
    ("{domain}", "Shared Hosting Basic", Decimal("4.99"), 1),
    ("{domain}", "Shared Hosting Pro", Decimal("9.99"), 1),
    ("{domain}", "Domain Registration", Decimal("12.99"), 12),
    ("vps{n}.{domain}", "VPS 2 GB", Decimal("19.00"), 1),
    ("{domain}", "SSL Certificate", Decimal("49.00"), 12),
    ("mail.{domain}", "Business Email", Decimal("6.00"), 1),
)
# Currencies worth many units of a dollar get prices scaled to look usual there.
PRICE_SCALE = {"JPY": Decimal(150), "INR": Decimal(80), "SEK": Decimal(10), "NOK": Decimal(10)}
METHODS = ("Credit card", "Credit card", "PayPal", "Wire transfer", "Check")
SERVICE_COLUMNS = (
    Service.company,
    Service.client,
    Service.name,
    Service.package,
    Service.status,
    Service.price,
    Service.currency,
    Service.term_months,
    Service.renewal_date,
    Service.created_at,
)
INVOICE_COLUMNS = (
    Invoice.company,
    Invoice.client,
    Invoice.number,
    Invoice.currency,
    Invoice.description,
    Invoice.date_billed,
    Invoice.date_due,
    Invoice.status,
    Invoice.subtotal,
    Invoice.tax_rate,
    Invoice.tax,
    Invoice.total,
    Invoice.amount_paid,
    Invoice.created_at,
)
TRANSACTION_COLUMNS = (
    Transaction.company,
    Transaction.client,
    Transaction.invoice,
    Transaction.transaction_type,
    Transaction.currency,
    Transaction.amount,
    Transaction.amount_applied,
    Transaction.method,
    Transaction.reference,
    Transaction.date_received,
    Transaction.created_at,
)


@dataclass(frozen=True)
class DemoAccount:
    """What the billing demo needs to know of a demo client."""

    client_id: int
    currency: str
    tax_exempt: bool
    status: str  # active | inactive | fraud
    joined: datetime
    domain: str


def _price(base: Decimal, currency: str) -> int:
    major = base * PRICE_SCALE.get(currency, Decimal(1))
    return int(major.scaleb(precision(currency)).to_integral_value())


def _next_renewal(started: date, term: int, today: date) -> date:
    """The first renewal date after today of a service started on `started`."""
    elapsed = (today.year - started.year) * 12 + today.month - started.month
    terms = max(1, elapsed // term)
    renewal = add_months(started, terms * term)
    return renewal if renewal > today else add_months(started, (terms + 1) * term)


async def add_demo_billing(
    company_id: int, accounts: Sequence[DemoAccount], rng: random.Random
) -> None:
    """Services, invoices and transactions for `accounts`; call inside the batch's write
    transaction (the invoice numbers are taken under its lock)."""
    rate = await tax_rate(company_id)
    await lock_for_insert(Invoice._meta.tablename)
    rows = await Invoice.raw(
        "SELECT COALESCE(MAX(number), 0) AS last FROM invoice WHERE company = {}", company_id
    )
    number = first_number = int(rows[0]["last"])
    today = datetime.now(UTC).date()
    now = datetime.now(UTC)
    services: list[tuple] = []
    invoices: list[tuple] = []
    paid: list[tuple[int, DemoAccount, int, date]] = []  # invoice number, account, total, date
    credits: list[tuple] = []
    for account in accounts:
        joined = account.joined.date()
        for index in range(rng.choices((0, 1, 2, 3), cum_weights=(25, 75, 93, 100))[0]):
            name, package, base, term = rng.choice(PACKAGES)
            price = _price(base, account.currency)
            status = "active"
            if account.status == "fraud":
                status = "suspended"
            elif account.status == "inactive" or rng.random() < 0.08:
                status = "canceled"
            started = joined + timedelta(days=rng.randint(0, 30))
            renewal = (
                add_months(started, term)
                if status == "canceled"
                else _next_renewal(started, term, today)
            )
            services.append(
                (
                    company_id,
                    account.client_id,
                    name.format(domain=account.domain, n=index + 1),
                    package,
                    status,
                    price,
                    account.currency,
                    term,
                    renewal if status != "canceled" else None,
                    now,
                )
            )
            # The last one or two terms before the renewal date were invoiced.
            period_end = renewal
            for _ in range(rng.choice((1, 1, 2))):
                period_start = add_months(period_end, -term)
                if period_start < joined:
                    break
                number += 1
                tax = 0 if account.tax_exempt else percent_of(price, rate)
                total = price + tax
                roll = rng.random()
                state = "paid" if roll < 0.8 or period_end < today - timedelta(days=60) else "open"
                if roll > 0.97:
                    state = "void"
                billed = period_start - timedelta(days=7)
                invoices.append(
                    (
                        company_id,
                        account.client_id,
                        number,
                        account.currency,
                        f"{package} {period_start.isoformat()} to {period_end.isoformat()}",
                        billed,
                        period_start,
                        state,
                        price,
                        f"{Decimal(0) if account.tax_exempt else rate:f}",
                        tax,
                        total,
                        total if state == "paid" else 0,
                        now,
                    )
                )
                if state == "paid":
                    received = min(today, billed + timedelta(days=rng.randint(0, 10)))
                    paid.append((number, account, total, received))
                period_end = period_start
        if rng.random() < 0.03:
            amount = _price(Decimal(rng.choice((5, 10, 25))), account.currency)
            credits.append(
                (
                    company_id,
                    account.client_id,
                    None,
                    "credit",
                    account.currency,
                    amount,
                    0,
                    "Goodwill credit",
                    "",
                    min(today, joined + timedelta(days=rng.randint(1, 60))),
                    now,
                )
            )
    await copy_rows(Service, SERVICE_COLUMNS, services)
    await copy_rows(Invoice, INVOICE_COLUMNS, invoices)
    inserted = await Invoice.raw(
        "SELECT id, number FROM invoice WHERE company = {} AND number > {}",
        company_id,
        first_number,
    )
    invoice_ids = {row["number"]: row["id"] for row in inserted}
    payments = [
        (
            company_id,
            account.client_id,
            invoice_ids[invoice_number],
            "payment",
            account.currency,
            total,
            total,
            rng.choice(METHODS),
            f"TX-{invoice_number:08d}",
            received,
            now,
        )
        for invoice_number, account, total, received in paid
    ]
    await copy_rows(Transaction, TRANSACTION_COLUMNS, payments + credits)
