"""Admin area: a client's Personal Data page (export its data, the erasure it asked for, its
data requests), Anonymise Client, the profile's Personal data card (an htmx fragment), [Tools] >
Data Requests and [Settings] > [Company] > Privacy (retention, with its preview). HTTP only;
the rules are in portal.privacy."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.plugins.flash import flash
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect, Template

from portal.clients import notes as client_notes
from portal.clients import pages as client_pages
from portal.clients import services as clients
from portal.clients.pages import profile_url
from portal.clients.services import ClientView
from portal.core.db import read_transaction
from portal.core.errors import Throttled, ValidationError
from portal.core.forms import checkbox, text
from portal.core.pagination import Page
from portal.core.permissions import CLIENTS_PRIVACY, CLIENTS_VIEW, COMPANY_SETTINGS
from portal.core.web import form_data, redirect, throttled
from portal.privacy import erasure, export, retention, services
from portal.staff.access import Admin, AdminContext

CLIENT_REQUESTS_PER_PAGE = 20
THROTTLED = "Too many wrong passwords. Wait a few minutes and try again."


def _privacy_url(client_id: int) -> str:
    return f"/admin/clients/{client_id}/privacy"


# --- a client's Personal Data page ---------------------------------------------------------------


async def _client_page(
    admin: AdminContext,
    client: ClientView,
    page: int = 1,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Template:
    actor = admin.actor()
    async with read_transaction():
        total = await services.count_requests(admin.company.id, actor, client.id)
        pager = Page.of(page, CLIENT_REQUESTS_PER_PAGE, total)
        lines = await services.list_requests(admin.company.id, actor, pager, client.id)
        anonymised = await services.anonymisation(admin.company.id, client.id)
        asked = await services.erasure_asked(admin.company.id, client.id)
        notes = await client_notes.count_notes(client.id)
    return client_pages.client_page(
        "admin/privacy/client.html",
        "Personal Data",
        client,
        errors or {},
        status_code,
        lines=lines,
        pager=pager,
        anonymised=anonymised,
        asked=asked,
        notes=notes,
    )


@get("/clients/{client_id:int}/privacy", name="admin:privacy:client", permission=CLIENTS_PRIVACY)
async def client_page(admin: Admin, client_id: FromPath[int], page: FromQuery[int] = 1) -> Template:
    return await _client_page(admin, await clients.get_client(admin.company.id, client_id), page)


@post(
    "/clients/{client_id:int}/privacy/export",
    name="admin:privacy:export",
    permission=CLIENTS_PRIVACY,
)
async def export_submit(request: Request, admin: Admin, client_id: FromPath[int]) -> Response:
    client = await clients.get_client(admin.company.id, client_id)
    data = await form_data(request)
    started = await export.start_export(
        admin.company.id,
        client.id,
        admin.actor(request),
        include_notes=checkbox(data, "include_notes"),
    )
    if started.already:
        flash(request, "An export of this client's data was being prepared already.", "info")
    return redirect(request, f"/admin/jobs/{started.job_id}")


@post(
    "/clients/{client_id:int}/privacy/requests/{request_id:int}/decline",
    name="admin:privacy:decline",
    permission=CLIENTS_PRIVACY,
)
async def decline_submit(
    request: Request, admin: Admin, client_id: FromPath[int], request_id: FromPath[int]
) -> Response:
    client = await clients.get_client(admin.company.id, client_id)
    reason = text(await form_data(request), "reason")
    try:
        await erasure.decline_erasure(
            admin.company.id, client.id, request_id, reason, admin.actor(request)
        )
    except ValidationError as error:
        return await _client_page(admin, client, errors=error.errors, status_code=422)
    flash(request, "The client's request to be erased was declined.", "success")
    return redirect(request, _privacy_url(client.id))


@get(
    "/clients/{client_id:int}/privacy/summary",
    name="admin:privacy:summary",
    permission=CLIENTS_PRIVACY,
)
async def summary(request: HTMXRequest, admin: Admin, client_id: FromPath[int]) -> Response:
    """The profile's Personal data card: anonymised, or an erasure the client asked for, and a
    link to the client's Personal Data page (where a plain browser request is sent)."""
    client = await clients.get_client(admin.company.id, client_id)
    if not request.htmx:
        return Redirect(_privacy_url(client.id))
    async with read_transaction():
        anonymised = await services.anonymisation(admin.company.id, client.id)
        asked = await services.erasure_asked(admin.company.id, client.id)
        count = await services.count_requests(admin.company.id, admin.actor(), client.id)
    return Template(
        "admin/privacy/_summary.html",
        context={"client": client, "anonymised": anonymised, "asked": asked, "count": count},
    )


# --- Anonymise Client --------------------------------------------------------------------------


async def _anonymise_page(
    admin: AdminContext,
    client: ClientView,
    values: dict[str, str],
    errors: dict[str, str],
    status_code: int = 200,
) -> Template:
    return client_pages.client_page(
        "admin/privacy/anonymise.html",
        "Anonymise Client",
        client,
        errors,
        status_code,
        values=values,
        anonymised=await services.anonymisation(admin.company.id, client.id),
        asked=await services.erasure_asked(admin.company.id, client.id),
    )


@get(
    "/clients/{client_id:int}/anonymise",
    name="admin:privacy:anonymise",
    permission=CLIENTS_PRIVACY,
)
async def anonymise_page(admin: Admin, client_id: FromPath[int]) -> Template:
    client = await clients.get_client(admin.company.id, client_id)
    return await _anonymise_page(admin, client, {"reason": ""}, {})


@post(
    "/clients/{client_id:int}/anonymise",
    name="admin:privacy:anonymise-confirm",
    permission=CLIENTS_PRIVACY,
)
async def anonymise_submit(request: Request, admin: Admin, client_id: FromPath[int]) -> Response:
    client = await clients.get_client(admin.company.id, client_id)
    data = await form_data(request)
    values = {"reason": text(data, "reason")}
    try:
        code = await erasure.anonymise_confirmed(
            admin.company.id,
            client.id,
            values["reason"],
            staff_id=admin.staff.id,
            password=data.get("password", ""),
            actor=admin.actor(request),
        )
    except erasure.AlreadyAnonymised as error:
        return await _anonymise_page(admin, client, values, error.errors, status_code=409)
    except ValidationError as error:
        return await _anonymise_page(admin, client, values, error.errors, status_code=422)
    except Throttled:
        errors = {"password": THROTTLED}
        return throttled(await _anonymise_page(admin, client, values, errors))
    flash(
        request,
        f"Client {code} was anonymised: their personal data is gone; invoices, transactions "
        "and services are kept.",
        "success",
    )
    return redirect(request, profile_url(client.id))


# --- [Tools] > Data Requests -------------------------------------------------------------------


@get("/tools/data-requests", name="admin:privacy:requests", permission=CLIENTS_PRIVACY)
async def requests_page(admin: Admin, page: FromQuery[int] = 1) -> Template:
    actor = admin.actor()
    async with read_transaction():
        pager = Page.of(
            page, services.PER_PAGE, await services.count_requests(admin.company.id, actor)
        )
        lines = await services.list_requests(admin.company.id, actor, pager)
    return Template(
        "admin/privacy/requests.html",
        context={"page_title": "Data Requests", "lines": lines, "pager": pager},
    )


# --- [Settings] > [Company] > Privacy ------------------------------------------------------------


async def _settings_page(
    admin: AdminContext, typed: str, errors: dict[str, str], status_code: int = 200
) -> Template:
    saved = await retention.retention_months(admin.company.id)
    shown = None if errors else retention.check_months(typed)
    context: dict[str, Any] = {
        "page_title": "Privacy Settings",
        "typed": typed,
        "saved": saved,
        "errors": errors,
        "preview": await retention.preview(admin.company.id, shown) if shown else None,
        "may_see_clients": admin.may(CLIENTS_VIEW),
        "max_months": retention.MAX_MONTHS,
    }
    return Template("admin/privacy/settings.html", context=context, status_code=status_code)


@get("/settings/company/privacy", name="admin:privacy:settings", permission=COMPANY_SETTINGS)
async def settings_page(admin: Admin) -> Template:
    saved = await retention.retention_months(admin.company.id)
    return await _settings_page(admin, str(saved or ""), {})


@post("/settings/company/privacy", name="admin:privacy:settings-save", permission=COMPANY_SETTINGS)
async def settings_save(request: Request, admin: Admin) -> Response:
    """Saves the setting, or (the Preview button) shows who a typed value would anonymise now,
    saving nothing."""
    data = await form_data(request)
    typed = text(data, retention.MONTHS.name)
    try:
        if text(data, "action") == "preview":
            retention.check_months(typed)
            return await _settings_page(admin, typed, {})
        months = await retention.save_retention(admin.company.id, typed, admin.actor(request))
    except ValidationError as error:
        return await _settings_page(admin, typed[:10], error.errors, status_code=422)
    flash(
        request,
        f"Clients inactive for {months} months will be anonymised, once a day."
        if months
        else "Inactive clients will not be anonymised.",
        "success",
    )
    return redirect(request, "/admin/settings/company/privacy")


admin_handlers = [
    client_page,
    export_submit,
    decline_submit,
    summary,
    anonymise_page,
    anonymise_submit,
    requests_page,
    settings_page,
    settings_save,
]
