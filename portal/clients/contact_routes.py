"""Admin area: a client's contacts: the profile's Contacts widget, and Add Contact, Edit
Contact and Delete Contact (staff who may edit clients). The rules live in
portal.clients.contacts; these handlers parse the form, call them and render."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.plugins.flash import flash
from litestar.response import Template

from portal.clients import contacts, services, users
from portal.clients.contacts import ContactDetails, ContactView, LoginDetails
from portal.clients.fields import CONTACT_FIELDS
from portal.clients.forms import (
    apply_form_action,
    contact_details_of,
    new_phone_row,
    read_contact_details,
    read_permissions,
)
from portal.clients.pages import client_page, profile_url
from portal.clients.services import ClientView
from portal.core.countries import countries, subdivisions
from portal.core.errors import ValidationError
from portal.core.forms import FormValues, checkbox, text
from portal.core.permissions import CLIENTS_EDIT
from portal.core.web import form_data, redirect
from portal.staff.access import Admin, AdminContext


@dataclass
class LoginForm:
    """The Login section as the page shows it (never the password)."""

    give: bool = False
    username: str = ""
    permissions: list[str] = field(default_factory=list)
    send_registration_email: bool = False


def read_login(data: dict[str, Any]) -> tuple[LoginForm, LoginDetails | None]:
    """The Login section: what the page shows again, and the login to give (None when "Give
    this contact a login" is not ticked)."""
    form = LoginForm(
        give=checkbox(data, "give_login"),
        username=text(data, "username"),
        permissions=read_permissions(data),
        send_registration_email=checkbox(data, "send_registration_email"),
    )
    if not form.give:
        return form, None
    password = data.get("password", "")
    login = LoginDetails(
        username=form.username,
        password=password if isinstance(password, str) else "",
        permissions=form.permissions,
        send_registration_email=form.send_registration_email,
    )
    return form, login


CONTACTS = "/clients/{client_id:int}/contacts"
CONTACT = f"{CONTACTS}/{{contact_id:int}}"


def _back(client_id: int) -> str:
    return profile_url(client_id, "widget-contacts")


# --- the widget ----------------------------------------------------------------------------


async def contacts_widget(admin: AdminContext, client: ClientView, page: int) -> dict[str, Any]:
    """The Contacts widget: every contact, the primary first (edited with Edit Client)."""
    return {
        "contacts": await contacts.list_contacts(admin.company.id, client.id),
        "may_edit": admin.may(CLIENTS_EDIT),
        "account_permissions": users.ACCOUNT_PERMISSIONS,
    }


# --- Add Contact and Edit Contact ------------------------------------------------------------


async def _form_page(
    admin: AdminContext,
    client: ClientView,
    details: ContactDetails,
    login: LoginForm,
    errors: dict[str, str],
    *,
    contact: ContactView | None = None,
    opt_in_shown: bool = False,
    generated_password: str | None = None,
    status_code: int = 200,
) -> Template:
    language = admin.staff.language
    settings = await contacts.contact_settings(admin.company.id, client.id)
    title = f"Edit Contact {contact.name}" if contact else "Add Contact"
    template = "edit.html" if contact else "add.html"
    return client_page(
        f"admin/clients/contacts/{template}",
        title,
        client,
        errors,
        status_code,
        contact=contact,
        details=details,
        login=login,
        opt_in_shown=opt_in_shown,
        generated_password=generated_password,
        password_optional=False,
        contact_types=list(contacts.CONTACT_TYPES.items()),
        contact_fields=CONTACT_FIELDS,
        required_fields=settings.required_fields,
        countries=countries(language),
        states=subdivisions(details.country, language),
        number_types=services.NUMBER_TYPES,
        number_locations=services.NUMBER_LOCATIONS,
        permissions=list(users.ACCOUNT_PERMISSIONS.items()),
    )


@get(f"{CONTACTS}/add", name="admin:clients:contact-add", permission=CLIENTS_EDIT)
async def add_contact_page(admin: Admin, client_id: FromPath[int]) -> Template:
    client = await services.get_client(admin.company.id, client_id)
    # A new contact starts in the client's country.
    details = ContactDetails(country=client.contact["country"], phones=[new_phone_row()])
    return await _form_page(admin, client, details, LoginForm(), {})


@post(f"{CONTACTS}/add", name="admin:clients:contact-create", permission=CLIENTS_EDIT)
async def add_contact_submit(request: Request, admin: Admin, client_id: FromPath[int]) -> Response:
    client = await services.get_client(admin.company.id, client_id)
    sent = await _read_sent(request)

    def add() -> Awaitable[object]:
        return contacts.add_contact(
            admin.company.id, client.id, sent.details, admin.actor(request), login=sent.login
        )

    return await _save_form(request, admin, client, sent, add, "added")


@dataclass
class _Sent:
    """Add Contact or Edit Contact as sent."""

    data: FormValues
    details: ContactDetails
    login_form: LoginForm
    login: LoginDetails | None


async def _read_sent(request: Request) -> _Sent:
    data = await form_data(request)
    return _Sent(data, read_contact_details(data), *read_login(data))


async def _save_form(
    request: Request,
    admin: AdminContext,
    client: ClientView,
    sent: _Sent,
    save: Callable[[], Awaitable[object]],
    done: str,
    *,
    contact: ContactView | None = None,
    opt_in_shown: bool = False,
) -> Response:
    """Add Contact or Edit Contact sent: a phone row added or removed (or a password generated)
    shows the form again; else `save`, and the form again with its errors, or back to the
    profile saying the contact was `done`."""
    details = sent.details
    handled, generated = apply_form_action(sent.data, details)  # its phone rows
    again = partial(
        _form_page,
        admin,
        client,
        details,
        sent.login_form,
        contact=contact,
        opt_in_shown=opt_in_shown,
        generated_password=generated,
    )
    if handled:
        return await again({})
    try:
        await save()
    except ValidationError as error:
        return await again(error.errors, status_code=422)
    flash(
        request,
        f"The contact {details.first_name} {details.last_name} was {done}.",
        category="success",
    )
    return redirect(request, _back(client.id))


async def _editable(admin: AdminContext, client_id: int, contact_id: int) -> tuple:
    client = await services.get_client(admin.company.id, client_id)
    contact = await contacts.get_contact(admin.company.id, client_id, contact_id)
    return client, contact


@get(f"{CONTACT}/edit", name="admin:clients:contact-edit", permission=CLIENTS_EDIT)
async def edit_contact_page(
    request: Request, admin: Admin, client_id: FromPath[int], contact_id: FromPath[int]
) -> Response:
    client, contact = await _editable(admin, client_id, contact_id)
    if contact.is_primary:
        return redirect(request, f"/admin/clients/{client.id}/edit")  # Edit Client's
    login = LoginForm(
        give=contact.has_login, username=contact.username, permissions=list(contact.permissions)
    )
    return await _form_page(
        admin,
        client,
        contact_details_of(contact),
        login,
        {},
        contact=contact,
        opt_in_shown=contact.marketing_opt_in,
    )


@post(f"{CONTACT}/edit", name="admin:clients:contact-update", permission=CLIENTS_EDIT)
async def edit_contact_submit(
    request: Request, admin: Admin, client_id: FromPath[int], contact_id: FromPath[int]
) -> Response:
    client, contact = await _editable(admin, client_id, contact_id)
    if contact.is_primary:
        flash(request, contacts.PRIMARY_IS_THE_CLIENTS, category="error")
        return redirect(request, f"/admin/clients/{client.id}/edit")
    sent = await _read_sent(request)
    if contact.has_login:
        sent.login_form.username = contact.username  # kept: shown, not edited
    # The consent the form showed when it was opened (see update_contact).
    shown = sent.data.get("marketing_opt_in_shown")
    opt_in_shown = checkbox(sent.data, "marketing_opt_in_shown") if shown else None
    shown_again = contact.marketing_opt_in if opt_in_shown is None else opt_in_shown

    def update() -> Awaitable[object]:
        return contacts.update_contact(
            admin.company.id,
            client.id,
            contact.id,
            sent.details,
            admin.actor(request),
            login=sent.login,
            remove_login=contact.has_login and sent.login is None,
            opt_in_shown=opt_in_shown,
        )

    return await _save_form(
        request, admin, client, sent, update, "saved", contact=contact, opt_in_shown=shown_again
    )


# --- Delete Contact --------------------------------------------------------------------------


def _delete_page(
    client: ClientView, contact: ContactView, errors: dict[str, str], status_code: int = 200
) -> Template:
    return client_page(
        "admin/clients/contacts/delete.html",
        f"Delete Contact {contact.name}",
        client,
        errors,
        status_code,
        contact=contact,
    )


@get(f"{CONTACT}/delete", name="admin:clients:contact-delete", permission=CLIENTS_EDIT)
async def delete_contact_page(
    request: Request, admin: Admin, client_id: FromPath[int], contact_id: FromPath[int]
) -> Response:
    client, contact = await _editable(admin, client_id, contact_id)
    if contact.is_primary:
        flash(request, contacts.PRIMARY_IS_THE_CLIENTS, category="error")
        return redirect(request, _back(client.id))
    return _delete_page(client, contact, {})


@post(f"{CONTACT}/delete", name="admin:clients:contact-delete-confirm", permission=CLIENTS_EDIT)
async def delete_contact_submit(
    request: Request, admin: Admin, client_id: FromPath[int], contact_id: FromPath[int]
) -> Response:
    client, contact = await _editable(admin, client_id, contact_id)
    try:
        await contacts.delete_contact(admin.company.id, client.id, contact.id, admin.actor(request))
    except ValidationError as error:
        return _delete_page(client, contact, error.errors, status_code=422)
    flash(request, f"The contact {contact.name} was deleted.", category="success")
    return redirect(request, _back(client.id))


admin_handlers = [
    add_contact_page,
    add_contact_submit,
    edit_contact_page,
    edit_contact_submit,
    delete_contact_page,
    delete_contact_submit,
]
