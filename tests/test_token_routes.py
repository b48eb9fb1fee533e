"""Every route that takes a token from a link (staff invitation and reset, client reset and
invitation, the unsubscribe link), GET and POST: unknown, malformed, too long, expired and used
links get one answer; and every lookup is counted per address, so an address guessing links is
refused (429, Retry-After) after throttle.LINK_LIMITS, even for a real link, while other
addresses are not (FOSSBilling's CVE-2026-43926: a reset confirmation outside the limiter)."""

from __future__ import annotations

import contextlib
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from test_mass_mailer import queue, run_worker

from conftest import csrf_from
from portal.app import create_app
from portal.client_area import services as client_area
from portal.client_area.tables import PasswordResetToken
from portal.clients import users
from portal.clients.tables import AccountInvitation
from portal.core import throttle
from portal.core.actors import Actor
from portal.core.tokens import token_hash
from portal.mail.tables import MailMessage
from portal.plugins.mass_mailer.tables import MailingRecipient
from portal.staff import groups
from portal.staff import services as staff_services
from portal.staff.tables import StaffToken
from test_client_area import make_client
from test_mass_mailer_helpers import add_client

GUESSER, OTHER = "192.0.2.10", "198.51.100.20"
NEW_PASSWORD = "Fresh-badger-64"  # noqa: S105 - a test credential
LIMIT = throttle.LINK_LIMITS.per_address
STAFF_THROTTLED = "Too many failed attempts. Wait 15 minutes and try again."
THROTTLED = "Too many attempts. Wait 15 minutes and try again."
# Not ours, whatever the route: unknown but well formed, malformed (NUL bytes, which PostgreSQL
# refuses in text; bytes that are no UTF-8), too long.
FOREIGN = [
    secrets.token_urlsafe(32),
    "not%20a%20link!",
    "x",
    "%00" * 20,
    "%ED%A0%80%FF",
    "A" * 500,
]


@contextlib.asynccontextmanager
async def browser(address: str) -> AsyncIterator[httpx.AsyncClient]:
    """A browser of its own (cookies) at `address`."""
    transport = httpx.ASGITransport(app=create_app(), client=(address, 50100))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as http:
        yield http


def normalised(response: httpx.Response) -> tuple[int, str]:
    """Status and body, without what differs by session (CSRF tokens) and the page's own
    address (the client area's language links lead back to it)."""
    body = re.sub(r'name="_csrf_token" value="[^"]*"', "CSRF", response.text)
    body = re.sub(r'"x-csrftoken": "[^"]*"', "CSRF", body)
    return response.status_code, re.sub(r'next=[^"]*"', 'next=PAGE"', body)


async def latest_link(kind: str, to: str, pattern: str) -> str:
    message = (
        await MailMessage.select(MailMessage.body_text)
        .where(MailMessage.kind == kind, MailMessage.to_address == to)
        .order_by(MailMessage.id, ascending=False)
        .first()
    )
    assert message is not None, f"no {kind} mailed to {to}"
    match = re.search(pattern + r"([A-Za-z0-9_\-]+)", message["body_text"])
    assert match, message["body_text"]
    return match.group(1)


# --- the routes and their links ------------------------------------------------------------


@dataclass
class Links:
    """One kind of link: a usable, an expired and a used token, how each request of its routes
    is made (GET first, then the POSTs), and what its refusals say."""

    valid: str
    expired: str | None  # None: links of this kind do not expire
    used: str | None  # None: using the link again is meant to succeed (see the test)
    requests: list[Callable[[httpx.AsyncClient, str], Awaitable[httpx.Response]]]
    ok_status: int
    throttled: str


async def csrf(http: httpx.AsyncClient, page: str) -> str:
    return csrf_from((await http.get(page)).text)


def get(prefix: str, suffix: str = ""):
    async def request(http: httpx.AsyncClient, token: str) -> httpx.Response:
        return await http.get(f"{prefix}{token}{suffix}")

    return request


def post(prefix: str, suffix: str = "", csrf_page: str | None = None, **data: str):
    async def request(http: httpx.AsyncClient, token: str) -> httpx.Response:
        form = {**data, **({"_csrf_token": await csrf(http, csrf_page)} if csrf_page else {})}
        return await http.post(f"{prefix}{token}{suffix}", data=form)

    return request


def admin_actor(staff_id: int) -> Actor:
    return Actor(kind="staff", id=staff_id, name="Ada Admin", permissions=groups.all_permissions())


async def staff_invitation(company_id: int, staff: dict) -> Links:
    tokens, members = {}, {}
    support = await groups.group_by_name(company_id, "Support")
    for name in ("valid", "expired", "used"):
        email = f"{name}@example.com"
        details = staff_services.MemberDetails(name.title(), "Member", email, "en", support)
        members[name] = await staff_services.invite_member(
            company_id, details, admin_actor(staff["id"])
        )
        tokens[name] = await latest_link("staff_invitation", email, "/admin/invitation/")
    await StaffToken.update(
        {StaffToken.expires_at: datetime.now(UTC) - timedelta(seconds=1)}
    ).where(StaffToken.staff == members["expired"])
    await staff_services.set_password_by_link(tokens["used"], staff_services.INVITE, NEW_PASSWORD)
    return Links(
        valid=tokens["valid"],
        expired=tokens["expired"],
        used=tokens["used"],
        requests=[
            get("/admin/invitation/"),
            post("/admin/invitation/", csrf_page="/admin/login", password=NEW_PASSWORD),
        ],
        ok_status=200,
        throttled=STAFF_THROTTLED,
    )


async def staff_reset(company_id: int, staff: dict) -> Links:
    tokens = {}
    for name in ("valid", "expired", "used"):
        email = f"{name}@example.com"
        await staff_services.create_staff(
            email=email, password="Old-badger-33", first_name=name, company_ids=[company_id]
        )
        await staff_services.send_password_reset(email)
        tokens[name] = await latest_link("staff_password_reset", email, "/admin/reset/")
    await StaffToken.update(
        {StaffToken.expires_at: datetime.now(UTC) - timedelta(seconds=1)}
    ).where(StaffToken.token_hash == token_hash(tokens["expired"]))
    await staff_services.set_password_by_link(tokens["used"], staff_services.RESET, NEW_PASSWORD)
    return Links(
        valid=tokens["valid"],
        expired=tokens["expired"],
        used=tokens["used"],
        requests=[
            get("/admin/reset/"),
            post("/admin/reset/", csrf_page="/admin/login", password=NEW_PASSWORD),
        ],
        ok_status=200,
        throttled=STAFF_THROTTLED,
    )


async def client_reset(company_id: int, staff: dict) -> Links:
    tokens = {}
    for name in ("valid", "expired", "used"):
        await make_client(email=f"{name}@example.com", username=name)
        await client_area.send_password_reset(name)
        tokens[name] = await latest_link("password_reset", f"{name}@example.com", "/client/reset/")
    await PasswordResetToken.update(
        {PasswordResetToken.expires_at: datetime.now(UTC) - timedelta(seconds=1)}
    ).where(PasswordResetToken.token_hash == token_hash(tokens["expired"]))
    await client_area.reset_password(tokens["used"], NEW_PASSWORD)
    return Links(
        valid=tokens["valid"],
        expired=tokens["expired"],
        used=tokens["used"],
        requests=[
            get("/client/reset/"),
            post("/client/reset/", csrf_page="/client/login", password=NEW_PASSWORD),
        ],
        ok_status=200,
        throttled=THROTTLED,
    )


async def client_invitation(company_id: int, staff: dict) -> Links:
    account = await make_client(username="ann")
    actor = admin_actor(staff["id"])
    tokens = {}
    for name in ("valid", "expired", "used"):
        email = f"{name}@example.com"
        await users.invite(company_id, account, email, ["invoices"], actor)
        tokens[name] = await latest_link("invitation", email, "/client/invitation/")
    await AccountInvitation.update(
        {AccountInvitation.expires_at: datetime.now(UTC) - timedelta(seconds=1)}
    ).where(AccountInvitation.email == "expired@example.com")
    await users.accept_as_new_user(
        tokens["used"], name="Used Person", username="used", password=NEW_PASSWORD, language="en"
    )
    page = "/client/login"
    return Links(
        valid=tokens["valid"],
        expired=tokens["expired"],
        used=tokens["used"],
        requests=[
            get("/client/invitation/"),
            post("/client/invitation/", "/accept", csrf_page=page),
            post(
                "/client/invitation/", "/login", csrf_page=page, identifier="x", login_password="y"
            ),
            post(
                "/client/invitation/",
                "/create",
                csrf_page=page,
                name="New Person",
                username="",
                password=NEW_PASSWORD,
            ),
        ],
        ok_status=200,
        throttled=THROTTLED,
    )


async def unsubscribe(company_id: int, staff: dict) -> Links:
    """An unsubscribe link does not expire, and using it again succeeds again on purpose (a
    mail program may send the one-click POST twice); what ends it is its recipient's removal
    (e.g. the client deleted), which answers like an unknown link."""
    for name in ("valid", "gone"):
        await add_client(company_id, name.title(), f"{name}@example.com", opted_in=True)
    await queue(company_id)
    await run_worker()
    rows = {
        row["email"]: row["unsubscribe_token"]
        for row in await MailingRecipient.select(
            MailingRecipient.email, MailingRecipient.unsubscribe_token
        )
    }
    await MailingRecipient.delete().where(MailingRecipient.email == "gone@example.com")
    return Links(
        valid=rows["valid@example.com"],
        expired=rows["gone@example.com"],
        used=None,
        requests=[get("/unsubscribe/"), post("/unsubscribe/")],
        ok_status=200,
        throttled=THROTTLED,
    )


ROUTES = {
    "staff-invitation": staff_invitation,
    "staff-reset": staff_reset,
    "client-reset": client_reset,
    "client-invitation": client_invitation,
    "unsubscribe": unsubscribe,
}


@pytest.fixture(params=list(ROUTES))
async def links(request, company_id, staff) -> Links:
    return await ROUTES[request.param](company_id, staff)


# --- the tests --------------------------------------------------------------------------------


async def test_unknown_malformed_expired_and_used_links_get_one_answer(links: Links):
    bad = [*FOREIGN, *(token for token in (links.expired, links.used) if token)]
    for number, request in enumerate(links.requests):
        # Each request from an address of its own: what is compared is the answer, not a count.
        async with browser(f"203.0.113.{number + 1}") as http:
            answers = {token: normalised(await request(http, token)) for token in bad}
        first = answers[bad[0]]
        assert first[0] == 404, first
        for token, answer in answers.items():
            assert answer == first, (request, token)
        async with browser(OTHER) as http:
            works = await links.requests[0](http, links.valid)
            assert works.status_code == links.ok_status, works.text


async def test_a_used_unsubscribe_link_keeps_succeeding(company_id, staff):
    unsubscribe_links = await unsubscribe(company_id, staff)
    async with browser(OTHER) as http:
        for _ in range(2):
            done = await http.post(f"/unsubscribe/{unsubscribe_links.valid}")
            assert done.status_code == 200 and "You are unsubscribed" in done.text
        again = await http.get(f"/unsubscribe/{unsubscribe_links.valid}")
        assert again.status_code == 200 and 'action="/unsubscribe/' in again.text


async def test_guessing_from_one_address_is_refused_on_get_and_post(links: Links):
    async with browser(GUESSER) as guesser:
        # The guesses are spread over the GET and the POSTs: each of them counts.
        for number in range(LIMIT):
            request = links.requests[number % len(links.requests)]
            guess = await request(guesser, f"guess-{number:04d}-{secrets.token_urlsafe(8)}")
            assert guess.status_code == 404, (number, guess.text)
        for request in links.requests:
            refused = await request(guesser, links.valid)
            assert refused.status_code == 429, "even a real link, once the address guessed"
            assert refused.headers["retry-after"] == str(throttle.RETRY_AFTER_SECONDS) == "900"
            assert links.throttled in refused.text
            # And the refusal is the same whatever the link.
            assert normalised(await request(guesser, FOREIGN[0])) == normalised(refused)
    async with browser(OTHER) as other:
        page = await links.requests[0](other, links.valid)
        assert page.status_code == links.ok_status, "other addresses are not affected"
