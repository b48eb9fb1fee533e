"""Admin area: [Clients] > Import: upload a CSV file, map its columns (with a preview of its
first rows), then a dry run or the import itself, which run as jobs (their page shows the
progress and the rows that failed). HTTP only; the rules are in portal.imports.services."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import anyio.to_thread
from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.params import FromPath
from litestar.response import Template

from portal.core.errors import ValidationError
from portal.core.permissions import CLIENTS_IMPORT
from portal.core.web import form_data, redirect
from portal.imports import services, systems
from portal.imports.fields import ACCOUNT_TARGETS, CUSTOM
from portal.jobs import services as jobs
from portal.staff.access import Admin

PATH = "/clients/import"
URL = f"/admin{PATH}"


async def _start_page(admin: Admin, errors: dict[str, str] | None = None) -> Template:
    context = {
        "page_title": "Import Clients",
        "errors": errors or {},
        "recent": await jobs.recent(admin.company.id, [services.KIND, *systems.KINDS.values()]),
        "max_megabytes": services.MAX_FILE_BYTES // (1024 * 1024),
    }
    return Template("admin/imports/start.html", context=context, status_code=422 if errors else 200)


@get(PATH, name="admin:import", permission=CLIENTS_IMPORT)
async def start_page(admin: Admin) -> Template:
    return await _start_page(admin)


def _keep(upload: UploadFile, folder: str) -> Path:
    """Off the event loop: the uploaded file (spooled by Litestar) as a file of its own."""
    path = Path(folder) / "upload.csv"
    upload.file.seek(0)
    with path.open("wb") as target:
        shutil.copyfileobj(upload.file, target)
    return path


@post(
    PATH,
    name="admin:import-upload",
    permission=CLIENTS_IMPORT,
    request_max_body_size=services.MAX_FILE_BYTES + 64 * 1024,
)
async def upload(request: Request, admin: Admin) -> Response:
    form = await request.form()
    file = form.get("file")
    if not isinstance(file, UploadFile) or not file.filename:
        return await _start_page(admin, {"file": "Choose a CSV file to import."})
    with tempfile.TemporaryDirectory(prefix="portal-upload-") as folder:
        path = await anyio.to_thread.run_sync(_keep, file, folder)
        try:
            file_id = await services.upload(
                admin.company.id, Path(file.filename).name, path, admin.actor(request)
            )
        except ValidationError as error:
            return await _start_page(admin, error.errors)
    return redirect(request, f"{URL}/{file_id}")


def _target_groups(preview: services.Preview) -> list[tuple[str, list[tuple[str, str]]]]:
    """The fields a column can go to, in the select's groups."""
    contact = [(k, v) for k, v in preview.targets.items() if k not in ACCOUNT_TARGETS]
    contact = [(k, v) for k, v in contact if not k.startswith(CUSTOM)]
    custom = [(k, v) for k, v in preview.targets.items() if k.startswith(CUSTOM)]
    groups = [("Contact", contact), ("Account", list(ACCOUNT_TARGETS.items()))]
    return groups + ([("Custom fields", custom)] if custom else [])


async def _mapping_page(
    admin: Admin,
    request: Request,
    file_id: int,
    choices: services.ImportChoices | None = None,
    errors: dict[str, str] | None = None,
) -> Template:
    preview = await services.preview(admin.company.id, file_id, admin.actor(request))
    context: dict[str, Any] = {
        "page_title": f"Import Clients: {preview.name}",
        "preview": preview,
        "mapping": choices.mapping if choices else preview.mapping,
        "on_duplicate": choices.on_duplicate if choices else "skip",
        "invite": choices.invite if choices else False,
        "duplicate_options": list(services.ON_DUPLICATE.items()),
        "target_groups": _target_groups(preview),
        "errors": errors or {},
    }
    return Template(
        "admin/imports/mapping.html", context=context, status_code=422 if errors else 200
    )


@get(f"{PATH}/{{file_id:int}}", name="admin:import-mapping", permission=CLIENTS_IMPORT)
async def mapping_page(request: Request, admin: Admin, file_id: FromPath[int]) -> Template:
    return await _mapping_page(admin, request, file_id)


@post(f"{PATH}/{{file_id:int}}", name="admin:import-start", permission=CLIENTS_IMPORT)
async def start(request: Request, admin: Admin, file_id: FromPath[int]) -> Response:
    data = await form_data(request)
    preview = await services.preview(admin.company.id, file_id, admin.actor(request))
    choices = services.ImportChoices(
        mapping=[data.get(f"map-{index}", "") for index in range(len(preview.header))],
        on_duplicate=data.get("on_duplicate", ""),
        dry_run=data.get("action") == "dry-run",
        invite=bool(data.get("invite")),
    )
    try:
        job_id = await services.start(
            admin.company.id, file_id, choices, admin.actor(request), return_to=f"{URL}/{file_id}"
        )
    except ValidationError as error:
        return await _mapping_page(admin, request, file_id, choices, error.errors)
    return redirect(request, f"/admin/jobs/{job_id}")


admin_handlers = [start_page, upload, mapping_page, start]
