"""Admin area: bulk actions on clients, from Browse and the search results. The confirmation
page (how many clients, the action's value, the password for a deletion), then the job, whose
page shows its progress (portal.jobs.routes). A plugin's client action (the mass mailer's
"Send to Mass Mailer") gets the chosen clients handed over instead. HTTP only; the rules are in
portal.clients.bulk."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from litestar import Request, Response, get, post
from litestar.response import Template

from portal import plugins
from portal.clients import browse, bulk, tags
from portal.clients.services import STATUSES
from portal.core.errors import Throttled, ValidationError
from portal.core.forms import FormValues, text
from portal.core.ids import parse_id
from portal.core.permissions import CLIENTS_BULK
from portal.core.web import form_data, redirect, throttled
from portal.plugins import MenuItem
from portal.staff.access import Admin, AdminContext

URL = "/admin/clients/bulk"
TOO_MANY_PASSWORDS = "Too many wrong passwords. Wait a few minutes and try again."  # noqa: S105
NO_SELECTION = bulk.Selection("browse", "", "ids")  # a form that could not be read: back to Browse


def _client_actions(admin: AdminContext) -> list[MenuItem]:
    return [
        item
        for item in plugins.client_actions()
        if item.permission is None or admin.may(item.permission)
    ]


def action_choices(admin: AdminContext, request: Request) -> list[tuple[str, str]]:
    """The bulk actions the staff member may start, as the choices of a <select>: the
    portal's, then the plugins' (keyed by their address)."""
    if not admin.may(CLIENTS_BULK):
        return []
    return [(action.key, action.label) for action in bulk.actions_for(admin.actor(request))] + [
        (item.url, item.label) for item in _client_actions(admin)
    ]


async def _confirm_page(
    request: Request,
    admin: AdminContext,
    selection: bulk.Selection,
    order: bulk.Order,
    errors: dict[str, str],
    status_code: int = 200,
) -> Template:
    clients = await bulk.resolve(admin.company.id, selection)
    if not clients:
        errors = {"": bulk.NONE_SELECTED}
        status_code = 422
    context: dict[str, Any] = {
        "page_title": bulk.ACTIONS[order.action].label,
        "action": bulk.ACTIONS[order.action],
        "order": order,
        "selection": selection,
        "client_ids": [client_id for client_id, _ in clients],
        "count": len(clients),
        "errors": errors,
        "statuses": STATUSES,
        "group_options": [
            (group["id"], group["name"]) for group in await browse.company_groups(admin.company.id)
        ],
        "tag_options": [(tag.id, tag.name) for tag in await tags.list_tags(admin.company.id)],
        "export_columns": bulk.EXPORT_COLUMNS,
    }
    return Template("admin/clients/bulk.html", context=context, status_code=status_code)


def _message_page(selection: bulk.Selection, message: str, status_code: int) -> Template:
    """The page when there is nothing to confirm: why, and the way back."""
    return Template(
        "admin/clients/bulk.html",
        context={
            "page_title": "Bulk actions",
            "action": None,
            "selection": selection,
            "errors": {"": message},
        },
        status_code=status_code,
    )


@get("/clients/bulk", name="admin:clients:bulk", permission=CLIENTS_BULK)
async def confirm_page(request: Request, admin: Admin) -> Response:
    """The form of Browse or the search results (a GET: choosing changes nothing)."""
    data = FormValues.of(request.query_params.multi_items())
    try:
        selection = bulk.read_selection(data)
    except ValidationError as error:
        return _message_page(NO_SELECTION, " ".join(error.errors.values()), 422)
    action = text(data, "action")
    handed_to = next((item for item in _client_actions(admin) if item.url == action), None)
    if handed_to is not None:
        try:
            query = await bulk.handoff_query(admin.company.id, selection)
        except ValidationError as error:
            return _message_page(selection, " ".join(error.errors.values()), 422)
        return redirect(request, f"{handed_to.url}?{query}")
    try:
        bulk.require(admin.actor(request), action)
    except ValidationError as error:
        return _message_page(selection, error.errors["action"], 422)
    order = bulk.read_order(data)
    # The columns of an export start as the usual ones; once the form is sent, as ticked.
    return await _confirm_page(
        request, admin, selection, replace(order, columns=order.columns or bulk.DEFAULT_COLUMNS), {}
    )


@post("/clients/bulk", name="admin:clients:bulk-start", permission=CLIENTS_BULK)
async def confirm_submit(request: Request, admin: Admin) -> Response:
    data = await form_data(request)
    try:
        selection = bulk.read_selection(data)
    except ValidationError as error:
        return _message_page(NO_SELECTION, " ".join(error.errors.values()), 422)
    order = bulk.read_order(data)
    try:
        job_id = await bulk.start(
            admin.company.id,
            admin.actor(request),
            selection,
            order,
            confirmed=parse_id(text(data, "confirmed")) or 0,
            password=data.get("password", ""),
        )
    except bulk.Changed as changed:
        message = (
            f"{changed.count:,} clients are selected now, not the number you saw: check it "
            "and confirm again."
        )
        return await _confirm_page(request, admin, selection, order, {"": message}, 422)
    except ValidationError as error:
        if "action" in error.errors:
            return _message_page(selection, error.errors["action"], 422)
        return await _confirm_page(request, admin, selection, order, error.errors, 422)
    except Throttled:
        errors = {"password": TOO_MANY_PASSWORDS}
        return throttled(await _confirm_page(request, admin, selection, order, errors))
    return redirect(request, f"/admin/jobs/{job_id}")


admin_handlers = [confirm_page, confirm_submit]
