"""Benchmark of Add Client under load, through a real `portal serve` (a script, not a test).

    python bench/writes.py                          # SQLite and PostgreSQL, 1 and 2 workers
    python bench/writes.py --engines sqlite --workers 1 --seconds 10 --output -

For each engine a scratch database (a temporary SQLite file; a PostgreSQL database created on
the server of --postgres and dropped afterwards) is migrated and gets one staff member; then
`portal serve --workers N` is driven by wrk (Debian: `apt-get install wrk`): --connections
connections at once POST the Add Client form for --seconds, each with an email of its own, as a
logged-in staff member. Measured: creates a second, latency, and every answer by status (a
redirect to the new profile, or 503 with Retry-After; a 500 would be a bug), and afterwards that
every acknowledged client is in the database.

The same load runs twice: with argon2id's default parameters (RFC 9106 low memory: the
password hash of each new client is most of its cost) and with the tests' cheap ones; the
difference is the hashing's share. In the same run, as yardsticks: the bare framework (Litestar
parsing the same form and answering 303, no database, on uvicorn like the portal), and argon2id
alone (hashes a second on this machine's threads).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import sys
import tempfile
import textwrap
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

PROJECT_DIR = Path(__file__).resolve().parents[1]
from results import machine, replace_section  # noqa: E402 - first (see BENCH_DIR)

sys.path.insert(0, str(PROJECT_DIR / "tests"))
from harness import DEFAULT_POSTGRES, bare_server, portal, run_wrk, scratch_database  # noqa: E402

from server_helpers import CSRF_FIELD, PortalServer  # noqa: E402

STAFF_EMAIL = "bench@example.com"
STAFF_PASSWORD = "Bench-horse-42"  # noqa: S105 - a scratch database's only account
SECTION_HEADING = "## Add Client under load (`bench/writes.py`)"
FORM = {
    "first_name": "Grace",
    "last_name": "Hopper",
    "company": "Navy Labs",
    "address1": "1 Compiler Way",
    "city": "Toronto",
    "country": "CA",
    "state": "CA-ON",
    "zip": "M5V 2T6",
    "phone_row": "r1",
    "phone_type": "phone",
    "phone_location": "work",
    "phone_number": "416 555 0199",
    "preferred_currency": "USD",
    "username_mode": "email",
    "password": "Sturdy-horse-42",
    "language": "en",
}
BARE_APP = textwrap.dedent(
    '''
    """The yardstick: Litestar parsing the Add Client form and answering 303, nothing else."""
    from litestar import Litestar, Request, post
    from litestar.response import Redirect


    @post("/admin/clients/add")
    async def add(request: Request) -> Redirect:
        form = await request.form()
        return Redirect(f"/admin/clients/{len(form)}", status_code=303)


    app = Litestar([add])
    '''
)


async def login(url: str) -> tuple[str, str, str]:
    """(Cookie header, CSRF token, default group id) of a staff session."""
    import httpx

    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        page = await http.get("/admin/login")
        token = CSRF_FIELD.search(page.text).group(1)
        await http.post(
            "/admin/login",
            data={"_csrf_token": token, "email": STAFF_EMAIL, "password": STAFF_PASSWORD},
        )
        page = await http.get("/admin/clients/add")
        group = re.search(r'name="group_id"[^>]*>\s*<option value="(\d+)"', page.text).group(1)
        cookie = "; ".join(f"{name}={value}" for name, value in http.cookies.items())
        return cookie, CSRF_FIELD.search(page.text).group(1), group


async def count_clients(database_url: str) -> int:
    if database_url.startswith("sqlite"):
        import sqlite3

        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as connection:
            return connection.execute("SELECT count(*) FROM client").fetchone()[0]
    import asyncpg

    connection = await asyncpg.connect(database_url)
    try:
        return await connection.fetchval("SELECT count(*) FROM client")
    finally:
        await connection.close()


def measure_portal(
    database_url: str, scratch: Path, workers: int, profile: str, args: argparse.Namespace
) -> dict:
    env = {
        **os.environ,
        "PORTAL_DATABASE_URL": database_url,
        "PORTAL_VAR_DIR": str(scratch),
        "PORTAL_SECRET_KEY": "bench-secret-key-0123456789",
        "PORTAL_MAILER_IN_SERVER": "0",
        "PORTAL_ARGON2_PROFILE": profile,
    }
    before = asyncio.run(count_clients(database_url))
    server = PortalServer(scratch / f"server-{workers}-{profile}.log", env=env, workers=workers)
    with server:
        cookie, token, group = asyncio.run(login(server.url))
        form = urlencode({**FORM, "_csrf_token": token, "group_id": group})
        result = run_wrk(
            f"{server.url}/admin/clients/add",
            {"BENCH_FORM": form, "BENCH_COOKIE": cookie, "BENCH_PREFIX": uuid.uuid4().hex[:8]},
            args.connections,
            # Real hashing takes seconds per answer at this concurrency: a longer run.
            args.hash_seconds if profile == "default" else args.seconds,
        )
        log = server.log()
    created = asyncio.run(count_clients(database_url)) - before
    result["created"] = created
    result["server_errors"] = log.count("Traceback")
    acknowledged = result["statuses"].get(303, 0)
    # An answer wrk cut at the end may have been a create: at least every redirect is there.
    result["all_acknowledged_exist"] = created >= acknowledged
    return result


def measure_bare(workers: int, scratch: Path, args: argparse.Namespace) -> dict:
    with bare_server(scratch, {"bare_app.py": BARE_APP}, workers) as (url, _):
        form = urlencode({**FORM, "_csrf_token": "x" * 40, "group_id": "1"})
        return run_wrk(
            f"{url}/admin/clients/add",
            {"BENCH_FORM": form, "BENCH_COOKIE": "", "BENCH_PREFIX": "bare"},
            args.connections,
            args.seconds,
        )


def argon2_rate(threads: int, seconds: float = 10) -> float:
    """Hashes a second with the default parameters, `threads` at once (as the server's pool)."""
    from argon2 import PasswordHasher

    hasher = PasswordHasher()
    deadline = time.monotonic() + seconds
    done = 0

    def work() -> int:
        n = 0
        while time.monotonic() < deadline:
            hasher.hash("Sturdy-horse-42")
            n += 1
        return n

    started = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        done = sum(pool.map(lambda _: work(), range(threads)))
    return done / (time.monotonic() - started)


def run_engine(engine: str, args: argparse.Namespace) -> dict:
    with scratch_database(engine, args.postgres, "writes") as (database_url, scratch):
        env = {**os.environ, "PORTAL_DATABASE_URL": database_url, "PORTAL_VAR_DIR": str(scratch)}
        portal(env, "migrate")
        portal(env, "staff", "create", "--email", STAFF_EMAIL, "--password", STAFF_PASSWORD)
        report = {}
        for workers in args.workers:
            for profile in ("default", "fast"):
                print(f"[{engine}] {workers} worker(s), argon2 {profile}…", file=sys.stderr)
                report[(workers, profile)] = measure_portal(
                    database_url, scratch, workers, profile, args
                )
        return report


def section(reports: dict, bare: dict, hashes: float, args: argparse.Namespace) -> str:
    yardstick = ", ".join(
        f"{workers} worker(s) {result['rate']:,.0f} req/s" for workers, result in bare.items()
    )
    lines = [
        SECTION_HEADING,
        "",
        f"`python bench/writes.py` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: {args.connections} "
        f"connections at once POST Add Client (wrk) for {args.hash_seconds} s with argon2id's "
        f"default parameters and {args.seconds} s with cheap ones, logged in as staff, each "
        "with an email of its own, through `portal serve` on a scratch database.",
        "",
        f"Machine: {machine()}.",
        "",
        f"Yardsticks in the same run: the bare framework (Litestar parsing the same form, 303, "
        f"no database): {yardstick}; argon2id alone (default parameters, 40 threads): "
        f"{hashes:.1f} hashes/s.",
        "",
        "| engine | workers | argon2 | creates/s | p50 / p95 / p99 (ms) | answers | "
        "acknowledged clients all stored | hashing's share |",
        "|---|---:|---|---:|---|---|---|---:|",
    ]
    for engine, report in reports.items():
        for (workers, profile), result in report.items():
            answers = ", ".join(f"{n} × {code}" for code, n in sorted(result["statuses"].items()))
            if result["socket_errors"]:
                answers += f"; socket errors: {result['socket_errors']}"
            share = ""
            if profile == "default" and (workers, "fast") in report:
                fast = report[(workers, "fast")]["rate"]
                share = f"{1 - result['rate'] / fast:.0%}" if fast else ""
            latency = result["latency"]
            lines.append(
                f"| {engine} | {workers} | {profile} | {result['rate']:.1f} | "
                f"{latency.get(50, 0):.0f} / {latency.get(95, 0):.0f} / {latency.get(99, 0):.0f} "
                f"| {answers} | {'yes' if result['all_acknowledged_exist'] else 'NO'} "
                f"({result['created']} created, {result['server_errors']} tracebacks) | {share} |"
            )
    lines += [
        "",
        "The hashing's share is 1 − (creates/s with argon2id's default parameters ÷ creates/s "
        "with the cheap ones): what the password hash costs of each create under this load.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engines", nargs="+", default=["sqlite", "postgres"])
    parser.add_argument("--workers", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=20, help="each run with cheap hashing")
    parser.add_argument(
        "--hash-seconds", type=int, default=60, help="each run with argon2id's defaults"
    )
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="an admin database URL")
    parser.add_argument("--output", default=str(PROJECT_DIR / "bench" / "RESULTS.md"))
    args = parser.parse_args()
    bare = {}
    scratch = Path(tempfile.mkdtemp(prefix="portal-writes-bare-"))
    try:
        for workers in args.workers:
            print(f"[bare framework] {workers} worker(s)…", file=sys.stderr)
            bare[workers] = measure_bare(workers, scratch, args)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print("[argon2id alone]…", file=sys.stderr)
    hashes = argon2_rate(40)
    reports = {engine: run_engine(engine, args) for engine in args.engines}
    text = section(reports, bare, hashes, args)
    print(text)
    if args.output != "-":
        replace_section(Path(args.output), SECTION_HEADING, text)


if __name__ == "__main__":
    main()
