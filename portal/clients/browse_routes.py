"""Admin area: [Clients] > Browse, the search results page, the live results under the header
search box. HTTP only; the rules are in
portal.clients.browse and portal.clients.search.

Browse and search results answer htmx requests that target their region with the region alone
(the address bar follows through hx-push-url); any other request gets the whole page, so links
work without JavaScript and a reload shows the same view."""

from __future__ import annotations

from litestar import Request, Response, get
from litestar.exceptions import HTTPException
from litestar.params import FromQuery
from litestar.response import Template
from litestar.status_codes import HTTP_400_BAD_REQUEST

from portal.clients import browse, segments
from portal.clients.bulk_routes import action_choices
from portal.clients.services import STATUSES
from portal.core.countries import countries
from portal.core.errors import ValidationError
from portal.core.permissions import CLIENTS_VIEW
from portal.core.web import redirect, wants_region
from portal.staff.access import Admin

BROWSE_REGION = "client-browse"
SEARCH_REGION = "client-search"


@get("/clients", name="admin:clients:browse", permission=CLIENTS_VIEW)
async def browse_page(request: Request, admin: Admin) -> Template:
    try:
        query = browse.read_browse_query(request.query_params)
    except ValidationError as error:
        raise HTTPException(
            status_code=HTTP_400_BAD_REQUEST, detail=" ".join(error.errors.values())
        ) from None
    result = await browse.browse_clients(admin.company.id, query)
    context = {
        "page_title": "Clients",
        "result": result,
        "tabs": browse.TABS,
        "statuses": STATUSES,
        "group_options": [(group["id"], group["name"]) for group in result.groups],
        "tag_options": [(tag.id, tag.name) for tag in result.tags],
        "segments": await segments.list_segments(admin.company.id, described=False),
        "bulk_actions": action_choices(admin, request),
        "bulk_source": "browse",
        "countries": countries(admin.staff.language),
        "per_page_options": [(choice, str(choice)) for choice in browse.PER_PAGE_CHOICES],
        "results_path": "/admin/clients",
        "region": BROWSE_REGION,
        "sortable": True,
    }
    if wants_region(request, BROWSE_REGION):
        return Template("admin/clients/_browse.html", context=context)
    return Template("admin/clients/browse.html", context=context)


@get("/clients/search", name="admin:clients:search", permission=CLIENTS_VIEW)
async def search_page(request: Request, admin: Admin) -> Response:
    page_query = browse.read_search_query(request.query_params)
    result = await browse.search_clients(admin.company.id, page_query)
    if result.exact_id is not None and "page" not in request.query_params:
        return redirect(request, f"/admin/clients/{result.exact_id}")
    context = {
        "page_title": f"Search: {result.text}" if result.text else "Search",
        "search_text": result.text,
        "result": result,
        "statuses": STATUSES,
        "results_path": "/admin/clients/search",
        "region": SEARCH_REGION,
        "sortable": False,
        "bulk_actions": action_choices(admin, request),
        "bulk_source": "search",
    }
    if wants_region(request, SEARCH_REGION):
        return Template("admin/clients/_search.html", context=context)
    return Template("admin/clients/search.html", context=context)


@get("/clients/suggestions", name="admin:clients:suggestions", permission=CLIENTS_VIEW)
async def search_suggestions(admin: Admin, q: FromQuery[str] = "") -> Template:
    """The options under the header search box while the staff member types."""
    result = await browse.suggest_clients(admin.company.id, q)
    return Template(
        "admin/clients/_suggestions.html", context={"result": result, "statuses": STATUSES}
    )


admin_handlers = [browse_page, search_page, search_suggestions]
