"""Admin area: Create Invoice, Record Payment, Add Service and Renew from a client's profile, and
the company's billing settings (tax rate, exchange rates)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from litestar import Request, Response, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath, FromQuery
from litestar.plugins.flash import flash
from litestar.response import Template

from portal.billing import forms, services
from portal.billing.money import format_money
from portal.clients.pages import client_page, profile_url
from portal.clients.services import ClientView, get_client
from portal.companies.services import accepted_currencies, get_company
from portal.core.actors import Actor
from portal.core.countries import currency_choices
from portal.core.errors import ValidationError
from portal.core.forms import FormValues
from portal.core.permissions import BILLING_MANAGE, COMPANY_SETTINGS
from portal.core.web import form_data, redirect
from portal.staff.access import Admin, AdminContext


def _page(template: str, status_code: int = 200, **context: Any) -> Template:
    return Template(f"admin/billing/{template}", context=context, status_code=status_code)


# --- Create Invoice, Record Payment, Add Service -------------------------------------------


@dataclass(frozen=True)
class _ClientForm:
    """One of the billing forms of a client's profile: how it starts, reads, saves and says so,
    and the profile widget it goes back to."""

    template: str
    title: str
    # What the form starts with, for the client (and the ?invoice= a payment is for).
    new: Callable[[ClientView, str], Any]
    read: Callable[[FormValues], Any]
    # (company id, client id, details, actor); raises ValidationError.
    save: Callable[[int, int, Any, Actor], Awaitable[int]]
    # What the form's template needs besides the client, the details and the currencies.
    context: Callable[[AdminContext, ClientView], Awaitable[dict[str, Any]]]
    done: Callable[[Any], str]  # the message after saving
    widget: str


async def _form_page(
    form: _ClientForm,
    admin: AdminContext,
    client: ClientView,
    details: Any,
    errors: dict[str, str],
    status_code: int = 200,
) -> Template:
    accepted = await accepted_currencies(admin.company.id)
    return client_page(
        f"admin/billing/{form.template}",
        form.title,
        client,
        errors,
        status_code,
        details=details,
        currencies=currency_choices(accepted, admin.staff.language),
        **await form.context(admin, client),
    )


def _form_handlers(form: _ClientForm, path: str, name: str) -> list[HTTPRouteHandler]:
    """The form's page (GET) and its submission (POST) at `path`, named
    admin:billing:<name>-add and admin:billing:<name>-create."""

    @get(path, name=f"admin:billing:{name}-add", permission=BILLING_MANAGE)
    async def page(
        admin: Admin, client_id: FromPath[int], invoice: FromQuery[str] = ""
    ) -> Template:
        client = await get_client(admin.company.id, client_id)
        return await _form_page(form, admin, client, form.new(client, invoice[:12]), {})

    @post(path, name=f"admin:billing:{name}-create", permission=BILLING_MANAGE)
    async def submit(request: Request, admin: Admin, client_id: FromPath[int]) -> Response:
        client = await get_client(admin.company.id, client_id)
        details = form.read(await form_data(request))
        try:
            await form.save(admin.company.id, client.id, details, admin.actor(request))
        except ValidationError as error:
            return await _form_page(form, admin, client, details, error.errors, 422)
        flash(request, form.done(details), category="success")
        return redirect(request, profile_url(client.id, form.widget))

    return [page, submit]


async def _invoice_context(admin: AdminContext, client: ClientView) -> dict[str, Any]:
    return {
        "tax_rate": await services.tax_rate(admin.company.id),
        "statuses": [(s, services.INVOICE_STATUSES[s]) for s in services.NEW_INVOICE_STATUSES],
    }


async def _payment_context(admin: AdminContext, client: ClientView) -> dict[str, Any]:
    language = admin.staff.language
    invoices = [
        (
            str(row["id"]),
            f"#{row['number']} – "
            f"{format_money(row['total'] - row['amount_paid'], row['currency'], language)} due",
        )
        for row in await services.open_invoices(client.id)
    ]
    return {"invoices": invoices, "types": list(services.TRANSACTION_TYPES.items())}


async def _service_context(admin: AdminContext, client: ClientView) -> dict[str, Any]:
    return {
        "statuses": list(services.SERVICE_STATUSES.items()),
        "terms": [(str(months), label) for months, label in services.TERMS.items()],
    }


INVOICE_FORM = _ClientForm(
    template="invoice_form.html",
    title="Create Invoice",
    new=lambda client, _: services.new_invoice_details(client.preferred_currency),
    read=forms.read_invoice,
    save=services.create_invoice,
    context=_invoice_context,
    done=lambda _: "The invoice was created.",
    widget="widget-invoices",
)
PAYMENT_FORM = _ClientForm(
    template="payment_form.html",
    title="Record Payment",
    new=lambda client, invoice: services.new_payment_details(client.preferred_currency, invoice),
    read=forms.read_payment,
    save=services.record_payment,
    context=_payment_context,
    done=lambda details: (
        f"The {services.TRANSACTION_TYPES[details.transaction_type].lower()} was recorded."
    ),
    widget="widget-transactions",
)
SERVICE_FORM = _ClientForm(
    template="service_form.html",
    title="Add Service",
    new=lambda client, _: services.new_service_details(client.preferred_currency),
    read=forms.read_service,
    save=services.create_service,
    context=_service_context,
    done=lambda _: "The service was added.",
    widget="widget-services",
)
CLIENT_PATH = "/clients/{client_id:int}"


@post(
    f"{CLIENT_PATH}/services/{{service_id:int}}/renew",
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
    *_form_handlers(INVOICE_FORM, f"{CLIENT_PATH}/invoices/add", "invoice"),
    *_form_handlers(PAYMENT_FORM, f"{CLIENT_PATH}/payments/add", "payment"),
    *_form_handlers(SERVICE_FORM, f"{CLIENT_PATH}/services/add", "service"),
    service_renew,
    settings_page,
    settings_submit,
]
