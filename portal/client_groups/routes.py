"""[Settings] > [Company] > Client Groups (with each group's custom client fields) and
[Settings] > [Company] > Client Settings. Every query is scoped to the company in use; a group or
field of another company is a 404, the same as one that does not exist."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.plugins.flash import flash
from litestar.response import Template

from portal.client_groups import services
from portal.client_groups.forms import (
    ALWAYS_KEYS,
    FIELD_SET_KEYS,
    OVERRIDE,
    YES_NO,
    YES_NO_KEYS,
    GroupForm,
    blank_group_form,
    field_set,
    field_type_name,
    group_form_of,
    read_field_details,
    read_group_form,
    read_setting_values,
    setting_display,
    setting_sections,
    settings_with_defaults,
)
from portal.client_groups.services import FieldDetails, field_details
from portal.core.db import read_transaction
from portal.core.errors import ValidationError
from portal.core.permissions import CLIENT_GROUPS, COMPANY_SETTINGS
from portal.core.web import form_data, redirect
from portal.staff.access import Admin, AdminContext

BASE = "/settings/company/client-groups"
URL = f"/admin{BASE}"
FIELD = f"{BASE}/{{group_id:int}}/fields/{{field_id:int}}"


async def _group_or_404(admin: AdminContext, group_id: int) -> dict:
    return await services.get_group(admin.company.id, group_id)


async def _field_or_404(admin: AdminContext, group_id: int, field_id: int) -> tuple[dict, dict]:
    """The group and its field."""
    group = await _group_or_404(admin, group_id)
    row = await services.get_field(admin.company.id, field_id)
    if row["group"] != group_id:
        raise NotFoundException()
    return group, row


def _settings_context() -> dict[str, Any]:
    """What the settings inputs need (templates/admin/settings/macros.html)."""
    return {
        "settings_specs": services.SETTINGS,
        "contact_fields": services.CONTACT_FIELDS,
        "always_required": services.ALWAYS_REQUIRED,
        "always_keys": ALWAYS_KEYS,
        "field_set_keys": FIELD_SET_KEYS,
        "yes_no": YES_NO,
        "yes_no_keys": YES_NO_KEYS,
        "unique_email_choices": services.UNIQUE_EMAIL_CHOICES,
        "field_set": field_set,
        "setting_sections": setting_sections(),
    }


def _clients(count: int) -> str:
    return f"{count} client" if count == 1 else f"{count} clients"


# --- the list and its colours ---------------------------------------------------------------


@get(BASE, name="admin:client-groups", permission=CLIENT_GROUPS)
async def groups_page(admin: Admin) -> Template:
    return Template(
        "admin/client_groups/list.html",
        context={
            "page_title": "Client Groups",
            "groups": await services.list_groups(admin.company.id),
        },
    )


def _luminance(colour: str) -> float:
    def channel(hex_pair: str) -> float:
        c = int(hex_pair, 16) / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(colour[i : i + 2]) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def text_colour(background: str) -> str:
    """Black or white, whichever contrasts more with the background: at least 4.58:1 for any
    background, so badge text always meets WCAG AA (4.5:1)."""
    lum = _luminance(background)
    on_white = 1.05 / (lum + 0.05)
    on_black = (lum + 0.05) / 0.05
    return "#ffffff" if on_white >= on_black else "#000000"


@get(f"{BASE}/colours.css", name="admin:client-groups:colours", permission=None)
async def group_colours(admin: Admin) -> Response:
    """Each group's badge colours as classes: the CSP allows no inline styles."""
    rules = []
    for group in await services.list_groups(admin.company.id, with_counts=False):
        colour = group["colour"] if services.COLOUR.match(group["colour"] or "") else "#1f6feb"
        colour = colour.lower()
        rules.append(
            f".group-colour-{int(group['id'])}{{background:{colour};color:{text_colour(colour)}}}"
        )
    return Response(content="\n".join(rules) + "\n", media_type="text/css")


# --- add and edit ---------------------------------------------------------------------------


async def _group_form_page(
    admin: AdminContext,
    form: GroupForm,
    errors: dict[str, str],
    *,
    group: dict | None = None,
    status_code: int = 200,
) -> Template:
    async with read_transaction():
        company_values = settings_with_defaults(
            await services.company_setting_values(admin.company.id)
        )
        fields = await services.list_fields(admin.company.id, group["id"]) if group else []
    context = {
        **_settings_context(),
        "page_title": f"Edit Group {group['name']}" if group else "Add Group",
        "form": form,
        "errors": errors,
        "group": group,
        "fields": fields,
        "field_types": services.FIELD_TYPES,
        "company_values": company_values,
        "company_display": {k: setting_display(k, v) for k, v in company_values.items()},
        "override": OVERRIDE,
    }
    template = "admin/client_groups/edit.html" if group else "admin/client_groups/add.html"
    return Template(template, context=context, status_code=status_code)


@get(f"{BASE}/add", name="admin:client-groups:add", permission=CLIENT_GROUPS)
async def add_group_page(admin: Admin) -> Template:
    company_values = await services.company_setting_values(admin.company.id)
    return await _group_form_page(admin, blank_group_form(company_values), {})


@post(f"{BASE}/add", name="admin:client-groups:create", permission=CLIENT_GROUPS)
async def add_group_submit(request: Request, admin: Admin) -> Response:
    form = read_group_form(await form_data(request))
    try:
        await services.create_group(admin.company.id, form.details, admin.actor(request))
    except ValidationError as error:
        return await _group_form_page(admin, form, error.errors, status_code=422)
    flash(request, f"The group {form.details.name} was created.", category="success")
    return redirect(request, URL)


@get(f"{BASE}/{{group_id:int}}/edit", name="admin:client-groups:edit", permission=CLIENT_GROUPS)
async def edit_group_page(admin: Admin, group_id: FromPath[int]) -> Template:
    async with read_transaction():
        group = await _group_or_404(admin, group_id)
        overrides = await services.group_overrides(group_id)
        company_values = await services.company_setting_values(admin.company.id)
    return await _group_form_page(
        admin, group_form_of(group, overrides, company_values), {}, group=group
    )


@post(f"{BASE}/{{group_id:int}}/edit", name="admin:client-groups:update", permission=CLIENT_GROUPS)
async def edit_group_submit(request: Request, admin: Admin, group_id: FromPath[int]) -> Response:
    group = await _group_or_404(admin, group_id)
    form = read_group_form(await form_data(request))
    try:
        await services.update_group(admin.company.id, group_id, form.details, admin.actor(request))
    except ValidationError as error:
        return await _group_form_page(admin, form, error.errors, group=group, status_code=422)
    flash(request, f"The group {form.details.name} was saved.", category="success")
    return redirect(request, URL)


# --- delete ---------------------------------------------------------------------------------


async def _delete_page(
    admin: AdminContext, group: dict, errors: dict[str, str], status_code: int = 200
) -> Template:
    async with read_transaction():
        count = await services.count_group_clients(admin.company.id, group["id"])
        default_id = await services.default_group_id(admin.company.id)
        default = await services.get_group(admin.company.id, default_id)
    return Template(
        "admin/client_groups/delete.html",
        context={
            "page_title": f"Delete Group {group['name']}",
            "group": group,
            "default": default,
            "count": count,
            "moving": _clients(count),
            "errors": errors,
        },
        status_code=status_code,
    )


@get(f"{BASE}/{{group_id:int}}/delete", name="admin:client-groups:delete", permission=CLIENT_GROUPS)
async def delete_group_page(admin: Admin, group_id: FromPath[int]) -> Template:
    group = await _group_or_404(admin, group_id)
    errors = {"": "The default group cannot be deleted."} if group["is_default"] else {}
    return await _delete_page(admin, group, errors)


@post(
    f"{BASE}/{{group_id:int}}/delete", name="admin:client-groups:destroy", permission=CLIENT_GROUPS
)
async def delete_group_submit(request: Request, admin: Admin, group_id: FromPath[int]) -> Response:
    group = await _group_or_404(admin, group_id)
    try:
        moved = await services.delete_group(admin.company.id, group_id, admin.actor(request))
    except ValidationError as error:
        return await _delete_page(admin, group, error.errors, status_code=409)
    default = await services.get_group(
        admin.company.id, await services.default_group_id(admin.company.id)
    )
    flash(
        request,
        f"The group {group['name']} was deleted. {_clients(moved)} moved to {default['name']}.",
        category="success",
    )
    return redirect(request, URL)


# --- custom client fields -------------------------------------------------------------------


def _field_context() -> dict[str, Any]:
    return {
        "field_types": services.FIELD_TYPES,
        "required_choices": services.REQUIRED_CHOICES,
        "field_type_name": field_type_name,
    }


async def _fields_page(
    admin: AdminContext,
    group: dict,
    details: FieldDetails,
    errors: dict[str, str],
    status_code: int = 200,
) -> Template:
    return Template(
        "admin/client_groups/fields.html",
        context={
            **_field_context(),
            "page_title": f"Custom Client Fields – {group['name']}",
            "group": group,
            "fields": await services.list_fields(admin.company.id, group["id"]),
            "details": details,
            "errors": errors,
        },
        status_code=status_code,
    )


@get(f"{BASE}/{{group_id:int}}/fields", name="admin:client-groups:fields", permission=CLIENT_GROUPS)
async def fields_page(admin: Admin, group_id: FromPath[int]) -> Template:
    async with read_transaction():
        group = await _group_or_404(admin, group_id)
        return await _fields_page(admin, group, FieldDetails(), {})


@post(
    f"{BASE}/{{group_id:int}}/fields",
    name="admin:client-groups:add-field",
    permission=CLIENT_GROUPS,
)
async def add_field_submit(request: Request, admin: Admin, group_id: FromPath[int]) -> Response:
    group = await _group_or_404(admin, group_id)
    details = read_field_details(await form_data(request))
    try:
        await services.create_field(admin.company.id, group_id, details, admin.actor(request))
    except ValidationError as error:
        return await _fields_page(admin, group, details, error.errors, status_code=422)
    flash(request, f"The field {details.label} was added.", category="success")
    return redirect(request, f"{URL}/{group_id}/fields")


def _field_page(
    action: str,
    group: dict,
    row: dict,
    details: FieldDetails,
    errors: dict[str, str],
    status_code: int = 200,
) -> Template:
    """Edit Field ("edit") or Delete Field ("delete")."""
    return Template(
        f"admin/client_groups/field_{action}.html",
        context={
            **_field_context(),
            "page_title": f"{action.title()} Field {row['label']}",
            "group": group,
            "field": row,
            "details": details,
            "errors": errors,
        },
        status_code=status_code,
    )


async def _stored_field_page(admin: AdminContext, action: str, group_id: int, field_id: int):
    async with read_transaction():
        group, row = await _field_or_404(admin, group_id, field_id)
    return _field_page(action, group, row, field_details(row), {})


@get(f"{FIELD}/edit", name="admin:client-groups:field", permission=CLIENT_GROUPS)
async def edit_field_page(
    admin: Admin, group_id: FromPath[int], field_id: FromPath[int]
) -> Template:
    return await _stored_field_page(admin, "edit", group_id, field_id)


@post(f"{FIELD}/edit", name="admin:client-groups:update-field", permission=CLIENT_GROUPS)
async def edit_field_submit(
    request: Request, admin: Admin, group_id: FromPath[int], field_id: FromPath[int]
) -> Response:
    group, row = await _field_or_404(admin, group_id, field_id)
    details = read_field_details(await form_data(request))
    try:
        await services.update_field(admin.company.id, field_id, details, admin.actor(request))
    except ValidationError as error:
        return _field_page("edit", group, row, details, error.errors, status_code=422)
    flash(request, f"The field {details.label} was saved.", category="success")
    return redirect(request, f"{URL}/{group_id}/fields")


@get(f"{FIELD}/delete", name="admin:client-groups:delete-field", permission=CLIENT_GROUPS)
async def delete_field_page(
    admin: Admin, group_id: FromPath[int], field_id: FromPath[int]
) -> Template:
    return await _stored_field_page(admin, "delete", group_id, field_id)


@post(f"{FIELD}/delete", name="admin:client-groups:destroy-field", permission=CLIENT_GROUPS)
async def delete_field_submit(
    request: Request, admin: Admin, group_id: FromPath[int], field_id: FromPath[int]
) -> Response:
    _, row = await _field_or_404(admin, group_id, field_id)
    await services.delete_field(admin.company.id, field_id, admin.actor(request))
    flash(request, f"The field {row['label']} was deleted.", category="success")
    return redirect(request, f"{URL}/{group_id}/fields")


@post(f"{FIELD}/move", name="admin:client-groups:move-field", permission=CLIENT_GROUPS)
async def move_field_submit(
    request: Request, admin: Admin, group_id: FromPath[int], field_id: FromPath[int]
) -> Response:
    _, row = await _field_or_404(admin, group_id, field_id)
    direction = (await form_data(request)).get("direction")
    if direction not in {"up", "down"}:
        flash(request, "Choose Move up or Move down.", category="error")
        return redirect(request, f"{URL}/{group_id}/fields")
    await services.move_field(admin.company.id, field_id, direction, admin.actor(request))
    flash(request, f"The field {row['label']} was moved {direction}.", category="success")
    return redirect(request, f"{URL}/{group_id}/fields#field-{field_id}")


# --- company client settings ----------------------------------------------------------------


def _client_settings_page(
    values: dict[str, str], errors: dict[str, str], status_code: int = 200
) -> Template:
    return Template(
        "admin/settings/client_settings.html",
        context={
            **_settings_context(),
            "page_title": "Client Settings",
            "values": values,
            "errors": errors,
        },
        status_code=status_code,
    )


@get("/settings/company/client-settings", name="admin:client-settings", permission=COMPANY_SETTINGS)
async def client_settings_page(admin: Admin) -> Template:
    values = settings_with_defaults(await services.company_setting_values(admin.company.id))
    return _client_settings_page(values, {})


@post(
    "/settings/company/client-settings",
    name="admin:client-settings:update",
    permission=COMPANY_SETTINGS,
)
async def client_settings_submit(request: Request, admin: Admin) -> Response:
    values = read_setting_values(await form_data(request))
    try:
        await services.set_company_settings(admin.company.id, values, admin.actor(request))
    except ValidationError as error:
        errors = {f"setting_{k}" if k else "": v for k, v in error.errors.items()}
        current = settings_with_defaults(await services.company_setting_values(admin.company.id))
        return _client_settings_page({**current, **values}, errors, status_code=422)
    flash(request, "The client settings were saved.", category="success")
    return redirect(request, "/admin/settings/company/client-settings")


admin_handlers = [
    groups_page,
    group_colours,
    add_group_page,
    add_group_submit,
    edit_group_page,
    edit_group_submit,
    delete_group_page,
    delete_group_submit,
    fields_page,
    add_field_submit,
    edit_field_page,
    edit_field_submit,
    delete_field_page,
    delete_field_submit,
    move_field_submit,
    client_settings_page,
    client_settings_submit,
]
