"""What the portal's background workers (the webhook deliveries, the mass mailer) share: the
loop that runs a worker's steps until it is told to stop, and running a worker as a process of
its own (`portal webhooks run`, `portal mailer run`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from portal.core import db
from portal.core.errors import Unavailable

# How long a worker waits after a step that failed before it tries again.
RETRY_SECONDS = 5


async def sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    """Waits `seconds`, or until `stop` is set if that comes first."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


async def run_steps(
    step: Callable[[], Awaitable[bool]],
    stop: asyncio.Event | None,
    *,
    poll_seconds: float,
    logger: logging.Logger,
    failure: str,
) -> None:
    """Runs `step` until `stop` is set (None: until cancelled): again at once after one that
    worked, after `poll_seconds` after one that found nothing to do (it returns False). A step
    that raised waits RETRY_SECONDS and goes on: logged as `failure`, unless the database was
    unavailable (that is logged once, as the outage began)."""
    stop = stop or asyncio.Event()
    while not stop.is_set():
        try:
            worked = await step()
        except Unavailable:
            await sleep_or_stop(stop, RETRY_SECONDS)
            continue
        except Exception:
            logger.exception(failure)
            await sleep_or_stop(stop, RETRY_SECONDS)
            continue
        if not worked:
            await sleep_or_stop(stop, poll_seconds)


async def run_as_process(work: Callable[[asyncio.Event], Awaitable[int]]) -> int:
    """Runs `work` with the database open, and returns what it returns (a count of what it
    did); SIGTERM and SIGINT set the event it is given, which it stops at."""
    await db.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    try:
        return await work(stop)
    finally:
        await db.stop()


def run_command(prepare: Callable[[], None], main: Callable[[], Coroutine[Any, Any, int]]) -> int:
    """For a worker's command: INFO lines with their time on the console, the database made
    ready (`prepare`, the command line's), then `main` run to its end; what it returns."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    prepare()
    return asyncio.run(main())
