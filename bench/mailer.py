"""Mass mailer benchmark: a marketing mailing to N recipients (default 100,000) sent by the real
worker process (`python -m portal mailer run --once`) to a local SMTP sink (aiosmtpd in a
process of its own), with messages per second and the worker's memory over time.

    python bench/mailer.py [--recipients 100000] [--rate 100000] [--batch 500]

Uses a fresh SQLite file in a temporary folder unless PORTAL_DATABASE_URL is set (a PostgreSQL
database given there is emptied first). Clients come from the demo generator
(portal.clients.demo.load_demo); all of them are then made active and opted in, so that every
one is a recipient and each message goes through the marketing path (consent re-check at send
time, unsubscribe token and headers, mail log). Prints a Markdown section for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]

from results import machine  # noqa: E402 - bench/ is the script's folder, on sys.path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_sink(port: int, count, first_at, last_at, ready) -> None:
    """The SMTP sink: accepts every message, keeps only a count and the first/last times."""
    from aiosmtpd.controller import Controller

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802
            now = time.monotonic()
            with count.get_lock():
                if count.value == 0:
                    first_at.value = now
                count.value += 1
                last_at.value = now
            return "250 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    while True:
        time.sleep(3600)


def memory_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process, in KiB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in {"VmRSS", "VmHWM"}:
            values[name] = int(rest.split()[0])
    return values.get("VmRSS", 0), values.get("VmHWM", 0)


async def prepare(recipients: int) -> tuple[int, float, float]:
    """Migrates, loads the demo clients, opts them all in and queues the mailing. Returns
    (job id, seconds to load, seconds to queue)."""
    from portal.cli import _prepare
    from portal.clients.demo import load_demo
    from portal.clients.tables import Client
    from portal.companies.tables import Company
    from portal.core import db
    from portal.core.actors import SYSTEM
    from portal.plugins.mass_mailer import services
    from portal.plugins.mass_mailer.messages import Compose

    await _prepare()
    await db.start()
    try:
        company = await Company.select(Company.id).order_by(Company.id).first()
        started = time.perf_counter()
        await load_demo(recipients, company_id=company["id"], seed=8)
        await Client.update({Client.marketing_opt_in: True, Client.status: "active"}, force=True)
        loaded = time.perf_counter() - started
        started = time.perf_counter()
        job_id = await services.create_job(
            company["id"],
            SYSTEM,
            services.MailingFilter(kind="marketing"),
            Compose(
                from_name="Bench News",
                from_address="news@example.com",
                subject="Hello {{ client.first_name }}, news from {{ company.name }}",
                body_text=(
                    "Dear {{ client.full_name }},\n\n"
                    + "A paragraph of news that makes the message a realistic size. " * 12
                    + "\n\nRegards,\n{{ company.name }}\n"
                ),
                body_html="<p>Dear {{ client.first_name }},</p><p>News.</p>",
            ),
        )
        queued = time.perf_counter() - started
        return job_id, loaded, queued
    finally:
        await db.stop()


async def progress(job_id: int) -> tuple[str, int]:
    from portal.core import db
    from portal.plugins.mass_mailer.tables import MailingJob, MailingRecipient

    await db.start()
    try:
        job = await MailingJob.select(MailingJob.status).where(MailingJob.id == job_id).first()
        sent = await MailingRecipient.count().where(
            MailingRecipient.job == job_id, MailingRecipient.status == "sent"
        )
        return job["status"], sent
    finally:
        await db.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=100_000, help="PORTAL_MAILER_RATE")
    parser.add_argument("--batch", type=int, default=500, help="PORTAL_MAILER_BATCH")
    parser.add_argument("--connections", type=int, default=1, help="PORTAL_MAILER_CONNECTIONS")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="portal-bench-mailer-"))
    os.environ.setdefault("PORTAL_DATABASE_URL", f"sqlite:///{workdir}/bench.sqlite3")
    os.environ["PORTAL_VAR_DIR"] = str(workdir)
    os.environ.setdefault("PORTAL_SECRET_KEY", "bench-secret-key-0123456789-0123456789")
    database_url = os.environ["PORTAL_DATABASE_URL"]
    if database_url.startswith("postgres"):
        import asyncpg

        async def reset() -> None:
            connection = await asyncpg.connect(database_url)
            await connection.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
            await connection.close()

        asyncio.run(reset())

    port = free_port()
    count = multiprocessing.Value("q", 0)
    first_at = multiprocessing.Value("d", 0.0)
    last_at = multiprocessing.Value("d", 0.0)
    ready = multiprocessing.Event()
    sink = multiprocessing.Process(
        target=run_sink, args=(port, count, first_at, last_at, ready), daemon=True
    )
    sink.start()
    ready.wait(10)

    print(f"Loading {args.recipients:,} demo clients…", file=sys.stderr)
    job_id, loaded, queued = asyncio.run(prepare(args.recipients))
    print(f"Loaded in {loaded:.1f} s, queued in {queued:.1f} s; sending…", file=sys.stderr)

    env = {
        **os.environ,
        "PORTAL_SMTP_URL": f"smtp://127.0.0.1:{port}",
        "PORTAL_MAILER_RATE": str(args.rate),
        "PORTAL_MAILER_BATCH": str(args.batch),
        "PORTAL_MAILER_CONNECTIONS": str(args.connections),
    }
    started = time.monotonic()
    worker = subprocess.Popen(
        [sys.executable, "-m", "portal", "mailer", "run", "--once"],
        cwd=PROJECT_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    samples: list[tuple[float, int, int]] = []  # (seconds, messages received, RSS KiB)
    peak = 0
    while worker.poll() is None:
        try:
            rss, hwm = memory_kib(worker.pid)
        except FileNotFoundError:
            break
        peak = max(peak, hwm)
        samples.append((time.monotonic() - started, count.value, rss))
        time.sleep(1)
    elapsed = time.monotonic() - started
    status, sent = asyncio.run(progress(job_id))
    sink.terminate()

    received = count.value
    sending_seconds = max(last_at.value - first_at.value, 1e-9)
    rate = received / sending_seconds
    engine = "PostgreSQL" if database_url.startswith("postgres") else "SQLite (WAL)"
    marks = [s for s in samples if s[1]]
    step = max(1, len(marks) // 8)
    lines = [
        f"### Mass mailer: {args.recipients:,} recipients, {engine}",
        "",
        f"- Machine: {machine()}",
        f"- Run: `python bench/mailer.py --recipients {args.recipients} --rate {args.rate:g} "
        f"--batch {args.batch} --connections {args.connections}` on {time.strftime('%Y-%m-%d')}",
        f"- Demo clients loaded in {loaded:.1f} s; mailing queued (one row per address) in "
        f"{queued:.1f} s",
        f"- Messages received by the SMTP sink: **{received:,}** (job {status}, {sent:,} rows "
        f"sent); worker process ran {elapsed:.1f} s (start-up included)",
        f"- Sending rate: **{rate:,.0f} messages/s** (first to last message at the sink, "
        f"{sending_seconds:.1f} s)",
        f"- Worker peak memory (VmHWM): **{peak / 1024:.1f} MiB**",
        "- Worker memory (VmRSS) while sending: "
        + ", ".join(f"{n:,} msgs → {r / 1024:.1f} MiB" for _, n, r in marks[::step]),
        "",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
