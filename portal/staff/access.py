"""Who is working in the admin area: the staff session, its timeouts, the company in use and
what the staff member may do there.

Every admin route runs behind `require_staff`, which puts an `AdminContext` on the request; the
company in it is the one every admin query is scoped to. Every admin route also says which
permission it needs (`@get(..., permission=CLIENTS_VIEW)`, or `permission=None` for pages any
staff member may open): the guard refuses the others with 403, whatever page a request came from.
"""

from __future__ import annotations

from dataclasses import dataclass

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException
from litestar.handlers import BaseRouteHandler

from portal.companies.services import CompanyRef
from portal.core.actors import Actor
from portal.core.permissions import Forbidden
from portal.core.web import client_address
from portal.security.two_factor import Login
from portal.security.web import Area, SecurityStep, Who
from portal.staff import services
from portal.staff.groups import Membership
from portal.staff.services import StaffUser, signed_in_staff

SESSION_KEY = "staff"
PERMISSION = "permission"  # the key of a route handler's opt that names what it needs
# A route handler's opt for sensitive actions: the staff member confirms it is them (password or
# passkey) unless they did in the last minutes.
CONFIRM = "confirm"


@dataclass(frozen=True)
class AdminContext:
    staff: StaffUser
    company: CompanyRef
    companies: list[CompanyRef]
    membership: Membership

    def may(self, permission: str) -> bool:
        return permission in self.membership.permissions

    def actor(self, request: Request | None = None) -> Actor:
        """The staff member as the actor of a change made by this request (of a read, where
        no request is at hand)."""
        return Actor(
            kind="staff",
            id=self.staff.id,
            address=client_address(request) if request is not None else "",
            name=self.staff.name,
            permissions=self.membership.permissions,
        )


async def log_in(request: Request, staff: StaffUser, method: str = "password") -> None:
    await STAFF_AREA.start_session(
        request,
        Login("staff", staff.id),
        method,
        lambda: services.must_enrol_two_factor(staff.id),
        id=staff.id,
        epoch=staff.session_epoch,
        company=None,
    )


async def sign_in_with_password(request: Request, staff: StaffUser, next_url: str) -> str:
    return await STAFF_AREA.sign_in_with_password(
        request, Login("staff", staff.id), next_url, lambda: log_in(request, staff)
    )


async def log_out(request: Request) -> None:
    await STAFF_AREA.log_out(request)


async def load_admin(connection: ASGIConnection) -> AdminContext | None:
    """The admin context of this request, or None when no valid staff session exists."""
    data = STAFF_AREA.entry(connection)
    if not data:
        return None
    signed_in = None
    if STAFF_AREA.within_lifetime(data):
        signed_in = await signed_in_staff(
            data.get("id", 0), data.get("epoch", -1), str(data.get("login", ""))
        )
    if signed_in is None:
        await STAFF_AREA.forget(connection)
        return None
    if not signed_in.companies:
        return None
    company, member = next(
        ((c, m) for c, m in signed_in.companies if c.id == data.get("company")),
        signed_in.companies[0],
    )
    if data.get("company") != company.id:
        STAFF_AREA.update_entry(connection, company=company.id)
    return AdminContext(
        staff=signed_in.staff,
        company=company,
        companies=[c for c, _ in signed_in.companies],
        membership=member,
    )


async def require_staff(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    admin = await load_admin(connection)
    if admin is None:
        raise NotAuthorizedException("Log in to continue.")
    connection.state.admin = admin
    STAFF_AREA.require_enrolled(connection, handler)  # where the company requires two-factor
    needed = handler.opt.get(PERMISSION)
    if needed is not None and not admin.may(needed):
        raise Forbidden(needed)
    if handler.opt.get(CONFIRM) and not STAFF_AREA.confirmed_recently(connection):
        raise SecurityStep(STAFF_AREA.confirm_url(STAFF_AREA.page_of(connection)))


def provide_admin(request: Request) -> AdminContext:
    return request.state.admin


# How admin handlers ask for the context: `admin: Admin`.
Admin = NamedDependency[AdminContext]


# --- the security pages of the admin area (portal.security.routes) ---------------------------


async def _who(request: Request) -> Who:
    admin: AdminContext = request.state.admin
    return Who(
        login=Login("staff", admin.staff.id),
        user_name=admin.staff.email,
        display_name=admin.staff.name,
        issuer=admin.company.name,
    )


async def _check_password(request: Request, who: Who, password: str) -> None:
    await services.confirm_password(request.state.admin.staff, password, client_address(request))


async def _sign_in(request: Request, login: Login, method: str) -> None:
    staff = await services.active_staff(login.user_id)
    if staff is None:
        raise NotAuthorizedException("Log in to continue.")
    await services.record_sign_in(staff, client_address(request), method)
    await log_in(request, staff, method)


async def _record(request: Request, who: Who, summary: str) -> None:
    await services.record_security_change(
        request.state.admin.staff, client_address(request), summary
    )


STAFF_AREA = Area(
    name="admin",
    kind="staff",
    session_key=SESSION_KEY,
    who=_who,
    check_password=_check_password,
    sign_in=_sign_in,
    record=_record,
    home="/admin",
)
