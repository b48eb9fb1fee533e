"""Admin area: the client profile's Users widget (the logins of the account and its pending
invitations) and what staff who may edit clients do there: invite an address, revoke an
invitation, remove a user. The rules live in portal.clients.users."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, post
from litestar.params import FromPath
from litestar.plugins.flash import flash
from litestar.response import Template

from portal.clients import services, sign_in, users
from portal.clients.forms import read_invitation
from portal.clients.pages import profile_url
from portal.clients.services import ClientView
from portal.core.buttons import act
from portal.core.errors import ValidationError
from portal.core.permissions import CLIENTS_EDIT, CLIENTS_SECURITY
from portal.core.web import form_data, redirect
from portal.security import two_factor
from portal.staff.access import Admin, AdminContext

USERS = "/clients/{client_id:int}/users"


def _back(client_id: int) -> str:
    return profile_url(client_id, "widget-users")


async def users_widget(
    admin: AdminContext,
    client: ClientView,
    page: int,
    invite: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The widget's content. Only staff who may edit clients see and manage the account's
    users (the services' rule); others get a short note."""
    context: dict[str, Any] = {
        "may_manage": admin.may(CLIENTS_EDIT),
        "may_reset": admin.may(CLIENTS_SECURITY),
        "members": [],
        "invitations": [],
        "permissions": list(users.ACCOUNT_PERMISSIONS.items()),
        "invite": invite or {"email": "", "permissions": []},
        "errors": errors or {},
    }
    if context["may_manage"]:
        context["members"] = await users.members(admin.company.id, client.id, admin.actor())
        context["two_factor"] = await two_factor.enabled_among(
            "client", [member.user_id for member in context["members"]]
        )
        context["invitations"] = await users.pending_invitations(
            admin.company.id, client.id, admin.actor()
        )
    return context


@post(f"{USERS}/invite", name="admin:clients:users-invite", permission=CLIENTS_EDIT)
async def invite_submit(request: Request, admin: Admin, client_id: FromPath[int]) -> Response:
    client = await services.get_client(admin.company.id, client_id)
    data = await form_data(request)
    invite = read_invitation(data)
    try:
        await users.invite(
            admin.company.id,
            client.id,
            invite["email"],
            invite["permissions"],
            admin.actor(request),
        )
    except ValidationError as error:
        return await _widget_page(admin, client, invite, error.errors)
    flash(request, f"An invitation was sent to {invite['email']}.", category="success")
    return redirect(request, _back(client.id))


async def _widget_page(
    admin: AdminContext, client: ClientView, invite: dict[str, Any], errors: dict[str, str]
) -> Template:
    """The Users widget on a page of its own, with the invite form as it was sent."""
    from portal.clients.profile_routes import widget_page  # imports this module

    content = await users_widget(admin, client, 1, invite, errors)
    return widget_page(admin, client, "users", content, status_code=422)


@post(
    f"{USERS}/invitations/{{invitation_id:int}}/revoke",
    name="admin:clients:users-revoke",
    permission=CLIENTS_EDIT,
)
async def revoke_submit(
    request: Request, admin: Admin, client_id: FromPath[int], invitation_id: FromPath[int]
) -> Response:
    client = await services.get_client(admin.company.id, client_id)
    await users.revoke_invitation(admin.company.id, client.id, invitation_id, admin.actor(request))
    flash(request, "The invitation was revoked.", category="success")
    return redirect(request, _back(client.id))


@post(f"{USERS}/{{user_id:int}}/remove", name="admin:clients:users-remove", permission=CLIENTS_EDIT)
async def remove_submit(
    request: Request, admin: Admin, client_id: FromPath[int], user_id: FromPath[int]
) -> Response:
    client = await services.get_client(admin.company.id, client_id)
    action = users.remove_member(admin.company.id, client.id, user_id, admin.actor(request))
    return await act(request, action, "The user was removed from the account.", _back(client.id))


@post(
    "/clients/{client_id:int}/users/{user_id:int}/two-factor/reset",
    name="admin:clients:users-two-factor-reset",
    permission=CLIENTS_SECURITY,
    confirm=True,
)
async def reset_two_factor_submit(
    request: Request, admin: Admin, client_id: FromPath[int], user_id: FromPath[int]
) -> Response:
    try:
        name = await sign_in.reset_two_factor(
            admin.company.id, client_id, user_id, admin.actor(request)
        )
    except ValidationError as error:
        flash(request, next(iter(error.errors.values())), category="error")
        return redirect(request, _back(client_id))
    flash(
        request,
        f"Two-factor sign-in of {name} was reset; their sessions ended. They sign in with their "
        "password alone until they set it up again.",
        category="success",
    )
    return redirect(request, _back(client_id))


@post(
    "/clients/{client_id:int}/sessions/end",
    name="admin:clients:sessions-end",
    permission=CLIENTS_SECURITY,
)
async def end_sessions_submit(request: Request, admin: Admin, client_id: FromPath[int]) -> Response:
    ended = await sign_in.end_account_sessions(admin.company.id, client_id, admin.actor(request))
    flash(
        request,
        f"{ended} session{'s' if ended != 1 else ''} of the account's users ended.",
        category="success",
    )
    return redirect(request, _back(client_id))


admin_handlers = [
    invite_submit,
    revoke_submit,
    remove_submit,
    reset_two_factor_submit,
    end_sessions_submit,
]
