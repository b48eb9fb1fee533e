"""Admin area: Merge Client, from a client's profile (the client that is kept): find the
duplicate, see side by side what stays and what moves, confirm. The rules are in
portal.clients.merge; a merged client's old profile address leads to the kept client's
(`merged_client_redirect`, called by the profile route)."""

from __future__ import annotations

from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.plugins.flash import flash
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Template

from portal.clients import merge, services
from portal.clients.pages import profile_url
from portal.core.errors import Conflict, NotFound, ValidationError
from portal.core.forms import text
from portal.core.ids import parse_id
from portal.core.permissions import CLIENTS_DELETE
from portal.core.web import form_data, redirect, wants_region
from portal.staff.access import Admin, AdminContext

CANDIDATES_REGION = "merge-candidates"


async def _pick_page(
    request: Request,
    admin: AdminContext,
    client_id: int,
    q: str,
    errors: dict[str, str],
    status_code: int = 200,
) -> Template:
    client = await services.get_client(admin.company.id, client_id)
    result = await merge.candidates(admin.company.id, q, admin.actor(request))
    context = {
        "page_title": f"Merge Client – {client.name}",
        "client": client,
        "q": q,
        "result": result,
        "candidates": [row for row in result.rows if row.id != client.id] if result else [],
        "statuses": services.STATUSES,
        "errors": errors,
    }
    if wants_region(request, CANDIDATES_REGION):
        context["region_only"] = True
        return Template("admin/clients/_merge_candidates.html", context=context)
    return Template("admin/clients/merge.html", context=context, status_code=status_code)


@get(
    "/clients/{client_id:int}/merge",
    name="admin:clients:merge",
    permission=CLIENTS_DELETE,
    confirm=True,
)
async def merge_page(
    request: HTMXRequest, admin: Admin, client_id: FromPath[int], q: FromQuery[str] = ""
) -> Template:
    """Finding the duplicate: the header search's matches, as a list to choose from (htmx
    swaps the list in as staff type; without JavaScript the form's Search button does)."""
    return await _pick_page(request, admin, client_id, q[:255], {})


async def _preview_page(
    admin: AdminContext,
    kept_id: int,
    merged_id: int,
    request: Request,
    errors: dict[str, str],
    status_code: int = 200,
) -> Template:
    preview = await merge.preview(admin.company.id, kept_id, merged_id, admin.actor(request))
    return Template(
        "admin/clients/merge_preview.html",
        context={
            "page_title": f"Merge Client – {preview.merged.name} into {preview.kept.name}",
            "preview": preview,
            "kept": preview.kept,
            "merged": preview.merged,
            "statuses": services.STATUSES,
            "errors": errors,
        },
        status_code=status_code,
    )


@get(
    "/clients/{client_id:int}/merge/preview",
    name="admin:clients:merge-preview",
    permission=CLIENTS_DELETE,
    confirm=True,
)
async def merge_preview_page(
    request: HTMXRequest, admin: Admin, client_id: FromPath[int], duplicate: FromQuery[str] = ""
) -> Template:
    merged_id = parse_id(duplicate)
    if merged_id is None:
        raise NotFound()
    try:
        return await _preview_page(admin, client_id, merged_id, request, {})
    except ValidationError as error:
        return await _pick_page(request, admin, client_id, "", error.errors, status_code=422)


@post(
    "/clients/{client_id:int}/merge",
    name="admin:clients:merge-confirm",
    permission=CLIENTS_DELETE,
    confirm=True,
)
async def merge_submit(request: HTMXRequest, admin: Admin, client_id: FromPath[int]) -> Response:
    data = await form_data(request)
    merged_id = parse_id(text(data, "duplicate"))
    kept_version = parse_id(text(data, "kept_version"))
    merged_version = parse_id(text(data, "merged_version"))
    if merged_id is None or kept_version is None or merged_version is None:
        raise NotFound()
    try:
        code = await merge.merge_clients(
            admin.company.id,
            client_id,
            merged_id,
            kept_version=kept_version,
            merged_version=merged_version,
            actor=admin.actor(request),
        )
    except ValidationError as error:
        return await _pick_page(request, admin, client_id, "", error.errors, status_code=422)
    except Conflict:
        errors = {"": merge.CHANGED_MEANWHILE}
        return await _preview_page(admin, client_id, merged_id, request, errors, 409)
    except NotFound:
        # Merged meanwhile (by someone else, or a second click): say where it went.
        return await merged_client_redirect(request, admin, merged_id)
    flash(request, f"Client {code} was merged into this client.", category="success")
    return redirect(request, profile_url(client_id))


async def merged_client_redirect(
    request: HTMXRequest, admin: AdminContext, client_id: int
) -> Response:
    """The profile of a client merged into another: the kept client's, with a notice (a 303,
    not a permanent redirect: the kept client may be merged or deleted in turn). NotFound
    when the company's client `client_id` was not merged."""
    merged = await merge.merged_into(admin.company.id, client_id)
    if merged is None:
        raise NotFound()
    flash(
        request,
        f"Client {merged.merged_code} was merged into client {merged.kept_code}: "
        "this is its profile now.",
        category="info",
    )
    return redirect(request, profile_url(merged.kept_id))


admin_handlers = [merge_page, merge_preview_page, merge_submit]
