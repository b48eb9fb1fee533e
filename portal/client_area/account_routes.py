"""The client area's pages of an account's records: invoices, services, transactions, emails,
contacts and marketing preferences, each shown only to users allowed to see it (the checks are
in portal.client_area.records)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.plugins.flash import flash
from litestar.response import Template

from portal.billing.money import format_money
from portal.client_area import records
from portal.client_area.access import CurrentClient
from portal.clients.services import MARKETING_OPT_IN_WORDING
from portal.core.countries import country_name, subdivisions
from portal.core.forms import many
from portal.core.i18n import current_language, translate
from portal.core.ids import parse_id
from portal.core.web import client_address, form_data, redirect


def money_formatter() -> Callable[[int, str], str]:
    """Amounts in minor units, written the way the page's language writes money."""
    language = current_language.get()
    return lambda minor, currency: format_money(minor, currency, language)


def _page(template: str, **context: Any) -> Template:
    return Template(f"client/records/{template}", context={"money": money_formatter(), **context})


@get("/invoices", name="client:invoices")
async def invoices_page(user: CurrentClient, page: FromQuery[int] = 1) -> Template:
    listing = await records.invoices(user, page)
    return _page("invoices.html", listing=listing, page_url="/client/invoices")


@get("/invoices/{invoice_id:str}", name="client:invoice")
async def invoice_page(user: CurrentClient, invoice_id: FromPath[str]) -> Template:
    view = await records.invoice(user, parse_id(invoice_id) or 0)
    to = view.bill_to or {}
    language = current_language.get()
    return _page(
        "invoice.html",
        view=view,
        country=country_name(to.get("country", ""), language),
        state=dict(subdivisions(to.get("country", ""), language)).get(to.get("state", ""), ""),
    )


@get("/services", name="client:services")
async def services_page(user: CurrentClient, page: FromQuery[int] = 1) -> Template:
    listing = await records.services(user, page)
    return _page("services.html", listing=listing, page_url="/client/services")


@get("/transactions", name="client:transactions")
async def transactions_page(user: CurrentClient, page: FromQuery[int] = 1) -> Template:
    listing = await records.transactions(user, page)
    return _page("transactions.html", listing=listing, page_url="/client/transactions")


@get("/emails", name="client:emails")
async def emails_page(user: CurrentClient, page: FromQuery[int] = 1) -> Template:
    listing = await records.emails(user, page)
    return _page("emails.html", listing=listing, page_url="/client/emails")


@get("/contacts", name="client:contacts")
async def contacts_page(user: CurrentClient) -> Template:
    return _page("contacts.html", contacts=await records.contacts(user))


@get("/marketing", name="client:marketing")
async def marketing_page(user: CurrentClient) -> Template:
    return _page(
        "marketing.html",
        consents=await records.marketing_consents(user),
        wording=MARKETING_OPT_IN_WORDING,
    )


@post("/marketing", name="client:marketing-submit")
async def marketing_submit(request: Request, user: CurrentClient) -> Response:
    data = await form_data(request)
    chosen = {parse_id(value) for value in many(data, "opt_in")} - {None}
    await records.save_marketing_consents(
        user, chosen, MARKETING_OPT_IN_WORDING, client_address(request)
    )
    flash(request, translate("Your marketing preferences were saved."), category="success")
    return redirect(request, "/client/marketing")


handlers = [
    invoices_page,
    invoice_page,
    services_page,
    transactions_page,
    emails_page,
    contacts_page,
    marketing_page,
    marketing_submit,
]
