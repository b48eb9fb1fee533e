"""The admin dashboard: the company's clients by status and new this month, what is overdue per
currency, the clients added and changed last, and a first-run checklist.

It stays fast however many clients a company has: figures come from the counts and sums the
database keeps (portal.clients.counts, billing's open_invoice_total) and from index reads that
stop after a few rows; nothing is done per client. Each widget is there only for staff members
whose group allows what it shows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from portal.activity import services as activity
from portal.billing.tables import OpenInvoiceTotal
from portal.client_groups.tables import ClientGroup
from portal.clients import counts
from portal.clients.tables import CLIENT_STATUSES, Client
from portal.companies.services import DEFAULT_COMPANY_NAME
from portal.companies.tables import Company
from portal.core.actors import Actor
from portal.core.config import get_settings
from portal.core.db import read_transaction
from portal.core.permissions import (
    BILLING_MANAGE,
    CLIENT_GROUPS,
    CLIENTS_VIEW,
    COMPANY_SETTINGS,
    OUTBOX_READ,
)

RECENT_CLIENTS = 8  # clients in "Recently added" and "Recently changed"


@dataclass(frozen=True)
class ClientFigures:
    by_status: dict[str, int]  # every status, in Browse's tab order
    new_this_month: int
    month_start: date  # the first day of this month (UTC), for the link to Browse


@dataclass(frozen=True)
class Overdue:
    currency: str
    amount: int  # minor units
    invoices: int


@dataclass(frozen=True)
class RecentClient:
    id: int
    code: str
    name: str
    company: str
    status: str
    at: datetime  # when it was added, or changed last
    summary: str = ""  # what changed (the activity log's sentence)
    by: str = ""  # who changed it


@dataclass(frozen=True)
class ChecklistItem:
    key: str
    label: str  # what to do, as a sentence
    url: str | None  # the page that does it, when the staff member may open it
    done: bool


@dataclass(frozen=True)
class Dashboard:
    clients: ClientFigures | None
    overdue: list[Overdue] | None
    recently_added: list[RecentClient] | None
    recently_changed: list[RecentClient] | None
    checklist: list[ChecklistItem]  # empty once every item is done


@dataclass(frozen=True)
class CompanyProfile:
    name: str
    address: str
    sender_email: str


async def company_profile(company_id: int) -> CompanyProfile:
    """What the checklist asks of the company's details ([Settings] > [Company] > General)."""
    company = (
        await Company.select(Company.name, Company.address1, Company.sender_email)
        .where(Company.id == company_id)
        .first()
    )
    return CompanyProfile(
        name=company["name"] if company else "",
        address=company["address1"] if company else "",
        sender_email=company["sender_email"] if company else "",
    )


async def build_dashboard(company_id: int, actor: Actor, today: date | None = None) -> Dashboard:
    """The dashboard as `actor` may see it, all of it read in one transaction."""
    today = today or datetime.now(UTC).date()
    may_view_clients = actor.may(CLIENTS_VIEW)
    async with read_transaction():
        return Dashboard(
            clients=await _client_figures(company_id, today) if may_view_clients else None,
            overdue=(
                await _overdue(company_id, today)
                if may_view_clients and actor.may(BILLING_MANAGE)
                else None
            ),
            recently_added=await _recently_added(company_id) if may_view_clients else None,
            recently_changed=await _recently_changed(company_id) if may_view_clients else None,
            checklist=await _checklist(company_id, actor),
        )


async def _client_figures(company_id: int, today: date) -> ClientFigures:
    month_start = today.replace(day=1)
    all_time = await counts.tally(company_id)
    this_month = await counts.tally(
        company_id, created_from=datetime(month_start.year, month_start.month, 1, tzinfo=UTC)
    )
    return ClientFigures(
        by_status={
            status: sum(n for (_, s), n in all_time.items() if s == status)
            for status in CLIENT_STATUSES
        },
        new_this_month=this_month.total(),
        month_start=month_start,
    )


async def _overdue(company_id: int, today: date) -> list[Overdue]:
    """Open invoices due before today, summed per currency in the database (exact integers)
    from the sums it keeps per due date (a row a day and currency, not a row an invoice)."""
    rows = await OpenInvoiceTotal.raw(
        "SELECT currency, SUM(amount) AS amount, SUM(invoices) AS invoices "
        "FROM open_invoice_total WHERE company = {} AND date_due < {} "
        "GROUP BY currency ORDER BY currency",
        company_id,
        today,
    )
    return [
        Overdue(currency=row["currency"], amount=int(row["amount"]), invoices=int(row["invoices"]))
        for row in rows
        if int(row["amount"] or 0) > 0
    ]


_CLIENT_COLUMNS = (
    "c.id, c.code, c.status, c.created_at, ct.first_name, ct.last_name, ct.company AS org "
)
_PRIMARY_CONTACT = "JOIN contact ct ON ct.client = c.id AND ct.contact_type = 'primary' "


def _recent_client(
    row: dict, changed_at: datetime | None = None, summary: str = "", by: str = ""
) -> RecentClient:
    return RecentClient(
        id=row["id"],
        code=row["code"],
        name=f"{row['first_name']} {row['last_name']}".strip(),
        company=row["org"],
        status=row["status"],
        at=changed_at or row["created_at"],
        summary=summary,
        by=by,
    )


async def _recently_added(company_id: int) -> list[RecentClient]:
    """The newest clients of each status, read through the index (company, status,
    created_at, …), the newest of those first."""
    newest_of_status = " UNION ALL ".join(
        "SELECT * FROM (SELECT id, code, status, created_at FROM client "
        "WHERE company = {} AND status = {} ORDER BY created_at DESC, id DESC LIMIT {}) AS s"
        for _ in CLIENT_STATUSES
    )
    args: list[object] = []
    for status in CLIENT_STATUSES:
        args += [company_id, status, RECENT_CLIENTS]
    rows = await Client.raw(
        f"SELECT {_CLIENT_COLUMNS}FROM ({newest_of_status}) AS c {_PRIMARY_CONTACT}"  # noqa: S608
        "ORDER BY c.created_at DESC, c.id DESC LIMIT {}",
        *args,
        RECENT_CLIENTS,
    )
    return [_recent_client(row) for row in rows]


async def _clients_by_id(company_id: int, client_ids: Iterable[int]) -> dict[int, dict]:
    ids = list(client_ids)
    if not ids:
        return {}
    rows = await Client.raw(
        f"SELECT {_CLIENT_COLUMNS}FROM client c {_PRIMARY_CONTACT}"  # noqa: S608
        f"WHERE c.company = {{}} AND c.id IN ({', '.join(['{}'] * len(ids))})",
        company_id,
        *ids,
    )
    return {row["id"]: row for row in rows}


async def _recently_changed(company_id: int) -> list[RecentClient]:
    """The clients of the newest lines of the activity log about clients."""
    lines = await activity.latest_client_changes(company_id, RECENT_CLIENTS)
    clients = await _clients_by_id(company_id, (line.client_id for line in lines))
    return [
        _recent_client(clients[line.client_id], line.at, line.summary, line.actor_name)
        for line in lines
        if line.client_id in clients
    ]


# --- the first-run checklist -------------------------------------------------------------------


async def _has_client_group_work(company_id: int) -> bool:
    """A client group of its own: one besides the default, or anything done to the groups or
    their fields (each such change is in the activity log)."""
    groups = await ClientGroup.raw(
        "SELECT count(*) AS n FROM (SELECT 1 FROM client_group WHERE company = {} LIMIT 2) AS g",
        company_id,
    )
    return int(groups[0]["n"]) > 1 or await activity.has_lines(company_id, "client_groups")


async def _checklist(company_id: int, actor: Actor) -> list[ChecklistItem]:
    """Every item, done or not, while one is not done; then none. Items link to their page
    for staff members who may open it, and are left out for those who may not do them."""
    profile = await company_profile(company_id)
    general = "/admin/settings/company/general"
    items = [
        (
            COMPANY_SETTINGS,
            ChecklistItem(
                "company",
                "Fill in the company's details: its name and address.",
                general,
                profile.name not in ("", DEFAULT_COMPANY_NAME) and bool(profile.address),
            ),
        ),
        (
            COMPANY_SETTINGS,
            ChecklistItem(
                "sender",
                "Set the email address the portal's mail is sent from.",
                general,
                bool(profile.sender_email),
            ),
        ),
        (
            CLIENT_GROUPS,
            ChecklistItem(
                "client_group",
                "Set up a client group: add one, or edit the General group and its fields.",
                "/admin/settings/company/client-groups",
                await _has_client_group_work(company_id),
            ),
        ),
        (
            COMPANY_SETTINGS,
            ChecklistItem(
                "mail",
                "Send mail through an SMTP server (PORTAL_SMTP_URL); until then, mail is kept "
                "in the Outbox.",
                "/admin/tools/outbox" if actor.may(OUTBOX_READ) else None,
                bool(get_settings().smtp_url),
            ),
        ),
    ]
    if all(item.done for _, item in items):
        return []
    return [item for permission, item in items if actor.may(permission)]
