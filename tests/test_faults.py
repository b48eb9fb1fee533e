"""The portal's services failing under it, as they do in production: PostgreSQL and Redis
refusing connections, or silently dropping everything, through a TCP proxy of the test's own
between a real `portal serve` and the service. Every request then gets a readable 503 with
Retry-After within the configured timeout, nothing is half-written, the outage is logged once
(not a traceback per request), and the portal recovers by itself when the service is back."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from clients_helpers import VALID_FORM
from conftest import DATABASE_URL, IS_POSTGRES
from portal.clients.tables import Client
from portal.staff.tables import Staff
from server_helpers import CSRF_FIELD, PortalServer, TcpProxy, staff_session

WAIT = 2  # PORTAL_DB_WAIT_SECONDS and PORTAL_REDIS_TIMEOUT_SECONDS of these servers
STATEMENT = 2  # PORTAL_DB_STATEMENT_SECONDS
LONGEST_ANSWER = WAIT + STATEMENT + 4  # connect/wait, then the statement, then some slack
REDIS_PORT = 6379


def _through(url: str, port: int) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit(":", 1)[0] if ":" in parts.netloc.split("@")[-1] else parts.netloc
    return urlunsplit(parts._replace(netloc=f"{netloc}:{port}"))


def _env(**extra: str) -> dict[str, str]:
    return {
        "PORTAL_DB_WAIT_SECONDS": str(WAIT),
        "PORTAL_DB_STATEMENT_SECONDS": str(STATEMENT),
        "PORTAL_REDIS_TIMEOUT_SECONDS": str(WAIT),
        "PORTAL_MAILER_IN_SERVER": "0",
        **extra,
    }


async def _timed(request) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await request
    return response, time.monotonic() - started


def _assert_unavailable(response: httpx.Response, elapsed: float) -> None:
    assert response.status_code == 503, (response.status_code, response.text[:500])
    assert response.headers["retry-after"].isdigit()
    assert "try again" in response.text
    assert elapsed < LONGEST_ANSWER


async def _recovered(http: httpx.AsyncClient, path: str, within: float = 30) -> None:
    deadline = time.monotonic() + within
    while True:
        response = await http.get(path)
        if response.status_code == 200:
            return
        assert response.status_code == 503, response.text[:500]
        assert time.monotonic() < deadline, "no recovery"
        await asyncio.sleep(0.5)


async def _add_client_form(http: httpx.AsyncClient) -> dict:
    import re

    page = await http.get("/admin/clients/add")
    group = re.search(r'name="group_id"[^>]*>\s*<option value="(\d+)"', page.text).group(1)
    return {**VALID_FORM, "_csrf_token": CSRF_FIELD.search(page.text).group(1), "group_id": group}


def _one_outage_logged(log: str, service: str) -> None:
    assert log.count(f"{service} is not answering") == 1, log[-3000:]
    assert f"{service} answers again" in log
    assert "Traceback" not in log, log[-3000:]


postgres_only = pytest.mark.skipif(not IS_POSTGRES, reason="runs against the run's PostgreSQL")


@postgres_only
@pytest.mark.parametrize("fault", ["refuse", "drop"])
async def test_postgres_down_answers_503_then_recovers(staff, tmp_path, fault):
    target = urlsplit(DATABASE_URL).port or 5432
    with TcpProxy(target) as proxy:
        env = _env(PORTAL_DATABASE_URL=_through(DATABASE_URL, proxy.port))
        with PortalServer(tmp_path / "server.log", env=env) as server:
            async with staff_session(
                server.url, staff["email"], staff["password"], timeout=60
            ) as http:
                form = await _add_client_form(http)
                assert (await http.get("/admin/clients")).status_code == 200
                getattr(proxy, fault)()
                for _ in range(3):
                    _assert_unavailable(*await _timed(http.get("/admin/clients")))
                response, elapsed = await _timed(http.post("/admin/clients/add", data=form))
                _assert_unavailable(response, elapsed)
                assert await Client.count() == 0  # nothing half-written
                proxy.forward()
                await _recovered(http, "/admin/clients")
                response = await http.post("/admin/clients/add", data=form)
                assert response.status_code == 303
            log = server.log()
    assert await Client.count() == 1
    _one_outage_logged(log, "The database")


@pytest.mark.parametrize("fault", ["refuse", "drop"])
async def test_redis_down_answers_503_then_recovers(staff, tmp_path, fault):
    with TcpProxy(REDIS_PORT) as proxy:
        env = _env(PORTAL_REDIS_URL=f"redis://127.0.0.1:{proxy.port}/0")
        with PortalServer(tmp_path / "server.log", env=env) as server:
            async with staff_session(
                server.url, staff["email"], staff["password"], timeout=60
            ) as http:
                assert (await http.get("/admin/clients")).status_code == 200
                getattr(proxy, fault)()
                for _ in range(3):
                    _assert_unavailable(*await _timed(http.get("/admin/clients")))
                proxy.forward()
                await _recovered(http, "/admin/clients")
            log = server.log()
    _one_outage_logged(log, "Redis (sessions)")


async def test_a_session_that_cannot_be_saved_leaves_the_answer_whole(staff, tmp_path):
    """The login is done (its time recorded) when the session store fails to keep the new
    session: the answer is still the redirect, without a session cookie, not a 500."""
    with TcpProxy(REDIS_PORT) as proxy:
        env = _env(PORTAL_REDIS_URL=f"redis://127.0.0.1:{proxy.port}/0")
        with PortalServer(tmp_path / "server.log", env=env) as server:
            async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
                page = await http.get("/admin/login")  # no session yet: Redis not asked
                token = CSRF_FIELD.search(page.text).group(1)
                proxy.refuse()
                response = await http.post(
                    "/admin/login",
                    data={
                        "_csrf_token": token,
                        "email": staff["email"],
                        "password": staff["password"],
                    },
                )
            log = server.log()
    assert response.status_code == 303
    assert "portal_session" not in response.headers.get("set-cookie", "")
    row = await Staff.select(Staff.last_login_at).where(Staff.id == staff["id"]).first()
    assert row["last_login_at"] is not None
    assert "Traceback" not in log and "Exception caught after response started" not in log
