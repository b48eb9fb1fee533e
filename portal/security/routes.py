"""The security pages of an area, the same for staff (/admin) and client-area users (/client):
the second step of a sign-in, signing in with a passkey, "Sign-in and security" (two-factor,
recovery codes, passkeys), "Your sessions", and "Confirm it's you" before sensitive actions.

`public_handlers(area)` are reachable before signing in; `handlers(area)` go behind the area's
guard. Both are built per area from the same functions, so the two areas cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.plugins.flash import flash
from litestar.response import Template

from portal.core.config import get_settings
from portal.core.errors import Throttled, ValidationError
from portal.core.i18n import N_, translate
from portal.core.web import client_address, form_data, redirect, safe_next, throttled
from portal.security import logins, passkeys, two_factor
from portal.security.web import (
    DURING_ENROLMENT,
    REFUSED_AS_STAFF,
    Area,
    Who,
    relying_party,
    require_confirmation,
)

THROTTLED = N_("Too many attempts. Wait 15 minutes and try again.")
NOT_AS_STAFF = N_("Staff working as a client cannot change its sign-in security.")
# Opts of the handlers: any staff member may open them (admin guard), and they stay open while
# a login that must turn two-factor on has not done so yet.
OPEN = {"permission": None, DURING_ENROLMENT: True}


def _page(area: Area, template: str, status_code: int = 200, **context: Any) -> Template:
    return Template(
        f"security/{template}",
        context={"area": area, "layout": f"{area.name}/layout.html", **context},
        status_code=status_code,
    )


def _auth_page(area: Area, template: str, status_code: int = 200, **context: Any) -> Template:
    return Template(
        f"security/{template}",
        context={"area": area, "layout": f"{area.name}/auth_layout.html", **context},
        status_code=status_code,
    )


def _flash(request: Request, message: str, category: str = "success") -> None:
    flash(request, translate(message), category=category)


def _json(content: dict, status_code: int = 200) -> Response:
    return Response(content=content, status_code=status_code, media_type="application/json")


def _json_error(error: ValidationError | Throttled, status_code: int = 400) -> Response:
    if isinstance(error, Throttled):
        return throttled(_json({"error": translate(THROTTLED)}))
    return _json({"error": translate(next(iter(error.errors.values()), ""))}, status_code)


async def _options(options: Awaitable[str]) -> Response:
    """The options of a passkey ceremony, as JSON for the page's script."""
    try:
        return Response(content=await options, media_type="application/json", status_code=200)
    except Throttled as error:
        return _json_error(error)


def public_handlers(area: Area) -> list:
    p = area.prefix

    @get("/login/two-factor", name=f"{area.name}:login-two-factor")
    async def second_step_page(request: Request) -> Response:
        if area.pending(request) is None:
            return redirect(request, f"{p}/login")
        return _auth_page(area, "second_step.html", errors={})

    @post("/login/two-factor", name=f"{area.name}:login-two-factor-submit")
    async def second_step_submit(request: Request) -> Response:
        pending = area.pending(request)
        if pending is None:
            _flash(request, N_("That took too long. Log in again."), category="error")
            return redirect(request, f"{p}/login")
        login, next_url = pending
        data = await form_data(request)
        try:
            method = await two_factor.verify(login, data.get("code", ""), client_address(request))
        except Throttled:
            return throttled(_auth_page(area, "second_step.html", errors={"code": THROTTLED}))
        except ValidationError as error:
            return _auth_page(area, "second_step.html", 400, errors=error.errors)
        await area.sign_in(request, login, method)
        if method == "recovery code":
            _flash(
                request,
                N_(
                    "You used a recovery code; it will not work again. If you lost your device, "
                    "set up two-factor again on the Sign-in and security page."
                ),
                category="warning",
            )
        return redirect(request, safe_next(next_url, area.home))

    @post("/login/passkey/options", name=f"{area.name}:login-passkey-options")
    async def passkey_sign_in_options(request: Request) -> Response:
        rp = relying_party(request, "Client portal")
        return await _options(passkeys.authentication(rp, area.kind, client_address(request)))

    @post("/login/passkey", name=f"{area.name}:login-passkey")
    async def passkey_sign_in(request: Request, next: FromQuery[str | None] = None) -> Response:
        data = await form_data(request)
        rp = relying_party(request, "Client portal")
        try:
            login = await passkeys.authenticate(
                rp, area.kind, data.get("credential", ""), client_address(request)
            )
        except (ValidationError, Throttled) as error:
            return _json_error(error)
        await area.sign_in(request, login, "passkey")
        return _json({"redirect": safe_next(next or data.get("next", ""), area.home)})

    return [
        second_step_page,
        second_step_submit,
        passkey_sign_in_options,
        passkey_sign_in,
    ]


def handlers(area: Area) -> list:
    p = area.prefix

    async def overview(request: Request, who: Who, status_code: int = 200, **extra: Any):
        return _page(
            area,
            "overview.html",
            status_code,
            who=who,
            two_factor_on=await two_factor.is_enabled(who.login),
            codes_left=await two_factor.recovery_codes_left(who.login),
            passkey_list=await passkeys.list_passkeys(who.login),
            errors=extra.pop("errors", {}),
            **extra,
        )

    async def changed(request: Request, who: Who, change: str, message: str) -> None:
        """After a change of the login's sign-in security: its other sessions end, the change
        is logged and mailed to it, and this page says so."""
        await area.end_others(request, who.login)
        await area.record(request, who, change)
        _flash(request, message)

    def refuse_staff(who: Who) -> None:
        if who.acting_staff:
            raise ValidationError({"": NOT_AS_STAFF})

    @get("/security", name=f"{area.name}:security", opt=OPEN)
    async def security_page(request: Request) -> Template:
        return await overview(request, await area.who(request))

    @get("/security/two-factor", name=f"{area.name}:two-factor-setup", opt=OPEN)
    async def setup_page(request: Request) -> Response:
        who = await area.who(request)
        if who.acting_staff:
            return await overview(request, who, 403, errors={"": NOT_AS_STAFF})
        if await two_factor.is_enabled(who.login):
            area.update_entry(request, enrol=False)
            return redirect(request, f"{p}/security")
        require_confirmation(request, area, area.two_factor_setup_url)
        # The secret being enrolled is shown again rather than replaced, so that opening the
        # page (a GET, which another site can make a browser do) changes nothing.
        enrolment = await two_factor.pending_enrolment(
            who.login, who.user_name, who.issuer
        ) or await two_factor.start_enrolment(who.login, who.user_name, who.issuer)
        return _page(area, "two_factor_setup.html", enrolment=enrolment, errors={})

    @post("/security/two-factor", name=f"{area.name}:two-factor-setup-submit", opt=OPEN)
    async def setup_submit(request: Request) -> Response:
        who = await area.who(request)
        require_confirmation(request, area, area.two_factor_setup_url)
        data = await form_data(request)
        try:
            refuse_staff(who)
            codes = await two_factor.confirm_enrolment(
                who.login, data.get("code", ""), client_address(request)
            )
        except (ValidationError, Throttled) as error:
            refused = isinstance(error, Throttled)
            errors = {"code": THROTTLED} if refused else error.errors
            enrolment = await two_factor.pending_enrolment(who.login, who.user_name, who.issuer)
            if enrolment is None:
                return redirect(request, area.two_factor_setup_url)
            page = _page(area, "two_factor_setup.html", 422, enrolment=enrolment, errors=errors)
            return throttled(page) if refused else page
        area.update_entry(request, enrol=False)
        await area.end_others(request, who.login)
        await area.record(request, who, N_("Two-factor sign-in was turned on."))
        return _page(area, "recovery_codes.html", codes=codes, first_time=True)

    @post("/security/recovery-codes", name=f"{area.name}:recovery-codes", opt=OPEN)
    async def recovery_codes(request: Request) -> Response:
        who = await area.who(request)
        require_confirmation(request, area, f"{p}/security")
        try:
            refuse_staff(who)
            codes = await two_factor.regenerate_recovery_codes(who.login)
        except ValidationError as error:
            return await overview(request, who, 422, errors=error.errors)
        await area.record(
            request, who, N_("New recovery codes were made; the earlier ones no longer work.")
        )
        return _page(area, "recovery_codes.html", codes=codes, first_time=False)

    @post("/security/two-factor/disable", name=f"{area.name}:two-factor-disable", opt=OPEN)
    async def disable(request: Request) -> Response:
        who = await area.who(request)
        data = await form_data(request)
        try:
            refuse_staff(who)
            await area.check_password(request, who, data.get("password", ""))
            await two_factor.verify(who.login, data.get("code", ""), client_address(request))
        except Throttled:
            page = await overview(request, who, errors={"password": THROTTLED}, open_disable=True)
            return throttled(page)
        except ValidationError as error:
            return await overview(request, who, 422, errors=error.errors, open_disable=True)
        await two_factor.disable(who.login)
        await changed(
            request,
            who,
            N_("Two-factor sign-in was turned off."),
            N_("Two-factor authentication is off."),
        )
        return redirect(request, f"{p}/security")

    # --- passkeys ---

    @post("/security/passkeys/options", name=f"{area.name}:passkey-options", opt=OPEN)
    async def passkey_options(request: Request) -> Response:
        who = await area.who(request)
        if who.acting_staff:
            return _json_error(ValidationError({"": NOT_AS_STAFF}), 403)
        if not area.confirmed_recently(request):
            return _json({"confirm": area.confirm_url(f"{p}/security")}, 403)
        return await _options(
            passkeys.registration(
                relying_party(request, who.issuer),
                who.login,
                who.user_name,
                who.display_name,
                client_address(request),
            )
        )

    @post("/security/passkeys", name=f"{area.name}:passkey-add", opt=OPEN)
    async def passkey_add(request: Request) -> Response:
        who = await area.who(request)
        if not area.confirmed_recently(request):
            return _json({"confirm": area.confirm_url(f"{p}/security")}, 403)
        data = await form_data(request)
        try:
            refuse_staff(who)
            await passkeys.register(
                relying_party(request, who.issuer),
                who.login,
                data.get("credential", ""),
                data.get("name", ""),
            )
        except ValidationError as error:
            return _json_error(error)
        await changed(request, who, N_("A passkey was added."), N_("Your passkey was added."))
        return _json({"redirect": f"{p}/security"})

    @post(
        "/security/passkeys/{passkey_id:int}/rename", name=f"{area.name}:passkey-rename", opt=OPEN
    )
    async def passkey_rename(request: Request, passkey_id: FromPath[int]) -> Response:
        who = await area.who(request)
        data = await form_data(request)
        try:
            refuse_staff(who)
            await passkeys.rename(who.login, passkey_id, data.get("name", ""))
        except ValidationError as error:
            errors = {f"name-{passkey_id}": next(iter(error.errors.values()))}
            return await overview(request, who, 422, errors=errors)
        _flash(request, N_("The passkey was renamed."), category="success")
        return redirect(request, f"{p}/security")

    @post(
        "/security/passkeys/{passkey_id:int}/remove", name=f"{area.name}:passkey-remove", opt=OPEN
    )
    async def passkey_remove(request: Request, passkey_id: FromPath[int]) -> Response:
        who = await area.who(request)
        require_confirmation(request, area, f"{p}/security")
        try:
            refuse_staff(who)
        except ValidationError as error:
            return await overview(request, who, 403, errors=error.errors)
        await passkeys.remove(who.login, passkey_id)
        await changed(request, who, N_("A passkey was removed."), N_("The passkey was removed."))
        return redirect(request, f"{p}/security")

    # --- sessions ---

    @get("/sessions", name=f"{area.name}:sessions", opt=OPEN)
    async def sessions_page(request: Request) -> Template:
        who = await area.who(request)
        current = area.entry(request).get("login", "")
        rows = await logins.sessions_of(who.login, get_settings().session_idle_seconds)
        for row in rows:
            row["device"] = logins.device(row["user_agent"])
            row["current"] = row["handle"] == current
        return _page(area, "sessions.html", sessions=rows)

    @post(
        "/sessions/{session_id:int}/end",
        name=f"{area.name}:session-end",
        opt={**OPEN, REFUSED_AS_STAFF: True},
    )
    async def session_end(request: Request, session_id: FromPath[int]) -> Response:
        who = await area.who(request)
        await logins.end_one(who.login, session_id)
        _flash(request, N_("The session was ended."), category="success")
        return redirect(request, f"{p}/sessions")

    @post(
        "/sessions/end-others",
        name=f"{area.name}:sessions-end-others",
        opt={**OPEN, REFUSED_AS_STAFF: True},
    )
    async def sessions_end_others(request: Request) -> Response:
        who = await area.who(request)
        await area.end_others(request, who.login)
        _flash(request, N_("Your other sessions were ended."), category="success")
        return redirect(request, f"{p}/sessions")

    # --- confirm it's you ---

    @get("/confirm", name=f"{area.name}:confirm", opt=OPEN)
    async def confirm_page(request: Request, next: FromQuery[str | None] = None) -> Template:
        who = await area.who(request)
        return _page(
            area,
            "confirm.html",
            next=safe_next(next, area.home),
            has_passkeys=await passkeys.has_passkeys(who.login),
            errors={},
        )

    @post("/confirm", name=f"{area.name}:confirm-submit", opt=OPEN)
    async def confirm_submit(request: Request) -> Response:
        who = await area.who(request)
        data = await form_data(request)
        next_url = safe_next(data.get("next", ""), area.home)
        try:
            await area.check_password(request, who, data.get("password", ""))
        except (ValidationError, Throttled) as error:
            refused = isinstance(error, Throttled)
            page = _page(
                area,
                "confirm.html",
                422,
                next=next_url,
                has_passkeys=await passkeys.has_passkeys(who.login),
                errors={"password": THROTTLED} if refused else error.errors,
            )
            return throttled(page) if refused else page
        area.mark_confirmed(request)
        return redirect(request, next_url)

    @post("/confirm/passkey/options", name=f"{area.name}:confirm-passkey-options", opt=OPEN)
    async def confirm_passkey_options(request: Request) -> Response:
        who = await area.who(request)
        return await _options(
            passkeys.authentication(
                relying_party(request, who.issuer), area.kind, client_address(request), who.login
            )
        )

    @post("/confirm/passkey", name=f"{area.name}:confirm-passkey", opt=OPEN)
    async def confirm_passkey(request: Request) -> Response:
        who = await area.who(request)
        data = await form_data(request)
        try:
            await passkeys.authenticate(
                relying_party(request, who.issuer),
                area.kind,
                data.get("credential", ""),
                client_address(request),
                who.login,
            )
        except (ValidationError, Throttled) as error:
            return _json_error(error)
        area.mark_confirmed(request)
        return _json({"redirect": safe_next(data.get("next", ""), area.home)})

    return [
        security_page,
        setup_page,
        setup_submit,
        recovery_codes,
        disable,
        passkey_options,
        passkey_add,
        passkey_rename,
        passkey_remove,
        sessions_page,
        session_end,
        sessions_end_others,
        confirm_page,
        confirm_submit,
        confirm_passkey_options,
        confirm_passkey,
    ]
