"""Sessions, tokens and throttles without gaps: CSRF tokens bound to their session, logins that
start clean sessions, logouts that stay logouts with Redis too, password rules on every path,
a login email that only the account's owner can change, no usernames shared across companies
leaking, and throttling that counts failures per account without a lockout anyone can renew."""

from __future__ import annotations

import asyncio
import os
import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from conftest import STAFF_PASSWORD, csrf_from, get_csrf, login_staff, redis_url_of_run
from portal.app import create_app
from portal.clients.tables import AccountUser, Contact
from portal.core import throttle
from portal.core.config import get_settings
from portal.core.tables import LoginFailure
from portal.mail.tables import MailMessage
from test_client_area import PASSWORD, client_login, make_client, own_details_form


def _http(address: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(), client=(address, 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver.local")


# --- CSRF ---------------------------------------------------------------------------------


async def test_a_token_from_another_session_is_refused(client, staff):
    """A token and cookie pair taken from an anonymous visit, planted in a staff member's
    browser, does not pass: the token is signed with the session it was issued to."""
    async with _http() as attacker:
        token = await get_csrf(attacker, "/admin/login")
        planted = attacker.cookies.get("portal_csrf")
    await login_staff(client, staff["email"], staff["password"])
    own_token = csrf_from((await client.get("/admin")).text)
    client.cookies.set("portal_csrf", planted, domain="testserver.local")
    forged = await client.post("/admin/logout", data={"_csrf_token": token})
    assert forged.status_code == 403
    assert (await client.get("/admin")).status_code == 200  # still logged in
    # The page it gets now carries a token of its own session again.
    fresh = csrf_from((await client.get("/admin")).text)
    assert fresh != token and own_token
    assert (await client.post("/admin/logout", data={"_csrf_token": fresh})).status_code == 303


# --- sessions -------------------------------------------------------------------------------


async def test_a_login_starts_a_clean_session(client, staff, company_id):
    await make_client(username="ann")
    assert (await client_login(client, "ann")).status_code == 303
    assert (await client.get("/client")).status_code == 200
    await login_staff(client, staff["email"], staff["password"])
    # The staff login left no client identity behind, and the other way round.
    assert (await client.get("/client")).status_code == 302
    assert (await client_login(client, "ann")).status_code == 303
    assert (await client.get("/admin")).status_code == 302


@pytest.fixture(params=["database", "redis"])
async def session_store(request, monkeypatch):
    """Sessions in the database, then in Redis (PORTAL_REDIS_URL)."""
    if request.param == "database":
        yield "database"
        return
    import redis.asyncio as redis

    url = redis_url_of_run(14)
    connection = redis.from_url(url)
    try:
        await connection.ping()
    except (OSError, redis.ConnectionError) as error:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"Redis unreachable outside CI: {error}")
    monkeypatch.setenv("PORTAL_REDIS_URL", url)
    get_settings.cache_clear()
    yield "redis"
    await connection.flushdb()
    await connection.aclose()
    monkeypatch.delenv("PORTAL_REDIS_URL")
    get_settings.cache_clear()


async def test_a_request_that_began_before_a_logout_cannot_bring_the_session_back(
    session_store, staff, company_id, monkeypatch
):
    """An Edit Client saving (and flashing) while the same session logs out elsewhere: the
    session stays gone."""
    from clients_helpers import VALID_FORM, add_client_form
    from portal.clients import routes

    async with _http() as browser:
        await login_staff(browser, staff["email"], staff["password"])
        token, group = await add_client_form(browser)
        created = await browser.post(
            "/admin/clients/add", data={**VALID_FORM, "_csrf_token": token, "group_id": group}
        )
        client_id = int(created.headers["location"].rsplit("/", 1)[1])
        page = await browser.get(f"/admin/clients/{client_id}/edit")
        version = re.search(r'name="version" value="(\d+)"', page.text).group(1)
        session_id = browser.cookies.get("portal_session")

        saving, release = asyncio.Event(), asyncio.Event()
        original = routes.services.update_client

        async def slow_update(*args, **kwargs):
            saving.set()
            await release.wait()
            return await original(*args, **kwargs)

        monkeypatch.setattr(routes.services, "update_client", slow_update)
        edit = asyncio.create_task(
            browser.post(
                f"/admin/clients/{client_id}/edit",
                data={
                    **VALID_FORM,
                    "_csrf_token": csrf_from(page.text),
                    "group_id": group,
                    "version": version,
                    "password": "Fresh-horse-77",
                },
            )
        )
        await saving.wait()
        async with _http() as elsewhere:
            elsewhere.cookies.set("portal_session", session_id, domain="testserver.local")
            elsewhere.cookies.set(
                "portal_csrf", browser.cookies.get("portal_csrf"), domain="testserver.local"
            )
            logout = await elsewhere.post(
                "/admin/logout", data={"_csrf_token": csrf_from(page.text)}
            )
            assert logout.status_code == 303
        release.set()
        assert (await edit).status_code == 303
    async with _http() as replay:
        replay.cookies.set("portal_session", session_id, domain="testserver.local")
        assert (await replay.get("/admin")).status_code == 302


# --- passwords and the login email ----------------------------------------------------------


async def test_a_reset_password_follows_the_same_rules(client, company_id):
    await make_client(email="ann@example.com", username="ann")
    page = await client.get("/client/forgot-password")
    await client.post(
        "/client/forgot-password", data={"_csrf_token": csrf_from(page.text), "identifier": "ann"}
    )
    message = await MailMessage.select().where(MailMessage.kind == "password_reset").first()
    link = re.search(r"/client/reset/(\S+)", message["body_text"]).group(1)
    form = await client.get(f"/client/reset/{link}")
    for own in ("ann@example.com", "ANN@example.com"):
        refused = await client.post(
            f"/client/reset/{link}", data={"_csrf_token": csrf_from(form.text), "password": own}
        )
        assert refused.status_code == 422
        assert "must not be your name, username or email address" in refused.text


async def test_changing_the_login_email_needs_the_password_and_tells_the_old_address(
    client, company_id
):
    ann = await make_client(email="ann@example.com")  # logs in with her email
    await client_login(client, "ann@example.com")
    form = await own_details_form(client)
    for password, message in (("", "enter your current password"), ("wrong", "not correct")):
        refused = await client.post(
            "/client/details",
            data={**form, "email": "thief@example.net", "current_password": password},
        )
        assert refused.status_code == 422 and message in refused.text
    assert (await Contact.select(Contact.email).where(Contact.client == ann).first())[
        "email"
    ] == "ann@example.com"
    # Another field changes without the password.
    assert (
        await client.post("/client/details", data={**form, "city": "Potsdam"})
    ).status_code == 303
    form = await own_details_form(client)
    saved = await client.post(
        "/client/details",
        data={**form, "email": "ann@example.org", "current_password": PASSWORD},
    )
    assert saved.status_code == 303
    notice = await MailMessage.select().where(MailMessage.kind == "email_changed").first()
    assert notice["to_address"] == "ann@example.com"
    assert "ann@example.org" in notice["body_text"]


# --- usernames across companies -------------------------------------------------------------


async def test_another_companys_username_is_free_and_both_log_in(
    client, company_id, second_company
):
    from portal.client_groups.services import default_group_id
    from portal.clients.forms import read_client_details
    from portal.clients.services import create_client
    from portal.core.actors import Actor

    await make_client(email="ann@example.com", username="ann")
    form = {
        "first_name": "Ann",
        "last_name": "Second",
        "country": "DE",
        "email": "ann@second.example",
        "preferred_currency": "EUR",
        "language": "de",
        "group_id": str(await default_group_id(second_company)),
        "username_mode": "specify",
        "username": "ANN",
    }
    other = await create_client(
        second_company, read_client_details(form), "Second-horse-42", Actor(kind="system")
    )
    assert await AccountUser.count().where(AccountUser.username == "ann") == 2
    assert (await client_login(client, "ann")).status_code == 303
    async with _http() as second:
        assert (await client_login(second, "ann", "Second-horse-42")).status_code == 303
        dashboard = await second.get("/client")
        assert dashboard.status_code == 200 and "Second" in dashboard.text
    assert other


# --- throttling -----------------------------------------------------------------------------


async def test_parallel_logins_with_the_right_password_all_succeed(client, staff):
    tokens = [await get_csrf(client) for _ in range(6)]

    async def login(token: str) -> int:
        async with _http() as http:
            page = await http.get("/admin/login")
            response = await http.post(
                "/admin/login",
                data={
                    "_csrf_token": csrf_from(page.text),
                    "email": staff["email"],
                    "password": STAFF_PASSWORD,
                },
            )
            return response.status_code

    assert await asyncio.gather(*(login(t) for t in tokens)) == [303] * 6


async def test_guessing_from_one_address_does_not_lock_the_owner_out(staff):
    async with _http("203.0.113.66") as guesser:
        for n in range(8):
            page = await guesser.get("/admin/login")
            await guesser.post(
                "/admin/login",
                data={
                    "_csrf_token": csrf_from(page.text),
                    "email": staff["email"],
                    "password": f"Wrong-horse-{n}",
                },
            )
        page = await guesser.get("/admin/login")
        locked = await guesser.post(
            "/admin/login",
            data={
                "_csrf_token": csrf_from(page.text),
                "email": staff["email"],
                "password": STAFF_PASSWORD,
            },
        )
        assert locked.status_code == 429
    async with _http("198.51.100.7") as owner:
        await login_staff(owner, staff["email"], staff["password"])


async def test_the_username_and_the_email_of_a_client_share_one_count(client, company_id):
    await make_client(email="ann@example.com", username="ann")
    for n, identifier in enumerate(("ann", "ann@example.com", "ANN", "Ann@Example.com", "ann")):
        response = await client_login(client, identifier, f"Wrong-horse-{n}")
        assert response.status_code == 400
    assert (await client_login(client, "ann@example.com")).status_code == 429


async def test_many_addresses_slow_an_account_down_without_locking_it(staff):
    """Past `account_slowdown` failures from any addresses, attempts on the account are spaced
    out for everyone, the owner included, but never refused for good."""
    now = datetime.now(UTC)
    account = f"staff:{staff['id']}"
    await LoginFailure.insert(
        *(
            LoginFailure(key=f"staff:account:{account}", at=now - timedelta(seconds=30))
            for _ in range(throttle.Limits().account_slowdown)
        )
    )
    first = await throttle.begin("staff", account, "198.51.100.7")
    assert first is not None
    await throttle.failed(first)
    assert await throttle.begin("staff", account, "198.51.100.8") is None  # too soon after
    await LoginFailure.update(
        {LoginFailure.at: now - timedelta(seconds=throttle.SLOWDOWN_SECONDS + 1)}, force=True
    )
    assert await throttle.begin("staff", account, "198.51.100.8") is not None
