"""What the benchmarks that drive real processes share: a scratch database, the `portal`
command, the bare framework on uvicorn as the yardstick, and wrk with bench/wrk.lua."""

from __future__ import annotations

import contextlib
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
sys.path.append(str(PROJECT_DIR / "tests"))
from server_helpers import free_port  # noqa: E402

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"


@contextlib.contextmanager
def scratch_database(engine: str, admin_url: str, name: str) -> Iterator[tuple[str, Path]]:
    """(database URL, scratch folder) of a database made for one run: a SQLite file in the
    folder, or a PostgreSQL database created on the server of `admin_url`; both go afterwards."""
    scratch = Path(tempfile.mkdtemp(prefix=f"portal-{name}-{engine}-"))
    database = None
    if engine == "sqlite":
        url = f"sqlite:///{scratch / 'bench.sqlite3'}"
    else:
        database = f"portal_{name}_{uuid.uuid4().hex[:8]}"
        subprocess.run(["psql", admin_url, "-qc", f'CREATE DATABASE "{database}"'], check=True)
        url = admin_url.rsplit("/", 1)[0] + f"/{database}"
    try:
        yield url, scratch
    finally:
        if database:
            subprocess.run(
                ["psql", admin_url, "-qc", f'DROP DATABASE "{database}" WITH (FORCE)'],
                check=False,
            )
        shutil.rmtree(scratch, ignore_errors=True)


def portal(env: dict[str, str], *args: str) -> str:
    """Runs `python -m portal …`; its output."""
    return subprocess.run(
        [sys.executable, "-m", "portal", *args],
        cwd=PROJECT_DIR,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


@contextlib.contextmanager
def bare_server(folder: Path, files: dict[str, str], workers: int) -> Iterator[tuple[str, int]]:
    """(URL, process group) of `bare_app:app` (in `files`, written to `folder`) on uvicorn with
    `workers` processes, no access log; stopped afterwards."""
    for name, text in files.items():
        (folder / name).write_text(text)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "bare_app:app", "--port", str(port)]
        + ["--workers", str(workers), "--log-level", "warning"],
        cwd=folder,
        start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                subprocess.run(["curl", "-s", "-o", "/dev/null", url], check=True, timeout=1)
                break
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
                time.sleep(0.1)
        yield url, process.pid
    finally:
        os.killpg(process.pid, 15)
        process.wait()


def cpu_seconds(group: int) -> dict[str, float]:
    """CPU time (s) used so far: by the machine as a whole (every core, busy), by the processes
    of process group `group` (a server and its workers) and by PostgreSQL's processes."""
    ticks = os.sysconf("SC_CLK_TCK")
    fields = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    busy = sum(fields) - fields[3] - fields[4]  # all but idle and iowait
    used = {"machine": busy / ticks, "server": 0.0, "database": 0.0}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # ended meanwhile
        name, rest = text[text.index("(") + 1 :].rsplit(")", 1)
        after = rest.split()
        seconds = (int(after[11]) + int(after[12])) / ticks
        if int(after[2]) == group:
            used["server"] += seconds
        elif name == "postgres":
            used["database"] += seconds
    return used


def _children_cpu_seconds() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def run_wrk(
    url: str, env: dict[str, str], connections: int, seconds: int, group: int | None = None
) -> dict:
    """wrk with bench/wrk.lua (its BENCH_* variables in `env`) against `url`: req/s, the
    answers by status, latency percentiles (ms) and wrk's socket errors. With the server's
    process `group`, also how many cores each side kept busy meanwhile: the server, PostgreSQL,
    wrk itself and the machine as a whole."""
    if shutil.which("wrk") is None:
        raise SystemExit("the benchmark needs wrk (Debian: apt-get install wrk)")
    before = cpu_seconds(group) if group is not None else {}
    wrk_before = _children_cpu_seconds()
    started = time.monotonic()
    result = subprocess.run(
        ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{seconds}s"]
        + ["--timeout", "60s", "-s", str(PROJECT_DIR / "bench" / "wrk.lua"), url],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    elapsed = time.monotonic() - started
    cores = {}
    if group is not None:
        after = cpu_seconds(group)
        cores = {side: (after[side] - before[side]) / elapsed for side in after}
        cores["wrk"] = (_children_cpu_seconds() - wrk_before) / elapsed
    out = result.stdout
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "cores": cores,
        "rate": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "statuses": {
            int(code): int(n) for code, n in re.findall(r"^status (\d+) (\d+)$", out, re.M)
        },
        "latency": {
            int(p): float(ms) for p, ms in re.findall(r"^latency p(\d+) ([\d.]+)$", out, re.M)
        },
        "socket_errors": errors.group(1) if errors else "",
    }
