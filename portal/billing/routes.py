"""Admin area: Create Invoice, Record Payment, Add Service and Renew from a client's profile, and
the company's billing settings (tax rate, exchange rates)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.plugins.flash import flash
from litestar.response import Template

from portal.billing import forms, services
from portal.billing.money import format_money
from portal.clients.profile_routes import profile_url
from portal.clients.services import ClientView, get_client
from portal.companies.services import accepted_currencies, get_company
from portal.core.countries import currency_choices
from portal.core.errors import ValidationError
from portal.core.permissions import BILLING_MANAGE, COMPANY_SETTINGS
from portal.core.web import form_data, redirect
from portal.staff.access import Admin, AdminContext


def _page(template: str, status_code: int = 200, **context: Any) -> Template:
    return Template(f"admin/billing/{template}", context=context, status_code=status_code)


async def _common(
    admin: AdminContext, client: ClientView, errors: dict[str, str]
) -> dict[str, Any]:
    accepted = await accepted_currencies(admin.company.id)
    return {
        "client": client,
        "errors": errors,
        "currencies": currency_choices(accepted, admin.staff.language),
    }


# --- Create Invoice ------------------------------------------------------------------------


async def _invoice_page(
    admin: AdminContext,
    client: ClientView,
    details: services.InvoiceDetails,
    errors: dict[str, str],
    status_code: int = 200,
) -> Template:
    rate = await services.tax_rate(admin.company.id)
    return _page(
        "invoice_form.html",
        status_code,
        page_title=f"Create Invoice – {client.name}",
        details=details,
        tax_rate=rate,
        statuses=[(s, services.INVOICE_STATUSES[s]) for s in services.NEW_INVOICE_STATUSES],
        **await _common(admin, client, errors),
    )


@get(
    "/clients/{client_id:int}/invoices/add",
    name="admin:billing:invoice-add",
    permission=BILLING_MANAGE,
)
async def invoice_page(admin: Admin, client_id: FromPath[int]) -> Template:
    client = await get_client(admin.company.id, client_id)
    details = services.new_invoice_details(client.preferred_currency)
    return await _invoice_page(admin, client, details, {})


@post(
    "/clients/{client_id:int}/invoices/add",
    name="admin:billing:invoice-create",
    permission=BILLING_MANAGE,
)
async def invoice_submit(request: Request, admin: Admin, client_id: FromPath[int]) -> Response:
    client = await get_client(admin.company.id, client_id)
    details = forms.read_invoice(await form_data(request))
    try:
        await services.create_invoice(admin.company.id, client.id, details, admin.actor(request))
    except ValidationError as error:
        return await _invoice_page(admin, client, details, error.errors, status_code=422)
    flash(request, "The invoice was created.", category="success")
    return redirect(request, profile_url(client.id, "widget-invoices"))


# --- Record Payment ------------------------------------------------------------------------


async def _payment_page(
    admin: AdminContext,
    client: ClientView,
    details: services.PaymentDetails,
    errors: dict[str, str],
    status_code: int = 200,
) -> Template:
    language = admin.staff.language
    invoices = [
        (
            str(row["id"]),
            f"#{row['number']} – "
            f"{format_money(row['total'] - row['amount_paid'], row['currency'], language)} due",
        )
        for row in await services.open_invoices(client.id)
    ]
    return _page(
        "payment_form.html",
        status_code,
        page_title=f"Record Payment – {client.name}",
        details=details,
        invoices=invoices,
        types=list(services.TRANSACTION_TYPES.items()),
        **await _common(admin, client, errors),
    )


@get(
    "/clients/{client_id:int}/payments/add",
    name="admin:billing:payment-add",
    permission=BILLING_MANAGE,
)
async def payment_page(
    admin: Admin, client_id: FromPath[int], invoice: FromQuery[str] = ""
) -> Template:
    client = await get_client(admin.company.id, client_id)
    details = services.new_payment_details(client.preferred_currency, invoice[:12])
    return await _payment_page(admin, client, details, {})


@post(
    "/clients/{client_id:int}/payments/add",
    name="admin:billing:payment-create",
    permission=BILLING_MANAGE,
)
async def payment_submit(request: Request, admin: Admin, client_id: FromPath[int]) -> Response:
    client = await get_client(admin.company.id, client_id)
    details = forms.read_payment(await form_data(request))
    try:
        await services.record_payment(admin.company.id, client.id, details, admin.actor(request))
    except ValidationError as error:
        return await _payment_page(admin, client, details, error.errors, status_code=422)
    label = services.TRANSACTION_TYPES[details.transaction_type].lower()
    flash(request, f"The {label} was recorded.", category="success")
    return redirect(request, profile_url(client.id, "widget-transactions"))


# --- services ------------------------------------------------------------------------------


async def _service_page(
    admin: AdminContext,
    client: ClientView,
    details: services.ServiceDetails,
    errors: dict[str, str],
    status_code: int = 200,
) -> Template:
    return _page(
        "service_form.html",
        status_code,
        page_title=f"Add Service – {client.name}",
        details=details,
        statuses=list(services.SERVICE_STATUSES.items()),
        terms=[(str(months), label) for months, label in services.TERMS.items()],
        **await _common(admin, client, errors),
    )


@get(
    "/clients/{client_id:int}/services/add",
    name="admin:billing:service-add",
    permission=BILLING_MANAGE,
)
async def service_page(admin: Admin, client_id: FromPath[int]) -> Template:
    client = await get_client(admin.company.id, client_id)
    details = services.new_service_details(client.preferred_currency)
    return await _service_page(admin, client, details, {})


@post(
    "/clients/{client_id:int}/services/add",
    name="admin:billing:service-create",
    permission=BILLING_MANAGE,
)
async def service_submit(request: Request, admin: Admin, client_id: FromPath[int]) -> Response:
    client = await get_client(admin.company.id, client_id)
    details = forms.read_service(await form_data(request))
    try:
        await services.create_service(admin.company.id, client.id, details, admin.actor(request))
    except ValidationError as error:
        return await _service_page(admin, client, details, error.errors, status_code=422)
    flash(request, "The service was added.", category="success")
    return redirect(request, profile_url(client.id, "widget-services"))


@post(
    "/clients/{client_id:int}/services/{service_id:int}/renew",
    name="admin:billing:service-renew",
    permission=BILLING_MANAGE,
)
async def service_renew(
    request: Request, admin: Admin, client_id: FromPath[int], service_id: FromPath[int]
) -> Response:
    """Invoices the service's next term in the client's preferred currency."""
    client = await get_client(admin.company.id, client_id)
    try:
        await services.renew_service(admin.company.id, client.id, service_id, admin.actor(request))
    except ValidationError as error:
        flash(request, error.errors[""], category="error")
        return redirect(request, profile_url(client.id, "widget-services"))
    flash(
        request,
        f"The service was renewed and invoiced in {client.preferred_currency}.",
        category="success",
    )
    return redirect(request, profile_url(client.id, "widget-invoices"))


# --- [Settings] > [Company] > Billing ------------------------------------------------------


async def _settings_page(
    admin: AdminContext,
    settings: services.BillingSettings,
    errors: dict[str, str],
    status_code: int = 200,
) -> Template:
    company = await get_company(admin.company.id)
    return _page(
        "settings.html",
        status_code,
        page_title="Billing Settings",
        settings=settings,
        errors=errors,
        default_currency=company["default_currency"],
    )


@get("/settings/company/billing", name="admin:billing:settings", permission=COMPANY_SETTINGS)
async def settings_page(admin: Admin) -> Template:
    return await _settings_page(admin, await services.billing_settings(admin.company.id), {})


@post("/settings/company/billing", name="admin:billing:settings-save", permission=COMPANY_SETTINGS)
async def settings_submit(request: Request, admin: Admin) -> Response:
    settings = forms.read_settings(await form_data(request))
    try:
        await services.save_billing_settings(admin.company.id, settings, admin.actor(request))
    except ValidationError as error:
        return await _settings_page(admin, settings, error.errors, status_code=422)
    flash(request, "The billing settings were saved.", category="success")
    return redirect(request, "/admin/settings/company/billing")


admin_handlers = [
    invoice_page,
    invoice_submit,
    payment_page,
    payment_submit,
    service_page,
    service_submit,
    service_renew,
    settings_page,
    settings_submit,
]
