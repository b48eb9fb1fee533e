"""Storage limitation: a company may have its clients anonymised once they have been inactive
for N months ([Settings] > [Company] > Privacy, "Anonymise clients inactive for N months";
blank: never).

A client is inactive when, for those months, nothing happened to it: it was not added or
changed, none of its logins signed in, it got no invoice, payment, credit or service. Clients
who owe money (an open invoice), have a service that is not cancelled, are marked Fraud (kept
for the company's protection) or were anonymised already are never chosen.

The server's housekeeping queues one retention run a day per company that has the setting (the
day is kept with the setting, in the same transaction, so several processes queue it once); the
run is a job that anonymises each inactive client in a transaction of its own, checking again
that it is still inactive, and logs the run, with the clients' IDs, in the data requests log.
Each client's anonymisation is audited like any other (portal.privacy.erasure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any

from portal.activity import services as activity
from portal.billing.services import add_months
from portal.companies.tables import CompanySetting
from portal.core.actors import Actor
from portal.core.db import lock_name, write_transactions
from portal.core.errors import ValidationError
from portal.core.forms import Field
from portal.core.permissions import CLIENTS_PRIVACY, COMPANY_SETTINGS
from portal.jobs import services as jobs
from portal.privacy import erasure, services
from portal.privacy.tables import DataRequest

KIND = "privacy-retention"
MONTHS_KEY = "privacy.retention_months"
QUEUED_ON_KEY = "privacy.retention_queued_on"  # the day (UTC) the last run was queued
MONTHS = Field("retention_months", "Anonymise clients inactive for N months", 4)
MAX_MONTHS = 1200
PREVIEW_ROWS = 100
CODES_LOGGED = 50  # client IDs named in a run's line of the log; the rest are counted
ACTOR = Actor(kind="system", name="Data retention")

# Clients of a company (`c`, with its primary contact `ct`) inactive since a cutoff; the
# placeholders are the company, then the cutoff six times. Fixed SQL: values are parameters.
INACTIVE_SQL = (
    "FROM client c JOIN contact ct ON ct.client = c.id AND ct.contact_type = 'primary' "
    "WHERE c.company = {} AND c.status <> 'fraud' AND c.created_at < {} AND c.updated_at < {} "
    "AND NOT EXISTS (SELECT 1 FROM data_request r WHERE r.client_id = c.id "
    "AND r.kind = 'erasure' AND r.status = 'done') "
    'AND NOT EXISTS (SELECT 1 FROM account_member m JOIN account_user u ON u.id = m."user" '
    "WHERE m.client = c.id AND u.last_login_at >= {}) "
    "AND NOT EXISTS (SELECT 1 FROM invoice i WHERE i.client = c.id "
    "AND (i.status = 'open' OR i.created_at >= {})) "
    "AND NOT EXISTS (SELECT 1 FROM billing_transaction t WHERE t.client = c.id "
    "AND t.created_at >= {}) "
    "AND NOT EXISTS (SELECT 1 FROM service s WHERE s.client = c.id "
    "AND (s.status <> 'canceled' OR s.created_at >= {})) "
)


def cutoff_of(months: int, now: datetime | None = None) -> datetime:
    """The moment `months` months before now (the start of that day, UTC)."""
    today = (now or datetime.now(UTC)).date()
    return datetime.combine(add_months(today, -months), time(), tzinfo=UTC)


def _inactive_params(company_id: int, cutoff: datetime) -> list[Any]:
    return [company_id, *[cutoff] * 6]


async def retention_months(company_id: int) -> int | None:
    value = await CompanySetting.get(company_id, MONTHS_KEY)
    return int(value) if value and value.isdigit() else None


def check_months(text: str) -> int | None:
    """The setting as typed: blank (never) or a whole number of months, 1 to MAX_MONTHS."""
    text = text.strip()
    if not text:
        return None
    errors: dict[str, str] = {}
    MONTHS.check(errors, text)
    if not errors and (not text.isdigit() or not 1 <= int(text) <= MAX_MONTHS):
        errors[MONTHS.name] = f"Enter a whole number of months from 1 to {MAX_MONTHS}, or nothing."
    if errors:
        raise ValidationError(errors)
    return int(text)


async def save_retention(company_id: int, text: str, actor: Actor) -> int | None:
    actor.require(COMPANY_SETTINGS)
    months = check_months(text)
    async for transaction in write_transactions():
        async with transaction:
            await CompanySetting.put(company_id, MONTHS_KEY, "" if months is None else str(months))
            summary = (
                f"Set clients to be anonymised after {months} months of inactivity."
                if months
                else "Turned off the anonymisation of inactive clients."
            )
            await activity.record(company_id, actor, "settings", summary)
    return months


@dataclass(frozen=True)
class Preview:
    months: int
    cutoff: datetime
    count: int
    clients: list[dict[str, Any]]  # the first PREVIEW_ROWS: id, code, name, status, created_at


async def preview(company_id: int, months: int) -> Preview:
    """Who a run would anonymise now: how many, and the first of them by client ID."""
    cutoff = cutoff_of(months)
    params = _inactive_params(company_id, cutoff)
    counted = await DataRequest.raw("SELECT count(*) AS n " + INACTIVE_SQL, *params)
    rows = await DataRequest.raw(
        "SELECT c.id, c.code, c.status, c.created_at, ct.first_name, ct.last_name "
        + INACTIVE_SQL
        + "ORDER BY c.id LIMIT {}",
        *params,
        PREVIEW_ROWS,
    )
    clients = [{**row, "name": f"{row['first_name']} {row['last_name']}".strip()} for row in rows]
    return Preview(months, cutoff, int(counted[0]["n"]), clients)


async def queue_daily_runs() -> None:
    """Housekeeping: today's run of each company that has the setting, once a day."""
    today = datetime.now(UTC).date().isoformat()
    companies = await CompanySetting.select(CompanySetting.company, CompanySetting.value).where(
        CompanySetting.key == MONTHS_KEY, CompanySetting.value != ""
    )
    for row in companies:
        if row["value"].isdigit():
            await _queue_run(row["company"], int(row["value"]), today)


async def _queue_run(company_id: int, months: int, today: str) -> None:
    async for transaction in write_transactions():
        async with transaction:
            await lock_name(f"privacy-retention:{company_id}")
            if await CompanySetting.get(company_id, QUEUED_ON_KEY) == today:
                return
            await CompanySetting.put(company_id, QUEUED_ON_KEY, today)
            request_id = await services.record(company_id, "retention", ACTOR)
            job_id = await jobs.start(
                company_id,
                KIND,
                f"Retention run of {today}",
                {
                    "request": request_id,
                    "months": months,
                    "return_to": "/admin/tools/data-requests",
                },
                ACTOR,
            )
            await DataRequest.update({DataRequest.job: job_id}).where(DataRequest.id == request_id)


@jobs.handles(KIND, permission=CLIENTS_PRIVACY)
async def run_retention(run: jobs.JobRun) -> str:
    """Anonymises the company's inactive clients, each in a step of its own (a client who
    became active since the run began is passed over); logs the run."""
    months = int(run.payload["months"])
    cutoff = cutoff_of(months)
    params = _inactive_params(run.company_id, cutoff)
    reason = f"Inactive for {months} months (the company's retention setting)."
    candidates = await DataRequest.raw("SELECT c.id " + INACTIVE_SQL + "ORDER BY c.id", *params)
    await run.set_total(run.done + len(candidates))  # a resumed run has done some already
    codes: list[str] = run.checkpoint.get("codes", [])
    for candidate in candidates:
        async for transaction in write_transactions():
            async with transaction:
                still = await DataRequest.raw(
                    "SELECT c.id " + INACTIVE_SQL + "AND c.id = {}", *params, candidate["id"]
                )
                if still:
                    codes.append(
                        await erasure.anonymise_now(run.company_id, candidate["id"], ACTOR, reason)
                    )
                await run.step(done=1, checkpoint={"codes": codes})
    if not codes:
        details = f"No client was inactive for {months} months."
    else:
        named = ", ".join(codes[:CODES_LOGGED])
        more = f" and {len(codes) - CODES_LOGGED} more" if len(codes) > CODES_LOGGED else ""
        details = f"Anonymised {len(codes)} clients inactive for {months} months: {named}{more}."
    async for transaction in write_transactions():
        async with transaction:
            await DataRequest.update(
                {
                    DataRequest.status: "done",
                    DataRequest.finished_at: datetime.now(UTC),
                    DataRequest.details: details,
                }
            ).where(DataRequest.id == run.payload["request"])
    return details
