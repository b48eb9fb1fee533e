"""The company switcher of the admin header, and [Settings] > [Company] > General."""

from __future__ import annotations

from litestar import Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.plugins.flash import flash
from litestar.response import Template

from portal.companies import services
from portal.core.errors import ValidationError
from portal.core.forms import many
from portal.core.i18n import LANGUAGES
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


@get("/settings/company/general", name="admin:settings:general")
async def general_settings(admin: Admin) -> Template:
    settings = await services.internationalization(admin.company.id)
    return _general_page(settings.enabled, settings.default, {})


@post("/settings/company/general", name="admin:settings:general-save")
async def general_settings_save(request: Request, admin: Admin) -> Response:
    data = await form_data(request)
    enabled, default = many(data, "languages"), data.get("default_language", "")
    try:
        await services.set_internationalization(admin.company.id, enabled, default)
    except ValidationError as error:
        return _general_page(enabled, default, error.errors, 422)
    flash(request, "The languages were saved.", category="success")
    return redirect(request, "/admin/settings/company/general")


def _general_page(
    enabled: list[str], default: str, errors: dict[str, str], status_code: int = 200
) -> Template:
    context = {
        "page_title": "Internationalization",
        "languages": list(LANGUAGES.items()),
        "enabled": enabled,
        "default": default,
        "errors": errors,
    }
    return Template("admin/settings/general.html", context=context, status_code=status_code)


admin_handlers = [switch_company, general_settings, general_settings_save]
