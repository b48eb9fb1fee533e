"""The company switcher of the admin header, [Settings] > [Company] > General (company details,
logo, currencies, internationalization), [Settings] > [System] > Companies, and the logo as the
portal serves it."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.plugins.flash import flash
from litestar.response import Template

from portal.clients.fields import ADDRESS1, ADDRESS2, CITY, COUNTRY, STATE, ZIP
from portal.companies import services
from portal.companies.services import CompanyDetails
from portal.core.countries import billing_currencies, countries, currency_choices, subdivisions
from portal.core.errors import NotFound, ValidationError
from portal.core.forms import FormValues, many, text
from portal.core.i18n import LANGUAGES
from portal.core.ids import parse_id
from portal.core.permissions import COMPANIES_ADD, COMPANY_SETTINGS
from portal.core.web import form_data, redirect, safe_next
from portal.staff.access import STAFF_AREA, Admin, AdminContext

GENERAL_PATH = "/settings/company/general"  # below the admin router's /admin
GENERAL_URL = f"/admin{GENERAL_PATH}"
COMPANIES_PATH = "/settings/system/companies"
COMPANIES_URL = f"/admin{COMPANIES_PATH}"
ADDRESS_FIELDS = (ADDRESS1, ADDRESS2, CITY, COUNTRY, STATE, ZIP)
LOGO_CACHE = "public, max-age=31536000, immutable"  # a logo's URL changes with the logo


@post("/company", name="admin:switch-company", permission=None)
async def switch_company(request: Request, admin: Admin) -> Response:
    data = await form_data(request)
    company_id = parse_id(data.get("company_id", ""))
    if company_id not in {company.id for company in admin.companies}:
        raise NotFoundException()
    STAFF_AREA.update_entry(request, company=company_id)
    next_url = safe_next(data.get("next"), "/admin")
    # A page about one record (a client, a group...) belongs to the old company: go home instead.
    if any(part.isdigit() for part in next_url.split("?")[0].split("/")):
        next_url = "/admin"
    return redirect(request, next_url)


# --- [Settings] > [Company] > General -------------------------------------------------------
# One page, one form per section; a section that is refused comes back with what was typed in
# it and its errors, the other sections as saved.


async def _general_page(
    admin: AdminContext,
    *,
    details: CompanyDetails | None = None,
    languages: tuple[list[str], str] | None = None,
    errors: dict[str, dict[str, str]] | None = None,
    status_code: int = 200,
) -> Template:
    company_id = admin.company.id
    language = admin.staff.language
    details = details or await services.company_details(company_id)
    if languages is None:
        offered = await services.internationalization(company_id)
        languages = (offered.enabled, offered.default)
    accepted = await services.accepted_currencies(company_id)
    context: dict[str, Any] = {
        "page_title": "General Settings",
        "errors": errors or {},
        # Company Details
        "details": details,
        "contact_fields": ADDRESS_FIELDS,
        "countries": countries(language),
        "states": subdivisions(details.country, language),
        "timezones": [(zone, zone.replace("_", " ")) for zone in services.timezones()],
        "date_formats": list(services.DATE_FORMATS.items()),
        # Logo
        "logo_url": admin.company.logo_url,
        "logo_max_side": services.LOGO_MAX_SIDE,
        # Currencies
        "accepted": currency_choices(accepted, language),
        "default_currency": accepted[0],
        "addable": [item for item in billing_currencies(language) if item[0] not in accepted],
        # Internationalization
        "languages": list(LANGUAGES.items()),
        "enabled": languages[0],
        "default": languages[1],
    }
    return Template("admin/settings/general.html", context=context, status_code=status_code)


@get(GENERAL_PATH, name="admin:settings:general", permission=COMPANY_SETTINGS)
async def general_settings(admin: Admin) -> Template:
    return await _general_page(admin)


def _read_details(data: FormValues) -> CompanyDetails:
    values = {field.name: text(data, field.name) for field in fields(CompanyDetails)}
    return CompanyDetails(**{**values, "country": values["country"].upper()})


@post(f"{GENERAL_PATH}/details", name="admin:settings:details-save", permission=COMPANY_SETTINGS)
async def company_details_save(request: Request, admin: Admin) -> Response:
    data = await form_data(request)
    details = _read_details(data)
    if data.get("action") == "refresh":  # the country changed without JavaScript
        return await _general_page(admin, details=details)
    try:
        await services.save_company_details(admin.company.id, details, admin.actor(request))
    except ValidationError as error:
        return await _general_page(
            admin, details=details, errors={"details": error.errors}, status_code=422
        )
    flash(request, "The company details were saved.", category="success")
    return redirect(request, GENERAL_URL)


@post(f"{GENERAL_PATH}/logo", name="admin:settings:logo-save", permission=COMPANY_SETTINGS)
async def logo_save(request: Request, admin: Admin) -> Response:
    # The whole request is at most the app's request_max_body_size (larger ones get 413 before
    # this runs); one byte past the logo's limit is enough to refuse it.
    upload = (await request.form()).get("logo")
    data = b""
    if isinstance(upload, UploadFile):
        data = await upload.read(services.LOGO_MAX_BYTES + 1)
    try:
        await services.set_logo(admin.company.id, data, admin.actor(request))
    except ValidationError as error:
        return await _general_page(admin, errors={"logo": error.errors}, status_code=422)
    flash(request, "The logo was saved.", category="success")
    return redirect(request, GENERAL_URL)


@post(f"{GENERAL_PATH}/logo/remove", name="admin:settings:logo-remove", permission=COMPANY_SETTINGS)
async def logo_remove(request: Request, admin: Admin) -> Response:
    await services.remove_logo(admin.company.id, admin.actor(request))
    flash(request, "The logo was removed.", category="success")
    return redirect(request, GENERAL_URL)


@post(
    f"{GENERAL_PATH}/currencies", name="admin:settings:currencies-save", permission=COMPANY_SETTINGS
)
async def currencies_save(request: Request, admin: Admin) -> Response:
    """Adds a currency, removes one, or sets the default (one form each)."""
    data = await form_data(request)
    accepted = await services.accepted_currencies(admin.company.id)
    default = text(data, "default_currency").upper() or accepted[0]
    if added := text(data, "add_currency").upper():
        accepted = [*accepted, added]
    if removed := text(data, "remove_currency").upper():
        accepted = [code for code in accepted if code != removed]
    try:
        await services.set_currencies(admin.company.id, accepted, default, admin.actor(request))
    except ValidationError as error:
        return await _general_page(admin, errors={"currencies": error.errors}, status_code=422)
    flash(request, "The currencies were saved.", category="success")
    return redirect(request, GENERAL_URL)


@post(GENERAL_PATH, name="admin:settings:general-save", permission=COMPANY_SETTINGS)
async def general_settings_save(request: Request, admin: Admin) -> Response:
    """Internationalization: the languages offered to clients."""
    data = await form_data(request)
    enabled, default = many(data, "languages"), data.get("default_language", "")
    try:
        await services.set_internationalization(
            admin.company.id, enabled, default, admin.actor(request)
        )
    except ValidationError as error:
        return await _general_page(
            admin,
            languages=(enabled, default),
            errors={"languages": error.errors},
            status_code=422,
        )
    flash(request, "The languages were saved.", category="success")
    return redirect(request, GENERAL_URL)


# --- [Settings] > [System] > Companies ------------------------------------------------------


@get(COMPANIES_PATH, name="admin:companies", permission=COMPANIES_ADD)
async def companies_page(admin: Admin) -> Template:
    return Template(
        "admin/settings/companies.html",
        context={"page_title": "Companies", "companies": admin.companies},
    )


def _company_form(
    admin: AdminContext, values: dict[str, str], errors: dict[str, str], status_code: int = 200
) -> Template:
    language = admin.staff.language
    return Template(
        "admin/settings/company_add.html",
        context={
            "page_title": "Add Company",
            "values": values,
            "errors": errors,
            "currencies": billing_currencies(language),
            "languages": list(LANGUAGES.items()),
            "countries": countries(language),
        },
        status_code=status_code,
    )


@get(f"{COMPANIES_PATH}/add", name="admin:companies:add", permission=COMPANIES_ADD)
async def add_company_page(admin: Admin) -> Template:
    values = {"name": "", "currency": "USD", "language": "en", "country": "US"}
    return _company_form(admin, values, {})


@post(f"{COMPANIES_PATH}/add", name="admin:companies:create", permission=COMPANIES_ADD)
async def add_company_submit(request: Request, admin: Admin) -> Response:
    data = await form_data(request)
    values = {name: text(data, name) for name in ("name", "currency", "language", "country")}
    try:
        await services.create_company(
            values["name"],
            values["currency"],
            values["language"],
            values["country"],
            administrator_id=admin.staff.id,
            actor=admin.actor(request),
        )
    except ValidationError as error:
        return _company_form(admin, values, error.errors, 422)
    flash(
        request,
        f"The company {values['name']} was added. Switch to it with the company menu at the top.",
        category="success",
    )
    return redirect(request, COMPANIES_URL)


# --- the logo, for every page and email -----------------------------------------------------


@get("/logo/{company_id:int}/{filename:str}", name="logo", include_in_schema=False)
async def logo(company_id: FromPath[int], filename: FromPath[str]) -> Response:
    version, _, extension = filename.partition(".")
    number = parse_id(version)
    if number is None:
        raise NotFound()
    content, media_type = await services.logo_image(company_id, number, extension)
    return Response(
        content,
        media_type=media_type,
        headers={"Cache-Control": LOGO_CACHE, "Content-Disposition": "inline"},
    )


admin_handlers = [
    switch_company,
    general_settings,
    general_settings_save,
    company_details_save,
    logo_save,
    logo_remove,
    currencies_save,
    companies_page,
    add_company_page,
    add_company_submit,
]
public_handlers = [logo]
