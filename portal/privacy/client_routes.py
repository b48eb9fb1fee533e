"""The client area's "Your data" page: users with the Account details permission download the
account's personal data (prepared in the background, for this session, for a day), and the
owner asks for the account to be erased (staff confirm it with Anonymise Client, or decline).
HTTP only; the rules are in portal.privacy."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.plugins.flash import flash
from litestar.response import Stream, Template

from portal.client_area.access import CLIENT_AREA, CurrentClient
from portal.client_area.routes import account_router
from portal.client_area.services import ClientUser
from portal.core.errors import NotFound, Throttled, ValidationError
from portal.core.i18n import N_, translate
from portal.core.web import client_address, form_data, redirect, throttled
from portal.jobs import services as jobs
from portal.privacy import erasure, export, services
from portal.security.web import REFUSED_AS_STAFF

PAGE = "/client/privacy"
THROTTLED = N_("Too many attempts. Wait 15 minutes and try again.")
UNAVAILABLE = N_(
    "This download is not available: a download works only in the session that asked for it, "
    "once it is ready."
)
EXPIRED = N_("This download has expired and its file was deleted. Ask for your data again.")


def _handle(request: Request) -> str:
    """The sign-in of this session (its downloads are its own)."""
    return str(CLIENT_AREA.entry(request).get("login", ""))


def _require_details(user: ClientUser) -> None:
    user.require("details")


async def _page(
    request: Request, user: ClientUser, errors: dict[str, str] | None = None, status_code: int = 200
) -> Template:
    erasure_requests = (
        await services.client_requests(user.company_id, user.id, "erasure") if user.owner else []
    )
    context: dict[str, Any] = {
        "page_title": translate(N_("Your data")),
        "latest": await export.session_export(user, _handle(request)),
        "erasure": erasure_requests[0] if erasure_requests else None,
        "errors": errors or {},
        "lifetime_hours": int(export.LIFETIME.total_seconds() // 3600),
    }
    return Template("client/privacy/page.html", context=context, status_code=status_code)


@get("/privacy", name="client:privacy")
async def privacy_page(request: Request, user: CurrentClient) -> Template:
    _require_details(user)
    return await _page(request, user)


@post("/privacy/export", name="client:privacy-export")
async def export_submit(request: Request, user: CurrentClient) -> Response:
    _require_details(user)
    try:
        started = await export.start_export(
            user.company_id, user.id, user.actor, session_handle=_handle(request)
        )
    except ValidationError as error:
        return await _page(request, user, error.errors, status_code=409)
    if not started.already:
        flash(request, translate(N_("Your data is being prepared.")), category="success")
    return redirect(request, PAGE)


@get("/privacy/exports/{request_id:int}", name="client:privacy-export-status")
async def export_status(
    request: Request, user: CurrentClient, request_id: FromPath[int]
) -> Template:
    """The export's state, polled by htmx while it is being prepared."""
    _require_details(user)
    latest = await export.session_export(user, _handle(request))
    if latest is None or latest.id != request_id:
        raise NotFound()
    context = {"latest": latest, "lifetime_hours": int(export.LIFETIME.total_seconds() // 3600)}
    return Template("client/privacy/_export.html", context=context)


def _message(title: str, message: str, status_code: int) -> Template:
    return Template(
        "client/message.html",
        context={"title": title, "message": message, "link": PAGE},
        status_code=status_code,
    )


@get("/privacy/exports/{request_id:int}/download", name="client:privacy-download")
async def download(request: Request, user: CurrentClient, request_id: FromPath[int]) -> Response:
    _require_details(user)
    try:
        info = await export.client_download(user, request_id, _handle(request))
    except export.ExportExpired:
        return _message(N_("Download expired"), EXPIRED, 410)
    except NotFound:
        return _message(N_("Download not available"), UNAVAILABLE, 404)
    return Stream(
        jobs.file_parts(info["id"]),
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{info["name"]}"',
            "Cache-Control": "no-store",
        },
    )


@post("/privacy/erase", name="client:privacy-erase", **{REFUSED_AS_STAFF: True})
async def erase_submit(request: Request, user: CurrentClient) -> Response:
    data = await form_data(request)
    try:
        await erasure.ask_for_erasure(user, data.get("password", ""), client_address(request))
    except ValidationError as error:
        return await _page(request, user, error.errors, status_code=422)
    except Throttled:
        return throttled(await _page(request, user, {"password": THROTTLED}))
    flash(
        request,
        translate(
            N_(
                "Your request was sent. Once your data is erased you can no longer log in; if "
                "it is declined, this page tells you why."
            )
        ),
        category="success",
    )
    return redirect(request, PAGE)


client_router = account_router([privacy_page, export_submit, export_status, download, erase_submit])
