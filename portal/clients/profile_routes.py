"""Admin area: the client profile's widgets (htmx fragments, each also a page of its own for
browsers without JavaScript), their arrangement per staff member, and the profile's account
actions: notes, status, Email Client and Delete Client.

Every handler reads the client through the company in use: an unknown id and another company's
client both answer 404."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from litestar import Request, Response, get, post
from litestar.exceptions import HTTPException, NotFoundException
from litestar.params import FromPath, FromQuery
from litestar.plugins.flash import flash
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from portal.billing import services as billing
from portal.billing.money import format_money
from portal.clients import audit, contact_routes, lifecycle, notes, services, tags, user_routes
from portal.clients.pages import client_page, profile_url
from portal.clients.services import ClientView
from portal.core.db import read_transaction
from portal.core.errors import Throttled, ValidationError
from portal.core.forms import checkbox, text
from portal.core.pagination import Page
from portal.core.permissions import (
    CLIENTS_DELETE,
    CLIENTS_EMAIL,
    CLIENTS_NOTES,
    CLIENTS_STATUS,
    CLIENTS_VIEW,
)
from portal.core.web import form_data, redirect, safe_next, throttled
from portal.mail import services as mail
from portal.staff import widgets
from portal.staff.access import Admin, AdminContext

PROFILE_KEY = "client-profile"


@dataclass(frozen=True)
class Widget:
    name: str
    title: str
    per_page: int


WIDGET_LIST = (
    Widget("invoices", "Invoices", 10),
    Widget("transactions", "Transactions", 10),
    Widget("services", "Services", 10),
    Widget("notes", "Notes", 10),
    Widget("emails", "Emails", 10),
    Widget("history", "History", 15),
    Widget("users", "Users", 20),
    Widget("contacts", "Contacts", 20),
)
WIDGETS = {widget.name: widget for widget in WIDGET_LIST}
WIDGET_NAMES = tuple(WIDGETS)


def money_formatter(admin: AdminContext) -> Callable[[int, str], str]:
    language = admin.staff.language

    def money(minor: int, currency: str) -> str:
        return format_money(minor, currency, language)

    return money


# --- the profile page ----------------------------------------------------------------------


async def profile_context(admin: AdminContext, client: ClientView) -> dict[str, Any]:
    """What the profile adds to the overview: balances, sticky notes, tags, the widgets in the
    staff member's order."""
    async with read_transaction():
        balances = await billing.balances(client.id)
        sticky = await notes.sticky_notes(client.id)
        state = await widgets.get_state(admin.staff.id, admin.company.id, PROFILE_KEY, WIDGET_NAMES)
        client_tags = await tags.client_tags(admin.company.id, client.id)
    if not balances:
        balances = [billing.Balance(currency=client.preferred_currency, due=0, credit=0)]
    return {
        "balances": balances,
        "sticky_notes": sticky,
        "client_tags": client_tags,
        "widgets": [WIDGETS[name] for name in state.order],
        "widget_order": ",".join(state.order),
        "minimized": state.minimized,
        "minimized_value": ",".join(n for n in state.order if n in state.minimized),
        "money": money_formatter(admin),
        "statuses": services.STATUSES,
    }


# --- widgets -------------------------------------------------------------------------------


WidgetLoader = Callable[[AdminContext, ClientView, int], Awaitable[dict[str, Any]]]


async def _client_rows(
    name: str,
    client: ClientView,
    page: int,
    count: Callable[[int], Awaitable[int]],
    rows: Callable[[int, Page], Awaitable[list[Any]]],
) -> dict[str, Any]:
    """A page of the widget `name`: the client's rows (`count` and `rows` read them by its ID)
    under the widget's name, and the pager."""
    pager = Page.of(page, WIDGETS[name].per_page, await count(client.id))
    return {"pager": pager, name: await rows(client.id, pager)}


async def _invoices(admin: AdminContext, client: ClientView, page: int) -> dict[str, Any]:
    found = await _client_rows(
        "invoices", client, page, billing.count_invoices, billing.list_invoices
    )
    return {**found, "invoice_statuses": billing.SHOWN_INVOICE_STATUSES}


async def _transactions(admin: AdminContext, client: ClientView, page: int) -> dict[str, Any]:
    found = await _client_rows(
        "transactions", client, page, billing.count_transactions, billing.list_transactions
    )
    return {**found, "transaction_types": billing.TRANSACTION_TYPES}


async def _services(admin: AdminContext, client: ClientView, page: int) -> dict[str, Any]:
    found = await _client_rows(
        "services", client, page, billing.count_services, billing.list_services
    )
    return {
        **found,
        "service_statuses": billing.SERVICE_STATUSES,
        "terms": billing.TERMS,
        "renewable": billing.RENEWABLE,
    }


async def _notes(admin: AdminContext, client: ClientView, page: int) -> dict[str, Any]:
    return await _client_rows("notes", client, page, notes.count_notes, notes.list_notes)


async def _emails(admin: AdminContext, client: ClientView, page: int) -> dict[str, Any]:
    total = await mail.count_client_messages(admin.company.id, client.id)
    pager = Page.of(page, WIDGETS["emails"].per_page, total)
    messages = await mail.list_client_messages(
        admin.company.id, client.id, limit=pager.per_page, offset=pager.offset
    )
    return {"pager": pager, "messages": messages}


async def _history(admin: AdminContext, client: ClientView, page: int) -> dict[str, Any]:
    total = await audit.count_lines(admin.company.id, client.id)
    pager = Page.of(page, WIDGETS["history"].per_page, total)
    return {"pager": pager, "lines": await audit.list_lines(admin.company.id, client.id, pager)}


LOADERS: dict[str, WidgetLoader] = {
    "invoices": _invoices,
    "transactions": _transactions,
    "services": _services,
    "notes": _notes,
    "emails": _emails,
    "history": _history,
    "users": user_routes.users_widget,
    "contacts": contact_routes.contacts_widget,
}


@get(
    "/clients/{client_id:int}/widgets/{name:str}",
    name="admin:clients:widget",
    permission=CLIENTS_VIEW,
)
async def widget(
    request: HTMXRequest,
    admin: Admin,
    client_id: FromPath[int],
    name: FromPath[str],
    page: FromQuery[int] = 1,
) -> Response:
    """One widget's content: the fragment htmx loads into the profile, or, for a plain browser
    request (the link shown without JavaScript), the same fragment on a page of its own."""
    if name not in WIDGETS:
        raise NotFoundException()
    client = await services.get_client(admin.company.id, client_id)
    async with read_transaction():
        content = await LOADERS[name](admin, client, page)
    headers = {"Vary": "HX-Request"}
    if request.htmx and not request.htmx.boosted:
        context = _widget_context(admin, client, name, content)
        return Template(f"admin/clients/widgets/{name}.html", context=context, headers=headers)
    return widget_page(admin, client, name, content, headers=headers)


def _widget_context(
    admin: AdminContext, client: ClientView, name: str, content: dict[str, Any]
) -> dict[str, Any]:
    """A widget's template's context: its content (the loader's) and what every widget has."""
    return {
        **content,
        "client": client,
        "widget": WIDGETS[name],
        "money": money_formatter(admin),
        "widget_url": f"/admin/clients/{client.id}/widgets/{name}",
    }


def widget_page(
    admin: AdminContext,
    client: ClientView,
    name: str,
    content: dict[str, Any],
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Template:
    """A widget on a page of its own: the link shown without JavaScript, or the widget's form
    sent back with its errors."""
    context = _widget_context(admin, client, name, content)
    context["page_title"] = f"{WIDGETS[name].title} – {client.name}"
    return Template(
        "admin/clients/widget_page.html", context=context, status_code=status_code, headers=headers
    )


@post("/widgets/client-profile", name="admin:widgets:client-profile", permission=CLIENTS_VIEW)
async def save_widget_state(request: HTMXRequest, admin: Admin) -> Response:
    """Saves the order and minimized widgets of the client profile for this staff member in
    this company. htmx sends the whole state after a drag, a move or a toggle; without
    JavaScript the Move and arrow buttons post the shown state plus `move` or `toggle`."""
    data = await form_data(request)
    try:
        order = widgets.parse_names(text(data, "order"))
        minimized = set(widgets.parse_names(text(data, "minimized")))
        state = widgets.arrange(WIDGET_NAMES, order, sorted(minimized))
        order, minimized = list(state.order), set(state.minimized)
        # htmx posts the arrangement as shown, after the page has applied the move or toggle
        # itself (htmx also sends the clicked button's value: it must not be applied twice).
        htmx = bool(request.htmx)
        if move := text(data, "move"):
            name, _, direction = move.partition(":")
            if name not in WIDGETS or direction not in {"up", "down"}:
                raise ValidationError({"order": f"Unknown widget move {move[:60]!r}."})
            index = order.index(name)
            other = index - 1 if direction == "up" else index + 1
            if 0 <= other < len(order) and not htmx:
                order[index], order[other] = order[other], order[index]
        if toggle := text(data, "toggle"):
            if toggle not in WIDGETS:
                raise ValidationError({"order": f"Unknown widget {toggle[:60]!r}."})
            if not htmx:
                minimized ^= {toggle}
        state = widgets.arrange(WIDGET_NAMES, order, sorted(minimized))
    except ValidationError as error:
        raise HTTPException(status_code=400, detail=next(iter(error.errors.values()))) from None
    await widgets.save_state(admin.staff.id, admin.company.id, PROFILE_KEY, WIDGET_NAMES, state)
    if request.htmx:
        return Response(content=None, status_code=204)
    anchor = text(data, "move").partition(":")[0] or text(data, "toggle")
    target = safe_next(text(data, "next"), "/admin/clients")
    if anchor in WIDGETS and "#" not in target:
        target += f"#widget-{anchor}"
    return Redirect(path=target, status_code=HTTP_303_SEE_OTHER)


# --- notes ---------------------------------------------------------------------------------


def _note_details(data: dict[str, Any]) -> notes.NoteDetails:
    body = data.get("body", "")
    return notes.NoteDetails(
        title=text(data, "title"),
        body=body if isinstance(body, str) else "",
        sticky=checkbox(data, "sticky"),
    )


NOTES = "/clients/{client_id:int}/notes"
NOTE = f"{NOTES}/{{note_id:int}}"


def _note_page(
    client: ClientView,
    details: notes.NoteDetails,
    errors: dict[str, str],
    note_id: int | None = None,
    status_code: int = 200,
) -> Template:
    title = "Edit Note" if note_id else "Add Note"
    return client_page(
        "admin/clients/note_form.html",
        title,
        client,
        errors,
        status_code,
        details=details,
        note_id=note_id,
    )


@get(f"{NOTES}/add", name="admin:clients:note-add", permission=CLIENTS_NOTES)
async def add_note_page(admin: Admin, client_id: FromPath[int]) -> Template:
    client = await services.get_client(admin.company.id, client_id)
    return _note_page(client, notes.NoteDetails(), {})


@post(f"{NOTES}/add", name="admin:clients:note-create", permission=CLIENTS_NOTES)
async def add_note_submit(request: Request, admin: Admin, client_id: FromPath[int]) -> Response:
    client = await services.get_client(admin.company.id, client_id)
    details = _note_details(await form_data(request))
    try:
        await notes.add_note(admin.company.id, client.id, details, admin.actor(request))
    except ValidationError as error:
        return _note_page(client, details, error.errors, status_code=422)
    flash(request, "The note was added.", category="success")
    return redirect(request, profile_url(client.id, "widget-notes"))


@get(f"{NOTE}/edit", name="admin:clients:note-edit", permission=CLIENTS_NOTES)
async def edit_note_page(
    admin: Admin, client_id: FromPath[int], note_id: FromPath[int]
) -> Template:
    client = await services.get_client(admin.company.id, client_id)
    note = await notes.get_note(admin.company.id, client_id, note_id)
    details = notes.NoteDetails(title=note["title"], body=note["body"], sticky=note["sticky"])
    return _note_page(client, details, {}, note_id=note_id)


@post(f"{NOTE}/edit", name="admin:clients:note-update", permission=CLIENTS_NOTES)
async def edit_note_submit(
    request: Request, admin: Admin, client_id: FromPath[int], note_id: FromPath[int]
) -> Response:
    client = await services.get_client(admin.company.id, client_id)
    await notes.get_note(admin.company.id, client_id, note_id)
    details = _note_details(await form_data(request))
    try:
        await notes.update_note(admin.company.id, client.id, note_id, details, admin.actor(request))
    except ValidationError as error:
        return _note_page(client, details, error.errors, note_id=note_id, status_code=422)
    flash(request, "The note was saved.", category="success")
    return redirect(request, profile_url(client.id, "widget-notes"))


@post(f"{NOTE}/delete", name="admin:clients:note-delete", permission=CLIENTS_NOTES)
async def delete_note_submit(
    request: Request, admin: Admin, client_id: FromPath[int], note_id: FromPath[int]
) -> Response:
    client = await services.get_client(admin.company.id, client_id)
    await notes.delete_note(admin.company.id, client.id, note_id, admin.actor(request))
    flash(request, "The note was deleted.", category="success")
    return redirect(request, profile_url(client.id, "widget-notes"))


# --- status --------------------------------------------------------------------------------


@post("/clients/{client_id:int}/status", name="admin:clients:status", permission=CLIENTS_STATUS)
async def change_status(request: Request, admin: Admin, client_id: FromPath[int]) -> Response:
    """Active, Inactive or Fraud. Inactive and Fraud end the client's sessions at once."""
    client = await services.get_client(admin.company.id, client_id)
    status = text(await form_data(request), "status")
    try:
        changed = await lifecycle.set_status(
            admin.company.id, client.id, status, admin.actor(request)
        )
    except ValidationError as error:
        flash(request, error.errors["status"], category="error")
        return redirect(request, profile_url(client.id))
    label = services.STATUSES[status]
    if not changed:
        flash(request, f"The client's status was already {label}.", category="info")
    elif status == "active":
        flash(request, "The client is Active: they may log in again.", category="success")
    else:
        flash(
            request,
            f"The client is now {label}: their sessions have ended and they cannot log in. "
            "Their records are kept.",
            category="success",
        )
    return redirect(request, profile_url(client.id))


# --- Email Client --------------------------------------------------------------------------


def _email_page(
    client: ClientView, values: dict[str, str], errors: dict[str, str], status_code: int = 200
) -> Template:
    return client_page(
        "admin/clients/email.html", "Email Client", client, errors, status_code, values=values
    )


@get("/clients/{client_id:int}/email", name="admin:clients:email", permission=CLIENTS_EMAIL)
async def email_page(admin: Admin, client_id: FromPath[int]) -> Template:
    client = await services.get_client(admin.company.id, client_id)
    return _email_page(client, {"subject": "", "body": ""}, {})


@post("/clients/{client_id:int}/email", name="admin:clients:email-send", permission=CLIENTS_EMAIL)
async def email_submit(request: Request, admin: Admin, client_id: FromPath[int]) -> Response:
    client = await services.get_client(admin.company.id, client_id)
    data = await form_data(request)
    body = data.get("body", "")
    values = {"subject": text(data, "subject"), "body": body if isinstance(body, str) else ""}
    try:
        await lifecycle.email_client(
            admin.company.id, client.id, values["subject"], values["body"], admin.actor(request)
        )
    except ValidationError as error:
        return _email_page(client, values, error.errors, status_code=422)
    flash(request, f"The email to {client.contact['email']} was sent.", category="success")
    return redirect(request, profile_url(client.id, "widget-emails"))


# --- Delete Client -------------------------------------------------------------------------


def _delete_page(client: ClientView, errors: dict[str, str], status_code: int = 200) -> Template:
    return client_page("admin/clients/delete.html", "Delete Client", client, errors, status_code)


@get("/clients/{client_id:int}/delete", name="admin:clients:delete", permission=CLIENTS_DELETE)
async def delete_page(admin: Admin, client_id: FromPath[int]) -> Template:
    return _delete_page(await services.get_client(admin.company.id, client_id), {})


@post(
    "/clients/{client_id:int}/delete",
    name="admin:clients:delete-confirm",
    permission=CLIENTS_DELETE,
)
async def delete_submit(request: Request, admin: Admin, client_id: FromPath[int]) -> Response:
    client = await services.get_client(admin.company.id, client_id)
    data = await form_data(request)
    password = data.get("password", "")
    try:
        code = await lifecycle.delete_client(
            admin.company.id,
            client.id,
            staff_id=admin.staff.id,
            password=password if isinstance(password, str) else "",
            actor=admin.actor(request),
        )
    except ValidationError as error:
        return _delete_page(client, error.errors, status_code=422)
    except Throttled:
        errors = {"password": "Too many wrong passwords. Wait a few minutes and try again."}
        return throttled(_delete_page(client, errors))
    flash(
        request,
        f"Client {code} ({client.name}) and all of their records were deleted.",
        category="success",
    )
    return redirect(request, "/admin/clients")


admin_handlers = [
    widget,
    save_widget_state,
    add_note_page,
    add_note_submit,
    edit_note_page,
    edit_note_submit,
    delete_note_submit,
    change_status,
    email_page,
    email_submit,
    delete_page,
    delete_submit,
]
