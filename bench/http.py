"""Benchmark of what a request costs through a real `portal serve`, against the bare framework
measured in the same run (a script, not a test).

    python bench/http.py                                  # both engines, 100k, 1 and 2 workers
    python bench/http.py --engines sqlite --sizes 100000 --workers 1 --seconds 5 --output -

For each engine and size a scratch database (a temporary SQLite file; a PostgreSQL database
created on the server of --postgres and dropped afterwards) is migrated, gets one staff member
and `portal demo --clients N`. Then, for each number of workers:
- the floor: bare Litestar on uvicorn (same workers) rendering a 20-row table with Jinja, no
  database, no session;
- `portal serve --workers N`, logged in as staff (one session cookie), each view driven by wrk
  (Debian: `apt-get install wrk`) with --connections connections for --seconds, then alone
  (one connection) for the sequential p50 / p95.
Views: a fingerprinted static file, the dashboard, Browse, the live search (a mix of names,
name prefixes, emails and client IDs from the data), a client's profile (many clients in turn).
Reported: req/s and its share of the floor, p50 / p95 under load and alone, every answer by
status, and each server process's memory (VmRSS after the load, VmHWM).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import sys
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote_plus

from results import machine, replace_section  # noqa: I001 - first (see BENCH_DIR)

PROJECT_DIR = Path(__file__).resolve().parents[1]
sys.path.append(str(PROJECT_DIR / "tests"))
from harness import DEFAULT_POSTGRES, bare_server, portal, run_wrk, scratch_database  # noqa: E402

from server_helpers import CSRF_FIELD, PortalServer  # noqa: E402

STAFF_EMAIL = "bench@example.com"
STAFF_PASSWORD = "Bench-horse-42"  # noqa: S105 - a scratch database's only account
SEED = 20261204
SECTION_HEADING = "## Request cost through the server (`bench/http.py`)"
# Targets: a view's req/s as a share of the floor's, per worker, at the run's concurrency.
SHARE_TARGETS = {"static": 0.8, "dashboard": 0.5, "browse": 0.35, "search": 0.3}
SEARCH_P95_TARGET_MS = 10.0
SCALE_TARGET = 1.7  # two workers' req/s over one's
RSS_TARGET_MB = 150.0
VIEWS = {
    "static": "static file (CSS, fingerprinted)",
    "dashboard": "dashboard (`/admin`)",
    "browse": "Browse (`/admin/clients`)",
    "search": "live search (`/admin/clients/suggestions?q=…`)",
    "profile": "client profile (`/admin/clients/{id}`)",
}
BARE_APP = textwrap.dedent(
    '''
    """The floor: Litestar and Jinja rendering a 20-row table, no database, no session."""
    from pathlib import Path

    from litestar import Litestar, get
    from litestar.contrib.jinja import JinjaTemplateEngine
    from litestar.response import Template
    from litestar.template.config import TemplateConfig

    ROWS = [
        {"id": n, "name": f"Client {n}", "email": f"client{n}@example.com", "status": "Active"}
        for n in range(1, 21)
    ]


    @get("/")
    async def table() -> Template:
        return Template("table.html", context={"rows": ROWS})


    app = Litestar(
        [table],
        template_config=TemplateConfig(
            directory=Path(__file__).parent, engine=JinjaTemplateEngine
        ),
    )
    '''
)
BARE_TEMPLATE = """<!doctype html><html lang="en"><head><title>Clients</title></head><body>
<table><thead><tr><th>ID</th><th>Name</th><th>Email</th><th>Status</th></tr></thead><tbody>
{% for row in rows %}<tr><td>{{ row.id }}</td><td>{{ row.name }}</td><td>{{ row.email }}</td>
<td>{{ row.status }}</td></tr>{% endfor %}
</tbody></table></body></html>
"""


def wrk(
    url: str,
    paths: list[str],
    cookie: str,
    connections: int,
    seconds: int,
    group: int | None = None,
) -> dict:
    environment = {"BENCH_PATHS": "\n".join(paths), "BENCH_COOKIE": cookie}
    return run_wrk(url, environment, connections, seconds, group)


def measure(url: str, group: int, paths: list[str], cookie: str, args: argparse.Namespace) -> dict:
    wrk(url, paths, cookie, args.connections, 1)  # warm-up: connections, caches, JIT of Jinja
    loaded = wrk(url, paths, cookie, args.connections, args.seconds, group)
    alone = wrk(url, paths, cookie, 1, args.sequential_seconds)
    return {**loaded, "alone": alone["latency"]}


async def login(url: str) -> tuple[str, str]:
    """(Cookie header of a staff session, the dashboard's HTML)."""
    import httpx

    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        page = await http.get("/admin/login")
        token = CSRF_FIELD.search(page.text).group(1)
        answer = await http.post(
            "/admin/login",
            data={"_csrf_token": token, "email": STAFF_EMAIL, "password": STAFF_PASSWORD},
        )
        assert answer.status_code == 303, answer.text
        dashboard = await http.get("/admin")
        cookie = "; ".join(f"{name}={value}" for name, value in http.cookies.items())
        return cookie, dashboard.text


async def sample_rows(database_url: str) -> list[dict]:
    """A few hundred clients of the demo data: ID and what people search them by."""
    sql = (
        "SELECT c.id, c.code, ct.last_name, ct.email FROM client c "
        "JOIN contact ct ON ct.client = c.id AND ct.contact_type = 'primary' "
        "WHERE c.id % 97 = 3 ORDER BY c.id LIMIT 300"
    )
    if database_url.startswith("sqlite"):
        import sqlite3

        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as connection:
            connection.row_factory = sqlite3.Row
            return [dict(row) for row in connection.execute(sql)]
    import asyncpg

    connection = await asyncpg.connect(database_url)
    try:
        return [dict(row) for row in await connection.fetch(sql)]
    finally:
        await connection.close()


def view_paths(rows: list[dict], dashboard_html: str) -> dict[str, list[str]]:
    css = re.search(r'href="(/static/css/portal[^"]*\.css)"', dashboard_html).group(1)
    picker = random.Random(SEED)
    searches = []
    for row in picker.sample(rows, min(60, len(rows))):
        searches += [row["last_name"], row["last_name"][:4], row["email"], str(row["code"])]
    picker.shuffle(searches)
    return {
        "static": [css.replace("&amp;", "&")],
        "dashboard": ["/admin"],
        "browse": ["/admin/clients"],
        "search": [f"/admin/clients/suggestions?q={quote_plus(q)}" for q in searches],
        "profile": [f"/admin/clients/{row['id']}" for row in rows],
    }


def process_memory(group: int) -> list[tuple[float, float]]:
    """(VmRSS, VmHWM) in MB of every process of the server's process group."""
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
            stat = (status.parent / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[2]) != group:
            continue
        fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
        if "VmRSS" in fields:
            found.append(
                (int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024)
            )
    return found


def measure_portal(
    database_url: str, scratch: Path, workers: int, args: argparse.Namespace
) -> dict:
    env = {
        **os.environ,
        "PORTAL_DATABASE_URL": database_url,
        "PORTAL_VAR_DIR": str(scratch),
        "PORTAL_SECRET_KEY": "bench-secret-key-0123456789",
        # As the floor: no line per request (behind a proxy, the proxy logs them).
        "PORTAL_ACCESS_LOG": "0",
    }
    server = PortalServer(scratch / f"server-{workers}.log", env=env, workers=workers)
    with server:
        cookie, dashboard = asyncio.run(login(server.url))
        paths = view_paths(asyncio.run(sample_rows(database_url)), dashboard)
        results = {}
        for view in args.views:
            print(f"    {view}…", file=sys.stderr)
            results[view] = measure(server.url, server.process.pid, paths[view], cookie, args)
        results["memory"] = process_memory(server.process.pid)
        results["tracebacks"] = server.log().count("Traceback")
    return results


def measure_bare(workers: int, scratch: Path, args: argparse.Namespace) -> dict:
    files = {"bare_app.py": BARE_APP, "table.html": BARE_TEMPLATE}
    with bare_server(scratch, files, workers) as (url, group):
        return measure(url, group, ["/"], "", args)


def run_size(engine: str, size: int, args: argparse.Namespace) -> dict:
    with scratch_database(engine, args.postgres, "http") as (database_url, scratch):
        env = {**os.environ, "PORTAL_DATABASE_URL": database_url, "PORTAL_VAR_DIR": str(scratch)}
        portal(env, "migrate")
        portal(env, "staff", "create", "--email", STAFF_EMAIL, "--password", STAFF_PASSWORD)
        print(f"[{engine}, {size:,} clients] loading demo data…", file=sys.stderr)
        started = time.monotonic()
        portal(env, "demo", "--clients", str(size), "--seed", str(SEED))
        report = {"load_seconds": time.monotonic() - started}
        for workers in args.workers:
            print(f"[{engine}, {size:,} clients] floor, {workers} worker(s)…", file=sys.stderr)
            floor = measure_bare(workers, scratch, args)
            print(f"[{engine}, {size:,} clients] portal, {workers} worker(s)…", file=sys.stderr)
            report[workers] = {
                "floor": floor,
                **measure_portal(database_url, scratch, workers, args),
            }
        return report


def _answers(result: dict) -> str:
    text = ", ".join(f"{n:,} × {code}" for code, n in sorted(result["statuses"].items()))
    return text + (f"; socket errors: {result['socket_errors']}" if result["socket_errors"] else "")


def _cores(result: dict) -> str:
    """How many of the machine's cores the server, PostgreSQL, wrk and everything together kept
    busy during the loaded run: where a second worker can find no idle core, it adds little."""
    cores = result["cores"]
    if not cores:
        return ""
    database = f"{cores['database']:.2f}" if cores["database"] >= 0.01 else "–"
    return f"{cores['server']:.2f} / {database} / {cores['wrk']:.2f} / {cores['machine']:.2f}"


def _verdicts(reports: dict, args: argparse.Namespace) -> list[str]:
    lines = []
    for (engine, size), report in reports.items():
        for workers in args.workers:
            run = report[workers]
            floor = run["floor"]["rate"]
            shares = [
                f"{view} {run[view]['rate'] / floor:.2f} (≥ {target})"
                + ("" if run[view]["rate"] / floor >= target else " **misses**")
                for view, target in SHARE_TARGETS.items()
                if view in run
            ]
            lines.append(f"- {engine}, {size:,}, {workers} worker(s): " + "; ".join(shares))
        if "search" in report[args.workers[0]]:
            p95 = report[args.workers[0]]["search"]["alone"].get(95, 0)
            holds = "holds" if p95 <= SEARCH_P95_TARGET_MS else "**misses**"
            lines.append(
                f"- {engine}, {size:,}: live search p95 alone {p95:.1f} ms "
                f"(≤ {SEARCH_P95_TARGET_MS:.0f} ms): {holds}"
            )
        if 1 in report and 2 in report:
            for view in args.views:
                scale = report[2][view]["rate"] / report[1][view]["rate"]
                lines.append(
                    f"- {engine}, {size:,}: {view}, two workers ÷ one: {scale:.2f}× "
                    f"(≥ {SCALE_TARGET}×)" + ("" if scale >= SCALE_TARGET else " **misses**")
                )
        rss = max(r for workers in args.workers for r, _ in report[workers]["memory"])
        lines.append(
            f"- {engine}, {size:,}: largest server process RSS after the load {rss:.0f} MB "
            f"(≤ {RSS_TARGET_MB:.0f} MB)" + ("" if rss <= RSS_TARGET_MB else " **misses**")
        )
    return lines


def section(reports: dict, args: argparse.Namespace) -> str:
    lines = [
        SECTION_HEADING,
        "",
        f"`python bench/http.py` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: each view driven by "
        f"wrk with {args.connections} connections for {args.seconds} s (after a 1 s warm-up), "
        f'then by one connection for {args.sequential_seconds} s (the "alone" latencies), '
        "through `portal serve` on a scratch database with `portal demo` data, logged in as "
        "staff, without an access log (`PORTAL_ACCESS_LOG=0`, as the floor). The floor, in the "
        "same run and on the same number of workers: bare Litestar on uvicorn rendering a "
        "20-row Jinja table (no database, no session). wrk, the server and the database share "
        "the machine's cores.",
        "",
        f"Machine: {machine()}.",
        "",
        "Against the targets (req/s as a share of the floor, per worker):",
        "",
        *_verdicts(reports, args),
        "",
        "| engine | clients | workers | view | req/s | share of floor | p50 / p95 loaded (ms) "
        "| p50 / p95 alone (ms) | cores busy under load: server / PostgreSQL / wrk / all | "
        "answers |",
        "|---|---:|---:|---|---:|---:|---|---|---|---|",
    ]
    for (engine, size), report in reports.items():
        for workers in args.workers:
            run = report[workers]
            floor = run["floor"]["rate"]
            for view in ["floor", *args.views]:
                result = run[view]
                lat, alone = result["latency"], result["alone"]
                name = (
                    "**floor**: bare Litestar + Jinja, 20 rows" if view == "floor" else VIEWS[view]
                )
                lines.append(
                    f"| {engine} | {size:,} | {workers} | {name} | {result['rate']:,.0f} | "
                    f"{result['rate'] / floor:.2f} | {lat.get(50, 0):.1f} / {lat.get(95, 0):.1f} "
                    f"| {alone.get(50, 0):.1f} / {alone.get(95, 0):.1f} | {_cores(result)} "
                    f"| {_answers(result)} |"
                )
    lines += ["", "Server processes' memory after the load (VmRSS / VmHWM, MB):", ""]
    for (engine, size), report in reports.items():
        for workers in args.workers:
            memory = ", ".join(f"{rss:.0f} / {hwm:.0f}" for rss, hwm in report[workers]["memory"])
            tracebacks = report[workers]["tracebacks"]
            lines.append(
                f"- {engine}, {size:,} clients, {workers} worker(s): {memory} "
                f"(demo data loaded in {report['load_seconds']:.0f} s; "
                f"{tracebacks} tracebacks in the server's log)"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engines", nargs="+", default=["sqlite", "postgres"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[100_000])
    parser.add_argument("--workers", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--views", nargs="+", default=list(VIEWS), choices=list(VIEWS))
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--sequential-seconds", type=int, default=5)
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="an admin database URL")
    parser.add_argument("--output", default=str(PROJECT_DIR / "bench" / "RESULTS.md"))
    args = parser.parse_args()
    reports = {
        (engine, size): run_size(engine, size, args)
        for engine in args.engines
        for size in args.sizes
    }
    text = section(reports, args)
    print(text)
    if args.output != "-":
        replace_section(Path(args.output), SECTION_HEADING, text)


if __name__ == "__main__":
    main()
