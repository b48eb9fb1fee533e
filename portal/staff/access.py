"""Who is working in the admin area: the staff session, its timeouts, and the company in use.

Every admin route runs behind `require_staff`, which puts an `AdminContext` on the request; the
company in it is the one every admin query is scoped to.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException
from litestar.handlers import BaseRouteHandler

from portal.companies.services import CompanyRef, companies_of_staff
from portal.core.actors import Actor
from portal.core.config import get_settings
from portal.core.sessions import start_new_session
from portal.core.web import client_address
from portal.staff.services import StaffUser, session_staff

SESSION_KEY = "staff"


@dataclass(frozen=True)
class AdminContext:
    staff: StaffUser
    company: CompanyRef
    companies: list[CompanyRef]

    def actor(self, request: Request) -> Actor:
        """The staff member as the actor of a change made by this request."""
        return Actor(kind="staff", id=self.staff.id, address=client_address(request))


async def log_in(request: Request, staff: StaffUser, company_id: int | None = None) -> None:
    await start_new_session(request)
    request.session[SESSION_KEY] = {
        "id": staff.id,
        "epoch": staff.session_epoch,
        "company": company_id,
        "since": int(time.time()),
    }


async def log_out(request: Request) -> None:
    """Ends the session server-side."""
    await start_new_session(request)


def set_company(request: Request, company_id: int) -> None:
    request.session[SESSION_KEY] = {**request.session[SESSION_KEY], "company": company_id}


async def load_admin(connection: ASGIConnection) -> AdminContext | None:
    """The admin context of this request, or None when no valid staff session exists."""
    data = connection.session.get(SESSION_KEY) if connection.scope.get("session") else None
    if not isinstance(data, dict):
        return None
    if time.time() - data.get("since", 0) > get_settings().session_absolute_seconds:
        connection.session.pop(SESSION_KEY, None)
        return None
    staff = await session_staff(data.get("id", 0), data.get("epoch", -1))
    if staff is None:
        connection.session.pop(SESSION_KEY, None)
        return None
    companies = await companies_of_staff(staff.id)
    if not companies:
        return None
    company = next((c for c in companies if c.id == data.get("company")), companies[0])
    if data.get("company") != company.id:
        connection.session[SESSION_KEY] = {**data, "company": company.id}
    return AdminContext(staff=staff, company=company, companies=companies)


async def require_staff(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    admin = await load_admin(connection)
    if admin is None:
        raise NotAuthorizedException("Log in to continue.")
    connection.state.admin = admin


def provide_admin(request: Request) -> AdminContext:
    return request.state.admin


# How admin handlers ask for the context: `admin: Admin`.
Admin = NamedDependency[AdminContext]
