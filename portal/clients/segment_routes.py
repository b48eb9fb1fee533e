"""Admin area: segments, Browse's filters saved under a name. "Save as segment" on Browse posts
here; [Clients] > Segments lists them to apply (Browse at their address) or delete. HTTP only;
the rules are in portal.clients.segments."""

from __future__ import annotations

from urllib.parse import parse_qsl

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.plugins.flash import flash
from litestar.response import Template

from portal.clients import segments
from portal.core.errors import ValidationError
from portal.core.forms import text
from portal.core.permissions import CLIENTS_VIEW
from portal.core.web import form_data, redirect
from portal.staff.access import Admin, AdminContext

BASE = "/clients/segments"
URL = f"/admin{BASE}"


async def _segments_page(
    admin: AdminContext,
    *,
    name: str = "",
    view: str = "",
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Template:
    """The list; with `view` (a Browse address's query string whose save failed), the save
    form again, with what was typed and why it failed."""
    return Template(
        "admin/clients/segments.html",
        context={
            "page_title": "Segments",
            "segments": await segments.list_segments(admin.company.id),
            "name": name,
            "view": view,
            "errors": errors or {},
        },
        status_code=status_code,
    )


@get(BASE, name="admin:segments", permission=CLIENTS_VIEW)
async def segments_page(admin: Admin) -> Template:
    return await _segments_page(admin)


@post(BASE, name="admin:segments:save", permission=CLIENTS_VIEW)
async def save_segment(request: Request, admin: Admin) -> Response:
    data = await form_data(request)
    name, view = text(data, "name"), text(data, "view").removeprefix("?")
    try:
        segment_id = await segments.save_segment(
            admin.company.id, name, dict(parse_qsl(view)), admin.actor(request)
        )
    except ValidationError as error:
        return await _segments_page(
            admin, name=name, view=view, errors=error.errors, status_code=422
        )
    segment = await segments.get_segment(admin.company.id, segment_id)
    flash(request, f"The segment {segment.name} was saved.", "success")
    return redirect(request, segment.url)


@post(f"{BASE}/{{segment_id:int}}/delete", name="admin:segments:delete", permission=CLIENTS_VIEW)
async def delete_segment(request: Request, admin: Admin, segment_id: FromPath[int]) -> Response:
    segment = await segments.get_segment(admin.company.id, segment_id)
    await segments.delete_segment(admin.company.id, segment.id, admin.actor(request))
    flash(request, f"The segment {segment.name} was deleted.", "success")
    return redirect(request, URL)


admin_handlers = [segments_page, save_segment, delete_segment]
