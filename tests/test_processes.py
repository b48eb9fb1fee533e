"""Several server processes on one database (and, on PostgreSQL, one Redis for the sessions):
what one process does is seen by the other at once. Logins, logouts, login throttling and
permission changes, in the admin area and the client area, over real HTTP against real
`portal serve` processes — two of them on two ports, and one `portal serve --workers 2`.

Every answer is checked to come from the process meant: the test looks up which process holds
the server side of the connection (/proc/net/tcp and the processes' file descriptors), so that
"valid on the other process" is shown, not assumed.

On PostgreSQL the sessions live in Redis (redis://127.0.0.1:6379/7, emptied by the test), and
Redis not answering fails the test. On SQLite two processes share the run's database file, with
the sessions in it.

At the end, HAProxy (deploy/haproxy.cfg, on free ports) in front of two portal processes: a
login through it, requests answered by both, and the visitor's own address (not the proxy's)
seen by login throttling through X-Forwarded-For."""

from __future__ import annotations

import asyncio
import contextlib
import http.cookies
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import redis.asyncio as redis

from conftest import IS_POSTGRES, STAFF_PASSWORD
from portal.api.permissions import all_api_permissions
from portal.api.services import create_key
from portal.core.actors import SYSTEM
from portal.core.permissions import CLIENTS_EDIT, SUPPORT_PERMISSIONS
from portal.core.tables import LoginFailure, Session
from portal.staff import groups, services
from server_helpers import CSRF_FIELD, PROJECT_DIR, PortalServer, free_port
from test_mass_mailer_helpers import add_client

REDIS_URL = "redis://127.0.0.1:6379/7"  # this test's own Redis database, emptied by it
SUPPORT_PASSWORD = "Quiet-river-73"  # noqa: S105 - a test credential
CLIENT_PASSWORD = "Sturdy-horse-42"  # noqa: S105 - add_client's password
ROUNDS = 10  # requests to each process at every check
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"


# --- which process answered -------------------------------------------------------------------


def _descendants(pid: int) -> list[int]:
    found = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        children = (task / "children").read_text().split() if (task / "children").exists() else []
        for child in children:
            found += _descendants(int(child))
    return found


def _socket_inode(server_port: int, client_port: int) -> int | None:
    """The inode of the server side of the loopback connection from `client_port`."""
    local, remote = f"0100007F:{server_port:04X}", f"{client_port:04X}"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == local and fields[2].endswith(":" + remote) and fields[3] == "01":
            return int(fields[9])
    return None


def answering_pid(response: httpx.Response, server_port: int, candidates: list[int]) -> int:
    """Which of `candidates` (the serving processes) holds the connection `response` came on.
    The connection is still open: httpx keeps it for the next request."""
    client_port = response.extensions["network_stream"].get_extra_info("client_addr")[1]
    inode = _socket_inode(server_port, client_port)
    assert inode, f"the server closed the connection after a {response.status_code}"
    target = f"socket:[{inode}]"
    for pid in candidates:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                if os.readlink(fd) == target:
                    return pid
            except OSError:
                continue
    raise AssertionError(f"no serving process holds {target}")


class Line:
    """A keep-alive HTTP connection to one serving process (found by connecting until that
    process accepts, when several share a port). It keeps no cookies of its own."""

    def __init__(self, url: str, port: int, pid: int, serving: list[int]):
        self.url, self.port, self.pid, self.serving = url, port, pid, serving
        self.http: httpx.AsyncClient | None = None

    async def _connect(self) -> None:
        for _ in range(100):
            http = httpx.AsyncClient(
                base_url=self.url,
                timeout=30,
                limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
            )
            probe = await http.get("/static/css/portal.css")
            if answering_pid(probe, self.port, self.serving) == self.pid:
                self.http = http
                return
            await http.aclose()
        raise AssertionError(f"process {self.pid} accepted none of 100 connections")

    async def request(self, method: str, path: str, **options) -> httpx.Response:
        if self.http is None:
            await self._connect()
        response = await self.http.request(method, path, **options)
        self.http.cookies.clear()  # the visitor keeps them
        pid = answering_pid(response, self.port, self.serving)
        assert pid == self.pid, f"answered by {pid}, not {self.pid}"
        return response

    async def close(self) -> None:
        if self.http is not None:
            await self.http.aclose()


class Visitor:
    """One browser: its cookies, sent to whichever process it talks to."""

    def __init__(self) -> None:
        self.cookies: dict[str, str] = {}

    async def send(self, line: Line, method: str, path: str, **options) -> httpx.Response:
        headers = dict(options.pop("headers", {}))
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        response = await line.request(method, path, headers=headers, **options)
        for header in response.headers.get_list("set-cookie"):
            cookie = http.cookies.SimpleCookie()
            cookie.load(header)
            for name, morsel in cookie.items():
                if morsel.value and morsel["max-age"] not in ("0", 0):
                    self.cookies[name] = morsel.value
                else:
                    self.cookies.pop(name, None)
        return response

    async def token(self, line: Line, path: str) -> str:
        page = await self.send(line, "GET", path)
        match = CSRF_FIELD.search(page.text)
        assert match, f"{path} ({page.status_code}) has no CSRF field"
        return match.group(1)

    async def staff_login(self, line: Line, email: str, password: str) -> httpx.Response:
        token = await self.token(line, "/admin/login")
        data = {"_csrf_token": token, "email": email, "password": password}
        return await self.send(line, "POST", "/admin/login", data=data)

    async def client_login(self, line: Line, identifier: str, password: str) -> httpx.Response:
        token = await self.token(line, "/client/login")
        data = {"_csrf_token": token, "identifier": identifier, "password": password}
        return await self.send(line, "POST", "/client/login", data=data)

    async def everywhere(self, lines: list[Line], path: str) -> set[int]:
        """GET `path` ROUNDS times on each process, in turn; the status codes seen."""
        codes = set()
        for _ in range(ROUNDS):
            for line in lines:
                codes.add((await self.send(line, "GET", path)).status_code)
        return codes


# --- the processes ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def shared_env() -> AsyncIterator[dict[str, str]]:
    """What every server process gets beside the run's environment (its database and secret
    key): on PostgreSQL, Redis for the sessions — which must answer (no skipping)."""
    env = {"PORTAL_MAILER_IN_SERVER": "0", "PORTAL_WEBHOOKS_IN_SERVER": "0"}
    if not IS_POSTGRES:
        yield env  # sessions in the SQLite file the processes share
        return
    connection = redis.from_url(REDIS_URL)
    await connection.ping()  # Redis unreachable: the test fails here
    await connection.flushdb()
    try:
        yield {**env, "PORTAL_REDIS_URL": REDIS_URL}
    finally:
        await connection.flushdb()
        await connection.aclose()


@pytest.fixture(scope="module", params=["two servers", "--workers 2"])
async def lines(request, shared_env, tmp_path_factory) -> AsyncIterator[list[Line]]:
    """Two serving processes on the run's database, a connection to each: two `portal serve`
    processes on two ports, or the two workers of one `portal serve --workers 2` (started once
    for the tests of the module; each test empties the database as usual)."""
    tmp_path = tmp_path_factory.mktemp("servers")
    if request.param == "two servers":
        servers = [PortalServer(tmp_path / f"server-{n}.log", env=shared_env) for n in (1, 2)]
    else:
        servers = [PortalServer(tmp_path / "server.log", env=shared_env, workers=2)]
    made: list[Line] = []
    try:
        for server in servers:
            server.start()
        for server in servers:
            serving = _serving_processes(server)
            for pid in serving:
                made.append(Line(server.url, server.port, pid, serving))
        assert len(made) == 2 and len({line.pid for line in made}) == 2
        yield made
    finally:
        for line in made:
            await line.close()
        logs = "".join(server.log() for server in servers)
        for server in servers:
            server.stop()
    assert "Traceback" not in logs and " 500 " not in logs, logs


def _serving_processes(server: PortalServer) -> list[int]:
    """The processes that accept connections: uvicorn itself with one worker; its worker
    processes (not the supervisor, nor multiprocessing's helpers) with several."""
    if server.workers == 1:
        return [server.process.pid]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        workers = [
            pid
            for pid in _descendants(server.process.pid)[1:]
            if b"multiprocessing.spawn" in Path(f"/proc/{pid}/cmdline").read_bytes()
            and b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes()
        ]
        if len(workers) == server.workers:
            return workers
        time.sleep(0.1)
    raise AssertionError(f"workers not found: {_descendants(server.process.pid)}")


async def _check_sessions_are_shared_where_they_should_be() -> None:
    if IS_POSTGRES:
        connection = redis.from_url(REDIS_URL)
        try:
            assert await connection.dbsize() > 0, "no session in Redis"
        finally:
            await connection.aclose()
        assert await Session.count() == 0, "sessions in the database, not Redis"
    else:
        assert await Session.count() > 0


# --- the admin area ---------------------------------------------------------------------------


async def test_staff_login_and_logout_hold_on_every_process(lines, staff):
    a, b = lines
    ada = Visitor()
    assert (await ada.send(b, "GET", "/admin")).status_code == 302  # nobody logged in
    response = await ada.staff_login(a, staff["email"], staff["password"])
    assert response.status_code == 303, response.text
    assert await ada.everywhere(lines, "/admin") == {200}
    await _check_sessions_are_shared_where_they_should_be()

    # A fresh id at every login, whichever process makes it: the old one is refused on both.
    old = ada.cookies["portal_session"]
    assert (await ada.staff_login(b, staff["email"], staff["password"])).status_code == 303
    assert ada.cookies["portal_session"] != old
    stale = Visitor()
    stale.cookies = {**ada.cookies, "portal_session": old}
    assert await stale.everywhere(lines, "/admin") == {302}

    # Logging out on one process ends the session on the other at once.
    session_id = ada.cookies["portal_session"]
    token = await ada.token(b, "/admin")
    response = await ada.send(b, "POST", "/admin/logout", data={"_csrf_token": token})
    assert response.status_code == 303
    replay = Visitor()
    replay.cookies = {**ada.cookies, "portal_session": session_id}
    assert (await replay.send(a, "GET", "/admin")).status_code == 302
    assert await replay.everywhere(lines, "/admin") == {302}


async def test_failed_staff_logins_are_counted_across_processes(lines, staff):
    """Five wrong passwords, alternating between the processes, lock the account out for that
    address on both: the sixth try is refused even with the right password."""
    guesser = Visitor()
    for n in range(5):
        response = await guesser.staff_login(lines[n % 2], staff["email"], "Wrong-guess-1")
        assert response.status_code == 400, (n, response.status_code)
    for line in lines:
        response = await guesser.staff_login(line, staff["email"], staff["password"])
        assert response.status_code == 429, response.status_code
        assert "Wait 15 minutes" in response.text


async def test_a_staff_group_edited_on_one_process_applies_on_the_other_at_once(
    lines, staff, company_id
):
    a, b = lines
    await services.create_staff(
        email="sam@example.com",
        password=SUPPORT_PASSWORD,
        first_name="Sam",
        last_name="Support",
        company_ids=[company_id],
        group="Support",
    )
    support_group = await groups.group_by_name(company_id, "Support")
    sam, ada = Visitor(), Visitor()
    assert (await sam.staff_login(a, "sam@example.com", SUPPORT_PASSWORD)).status_code == 303
    assert (await ada.staff_login(b, staff["email"], STAFF_PASSWORD)).status_code == 303
    assert await sam.everywhere(lines, "/admin/clients/add") == {403}

    async def edit_support(line: Line, permissions: list[str]) -> None:
        path = f"/admin/settings/system/staff-groups/{support_group}/edit"
        token = await ada.token(line, path)
        data = {"_csrf_token": token, "name": "Support", "permissions": permissions}
        response = await ada.send(line, "POST", path, data=data)
        assert response.status_code == 303, response.text

    await edit_support(b, [*SUPPORT_PERMISSIONS, CLIENTS_EDIT])
    assert (await sam.send(a, "GET", "/admin/clients/add")).status_code == 200  # at once
    assert await sam.everywhere(lines, "/admin/clients/add") == {200}
    await edit_support(a, list(SUPPORT_PERMISSIONS))
    assert (await sam.send(b, "GET", "/admin/clients/add")).status_code == 403  # at once
    assert await sam.everywhere(lines, "/admin/clients/add") == {403}


# --- the client area --------------------------------------------------------------------------


async def test_client_login_logout_and_throttling_hold_on_every_process(lines, company_id):
    a, b = lines
    await add_client(company_id, "Ann", "ann@example.com", opted_in=False, username="ann")
    ann = Visitor()
    assert (await ann.send(a, "GET", "/client")).status_code == 302
    assert (await ann.client_login(a, "ann", CLIENT_PASSWORD)).status_code == 303
    assert await ann.everywhere(lines, "/client") == {200}
    await _check_sessions_are_shared_where_they_should_be()

    session_id = ann.cookies["portal_session"]
    token = await ann.token(b, "/client")
    response = await ann.send(b, "POST", "/client/logout", data={"_csrf_token": token})
    assert response.status_code == 303
    replay = Visitor()
    replay.cookies = {**ann.cookies, "portal_session": session_id}
    assert (await replay.send(a, "GET", "/client")).status_code == 302
    assert await replay.everywhere(lines, "/client") == {302}

    guesser = Visitor()
    for n in range(5):
        response = await guesser.client_login(lines[n % 2], "ann", "Wrong-guess-1")
        assert response.status_code == 400, (n, response.status_code)
    for line in lines:
        response = await guesser.client_login(line, "ann@example.com", CLIENT_PASSWORD)
        assert response.status_code == 429, response.status_code


# --- HAProxy in front (deploy/haproxy.cfg) ------------------------------------------------------

HAPROXY_CFG = PROJECT_DIR / "deploy" / "haproxy.cfg"
ROOT_ONLY = re.compile(r"^\s*(chroot|user|group|daemon|stats socket|log /dev/log)\b.*\n", re.M)


def _haproxy_config(public_port: int, portal_ports: list[int]) -> str:
    """deploy/haproxy.cfg on the test's ports, its first servers pointed at `portal_ports` (the
    others left out), without what needs root (chroot, a user to become, the system's log and
    stats sockets); HAProxy's log goes to its output."""
    text = ROOT_ONLY.sub("", HAPROXY_CFG.read_text())
    text = text.replace("global\n", "global\n    log stdout format raw local0\n", 1)
    text = re.sub(r"^(\s*bind\s+)\S+.*$", rf"\g<1>127.0.0.1:{public_port}", text, flags=re.M)
    ports = iter(portal_ports)

    def server(match: re.Match) -> str:
        port = next(ports, None)
        return "" if port is None else f"{match.group(1)}127.0.0.1:{port}{match.group(3)}"

    text = re.sub(r"^(\s*server\s+\S+\s+)(\S+)(.*)$", server, text, flags=re.M)
    assert next(ports, None) is None, f"deploy/haproxy.cfg has fewer servers than {portal_ports}"
    return text


# bin/test installs HAProxy: in CI a missing one fails the tests rather than skipping them.
NO_HAPROXY = pytest.mark.skipif(
    not Path(HAPROXY).exists() and not os.environ.get("CI"),
    reason="haproxy is not installed (apt-get install haproxy)",
)


@NO_HAPROXY
def test_the_haproxy_config_is_valid():
    result = subprocess.run(
        [HAPROXY, "-c", "-f", str(HAPROXY_CFG)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


@contextlib.contextmanager
def haproxy(config: Path, log_path: Path) -> Iterator[subprocess.Popen]:
    """HAProxy in the foreground (-db) with `config`, stopped at the end."""
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [HAPROXY, "-db", "-f", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)


@NO_HAPROXY
async def test_behind_haproxy_logins_work_and_visitors_keep_their_address(
    shared_env, staff, tmp_path
):
    env = {**shared_env, "PORTAL_FORWARDED_ALLOW_IPS": "127.0.0.1"}
    servers = [PortalServer(tmp_path / f"server-{n}.log", env=env) for n in (1, 2)]
    public_port = free_port()
    config = tmp_path / "haproxy.cfg"
    config.write_text(_haproxy_config(public_port, [server.port for server in servers]))
    with contextlib.ExitStack() as running:
        for server in servers:
            running.enter_context(server)
        running.enter_context(haproxy(config, tmp_path / "haproxy.log"))
        # The visitor comes from 127.0.0.2; HAProxy reaches the portal from 127.0.0.1.
        transport = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{public_port}", transport=transport, timeout=30
        ) as browser:
            deadline = time.monotonic() + 30
            while True:  # until HAProxy listens and its health checks find both up
                try:
                    if (await browser.get("/admin/login")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, (tmp_path / "haproxy.log").read_text()
                await asyncio.sleep(0.2)
            page = await browser.get("/admin/login")
            wrong = await browser.post(
                "/admin/login",
                data={
                    "_csrf_token": CSRF_FIELD.search(page.text).group(1),
                    "email": staff["email"],
                    "password": "Wrong-guess-1",
                },
                headers={"X-Forwarded-For": "203.0.113.9"},  # forged: HAProxy drops it
            )
            assert wrong.status_code == 400
            page = await browser.get("/admin/login")
            response = await browser.post(
                "/admin/login",
                data={
                    "_csrf_token": CSRF_FIELD.search(page.text).group(1),
                    "email": staff["email"],
                    "password": staff["password"],
                },
            )
            assert response.status_code == 303, response.text
            for _ in range(2 * ROUNDS):
                assert (await browser.get("/admin")).status_code == 200
            # An API key goes to one process (balance hdr(Authorization)): its read-your-writes
            # mark for the replica is kept in the process that served its write.
            key = (await create_key(staff["company_id"], "sticky", all_api_permissions(), SYSTEM))[
                1
            ]
            for _ in range(ROUNDS):
                answer = await browser.get(
                    "/api/v1/clients", headers={"Authorization": f"Bearer {key}"}
                )
                assert answer.status_code == 200, answer.text
        # The failure was counted for the visitor's address, not the proxy's.
        keys = [row["key"] for row in await LoginFailure.select(LoginFailure.key)]
        assert "staff:address:127.0.0.2" in keys, keys
        assert not any("127.0.0.1" in key or "203.0.113.9" in key for key in keys), keys
        # Both processes answered the browser (round robin); one answered the API key.
        for server in servers:
            assert server.log().count('"GET /admin HTTP/1.1" 200') >= ROUNDS // 2, server.log()
        api = [server.log().count('"GET /api/v1/clients HTTP/1.1" 200') for server in servers]
        assert sorted(api) == [0, ROUNDS], api
