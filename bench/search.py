"""Benchmark of client search and Browse at 100,000 and 1,000,000 clients, on SQLite and on
PostgreSQL (a script, not a test).

    python bench/search.py                       # both engines, 100k and 1M, writes RESULTS.md
    python bench/search.py --engines sqlite --sizes 100000 --output -

For each engine a worker process gets a scratch database (a temporary SQLite file; a PostgreSQL
database created on the server of --postgres and dropped afterwards), loads demo clients with
`portal.clients.demo.load_demo`, builds the search index, then for a fixed mix of queries
measures p50/p95 of
- the search service: `browse.suggest_clients`, what the header box calls while people type;
- the HTTP endpoint: GET /admin/clients/suggestions through the ASGI app (httpx, logged in);
- the baseline: a naive lower(...) LIKE '%q%' over client JOIN contact (same rows, same limit);
and the Browse page (GET /admin/clients) in its usual views.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

PROJECT_DIR = Path(__file__).resolve().parents[1]

from results import replace_section  # noqa: E402 - bench/ is the script's folder, on sys.path

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
STAFF_EMAIL = "bench@example.com"
STAFF_PASSWORD = "Bench-horse-42"  # noqa: S105 - a scratch database's only account
SEED = 20261124
TARGETS = {100_000: 20.0, 1_000_000: 50.0}  # search p95, ms
BROWSE_TARGET = 30.0  # Browse p95 at 100k, ms
SPEED_UP_TARGET = 20.0  # over the LIKE baseline at 1M

BASELINE_SQL = (
    "SELECT c.id, c.code, c.status, ct.first_name, ct.last_name, ct.company, ct.email "
    "FROM client c JOIN contact ct ON ct.client = c.id "
    "LEFT JOIN account_user u ON u.id = ct.login "
    "WHERE c.company = {} AND (c.code LIKE {} OR lower(ct.first_name) LIKE {} "
    "OR lower(ct.last_name) LIKE {} OR lower(ct.first_name || ' ' || ct.last_name) LIKE {} "
    "OR lower(ct.company) LIKE {} OR lower(ct.email) LIKE {} OR lower(u.username) LIKE {} "
    "OR lower(ct.address1) LIKE {} OR lower(ct.city) LIKE {} OR lower(ct.zip) LIKE {}) "
    "LIMIT {}"
)
BROWSE_VIEWS = (
    ("default (Active, by Client ID)", {}),
    ("Inactive tab", {"tab": "inactive"}),
    ("by Name", {"sort": "name"}),
    ("by Name, descending", {"sort": "name", "dir": "desc"}),
    ("by Company", {"sort": "company"}),
    ("by Email", {"sort": "email"}),
    ("by Group", {"sort": "group"}),
    ("by Created, descending", {"sort": "created", "dir": "desc"}),
    ("page 100", {"page": "100"}),
    ("last page", {"page": "99999999"}),
    ("100 a page", {"per_page": "100"}),
    ("Fraud tab, by Name", {"tab": "fraud", "sort": "name"}),
    ("country filter", {"country": "DE"}),
    ("country filter, by Name", {"country": "DE", "sort": "name"}),
    ("created in 2025", {"created_from": "2025-01-01", "created_to": "2025-12-31"}),
    (
        "created in 2025, page 100",
        {"created_from": "2025-01-01", "created_to": "2025-12-31", "page": "100"},
    ),
    (
        "created in 2025, country filter",
        {"created_from": "2025-01-01", "created_to": "2025-12-31", "country": "DE"},
    ),
    ("created since 2025, by Group", {"created_from": "2025-01-01", "sort": "group"}),
    ("created this month", {"created_from": f"{datetime.now(UTC):%Y-%m}-01"}),
)


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def summary(samples: list[float]) -> dict[str, float]:
    return {
        "p50": percentile(samples, 0.50),
        "p95": percentile(samples, 0.95),
        "mean": statistics.fmean(samples),
    }


async def timed(call: Callable[[], Awaitable[object]]) -> float:
    started = time.perf_counter()
    await call()
    return (time.perf_counter() - started) * 1000


# --- the worker: one engine, growing sizes ---------------------------------------------------


async def choose_queries(company_id: int) -> list[tuple[str, str]]:
    """The fixed mix, drawn from the data: (kind, query)."""
    from portal.clients.tables import Client

    async def one(sql: str, *args: object) -> str:
        rows = await Client.raw(sql, *args)
        return str(next(iter(rows[0].values())))

    rng = random.Random(SEED)
    total = await Client.count().where(Client.company == company_id)
    picks = sorted(rng.sample(range(total), 4))

    async def nth(column: str, position: int) -> str:
        return await one(
            f"SELECT {column} FROM client c JOIN contact ct ON ct.client = c.id "  # noqa: S608
            "AND ct.contact_type = 'primary' WHERE c.company = {} ORDER BY c.id LIMIT 1 OFFSET {}",
            company_id,
            position,
        )

    common = await one(
        "SELECT lower(last_name) AS name FROM contact GROUP BY lower(last_name) "
        "ORDER BY count(*) DESC, lower(last_name) LIMIT 1"
    )
    rare = await one(
        "SELECT lower(last_name) AS name FROM contact GROUP BY lower(last_name) "
        "ORDER BY count(*), lower(last_name) LIMIT 1"
    )
    email = await nth("ct.email", picks[2])
    phone = await one(
        "SELECT n.number FROM contact_number n JOIN contact ct ON ct.id = n.contact "
        "JOIN client c ON c.id = ct.client WHERE c.company = {} ORDER BY n.id LIMIT 1 OFFSET {}",
        company_id,
        picks[3],
    )
    billing_email = await one(
        "SELECT ct.email FROM contact ct JOIN client c ON c.id = ct.client "
        "WHERE c.company = {} AND ct.contact_type = 'billing' ORDER BY ct.id LIMIT 1 OFFSET {}",
        company_id,
        picks[0] // 10,
    )
    return [
        ("common last name", common),
        ("common last name, first 4 letters", common[:4]),
        ("rare last name", rare),
        ("full name", (await nth("ct.first_name || ' ' || ct.last_name", picks[0])).lower()),
        ("client ID", await nth("c.code", picks[1])),
        ("email", email),
        ("email, local part", email.split("@")[0]),
        ("billing contact's email", billing_email),
        ("phone, last 7 digits", phone[-7:]),
        ("phone, international", phone),
        ("3 letters, very common", "mar"),
        ("no hit", "qzxwvj"),
    ]


async def log_in(http) -> None:
    import re

    page = await http.get("/admin/login")
    token = re.search(r'name="_csrf_token" value="([^"]+)"', page.text).group(1)
    response = await http.post(
        "/admin/login",
        data={"_csrf_token": token, "email": STAFF_EMAIL, "password": STAFF_PASSWORD},
    )
    assert response.status_code == 303, response.text[:500]


async def measure_size(company_id: int, http, rounds: int) -> dict:
    from portal.clients import browse, search
    from portal.clients.tables import Client
    from portal.core.db import read_transaction

    queries = await choose_queries(company_id)

    async def service(query: str) -> None:
        await browse.suggest_clients(company_id, query)

    async def endpoint(query: str) -> None:
        response = await http.get("/admin/clients/suggestions", params={"q": query})
        assert response.status_code == 200

    async def baseline(query: str) -> None:
        pattern = f"%{query.lower()}%"
        async with read_transaction():
            await Client.raw(BASELINE_SQL, company_id, *([pattern] * 10), browse.SUGGESTIONS)

    results: dict = {"queries": [], "hits": {}}
    for _, query in queries:
        matches = await search.find_clients(company_id, search.parse_query(query))
        results["hits"][query] = len(matches.client_ids)
    for name, run in (("service", service), ("http", endpoint), ("like", baseline)):
        samples: dict[str, list[float]] = {query: [] for _, query in queries}
        for _, query in queries:  # warm-up
            await run(query)
        # The baseline scans whole tables: fewer rounds give the same picture.
        for _ in range(rounds if name != "like" else max(3, rounds // 5)):
            for _, query in queries:
                samples[query].append(await timed(lambda run=run, q=query: run(q)))
        results[name] = summary([s for values in samples.values() for s in values])
        results[f"{name}_per_query"] = {q: summary(v) for q, v in samples.items()}
    results["queries"] = queries
    results["browse"] = {}
    for label, params in BROWSE_VIEWS:
        url = "/admin/clients?" + urlencode(params)
        await http.get(url)
        samples = []
        for _ in range(rounds):
            started = time.perf_counter()
            response = await http.get(url)
            samples.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, url
        results["browse"][label] = summary(samples)
    return results


async def worker(sizes: list[int], rounds: int) -> dict:
    import httpx

    from portal.app import create_app
    from portal.clients import search
    from portal.clients.demo import load_demo
    from portal.clients.tables import Client
    from portal.companies.services import ensure_default_company
    from portal.companies.tables import Company
    from portal.core import db
    from portal.core.db import engine, is_sqlite
    from portal.staff.services import create_staff

    logging.getLogger("httpx").setLevel(logging.WARNING)

    await db.migrate()
    await db.start(bounded=False)  # it loads a million clients, too
    try:
        await ensure_default_company()
        company_id = (await Company.select(Company.id).order_by(Company.id).first())["id"]
        await create_staff(email=STAFF_EMAIL, password=STAFF_PASSWORD, company_ids=[company_id])
        transport = httpx.ASGITransport(app=create_app(), client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://bench.local") as http:
            await log_in(http)
            report: dict = {"sizes": {}}
            loaded = 0
            for size in sizes:
                started = time.perf_counter()
                await load_demo(size - loaded, company_id=company_id, seed=SEED + size)
                load_seconds = time.perf_counter() - started
                started = time.perf_counter()
                indexed = await search.reindex_company(company_id)
                index_seconds = time.perf_counter() - started
                loaded = await Client.count().where(Client.company == company_id)
                if not is_sqlite():
                    # What autovacuum does after a bulk load (visibility map: index-only scans).
                    await _postgres_execute(engine().config["dsn"], "VACUUM ANALYZE")
                assert indexed == loaded == size, (indexed, loaded, size)
                print(
                    f"[{size:,}] loaded in {load_seconds:.0f} s, indexed in "
                    f"{index_seconds:.0f} s; measuring…",
                    file=sys.stderr,
                    flush=True,
                )
                results = await measure_size(company_id, http, rounds)
                results["load_seconds"] = load_seconds
                results["index_seconds"] = index_seconds
                report["sizes"][str(size)] = results
        return report
    finally:
        await db.stop()


def run_worker(args: argparse.Namespace) -> None:
    report = asyncio.run(worker(args.sizes, args.rounds))
    report["versions"] = versions()
    print(json.dumps(report))


# --- the parent: scratch databases, a worker per engine, the table -----------------------------


def versions() -> dict[str, str]:
    import sqlite3
    from importlib.metadata import version

    from portal.core.db import engine, is_sqlite

    found = {
        "python": platform.python_version(),
        "litestar": version("litestar"),
        "piccolo": version("piccolo"),
        "sqlite": sqlite3.sqlite_version,
    }
    if not is_sqlite():
        found["postgresql"] = asyncio.run(_postgres_version(engine().config["dsn"]))
    return found


async def _postgres_version(dsn: str) -> str:
    import asyncpg

    connection = await asyncpg.connect(dsn)
    try:
        return await connection.fetchval("SHOW server_version")
    finally:
        await connection.close()


async def _postgres_execute(dsn: str, statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def machine() -> dict[str, str]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": f"{memory_kb / 1024 / 1024:.1f} GiB",
        "os": f"{platform.system()} {platform.release()}",
    }


def run_engine(engine: str, args: argparse.Namespace) -> dict:
    var_dir = Path(tempfile.mkdtemp(prefix=f"bench-search-{engine}-"))
    env = {**os.environ, "PORTAL_VAR_DIR": str(var_dir)}
    env.pop("PORTAL_SMTP_URL", None)
    database = f"bench_search_{uuid.uuid4().hex[:8]}"
    admin_url = args.postgres
    if engine == "sqlite":
        env["PORTAL_DATABASE_URL"] = f"sqlite:///{var_dir}/bench.sqlite3"
    else:
        env["PORTAL_DATABASE_URL"] = admin_url.rsplit("/", 1)[0] + f"/{database}"
        _psql(admin_url, f'CREATE DATABASE "{database}"')
    command = [sys.executable, __file__, "--worker", "--rounds", str(args.rounds), "--sizes"]
    try:
        result = subprocess.run(  # noqa: S603 - this script, run again as the worker
            [*command, *map(str, args.sizes)],
            cwd=PROJECT_DIR,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
            check=True,
        )
    finally:
        if engine == "postgres":
            _psql(admin_url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        shutil.rmtree(var_dir, ignore_errors=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def _psql(url: str, statement: str) -> None:
    subprocess.run(["psql", url, "-qc", statement], check=True)  # noqa: S603, S607


def table(reports: dict[str, dict]) -> str:
    lines = [
        "| engine | clients | search service p50 / p95 | HTTP p50 / p95 | LIKE baseline p50 / "
        "p95 | speed-up (p95) | target p95 | Browse p95 (default / slowest view) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for engine, report in reports.items():
        for size, r in report["sizes"].items():
            speed_up = r["like"]["p95"] / r["service"]["p95"]
            browse = ""
            if "browse" in r:
                default = next(iter(r["browse"].values()))["p95"]
                slowest = max(r["browse"].items(), key=lambda item: item[1]["p95"])
                browse = f"{default:.1f} / {slowest[1]['p95']:.1f} ms ({slowest[0]})"
            lines.append(
                f"| {engine} | {int(size):,} | {r['service']['p50']:.1f} / "
                f"{r['service']['p95']:.1f} ms | {r['http']['p50']:.1f} / {r['http']['p95']:.1f} "
                f"ms | {r['like']['p50']:.1f} / {r['like']['p95']:.1f} ms | {speed_up:.0f}× | "
                f"≤ {TARGETS.get(int(size), 50):.0f} ms | {browse} |"
            )
    return "\n".join(lines)


def verdicts(reports: dict[str, dict]) -> str:
    """Each target against this run's figures: whether it holds, and the figures."""

    def runs(size: int) -> list[tuple[str, dict]]:
        return [(e, r["sizes"][str(size)]) for e, r in reports.items() if str(size) in r["sizes"]]

    def verdict(holds: bool) -> str:
        return "**holds**" if holds else "**does not hold**"

    lines = []
    for size, target in TARGETS.items():
        if figures := runs(size):
            worst = max(max(r["service"]["p95"], r["http"]["p95"]) for _, r in figures)
            lines.append(
                f"- Search p95 ≤ {target:.0f} ms at {size:,} (service and HTTP): "
                f"{verdict(worst <= target)}: "
                + "; ".join(
                    f"{e} {r['service']['p95']:.1f} / {r['http']['p95']:.1f} ms" for e, r in figures
                )
            )
    if figures := runs(1_000_000):
        speed_ups = [(e, r["like"]["p95"] / r["service"]["p95"]) for e, r in figures]
        lines.append(
            f"- ≥ {SPEED_UP_TARGET:.0f}× faster than the LIKE baseline at 1,000,000: "
            f"{verdict(min(x for _, x in speed_ups) >= SPEED_UP_TARGET)}: "
            + "; ".join(f"{e} {x:.0f}×" for e, x in speed_ups)
        )
    for size in (100_000, 1_000_000):
        if figures := [(e, r) for e, r in runs(size) if "browse" in r]:
            slowest = [
                (e, *max(r["browse"].items(), key=lambda item: item[1]["p95"])) for e, r in figures
            ]
            worst = max(values["p95"] for _, _, values in slowest)
            head = (
                f"Browse p95 ≤ {BROWSE_TARGET:.0f} ms at {size:,}, every view: "
                f"{verdict(worst <= BROWSE_TARGET)}; slowest view"
                if size == 100_000
                else f"Browse at {size:,} (no target), slowest view"
            )
            lines.append(
                f"- {head}: "
                + "; ".join(f"{e} {values['p95']:.1f} ms ({label})" for e, label, values in slowest)
            )
    return "\n".join(lines)


def details(reports: dict[str, dict]) -> str:
    out = []
    for engine, report in reports.items():
        for size, r in report["sizes"].items():
            out.append(
                f"\n### {engine}, {int(size):,} clients\n\nDemo data loaded in "
                f"{r['load_seconds']:.0f} s; search index built in {r['index_seconds']:.1f} s.\n"
            )
            out.append("| query | kind | matches | service p50 / p95 | HTTP p50 / p95 | LIKE p50 |")
            out.append("|---|---|---:|---:|---:|---:|")
            for kind, query in r["queries"]:
                service, http = r["service_per_query"][query], r["http_per_query"][query]
                like = r["like_per_query"][query]
                out.append(
                    f"| `{query}` | {kind} | {r['hits'][query]:,} | {service['p50']:.1f} / "
                    f"{service['p95']:.1f} ms | {http['p50']:.1f} / {http['p95']:.1f} ms | "
                    f"{like['p50']:.1f} ms |"
                )
            if "browse" in r:
                out.append("\n| Browse view (HTTP) | p50 | p95 |\n|---|---:|---:|")
                for label, values in r["browse"].items():
                    out.append(f"| {label} | {values['p50']:.1f} ms | {values['p95']:.1f} ms |")
    return "\n".join(out)


def write_results(path: Path, reports: dict[str, dict], args: argparse.Namespace) -> str:
    box = machine()
    engine_versions = {k: v for report in reports.values() for k, v in report["versions"].items()}
    text = f"""{SECTION_HEADING}

`python bench/search.py` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {args.rounds} rounds of the
query mix per measurement (the LIKE baseline: a fifth of them, at least 3).

Machine: {box["cpu"]}, {box["cores"]} cores, {box["memory"]} RAM, {box["os"]}.
Versions: {", ".join(f"{name} {value}" for name, value in sorted(engine_versions.items()))}.

- **search service**: `portal.clients.browse.suggest_clients`, what the header search box calls
  (one read transaction: the exact client-ID match, the substring match through the engine's
  index, the rows shown);
- **HTTP**: `GET /admin/clients/suggestions?q=…` through the ASGI app with httpx, logged in as
  staff (session, CSRF and guard included, template rendered), no network;
- **LIKE baseline**: `lower(column) LIKE '%q%'` over client JOIN contact on the same columns,
  same company, same number of rows, in a read transaction like the service;
- **speed-up**: baseline p95 / service p95 over the whole mix;
- **Browse**: `GET /admin/clients` over HTTP in the views listed below (tab counts included).

After each load the search index is rebuilt with `search.reindex_company` (which ends with
FTS5's `optimize` and `ANALYZE` on SQLite, `ANALYZE` on PostgreSQL); on PostgreSQL the bench
then runs `VACUUM ANALYZE`, as autovacuum would after a bulk insert, so that counts can use
index-only scans. Matches are read up to 1,000 (then "refine your search"), which bounds the
cost of very common substrings such as `mar`.

{table(reports)}

Targets: search p95 ≤ 20 ms at 100k and ≤ 50 ms at 1M on both engines; ≥ {SPEED_UP_TARGET:.0f}×
faster than the LIKE baseline at 1M; Browse p95 ≤ {BROWSE_TARGET:.0f} ms at 100k. In this run:

{verdicts(reports)}
{details(reports)}
"""
    if str(path) != "-":
        replace_section(path, SECTION_HEADING, text)
    return text


SECTION_HEADING = "## Client search (`bench/search.py`)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engines", nargs="+", default=["sqlite", "postgres"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[100_000, 1_000_000])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="an admin database URL")
    parser.add_argument("--output", default=str(PROJECT_DIR / "bench" / "RESULTS.md"))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.sizes = sorted(args.sizes)
    if args.worker:
        run_worker(args)
        return
    reports = {engine: run_engine(engine, args) for engine in args.engines}
    print(table(reports))
    print(verdicts(reports))
    text = write_results(Path(args.output), reports, args)
    if args.output == "-":
        print(text)


if __name__ == "__main__":
    main()
