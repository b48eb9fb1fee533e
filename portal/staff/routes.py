"""Admin area entry: first-run setup, login, logout and the dashboard."""

from __future__ import annotations

from litestar import Request, Response, get, post
from litestar.params import FromQuery
from litestar.response import Redirect, Template

from portal.companies.services import companies_of_staff
from portal.core.errors import Throttled, ValidationError
from portal.core.web import client_address, form_data, redirect, safe_next
from portal.staff import services
from portal.staff.access import Admin, log_in, log_out
from portal.staff.forms import LoginForm, SetupForm

LOGIN_TEMPLATE = "admin/login.html"
SETUP_TEMPLATE = "admin/setup.html"


def _form_page(template: str, form: object, errors: dict[str, str], status_code: int) -> Template:
    return Template(template, context={"form": form, "errors": errors}, status_code=status_code)


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
        message = "Too many failed attempts. Wait 15 minutes and try again."
        return _form_page(LOGIN_TEMPLATE, form, {"": message}, 429)
    except ValidationError as error:
        return _form_page(LOGIN_TEMPLATE, form, error.errors, 400)
    if not await companies_of_staff(staff.id):
        message = "Your account has no company to work in. Ask an administrator for access."
        return _form_page(LOGIN_TEMPLATE, form, {"": message}, 403)
    await log_in(request, staff)
    return redirect(request, safe_next(form.next, "/admin"))


@post("/logout", name="admin:logout")
async def logout(request: Request) -> Response:
    await log_out(request)
    return redirect(request, "/admin/login")


@get("/", name="admin:dashboard")
async def dashboard(admin: Admin) -> Template:
    return Template("admin/dashboard.html", context={"page_title": "Dashboard"})


# Reachable without a staff session.
public_handlers = [setup_page, setup_submit, login_page, login_submit, logout]
# Mounted behind `require_staff` by the app.
admin_handlers = [dashboard]
