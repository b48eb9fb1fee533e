"""The admin area's home page: the dashboard (see portal.dashboard.services)."""

from __future__ import annotations

from litestar import Request, get
from litestar.response import Template

from portal.clients.profile_routes import money_formatter
from portal.clients.services import STATUSES
from portal.dashboard import services
from portal.staff.access import Admin


@get("/", name="admin:dashboard", permission=None)
async def dashboard(request: Request, admin: Admin) -> Template:
    board = await services.build_dashboard(admin.company.id, admin.actor(request))
    return Template(
        "admin/dashboard.html",
        context={
            "page_title": "Dashboard",
            "board": board,
            "statuses": STATUSES,
            "money": money_formatter(admin),
        },
    )


admin_handlers = [dashboard]
