"""The admin dashboard over HTTP: its figures (clients by status, new this month, overdue
amounts per currency, the clients added and changed last) match the database, built through the
real services and read back with direct queries; the first-run checklist loses each item as it
is done and goes once all are; widgets a staff member may not use are not shown."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from activity_helpers import OTHER_PASSWORD, another_browser, staff_actor, staff_in_group

from conftest import login_staff
from portal.billing import services as billing
from portal.billing.money import format_money
from portal.client_groups import services as client_groups
from portal.clients import lifecycle
from portal.clients.tables import Client
from portal.companies.tables import Company
from portal.core.actors import Actor
from portal.core.config import get_settings
from portal.core.permissions import ACTIVITY_READ
from portal.dashboard import services as dashboard
from portal.staff import groups
from profile_helpers import accept_currencies, make_client


def _figure(html: str, name: str) -> int:
    match = re.search(rf'id="figure-{name}"[^>]*>([^<]+)<', html)
    assert match, name
    return int(match.group(1).replace(",", ""))


def _section(html: str, section_id: str) -> str:
    match = re.search(rf'<section[^>]*id="{section_id}".*?</section>', html, re.S)
    assert match, section_id
    return match.group(0)


def _client_links(section: str) -> list[int]:
    return [int(n) for n in re.findall(r'href="/admin/clients/(\d+)"', section)]


async def _invoice(
    company_id: int, client_id: int, actor: Actor, amount: str, currency: str, due: date, **kw
) -> int:
    details = billing.InvoiceDetails(
        description="Hosting",
        amount=amount,
        currency=currency,
        date_billed=(due - timedelta(days=30)).isoformat(),
        date_due=due.isoformat(),
        **kw,
    )
    return await billing.create_invoice(company_id, client_id, details, actor)


async def _pay(
    company_id: int, client_id: int, actor: Actor, invoice_id: int, amount: str, currency: str
) -> None:
    details = billing.PaymentDetails(
        amount=amount,
        currency=currency,
        date_received=datetime.now(UTC).date().isoformat(),
        method="Wire transfer",
        invoice_id=str(invoice_id),
    )
    await billing.record_payment(company_id, client_id, details, actor)


async def test_the_figures_match_the_database(admin_client, staff, company_id, second_company):
    admin = staff_actor(staff["id"], "Ada Admin")
    clients = [await make_client(company_id, last_name=f"Client{n}") for n in range(11)]
    for client_id in clients[:2]:
        await lifecycle.set_status(company_id, client_id, "inactive", admin)
    await lifecycle.set_status(company_id, clients[2], "fraud", admin)
    # Two clients joined before this month (the database moves their monthly counts).
    month_start = datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    await Client.update({Client.created_at: month_start - timedelta(days=3)}).where(
        Client.id.is_in(clients[3:5])
    )
    others = [await make_client(second_company) for _ in range(3)]
    await accept_currencies(company_id, "EUR", "JPY")
    await accept_currencies(second_company, "GBP")

    today = datetime.now(UTC).date()
    past, overdue_ids = today - timedelta(days=10), []
    overdue_ids.append(await _invoice(company_id, clients[0], admin, "100.00", "USD", past))
    partly = await _invoice(company_id, clients[5], admin, "50.25", "USD", today - timedelta(1))
    await _pay(company_id, clients[5], admin, partly, "20.00", "USD")
    paid = await _invoice(company_id, clients[6], admin, "70.00", "USD", past)
    await _pay(company_id, clients[6], admin, paid, "70.00", "USD")
    await _invoice(company_id, clients[6], admin, "10.00", "USD", today)  # due today: not yet
    await _invoice(company_id, clients[7], admin, "99.99", "EUR", today - timedelta(days=5))
    await _invoice(company_id, clients[8], admin, "5000", "JPY", past, status="draft")
    await _invoice(second_company, others[0], admin, "1.00", "EUR", past)
    await _invoice(second_company, others[0], admin, "1.00", "GBP", past)

    page = await admin_client.get("/admin")
    assert page.status_code == 200
    assert "<h1>Dashboard</h1>" in page.text and "Welcome, Ada" in page.text

    by_status = {
        row["status"]: row["n"]
        for row in await Client.raw(
            "SELECT status, count(*) AS n FROM client WHERE company = {} GROUP BY status",
            company_id,
        )
    }
    assert by_status == {"active": 8, "inactive": 2, "fraud": 1}
    for status in ("active", "inactive", "fraud"):
        assert _figure(page.text, status) == by_status[status]
    new = await Client.count().where(Client.company == company_id, Client.created_at >= month_start)
    assert _figure(page.text, "new") == new == 9

    overdue = await Client.raw(
        "SELECT currency, SUM(total - amount_paid) AS due, COUNT(*) AS n FROM invoice "
        "WHERE company = {} AND status = 'open' AND date_due < {} GROUP BY currency",
        company_id,
        today,
    )
    widget = _section(page.text, "widget-overdue")
    cells = dict(
        re.findall(r'<tr id="overdue-(\w+)"><th scope="row">\w+</th><td[^>]*>([^<]+)</td>', widget)
    )
    assert cells == {
        row["currency"]: format_money(int(row["due"]), row["currency"]) for row in overdue
    }
    assert cells == {"EUR": "€99.99", "USD": "$130.25"}

    newest = await Client.raw(
        "SELECT id FROM client WHERE company = {} ORDER BY created_at DESC, id DESC LIMIT {}",
        company_id,
        dashboard.RECENT_CLIENTS,
    )
    added = _client_links(_section(page.text, "widget-recently-added"))
    assert added == [row["id"] for row in newest] and len(added) == 8

    # The clients of the newest lines about clients, each once, newest first: the invoices
    # and payments (in the order they were made), then the status changes.
    lines = await Client.raw(
        "SELECT client_id FROM activity_event WHERE company = {} AND kind = 'clients' "
        "AND client_id IS NOT NULL ORDER BY at DESC, id DESC",
        company_id,
    )
    expected = list(dict.fromkeys(row["client_id"] for row in lines))[: dashboard.RECENT_CLIENTS]
    changed_section = _section(page.text, "widget-recently-changed")
    assert _client_links(changed_section) == expected
    assert expected[:5] == [clients[8], clients[7], clients[6], clients[5], clients[0]]
    assert "Invoice: #" in changed_section and "Ada Admin" in changed_section
    # Another company's clients are nowhere.
    for client_id in others:
        assert f"/admin/clients/{client_id}" not in page.text


async def test_an_empty_company_says_so(admin_client):
    page = await admin_client.get("/admin")
    assert _figure(page.text, "active") == _figure(page.text, "new") == 0
    assert "Nothing is overdue." in page.text
    assert "No clients yet." in page.text and "No changes yet." in page.text


# --- the first-run checklist -------------------------------------------------------------------


def _checklist(html: str) -> dict[str, tuple[bool, str | None]]:
    """item -> (done, link)."""
    if 'id="checklist"' not in html:
        return {}
    items = {}
    for key, body in re.findall(r'<li id="checklist-(\w+)">(.*?)</li>', html, re.S):
        link = re.search(r'href="([^"]+)"', body)
        items[key] = ("Done" in body, link.group(1) if link else None)
    return items


@contextlib.contextmanager
def _smtp_configured(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("PORTAL_SMTP_URL", "smtp://127.0.0.1:2525")
    get_settings.cache_clear()
    try:
        yield
    finally:
        monkeypatch.delenv("PORTAL_SMTP_URL")
        get_settings.cache_clear()


async def test_the_checklist_loses_each_item_once_done_and_then_goes(
    admin_client, staff, company_id, monkeypatch
):
    general = "/admin/settings/company/general"
    page = await admin_client.get("/admin")
    assert _checklist(page.text) == {
        "company": (False, general),
        "sender": (False, general),
        "client_group": (False, "/admin/settings/company/client-groups"),
        "mail": (False, "/admin/tools/outbox"),
    }
    for _, link in _checklist(page.text).values():
        assert (await admin_client.get(link)).status_code == 200, link

    await client_groups.create_group(
        company_id, client_groups.GroupDetails(name="VIP"), staff_actor(staff["id"], "Ada Admin")
    )
    assert _checklist((await admin_client.get("/admin")).text)["client_group"] == (True, None)

    # The company's name, address and sender address ([Settings] > [Company] > General).
    await Company.update({Company.name: "Northwind Hosting"}).where(Company.id == company_id)
    items = _checklist((await admin_client.get("/admin")).text)
    assert items["company"] == (False, general)  # a name alone is not enough
    await Company.update({Company.address1: "1 Harbour Road"}).where(Company.id == company_id)
    assert _checklist((await admin_client.get("/admin")).text)["company"] == (True, None)
    await Company.update({Company.sender_email: "billing@northwind.example"}).where(
        Company.id == company_id
    )
    items = _checklist((await admin_client.get("/admin")).text)
    assert items == {
        "company": (True, None),
        "sender": (True, None),
        "client_group": (True, None),
        "mail": (False, "/admin/tools/outbox"),
    }

    with _smtp_configured(monkeypatch):
        page = await admin_client.get("/admin")
        assert _checklist(page.text) == {} and "Getting started" not in page.text
    assert "mail" in _checklist((await admin_client.get("/admin")).text)


async def test_editing_the_default_group_or_its_fields_counts_as_a_client_group(
    admin_client, staff, company_id
):
    general = await client_groups.default_group_id(company_id)
    await client_groups.update_group(
        company_id,
        general,
        client_groups.GroupDetails(name="General", description="Everyone else"),
        staff_actor(staff["id"], "Ada Admin"),
    )
    assert _checklist((await admin_client.get("/admin")).text)["client_group"] == (True, None)


# --- who sees what -----------------------------------------------------------------------------


async def test_support_sees_the_clients_but_no_overdue_amounts_nor_checklist(
    admin_client, staff, company_id
):
    client_id = await make_client(company_id)
    past = datetime.now(UTC).date() - timedelta(days=3)
    await _invoice(
        company_id, client_id, staff_actor(staff["id"], "Ada Admin"), "10.00", "USD", past
    )
    assert 'id="widget-overdue"' in (await admin_client.get("/admin")).text
    await staff_in_group(company_id, "sam@example.com", "Support")
    async with another_browser() as support:
        await login_staff(support, "sam@example.com", OTHER_PASSWORD)
        page = await support.get("/admin")
    assert page.status_code == 200 and "Welcome, Sam" in page.text
    assert _figure(page.text, "active") == 1
    assert _client_links(_section(page.text, "widget-recently-added")) == [client_id]
    # No overdue amounts (the invoice's own line, in "Recently changed", is the client's
    # history, which Support reads on the profile too).
    assert 'id="widget-overdue"' not in page.text and "Overdue" not in page.text
    assert 'id="checklist"' not in page.text


async def test_a_member_who_may_not_view_clients_sees_no_client_widgets(
    admin_client, staff, company_id
):
    await make_client(company_id)
    await groups.create_group(
        company_id, "Auditors", [ACTIVITY_READ], staff_actor(staff["id"], "Ada Admin")
    )
    await staff_in_group(company_id, "olive@example.com", "Auditors")
    async with another_browser() as auditor:
        await login_staff(auditor, "olive@example.com", OTHER_PASSWORD)
        page = await auditor.get("/admin")
    assert page.status_code == 200 and "Welcome, Olive" in page.text
    for widget in ("widget-clients", "widget-overdue", "widget-recently-added", "checklist"):
        assert f'id="{widget}"' not in page.text
    assert "/admin/clients/" not in page.text
