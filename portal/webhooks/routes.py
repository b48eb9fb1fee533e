"""Admin area: [Settings] > [Company] > Webhooks. HTTP only; the rules are in
portal.webhooks.services.

Every page asks the staff member to confirm it is them when their sign-in is not recent, as
API keys do: an endpoint decides where the company's events go, and its secret is shown (once)
here. An endpoint's page includes its delivery log; htmx requests that target the log's region
get the region alone (Refresh, the pager)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.plugins.flash import flash
from litestar.response import Template

from portal.core.errors import ValidationError
from portal.core.forms import checkbox
from portal.core.permissions import WEBHOOKS
from portal.core.web import form_data, redirect, wants_region
from portal.events.services import EVENT_TYPES
from portal.staff.access import Admin
from portal.webhooks import services
from portal.webhooks.forms import endpoint_details_of
from portal.webhooks.services import EndpointDetails

PATH = "/settings/company/webhooks"  # below the admin router's /admin
URL = f"/admin{PATH}"
DELIVERIES_REGION = "webhook-deliveries"
ACCESS: dict[str, Any] = {"permission": WEBHOOKS, "confirm": True}


def endpoint_url(endpoint_id: int) -> str:
    return f"{URL}/{endpoint_id}"


@get(PATH, name="admin:webhooks", **ACCESS)
async def endpoints_page(admin: Admin) -> Template:
    company_id = admin.company.id
    return Template(
        "admin/webhooks/list.html",
        context={
            "page_title": "Webhooks",
            "endpoints": await services.list_endpoints(company_id),
            "allows_private": await services.allows_private(company_id),
            "event_types": EVENT_TYPES,
        },
    )


@post(f"{PATH}/settings", name="admin:webhooks:settings", **ACCESS)
async def save_settings(request: Request, admin: Admin) -> Response:
    allowed = checkbox(await form_data(request), "allow_private")
    await services.set_allows_private(admin.company.id, allowed, admin.actor(request))
    flash(
        request,
        "Webhooks may go to private addresses."
        if allowed
        else "Webhooks to private addresses are refused.",
        category="success",
    )
    return redirect(request, URL)


def _form_page(
    details: EndpointDetails,
    errors: dict[str, str],
    *,
    endpoint: services.EndpointView | None = None,
    deliveries: services.DeliveryPage | None = None,
    status_code: int = 200,
) -> Template:
    """Add Endpoint (no `endpoint`), or an endpoint's page: its form, actions and log."""
    return Template(
        "admin/webhooks/endpoint.html",
        context={
            "page_title": "Add Webhook Endpoint" if endpoint is None else "Webhook Endpoint",
            "details": details,
            "errors": errors,
            "endpoint": endpoint,
            "deliveries": deliveries,
            "event_types": EVENT_TYPES,
            "region": DELIVERIES_REGION,
        },
        status_code=status_code,
    )


def _secret_page(endpoint: services.EndpointView, secret: str, created: bool) -> Template:
    """The secret, shown on this response only (the portal keeps it encrypted)."""
    return Template(
        "admin/webhooks/secret.html",
        context={
            "page_title": "Webhook Endpoint Secret",
            "endpoint": endpoint,
            "secret": secret,
            "created": created,
            "grace_hours": int(services.ROTATION_GRACE.total_seconds() // 3600),
        },
    )


@get(f"{PATH}/add", name="admin:webhooks:add", **ACCESS)
async def add_page(admin: Admin) -> Template:
    return _form_page(EndpointDetails(), {})


@post(f"{PATH}/add", name="admin:webhooks:create", status_code=200, **ACCESS)
async def create_endpoint(request: Request, admin: Admin) -> Template:
    details = endpoint_details_of(await form_data(request))
    try:
        endpoint_id, secret = await services.create_endpoint(
            admin.company.id, details, admin.actor(request)
        )
    except ValidationError as error:
        return _form_page(details, error.errors, status_code=422)
    endpoint = await services.get_endpoint(admin.company.id, endpoint_id)
    return _secret_page(endpoint, secret, created=True)


@get(f"{PATH}/{{endpoint_id:int}}", name="admin:webhooks:endpoint", **ACCESS)
async def endpoint_page(
    request: Request, admin: Admin, endpoint_id: FromPath[int], page: FromQuery[int] = 1
) -> Template:
    endpoint = await services.get_endpoint(admin.company.id, endpoint_id)
    deliveries = await services.list_deliveries(admin.company.id, endpoint_id, page)
    template = _form_page(endpoint.details, {}, endpoint=endpoint, deliveries=deliveries)
    if wants_region(request, DELIVERIES_REGION):
        return Template(
            "admin/webhooks/_deliveries.html",
            context=template.context,
            headers={"HX-Push-Url": f"{endpoint_url(endpoint_id)}?page={deliveries.pager.number}"},
        )
    return template


@post(f"{PATH}/{{endpoint_id:int}}", name="admin:webhooks:save", **ACCESS)
async def save_endpoint(request: Request, admin: Admin, endpoint_id: FromPath[int]) -> Response:
    company_id = admin.company.id
    details = endpoint_details_of(await form_data(request))
    try:
        await services.update_endpoint(company_id, endpoint_id, details, admin.actor(request))
    except ValidationError as error:
        return _form_page(
            details,
            error.errors,
            endpoint=await services.get_endpoint(company_id, endpoint_id),
            deliveries=await services.list_deliveries(company_id, endpoint_id),
            status_code=422,
        )
    flash(request, "The endpoint was saved.", category="success")
    return redirect(request, endpoint_url(endpoint_id))


@post(f"{PATH}/{{endpoint_id:int}}/rotate", name="admin:webhooks:rotate", status_code=200, **ACCESS)
async def rotate_secret(request: Request, admin: Admin, endpoint_id: FromPath[int]) -> Template:
    secret = await services.rotate_secret(admin.company.id, endpoint_id, admin.actor(request))
    endpoint = await services.get_endpoint(admin.company.id, endpoint_id)
    return _secret_page(endpoint, secret, created=False)


async def _act(request: Request, endpoint_id: int, action: Any, done: str) -> Response:
    """Runs an action of the endpoint's page, then goes back to it, saying what happened or
    why it could not."""
    try:
        await action()
    except ValidationError as error:
        flash(request, "; ".join(str(message) for message in error.errors.values()), "error")
    else:
        flash(request, done, category="success")
    return redirect(request, endpoint_url(endpoint_id))


@post(f"{PATH}/{{endpoint_id:int}}/test", name="admin:webhooks:test", **ACCESS)
async def send_test_event(request: Request, admin: Admin, endpoint_id: FromPath[int]) -> Response:
    return await _act(
        request,
        endpoint_id,
        lambda: services.send_test_event(admin.company.id, endpoint_id, admin.actor(request)),
        "A test event is on its way: its delivery is at the top of the log.",
    )


@post(
    f"{PATH}/{{endpoint_id:int}}/deliveries/{{delivery_id:int}}/redeliver",
    name="admin:webhooks:redeliver",
    **ACCESS,
)
async def redeliver(
    request: Request, admin: Admin, endpoint_id: FromPath[int], delivery_id: FromPath[int]
) -> Response:
    return await _act(
        request,
        endpoint_id,
        lambda: services.redeliver(
            admin.company.id, endpoint_id, delivery_id, admin.actor(request)
        ),
        "The event is sent again, as a new delivery at the top of the log.",
    )


@get(
    f"{PATH}/{{endpoint_id:int}}/deliveries/{{delivery_id:int}}",
    name="admin:webhooks:delivery",
    **ACCESS,
)
async def delivery_page(
    admin: Admin, endpoint_id: FromPath[int], delivery_id: FromPath[int]
) -> Template:
    return Template(
        "admin/webhooks/delivery.html",
        context={
            "page_title": "Webhook Delivery",
            "endpoint": await services.get_endpoint(admin.company.id, endpoint_id),
            "detail": await services.get_delivery(admin.company.id, endpoint_id, delivery_id),
        },
    )


@get(f"{PATH}/{{endpoint_id:int}}/delete", name="admin:webhooks:delete-confirm", **ACCESS)
async def delete_page(admin: Admin, endpoint_id: FromPath[int]) -> Template:
    return Template(
        "admin/webhooks/delete.html",
        context={
            "page_title": "Delete Webhook Endpoint",
            "endpoint": await services.get_endpoint(admin.company.id, endpoint_id),
        },
    )


@post(f"{PATH}/{{endpoint_id:int}}/delete", name="admin:webhooks:delete", **ACCESS)
async def delete_endpoint(request: Request, admin: Admin, endpoint_id: FromPath[int]) -> Response:
    await services.delete_endpoint(admin.company.id, endpoint_id, admin.actor(request))
    flash(request, "The endpoint was deleted; nothing more is sent to it.", category="success")
    return redirect(request, URL)


admin_handlers = [
    endpoints_page,
    save_settings,
    add_page,
    create_endpoint,
    endpoint_page,
    save_endpoint,
    rotate_secret,
    send_test_event,
    redeliver,
    delivery_page,
    delete_page,
    delete_endpoint,
]
