"""Background jobs: long work (an import, a bulk action) queued by staff, run by the server's
job runner (or in the command line's own process), with progress people can watch, leave and
come back to.

A domain that has such work registers a handler for its kind (`handles`); the handler gets a
`JobRun` and does its work in steps, each step one write transaction that ends with
`JobRun.step` (progress, problems and checkpoint committed together with the step's rows). A job
whose process died is taken over once its claim is stale and goes on from its checkpoint, so
no row is done twice and none is skipped."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import logging
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio.to_thread

from portal.core.actors import Actor
from portal.core.config import get_settings
from portal.core.db import insert_rows, skip_locked, write_transactions
from portal.core.errors import NotFound, Unavailable, ValidationError
from portal.core.i18n import N_
from portal.core.lookups import company_row
from portal.core.permissions import Forbidden
from portal.core.rows import from_row
from portal.jobs.tables import Job, JobFile, JobFilePart, JobKey, JobProblem

logger = logging.getLogger("portal.jobs")

LEASE_SECONDS = 60  # a claim not renewed for this long belongs to a process that died
POLL_SECONDS = 1.0
FILE_PART_BYTES = 1024 * 1024
FILES_KEPT_DAYS = 7
FINISHED = ("done", "failed", "cancelled")

Handler = Callable[["JobRun"], Awaitable[str]]
_handlers: dict[str, Handler] = {}
_permissions: dict[str, tuple[str, ...]] = {}  # what staff need to see and cancel a kind's jobs
_work_queued = asyncio.Event()


def handles(kind: str, permission: str | tuple[str, ...]) -> Callable[[Handler], Handler]:
    """Registers the function that runs jobs of `kind` (it returns what the job did, in a
    sentence for people), and the permission (or permissions, all needed) that shows, cancels
    and downloads them."""

    def register(handler: Handler) -> Handler:
        _handlers[kind] = handler
        _permissions[kind] = (permission,) if isinstance(permission, str) else permission
        return handler

    return register


class Cancelled(Exception):
    """Staff cancelled the job: the step in progress is rolled back."""


@dataclass(frozen=True)
class JobView:
    id: int
    kind: str
    title: str
    status: str
    total: int
    done: int
    failed: int
    message: str
    created_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    result_file: int | None
    return_to: str  # the page the job was started from

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def percent(self) -> int:
        if self.status == "done":
            return 100
        return min(100, (self.done + self.failed) * 100 // self.total) if self.total else 0


@dataclass(frozen=True)
class Problem:
    row: int
    column: str
    message: str


def _actor_json(actor: Actor) -> str:
    permissions = None if actor.permissions is None else sorted(actor.permissions)
    return json.dumps(
        {
            "kind": actor.kind,
            "id": actor.id,
            "name": actor.name,
            "address": actor.address,
            "permissions": permissions,
        }
    )


def _actor_of(text: str) -> Actor:
    data = json.loads(text)
    permissions = data.pop("permissions")
    return Actor(**data, permissions=None if permissions is None else frozenset(permissions))


# --- starting and watching ------------------------------------------------------------------


async def start(
    company_id: int,
    kind: str,
    title: str,
    payload: dict[str, Any],
    actor: Actor,
    total: int = 0,
) -> int:
    """Queues a job; the runner picks it up within a second."""
    if kind not in _handlers:
        raise ValueError(f"no handler for jobs of kind {kind!r}")
    async for transaction in write_transactions():
        async with transaction:
            rows = await Job.insert(
                Job(
                    company=company_id,
                    kind=kind,
                    title=title[: Job.title.length],
                    payload=json.dumps(payload),
                    return_to=str(payload.get("return_to", ""))[:500],
                    total=total,
                    actor=_actor_json(actor),
                    created_by=(actor.name or actor.label)[: Job.created_by.length],
                )
            ).returning(Job.id)
    _work_queued.set()
    return rows[0]["id"]


async def get(company_id: int, job_id: int, actor: Actor) -> JobView:
    """A job of the company, for someone who may see jobs of its kind. The payload (a bulk
    action's clients may be many) is not read: the page polls this every second."""
    row = await company_row(
        Job, company_id, job_id, *(c for c in Job._meta.columns if c is not Job.payload)
    )
    if row["kind"] not in _permissions:
        raise NotFound
    actor.require(*_permissions[row["kind"]])
    return from_row(JobView, row)


async def recent(company_id: int, kinds: Iterable[str], limit: int = 10) -> list[JobView]:
    rows = (
        await Job.select()
        .where(Job.company == company_id, Job.kind.is_in(list(kinds)))
        .order_by(Job.id, ascending=False)
        .limit(limit)
    )
    return [from_row(JobView, row) for row in rows]


async def cancel(company_id: int, job_id: int, actor: Actor) -> bool:
    """Cancels a job that has not finished; the step in progress is rolled back, the steps
    before it stay done."""
    await get(company_id, job_id, actor)
    async for transaction in write_transactions():
        async with transaction:
            rows = (
                await Job.update(
                    {
                        Job.status: "cancelled",
                        Job.finished_at: datetime.now(UTC),
                        Job.message: f"{actor.name or actor.label}",
                    }
                )
                .where(
                    Job.id == job_id,
                    Job.company == company_id,
                    Job.status.is_in(["queued", "running"]),
                )
                .returning(Job.id)
            )
    return bool(rows)


async def count_problems(job_id: int) -> int:
    return await JobProblem.count().where(JobProblem.job == job_id)


async def problems(job_id: int, limit: int) -> list[Problem]:
    """The job's first `limit` problems, by row."""
    rows = (
        await JobProblem.select(JobProblem.row, JobProblem.column, JobProblem.message)
        .where(JobProblem.job == job_id)
        .order_by(JobProblem.row)
        .order_by(JobProblem.id)
        .limit(limit)
    )
    return [Problem(**row) for row in rows]


async def problem_csv(job_id: int, header: list[str]) -> AsyncIterator[str]:
    """The job's problems as CSV text, in pieces, for a download."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    last_id = 0
    while True:
        rows = (
            await JobProblem.select(
                JobProblem.id, JobProblem.row, JobProblem.column, JobProblem.message
            )
            .where(JobProblem.job == job_id, JobProblem.id > last_id)
            .order_by(JobProblem.id)
            .limit(1000)
        )
        for row in rows:
            writer.writerow([row["row"], row["column"], formula_safe(row["message"])])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        if len(rows) < 1000:
            return
        last_id = rows[-1]["id"]


def formula_safe(value: str) -> str:
    """A cell a spreadsheet will show as text, never run as a formula (OWASP's CSV injection
    advice: a leading =, +, -, @, tab or carriage return gets a quote before it)."""
    return f"'{value}" if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


# --- files ----------------------------------------------------------------------------------


async def save_file(
    company_id: int, name: str, chunks: AsyncIterator[bytes], meta: dict[str, Any] | None = None
) -> int:
    """Stores a file in parts of FILE_PART_BYTES, with what reading it found (`meta`); returns
    its ID."""
    async for transaction in write_transactions():
        async with transaction:
            new_file = JobFile(company=company_id, name=name[:255], meta=json.dumps(meta or {}))
            rows = await JobFile.insert(new_file).returning(JobFile.id)
            file_id = rows[0]["id"]
            size = 0
            position = 0
            pending = b""
            async for chunk in chunks:
                pending += chunk
                size += len(chunk)
                while len(pending) >= FILE_PART_BYTES:
                    await JobFilePart.insert(
                        JobFilePart(file=file_id, position=position, data=pending[:FILE_PART_BYTES])
                    )
                    pending = pending[FILE_PART_BYTES:]
                    position += 1
            if pending:
                await JobFilePart.insert(JobFilePart(file=file_id, position=position, data=pending))
            await JobFile.update({JobFile.size: size}).where(JobFile.id == file_id)
    return file_id


async def result_file(company_id: int, job_id: int, actor: Actor) -> dict[str, Any]:
    """The file a finished job made (an export), for its download."""
    job = await get(company_id, job_id, actor)
    if job.result_file is None:
        raise NotFound
    return await file_info(company_id, job.result_file)


async def file_info(company_id: int, file_id: int) -> dict[str, Any]:
    """The file's ID, name, size and `meta` (decoded)."""
    row = await company_row(
        JobFile, company_id, file_id, JobFile.id, JobFile.name, JobFile.size, JobFile.meta
    )
    return {**row, "meta": json.loads(row["meta"])}


async def update_file_meta(company_id: int, file_id: int, meta: dict[str, Any]) -> None:
    async for transaction in write_transactions():
        async with transaction:
            await JobFile.update({JobFile.meta: json.dumps(meta)}).where(
                JobFile.id == file_id, JobFile.company == company_id
            )


async def local_chunks(path: Path) -> AsyncIterator[bytes]:
    """A local file's bytes, a part at a time, read off the event loop."""
    with path.open("rb") as file:
        while chunk := await anyio.to_thread.run_sync(file.read, FILE_PART_BYTES):
            yield chunk


@contextlib.asynccontextmanager
async def local_copy(file_id: int) -> AsyncIterator[Path]:
    """The stored file as a local temporary file, for reading it with ordinary file functions;
    removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="portal-job-") as folder:
        path = Path(folder) / "file"
        with path.open("wb") as file:
            async for part in file_parts(file_id):
                await anyio.to_thread.run_sync(file.write, part)
        yield path


async def file_parts(file_id: int) -> AsyncIterator[bytes]:
    """The file's bytes, a part at a time."""
    position = 0
    while True:
        row = (
            await JobFilePart.select(JobFilePart.data)
            .where(JobFilePart.file == file_id, JobFilePart.position == position)
            .first()
        )
        if row is None:
            return
        yield bytes(row["data"])
        position += 1


async def drop_result(company_id: int, job_id: int) -> None:
    """The file a job made goes, before its files' time is up (an export of personal data
    whose download has expired); the job stays, without a file."""
    async for transaction in write_transactions():
        async with transaction:
            await _delete_results(company_id, [job_id])
            await Job.update({Job.result_file: None}).where(
                Job.id == job_id, Job.company == company_id
            )


async def _delete_results(company_id: int, job_ids: list[int]) -> None:
    await JobFile.delete().where(
        JobFile.company == company_id,
        JobFile.id.is_in(
            Job.select(Job.result_file).where(Job.company == company_id, Job.id.is_in(job_ids))
        ),
    )


async def forget(company_id: int, job_ids: Iterable[int], keys: Iterable[str] = ()) -> None:
    """Inside the caller's write transaction, when a person's data is erased: the jobs
    `job_ids` go with the files they made (exports of that person's data), and the values
    (`keys`: an email, a username) that any of the company's jobs met (JobRun.first_rows) are
    forgotten."""
    ids = sorted(set(job_ids))
    if ids:
        await _delete_results(company_id, ids)
        await Job.delete().where(Job.company == company_id, Job.id.is_in(ids))
    wanted = sorted(set(keys))
    if wanted:
        await JobKey.delete().where(
            JobKey.key.is_in(wanted),
            JobKey.job.is_in(Job.select(Job.id).where(Job.company == company_id)),
        )


async def delete_old_files() -> None:
    cutoff = datetime.now(UTC) - timedelta(days=FILES_KEPT_DAYS)
    async for transaction in write_transactions():
        async with transaction:
            await JobFile.delete().where(JobFile.created_at < cutoff)


# --- running --------------------------------------------------------------------------------


class JobRun:
    """A claimed job, as its handler sees it."""

    def __init__(self, row: dict, runner: str) -> None:
        self.id: int = row["id"]
        self.company_id: int = row["company"]
        self.kind: str = row["kind"]
        self.payload: dict[str, Any] = json.loads(row["payload"])
        self.checkpoint: dict[str, Any] = json.loads(row["checkpoint"])
        self.actor = _actor_of(row["actor"])
        self.total: int = row["total"]
        self.done: int = row["done"]
        self.failed: int = row["failed"]
        self.runner = runner
        self.watchers: list[Callable[[JobRun], None]] = []

    async def save_result(self, name: str, chunks: AsyncIterator[bytes]) -> None:
        """Keeps the file the job made (an export) for its download."""
        file_id = await save_file(self.company_id, name, chunks)
        await Job.update({Job.result_file: file_id}).where(Job.id == self.id)

    async def first_rows(self, keys: Iterable[str]) -> dict[str, int]:
        """Of `keys`, those an earlier step met, with the row it met each on."""
        wanted = sorted(set(keys))
        if not wanted:
            return {}
        rows = await JobKey.select(JobKey.key, JobKey.row).where(
            JobKey.job == self.id, JobKey.key.is_in(wanted)
        )
        return {row["key"]: row["row"] for row in rows}

    async def set_total(self, total: int) -> None:
        self.total = total
        await Job.update({Job.total: total}).where(Job.id == self.id)

    async def step(
        self,
        *,
        done: int = 0,
        failed: int = 0,
        checkpoint: dict[str, Any] | None = None,
        problems: Iterable[Problem] = (),
        keys: dict[str, int] | None = None,
    ) -> None:
        """Inside the step's write transaction, last: records its progress, problems,
        checkpoint and the keys it met (see `first_rows`) with the rows it wrote. Raises
        Cancelled (rolling the step back) when staff cancelled the job, and Unavailable when
        another runner took it over."""
        if checkpoint is not None:
            self.checkpoint = checkpoint
        rows = (
            await Job.update(
                {
                    Job.done: Job.done + done,
                    Job.failed: Job.failed + failed,
                    Job.checkpoint: json.dumps(self.checkpoint),
                    Job.claimed_at: datetime.now(UTC),
                }
            )
            .where(Job.id == self.id, Job.claimed_by == self.runner, Job.status == "running")
            .returning(Job.status)
        )
        if not rows:
            status = await Job.select(Job.status).where(Job.id == self.id).first()
            if status and status["status"] == "cancelled":
                raise Cancelled
            raise Unavailable("The job", "another runner took it over", retry_after=1)
        found = list(problems)
        if found:
            await JobProblem.insert(
                *(
                    JobProblem(
                        job=self.id,
                        row=problem.row,
                        column=problem.column[:100],
                        message=str(problem.message),
                    )
                    for problem in found
                )
            )
        if keys:
            await insert_rows(
                JobKey,
                (JobKey.job, JobKey.key, JobKey.row),
                [(self.id, k, r) for k, r in keys.items()],
            )
        self.done += done
        self.failed += failed
        for watcher in self.watchers:
            watcher(self)


_CLAIMABLE = (
    "(status = 'queued' OR (status = 'running' AND (claimed_at IS NULL OR claimed_at < {})))"
)


async def _claim(runner: str, job_id: int | None = None) -> JobRun | None:
    now = datetime.now(UTC)
    stale = now - timedelta(seconds=LEASE_SECONDS)
    chosen = "id = {}" if job_id is not None else "TRUE"
    params: list[Any] = [job_id] if job_id is not None else []
    async for transaction in write_transactions():
        async with transaction:
            # Fixed SQL fragments; the values travel as parameters.
            rows = await Job.raw(
                "UPDATE job SET status = 'running', claimed_by = {}, claimed_at = {}, "  # noqa: S608
                "started_at = COALESCE(started_at, {}) "
                f"WHERE id = (SELECT id FROM job WHERE {chosen} AND {_CLAIMABLE} "
                f"ORDER BY id LIMIT 1{skip_locked()}) RETURNING *",
                runner,
                now,
                now,
                *params,
                stale,
            )
    return JobRun(rows[0], runner) if rows else None


async def _finish(run: JobRun, status: str, message: str) -> None:
    async for transaction in write_transactions():
        async with transaction:
            await Job.update(
                {
                    Job.status: status,
                    Job.message: message,
                    Job.finished_at: datetime.now(UTC),
                    Job.claimed_by: None,
                }
            ).where(Job.id == run.id, Job.claimed_by == run.runner, Job.status == "running")


async def _run(run: JobRun) -> None:
    handler = _handlers.get(run.kind)
    if handler is None:
        # A job of a kind this process does not know (a plugin not installed here): left for
        # a runner that does.
        return
    heartbeat = asyncio.create_task(_keep_claim(run))
    try:
        message = await handler(run)
    except Cancelled:
        return
    except (ValidationError, Forbidden, NotFound) as error:
        text = (
            "; ".join(str(m) for m in error.errors.values())
            if isinstance(error, ValidationError)
            else str(N_("The job is no longer allowed or its data is gone."))
        )
        await _finish(run, "failed", text)
        return
    except Unavailable:
        raise  # the claim goes stale and a runner takes the job up again from its checkpoint
    except Exception:
        logger.exception("Job %s (%s) failed", run.id, run.kind)
        await _finish(run, "failed", str(N_("The job stopped on an unexpected error.")))
        return
    finally:
        heartbeat.cancel()
    await _finish(run, "done", message)


async def _keep_claim(run: JobRun) -> None:
    """Renews the claim while the handler works, so that a long step (an export's ZIP) is not
    taken for the work of a runner that died."""
    while True:
        await asyncio.sleep(LEASE_SECONDS / 3)
        with contextlib.suppress(Unavailable):
            async for transaction in write_transactions():
                async with transaction:
                    await Job.update({Job.claimed_at: datetime.now(UTC)}).where(
                        Job.id == run.id, Job.claimed_by == run.runner, Job.status == "running"
                    )


def runner_name() -> str:
    return uuid.uuid4().hex[:16]


async def run_job(job_id: int, watcher: Callable[[JobRun], None] | None = None) -> JobView:
    """Runs one job in this process (the command line), whatever its kind; returns how it
    ended."""
    run = await _claim(runner_name(), job_id)
    if run is not None:
        if watcher is not None:
            run.watchers.append(watcher)
        await _run(run)
    row = await Job.select().where(Job.id == job_id).first()
    assert row is not None
    return from_row(JobView, row)


async def run_forever() -> None:
    """The server's job runner: one job at a time, woken when this process queues one, and
    otherwise looking every POLL_SECONDS for jobs others queued or left behind.
    PORTAL_JOBS_IN_SERVER=0 leaves the jobs to other processes (the tests run their own)."""
    if not get_settings().jobs_in_server:
        return
    await run_jobs()


async def run_jobs() -> None:
    """Runs jobs until cancelled (see run_forever)."""
    runner = runner_name()
    while True:
        try:
            run = await _claim(runner)
            if run is not None:
                await _run(run)
                continue
        except Unavailable:
            pass  # the database is down or busy: the next round tries again
        except Exception:
            logger.exception("The job runner failed")
        _work_queued.clear()
        try:
            await asyncio.wait_for(_work_queued.wait(), timeout=POLL_SECONDS)
        except TimeoutError:
            pass
