"""Billing over HTTP and through its services: invoices with the company's tax, payments and
credits, balances per currency (exact), service renewal in the client's preferred currency,
bad amounts, the billing settings, and the demo data."""

from __future__ import annotations

import asyncio
import re
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from conftest import PROJECT_DIR, csrf_from
from portal.billing import services as billing
from portal.billing.money import AmountError, convert, format_money, parse_amount, percent_of
from portal.billing.tables import Invoice, Service, Transaction
from portal.clients.tables import Client, ClientAudit
from portal.core.actors import Actor
from profile_helpers import accept_currencies, make_client

ACTOR = Actor(kind="staff", address="127.0.0.1")


async def _post(http, path: str, **data):
    token = csrf_from((await http.get(path)).text)
    return await http.post(path, data={"_csrf_token": token, **data})


def _invoice(amount: str, currency: str = "USD", **overrides) -> dict:
    return {
        "description": "Hosting",
        "amount": amount,
        "currency": currency,
        "date_billed": "2026-01-01",
        "date_due": "2026-01-15",
        "status": "open",
        **overrides,
    }


def _balance_cells(html: str) -> dict[str, tuple[str, str]]:
    rows = re.findall(
        r'<tr data-currency="(\w+)">\s*<th scope="row">\w+</th>\s*'
        r'<td class="num[^"]*">([^<]+)</td>\s*<td class="num">([^<]+)</td>',
        html,
    )
    return {currency: (due, credit) for currency, due, credit in rows}


# --- money ---------------------------------------------------------------------------------


def test_amounts_are_read_as_exact_minor_units():
    assert parse_amount("0.10", "USD") + parse_amount("0.20", "USD") == 30
    assert parse_amount("1234.5", "USD") == 123450
    assert parse_amount("1234,50", "EUR") == 123450
    assert parse_amount("500", "JPY") == 500
    assert parse_amount("1.234", "BHD") == 1234  # three decimal places
    for text, currency, message in (
        ("-5", "USD", "cannot be negative"),
        ("abc", "USD", "as a number"),
        ("1e3", "USD", "as a number"),
        ("NaN", "USD", "as a number"),
        ("1,234.50", "USD", "as a number"),
        ("١٢", "USD", "as a number"),
        ("1.234", "USD", "at most 2 decimal places"),
        ("1.5", "JPY", "no decimal places"),
        ("0", "USD", "greater than zero"),
        ("", "USD", "Enter an amount"),
        ("10", "XYZ", "Choose a currency"),
        ("99999999999999", "USD", "too large"),
    ):
        with pytest.raises(AmountError, match=message):
            parse_amount(text, currency)
    assert percent_of(1000, Decimal("7.5")) == 75
    assert percent_of(1005, Decimal("10")) == 101  # 100.5 rounds half up
    assert convert(1000, "USD", "EUR", {"USD": Decimal(1), "EUR": Decimal("0.92")}) == 920
    assert convert(1000, "USD", "JPY", {"USD": Decimal(1), "JPY": Decimal("151.234")}) == 1512
    assert format_money(3030, "USD") == "$30.30"
    assert format_money(505, "EUR", "de") == "5,05\xa0€"


# --- balances ------------------------------------------------------------------------------


async def test_usd_and_eur_invoices_and_a_usd_credit_give_exact_totals_per_currency(
    admin_client, company_id
):
    await accept_currencies(company_id, "EUR")
    client_id = await make_client(company_id)
    base = f"/admin/clients/{client_id}"
    # Amounts whose float sum is inexact: 0.1 + 0.2 != 0.3 in binary floating point.
    for amount, currency in (("0.10", "USD"), ("0.20", "USD"), ("1000.01", "USD"), ("5.05", "EUR")):
        response = await _post(admin_client, f"{base}/invoices/add", **_invoice(amount, currency))
        assert response.status_code == 303, response.text[:2000]
    response = await _post(
        admin_client,
        f"{base}/payments/add",
        transaction_type="credit",
        amount="0.30",
        currency="USD",
        date_received="2026-01-03",
    )
    assert response.status_code == 303, response.text[:2000]
    balances = {b.currency: b for b in await billing.balances(client_id)}
    assert (balances["USD"].due, balances["USD"].credit) == (100031, 30)
    assert (balances["EUR"].due, balances["EUR"].credit) == (505, 0)
    page = (await admin_client.get(base)).text
    assert _balance_cells(page) == {"EUR": ("€5.05", "€0.00"), "USD": ("$1,000.31", "$0.30")}
    invoices = await Invoice.select(Invoice.number, Invoice.total).order_by(Invoice.number)
    assert [row["number"] for row in invoices] == [1, 2, 3, 4]
    assert await ClientAudit.count().where(ClientAudit.field == "Invoice") == 4


async def test_a_payment_pays_an_invoice_and_the_rest_is_credit(admin_client, company_id):
    client_id = await make_client(company_id)
    base = f"/admin/clients/{client_id}"
    await _post(admin_client, f"{base}/invoices/add", **_invoice("100.00"))
    invoice = await Invoice.select().first()
    form = (await admin_client.get(f"{base}/payments/add?invoice={invoice['id']}")).text
    assert f'<option value="{invoice["id"]}" selected>#1 – $100.00 due</option>' in form
    assert "<title>Record Payment – " in form  # the form's title names the client
    response = await _post(
        admin_client,
        f"{base}/payments/add",
        transaction_type="payment",
        amount="60",
        currency="USD",
        date_received="2026-01-05",
        method="Wire transfer",
        reference="REF-1",
        invoice_id=str(invoice["id"]),
    )
    assert response.status_code == 303
    row = await Invoice.select().first()
    assert (row["amount_paid"], row["status"]) == (6000, "open")
    await _post(
        admin_client,
        f"{base}/payments/add",
        transaction_type="payment",
        amount="50.25",
        currency="USD",
        date_received="2026-01-06",
        invoice_id=str(invoice["id"]),
    )
    row = await Invoice.select().first()
    assert (row["amount_paid"], row["status"]) == (10000, "paid")
    [balance] = await billing.balances(client_id)
    assert (balance.due, balance.credit) == (0, 1025)
    widget = (
        await admin_client.get(f"{base}/widgets/transactions", headers={"HX-Request": "true"})
    ).text
    assert "Wire transfer" in widget and "$40.00 to #1" in widget and "$10.25 credit" in widget
    # A paid invoice takes no more payments.
    response = await _post(
        admin_client,
        f"{base}/payments/add",
        amount="1",
        currency="USD",
        date_received="2026-01-07",
        transaction_type="payment",
        invoice_id=str(invoice["id"]),
    )
    assert response.status_code == 422 and "Choose an open invoice" in response.text
    assert await Transaction.count() == 2


async def test_a_payment_in_another_currency_than_its_invoice_is_refused(admin_client, company_id):
    await accept_currencies(company_id, "EUR")
    client_id = await make_client(company_id)
    base = f"/admin/clients/{client_id}"
    await _post(admin_client, f"{base}/invoices/add", **_invoice("10.00", "EUR"))
    invoice = await Invoice.select().first()
    response = await _post(
        admin_client,
        f"{base}/payments/add",
        transaction_type="payment",
        amount="10",
        currency="USD",
        date_received="2026-01-05",
        invoice_id=str(invoice["id"]),
    )
    assert response.status_code == 422
    assert "Invoice #1 is in EUR; the payment is in USD." in response.text
    assert await Transaction.count() == 0
    assert (await Invoice.select().first())["amount_paid"] == 0


# --- tax -----------------------------------------------------------------------------------


async def test_invoices_add_the_company_tax_rate_unless_the_client_is_tax_exempt(
    admin_client, company_id
):
    response = await _post(
        admin_client, "/admin/settings/company/billing", tax_rate="7.5", exchange_rates=""
    )
    assert response.status_code == 303
    assert await billing.tax_rate(company_id) == Decimal("7.5")
    taxed = await make_client(company_id)
    exempt = await make_client(company_id, tax_exempt=True)
    form = (await admin_client.get(f"/admin/clients/{taxed}/invoices/add")).text
    assert "Tax of 7.5% is added" in form
    assert "Tax Exempt" in (await admin_client.get(f"/admin/clients/{exempt}/invoices/add")).text
    for client_id in (taxed, exempt):
        response = await _post(
            admin_client, f"/admin/clients/{client_id}/invoices/add", **_invoice("10.05")
        )
        assert response.status_code == 303
    rows = {
        row["client"]: row
        for row in await Invoice.select(
            Invoice.client, Invoice.subtotal, Invoice.tax, Invoice.total, Invoice.tax_rate
        )
    }
    # 7.5% of 10.05 is 0.75375: rounded half up to 0.75.
    assert (rows[taxed]["subtotal"], rows[taxed]["tax"], rows[taxed]["total"]) == (1005, 75, 1080)
    assert rows[taxed]["tax_rate"] == "7.5"
    assert (rows[exempt]["tax"], rows[exempt]["total"]) == (0, 1005)


async def test_billing_settings_refuse_bad_values(admin_client, company_id):
    for data, message in (
        ({"tax_rate": "-1", "exchange_rates": ""}, "Enter a percentage like 7.5"),
        ({"tax_rate": "101", "exchange_rates": ""}, "between 0 and 100"),
        ({"tax_rate": "abc", "exchange_rates": ""}, "Enter a percentage like 7.5"),
        ({"tax_rate": "5", "exchange_rates": "EUR zero"}, "Line 1: write a currency code"),
        ({"tax_rate": "5", "exchange_rates": "XYZ 1.2"}, "Line 1: write a currency code"),
        ({"tax_rate": "5", "exchange_rates": "EUR 0"}, "greater than zero"),
    ):
        response = await _post(admin_client, "/admin/settings/company/billing", **data)
        assert response.status_code == 422, data
        assert message in response.text
    assert await billing.tax_rate(company_id) == Decimal(0)


# --- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"amount": "-10"}, "The amount cannot be negative."),
        ({"amount": "ten"}, "Enter the amount as a number, like 1234.50."),
        ({"amount": "10.999"}, "USD amounts have at most 2 decimal places."),
        ({"amount": "0"}, "Enter an amount greater than zero."),
        ({"currency": "XYZ"}, "Choose a currency from the list."),
        ({"description": ""}, "Description is required."),
        ({"date_due": "2025-12-31"}, "Date Due cannot be before Date Billed."),
        ({"date_billed": "31/01/2026"}, "Enter Date Billed as a date"),
        ({"status": "paid"}, "Choose Open or Draft."),
    ],
)
async def test_bad_invoices_are_refused_with_the_form_kept(
    admin_client, company_id, overrides, message
):
    client_id = await make_client(company_id)
    data = _invoice("10.00", description="Keep <b>this</b>")
    data.update(overrides)
    response = await _post(admin_client, f"/admin/clients/{client_id}/invoices/add", **data)
    assert response.status_code == 422
    assert message in response.text
    if overrides.get("description") != "":
        assert "Keep &lt;b&gt;this&lt;/b&gt;" in response.text
    assert await Invoice.count() == 0


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"amount": "-5"}, "The amount cannot be negative."),
        ({"amount": "5 USD"}, "Enter the amount as a number"),
        ({"currency": "ABC"}, "Choose a currency from the list."),
        ({"transaction_type": "refund"}, "Choose Payment or Credit."),
        ({"invoice_id": "99999"}, "Choose an open invoice from the list."),
        ({"invoice_id": "1; DROP TABLE invoice"}, "Choose an open invoice from the list."),
        ({"date_received": ""}, "Date Received is required."),
    ],
)
async def test_bad_payments_are_refused(admin_client, company_id, overrides, message):
    client_id = await make_client(company_id)
    data = {
        "transaction_type": "payment",
        "amount": "5.00",
        "currency": "USD",
        "date_received": "2026-01-01",
        **overrides,
    }
    response = await _post(admin_client, f"/admin/clients/{client_id}/payments/add", **data)
    assert response.status_code == 422
    assert message in response.text
    assert await Transaction.count() == 0


async def test_another_clients_invoice_cannot_be_paid(admin_client, company_id):
    mine, theirs = await make_client(company_id), await make_client(company_id)
    await billing.create_invoice(
        company_id, theirs, billing.InvoiceDetails(**_invoice("10.00")), ACTOR
    )
    invoice = await Invoice.select().first()
    response = await _post(
        admin_client,
        f"/admin/clients/{mine}/payments/add",
        transaction_type="payment",
        amount="10",
        currency="USD",
        date_received="2026-01-05",
        invoice_id=str(invoice["id"]),
    )
    assert response.status_code == 422
    assert (await Invoice.select().first())["amount_paid"] == 0


# --- services ------------------------------------------------------------------------------


async def test_renewing_a_service_invoices_it_in_the_clients_preferred_currency(
    admin_client, company_id
):
    await accept_currencies(company_id, "EUR")
    client_id = await make_client(company_id, currency="EUR")
    base = f"/admin/clients/{client_id}"
    response = await _post(
        admin_client,
        f"{base}/services/add",
        name="example.com",
        package="Shared Hosting",
        price="10.00",
        currency="USD",
        term_months="12",
        renewal_date="2026-01-31",
        status="active",
    )
    assert response.status_code == 303, response.text[:2000]
    service = await Service.select().first()
    token = csrf_from((await admin_client.get(base)).text)
    # No USD → EUR rate yet: refused, nothing invoiced, the renewal date unchanged.
    response = await admin_client.post(
        f"{base}/services/{service['id']}/renew", data={"_csrf_token": token}
    )
    assert response.status_code == 303
    assert "No exchange rate for EUR is set." in (await admin_client.get(base)).text
    assert await Invoice.count() == 0
    await _post(
        admin_client, "/admin/settings/company/billing", tax_rate="0", exchange_rates="EUR 0.92"
    )
    response = await admin_client.post(
        f"{base}/services/{service['id']}/renew", data={"_csrf_token": token}
    )
    assert response.status_code == 303
    invoice = await Invoice.select().first()
    assert (invoice["currency"], invoice["total"], invoice["service"]) == (
        "EUR",
        920,
        service["id"],
    )
    assert "2026-01-31 to 2027-01-31" in invoice["description"]
    assert str((await Service.select().first())["renewal_date"]) == "2027-01-31"
    widget = await admin_client.get(f"{base}/widgets/services", headers={"HX-Request": "true"})
    assert "2027-01-31" in widget.text and "Shared Hosting" in widget.text


async def test_services_in_the_preferred_currency_renew_without_a_rate(company_id):
    client_id = await make_client(company_id, currency="USD")
    service_id = await billing.create_service(
        company_id,
        client_id,
        billing.ServiceDetails(
            name="VPS", price="19.99", currency="USD", term_months="1", renewal_date="2026-01-31"
        ),
        ACTOR,
    )
    await billing.renew_service(company_id, client_id, service_id, ACTOR)
    await billing.renew_service(company_id, client_id, service_id, ACTOR)
    # Month ends are kept sensible: Jan 31 → Feb 28 → Mar 28.
    assert str((await Service.select().first())["renewal_date"]) == "2026-03-28"
    assert [row["total"] for row in await Invoice.select(Invoice.total)] == [1999, 1999]
    # A canceled service is not renewed.
    await Service.update({Service.status: "canceled"}).where(Service.id == service_id)
    with pytest.raises(billing.ValidationError):
        await billing.renew_service(company_id, client_id, service_id, ACTOR)
    assert await Invoice.count() == 2


async def test_bad_services_are_refused(admin_client, company_id):
    client_id = await make_client(company_id)
    response = await _post(
        admin_client,
        f"/admin/clients/{client_id}/services/add",
        name="",
        price="-3",
        currency="USD",
        term_months="5",
        renewal_date="tomorrow",
        status="gone",
    )
    assert response.status_code == 422
    for message in (
        "Name is required.",
        "The amount cannot be negative.",
        "Choose a term from the list.",
        "Enter Renewal Date as a date",
        "Choose a status from the list.",
    ):
        assert message in response.text
    assert await Service.count() == 0


async def test_another_clients_service_is_not_renewed(admin_client, company_id):
    mine, theirs = await make_client(company_id), await make_client(company_id)
    service_id = await billing.create_service(
        company_id,
        theirs,
        billing.ServiceDetails(name="VPS", price="5", currency="USD", renewal_date="2026-01-31"),
        ACTOR,
    )
    token = csrf_from((await admin_client.get(f"/admin/clients/{mine}")).text)
    response = await admin_client.post(
        f"/admin/clients/{mine}/services/{service_id}/renew", data={"_csrf_token": token}
    )
    assert response.status_code == 404
    assert await Invoice.count() == 0


async def test_invoice_numbers_are_per_company(company_id, second_company):
    await accept_currencies(second_company, "USD")
    ours, theirs = await make_client(company_id), await make_client(second_company)
    for client_id, company in ((ours, company_id), (theirs, second_company), (ours, company_id)):
        await billing.create_invoice(
            company, client_id, billing.InvoiceDetails(**_invoice("1.00")), ACTOR
        )
    rows = await Invoice.select(Invoice.company, Invoice.number).order_by(Invoice.id)
    assert [(r["company"] == company_id, r["number"]) for r in rows] == [
        (True, 1),
        (False, 1),
        (True, 2),
    ]


# --- demo data -----------------------------------------------------------------------------


async def test_demo_data_includes_invoices_transactions_and_services(company_id):
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "portal",
        "demo",
        "--clients",
        "300",
        "--seed",
        "3",
        cwd=PROJECT_DIR,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=300)
    assert process.returncode == 0, output.decode()
    clients = await Client.count()
    assert clients == 300
    assert await Invoice.count() > 100
    assert await Transaction.count() > 50
    assert await Service.count() > 100
    # Every demo amount is whole minor units of a known currency and adds up.
    for row in await Invoice.select().limit(200):
        assert row["total"] == row["subtotal"] + row["tax"]
        assert 0 <= row["amount_paid"] <= row["total"]
        assert (row["status"] == "paid") == (row["amount_paid"] == row["total"] > 0) or row[
            "status"
        ] in {"void", "draft"}
    numbers = [r["number"] for r in await Invoice.select(Invoice.number).order_by(Invoice.number)]
    assert numbers == list(range(1, len(numbers) + 1))
    for row in await Transaction.select().limit(200):
        assert 0 <= row["amount_applied"] <= row["amount"]


async def test_an_open_invoice_past_its_due_date_shows_overdue(admin_client, company_id):
    client_id = await make_client(company_id)
    today = datetime.now(UTC).date()
    for due, status in ((today - timedelta(days=1), "open"), (today, "open")):
        await billing.create_invoice(
            company_id,
            client_id,
            billing.InvoiceDetails(
                **_invoice(
                    "10.00",
                    date_billed=(today - timedelta(days=20)).isoformat(),
                    date_due=due.isoformat(),
                    status=status,
                )
            ),
            ACTOR,
        )
    widget = await admin_client.get(f"/admin/clients/{client_id}/widgets/invoices")
    badges = re.findall(r'<span class="badge invoice-(\w+)">(\w+)</span>', widget.text)
    assert sorted(badges) == [("open", "Open"), ("overdue", "Overdue")]
    # A payment makes it paid, not overdue.
    overdue = await Invoice.select().where(Invoice.date_due < today).first()
    await Invoice.update({Invoice.status: "paid"}).where(Invoice.id == overdue["id"])
    widget = await admin_client.get(f"/admin/clients/{client_id}/widgets/invoices")
    assert "invoice-overdue" not in widget.text and "invoice-paid" in widget.text
