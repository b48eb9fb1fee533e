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
from portal.client_area.services import ClientUser
from portal.clients.contacts import CONTACT_TYPES, ContactDetails, ContactView
from portal.clients.fields import CONTACT_FIELDS
from portal.clients.forms import (
    apply_form_action,
    contact_details_of,
    new_phone_row,
    read_contact_details,
)
from portal.clients.services import MARKETING_OPT_IN_WORDING, NUMBER_LOCATIONS, NUMBER_TYPES
from portal.core.countries import countries, country_name, subdivisions
from portal.core.errors import ValidationError
from portal.core.forms import many
from portal.core.i18n import N_, Message, current_language, translate
from portal.core.ids import parse_id
from portal.core.web import client_address, form_data, redirect


def money_formatter() -> Callable[[int, str], str]:
    """Amounts in minor units, written the way the page's language writes money."""
    language = current_language.get()
    return lambda minor, currency: format_money(minor, currency, language)


def _page(template: str, status_code: int = 200, **context: Any) -> Template:
    return Template(
        f"client/records/{template}",
        context={"money": money_formatter(), **context},
        status_code=status_code,
    )


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


async def _contact_form(
    user: ClientUser,
    details: ContactDetails,
    errors: dict[str, str],
    *,
    contact: ContactView | None = None,
    status_code: int = 200,
) -> Template:
    settings = await records.contact_settings(user)
    language = current_language.get()
    return _page(
        "contact_form.html",
        status_code,
        contact=contact,
        details=details,
        errors=errors,
        action=f"/client/contacts/{contact.id}/edit" if contact else "/client/contacts/add",
        contact_types=[(name, translate(label)) for name, label in CONTACT_TYPES.items()],
        contact_fields=CONTACT_FIELDS,
        required_fields=settings.required_fields,
        field_mode=lambda name: records.contact_field_mode(settings, contact, name),
        countries=countries(language),
        states=subdivisions(details.country, language),
        number_types=NUMBER_TYPES,
        number_locations=NUMBER_LOCATIONS,
    )


@get("/contacts/add", name="client:contact-add")
async def add_contact_page(user: CurrentClient) -> Template:
    return await _contact_form(user, ContactDetails(phones=[new_phone_row()]), {})


@post("/contacts/add", name="client:contact-add-submit")
async def add_contact_submit(request: Request, user: CurrentClient) -> Response:
    data = await form_data(request)
    details = read_contact_details(data)
    if apply_form_action(data, details)[0]:
        return await _contact_form(user, details, {})
    try:
        await records.add_contact(user, details, client_address(request))
    except ValidationError as error:
        return await _contact_form(user, details, error.errors, status_code=422)
    flash(request, translate(Message(N_("%(name)s was added."), name=_name(details))), "success")
    return redirect(request, "/client/contacts")


def _name(details: ContactDetails) -> str:
    return f"{details.first_name} {details.last_name}".strip()


@get("/contacts/{contact_id:int}/edit", name="client:contact-edit")
async def edit_contact_page(user: CurrentClient, contact_id: FromPath[int]) -> Response:
    contact = await records.editable_contact(user, contact_id)
    return await _contact_form(user, contact_details_of(contact), {}, contact=contact)


@post("/contacts/{contact_id:int}/edit", name="client:contact-edit-submit")
async def edit_contact_submit(
    request: Request, user: CurrentClient, contact_id: FromPath[int]
) -> Response:
    contact = await records.editable_contact(user, contact_id)
    data = await form_data(request)
    details = read_contact_details(data)
    if apply_form_action(data, details)[0]:
        return await _contact_form(user, details, {}, contact=contact)
    try:
        await records.update_contact(user, contact.id, details, client_address(request))
    except ValidationError as error:
        return await _contact_form(user, details, error.errors, contact=contact, status_code=422)
    flash(request, translate(Message(N_("%(name)s was saved."), name=_name(details))), "success")
    return redirect(request, "/client/contacts")


@get("/contacts/{contact_id:int}/delete", name="client:contact-delete")
async def delete_contact_page(user: CurrentClient, contact_id: FromPath[int]) -> Template:
    return _page("contact_delete.html", contact=await records.editable_contact(user, contact_id))


@post("/contacts/{contact_id:int}/delete", name="client:contact-delete-submit")
async def delete_contact_submit(
    request: Request, user: CurrentClient, contact_id: FromPath[int]
) -> Response:
    contact = await records.editable_contact(user, contact_id)
    await records.delete_contact(user, contact.id, client_address(request))
    flash(request, translate(Message(N_("%(name)s was deleted."), name=contact.name)), "success")
    return redirect(request, "/client/contacts")


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
    add_contact_page,
    add_contact_submit,
    edit_contact_page,
    edit_contact_submit,
    delete_contact_page,
    delete_contact_submit,
    marketing_page,
    marketing_submit,
]
