"""Staff authentication over HTTP: first-run setup, login, sessions, CSRF, throttling."""

from __future__ import annotations

import logging

from conftest import STAFF_PASSWORD, csrf_from, get_csrf, login_staff, redis_url_of_run
from portal.core.tables import Session
from portal.staff.tables import Staff


async def test_first_run_leads_to_setup_then_setup_is_gone(client, company_id):
    response = await client.get("/admin", follow_redirects=True)
    assert response.url.path == "/admin/setup"
    assert "Create the administrator" in response.text

    token = csrf_from(response.text)
    response = await client.post(
        "/admin/setup",
        data={
            "_csrf_token": token,
            "first_name": "Ada",
            "last_name": "Admin",
            "email": "Ada@Example.com",
            "password": STAFF_PASSWORD,
        },
    )
    assert response.status_code == 303
    page = await client.get("/admin")
    assert page.status_code == 200 and "Welcome, Ada" in page.text

    # The one-time form is gone, and a forged second setup is refused (with a token of this
    # session: the setup's own was bound to the session before the login).
    assert (await client.get("/admin/setup")).headers["location"] == "/admin/login"
    token = csrf_from(page.text)
    response = await client.post(
        "/admin/setup",
        data={
            "_csrf_token": token,
            "first_name": "Eve",
            "last_name": "X",
            "email": "eve@example.com",
            "password": "Another-horse-43",
        },
    )
    assert response.status_code == 422
    assert "already been created" in response.text
    assert await Staff.count() == 1
    assert (await Staff.select(Staff.email).first())["email"] == "ada@example.com"


async def test_setup_keeps_values_and_reports_each_bad_field(client, company_id):
    token = await get_csrf(client, "/admin/setup")
    response = await client.post(
        "/admin/setup",
        data={
            "_csrf_token": token,
            "first_name": "<script>x</script>",
            "last_name": "",
            "email": "not-an-email",
            "password": "password",
        },
    )
    assert response.status_code == 422
    assert "Last Name is required." in response.text
    assert "Enter a valid email address" in response.text
    assert "too common" in response.text
    assert 'value="not-an-email"' in response.text
    assert (
        "&lt;script&gt;x&lt;/script&gt;" in response.text
        and "<script>x</script>" not in response.text
    )
    assert 'value="password"' not in response.text  # passwords are never echoed
    assert await Staff.count() == 0


async def test_session_id_changes_at_login_and_forged_ids_get_nothing(client, staff):
    forged = "f" * 64
    client.cookies.set("portal_session", forged, domain="testserver.local")
    response = await client.get("/admin")
    assert response.status_code == 302  # no session behind a forged id
    await login_staff(client, staff["email"], staff["password"])
    issued = client.cookies.get("portal_session")
    assert issued and issued != forged
    assert not await Session.exists().where(Session.key == forged)
    assert (await client.get("/admin")).status_code == 200

    # A second login issues yet another id and destroys the previous one server-side.
    await login_staff(client, staff["email"], staff["password"])
    rotated = client.cookies.get("portal_session")
    assert rotated != issued
    assert not await Session.exists().where(Session.key == issued)


async def test_anonymous_pages_create_no_session(client, staff):
    await client.get("/admin/login")
    assert await Session.count() == 0


async def test_logout_destroys_the_session_server_side(client, staff):
    await login_staff(client, staff["email"], staff["password"])
    session_id = client.cookies.get("portal_session")
    page = await client.get("/admin")
    response = await client.post("/admin/logout", data={"_csrf_token": csrf_from(page.text)})
    assert response.status_code == 303 and response.headers["location"] == "/admin/login"
    assert not await Session.exists().where(Session.key == session_id)
    # Replaying the old cookie opens nothing.
    client.cookies.clear()
    client.cookies.set("portal_session", session_id, domain="testserver.local")
    assert (await client.get("/admin")).status_code == 302


async def test_posts_without_csrf_token_are_refused(admin_client):
    response = await admin_client.post("/admin/logout")
    assert response.status_code == 403
    response = await admin_client.post("/admin/logout", headers={"HX-Request": "true"})
    assert response.status_code == 403
    assert response.headers["HX-Retarget"] == "#flash-messages"
    response = await admin_client.post(
        "/admin/logout", headers={"HX-Request": "true", "x-csrftoken": "forged-token"}
    )
    assert response.status_code == 403
    assert (await admin_client.get("/admin")).status_code == 200  # still logged in


async def test_htmx_post_with_csrf_header_is_accepted(admin_client):
    page = await admin_client.get("/admin")
    token = csrf_from(page.text)
    response = await admin_client.post(
        "/admin/logout", headers={"HX-Request": "true", "x-csrftoken": token}
    )
    assert response.status_code == 200
    assert response.headers["HX-Redirect"] == "/admin/login"


async def _attempt(client, email, password):
    token = await get_csrf(client)
    return await client.post(
        "/admin/login", data={"_csrf_token": token, "email": email, "password": password}
    )


def _without_token(html: str) -> str:
    return html.replace(csrf_from(html), "TOKEN").replace(csrf_from(html), "TOKEN")


async def test_unknown_email_and_wrong_password_answer_alike(client, staff):
    wrong_password = await _attempt(client, staff["email"], "Wrong-horse-99")
    unknown_email = await _attempt(client, "nobody@example.com", "Wrong-horse-99")
    assert wrong_password.status_code == unknown_email.status_code == 400
    assert "Email or password is incorrect." in wrong_password.text
    normalise = lambda r, email: _without_token(r.text).replace(email, "EMAIL")  # noqa: E731
    assert normalise(wrong_password, staff["email"]) == normalise(
        unknown_email, "nobody@example.com"
    )


async def test_ten_wrong_passwords_are_throttled(client, staff):
    statuses = [
        (await _attempt(client, staff["email"], f"Wrong-horse-{i}")).status_code for i in range(10)
    ]
    assert statuses[:5] == [400] * 5
    assert statuses[5:] == [429] * 5
    # Even the right password is refused while throttled, with the same answer for unknown accounts.
    right = await _attempt(client, staff["email"], staff["password"])
    assert right.status_code == 429 and "Too many failed attempts" in right.text
    for i in range(6):
        last = await _attempt(client, "nobody@example.com", f"Wrong-horse-{i}")
    assert last.status_code == 429


async def test_inactive_staff_cannot_log_in_and_is_logged_out(client, staff):
    await login_staff(client, staff["email"], staff["password"])
    await Staff.update({Staff.status: "inactive"}).where(Staff.id == staff["id"])
    assert (await client.get("/admin")).status_code == 302
    response = await _attempt(client, staff["email"], staff["password"])
    assert response.status_code == 400 and "Email or password is incorrect." in response.text


async def test_passwords_appear_in_no_response_and_no_log_line(client, staff, caplog):
    caplog.set_level(logging.DEBUG)
    secret = "Unique-Secret-Horse-777"
    responses = [await _attempt(client, staff["email"], secret)]
    token = await get_csrf(client, "/admin/login")
    responses.append(
        await client.post(
            "/admin/login",
            data={"_csrf_token": token, "email": staff["email"], "password": STAFF_PASSWORD},
        )
    )
    responses.append(await client.get("/admin"))
    for response in responses:
        assert secret not in response.text and STAFF_PASSWORD not in response.text
    assert secret not in caplog.text and STAFF_PASSWORD not in caplog.text


async def test_next_parameter_cannot_redirect_off_site(client, staff):
    token = await get_csrf(client)
    response = await client.post(
        "/admin/login",
        data={
            "_csrf_token": token,
            "email": staff["email"],
            "password": staff["password"],
            "next": "//evil.example.com/",
        },
    )
    assert response.headers["location"] == "/admin"


async def test_sessions_live_in_redis_when_configured(monkeypatch, staff):
    """With PORTAL_REDIS_URL the sessions are shared through Redis, with the same protections."""
    import os

    import httpx
    import pytest
    import redis.asyncio as redis

    from portal.app import create_app
    from portal.core.config import get_settings

    url = redis_url_of_run(15)
    connection = redis.from_url(url)
    try:
        await connection.ping()
    except (OSError, redis.ConnectionError) as error:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"Redis unreachable outside CI: {error}")
    monkeypatch.setenv("PORTAL_REDIS_URL", url)
    get_settings.cache_clear()
    try:
        transport = httpx.ASGITransport(app=create_app(), client=("127.0.0.1", 50001))
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver.local"
        ) as http:
            http.cookies.set("portal_session", "f" * 64, domain="testserver.local")
            assert (await http.get("/admin")).status_code == 302
            await login_staff(http, staff["email"], staff["password"])
            first = http.cookies.get("portal_session")
            assert first != "f" * 64 and (await http.get("/admin")).status_code == 200
            assert await Session.count() == 0  # not in the database
            await login_staff(http, staff["email"], staff["password"])
            assert http.cookies.get("portal_session") != first
            http.cookies.clear()
            http.cookies.set("portal_session", first, domain="testserver.local")
            assert (await http.get("/admin")).status_code == 302  # the old id was destroyed
    finally:
        await connection.flushdb()
        await connection.aclose()
        monkeypatch.delenv("PORTAL_REDIS_URL")
        get_settings.cache_clear()


async def test_idle_and_absolute_session_timeouts(client, staff, monkeypatch):
    from datetime import UTC, datetime, timedelta

    from portal.core.config import get_settings

    await login_staff(client, staff["email"], staff["password"])
    assert (await client.get("/admin")).status_code == 200
    # Idle: the store's expiry (renewed while the session is used) has passed.
    await Session.update({Session.expires_at: datetime.now(UTC) - timedelta(seconds=1)}).where(
        Session.key == client.cookies.get("portal_session")
    )
    assert (await client.get("/admin")).status_code == 302

    # Absolute: a session older than the limit ends even while in use.
    await login_staff(client, staff["email"], staff["password"])
    monkeypatch.setenv("PORTAL_SESSION_ABSOLUTE_SECONDS", "-1")
    get_settings.cache_clear()
    try:
        assert (await client.get("/admin")).status_code == 302
    finally:
        monkeypatch.delenv("PORTAL_SESSION_ABSOLUTE_SECONDS")
        get_settings.cache_clear()
