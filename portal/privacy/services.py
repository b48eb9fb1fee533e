"""Personal data (GDPR Art. 15, 17, 20 and storage limitation): the data requests log that
`export` (a client's data as a ZIP), `erasure` (anonymisation) and `retention` (inactive clients
anonymised daily) write, and what the pages read of it.

A domain of its own, above clients, billing, mail, jobs, security and the client area: an
export reads all of their tables and an erasure changes them, and domains import downwards
only. None of them imports this one; the profile and the client area reach its pages by links
(and the profile's card by htmx)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from portal.core.actors import Actor
from portal.core.i18n import N_
from portal.core.ids import is_row_id
from portal.core.pagination import Page
from portal.core.permissions import CLIENTS_PRIVACY
from portal.core.rows import from_row
from portal.privacy.tables import DataRequest

PER_PAGE = 50
KIND_WORDS = {"export": "Export", "erasure": "Erasure", "retention": "Retention run"}
ANONYMISED_REQUESTER = "The client"  # a client user's name, once its account is anonymised
JOB_RUNNING = ("queued", "running")


def requester_words(actor: Actor) -> str:
    """Who asked, as the log shows it: a staff member's name, a client user's name marked as
    the client's, or what the system calls its work ("Data retention")."""
    if actor.kind == "client":
        return f"{actor.name} (client)" if actor.name else ANONYMISED_REQUESTER
    return actor.name or actor.kind.capitalize()


@dataclass(frozen=True)
class RequestLine:
    """A line of the data requests log, with the state of its job (an export being prepared,
    a retention run going on)."""

    id: int
    kind: str
    status: str
    client_id: int | None
    client_code: str
    requested_by: str
    requester: str
    requested_at: datetime
    finished_at: datetime | None
    expires_at: datetime | None
    details: str
    include_notes: bool
    session_hash: str
    job_id: int | None
    job_status: str | None

    @property
    def kind_words(self) -> str:
        return KIND_WORDS.get(self.kind, self.kind)

    @property
    def preparing(self) -> bool:
        return self.status == "asked" and self.job_status in JOB_RUNNING

    @property
    def expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= datetime.now(UTC)

    @property
    def downloadable(self) -> bool:
        return self.kind == "export" and self.status == "done" and not self.expired

    @property
    def state(self) -> str:
        """Where the request is, in a word or two (the client area translates these)."""
        if self.status == "declined":
            return N_("Declined")
        if self.status == "done":
            return N_("Expired") if self.kind == "export" and self.expired else N_("Done")
        if self.kind == "erasure":
            return N_("Waiting for staff")
        if self.preparing:
            return N_("Being prepared") if self.kind == "export" else N_("Running")
        return N_("Failed")

    @classmethod
    def of(cls, row: dict[str, Any]) -> RequestLine:
        return from_row(cls, row, include_notes=bool(row["include_notes"]), job_id=row["job"])


# The log's lines with the status of their jobs; the conditions are fixed SQL and the values
# travel as parameters.
LINES_SQL = (
    "SELECT r.*, j.status AS job_status FROM data_request r "
    "LEFT JOIN job j ON j.id = r.job WHERE r.company = {} "
)


async def _lines(sql: str, *params: Any) -> list[RequestLine]:
    return [RequestLine.of(row) for row in await DataRequest.raw(LINES_SQL + sql, *params)]


async def count_requests(company_id: int, actor: Actor, client_id: int | None = None) -> int:
    actor.require(CLIENTS_PRIVACY)
    query = DataRequest.count().where(DataRequest.company == company_id)
    if client_id is not None:
        query = query.where(DataRequest.client_id == client_id)
    return await query


async def list_requests(
    company_id: int, actor: Actor, page: Page, client_id: int | None = None
) -> list[RequestLine]:
    """A page of the company's log (or of one client's requests), newest first."""
    actor.require(CLIENTS_PRIVACY)
    if client_id is None:
        return await _lines(
            "ORDER BY r.id DESC LIMIT {} OFFSET {}", company_id, page.per_page, page.offset
        )
    return await _lines(
        "AND r.client_id = {} ORDER BY r.id DESC LIMIT {} OFFSET {}",
        company_id,
        client_id,
        page.per_page,
        page.offset,
    )


async def request_line(company_id: int, request_id: int) -> RequestLine | None:
    if not is_row_id(request_id):
        return None
    lines = await _lines("AND r.id = {}", company_id, request_id)
    return lines[0] if lines else None


async def client_requests(company_id: int, client_id: int, kind: str) -> list[RequestLine]:
    """The client's latest requests of a kind, newest first (the few a page shows)."""
    return await _lines(
        "AND r.client_id = {} AND r.kind = {} ORDER BY r.id DESC LIMIT 20",
        company_id,
        client_id,
        kind,
    )


async def anonymisation(company_id: int, client_id: int) -> RequestLine | None:
    """The client's anonymisation (its erasure done), if it was anonymised."""
    lines = await _lines(
        "AND r.client_id = {} AND r.kind = 'erasure' AND r.status = 'done'", company_id, client_id
    )
    return lines[0] if lines else None


async def erasure_asked(company_id: int, client_id: int) -> RequestLine | None:
    """The erasure the client asked for and staff have not answered yet, if any."""
    lines = await _lines(
        "AND r.client_id = {} AND r.kind = 'erasure' AND r.status = 'asked'", company_id, client_id
    )
    return lines[0] if lines else None


async def record(
    company_id: int,
    kind: str,
    actor: Actor,
    *,
    client_id: int | None = None,
    client_code: str = "",
    status: str = "asked",
    details: str = "",
    **columns: Any,
) -> int:
    """A new line of the log; inside the write transaction of what it records. `columns`:
    the other columns of DataRequest (job, session_hash, include_notes, expires_at)."""
    now = datetime.now(UTC)
    rows = await DataRequest.insert(
        DataRequest(
            company=company_id,
            client_id=client_id,
            client_code=client_code[:64],
            kind=kind,
            status=status,
            requested_by=requester_words(actor)[:201],
            requester=actor.label[:100],
            details=details,
            requested_at=now,
            finished_at=now if status != "asked" else None,
            **columns,
        )
    ).returning(DataRequest.id)
    return rows[0]["id"]
