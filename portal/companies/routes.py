"""The company switcher of the admin header."""

from __future__ import annotations

from litestar import Request, Response, post
from litestar.exceptions import NotFoundException

from portal.core.ids import parse_id
from portal.core.web import form_data, redirect, safe_next
from portal.staff.access import Admin, set_company


@post("/company", name="admin:switch-company")
async def switch_company(request: Request, admin: Admin) -> Response:
    data = await form_data(request)
    company_id = parse_id(data.get("company_id", ""))
    if company_id not in {company.id for company in admin.companies}:
        raise NotFoundException()
    set_company(request, company_id)
    next_url = safe_next(data.get("next"), "/admin")
    # A page about one record (a client, a group...) belongs to the old company: go home instead.
    if any(part.isdigit() for part in next_url.split("?")[0].split("/")):
        next_url = "/admin"
    return redirect(request, next_url)


admin_handlers = [switch_company]
