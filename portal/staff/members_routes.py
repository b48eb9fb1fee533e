"""[Settings] > [System] > Staff: the staff members of the company in use (list, invite, edit,
disable, delete) and its staff groups with their permission matrix."""

from __future__ import annotations

from dataclasses import asdict

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.plugins.flash import flash
from litestar.response import Template

from portal.core.buttons import act
from portal.core.errors import ValidationError
from portal.core.i18n import LANGUAGES
from portal.core.permissions import STAFF_MANAGE, by_area
from portal.core.rows import from_row
from portal.core.web import form_data, redirect
from portal.staff import groups, services
from portal.staff.access import Admin, AdminContext
from portal.staff.forms import GroupForm, read_member
from portal.staff.services import MemberDetails, StaffMember

STAFF_PATH = "/settings/system/staff"  # below the admin router's /admin
GROUPS_PATH = "/settings/system/staff-groups"
STAFF_URL = f"/admin{STAFF_PATH}"
GROUPS_URL = f"/admin{GROUPS_PATH}"
MEMBER_PATH = f"{STAFF_PATH}/{{staff_id:int}}"
GROUP_PATH = f"{GROUPS_PATH}/{{group_id:int}}"
# Every change here needs the permission, and the staff member confirms it is them.
SENSITIVE = {"permission": STAFF_MANAGE, "confirm": True}


# --- staff members ----------------------------------------------------------------------------


@get(STAFF_PATH, name="admin:staff", permission=STAFF_MANAGE)
async def staff_page(admin: Admin) -> Template:
    return Template(
        "admin/staff/list.html",
        context={
            "page_title": "Staff",
            "members": await services.list_members(admin.company.id),
            "groups": await groups.list_groups(admin.company.id),
            "two_factor_required": await services.staff_two_factor_required(admin.company.id),
        },
    )


@post(f"{STAFF_PATH}/two-factor", name="admin:staff:two-factor", **SENSITIVE)
async def two_factor_submit(request: Request, admin: Admin) -> Response:
    required = (await form_data(request)).get("required") == "1"
    await services.set_staff_two_factor_required(admin.company.id, required, admin.actor(request))
    flash(
        request,
        "Two-factor sign-in is now required of staff."
        if required
        else "Two-factor sign-in is no longer required of staff.",
        category="success",
    )
    return redirect(request, STAFF_URL)


async def _member_page(
    admin: AdminContext,
    details: MemberDetails,
    errors: dict[str, str],
    member: StaffMember | None = None,
    status_code: int = 200,
) -> Template:
    group_list = await groups.list_groups(admin.company.id)
    return Template(
        "admin/staff/member_form.html",
        context={
            "page_title": f"Edit Staff Member – {member.name}" if member else "Add Staff Member",
            "details": details,
            "errors": errors,
            "member": member,
            "group_options": [(g.id, g.name) for g in group_list],
            "languages": list(LANGUAGES.items()),
        },
        status_code=status_code,
    )


@get(f"{STAFF_PATH}/add", name="admin:staff:add", **SENSITIVE)
async def add_member_page(admin: Admin) -> Template:
    support = next(
        (g.id for g in await groups.list_groups(admin.company.id) if g.builtin == groups.SUPPORT),
        0,
    )
    return await _member_page(admin, MemberDetails(group_id=support), {})


@post(f"{STAFF_PATH}/add", name="admin:staff:create", **SENSITIVE)
async def add_member_submit(request: Request, admin: Admin) -> Response:
    details = read_member(await form_data(request))
    try:
        await services.invite_member(admin.company.id, details, admin.actor(request))
    except ValidationError as error:
        return await _member_page(admin, details, error.errors, status_code=422)
    flash(
        request,
        f"{details.first_name} {details.last_name} was added; an email with a link to sign in "
        f"was sent to {details.email}.",
        category="success",
    )
    return redirect(request, STAFF_URL)


@get(f"{MEMBER_PATH}/edit", name="admin:staff:edit", **SENSITIVE)
async def edit_member_page(admin: Admin, staff_id: FromPath[int]) -> Template:
    member = await services.get_member(admin.company.id, staff_id)
    return await _member_page(admin, from_row(MemberDetails, asdict(member)), {}, member)


@post(f"{MEMBER_PATH}/edit", name="admin:staff:update", **SENSITIVE)
async def edit_member_submit(request: Request, admin: Admin, staff_id: FromPath[int]) -> Response:
    member = await services.get_member(admin.company.id, staff_id)
    details = read_member(await form_data(request))
    try:
        await services.update_member(admin.company.id, staff_id, details, admin.actor(request))
    except ValidationError as error:
        return await _member_page(admin, details, error.errors, member, status_code=422)
    flash(request, f"The staff member {member.name} was saved.", category="success")
    return redirect(request, STAFF_URL)


async def _set_active(request: Request, admin: AdminContext, staff_id: int, active: bool):
    member = await services.get_member(admin.company.id, staff_id)
    done = (
        f"{member.name} may work in this company again."
        if active
        else f"{member.name} is disabled: their session in this company has ended and they "
        "cannot sign in to it."
    )
    action = services.set_member_active(admin.company.id, staff_id, active, admin.actor(request))
    return await act(request, action, done, STAFF_URL)


@post(f"{MEMBER_PATH}/disable", name="admin:staff:disable", **SENSITIVE)
async def disable_member(request: Request, admin: Admin, staff_id: FromPath[int]) -> Response:
    return await _set_active(request, admin, staff_id, active=False)


@post(f"{MEMBER_PATH}/enable", name="admin:staff:enable", **SENSITIVE)
async def enable_member(request: Request, admin: Admin, staff_id: FromPath[int]) -> Response:
    return await _set_active(request, admin, staff_id, active=True)


@post(f"{MEMBER_PATH}/invitation", name="admin:staff:invitation", **SENSITIVE)
async def resend_invitation(request: Request, admin: Admin, staff_id: FromPath[int]) -> Response:
    member = await services.get_member(admin.company.id, staff_id)
    action = services.resend_invitation(admin.company.id, staff_id, admin.actor(request))
    return await act(request, action, f"A new invitation was sent to {member.email}.", STAFF_URL)


def _delete_member_page(member: StaffMember, errors: dict[str, str], status_code: int = 200):
    return Template(
        "admin/staff/member_delete.html",
        context={
            "page_title": f"Delete Staff Member – {member.name}",
            "member": member,
            "errors": errors,
        },
        status_code=status_code,
    )


@get(f"{MEMBER_PATH}/delete", name="admin:staff:delete", **SENSITIVE)
async def delete_member_page(admin: Admin, staff_id: FromPath[int]) -> Template:
    return _delete_member_page(await services.get_member(admin.company.id, staff_id), {})


@post(f"{MEMBER_PATH}/delete", name="admin:staff:destroy", **SENSITIVE)
async def delete_member_submit(request: Request, admin: Admin, staff_id: FromPath[int]) -> Response:
    member = await services.get_member(admin.company.id, staff_id)
    try:
        await services.remove_member(admin.company.id, staff_id, admin.actor(request))
    except ValidationError as error:
        return _delete_member_page(member, error.errors, status_code=409)
    flash(request, f"The staff member {member.name} was deleted.", category="success")
    return redirect(request, STAFF_URL)


# --- staff groups -----------------------------------------------------------------------------


@get(GROUPS_PATH, name="admin:staff-groups", permission=STAFF_MANAGE)
async def groups_page(admin: Admin) -> Template:
    return Template(
        "admin/staff/groups.html",
        context={
            "page_title": "Staff Groups",
            "groups": await groups.list_groups(admin.company.id),
            "areas": by_area(),
        },
    )


def _group_page(
    form: GroupForm,
    errors: dict[str, str],
    group: groups.StaffGroupView | None = None,
    status_code: int = 200,
) -> Template:
    return Template(
        "admin/staff/group_form.html",
        context={
            "page_title": f"Edit Staff Group – {group.name}" if group else "Add Staff Group",
            "form": form,
            "chosen": set(form.permissions or ()),
            "errors": errors,
            "group": group,
            "areas": by_area(),
        },
        status_code=status_code,
    )


@get(f"{GROUPS_PATH}/add", name="admin:staff-groups:add", **SENSITIVE)
async def add_group_page(admin: Admin) -> Template:
    return _group_page(GroupForm(permissions=[]), {})


@post(f"{GROUPS_PATH}/add", name="admin:staff-groups:create", **SENSITIVE)
async def add_group_submit(request: Request, admin: Admin) -> Response:
    form = GroupForm.read(await form_data(request))
    try:
        await groups.create_group(
            admin.company.id, form.name, form.permissions or [], admin.actor(request)
        )
    except ValidationError as error:
        return _group_page(form, error.errors, status_code=422)
    flash(request, f"The staff group {form.name} was created.", category="success")
    return redirect(request, GROUPS_URL)


@get(f"{GROUP_PATH}/edit", name="admin:staff-groups:edit", **SENSITIVE)
async def edit_group_page(admin: Admin, group_id: FromPath[int]) -> Template:
    group = await groups.get_group(admin.company.id, group_id)
    return _group_page(GroupForm(name=group.name, permissions=sorted(group.permissions)), {}, group)


@post(f"{GROUP_PATH}/edit", name="admin:staff-groups:update", **SENSITIVE)
async def edit_group_submit(request: Request, admin: Admin, group_id: FromPath[int]) -> Response:
    group = await groups.get_group(admin.company.id, group_id)
    form = GroupForm.read(await form_data(request))
    try:
        await groups.update_group(
            admin.company.id, group_id, form.name, form.permissions or [], admin.actor(request)
        )
    except ValidationError as error:
        return _group_page(form, error.errors, group, status_code=422)
    flash(request, f"The staff group {form.name} was saved.", category="success")
    return redirect(request, GROUPS_URL)


@post(f"{GROUP_PATH}/delete", name="admin:staff-groups:destroy", **SENSITIVE)
async def delete_group_submit(request: Request, admin: Admin, group_id: FromPath[int]) -> Response:
    group = await groups.get_group(admin.company.id, group_id)
    action = groups.delete_group(admin.company.id, group_id, admin.actor(request))
    return await act(request, action, f"The staff group {group.name} was deleted.", GROUPS_URL)


admin_handlers = [
    staff_page,
    two_factor_submit,
    add_member_page,
    add_member_submit,
    edit_member_page,
    edit_member_submit,
    disable_member,
    enable_member,
    resend_invitation,
    delete_member_page,
    delete_member_submit,
    groups_page,
    add_group_page,
    add_group_submit,
    edit_group_page,
    edit_group_submit,
    delete_group_submit,
]
