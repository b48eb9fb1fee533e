"""Login as Client: a staff member opens the client area as an account's owner, beside their own
staff session, after giving a reason; the client area shows a banner with the way back ("End").
The rules (permission, active client, audit lines) live in portal.clients.sign_in."""

from __future__ import annotations

import time

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.plugins.flash import flash
from litestar.response import Template

from portal.client_area.access import SESSION_KEY, CurrentClient
from portal.clients import sign_in
from portal.clients.pages import client_page
from portal.clients.services import get_client
from portal.core.actors import Actor
from portal.core.errors import ValidationError
from portal.core.permissions import CLIENTS_LOGIN_AS
from portal.core.web import client_address, form_data, redirect
from portal.staff.access import SESSION_KEY as STAFF_SESSION_KEY
from portal.staff.access import Admin, AdminContext


async def _form(
    admin: AdminContext, client_id: int, reason: str, errors: dict, status_code: int = 200
) -> Template:
    client = await get_client(admin.company.id, client_id)
    return client_page(
        "admin/clients/login_as.html", "Login as Client", client, errors, status_code, reason=reason
    )


@get(
    "/clients/{client_id:int}/login-as",
    name="admin:clients:login-as",
    permission=CLIENTS_LOGIN_AS,
    confirm=True,
)
async def login_as_page(admin: Admin, client_id: FromPath[int]) -> Template:
    return await _form(admin, client_id, "", {})


@post(
    "/clients/{client_id:int}/login-as",
    name="admin:clients:login-as-start",
    permission=CLIENTS_LOGIN_AS,
    confirm=True,
)
async def login_as_submit(request: Request, admin: Admin, client_id: FromPath[int]) -> Response:
    data = await form_data(request)
    reason = data.get("reason", "")
    try:
        opened = await sign_in.log_in_as_client(
            admin.company.id,
            client_id,
            reason,
            admin.actor(request),
            request.headers.get("user-agent", ""),
        )
    except ValidationError as error:
        return await _form(admin, client_id, reason, error.errors, 422)
    request.session[SESSION_KEY] = {
        "user": opened.user_id,
        "account": opened.client_id,
        "company": opened.company_id,
        "epoch": opened.session_epoch,
        "lang": opened.language,
        "since": int(time.time()),
        "login": opened.handle,
        "staff": {"id": admin.staff.id, "name": admin.staff.name},
    }
    return redirect(request, "/client")


@post("/login-as/end", name="client:login-as-end")
async def login_as_end(request: Request, user: CurrentClient) -> Response:
    """Back to the admin area: the client-area session ends, the staff session stays."""
    data = request.session.get(SESSION_KEY, {})
    staff = request.session.get(STAFF_SESSION_KEY)
    request.session.pop(SESSION_KEY, None)
    if not user.acting_staff or not isinstance(staff, dict):
        return redirect(request, "/client/login")
    await sign_in.end_login_as_client(
        user.company_id, user.id, str(data.get("login", "")), _staff_actor(request, data)
    )
    flash(request, f"You are no longer logged in as client {user.name}.", category="success")
    return redirect(request, f"/admin/clients/{user.id}")


def _staff_actor(request: Request, data: dict) -> Actor:
    staff = data.get("staff") or {}
    return Actor(
        kind="staff",
        id=staff.get("id"),
        address=client_address(request),
        name=str(staff.get("name", "")),
    )


admin_handlers = [login_as_page, login_as_submit]
client_handlers = [login_as_end]
