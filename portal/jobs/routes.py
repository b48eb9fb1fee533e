"""Admin area: a background job's page (its progress, polled by htmx until it ends; the rows
it could not do; its file, for an export), and cancelling it. HTTP only; the rules are in
portal.jobs.services."""

from __future__ import annotations

import mimetypes
from collections.abc import AsyncIterator

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.plugins.flash import flash
from litestar.response import Stream, Template

from portal.core.web import redirect
from portal.jobs import services
from portal.staff.access import Admin

BASE = "/jobs/{job_id:int}"
# The permission depends on the job's kind (an import's, a bulk action's): the service checks
# it (jobs.services.get), so the routes declare none of their own.
BY_KIND = None
PROBLEMS_SHOWN = 100


@get(BASE, name="admin:job", permission=BY_KIND)
async def job_page(request: Request, admin: Admin, job_id: FromPath[int]) -> Template:
    job = await services.get(admin.company.id, job_id, admin.actor(request))
    context = {
        "page_title": job.title,
        "job": job,
        "problems": await services.problems(job.id, PROBLEMS_SHOWN),
        "problem_count": await services.count_problems(job.id),
    }
    return Template("admin/jobs/job.html", context=context)


@get(f"{BASE}/progress", name="admin:job-progress", permission=BY_KIND)
async def job_progress(request: Request, admin: Admin, job_id: FromPath[int]) -> Response:
    """The progress fragment, polled every second; once the job has ended, the whole page is
    loaded again (its problems and its file)."""
    job = await services.get(admin.company.id, job_id, admin.actor(request))
    if job.finished:
        return Response(content="", headers={"HX-Refresh": "true"})
    return Template("admin/jobs/_progress.html", context={"job": job})


def _attachment(name: str) -> dict[str, str]:
    safe = "".join(c for c in name if c.isalnum() or c in "._- ") or "download"
    return {"Content-Disposition": f'attachment; filename="{safe}"'}


@get(f"{BASE}/problems.csv", name="admin:job-problems", permission=BY_KIND)
async def problems_csv(request: Request, admin: Admin, job_id: FromPath[int]) -> Stream:
    job = await services.get(admin.company.id, job_id, admin.actor(request))

    async def content() -> AsyncIterator[bytes]:
        async for text in services.problem_csv(job.id, ["Row", "Column", "Message"]):
            yield text.encode()

    return Stream(
        content(),
        media_type="text/csv",
        headers=_attachment(f"job-{job.id}-problems.csv"),
    )


@get(f"{BASE}/download", name="admin:job-download", permission=BY_KIND)
async def download(request: Request, admin: Admin, job_id: FromPath[int]) -> Stream:
    info = await services.result_file(admin.company.id, job_id, admin.actor(request))
    # Litestar adds "; charset=utf-8" to text types itself.
    media_type = mimetypes.guess_type(info["name"])[0] or "application/octet-stream"
    return Stream(
        services.file_parts(info["id"]), media_type=media_type, headers=_attachment(info["name"])
    )


@post(f"{BASE}/cancel", name="admin:job-cancel", permission=BY_KIND)
async def cancel(request: Request, admin: Admin, job_id: FromPath[int]) -> Response:
    if await services.cancel(admin.company.id, job_id, admin.actor(request)):
        flash(request, "The job is cancelled: what it had done stays done.", "success")
    return redirect(request, f"/admin/jobs/{job_id}")


admin_handlers = [job_page, job_progress, problems_csv, download, cancel]
