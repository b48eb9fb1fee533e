"""The client area's email verification pages: the link's page (public), where a button
confirms the address, and "Resend the link" (logged in). The rules are in
portal.clients.verification."""

from __future__ import annotations

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.plugins.flash import flash
from litestar.response import Template

from portal.client_area.access import CurrentClient
from portal.clients import verification
from portal.companies.services import company_ref
from portal.core.errors import Throttled
from portal.core.i18n import N_, Message, translate
from portal.core.tokens import MAX_TOKEN_LENGTH
from portal.core.web import client_address, form_data, redirect, safe_next, throttled

LINK_NOT_VALID = N_(
    "This link has expired, was already used, or is for an address that has changed since. "
    "Log in to ask for a new one."
)
RESEND_THROTTLED = N_(
    "You asked for several links in a short time. Wait 15 minutes and try again, and check "
    "your inbox (and spam folder) for the links already sent."
)


def _invalid() -> Template:
    """Unknown, used and expired links, and links to an address that is no longer the user's,
    all get this answer."""
    return Template(
        "client/message.html",
        context={"title": N_("Link not valid"), "message": LINK_NOT_VALID, "link": "/client"},
        status_code=404,
    )


async def _branded(request: Request, link: verification.VerificationLink) -> None:
    request.state.brand = await company_ref(link.company_id)


@get("/verify/{token:str}", name="client:verify")
async def verify_page(request: Request, token: FromPath[str]) -> Template:
    """Shows what the link confirms; does not use it (mail scanners fetch links)."""
    link = await verification.open_link(token[:MAX_TOKEN_LENGTH], client_address(request))
    if link is None:
        return _invalid()
    await _branded(request, link)
    return Template("client/verify_email.html", context={"token": token, "link": link})


@post("/verify/{token:str}", name="client:verify-submit", status_code=200)
async def verify_submit(request: Request, token: FromPath[str]) -> Template:
    link = await verification.verify(token[:MAX_TOKEN_LENGTH], client_address(request))
    if link is None:
        return _invalid()
    await _branded(request, link)
    return Template(
        "client/message.html",
        context={
            "title": N_("Email address confirmed"),
            "message": Message(N_("Thank you: %(email)s is confirmed."), email=link.email),
            "link": "/client",
        },
    )


@post("/verify/resend", name="client:verify-resend")
async def resend(request: Request, user: CurrentClient) -> Response:
    """The banner's "Resend the link"; back to the page it was on."""
    data = await form_data(request)
    back = safe_next(str(data.get("next", "")), "/client")
    try:
        sent = await verification.resend(user.user_id, client_address(request))
    except Throttled:
        return throttled(
            Template(
                "client/message.html",
                context={
                    "title": N_("Too many attempts"),
                    "message": RESEND_THROTTLED,
                    "link": back,
                },
            )
        )
    if sent:
        message = Message(
            N_("We sent a new link to %(email)s. Check your inbox."), email=user.email
        )
        flash(request, translate(message), category="success")
    else:
        flash(request, translate("Your email address needs no confirmation."), category="info")
    return redirect(request, back)


public_handlers: list = [verify_page, verify_submit]
handlers: list = [resend]
