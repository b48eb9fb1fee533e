"""Billing records of a client: invoices, transactions (payments and credits) and services.

Every amount is an integer count of the currency's minor unit (cents for USD, none for JPY),
on both engines: no floating point anywhere between the form and the database."""

from piccolo.columns import BigInt, Date, ForeignKey, Integer, OnDelete, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from portal.clients.tables import Client
from portal.companies.tables import Company


class Service(Table):
    """Something a client is subscribed to: a package, its price per term, its renewal date."""

    company = ForeignKey(references=Company, null=False, on_delete=OnDelete.cascade)
    client = ForeignKey(references=Client, null=False, on_delete=OnDelete.cascade, index=True)
    name = Varchar(length=255)
    package = Varchar(length=255, default="")
    status = Varchar(length=10, default="pending")  # pending | active | suspended | canceled
    price = BigInt(default=0)  # minor units of `currency`, per term
    currency = Varchar(length=3)
    term_months = Integer(default=1)
    renewal_date = Date(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())


class Invoice(Table):
    """`number` is unique per company (a migration's index). `total` = `subtotal` + `tax`;
    `amount_paid` grows with the payments applied to it."""

    company = ForeignKey(references=Company, null=False, on_delete=OnDelete.cascade)
    client = ForeignKey(references=Client, null=False, on_delete=OnDelete.cascade, index=True)
    service = ForeignKey(references=Service, null=True, default=None, on_delete=OnDelete.set_null)
    number = Integer()
    currency = Varchar(length=3)
    description = Varchar(length=255, default="")
    date_billed = Date()
    date_due = Date()
    status = Varchar(length=10, default="open")  # draft | open | paid | void
    subtotal = BigInt(default=0)
    tax_rate = Varchar(length=16, default="0")  # the percentage applied, as decimal text
    tax = BigInt(default=0)
    total = BigInt(default=0)
    amount_paid = BigInt(default=0)
    created_at = Timestamptz(default=TimestamptzNow())


class OpenInvoiceTotal(Table):
    """What open invoices leave to pay, per company, currency and due date: the dashboard's
    overdue figures read a few hundred of these rows instead of every open invoice. Kept by the
    database's triggers on `invoice` (a billing migration), whoever writes; never written here."""

    company = ForeignKey(references=Company, null=False, on_delete=OnDelete.cascade)
    currency = Varchar(length=3)
    date_due = Date()
    amount = BigInt(default=0)  # minor units: the sum of total - amount_paid
    invoices = Integer(default=0)


class Transaction(Table, tablename="billing_transaction"):
    """Money received (payment) or granted (credit). The part not applied to an invoice is the
    client's credit in that currency."""

    company = ForeignKey(references=Company, null=False, on_delete=OnDelete.cascade)
    client = ForeignKey(references=Client, null=False, on_delete=OnDelete.cascade, index=True)
    invoice = ForeignKey(references=Invoice, null=True, default=None, on_delete=OnDelete.set_null)
    transaction_type = Varchar(length=10, default="payment")  # payment | credit
    currency = Varchar(length=3)
    amount = BigInt()
    amount_applied = BigInt(default=0)
    method = Varchar(length=30, default="")  # e.g. Cash, Check, Wire transfer
    reference = Varchar(length=100, default="")
    date_received = Date()
    created_at = Timestamptz(default=TimestamptzNow())
