"""Admin area: [Tools] > Activity Log, the company's activity log filtered by staff member,
client, kind and dates, a page at a time. HTTP only; the rules are in
portal.activity.services.

The filter is a GET form: without JavaScript it loads the whole page. htmx requests that
target the log's region get the region alone (the address bar follows through hx-push-url),
the same partial the whole page includes."""

from __future__ import annotations

from dataclasses import replace

from litestar import Request, get
from litestar.response import Template

from portal.activity import services
from portal.clients import search
from portal.core.errors import ValidationError
from portal.core.permissions import ACTIVITY_READ
from portal.core.web import wants_region
from portal.staff.access import Admin
from portal.staff.services import list_members

PATH = "/admin/tools/activity"
REGION = "activity-log"


@get("/tools/activity", name="admin:activity", permission=ACTIVITY_READ)
async def activity_log(request: Request, admin: Admin) -> Template:
    query = services.ActivityQuery.of(request.query_params)
    members = await list_members(admin.company.id)

    async def find_client(client_code: str) -> int | None:
        """The company's client of this client ID (compared as written, nothing else)."""
        exact = search.SearchQuery(text=client_code, patterns=(), hint=None)
        return (await search.find_clients(admin.company.id, exact)).exact_id

    result, errors = None, {}
    try:
        activity_filter = await services.read_filter(
            query, {member.id for member in members}, find_client
        )
        result = await services.list_activity(admin.company.id, activity_filter, query.page)
        query = replace(query, page=result.pager.number)
    except ValidationError as error:
        errors = error.errors
    context = {
        "page_title": "Activity Log",
        "query": query,
        "result": result,
        "errors": errors,
        "staff_options": [(member.id, member.name) for member in members],
        "kind_options": list(services.KINDS.items()),
        "region": REGION,
    }
    status_code = 422 if errors else 200
    if wants_region(request, REGION):
        # The address bar gets the view's own address, without the form's empty fields.
        address = f"{PATH}{query.query_string()}"
        return Template(
            "admin/activity/_log.html",
            context=context,
            status_code=status_code,
            headers={"HX-Push-Url": address},
        )
    return Template("admin/activity/log.html", context=context, status_code=status_code)


admin_handlers = [activity_log]
