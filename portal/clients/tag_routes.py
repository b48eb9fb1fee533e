"""Admin area: [Clients] > Tags (the company's tags: add, edit, delete) and a client's tags on
its profile (add, remove: htmx swaps the profile's tag box; without JavaScript the profile
loads again). HTTP only; the rules are in portal.clients.tags. A tag or client of another
company is a 404, the same as one that does not exist."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.plugins.flash import flash
from litestar.response import Template

from portal.clients import tags
from portal.core.errors import ValidationError
from portal.core.forms import text
from portal.core.ids import parse_id
from portal.core.permissions import CLIENTS_EDIT
from portal.core.web import form_data, redirect, wants_region
from portal.staff.access import Admin, AdminContext

BASE = "/clients/tags"
URL = f"/admin{BASE}"
CLIENT_TAGS_REGION = "client-tags"


def _colour_options() -> list[tuple[str, str]]:
    return list(tags.COLOURS.items())


async def _tags_page(
    admin: AdminContext, values: dict[str, str], errors: dict[str, str], status_code: int = 200
) -> Template:
    return Template(
        "admin/clients/tags.html",
        context={
            "page_title": "Tags",
            "tags": await tags.list_tags(admin.company.id, with_counts=True),
            "values": values,
            "errors": errors,
            "colour_options": _colour_options(),
        },
        status_code=status_code,
    )


def _values(data: dict[str, Any]) -> dict[str, str]:
    return {"name": text(data, "name"), "colour": text(data, "colour")}


@get(BASE, name="admin:tags", permission=CLIENTS_EDIT)
async def tags_page(admin: Admin) -> Template:
    return await _tags_page(admin, {"name": "", "colour": "blue"}, {})


@post(BASE, name="admin:tags:add", permission=CLIENTS_EDIT)
async def add_tag(request: Request, admin: Admin) -> Response:
    values = _values(await form_data(request))
    try:
        await tags.create_tag(
            admin.company.id, values["name"], values["colour"], admin.actor(request)
        )
    except ValidationError as error:
        return await _tags_page(admin, values, error.errors, 422)
    flash(request, f"The tag {' '.join(values['name'].split())} was added.", "success")
    return redirect(request, URL)


def _edit_page(
    tag: tags.TagView, values: dict[str, str], errors: dict[str, str], status_code: int = 200
) -> Template:
    return Template(
        "admin/clients/tag_edit.html",
        context={
            "page_title": f"Edit Tag {tag.name}",
            "tag": tag,
            "values": values,
            "errors": errors,
            "colour_options": _colour_options(),
        },
        status_code=status_code,
    )


@get(f"{BASE}/{{tag_id:int}}/edit", name="admin:tags:edit", permission=CLIENTS_EDIT)
async def edit_page(admin: Admin, tag_id: FromPath[int]) -> Template:
    tag = await tags.get_tag(admin.company.id, tag_id)
    return _edit_page(tag, {"name": tag.name, "colour": tag.colour}, {})


@post(f"{BASE}/{{tag_id:int}}/edit", name="admin:tags:save", permission=CLIENTS_EDIT)
async def edit_submit(request: Request, admin: Admin, tag_id: FromPath[int]) -> Response:
    tag = await tags.get_tag(admin.company.id, tag_id)
    values = _values(await form_data(request))
    try:
        await tags.update_tag(
            admin.company.id, tag.id, values["name"], values["colour"], admin.actor(request)
        )
    except ValidationError as error:
        return _edit_page(tag, values, error.errors, 422)
    flash(request, "The tag was saved.", "success")
    return redirect(request, URL)


@get(f"{BASE}/{{tag_id:int}}/delete", name="admin:tags:delete", permission=CLIENTS_EDIT)
async def delete_page(admin: Admin, tag_id: FromPath[int]) -> Template:
    tag = await tags.get_tag(admin.company.id, tag_id, with_count=True)
    return Template(
        "admin/clients/tag_delete.html",
        context={"page_title": f"Delete Tag {tag.name}", "tag": tag},
    )


@post(f"{BASE}/{{tag_id:int}}/delete", name="admin:tags:delete-confirm", permission=CLIENTS_EDIT)
async def delete_submit(request: Request, admin: Admin, tag_id: FromPath[int]) -> Response:
    tag = await tags.get_tag(admin.company.id, tag_id)
    had = await tags.delete_tag(admin.company.id, tag.id, admin.actor(request))
    clients = "client" if had == 1 else "clients"
    flash(request, f"The tag {tag.name} was deleted and taken off {had} {clients}.", "success")
    return redirect(request, URL)


# --- a client's tags, on its profile ----------------------------------------------------------


async def _client_tags_answer(request: Request, admin: AdminContext, client_id: int) -> Response:
    if wants_region(request, CLIENT_TAGS_REGION):
        return Template(
            "admin/clients/_client_tags.html",
            context={"client_tags": await tags.client_tags(admin.company.id, client_id)},
        )
    return redirect(request, f"/admin/clients/{client_id}")


@post(
    "/clients/{client_id:int}/tags",
    name="admin:clients:tag",
    permission=CLIENTS_EDIT,
    status_code=200,
)
async def tag_client(request: Request, admin: Admin, client_id: FromPath[int]) -> Response:
    tag_id = parse_id(text(await form_data(request), "tag"))
    if tag_id is not None:
        await tags.tag_client(admin.company.id, client_id, tag_id, admin.actor(request))
    return await _client_tags_answer(request, admin, client_id)


@post(
    "/clients/{client_id:int}/tags/{tag_id:int}/remove",
    name="admin:clients:untag",
    permission=CLIENTS_EDIT,
    status_code=200,
)
async def untag_client(
    request: Request, admin: Admin, client_id: FromPath[int], tag_id: FromPath[int]
) -> Response:
    await tags.untag_client(admin.company.id, client_id, tag_id, admin.actor(request))
    return await _client_tags_answer(request, admin, client_id)


admin_handlers = [
    tags_page,
    add_tag,
    edit_page,
    edit_submit,
    delete_page,
    delete_submit,
    tag_client,
    untag_client,
]
