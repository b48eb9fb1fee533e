"""The client self-service area under /client: log in, password and username help, dashboard,
own details, password change."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Request, Response, get, post
from litestar.background_tasks import BackgroundTask
from litestar.datastructures import Cookie
from litestar.di import Provide
from litestar.exceptions import NotFoundException
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath, FromQuery
from litestar.plugins.flash import flash
from litestar.response import Redirect, Template
from litestar.router import Router

from portal.client_area import (
    account_routes,
    services,
    staff_routes,
    users_routes,
    verification_routes,
)
from portal.client_area.access import (
    CLIENT_AREA,
    SESSION_KEY,
    CurrentClient,
    log_out,
    provide_client_user,
    require_client,
    sign_in_with_password,
)
from portal.clients.fields import CONTACT_FIELDS
from portal.clients.forms import apply_form_action, client_details_of, read_client_details
from portal.clients.services import MARKETING_OPT_IN_WORDING, NUMBER_LOCATIONS, NUMBER_TYPES
from portal.companies.services import company_ref, internationalization
from portal.core.countries import countries, subdivisions
from portal.core.errors import Conflict, NotFound, Throttled, ValidationError
from portal.core.i18n import (
    LANGUAGE_COOKIE,
    LANGUAGES,
    N_,
    Message,
    current_language,
    translate,
)
from portal.core.ids import parse_id
from portal.core.web import client_address, form_data, redirect, safe_next, throttled
from portal.security import routes as security_routes
from portal.security.two_factor import Login
from portal.security.web import REFUSED_AS_STAFF

THROTTLED = N_("Too many attempts. Wait 15 minutes and try again.")
MAIL_SENT = N_(
    "If an account exists for what you entered, we have sent it an email. Check your inbox."
)
ONE_YEAR = 365 * 24 * 3600


def _page(template: str, status_code: int = 200, **context: Any) -> Template:
    return Template(f"client/{template}", context=context, status_code=status_code)


# --- before login ---------------------------------------------------------------------------


@get("/login", name="client:login")
async def login_page(next: FromQuery[str | None] = None) -> Template:
    return _page("login.html", identifier="", next=next or "", errors={})


@post("/login", name="client:login-submit")
async def login_submit(request: Request) -> Response:
    data = await form_data(request)
    identifier, next_url = str(data.get("identifier", "")).strip(), str(data.get("next", ""))
    try:
        user = await services.authenticate(
            identifier, str(data.get("password", "")), client_address(request)
        )
    except Throttled:
        page = _page("login.html", identifier=identifier, next=next_url, errors={"": THROTTLED})
        return throttled(page)
    except ValidationError as error:
        return _page("login.html", 400, identifier=identifier, next=next_url, errors=error.errors)
    return redirect(request, await sign_in_with_password(request, user, next_url))


@post("/logout", name="client:logout")
async def logout(request: Request) -> Response:
    language = current_language.get()
    await log_out(request)
    response = redirect(request, "/client/login")
    # The login page stays in the language the client was using.
    response.cookies.append(_language_cookie(language))
    return response


def _language_cookie(language: str) -> Cookie:
    return Cookie(
        key=LANGUAGE_COOKIE,
        value=language,
        max_age=ONE_YEAR,
        httponly=True,
        samesite="lax",
        path="/",
    )


async def _mail_request(
    request: Request, template: str, field: str, send: Callable[[str], Awaitable[None]]
) -> Template:
    """A form that asks for a mail (password reset, username reminder) by one `field`: the same
    answer whether or not an account exists, given before the account is even looked up: the
    lookup and the mail happen after the response, so timing tells nothing."""
    value = str((await form_data(request)).get(field, "")).strip()
    try:
        await services.check_mail_request(value, client_address(request))
    except Throttled:
        return throttled(_page(template, errors={"": THROTTLED}, **{field: value}))
    page = _page("message.html", title=N_("Check your email"), message=MAIL_SENT)
    page.background = BackgroundTask(send, value)
    return page


def _mail_form(
    path: str, name: str, template: str, field: str, send: Callable[[str], Awaitable[None]]
) -> list[HTTPRouteHandler]:
    """The page (named `name`) and the submission (`name`-submit) of a form that asks for a
    mail by one `field`."""

    @get(path, name=name)
    async def page() -> Template:
        return _page(template, errors={}, **{field: ""})

    @post(path, name=f"{name}-submit")
    async def submit(request: Request) -> Template:
        return await _mail_request(request, template, field, send)

    return [page, submit]


@get("/reset/{token:str}", name="client:reset")
async def reset_page(request: Request, token: FromPath[str]) -> Template:
    if not await services.reset_token_is_valid(token[:100], client_address(request)):
        return _invalid_reset_link()
    return _page("reset_password.html", token=token, errors={})


def _invalid_reset_link() -> Template:
    message = N_("This link has expired or was already used. Ask for a new one.")
    return _page(
        "message.html",
        404,
        title=N_("Link not valid"),
        message=message,
        link="/client/forgot-password",
    )


@post("/reset/{token:str}", name="client:reset-submit")
async def reset_submit(request: Request, token: FromPath[str]) -> Template:
    if not await services.reset_token_is_valid(token[:100], client_address(request)):
        return _invalid_reset_link()
    data = await form_data(request)
    try:
        await services.reset_password(token[:100], str(data.get("password", "")))
    except NotFound:
        return _invalid_reset_link()
    except ValidationError as error:
        return _page("reset_password.html", 422, token=token, errors=error.errors)
    return _page(
        "message.html",
        title=N_("Password changed"),
        message=N_("Your password was changed. You can log in now."),
        link="/client/login",
    )


# --- logged in ------------------------------------------------------------------------------


@get("/", name="client:dashboard")
async def dashboard(user: CurrentClient) -> Template:
    overview = await services.dashboard(user)
    return _page("dashboard.html", overview=overview, money=account_routes.money_formatter())


async def _details_page(
    user: services.ClientUser,
    details: Any,
    errors: dict[str, str],
    status_code: int = 200,
    version: int | None = None,
) -> Template:
    enabled = await internationalization(user.company_id)
    form = await services.details_form(user)
    language = current_language.get()

    def field_mode(name: str) -> str:
        if form.editable(name):
            return "edit"
        return "show" if name in form.settings.shown_fields else "hide"

    return _page(
        "details.html",
        status_code,
        page_title="Account details",
        form=form,
        details=details,
        errors=errors,
        version=form.client.version if version is None else version,
        field_mode=field_mode,
        phones_editable=form.editable("phone") or form.editable("fax"),
        contact_fields=CONTACT_FIELDS,
        countries=countries(language),
        states=subdivisions(details.country, language),
        languages=[(code, LANGUAGES[code]) for code in enabled.enabled],
        number_types=NUMBER_TYPES,
        number_locations=NUMBER_LOCATIONS,
        opt_in_wording=MARKETING_OPT_IN_WORDING,
        custom_fields=form.fields,
    )


@get("/details", name="client:details")
async def details_page(user: CurrentClient) -> Template:
    form = await services.details_form(user)
    return await _details_page(user, client_details_of(form.client, form.values), {})


@post("/details", name="client:details-submit")
async def details_submit(request: Request, user: CurrentClient) -> Response:
    data = await form_data(request)
    submitted = read_client_details(data)
    form = await services.details_form(user)
    details = services.merge_own_details(user, form, submitted)
    # A version that is no version (a crafted or broken form) never matches: the edit
    # is refused as one made meanwhile, rather than saved over whatever is there now.
    version = parse_id(data.get("version", "")) or 0
    handled, _ = apply_form_action(data, details)
    if handled:
        return await _details_page(user, details, {}, version=version)
    try:
        await services.update_own_details(
            user,
            submitted,
            version,
            client_address(request),
            current_password=str(data.get("current_password", "")),
        )
    except ValidationError as error:
        return await _details_page(user, details, error.errors, 422, version=version)
    except Throttled:
        errors = {"current_password": THROTTLED}
        return throttled(await _details_page(user, details, errors, version=version))
    except Conflict:
        errors = {
            "": N_(
                "Your details were changed elsewhere in the meantime. Check them and save again."
            )
        }
        return await _details_page(user, details, errors, 409)
    CLIENT_AREA.update_entry(request, lang=details.language)
    current_language.set(details.language)
    flash(request, translate("Your details were saved."), category="success")
    return redirect(request, "/client/details")


@get("/password", name="client:password")
async def password_page(user: CurrentClient) -> Template:
    return _page("password.html", page_title="Change password", errors={})


@post("/password", name="client:password-submit")
async def password_submit(request: Request, user: CurrentClient) -> Response:
    data = await form_data(request)
    try:
        epoch = await services.change_password(
            user,
            str(data.get("current_password", "")),
            str(data.get("new_password", "")),
            client_address(request),
        )
    except Throttled:
        errors = {"current_password": THROTTLED}
        return throttled(_page("password.html", page_title="Change password", errors=errors))
    except ValidationError as error:
        return _page("password.html", 422, page_title="Change password", errors=error.errors)
    CLIENT_AREA.update_entry(request, epoch=epoch)
    await CLIENT_AREA.end_others(request, Login("client", user.user_id))
    flash(
        request,
        translate("Your password was changed. Other sessions were logged out."),
        category="success",
    )
    return redirect(request, "/client")


# Staff working as a client stay in the account they chose (and its history says so).
@post("/account", name="client:switch-account", **{REFUSED_AS_STAFF: True})
async def switch_account(request: Request, user: CurrentClient) -> Response:
    """Works in another of the user's accounts from now on."""
    data = await form_data(request)
    switched = await services.switch_account(user, parse_id(str(data.get("account", ""))) or 0)
    CLIENT_AREA.update_entry(request, account=switched.id, company=switched.company_id)
    label = next(a.label for a in switched.accounts if a.client_id == switched.id)
    flash(
        request,
        translate(Message(N_("You are now working in %(account)s."), account=label)),
        category="success",
    )
    return redirect(request, "/client")


@get("/language", name="client:language")
async def choose_language(
    request: Request, lang: FromQuery[str] = "en", next: FromQuery[str | None] = None
) -> Response:
    """The language links of the pages before login (a cookie, no account change)."""
    if lang not in request.state.languages:
        raise NotFoundException()
    response = Redirect(safe_next(next, "/client/login"))
    response.cookies.append(_language_cookie(lang))
    return response


async def _load_brand(request: Request) -> None:
    """The company whose name and logo the client area's pages show: the logged-in client's;
    before login, the one named by ?company=ID, the one of the client last logged in with this
    session, or else the install's first."""
    user = getattr(request.state, "client_user", None)
    session = request.session.get(SESSION_KEY) if request.scope.get("session") else None
    company_id = (
        user.company_id
        if user
        else parse_id(request.query_params.get("company", ""))
        or (session.get("company") if isinstance(session, dict) else None)
    )
    request.state.brand = await company_ref(company_id)
    # The languages the company offers its clients (all the portal ships when none is known).
    request.state.languages = (
        (await internationalization(request.state.brand.id)).enabled
        if request.state.brand
        else list(LANGUAGES)
    )


def _throttled(_: Request, __: Throttled) -> Template:
    """A page of links (an invitation) asked too often with unknown tokens from the address."""
    return throttled(_page("message.html", title=N_("Too many attempts"), message=THROTTLED))


public_router = Router(
    path="/client",
    before_request=_load_brand,
    exception_handlers={Throttled: _throttled},
    route_handlers=[
        login_page,
        login_submit,
        logout,
        *_mail_form(
            "/forgot-password",
            "client:forgot-password",
            "forgot_password.html",
            "identifier",
            services.send_password_reset,
        ),
        reset_page,
        reset_submit,
        *_mail_form(
            "/forgot-username",
            "client:forgot-username",
            "forgot_username.html",
            "email",
            services.send_username_reminder,
        ),
        choose_language,
        *users_routes.public_handlers,
        *verification_routes.public_handlers,
        *security_routes.public_handlers(CLIENT_AREA),
    ],
)


def account_router(route_handlers: list[Any]) -> Router:
    """A router of pages for logged-in users of the client area (`user: CurrentClient`), with
    the company's brand: this area's, and those of domains above it (portal.privacy)."""
    return Router(
        path="/client",
        route_handlers=route_handlers,
        guards=[require_client],
        dependencies={"user": Provide(provide_client_user, sync_to_thread=False)},
        before_request=_load_brand,
    )


client_router = account_router(
    [
        dashboard,
        details_page,
        details_submit,
        password_page,
        password_submit,
        switch_account,
        *account_routes.handlers,
        *users_routes.handlers,
        *verification_routes.handlers,
        *security_routes.handlers(CLIENT_AREA),
        *staff_routes.client_handlers,
    ]
)
