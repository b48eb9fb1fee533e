"""Benchmark of the CSV import (a script, not a test).

    python bench/import_clients.py                         # 100,000 rows, SQLite and PostgreSQL
    python bench/import_clients.py --rows 20000 --engines sqlite --output -

For each engine a scratch database (a temporary SQLite file; a PostgreSQL database created on
the server of --postgres and dropped afterwards) is migrated; a CSV of --rows plausible clients
(tests/import_files.py: Add Client's headers, valid addresses, states and phone numbers, a
quarter opted in) is imported by a real `portal import clients` process, the command staff run
(the job runner inside `portal serve` runs the same code). Measured: the wall time of the
process, its memory (VmRSS from /proc every half second, and VmHWM at the end) against the rows
done so far, and afterwards that Browse's counts and the search index agree with the clients.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
from results import machine, replace_section  # noqa: E402 - first (see BENCH_DIR)

sys.path.insert(0, str(PROJECT_DIR / "tests"))
from harness import DEFAULT_POSTGRES, portal, scratch_database  # noqa: E402
from import_files import clients_csv  # noqa: E402

SECTION_HEADING = "## CSV import (`bench/import_clients.py`)"


def memory_kib(pid: int, field: str) -> int | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    found = re.search(rf"^{field}:\s+(\d+) kB", status, re.MULTILINE)
    return int(found.group(1)) if found else None


def query(database_url: str, sql: str) -> list[tuple]:
    if database_url.startswith("sqlite"):
        import sqlite3

        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as connection:
            return connection.execute(sql).fetchall()
    return [
        tuple(line.split("|"))
        for line in subprocess.run(
            ["psql", database_url, "-AtXc", sql], check=True, capture_output=True, text=True
        ).stdout.splitlines()
    ]


def run_engine(engine: str, csv_path: Path, args: argparse.Namespace) -> dict:
    with scratch_database(engine, args.postgres, "import") as (database_url, scratch):
        env = {**os.environ, "PORTAL_DATABASE_URL": database_url, "PORTAL_VAR_DIR": str(scratch)}
        portal(env, "migrate")
        print(f"[{engine}] importing {args.rows:,} rows…", file=sys.stderr)
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-m", "portal", "import", "clients", str(csv_path)],
            cwd=PROJECT_DIR,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        samples = []
        while process.poll() is None:
            rss = memory_kib(process.pid, "VmRSS")
            peak = memory_kib(process.pid, "VmHWM")
            if rss is not None:
                done = query(database_url, "SELECT count(*) FROM client")[0][0]
                samples.append((int(done), rss, peak))
            time.sleep(0.5)
        seconds = time.perf_counter() - started
        output, errors = process.communicate()
        if process.returncode:
            raise SystemExit(f"import failed:\n{output}\n{errors}")
        clients = int(query(database_url, "SELECT count(*) FROM client")[0][0])
        counted = int(
            query(database_url, "SELECT coalesce(sum(clients), 0) FROM client_count")[0][0]
        )
        indexed = int(query(database_url, "SELECT count(*) FROM client_search")[0][0])
        pending = int(query(database_url, "SELECT count(*) FROM client_search_pending")[0][0])
        return {
            "seconds": seconds,
            "clients": clients,
            "counted": counted,
            "indexed": indexed,
            "pending": pending,
            "samples": samples,
            "peak": max((s[2] or 0) for s in samples) if samples else 0,
            "message": output.strip().splitlines()[-1],
        }


def section(reports: dict, args: argparse.Namespace) -> str:
    lines = [
        SECTION_HEADING,
        "",
        f"A CSV file of {args.rows:,} clients (tests/import_files.py) imported by a real "
        "`portal import clients` process: every row read, mapped by its headers and checked "
        "as Add Client checks it, written in batches of 500 (one transaction each, with the "
        "job's progress and checkpoint). Memory is the process's VmRSS, sampled every half "
        "second against the clients written so far. Target: 100,000 rows in at most 120 s on "
        "SQLite, memory flat.",
        "",
    ]
    for engine, report in reports.items():
        samples = report["samples"]
        step = max(1, len(samples) // 8)
        shown = ", ".join(
            f"{done:,} clients → {rss / 1024:.1f} MiB" for done, rss, _ in samples[::step]
        )
        lines += [
            f"#### {args.rows:,} rows, {engine}",
            "",
            f"- Machine: {machine()}",
            f"- Run: `python bench/import_clients.py --rows {args.rows} --engines {engine}` on "
            f"{datetime.now(UTC):%Y-%m-%d}",
            f"- Time: **{report['seconds']:.1f} s** ({args.rows / report['seconds']:,.0f} rows/s), "
            "start-up and the row count included",
            f"- Outcome: {report['message']}",
            f"- Afterwards: {report['clients']:,} clients, Browse's counts sum to "
            f"{report['counted']:,}, {report['indexed']:,} search documents, "
            f"{report['pending']} left pending",
            f"- Peak memory (VmHWM): **{report['peak'] / 1024:.1f} MiB**",
            f"- Memory while importing: {shown}",
            "",
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--engines", nargs="+", default=["sqlite", "postgres"])
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES)
    parser.add_argument("--output", default=str(PROJECT_DIR / "bench" / "RESULTS.md"))
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="portal-import-csv-"))
    try:
        csv_path = clients_csv(folder / "clients.csv", args.rows)
        reports = {engine: run_engine(engine, csv_path, args) for engine in args.engines}
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    text = section(reports, args)
    if args.output == "-":
        print(text)
    else:
        replace_section(Path(args.output), SECTION_HEADING, text)
        print(text)


if __name__ == "__main__":
    main()
