"""The client area's Users page (the owner manages who else may work in the account) and the
invitation links."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.plugins.flash import flash
from litestar.response import Template

from portal.client_area import services
from portal.client_area.access import (
    CLIENT_AREA,
    CurrentClient,
    current_client,
    log_in,
)
from portal.clients import users
from portal.clients.forms import read_invitation, read_permissions
from portal.companies.services import company_ref
from portal.core import throttle
from portal.core.errors import NotFound, Throttled, ValidationError
from portal.core.forms import text
from portal.core.i18n import LANGUAGES, N_, Message, current_language, translate
from portal.core.permissions import AS_STAFF, Forbidden
from portal.core.web import client_address, form_data, redirect, throttled
from portal.security.two_factor import Login
from portal.security.web import REFUSED_AS_STAFF

THROTTLED = N_("Too many attempts. Wait 15 minutes and try again.")
OTHER_COMPANY = N_("This login is not one of this provider's. Create a login below instead.")
INVALID_TITLE = N_("Invitation not valid")
INVALID_MESSAGE = N_("This invitation link is no longer valid (used, revoked or expired).")
MAX_TOKEN = 100


def _page(template: str, status_code: int = 200, **context: Any) -> Template:
    return Template(f"client/{template}", context=context, status_code=status_code)


def _labels() -> list[tuple[str, str]]:
    return list(users.ACCOUNT_PERMISSIONS.items())


# --- the owner's Users page -----------------------------------------------------------------


async def _users_page(
    user: services.ClientUser,
    *,
    invite: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Template:
    members = await users.members(user.company_id, user.id, user.actor)
    invitations = await users.pending_invitations(user.company_id, user.id, user.actor)
    return _page(
        "users/list.html",
        status_code,
        page_title="Users",
        members=members,
        invitations=invitations,
        permissions=_labels(),
        invite=invite or {"email": "", "permissions": []},
        errors=errors or {},
    )


async def _member(user: services.ClientUser, user_id: int, not_owner: bool = False) -> users.Member:
    found = next(
        (
            m
            for m in await users.members(user.company_id, user.id, user.actor)
            if m.user_id == user_id
        ),
        None,
    )
    if found is None or (not_owner and found.owner):
        raise NotFound()
    return found


@get("/users", name="client:users")
async def users_page(user: CurrentClient) -> Template:
    return await _users_page(user)


@post("/users/invite", name="client:users-invite", **{REFUSED_AS_STAFF: True})
async def invite_submit(request: Request, user: CurrentClient) -> Response:
    data = await form_data(request)
    invite = read_invitation(data)
    try:
        await users.invite(
            user.company_id, user.id, invite["email"], invite["permissions"], user.actor
        )
    except ValidationError as error:
        return await _users_page(user, invite=invite, errors=error.errors, status_code=422)
    flash(
        request,
        translate(Message(N_("An invitation was sent to %(email)s."), email=invite["email"])),
        category="success",
    )
    return redirect(request, "/client/users")


@post(
    "/users/invitations/{invitation_id:int}/revoke",
    name="client:users-revoke",
    **{REFUSED_AS_STAFF: True},
)
async def revoke_submit(
    request: Request, user: CurrentClient, invitation_id: FromPath[int]
) -> Response:
    await users.revoke_invitation(user.company_id, user.id, invitation_id, user.actor)
    flash(request, translate("The invitation was revoked."), category="success")
    return redirect(request, "/client/users")


def _member_page(
    template: str,
    member: users.Member,
    errors: dict[str, str],
    status_code: int = 200,
    chosen: list[str] | None = None,
) -> Template:
    return _page(
        f"users/{template}",
        status_code,
        member=member,
        permissions=_labels(),
        chosen=sorted(member.permissions) if chosen is None else chosen,
        errors=errors,
    )


async def _member_action(
    request: Request,
    template: str,
    member: users.Member,
    action: Awaitable[Any],
    done: str,
    chosen: list[str] | None = None,
) -> Response:
    """A form about one member: its refusal shown on the page again, or `done` (a message with
    the member's %(name)s) back on the Users page."""
    try:
        await action
    except ValidationError as error:
        return _member_page(template, member, error.errors, 422, chosen)
    flash(request, translate(Message(done, name=member.name)), category="success")
    return redirect(request, "/client/users")


@get("/users/{user_id:int}", name="client:users-edit")
async def permissions_page(user: CurrentClient, user_id: FromPath[int]) -> Template:
    return _member_page("permissions.html", await _member(user, user_id), {})


@post("/users/{user_id:int}", name="client:users-edit-submit", **{REFUSED_AS_STAFF: True})
async def permissions_submit(
    request: Request, user: CurrentClient, user_id: FromPath[int]
) -> Response:
    member = await _member(user, user_id)
    chosen = read_permissions(await form_data(request))
    return await _member_action(
        request,
        "permissions.html",
        member,
        users.set_permissions(user.company_id, user.id, user_id, chosen, user.actor),
        N_("The permissions of %(name)s were saved."),
        chosen,
    )


@get("/users/{user_id:int}/remove", name="client:users-remove")
async def remove_page(user: CurrentClient, user_id: FromPath[int]) -> Template:
    return _member_page("remove.html", await _member(user, user_id), {})


@post("/users/{user_id:int}/remove", name="client:users-remove-submit", **{REFUSED_AS_STAFF: True})
async def remove_submit(request: Request, user: CurrentClient, user_id: FromPath[int]) -> Response:
    member = await _member(user, user_id)
    return await _member_action(
        request,
        "remove.html",
        member,
        users.remove_member(user.company_id, user.id, user_id, user.actor),
        N_("%(name)s was removed from the account."),
    )


@get("/users/{user_id:int}/owner", name="client:users-owner")
async def owner_page(user: CurrentClient, user_id: FromPath[int]) -> Template:
    return _member_page("owner.html", await _member(user, user_id, not_owner=True), {})


@post("/users/{user_id:int}/owner", name="client:users-owner-submit", **{REFUSED_AS_STAFF: True})
async def owner_submit(request: Request, user: CurrentClient, user_id: FromPath[int]) -> Response:
    """Hands the account to another of its users, after the owner's current password (checked
    and throttled like the password asked for an email change)."""
    member = await _member(user, user_id, not_owner=True)
    password = str((await form_data(request)).get("password", ""))
    attempt = await throttle.begin(
        services.CONFIRM_THROTTLE_AREA, f"user:{user.user_id}", client_address(request)
    )
    if attempt is None:
        return throttled(_member_page("owner.html", member, {"password": THROTTLED}))
    try:
        await users.transfer_ownership(user.company_id, user.id, user_id, user.actor, password)
    except ValidationError as error:
        if "password" in error.errors:
            await throttle.failed(attempt)
        return _member_page("owner.html", member, error.errors, 422)
    await throttle.succeeded(attempt)
    flash(
        request,
        translate(Message(N_("%(name)s is now the owner of the account."), name=member.name)),
        category="success",
    )
    return redirect(request, "/client")


handlers: list = [
    users_page,
    invite_submit,
    revoke_submit,
    permissions_page,
    permissions_submit,
    remove_page,
    remove_submit,
    owner_page,
    owner_submit,
]


# --- invitation links (no login needed) ------------------------------------------------------


async def _session_user(request: Request) -> services.ClientUser | None:
    """The client logged in with this browser, if its session is still valid."""
    return await current_client(request)


def _invalid() -> Template:
    return _page("invitation_invalid.html", 404, title=INVALID_TITLE, message=INVALID_MESSAGE)


async def _invitation(request: Request, token: str) -> users.Invitation | None:
    """The open invitation of a link; the pages show its company's name and logo. Too many
    unknown links from the address: Throttled (a 429 page, see the handlers)."""
    invitation = await services.open_invitation(token[:MAX_TOKEN], client_address(request))
    if invitation is not None:
        request.state.brand = await company_ref(invitation.company_id)
    return invitation


async def _invitation_page(
    request: Request,
    token: str,
    invitation: users.Invitation,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    form: str = "",
    status_code: int = 200,
) -> Template:
    visitor = await _session_user(request)
    same_company = visitor is not None and visitor.company_id == invitation.company_id
    return _page(
        "invitation.html",
        status_code,
        token=token,
        invitation=invitation,
        permissions=_labels(),
        visitor=visitor if same_company else None,
        errors=errors or {},
        form=form,  # the form the errors belong to: "accept", "login" or "create"
        values={"identifier": "", "name": "", "username": "", **(values or {})},
    )


@get("/invitation/{token:str}", name="client:invitation")
async def invitation_page(request: Request, token: FromPath[str]) -> Template:
    invitation = await _invitation(request, token)
    if invitation is None:
        return _invalid()
    return await _invitation_page(request, token, invitation)


@post("/invitation/{token:str}/accept", name="client:invitation-accept")
async def invitation_accept(request: Request, token: FromPath[str]) -> Response:
    """A logged-in user of the same company joins the account and works in it at once."""
    invitation = await _invitation(request, token)
    if invitation is None:
        return _invalid()
    visitor = await _session_user(request)
    if visitor is None or visitor.company_id != invitation.company_id:
        return redirect(request, f"/client/invitation/{token}")
    if visitor.acting_staff:  # staff working as a client do not change its memberships
        raise Forbidden(AS_STAFF)

    async def again(errors: dict[str, str], status_code: int) -> Template:
        return await _invitation_page(
            request, token, invitation, errors=errors, form="accept", status_code=status_code
        )

    return await _accept(request, token, invitation, visitor, again, signed_in=True)


async def _accept(
    request: Request,
    token: str,
    invitation: users.Invitation,
    user: services.ClientUser,
    again: Callable[[dict[str, str], int], Awaitable[Template]],
    *,
    signed_in: bool,
) -> Response:
    """`user`, whose login was checked, joins the invited account (refused: the page `again`
    with the errors)."""
    try:
        client_id = await users.accept_as(token[:MAX_TOKEN], user.user_id)
    except NotFound:
        return _invalid()
    except ValidationError as error:
        return await again(error.errors, 422)
    return await _joined(request, invitation, user, client_id, signed_in=signed_in)


async def _joined(
    request: Request,
    invitation: users.Invitation,
    user: services.ClientUser,
    client_id: int,
    *,
    signed_in: bool,
) -> Response:
    """The user works in the account it joined from now on: in the session it is signed in
    with, or in one that starts now."""
    switched = await services.switch_account(user, client_id)
    if signed_in:
        CLIENT_AREA.update_entry(request, account=switched.id, company=switched.company_id)
    else:
        await log_in(request, switched)
    flash(
        request,
        translate(
            Message(N_("You joined the account %(account)s."), account=invitation.account_label)
        ),
        category="success",
    )
    return redirect(request, "/client")


@post("/invitation/{token:str}/login", name="client:invitation-login")
async def invitation_login(request: Request, token: FromPath[str]) -> Response:
    """Accepts with a login the person already has (of the same company)."""
    invitation = await _invitation(request, token)
    if invitation is None:
        return _invalid()
    data = await form_data(request)
    identifier = text(data, "identifier")

    async def again(errors: dict[str, str], status_code: int) -> Template:
        return await _invitation_page(
            request,
            token,
            invitation,
            errors=errors,
            values={"identifier": identifier},
            form="login",
            status_code=status_code,
        )

    try:
        user = await services.authenticate(
            identifier, str(data.get("login_password", "")), client_address(request)
        )
    except Throttled:
        return throttled(await again({"": THROTTLED}, 200))
    except ValidationError as error:
        return await again(error.errors, 400)
    if user.company_id != invitation.company_id:
        return await again({"": OTHER_COMPANY}, 400)
    invitation_url = f"/client/invitation/{token[:MAX_TOKEN]}"
    if await CLIENT_AREA.second_step_needed(request, Login("client", user.user_id), invitation_url):
        # The second factor first; signed in, the user accepts on the invitation's page.
        return redirect(request, CLIENT_AREA.second_step_url)
    return await _accept(request, token, invitation, user, again, signed_in=False)


@post("/invitation/{token:str}/create", name="client:invitation-create")
async def invitation_create(request: Request, token: FromPath[str]) -> Response:
    """Accepts with a new login (the invited address is its email), then logs it in."""
    invitation = await _invitation(request, token)
    if invitation is None:
        return _invalid()
    data = await form_data(request)
    values = {"name": text(data, "name"), "username": text(data, "username")}
    password = str(data.get("password", ""))
    language = current_language.get()
    try:
        _, client_id = await users.accept_as_new_user(
            token[:MAX_TOKEN],
            name=values["name"],
            username=values["username"],
            password=password,
            language=language if language in LANGUAGES else "en",
        )
    except NotFound:
        return _invalid()
    except ValidationError as error:
        return await _invitation_page(
            request,
            token,
            invitation,
            errors=error.errors,
            values=values,
            form="create",
            status_code=422,
        )
    username = users.normalise_username(values["username"]) or invitation.email
    try:
        user = await services.authenticate(username, password, client_address(request))
    except (Throttled, ValidationError):
        flash(request, translate("Your login was created. Log in to continue."), category="info")
        return redirect(request, "/client/login")
    return await _joined(request, invitation, user, client_id, signed_in=False)


public_handlers: list = [
    invitation_page,
    invitation_accept,
    invitation_login,
    invitation_create,
]
