"""The mail worker: sends queued mailings in batches, at a set rate, over SMTP (one connection
per batch) or into the outbox when no SMTP server is configured.

It runs inside the server (started by the app's lifespan) and, as its own process, with
`portal mailer run`. Several workers may run at once: each claims its rows atomically.

## Each message at most once, and after a crash the rest still goes out

1. **Claim.** A worker takes up to a batch of `pending` rows in one write transaction
   (`UPDATE … SET claimed_by = me … WHERE status = 'pending' AND id IN (… LIMIT n) RETURNING`;
   `FOR UPDATE SKIP LOCKED` on PostgreSQL). The rows stay `pending`; the claim is a lease: a
   claim older than PORTAL_MAILER_LEASE_SECONDS may be taken over (its worker died).
2. **Sending.** Just before a message goes to the SMTP server, its row turns `sending` in its
   own committed transaction — and only if it is still `pending`, still ours, and (marketing)
   its person still has consent with that address (the client for its primary contact, the
   billing or other contact for itself) and the address is not suppressed: the check at send
   time is part of that same UPDATE. A row another worker took over is left
   alone, so two workers never send the same row.
3. **Sent.** As soon as the server has answered 250 to the message's DATA, the row turns
   `sent` in its own transaction.
4. **Restart.** Rows still `pending` under a stale claim are simply claimed again: they were
   never handed to SMTP. A row left in `sending` (claim stale) is the one uncertain case: the
   worker stopped between step 2 and step 3, and the server may or may not have accepted the
   message. It is treated conservatively: marked `failed` with UNCERTAIN_ERROR and **not sent
   again**.

The window that remains, honestly: a crash (or a lost connection) after the server accepted
the DATA but before step 3 committed leaves a delivered message marked failed; a crash after
step 2 but before the server accepted the DATA leaves an undelivered message marked failed.
Either way nobody gets a second copy, and each such window is one SMTP exchange (about a
millisecond on a local relay) per worker. Closing it entirely would need the SMTP server to
deduplicate on our deterministic Message-ID (`<mailing-{job}-recipient-{id}@domain>`), which
relays do not promise.

The mail log (portal.mail's MailMessage, kind "marketing" or "service") gets one row per
message sent, written per batch with multi-row INSERTs; a row whose log entry a crash
prevented is logged by the recovery step.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiosmtplib
import anyio.to_thread
import click

from portal.companies.services import mail_identity
from portal.core.config import env_flag, get_settings
from portal.core.db import skip_locked, write_transactions
from portal.core.errors import ValidationError
from portal.core.placeholders import placeholders
from portal.core.rows import from_row
from portal.core.workers import run_as_process, run_command, run_steps
from portal.mail import services as mail
from portal.plugins.mass_mailer import services
from portal.plugins.mass_mailer.messages import (
    CompiledMessage,
    Compose,
    compile_off_loop,
    render,
    smtp_address,
    template_context,
)
from portal.plugins.mass_mailer.tables import MailingRecipient

logger = logging.getLogger("portal.mailer")


def _env_number(name: str, default: float) -> float:
    value = os.environ.get(name)
    if not value:
        return default
    try:
        number = float(value)
    except ValueError:
        raise SystemExit(f"{name} must be a number, not {value!r}") from None
    if number <= 0:
        raise SystemExit(f"{name} must be above 0")
    return number


@dataclass(frozen=True)
class MailerSettings:
    """The worker's knobs, from the environment (see README)."""

    rate: float  # messages a second, per worker
    batch_size: int  # messages per claim and per SMTP connection
    lease_seconds: float  # after this, another worker may take over a claim
    retry_seconds: float  # first retry delay; doubles per attempt
    max_attempts: int
    poll_seconds: float  # idle wait between looks for work
    connections: int = 1  # SMTP connections a batch is sent over at once

    @classmethod
    def from_env(cls) -> MailerSettings:
        return cls(
            rate=_env_number("PORTAL_MAILER_RATE", 50),
            batch_size=int(_env_number("PORTAL_MAILER_BATCH", 100)),
            lease_seconds=_env_number("PORTAL_MAILER_LEASE_SECONDS", 120),
            retry_seconds=_env_number("PORTAL_MAILER_RETRY_SECONDS", 60),
            max_attempts=int(_env_number("PORTAL_MAILER_MAX_ATTEMPTS", 5)),
            poll_seconds=_env_number("PORTAL_MAILER_POLL_SECONDS", 1),
            connections=int(_env_number("PORTAL_MAILER_CONNECTIONS", 1)),
        )


class RateLimiter:
    """At most `rate` messages a second, on average, without bursts above it."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self.next_at = time.monotonic()

    def due(self) -> bool:
        return time.monotonic() >= self.next_at

    async def wait(self, count: int = 1) -> None:
        """Takes the next slot (several senders share one limiter), then waits for it."""
        now = time.monotonic()
        slot = max(self.next_at, now - self.interval)
        self.next_at = slot + self.interval * count
        if slot > now:
            await asyncio.sleep(slot - now)


# --- the database, through the core's engine -------------------------------------------------


async def _fetch(sql: str, *params: Any) -> list[dict]:
    """One statement (Piccolo's `{}` placeholders), on its own or in the open transaction."""
    return await MailingRecipient.raw(sql, *params)


async def _transact(*statements: tuple[str, list[Any]]) -> list[list[dict]]:
    """The statements in one write transaction; their rows, statement by statement."""
    async for transaction in write_transactions():
        async with transaction:
            results = [await _fetch(sql, *params) for sql, params in statements]
    return results


# --- the worker --------------------------------------------------------------------------------


@dataclass
class Claimed:
    id: int
    client: int
    contact: int | None  # a billing or other contact; None: the client's primary contact
    email: str
    attempts: int
    unsubscribe_token: str | None

    @property
    def person(self) -> tuple[int, int | None]:
        return (self.client, self.contact)


@dataclass
class JobInfo:
    id: int
    company_id: int
    company_name: str
    kind: str
    compiled: CompiledMessage
    html_header: str  # the company's logo and name, atop an HTML part


def _now() -> datetime:
    return datetime.now(UTC)


class TemporaryFailure(Exception):
    """The server refused for now (4xx), or the connection broke before the message was
    complete: the message was not accepted and may be tried again."""


class PermanentFailure(Exception):
    """The server refused for good (5xx)."""


class Uncertain(Exception):
    """The connection broke after the message was sent but before the server answered."""


def _refusal(error: aiosmtplib.SMTPResponseException) -> Exception:
    text = f"{error.code} {error.message}"[:500]
    return PermanentFailure(text) if 500 <= error.code < 600 else TemporaryFailure(text)


class SmtpSender:
    """One SMTP connection, for one batch."""

    def __init__(self, url: str) -> None:
        self.smtp = aiosmtplib.SMTP(**mail.smtp_options(url))

    async def __aenter__(self) -> SmtpSender:
        await self.smtp.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            if self.smtp.is_connected:
                await self.smtp.quit()
        self.smtp.close()

    async def send(self, sender: str, recipient: str, message: bytes) -> None:
        """Raises TemporaryFailure, PermanentFailure or Uncertain; returns once the server
        accepted the message."""

        async def envelope() -> None:
            await self.smtp.mail(sender)
            await self.smtp.rcpt(recipient)

        await self._command(
            envelope(), lambda error: TemporaryFailure(f"connection lost: {error}"[:500])
        )
        await self._command(
            self.smtp.data(message),
            lambda error: Uncertain(f"{services.UNCERTAIN_ERROR} ({error})"[:500]),
        )

    async def _command(
        self, command: Awaitable[object], lost: Callable[[Exception], Exception]
    ) -> None:
        """A step of sending: the server's refusal ends the mail transaction (RSET) and is a
        PermanentFailure (5xx) or a TemporaryFailure; the connection lost is `lost(error)`."""
        try:
            await command
        except aiosmtplib.SMTPResponseException as error:
            with contextlib.suppress(Exception):
                await self.smtp.rset()
            raise _refusal(error) from None
        except (aiosmtplib.SMTPException, OSError) as error:
            raise lost(error) from None


# Rows a worker may still send: pending, claimed by it. For marketing, the row's person must
# still have consent with this address and the address must not be suppressed: a row without a
# contact is the client's primary contact (the client opted in), one with a contact is that
# billing or other contact of the client (the contact opted in itself). For service mail, the
# address must still be the person's and not bounced.
STILL_WANTED = {
    kind: (
        "((mailer_recipient.contact IS NULL AND EXISTS (SELECT 1 FROM client c "  # noqa: S608 - placeholders and fixed SQL only
        "JOIN contact ct ON ct.client = c.id AND ct.contact_type = 'primary' "
        "WHERE c.id = mailer_recipient.client AND lower(ct.email) = mailer_recipient.email"
        + (" AND c.marketing_opt_in = {}" if kind == "marketing" else "")
        + " AND "
        + services.suppression_clause(kind)[0]
        + ")) OR (mailer_recipient.contact IS NOT NULL AND EXISTS (SELECT 1 FROM client c "
        "JOIN contact oc ON oc.client = c.id AND oc.contact_type IN ('billing', 'other') "
        "WHERE c.id = mailer_recipient.client AND oc.id = mailer_recipient.contact "
        "AND lower(oc.email) = mailer_recipient.email"
        + (" AND oc.marketing_opt_in = {}" if kind == "marketing" else "")
        + " AND "
        + services.suppression_clause(kind, "oc.email", services.CONTACT_CONSENT)[0]
        + ")))"
    )
    for kind in services.KINDS
}


def _wanted_params(kind: str) -> list[Any]:
    consent = [True] if kind == "marketing" else []
    return (
        consent
        + services.suppression_clause(kind)[1]
        + consent
        + services.suppression_clause(kind, "oc.email", services.CONTACT_CONSENT)[1]
    )


class Worker:
    def __init__(self, settings: MailerSettings | None = None) -> None:
        self.settings = settings or MailerSettings.from_env()
        self.id = uuid.uuid4().hex
        self.limiter = RateLimiter(self.settings.rate)
        self.jobs: dict[int, JobInfo] = {}
        self.last_recovery = 0.0
        self.sent_total = 0

    # -- lifecycle --

    async def __aenter__(self) -> Worker:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.release_claims()

    async def run_forever(self, stop: asyncio.Event | None = None) -> None:
        await run_steps(
            self.step,
            stop,
            poll_seconds=self.settings.poll_seconds,
            logger=logger,
            failure="Mail worker step failed",
        )

    async def run_until_idle(self) -> int:
        """Sends until no job has anything left to send now; returns the messages sent."""
        before = self.sent_total
        while await self.step():
            pass
        return self.sent_total - before

    async def step(self) -> bool:
        """One batch of one job; False when there was nothing to do."""
        if time.monotonic() - self.last_recovery > min(30.0, self.settings.lease_seconds / 2):
            await self.recover()
            self.last_recovery = time.monotonic()
        jobs = await _fetch(
            "SELECT id FROM mailer_job WHERE status IN ('queued', 'sending') ORDER BY id"
        )
        for row in jobs:
            batch = await self.claim(row["id"])
            if batch:
                job = await self.job(row["id"])
                await self.send_batch(job, batch)
                return True
            await self.finish_if_done(row["id"])
        return False

    # -- claiming --

    async def claim(self, job_id: int) -> list[Claimed]:
        now = _now()
        stale = now - timedelta(seconds=self.settings.lease_seconds)
        async for transaction in write_transactions():
            async with transaction:
                # The rows are picked once, in a CTE: PostgreSQL may run an `IN (subquery
                # … SKIP LOCKED)` again for rows that changed under it, and one claim then took
                # most of a mailing, leaving the other workers nothing.
                rows = await _fetch(
                    "WITH picked AS (SELECT id FROM mailer_recipient "  # noqa: S608 - placeholders and fixed SQL only
                    "WHERE job = {} AND status = 'pending' "
                    "AND (next_attempt_at IS NULL OR next_attempt_at <= {}) "
                    "AND (claimed_by IS NULL OR claimed_by = {} OR claimed_at < {}) "
                    f"ORDER BY id LIMIT {{}}{skip_locked()}) "
                    "UPDATE mailer_recipient SET claimed_by = {}, claimed_at = {} "
                    "WHERE status = 'pending' AND id IN (SELECT id FROM picked) "
                    "RETURNING id, client, contact, email, attempts, unsubscribe_token",
                    job_id,
                    now,
                    self.id,
                    stale,
                    self.settings.batch_size,
                    self.id,
                    now,
                )
                if rows:
                    await _fetch(
                        "UPDATE mailer_job SET status = 'sending', started_at = {} "
                        "WHERE id = {} AND status = 'queued'",
                        now,
                        job_id,
                    )
        return sorted(
            (from_row(Claimed, row) for row in rows),
            key=lambda c: c.id,
        )

    async def release_claims(self) -> None:
        """Hands back what this worker claimed and did not send (on a clean stop)."""
        with contextlib.suppress(Exception):
            async for transaction in write_transactions():
                async with transaction:
                    await _fetch(
                        "UPDATE mailer_recipient SET claimed_by = NULL, claimed_at = NULL "
                        "WHERE claimed_by = {} AND status = 'pending'",
                        self.id,
                    )

    async def job(self, job_id: int) -> JobInfo:
        if job_id not in self.jobs:
            rows = await _fetch(
                "SELECT j.*, co.name AS company_name FROM mailer_job j "
                "JOIN company co ON co.id = j.company WHERE j.id = {}",
                job_id,
            )
            row = rows[0]
            compiled, errors = await compile_off_loop(from_row(Compose, row), row["kind"])
            if compiled is None:  # checked when queued; a template cannot go bad since
                raise ValidationError(errors)
            self.jobs[job_id] = JobInfo(
                id=job_id,
                company_id=row["company"],
                company_name=row["company_name"],
                kind=row["kind"],
                compiled=compiled,
                html_header=mail.html_header(await mail_identity(row["company"])),
            )
        return self.jobs[job_id]

    async def finish_if_done(self, job_id: int) -> None:
        rows = await _fetch(
            "SELECT count(*) AS n FROM mailer_recipient "
            "WHERE job = {} AND status IN ('pending', 'sending')",
            job_id,
        )
        if rows[0]["n"] == 0:
            async for transaction in write_transactions():
                async with transaction:
                    await _fetch(
                        "UPDATE mailer_job SET status = 'done', finished_at = {} "
                        "WHERE id = {} AND status IN ('queued', 'sending')",
                        _now(),
                        job_id,
                    )
            self.jobs.pop(job_id, None)

    # -- sending --

    async def people(self, rows: list[Claimed]) -> dict[tuple[int, int | None], dict]:
        """Whom the rows are for, by (client, contact): the client's code and language with
        the name, company, address and country of its primary contact (rows without a
        contact) or of the row's billing or other contact."""
        found: dict[tuple[int, int | None], dict] = {}
        client_ids = sorted({row.client for row in rows if row.contact is None})
        contact_ids = sorted({row.contact for row in rows if row.contact is not None})
        if client_ids:
            for person in await _fetch(
                "SELECT c.id, c.code, c.language, ct.first_name, ct.last_name, ct.company, "  # noqa: S608 - placeholders and fixed SQL only
                "ct.email, ct.country FROM client c JOIN contact ct ON ct.client = c.id "
                "AND ct.contact_type = 'primary' "
                f"WHERE c.id IN ({placeholders(len(client_ids))})",
                *client_ids,
            ):
                found[(person["id"], None)] = person
        if contact_ids:
            for person in await _fetch(
                "SELECT c.id, oc.id AS contact, c.code, c.language, oc.first_name, "  # noqa: S608 - placeholders and fixed SQL only
                "oc.last_name, oc.company, oc.email, oc.country FROM contact oc "
                "JOIN client c ON c.id = oc.client "
                "WHERE oc.contact_type IN ('billing', 'other') "
                f"AND oc.id IN ({placeholders(len(contact_ids))})",
                *contact_ids,
            ):
                found[(person["id"], person["contact"])] = person
        return found

    def prepare(self, job: JobInfo, row: Claimed, client: dict | None) -> Any:
        """(rendered message, email) for a row, or None when it cannot be rendered. `client`:
        the row's person (see `people`)."""
        if client is None or client["email"].lower() != row.email:
            return None
        to = smtp_address(client["email"])
        if to is None:
            raise ValidationError({"": "The address needs SMTPUTF8, which is not supported."})
        url = None
        if job.kind == "marketing":
            if not row.unsubscribe_token:  # every row has one (see the migrations)
                raise ValidationError({"": "The message has no unsubscribe link."})
            url = services.unsubscribe_url(row.unsubscribe_token)
        rendered = render(job.compiled, template_context(client, job.company_name, url))
        message = services.build_email(
            job.compiled,
            rendered,
            to=to,
            job_id=job.id,
            recipient_id=row.id,
            unsubscribe_url=url,
            html_header=job.html_header,
        )
        return rendered, message

    async def prepare_rows(
        self, job: JobInfo, rows: list[Claimed], people: dict[tuple[int, int | None], dict]
    ) -> list[tuple[Claimed, Any, ValidationError | None]]:
        """`prepare` for each row, in a worker thread (rendering is bounded, but not free):
        (row, prepared or None, the reason it cannot be)."""

        def prepare_each() -> list[tuple[Claimed, Any, ValidationError | None]]:
            results = []
            for row in rows:
                try:
                    results.append((row, self.prepare(job, row, people.get(row.person)), None))
                except ValidationError as error:
                    results.append((row, None, error))
            return results

        return await anyio.to_thread.run_sync(prepare_each)

    def _sent_statement(self, row: Claimed) -> tuple[str, list[Any]]:
        return (
            "UPDATE mailer_recipient SET status = 'sent', error = '', sent_at = {} "
            "WHERE id = {} AND claimed_by = {}",
            [_now(), row.id, self.id],
        )

    async def begin_sending(
        self, job: JobInfo, row: Claimed, accepted: Claimed | None = None
    ) -> bool:
        """Step 2: pending -> sending, if still ours and still wanted (False: it is skipped).
        `accepted`, the message the server has just accepted, is marked sent (step 3) in the
        same transaction: one commit a message when sending flat out."""
        statements = [self._sent_statement(accepted)] if accepted is not None else []
        statements.append(
            (
                "UPDATE mailer_recipient SET status = 'sending', attempts = attempts + 1, "  # noqa: S608 - placeholders and fixed SQL only
                "claimed_at = {} WHERE id = {} AND status = 'pending' AND claimed_by = {} AND "
                + STILL_WANTED[job.kind]
                + " RETURNING id",
                [_now(), row.id, self.id, *_wanted_params(job.kind)],
            )
        )
        results = await _transact(*statements)
        if results[-1]:
            return True
        await self.skip([row.id], "No longer wanted")
        return False

    async def skip(self, ids: list[int], reason: str) -> None:
        """Claimed rows that must not be sent (opted out, address changed or suppressed since
        the mailing was queued). Rows another worker took over are left alone."""
        if not ids:
            return
        await _fetch(
            "UPDATE mailer_recipient SET status = 'skipped', error = {} "  # noqa: S608 - placeholders and fixed SQL only
            f"WHERE claimed_by = {{}} AND status = 'pending' AND id IN "
            f"({placeholders(len(ids))})",
            f"{reason}: opted out, address changed or suppressed since the mailing was queued.",
            self.id,
            *ids,
        )

    async def mark(self, row: Claimed, status: str, error: str = "", retry: bool = False) -> None:
        if retry:
            delay = self.settings.retry_seconds * 2 ** max(0, row.attempts)
            statement = (
                "UPDATE mailer_recipient SET status = 'pending', claimed_by = NULL, "
                "claimed_at = NULL, next_attempt_at = {}, error = {} "
                "WHERE id = {} AND claimed_by = {}",
                [_now() + timedelta(seconds=delay), error, row.id, self.id],
            )
        elif status == "sent":
            statement = self._sent_statement(row)
        else:
            statement = (
                "UPDATE mailer_recipient SET status = {}, error = {} "
                "WHERE id = {} AND claimed_by = {}",
                [status, error, row.id, self.id],
            )
        await _transact(statement)

    async def send_batch(self, job: JobInfo, batch: list[Claimed]) -> None:
        people = await self.people(batch)
        prepared: list[tuple[Claimed, Any]] = []
        unwanted: list[int] = []
        for row, ready, problem in await self.prepare_rows(job, batch, people):
            if problem is not None:
                await self.mark(row, "failed", "; ".join(problem.errors.values())[:500])
            elif ready is None:
                unwanted.append(row.id)
            else:
                prepared.append((row, ready))
        if unwanted:
            async for transaction in write_transactions():
                async with transaction:
                    await self.skip(unwanted, "Not sent")
        smtp_url = get_settings().smtp_url
        if smtp_url:
            logged = await self.send_smtp(job, prepared, smtp_url)
        else:
            logged = await self.send_outbox(job, prepared)
        await self.log(job, logged)
        await self.finish_if_done(job.id)

    async def send_outbox(self, job: JobInfo, prepared: list[tuple[Claimed, Any]]) -> list[Any]:
        """No SMTP server: the messages go to the outbox (the mail log), at the same rate."""
        logged = []
        chunk = max(1, min(len(prepared), int(self.settings.rate)))
        for start in range(0, len(prepared), chunk):
            part = prepared[start : start + chunk]
            await self.limiter.wait(len(part))
            now = _now()
            async for transaction in write_transactions():
                async with transaction:
                    done = await _fetch(
                        "UPDATE mailer_recipient SET status = 'sent', sent_at = {}, "  # noqa: S608 - placeholders and fixed SQL only
                        "attempts = attempts + 1 WHERE claimed_by = {} AND status = 'pending' "
                        f"AND id IN ({placeholders(len(part))}) AND "
                        + STILL_WANTED[job.kind]
                        + " RETURNING id",
                        now,
                        self.id,
                        *(row.id for row, _ in part),
                        *_wanted_params(job.kind),
                    )
                    sent_ids = {r["id"] for r in done}
                    await self.skip(
                        [row.id for row, _ in part if row.id not in sent_ids], "Not sent"
                    )
            for row, (rendered, message) in part:
                if row.id in sent_ids:
                    logged.append((row, rendered, message, "outbox", now))
            self.sent_total += len(sent_ids)
        return logged

    async def send_smtp(
        self, job: JobInfo, prepared: list[tuple[Claimed, Any]], smtp_url: str
    ) -> list[Any]:
        """The batch over PORTAL_MAILER_CONNECTIONS connections at once (the rate is shared):
        while one waits for the server's answer another can go on."""
        logged: list[Any] = []
        count = max(1, min(self.settings.connections, len(prepared)))
        await asyncio.gather(
            *(
                self.send_over_connection(job, prepared[index::count], smtp_url, logged)
                for index in range(count)
            )
        )
        return logged

    async def send_over_connection(
        self, job: JobInfo, prepared: list[tuple[Claimed, Any]], smtp_url: str, logged: list
    ) -> None:
        remaining = list(prepared)
        accepted: Claimed | None = None  # accepted by the server, not yet marked sent
        try:
            async with SmtpSender(smtp_url) as sender:
                while remaining:
                    row, (rendered, message) = remaining[0]
                    if accepted is not None and not self.limiter.due():
                        await self.mark(accepted, "sent")  # step 3 now, not after the pause
                        accepted = None
                    await self.limiter.wait()
                    wanted = await self.begin_sending(job, row, accepted)
                    accepted = None
                    remaining.pop(0)
                    if not wanted:
                        continue
                    try:
                        await sender.send(message.sender, message.to, message.data)
                    except TemporaryFailure as error:
                        attempts_left = row.attempts + 1 < self.settings.max_attempts
                        await self.mark(row, "failed", str(error), retry=attempts_left)
                        if "connection lost" in str(error):
                            break
                        continue
                    except PermanentFailure as error:
                        await self.mark(row, "failed", str(error))
                        continue
                    except Uncertain as error:
                        await self.mark(row, "failed", str(error))
                        break
                    accepted = row  # step 3 follows at once, alone or with the next step 2
                    self.sent_total += 1
                    logged.append((row, rendered, message, "sent", _now()))
        except (aiosmtplib.SMTPException, OSError) as error:
            logger.warning("SMTP server unreachable (%s); retrying later", error)
        finally:
            if accepted is not None:
                await self.mark(accepted, "sent")
        if remaining:
            # Not attempted: hand the rows back for the next batch, after a pause.
            await self.release([row.id for row, _ in remaining])
            await asyncio.sleep(min(5.0, self.settings.retry_seconds))

    async def release(self, ids: list[int]) -> None:
        async for transaction in write_transactions():
            async with transaction:
                await _fetch(
                    "UPDATE mailer_recipient SET claimed_by = NULL, claimed_at = NULL "  # noqa: S608 - placeholders and fixed SQL only
                    f"WHERE claimed_by = {{}} AND status = 'pending' AND id IN "
                    f"({placeholders(len(ids))})",
                    self.id,
                    *ids,
                )

    async def log(self, job: JobInfo, logged: list[Any]) -> None:
        """The batch's messages in the clients' mail logs, in bulk."""
        if not logged:
            return
        await mail.log_messages(
            job.company_id,
            [
                mail.LoggedMail(
                    client_id=row.client,
                    kind=job.kind,
                    from_address=message.from_header,
                    to=message.to,
                    subject=rendered.subject,
                    body_text=rendered.body_text,
                    status=status,
                    sent_at=at,
                )
                for row, rendered, message, status, at in logged
            ],
        )
        ids = [row.id for row, *_ in logged]
        async for transaction in write_transactions():
            async with transaction:
                await _fetch(
                    "UPDATE mailer_recipient SET logged = {} "  # noqa: S608 - placeholders and fixed SQL only
                    f"WHERE id IN ({placeholders(len(ids))})",
                    True,
                    *ids,
                )

    # -- after a crash --

    async def recover(self) -> None:
        """Step 4 of the module's description: rows left `sending` by a worker that stopped
        are marked failed and not sent again; sent rows a crash kept out of the mail log are
        logged."""
        stale = _now() - timedelta(seconds=self.settings.lease_seconds)
        async for transaction in write_transactions():
            async with transaction:
                await _fetch(
                    "UPDATE mailer_recipient SET status = 'failed', error = {} "
                    "WHERE status = 'sending' AND claimed_at < {}",
                    services.UNCERTAIN_ERROR,
                    stale,
                )
        unlogged = await _fetch(
            "SELECT id, job, client, contact, email, attempts, unsubscribe_token "
            "FROM mailer_recipient "
            "WHERE status = 'sent' AND logged = {} AND claimed_at < {} ORDER BY id LIMIT 1000",
            False,
            stale,
        )
        by_job: dict[int, list[Claimed]] = {}
        for r in unlogged:
            by_job.setdefault(r["job"], []).append(from_row(Claimed, r))
        for job_id, rows in by_job.items():
            job = await self.job(job_id)
            people = await self.people(rows)
            entries = [
                (row, *ready, "sent", None)
                for row, ready, _ in await self.prepare_rows(job, rows, people)
                if ready is not None
            ]
            await self.log(job, entries)
            await _fetch(
                "UPDATE mailer_recipient SET logged = {} "  # noqa: S608 - placeholders and fixed SQL only
                f"WHERE id IN ({placeholders(len(rows))})",
                True,
                *(row.id for row in rows),
            )


# --- entry points --------------------------------------------------------------------------


async def server_worker() -> None:
    """The worker inside `portal serve` (the app's lifespan runs it). PORTAL_MAILER_IN_SERVER=0
    leaves sending to `portal mailer run` processes."""
    if not env_flag("PORTAL_MAILER_IN_SERVER", default=True):
        return
    async with Worker() as worker:
        await worker.run_forever()


async def run_worker(once: bool = False) -> int:
    """`portal mailer run`: until SIGTERM/SIGINT (or, with `once`, until idle)."""

    async def work(stop: asyncio.Event) -> int:
        async with Worker() as worker:
            if once:
                return await worker.run_until_idle()
            await worker.run_forever(stop)
            return worker.sent_total

    return await run_as_process(work)


@click.group("mailer")
def mailer_command() -> None:
    """The mass mailer's worker."""


@mailer_command.command("run")
@click.option("--once", is_flag=True, help="Stop when nothing is left to send.")
def mailer_run(once: bool) -> None:
    """Send queued mailings (PORTAL_MAILER_RATE messages a second)."""
    from portal.cli import prepare

    sent = run_command(prepare, lambda: run_worker(once))
    click.echo(f"Mail worker stopped; {sent} messages sent.")
