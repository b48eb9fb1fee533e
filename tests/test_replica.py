"""A PostgreSQL streaming replica (PORTAL_DATABASE_REPLICA_URL), for real: the test builds a
throwaway primary and a replica of it (initdb, pg_basebackup) on free ports, runs `portal serve`
against both, and watches where reads go by pausing the replica's WAL replay: what a session that
did not write sees is the replica's (stale) copy, what the writer sees is its own write, and a
replica that is stopped or lags too much is passed over for the primary, never a 500."""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest

from clients_helpers import VALID_FORM
from conftest import IS_POSTGRES, PROJECT_DIR, STAFF_PASSWORD
from server_helpers import CSRF_FIELD, PortalServer, free_ports, staff_session

postgres_only = pytest.mark.skipif(
    not IS_POSTGRES,
    reason="a read replica needs PostgreSQL (the run's PORTAL_DATABASE_URL is SQLite)",
)

STAFF_EMAIL = "replica-admin@example.com"


def _pg_bin() -> Path:
    """The newest PostgreSQL server binaries installed (Debian's layout). On a PostgreSQL run a
    missing one is a failure, not a skip."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"), key=lambda path: int(path.parent.name)
    )
    assert found, "PostgreSQL server binaries (initdb, pg_ctl, pg_basebackup) are not installed"
    for tool in ("initdb", "pg_ctl", "pg_basebackup"):
        assert (found[-1] / tool).exists(), f"{found[-1] / tool} is missing"
    return found[-1]


@dataclass
class Pair:
    """A primary and its streaming replica, each a cluster of its own."""

    bin: Path
    root: Path
    primary_port: int
    replica_port: int

    def url(self, port: int) -> str:
        return f"postgresql://postgres@127.0.0.1:{port}/portal"

    @property
    def primary_url(self) -> str:
        return self.url(self.primary_port)

    @property
    def replica_url(self) -> str:
        return self.url(self.replica_port)

    def run(self, tool: str, *args: str) -> str:
        """A PostgreSQL program, as the postgres user when the tests run as root (the server
        refuses to run as root)."""
        command = [str(self.bin / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, f"{tool} failed: {done.stdout}\n{done.stderr}"
        return done.stdout

    def start(self, name: str, port: int) -> None:
        options = f"-p {port} -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off"
        self.run("pg_ctl", "-D", str(self.root / name), "-o", options, "-w", "-t", "60",
                 "-l", str(self.root / f"{name}.log"), "start")  # fmt: skip

    def stop(self, name: str) -> None:
        data = self.root / name
        if (data / "postmaster.pid").exists():
            self.run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop")


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    """A primary on a free port with a database `portal`, and a replica made from it with
    pg_basebackup on another; both stopped and removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix="portal-replica-", dir="/tmp"))
    if os.geteuid() == 0:
        postgres = pwd.getpwnam("postgres")
        os.chown(root, postgres.pw_uid, postgres.pw_gid)
    pair = Pair(_pg_bin(), root, *free_ports(2))
    try:
        pair.run("initdb", "-D", str(root / "primary"), "--auth=trust", "-U", "postgres",
                 "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")  # fmt: skip
        with open(root / "primary" / "pg_hba.conf", "a") as hba:
            hba.write("host replication all 127.0.0.1/32 trust\n")
        pair.start("primary", pair.primary_port)
        asyncio.run(_sql(pair.url(pair.primary_port).replace("/portal", "/postgres"),
                         "CREATE DATABASE portal"))  # fmt: skip
        pair.run("pg_basebackup", "-h", "127.0.0.1", "-p", str(pair.primary_port),
                 "-U", "postgres", "-D", str(root / "replica"), "-R", "-X", "stream",
                 "--checkpoint=fast")  # fmt: skip
        pair.start("replica", pair.replica_port)
        yield pair
    finally:
        for name in ("replica", "primary"):
            with contextlib.suppress(AssertionError, OSError, subprocess.SubprocessError):
                pair.stop(name)
        shutil.rmtree(root, ignore_errors=True)


async def _sql(url: str, statement: str, *args: object) -> object:
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetchval(statement, *args)
    finally:
        await connection.close()


def _portal(pair: Pair, *args: str) -> str:
    env = {**os.environ, "PORTAL_DATABASE_URL": pair.primary_url}
    env.pop("PORTAL_DATABASE_REPLICA_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "portal", *args],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"portal {args[0]} failed: {done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(pair: Pair) -> str:
    """The portal migrated on the primary, with a staff administrator; its API key."""
    _portal(pair, "migrate")
    _portal(pair, "staff", "create", "--email", STAFF_EMAIL, "--password", STAFF_PASSWORD,
            "--first-name", "Rita", "--last-name", "Replica")  # fmt: skip
    output = _portal(pair, "api-key", "create", "--name", "replica test", "--permissions", "all")
    return re.search(r"pk_\S+", output).group(0)


def _server(pair: Pair, log: Path, max_lag: float) -> PortalServer:
    return PortalServer(
        log,
        env={
            "PORTAL_DATABASE_URL": pair.primary_url,
            "PORTAL_DATABASE_REPLICA_URL": pair.replica_url,
            "PORTAL_DATABASE_REPLICA_MAX_LAG_SECONDS": str(max_lag),
            "PORTAL_MAILER_IN_SERVER": "0",
        },
    )


async def _caught_up(pair: Pair, within: float = 30) -> None:
    """Waits until the replica has replayed everything the primary has written so far."""
    target = await _sql(pair.primary_url, "SELECT pg_current_wal_lsn()::text")
    deadline = time.monotonic() + within
    while not await _sql(
        pair.replica_url, "SELECT pg_last_wal_replay_lsn() >= $1::text::pg_lsn", target
    ):
        assert time.monotonic() < deadline, "the replica did not catch up"
        await asyncio.sleep(0.05)


async def _pause_replay(pair: Pair) -> None:
    await _sql(pair.replica_url, "SELECT pg_wal_replay_pause()")
    for _ in range(600):
        if await _sql(pair.replica_url, "SELECT pg_get_wal_replay_pause_state()") == "paused":
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the replica's replay did not pause")


async def _add_client(http: httpx.AsyncClient, last_name: str) -> int:
    page = await http.get("/admin/clients/add")
    assert page.status_code == 200, page.text[:500]
    group = re.search(r'name="group_id"[^>]*>\s*<option value="(\d+)"', page.text).group(1)
    form = {
        **VALID_FORM,
        "last_name": last_name,
        "email": f"{last_name.lower()}@example.com",
        "group_id": group,
        "_csrf_token": CSRF_FIELD.search(page.text).group(1),
    }
    response = await http.post("/admin/clients/add", data=form)
    assert response.status_code == 303, response.text[:500]
    return int(re.search(r"/admin/clients/(\d+)", response.headers["location"]).group(1))


async def _page(http: httpx.AsyncClient, path: str) -> str:
    response = await http.get(path)
    assert response.status_code == 200, (path, response.status_code, response.text[:500])
    return response.text


async def _api_names(pair: Pair, key: str, url: str) -> str:
    async with httpx.AsyncClient(base_url=url, timeout=30) as api:
        response = await api.get("/api/v1/clients", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.text[:500]
    return " ".join(item["last_name"] for item in response.json()["items"])


@postgres_only
async def test_reads_go_to_the_replica_and_writers_read_their_writes(pair, installed, tmp_path):
    key = installed
    with _server(pair, tmp_path / "server.log", max_lag=600) as server:
        options = {"timeout": 30}
        async with (
            staff_session(server.url, STAFF_EMAIL, STAFF_PASSWORD, **options) as writer,
            staff_session(server.url, STAFF_EMAIL, STAFF_PASSWORD, **options) as reader,
        ):
            client_id = await _add_client(writer, "Hopper")
            await _api_names(pair, key, server.url)  # the key's last use is noted (a write)
            await _caught_up(pair)
            await asyncio.sleep(0.3)  # the writers' marks are older than the replica's replay
            assert "Hopper" in await _page(reader, "/admin/clients")

            await _pause_replay(pair)
            # (1) A change made on the primary alone: readers that did not write do not see it
            # while the replica's replay is paused: their reads are the replica's.
            await _sql(
                pair.primary_url,
                "UPDATE contact SET last_name = 'Directly' WHERE client = $1",
                client_id,
            )
            assert "Directly" in await _sql(
                pair.primary_url, "SELECT string_agg(last_name, ' ') FROM contact"
            )
            browse = await _page(reader, "/admin/clients")
            assert "Hopper" in browse and "Directly" not in browse
            profile = await _page(reader, f"/admin/clients/{client_id}")
            assert "Hopper" in profile and "Directly" not in profile
            # (4) The API's list of clients reads the replica too.
            assert await _api_names(pair, key, server.url) == "Hopper"

            # (2) A staff member who adds a client sees it at once, replay paused or not:
            # their session's reads go to the primary until the replica has replayed it.
            added = await _add_client(writer, "Lovelace")
            assert "Lovelace" in await _page(writer, f"/admin/clients/{added}")
            browse = await _page(writer, "/admin/clients")
            assert "Lovelace" in browse and "Directly" in browse
            assert "Lovelace" not in await _page(reader, "/admin/clients")
            assert "Lovelace" not in await _api_names(pair, key, server.url)

            # Replay resumed: everyone sees everything, from the replica.
            await _sql(pair.replica_url, "SELECT pg_wal_replay_resume()")
            await _caught_up(pair)
            browse = await _page(reader, "/admin/clients")
            assert "Lovelace" in browse and "Directly" in browse
            assert await _api_names(pair, key, server.url) == "Directly Lovelace"

            # (3) The replica stopped: pages and the API still answer, from the primary.
            pair.stop("replica")
            for _ in range(3):
                browse = await _page(reader, "/admin/clients")
                assert "Lovelace" in browse
                await _page(reader, f"/admin/clients/{client_id}")
                assert await _api_names(pair, key, server.url) == "Directly Lovelace"
            # Back again: within the retry interval reads return to it (and the log says so).
            pair.start("replica", pair.replica_port)
            deadline = time.monotonic() + 30
            while "The read replica answers again" not in server.log():
                assert time.monotonic() < deadline, server.log()[-3000:]
                await _page(reader, "/admin/clients")
                await asyncio.sleep(0.5)
        log = server.log()
    assert log.count("The read replica is not answering") == 1, log[-3000:]
    assert "Traceback" not in log, log[-3000:]


@postgres_only
async def test_a_replica_that_lags_too_much_is_passed_over(pair, installed, tmp_path):
    with _server(pair, tmp_path / "server.log", max_lag=2) as server:
        async with staff_session(server.url, STAFF_EMAIL, STAFF_PASSWORD, timeout=30) as reader:
            await _caught_up(pair)
            await asyncio.sleep(0.3)
            before = await _page(reader, "/admin/clients")
            assert "Lagging" not in before
            await _pause_replay(pair)
            try:
                await _sql(pair.primary_url, "UPDATE contact SET last_name = 'Lagging'")
                # Stale at first (the replica's copy), then the primary's once the replica is
                # more than PORTAL_DATABASE_REPLICA_MAX_LAG_SECONDS behind.
                deadline = time.monotonic() + 30
                while "Lagging" not in await _page(reader, "/admin/clients"):
                    assert time.monotonic() < deadline, server.log()[-3000:]
                    await asyncio.sleep(0.5)
            finally:
                await _sql(pair.replica_url, "SELECT pg_wal_replay_resume()")
            await _caught_up(pair)
            deadline = time.monotonic() + 30
            while "has caught up with the primary" not in server.log():
                assert time.monotonic() < deadline, server.log()[-3000:]
                await _page(reader, "/admin/clients")
                await asyncio.sleep(0.5)
        log = server.log()
    assert log.count("behind the primary; reads go to the primary") == 1, log[-3000:]
    assert "Traceback" not in log, log[-3000:]


def test_a_replica_needs_a_postgresql_primary(tmp_path):
    """Refused at start, with a clear message, when the primary is SQLite."""
    env = {
        **os.environ,
        "PORTAL_DATABASE_URL": f"sqlite:///{tmp_path}/portal.sqlite3",
        "PORTAL_DATABASE_REPLICA_URL": "postgresql://postgres@127.0.0.1:5432/portal",
        "PORTAL_VAR_DIR": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-m", "portal", "migrate"],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert "PORTAL_DATABASE_REPLICA_URL" in done.stderr and "PostgreSQL" in done.stderr
