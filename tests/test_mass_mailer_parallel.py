"""Three mail workers at once (real `python -m portal mailer run --once` processes) on one
mailing of a few hundred recipients, to a real SMTP server: they share the work (each claims
its own batches, with leases) and every recipient gets exactly one message."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

from conftest import PROJECT_DIR
from portal.core.actors import SYSTEM
from portal.plugins.mass_mailer import services
from portal.plugins.mass_mailer.messages import Compose
from portal.plugins.mass_mailer.services import MailingFilter
from test_mass_mailer_helpers import add_client, start_sink

RECIPIENTS = 300
WORKERS = 3
SENT = re.compile(r"Mail worker stopped; (\d+) messages sent\.")


def _worker(smtp_url: str, log_path: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "PORTAL_SMTP_URL": smtp_url,
        # Slow enough that one worker alone would take 10 s: the three overlap for sure.
        "PORTAL_MAILER_RATE": "30",
        "PORTAL_MAILER_BATCH": "10",
    }
    with open(log_path, "w") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "portal", "mailer", "run", "--once"],
            cwd=PROJECT_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


async def test_three_workers_at_once_send_each_recipient_exactly_one_message(company_id, tmp_path):
    addresses = {f"reader{i:03d}@example.com" for i in range(RECIPIENTS)}
    for address in sorted(addresses):
        name = address.split("@")[0]
        await add_client(company_id, name.title(), address, opted_in=True, username=name)
    job_id = await services.create_job(
        company_id,
        SYSTEM,
        MailingFilter(),
        Compose("News", "news@example.com", "Hi {{ client.first_name }}", "Hello.\n"),
    )
    sink, controller, smtp_url = start_sink()
    logs = [tmp_path / f"worker-{n}.log" for n in range(WORKERS)]
    workers = [_worker(smtp_url, log) for log in logs]
    try:
        codes = [await asyncio.to_thread(worker.wait, 120) for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
        controller.stop()
    outputs = [log.read_text() for log in logs]
    assert codes == [0] * WORKERS, outputs

    # Each worker sent a share, and the shares add up to one message per recipient.
    shares = [int(SENT.search(output).group(1)) for output in outputs]
    assert all(share > 0 for share in shares), shares
    assert sum(shares) == RECIPIENTS, shares
    assert sink.by_address() == dict.fromkeys(addresses, 1)
    assert len({message["Message-ID"] for message in sink.messages}) == RECIPIENTS

    progress = await services.job_progress(company_id, job_id)
    assert progress.done
    assert (progress.sent, progress.failed, progress.pending, progress.sending) == (
        RECIPIENTS,
        0,
        0,
        0,
    )
