"""A mail worker killed mid-job (a real `python -m portal mailer run` process, SIGKILL) and
started again: every recipient gets exactly one message."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time

from conftest import _VAR_DIR, PROJECT_DIR
from portal.core.actors import SYSTEM
from portal.plugins.mass_mailer import services
from portal.plugins.mass_mailer.messages import Compose
from portal.plugins.mass_mailer.services import MailingFilter
from portal.plugins.mass_mailer.tables import MailingRecipient
from test_mass_mailer_helpers import add_client, start_sink

RECIPIENTS = 20
KILL_AT = 7  # the worker dies while the server holds this message, before it answers 250


def _worker(smtp_url: str, log_name: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "PORTAL_SMTP_URL": smtp_url,
        "PORTAL_MAILER_RATE": "10",  # slow: the kill lands mid-job
        "PORTAL_MAILER_BATCH": "4",
        "PORTAL_MAILER_LEASE_SECONDS": "2",
        "PORTAL_MAILER_POLL_SECONDS": "0.2",
    }
    log = open(_VAR_DIR / log_name, "w")  # noqa: SIM115 - the process writes it; closed at exit
    return subprocess.Popen(
        [sys.executable, "-m", "portal", "mailer", "run"],
        cwd=PROJECT_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


async def _wait_until_done(company_id: int, job_id: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if (await services.job_progress(company_id, job_id)).done:
            return
        assert process.poll() is None, (_VAR_DIR / "worker-2.log").read_text()
        await asyncio.sleep(0.2)
    raise AssertionError("the restarted worker did not finish the mailing in 90 s")


async def test_a_worker_killed_mid_job_resumes_and_nobody_gets_a_message_twice(company_id):
    sink, controller, smtp_url = start_sink()
    addresses = {f"c{i:02d}@example.com" for i in range(RECIPIENTS)}
    for address in sorted(addresses):
        name = address.split("@")[0]
        await add_client(company_id, name.upper(), address, opted_in=True, username=name)
    job_id = await services.create_job(
        company_id,
        SYSTEM,
        MailingFilter(),
        Compose("News", "news@example.com", "Hi {{ client.first_name }}", "Hello.\n"),
    )

    first = _worker(smtp_url, "worker-1.log")
    killed = threading.Event()

    def kill_mid_message(count: int) -> None:
        if count == KILL_AT and not killed.is_set():
            os.kill(first.pid, signal.SIGKILL)
            killed.set()

    sink.on_message = kill_mid_message
    second = None
    try:
        returncode = await asyncio.to_thread(first.wait, 60)
        assert returncode == -signal.SIGKILL, (_VAR_DIR / "worker-1.log").read_text()
        sink.on_message = None
        assert len(sink.messages) == KILL_AT
        statuses = [
            row["status"]
            for row in await MailingRecipient.select(MailingRecipient.status)
            .where(MailingRecipient.job == job_id)
            .order_by(MailingRecipient.id)
        ]
        # The first six were marked sent as the server accepted them; the seventh was with
        # the server when the worker died; the rest were never handed over.
        assert statuses[: KILL_AT - 1] == ["sent"] * (KILL_AT - 1)
        assert statuses[KILL_AT - 1] == "sending"
        assert set(statuses[KILL_AT:]) == {"pending"}

        second = _worker(smtp_url, "worker-2.log")
        await _wait_until_done(company_id, job_id, second)
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.terminate()
                await asyncio.to_thread(process.wait, 10)
        controller.stop()

    assert sink.by_address() == dict.fromkeys(addresses, 1)
    assert len({m["Message-ID"] for m in sink.messages}) == RECIPIENTS
    progress = await services.job_progress(company_id, job_id)
    assert (progress.sent, progress.failed, progress.pending, progress.sending) == (19, 1, 0, 0)
    uncertain = await services.job_problems(company_id, job_id)
    assert [row["error"] for row in uncertain] == [services.UNCERTAIN_ERROR]
