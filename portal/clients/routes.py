"""Admin area: Add Client, the client profile, Edit Client; and the form fragments htmx swaps."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.plugins.flash import flash
from litestar.response import Template

from portal.client_groups.services import custom_values, list_fields
from portal.clients import services
from portal.clients.fields import CONTACT_FIELDS, STATE
from portal.clients.forms import (
    apply_form_action,
    blank_client_details,
    client_details_of,
    new_phone_row,
    read_client_details,
)
from portal.clients.merge_routes import merged_client_redirect
from portal.clients.profile_routes import profile_context
from portal.clients.services import ClientDetails, ClientView
from portal.companies.services import accepted_currencies, get_company, internationalization
from portal.core.countries import (
    countries,
    country_name,
    currency_choices,
    subdivision_name,
    subdivisions,
)
from portal.core.errors import Conflict, NotFound, ValidationError
from portal.core.i18n import LANGUAGES, current_language
from portal.core.ids import parse_id
from portal.core.passwords import generate_password
from portal.core.permissions import CLIENTS_EDIT, CLIENTS_VIEW
from portal.core.web import form_data, redirect
from portal.staff.access import Admin, AdminContext

CONFLICT_MESSAGE = (
    "Someone else saved this client while you were editing, so your changes were not saved. "
    "Your entries are kept below; the page now holds their version: save again to overwrite it, "
    "or open the profile to see what they changed."
)


async def _form_page(
    admin: AdminContext,
    details: ClientDetails,
    errors: dict[str, str],
    *,
    client: ClientView | None = None,
    version: int | None = None,
    generated_password: str | None = None,
    status_code: int = 200,
) -> Template:
    language = admin.staff.language
    languages = await internationalization(admin.company.id)
    currency_codes = await accepted_currencies(admin.company.id)
    if client and client.preferred_currency not in currency_codes:
        currency_codes.append(client.preferred_currency)  # kept unless someone changes it
    context: dict[str, Any] = {
        "page_title": f"Edit Client {client.code}" if client else "Add Client",
        "details": details,
        "errors": errors,
        "client": client,
        "version": version,
        "generated_password": generated_password,
        "contact_fields": CONTACT_FIELDS,
        "countries": countries(language),
        "states": subdivisions(details.country, language),
        "currencies": currency_choices(currency_codes, language),
        "languages": [(code, LANGUAGES[code]) for code in languages.enabled],
        "custom_fields": await _group_fields(admin, details.group_id),
        "group_options": [
            (g["id"], g["name"]) for g in await services.groups_of_company(admin.company.id)
        ],
        "number_types": services.NUMBER_TYPES,
        "number_locations": services.NUMBER_LOCATIONS,
    }
    template = "admin/clients/edit.html" if client else "admin/clients/add.html"
    return Template(template, context=context, status_code=status_code)


async def _group_fields(admin: AdminContext, group_id: str) -> list[dict]:
    """The custom fields of a group of the company (none for an unknown or foreign group)."""
    group = parse_id(group_id)
    return await list_fields(admin.company.id, group) if group else []


@get("/clients/add", name="admin:clients:add", permission=CLIENTS_EDIT)
async def add_client_page(admin: Admin) -> Template:
    company = await get_company(admin.company.id)
    groups = await services.groups_of_company(admin.company.id)
    default_group = next((g["id"] for g in groups if g["is_default"]), None)
    return await _form_page(admin, blank_client_details(company, default_group), {})


@post("/clients/add", name="admin:clients:create", permission=CLIENTS_EDIT)
async def add_client_submit(request: Request, admin: Admin) -> Response:
    data = await form_data(request)
    details = read_client_details(data)
    handled, generated = apply_form_action(data, details)
    if handled:
        return await _form_page(admin, details, {}, generated_password=generated)
    try:
        client_id = await services.create_client(
            admin.company.id, details, data.get("password", ""), admin.actor(request)
        )
    except ValidationError as error:
        return await _form_page(
            admin, details, error.errors, status_code=422, generated_password=generated
        )
    flash(request, "The client was created.", category="success")
    return redirect(request, f"/admin/clients/{client_id}")


@get("/clients/{client_id:int}", name="admin:clients:profile", permission=CLIENTS_VIEW)
async def client_profile(request: Request, admin: Admin, client_id: FromPath[int]) -> Response:
    try:
        client = await services.get_client(admin.company.id, client_id)
    except NotFound:
        return await merged_client_redirect(request, admin, client_id)  # or NotFound again
    language = admin.staff.language
    return Template(
        "admin/clients/profile.html",
        context={
            "page_title": f"Client {client.code} – {client.name}",
            "client": client,
            "country": country_name(client.contact["country"], language),
            "state": subdivision_name(client.contact["state"], language),
            "language_name": LANGUAGES.get(client.language, client.language),
            "statuses": services.STATUSES,
            "consents": await services.consent_events(admin.company.id, client_id),
            "custom_fields": await _shown_custom_values(admin, client),
            **await profile_context(admin, client),
        },
    )


async def _shown_custom_values(admin: AdminContext, client: ClientView) -> list[tuple[str, str]]:
    """(label, value) of the client's group's custom fields, for the profile."""
    values = await custom_values(client.id)
    shown = []
    for row in await list_fields(admin.company.id, client.group_id):
        value = values.get(row["id"], "")
        if row["field_type"] == "checkbox":
            value = "Yes" if value == "1" else "No"
        shown.append((row["label"], value))
    return shown


@get("/clients/{client_id:int}/edit", name="admin:clients:edit", permission=CLIENTS_EDIT)
async def edit_client_page(admin: Admin, client_id: FromPath[int]) -> Template:
    client = await services.get_client(admin.company.id, client_id)
    details = client_details_of(client, await custom_values(client_id))
    return await _form_page(admin, details, {}, client=client, version=client.version)


@post("/clients/{client_id:int}/edit", name="admin:clients:update", permission=CLIENTS_EDIT)
async def edit_client_submit(request: Request, admin: Admin, client_id: FromPath[int]) -> Response:
    client = await services.get_client(admin.company.id, client_id)
    data = await form_data(request)
    details = read_client_details(data)
    # A version that is no version (a crafted or broken form) never matches: the edit
    # is refused as one made meanwhile, rather than saved over whatever is there now.
    version = parse_id(data.get("version", "")) or 0
    handled, generated = apply_form_action(data, details)
    if handled:
        return await _form_page(
            admin, details, {}, client=client, version=version, generated_password=generated
        )
    try:
        await services.update_client(
            admin.company.id,
            client_id,
            details,
            expected_version=version,
            new_password=data.get("password") or None,
            actor=admin.actor(request),
        )
    except ValidationError as error:
        return await _form_page(
            admin,
            details,
            error.errors,
            client=client,
            version=version,
            status_code=422,
            generated_password=generated,
        )
    except Conflict:
        errors = {"": CONFLICT_MESSAGE}
        return await _form_page(
            admin, details, errors, client=client, version=client.version, status_code=409
        )
    flash(request, "The client was saved.", category="success")
    return redirect(request, f"/admin/clients/{client_id}")


@get(
    "/clients/fragments/custom-fields", name="admin:clients:custom-fields", permission=CLIENTS_EDIT
)
async def custom_fields_fragment(admin: Admin, group_id: FromQuery[str] = "") -> Template:
    """The chosen group's custom fields; htmx swaps them in when Client Group changes."""
    context = {
        "custom_fields": await _group_fields(admin, group_id),
        "details": ClientDetails(),
        "errors": {},
    }
    return Template("components/custom_fields.html", context=context)


# --- fragments shared by every client form (admin area and client area) ---------------------


@get("/fragments/state", name="fragments:state")
async def state_fragment(
    country: FromQuery[str] = "", selected_state: Annotated[str, QueryParameter(name="state")] = ""
) -> Template:
    """The State/Province field for a country; htmx swaps it in when Country changes."""
    return Template(
        "components/state_field.html",
        context={
            "states": subdivisions(country.upper()[:2], current_language.get()),
            "selected_state": selected_state[:10],
            "state_field": STATE,
            "errors": {},
        },
    )


@get("/fragments/phone-row", name="fragments:phone-row")
async def phone_row_fragment() -> Template:
    return Template(
        "components/phone_row.html",
        context={
            "row": new_phone_row(),
            "errors": {},
            "number_types": services.NUMBER_TYPES,
            "number_locations": services.NUMBER_LOCATIONS,
        },
    )


@get("/fragments/password", name="fragments:password")
async def password_fragment(mode: FromQuery[str] = "add") -> Template:
    return Template(
        "components/password_field.html",
        context={
            "generated_password": generate_password(),
            "errors": {},
            "password_optional": mode == "edit",
        },
    )


admin_handlers = [
    add_client_page,
    add_client_submit,
    client_profile,
    edit_client_page,
    edit_client_submit,
    custom_fields_fragment,
]
fragment_handlers = [state_fragment, phone_row_fragment, password_fragment]
