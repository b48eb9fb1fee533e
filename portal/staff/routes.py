"""Admin area entry: first-run setup, login, logout, forgotten passwords, invitation links, and
a staff member's own profile."""

from __future__ import annotations

from dataclasses import asdict

from litestar import Request, Response, get, post
from litestar.background_tasks import BackgroundTask
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath, FromQuery
from litestar.plugins.flash import flash
from litestar.response import Redirect, Template

from portal.companies.services import companies_of_staff
from portal.core.errors import NotFound, Throttled, ValidationError
from portal.core.forms import normalise_email
from portal.core.i18n import LANGUAGES
from portal.core.rows import from_row
from portal.core.tokens import MAX_TOKEN_LENGTH
from portal.core.web import client_address, form_data, redirect, throttled
from portal.security.two_factor import Login
from portal.staff import services
from portal.staff.access import (
    STAFF_AREA,
    Admin,
    log_in,
    log_out,
    sign_in_with_password,
)
from portal.staff.forms import LoginForm, SetupForm, read_profile

LOGIN_TEMPLATE = "admin/login.html"
SETUP_TEMPLATE = "admin/setup.html"
THROTTLED = "Too many failed attempts. Wait 15 minutes and try again."
MAIL_SENT = (
    "If a staff account uses that email, a link to choose a new password is on its way. It "
    "works once, within the hour."
)
LINK_NOT_VALID = "This link has expired or was already used."
LINKS = {
    services.INVITE: ("Accept the invitation", "Choose your password", "Set my password"),
    services.RESET: ("Choose a new password", "Choose a new password", "Set the new password"),
}


def _form_page(
    template: str, form: object, errors: dict[str, str], status_code: int = 200
) -> Template:
    return Template(template, context={"form": form, "errors": errors}, status_code=status_code)


def _message(title: str, message: str, link: str = "/admin/login", status_code: int = 200):
    return Template(
        "admin/message.html",
        context={"page_title": title, "message": message, "link": link},
        status_code=status_code,
    )


@get("/setup", name="admin:setup")
async def setup_page() -> Response:
    if await services.staff_exists():
        return Redirect("/admin/login")
    return _form_page(SETUP_TEMPLATE, SetupForm(), {}, 200)


@post("/setup", name="admin:setup-submit")
async def setup_submit(request: Request) -> Response:
    data = await form_data(request)
    form = SetupForm.read(data)
    try:
        staff_id = await services.create_staff(
            email=form.email,
            password=data.get("password", ""),
            first_name=form.first_name,
            last_name=form.last_name,
            only_if_first=True,
        )
    except ValidationError as error:
        return _form_page(SETUP_TEMPLATE, form, error.errors, 422)
    staff = await services.session_staff(staff_id, 0)
    assert staff is not None
    await log_in(request, staff)
    return redirect(request, "/admin")


@get("/login", name="admin:login")
async def login_page(next: FromQuery[str | None] = None) -> Response:
    if not await services.staff_exists():
        return Redirect("/admin/setup")
    return _form_page(LOGIN_TEMPLATE, LoginForm(next=next or ""), {}, 200)


@post("/login", name="admin:login-submit")
async def login_submit(request: Request) -> Response:
    data = await form_data(request)
    form = LoginForm.read(data)
    try:
        staff = await services.authenticate(
            form.email, data.get("password", ""), client_address(request)
        )
    except Throttled:
        return throttled(_form_page(LOGIN_TEMPLATE, form, {"": THROTTLED}))
    except ValidationError as error:
        return _form_page(LOGIN_TEMPLATE, form, error.errors, 400)
    if not await companies_of_staff(staff.id):
        message = "Your account has no company to work in. Ask an administrator for access."
        return _form_page(LOGIN_TEMPLATE, form, {"": message}, 403)
    return redirect(request, await sign_in_with_password(request, staff, form.next))


@post("/logout", name="admin:logout")
async def logout(request: Request) -> Response:
    await log_out(request)
    return redirect(request, "/admin/login")


# --- forgotten password, invitations ---------------------------------------------------------


@get("/forgot-password", name="admin:forgot-password")
async def forgot_password_page() -> Template:
    return Template("admin/forgot_password.html", context={"email": "", "errors": {}})


@post("/forgot-password", name="admin:forgot-password-submit")
async def forgot_password_submit(request: Request) -> Template:
    data = await form_data(request)
    email = str(data.get("email", "")).strip()
    if normalise_email(email) is None:  # says nothing about any account
        return Template(
            "admin/forgot_password.html",
            context={"email": email, "errors": {"email": "Enter the email you sign in with."}},
            status_code=422,
        )
    try:
        await services.check_reset_request(email, client_address(request))
    except Throttled:
        return throttled(
            Template(
                "admin/forgot_password.html", context={"email": email, "errors": {"": THROTTLED}}
            )
        )
    # The same answer whether or not the account exists, before it is even looked up: the
    # lookup and the mail happen after the response, so the time taken tells nothing.
    page = _message("Check your email", MAIL_SENT)
    page.background = BackgroundTask(services.send_password_reset, email)
    return page


def _link_page(purpose: str, token: str, staff, errors: dict[str, str], status_code: int = 200):
    title, heading, button = LINKS[purpose]
    return Template(
        "admin/set_password.html",
        context={
            "page_title": title,
            "heading": heading,
            "button": button,
            "action": f"/admin/{'invitation' if purpose == services.INVITE else 'reset'}/{token}",
            "staff": staff,
            "errors": errors,
        },
        status_code=status_code,
    )


def _link_not_valid() -> Template:
    """The one answer for unknown, malformed, used and expired links."""
    return _message("Link not valid", LINK_NOT_VALID, "/admin/forgot-password", 404)


def _too_many_links() -> Template:
    """Too many unknown links from the address (services.open_link): refused, even a real one."""
    return throttled(_message("Too many attempts", THROTTLED))


async def _open_link(request: Request, purpose: str, token: str) -> services.StaffUser | Template:
    """The staff member of an open link, or the page that refuses it."""
    try:
        staff = await services.open_link(token[:MAX_TOKEN_LENGTH], purpose, client_address(request))
    except Throttled:
        return _too_many_links()
    return _link_not_valid() if staff is None else staff


async def _link_get(request: Request, purpose: str, token: str) -> Template:
    staff = await _open_link(request, purpose, token)
    if isinstance(staff, Template):
        return staff
    return _link_page(purpose, token, staff, {})


async def _link_post(request: Request, purpose: str, token: str) -> Response:
    token = token[:MAX_TOKEN_LENGTH]
    holder = await _open_link(request, purpose, token)
    if isinstance(holder, Template):
        return holder
    data = await form_data(request)
    try:
        staff = await services.set_password_by_link(token, purpose, data.get("password", ""))
    except NotFound:
        return _link_not_valid()
    except ValidationError as error:
        return _link_page(purpose, token, holder, error.errors, 422)
    if not await companies_of_staff(staff.id):
        return _message(
            "Password set",
            "Your password is set, but your account has no company to work in yet. Ask an "
            "administrator for access.",
        )
    go_to = await sign_in_with_password(request, staff, "/admin")
    flash(request, "Your password is set. Welcome!", category="success")
    return redirect(request, go_to)


def _link_handlers(path: str, name: str, purpose: str) -> list[HTTPRouteHandler]:
    """The page (GET, named `name`) and the form (POST, `name`-submit) of a link to set a
    password: an invitation or a password reset."""

    @get(path, name=name)
    async def page(request: Request, token: FromPath[str]) -> Template:
        return await _link_get(request, purpose, token)

    @post(path, name=f"{name}-submit")
    async def submit(request: Request, token: FromPath[str]) -> Response:
        return await _link_post(request, purpose, token)

    return [page, submit]


# --- one's own profile ------------------------------------------------------------------------


def _profile_page(
    admin, details, errors: dict[str, str], password_errors: dict[str, str], status_code=200
) -> Template:
    return Template(
        "admin/staff/profile.html",
        context={
            "page_title": "My Profile",
            "details": details,
            "errors": errors,
            "password_errors": password_errors,
            "languages": list(LANGUAGES.items()),
        },
        status_code=status_code,
    )


@get("/profile", name="admin:profile", permission=None)
async def profile_page(admin: Admin) -> Template:
    return _profile_page(admin, _stored_details(admin.staff), {}, {})


def _stored_details(staff: services.StaffUser) -> services.ProfileDetails:
    return from_row(services.ProfileDetails, asdict(staff))


@post("/profile", name="admin:profile-save", permission=None)
async def profile_submit(request: Request, admin: Admin) -> Response:
    data = await form_data(request)
    details = read_profile(data)
    try:
        epoch = await services.update_profile(
            admin.staff, details, data.get("current_password", ""), client_address(request)
        )
    except Throttled:
        return throttled(_profile_page(admin, details, {"current_password": THROTTLED}, {}))
    except ValidationError as error:
        return _profile_page(admin, details, error.errors, {}, 422)
    STAFF_AREA.update_entry(request, epoch=epoch)  # this session stays, others end
    flash(request, "Your profile was saved.", category="success")
    return redirect(request, "/admin/profile")


@post("/profile/password", name="admin:profile-password", permission=None)
async def password_submit(request: Request, admin: Admin) -> Response:
    data = await form_data(request)
    staff = admin.staff
    details = _stored_details(staff)  # the profile form stays as it is saved
    try:
        epoch = await services.change_password(
            staff,
            data.get("current_password", ""),
            data.get("new_password", ""),
            client_address(request),
        )
    except Throttled:
        return throttled(_profile_page(admin, details, {}, {"current_password": THROTTLED}))
    except ValidationError as error:
        return _profile_page(admin, details, {}, error.errors, 422)
    STAFF_AREA.update_entry(request, epoch=epoch)  # this session stays, others end
    await STAFF_AREA.end_others(request, Login("staff", staff.id))
    flash(request, "Your password was changed; your other sessions have ended.", "success")
    return redirect(request, "/admin/profile")


# Reachable without a staff session.
public_handlers = [
    setup_page,
    setup_submit,
    login_page,
    login_submit,
    logout,
    forgot_password_page,
    forgot_password_submit,
    *_link_handlers("/invitation/{token:str}", "admin:invitation", services.INVITE),
    *_link_handlers("/reset/{token:str}", "admin:reset", services.RESET),
]
# Mounted behind `require_staff` by the app.
admin_handlers = [profile_page, profile_submit, password_submit]
