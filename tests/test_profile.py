"""The client profile over HTTP: overview and account actions, widget fragments and their saved
arrangement, notes, status, Email Client, the audit log, Delete Client, and company scoping."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx
import pytest
from piccolo.conf.apps import Finder

from conftest import STAFF_PASSWORD, csrf_from, login_staff
from portal.app import create_app
from portal.billing import services as billing
from portal.billing.tables import Invoice, Transaction
from portal.client_groups.services import FieldDetails, create_field
from portal.clients import lifecycle, notes, users
from portal.clients.forms import client_details_of
from portal.clients.services import get_client, update_client
from portal.clients.tables import (
    AccountUser,
    Client,
    ClientAudit,
    ClientNote,
    ContactNumber,
)
from portal.clients.users import owner_of
from portal.core.actors import SYSTEM, Actor
from portal.core.db import write_transactions
from portal.core.static import asset_url
from portal.mail.tables import MailMessage
from portal.staff.tables import Staff, StaffWidgetState
from profile_helpers import (
    PASSWORD,
    accept_currencies,
    add_records,
    default_group,
    make_client,
    make_staff,
    rows_of_client,
    tables_referring_to,
)

STAFF = Actor(kind="staff", id=None, address="127.0.0.1")
WIDGET_ORDER = re.compile(r'data-widget="(\w+)"')


async def _token(http, path: str) -> str:
    return csrf_from((await http.get(path)).text)


def _widget_order(html: str) -> list[str]:
    return WIDGET_ORDER.findall(html)


def _minimized(html: str) -> set[str]:
    return set(re.findall(r'value="(\w+)" data-widget-toggle aria-expanded="false"', html))


# --- the page ------------------------------------------------------------------------------


async def test_profile_shows_overview_actions_balances_and_widgets(admin_client, company_id):
    client_id = await make_client(company_id, first_name="Grace", last_name="Hopper")
    response = await admin_client.get(f"/admin/clients/{client_id}")
    assert response.status_code == 200
    page = response.text
    row = await Client.select().where(Client.id == client_id).first()
    for text in (
        f"#{row['code']}",
        "Grace Hopper",
        "Analytical Engines Ltd",
        "12 Difference Street",
        "Ontario",
        "Canada",
        "client",
        '+1 416-555-0188 <span class="muted">(Fax, Work, default fax)',
        f'group-colour-{row["group"]}">General</span>',
        '<span class="badge status-active">Active</span>',
        "Member since",
        "Last login",
        "Never",
    ):
        assert text in page, text
    for action in (
        "Edit Client",
        "Create Invoice",
        "Record Payment",
        "Add Note",
        "Email Client",
        "Change Status",
        "Delete Client",
    ):
        assert action in page, action
    # The status changes by POST only.
    assert f'method="post" action="/admin/clients/{client_id}/status"' in page
    assert "Amounts Due and Credits" in page and "$0.00" in page
    # Widgets load as htmx fragments, with a plain link when JavaScript is off.
    assert _widget_order(page) == [
        "invoices",
        "transactions",
        "services",
        "notes",
        "emails",
        "history",
        "users",
        "contacts",
    ]
    for name in ("invoices", "transactions", "services"):
        url = f"/admin/clients/{client_id}/widgets/{name}"
        assert f'hx-get="{url}" hx-trigger="load"' in page
        assert f'<a href="{url}">' in page
    assert asset_url("vendor/sortable-1.15.7.min.js") in page


async def test_last_login_time_and_address_are_shown(admin_client, company_id):
    client_id = await make_client(company_id)
    await AccountUser.update(
        {
            AccountUser.last_login_at: datetime(2026, 3, 4, 5, 6, tzinfo=UTC),
            AccountUser.last_login_ip: "203.0.113.9",
        }
    ).where(AccountUser.id == (await owner_of(client_id))["id"])
    page = (await admin_client.get(f"/admin/clients/{client_id}")).text
    assert "2026-03-04 05:06 UTC" in page and "from 203.0.113.9" in page


async def test_widget_fragments_and_their_pages_without_javascript(admin_client, company_id):
    client_id = await make_client(company_id)
    actor = Actor(kind="staff", address="127.0.0.1")
    for number in range(12):
        await billing.create_invoice(
            company_id,
            client_id,
            billing.InvoiceDetails(
                description=f"Hosting {number}",
                amount="10.00",
                currency="USD",
                date_billed="2026-01-01",
                date_due="2026-01-15",
            ),
            actor,
        )
    url = f"/admin/clients/{client_id}/widgets/invoices"
    fragment = await admin_client.get(url, headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert "<html" not in fragment.text and "Page 1 of 2" in fragment.text
    assert f'hx-get="{url}?page=2"' in fragment.text and f'href="{url}?page=2"' in fragment.text
    assert fragment.text.count("Hosting ") == 10
    second = await admin_client.get(f"{url}?page=2", headers={"HX-Request": "true"})
    assert second.text.count("Hosting ") == 2 and "Page 2 of 2" in second.text
    # Without htmx the same URL is a page of its own, inside the admin layout.
    standalone = await admin_client.get(url)
    assert standalone.status_code == 200
    assert "<html" in standalone.text and "Back to profile" in standalone.text
    assert "Hosting 11" in standalone.text
    for name in ("transactions", "services", "notes", "emails", "history"):
        response = await admin_client.get(
            f"/admin/clients/{client_id}/widgets/{name}", headers={"HX-Request": "true"}
        )
        assert response.status_code == 200, name
    # Out-of-range pages are clamped; an unknown widget is a 404; a non-number page a 400.
    assert "Page 2 of 2" in (await admin_client.get(f"{url}?page=99")).text
    assert (
        await admin_client.get(f"/admin/clients/{client_id}/widgets/secrets")
    ).status_code == 404
    assert (await admin_client.get(f"{url}?page=abc")).status_code == 400


# --- widget arrangement --------------------------------------------------------------------


async def _save_widgets(http, client_id: int, **data) -> object:
    token = await _token(http, f"/admin/clients/{client_id}")
    return await http.post(
        "/admin/widgets/client-profile",
        data={"_csrf_token": token, **data},
        headers={"HX-Request": "true"},
    )


async def test_widget_state_is_per_staff_member_and_company(
    client, admin_client, staff, company_id, second_company
):
    first, other = await make_client(company_id), await make_client(company_id)
    response = await _save_widgets(
        admin_client,
        first,
        order="services,invoices,transactions,notes,emails,history",
        minimized="transactions",
    )
    assert response.status_code == 204
    page = (await admin_client.get(f"/admin/clients/{other}")).text
    assert _widget_order(page)[:3] == ["services", "invoices", "transactions"]
    assert _minimized(page) == {"transactions"}
    assert 'id="widget-transactions-body" hidden' in page

    # The same staff member in the second company keeps that company's own (default) state.
    await make_staff("both@example.com", [company_id, second_company])
    theirs = await make_client(second_company)
    transport = httpx.ASGITransport(app=create_app(), client=("127.0.0.1", 50001))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as http:
        await login_staff(http, "both@example.com", STAFF_PASSWORD)
        # A second staff member sees the default order in the first company.
        page = (await http.get(f"/admin/clients/{first}")).text
        assert _widget_order(page)[:3] == ["invoices", "transactions", "services"]
        assert _minimized(page) == set()
        # ...arranges their own, which leaves the administrator's alone...
        await _save_widgets(http, first, order="history", minimized="invoices")
        page = (await http.get(f"/admin/clients/{first}")).text
        assert _widget_order(page)[0] == "history" and _minimized(page) == {"invoices"}
        # ...and switches company: another state there.
        token = csrf_from(page)
        await http.post(
            "/admin/company",
            data={"_csrf_token": token, "company_id": str(second_company), "next": "/admin"},
        )
        page = (await http.get(f"/admin/clients/{theirs}")).text
        assert _widget_order(page)[0] == "invoices" and _minimized(page) == set()
        await _save_widgets(http, theirs, order="notes", minimized="")
        assert _widget_order((await http.get(f"/admin/clients/{theirs}")).text)[0] == "notes"
    page = (await admin_client.get(f"/admin/clients/{first}")).text
    assert _widget_order(page)[:3] == ["services", "invoices", "transactions"]
    assert await StaffWidgetState.count() == 3


async def test_unknown_widget_names_are_refused_and_nothing_is_saved(admin_client, company_id):
    client_id = await make_client(company_id)
    for data in (
        {"order": "invoices,payroll", "minimized": ""},
        {"order": "invoices", "minimized": "<script>"},
        {"order": "invoices,invoices", "minimized": ""},
        {"order": "invoices", "toggle": "ledger"},
        {"order": "invoices", "move": "ledger:up"},
        {"order": "invoices", "move": "invoices:sideways"},
    ):
        response = await _save_widgets(admin_client, client_id, **data)
        assert response.status_code == 400, data
        assert "Unknown widget" in response.text or "named twice" in response.text
        assert "<script>" not in response.text
    assert await StaffWidgetState.count() == 0


async def test_move_and_arrow_buttons_work_without_javascript(admin_client, company_id):
    client_id = await make_client(company_id)
    page = (await admin_client.get(f"/admin/clients/{client_id}")).text
    token = csrf_from(page)
    shown = {"order": "invoices,transactions,services,notes,emails,history", "minimized": ""}
    response = await admin_client.post(
        "/admin/widgets/client-profile",
        data={
            "_csrf_token": token,
            **shown,
            "move": "services:up",
            "next": f"/admin/clients/{client_id}",
        },
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/admin/clients/{client_id}#widget-services"
    page = (await admin_client.get(f"/admin/clients/{client_id}")).text
    assert _widget_order(page)[:3] == ["invoices", "services", "transactions"]
    response = await admin_client.post(
        "/admin/widgets/client-profile",
        data={
            "_csrf_token": token,
            "order": "invoices,services,transactions,notes,emails,history",
            "toggle": "transactions",
            "next": "https://evil.example/",
        },
    )
    assert response.status_code == 303 and response.headers["location"].startswith("/admin/")
    assert _minimized((await admin_client.get(f"/admin/clients/{client_id}")).text) == {
        "transactions"
    }


async def test_widget_state_needs_the_csrf_token(admin_client, company_id):
    response = await admin_client.post(
        "/admin/widgets/client-profile", data={"order": "history", "minimized": ""}
    )
    assert response.status_code == 403
    assert await StaffWidgetState.count() == 0


# --- notes ---------------------------------------------------------------------------------


async def test_notes_add_edit_delete_with_sticky_notes_on_top(admin_client, company_id):
    client_id = await make_client(company_id)
    base = f"/admin/clients/{client_id}"
    token = await _token(admin_client, f"{base}/notes/add")
    response = await admin_client.post(
        f"{base}/notes/add",
        data={
            "_csrf_token": token,
            "title": "Prefers <script>alert(1)</script> phone",
            "body": "Call after 5pm.\n<img src=x onerror=alert(2)>",
            "sticky": "1",
        },
    )
    assert response.status_code == 303
    note = await ClientNote.select().first()
    assert note["sticky"] is True and note["body"].startswith("Call after 5pm.")
    page = (await admin_client.get(base)).text
    assert 'class="sticky-notes"' in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page
    assert "&lt;img src=x onerror=alert(2)&gt;" in page and "<img src=x" not in page
    widget = (await admin_client.get(f"{base}/widgets/notes", headers={"HX-Request": "true"})).text
    assert "Call after 5pm." in widget and "<script>alert" not in widget

    # Empty title: the form comes back with the error and what was typed.
    response = await admin_client.post(
        f"{base}/notes/{note['id']}/edit",
        data={"_csrf_token": token, "title": "", "body": "Kept body"},
    )
    assert response.status_code == 422
    assert "Title is required." in response.text and "Kept body" in response.text
    response = await admin_client.post(
        f"{base}/notes/{note['id']}/edit",
        data={"_csrf_token": token, "title": "Phone", "body": "Call after 6pm."},
    )
    assert response.status_code == 303
    note = await ClientNote.select().first()
    assert (note["title"], note["body"], note["sticky"]) == ("Phone", "Call after 6pm.", False)
    assert 'class="sticky-notes"' not in (await admin_client.get(base)).text

    response = await admin_client.post(
        f"{base}/notes/{note['id']}/delete", data={"_csrf_token": token}
    )
    assert response.status_code == 303
    assert await ClientNote.count() == 0
    fields = [
        row["new_value"]
        for row in await ClientAudit.select().where(ClientAudit.field.like("Note%"))
    ]
    assert any(value.startswith("added: Prefers") for value in fields)
    assert "deleted" in fields and "No" in fields


# --- status --------------------------------------------------------------------------------


async def test_status_change_is_a_post_that_ends_the_clients_sessions(admin_client, company_id):
    client_id = await make_client(company_id)
    base = f"/admin/clients/{client_id}"
    before = await owner_of(client_id)
    assert (await admin_client.get(f"{base}/status")).status_code == 405
    token = await _token(admin_client, base)
    response = await admin_client.post(
        f"{base}/status", data={"_csrf_token": token, "status": "inactive"}
    )
    assert response.status_code == 303
    after = await Client.select().where(Client.id == client_id).first()
    assert after["status"] == "inactive"
    assert (await owner_of(client_id))["session_epoch"] == before["session_epoch"] + 1
    page = (await admin_client.get(base)).text
    assert "their sessions have ended" in page and "status-inactive" in page
    line = await ClientAudit.select().where(ClientAudit.field == "Status").first()
    assert (line["old_value"], line["new_value"]) == ("Active", "Inactive")

    response = await admin_client.post(
        f"{base}/status", data={"_csrf_token": token, "status": "deleted"}
    )
    assert response.status_code == 303
    assert (await Client.select().where(Client.id == client_id).first())["status"] == "inactive"
    assert "Choose Active, Inactive or Fraud." in (await admin_client.get(base)).text
    # Fraud, then Active again: the records stay throughout.
    for status in ("fraud", "active"):
        await admin_client.post(f"{base}/status", data={"_csrf_token": token, "status": status})
    row = await Client.select().where(Client.id == client_id).first()
    assert row["status"] == "active"
    assert (await owner_of(client_id))["session_epoch"] == before["session_epoch"] + 3


async def test_a_logged_in_client_made_inactive_is_logged_out_at_the_next_request(
    client, company_id
):
    client_id = await make_client(company_id)
    username = (await owner_of(client_id))["username"]
    login = await client.get("/client/login")
    if login.status_code == 404:
        pytest.skip("the client area is not there yet")
    response = await client.post(
        "/client/login",
        data={"_csrf_token": csrf_from(login.text), "identifier": username, "password": PASSWORD},
    )
    assert response.status_code in (302, 303), response.text[:500]
    dashboard = response.headers["location"]
    assert (await client.get(dashboard)).status_code == 200
    await lifecycle.set_status(company_id, client_id, "inactive", STAFF)
    response = await client.get(dashboard)
    assert response.status_code in (302, 303) and "/client/login" in response.headers["location"]
    # ...and cannot log in again.
    login = await client.get("/client/login")
    response = await client.post(
        "/client/login",
        data={"_csrf_token": csrf_from(login.text), "identifier": username, "password": PASSWORD},
    )
    assert response.status_code == 400
    assert (await Client.count().where(Client.id == client_id)) == 1  # the data stays


# --- Email Client --------------------------------------------------------------------------


async def test_email_client_is_sent_and_logged_without_header_injection(
    admin_client, company_id, smtp_server
):
    client_id = await make_client(company_id)
    to = (await get_client(company_id, client_id)).contact["email"]
    base = f"/admin/clients/{client_id}"
    token = await _token(admin_client, f"{base}/email")
    response = await admin_client.post(
        f"{base}/email",
        data={
            "_csrf_token": token,
            "subject": "Your renewal\r\nBcc: victim@example.net\nX-Evil: 1",
            "body": "Hello,\n\nyour renewal is due.\n",
        },
    )
    assert response.status_code == 303
    [message] = smtp_server.messages
    assert message["To"] == to
    assert message["Bcc"] is None and message["X-Evil"] is None
    assert message["Subject"] == "Your renewal Bcc: victim@example.net X-Evil: 1"
    assert smtp_server.recipients == [to]
    logged = await MailMessage.select().first()
    assert logged["kind"] == "client_email" and logged["client"] == client_id
    assert "\n" not in logged["subject"] and logged["status"] == "sent"
    widget = (await admin_client.get(f"{base}/widgets/emails", headers={"HX-Request": "true"})).text
    assert "Your renewal Bcc: victim@example.net" in widget
    assert await ClientAudit.count().where(ClientAudit.field == "Email") == 1


async def test_email_client_needs_subject_and_message(admin_client, company_id):
    client_id = await make_client(company_id)
    base = f"/admin/clients/{client_id}"
    token = await _token(admin_client, f"{base}/email")
    response = await admin_client.post(
        f"{base}/email", data={"_csrf_token": token, "subject": "", "body": "Typed <b>text</b>"}
    )
    assert response.status_code == 422
    assert "Subject is required." in response.text
    assert "Typed &lt;b&gt;text&lt;/b&gt;" in response.text
    assert await MailMessage.count() == 0


# --- audit log -----------------------------------------------------------------------------


async def test_history_records_each_changed_field_but_never_a_password(
    admin_client, staff, company_id
):
    client_id = await make_client(company_id, first_name="Ada")
    current = await get_client(company_id, client_id)
    details = client_details_of(current, {})
    details.first_name = "Augusta"
    details.city = "Ottawa"
    details.phones = details.phones[:1]
    details.tax_exempt = True
    actor = Actor(kind="staff", id=staff["id"], address="198.51.100.7")
    await update_client(
        company_id,
        client_id,
        details,
        expected_version=current.version,
        new_password="Brand-new-secret-99",
        actor=actor,
    )
    lines = {
        row["field"]: row
        for row in await ClientAudit.select().where(ClientAudit.client_id == client_id)
    }
    assert lines["Client"]["new_value"] == "created"
    assert (lines["First Name"]["old_value"], lines["First Name"]["new_value"]) == (
        "Ada",
        "Augusta",
    )
    assert (lines["City"]["old_value"], lines["City"]["new_value"]) == ("Toronto", "Ottawa")
    assert lines["Tax Exempt"]["new_value"] == "Yes"
    assert "Fax (Work)" in lines["Phone Numbers"]["old_value"]
    assert "Fax" not in lines["Phone Numbers"]["new_value"]
    assert lines["Password"]["new_value"] == "password changed"
    assert "Last Name" not in lines
    assert lines["City"]["staff_id"] == staff["id"]
    assert lines["City"]["address"] == "198.51.100.7"
    for row in lines.values():
        assert "Brand-new-secret-99" not in row["old_value"] + row["new_value"]
    widget = (
        await admin_client.get(
            f"/admin/clients/{client_id}/widgets/history", headers={"HX-Request": "true"}
        )
    ).text
    assert "Ada Admin" in widget and "Augusta" in widget and "password changed" in widget
    assert "Brand-new-secret-99" not in widget


# --- Delete Client -------------------------------------------------------------------------


async def _client_with_everything(company_id: int) -> int:
    await accept_currencies(company_id, "USD")
    group = await default_group(company_id)
    field_id = await create_field(
        company_id, group, FieldDetails(label="Account manager", field_type="textbox"), SYSTEM
    )
    client_id = await make_client(
        company_id, custom={str(field_id): "Charles"}, marketing_opt_in=True
    )
    await add_records(company_id, client_id, STAFF)
    return client_id


async def test_delete_confirmation_warns_and_suggests_inactive_or_fraud(admin_client, company_id):
    client_id = await make_client(company_id)
    page = (await admin_client.get(f"/admin/clients/{client_id}/delete")).text
    assert "can't be undone" in page
    assert "Inactive or Fraud" in page and 'name="status" value="fraud"' in page
    assert 'type="password"' in page and "Delete Client" in page


async def test_a_wrong_password_deletes_nothing(admin_client, company_id):
    client_id = await _client_with_everything(company_id)
    before = await rows_of_client(client_id)
    token = await _token(admin_client, f"/admin/clients/{client_id}/delete")
    for password in ("wrong-password", ""):
        response = await admin_client.post(
            f"/admin/clients/{client_id}/delete",
            data={"_csrf_token": token, "password": password},
        )
        assert response.status_code == 422
        assert "That is not your password. Nothing was deleted." in response.text
    assert await rows_of_client(client_id) == before
    assert {"invoice", "billing_transaction", "service", "client_note", "contact_number"} <= set(
        before
    )


async def test_deleting_a_client_leaves_no_row_that_refers_to_it(admin_client, staff, company_id):
    client_id = await _client_with_everything(company_id)
    keep = await make_client(company_id, first_name="Other")
    owned = await rows_of_client(client_id)
    # A user of this account and of another one.
    async for transaction in write_transactions():
        async with transaction:
            shared = await users.add_user(
                company_id,
                username="shared",
                email="shared@example.com",
                name="Shared User",
                password_hash=None,
                language="en",
            )
            await users.add_member(shared, client_id, permissions=["invoices"])
            await users.add_member(shared, keep, permissions=["services"])
    logins = await users.member_ids(client_id)
    expected = {
        "client",
        "account_member",
        "account_invitation",
        "contact",
        "contact_number",
        "custom_field_value",
        "consent_event",
        "invoice",
        "billing_transaction",
        "service",
        "client_note",
        "mail_message",
        "client_audit",
    }
    assert expected <= set(owned), set(owned)
    kept_before = await rows_of_client(keep)
    code = (await Client.select(Client.code).where(Client.id == client_id).first())["code"]

    token = await _token(admin_client, f"/admin/clients/{client_id}/delete")
    response = await admin_client.post(
        f"/admin/clients/{client_id}/delete",
        data={"_csrf_token": token, "password": STAFF_PASSWORD},
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/clients"

    # Walk every table: nothing that belonged to the client is left, by any path...
    for table, column in tables_referring_to(Client):
        remaining = await table.count().where(getattr(table, column) == client_id)
        if table is ClientAudit:
            assert remaining == 1
        else:
            assert remaining == 0, f"{table._meta.tablename}.{column}"
    left = await rows_of_client(client_id)
    assert set(left) == {"client_audit"}, left
    tables = {table._meta.tablename: table for table in Finder().get_table_classes()}
    for tablename, ids in owned.items():
        if tablename != "client_audit":
            table = tables[tablename]
            assert await table.count().where(table._meta.primary_key.is_in(ids)) == 0, tablename
    # ...except the single audit line: the client ID and who deleted it, no personal data.
    [line] = await ClientAudit.select().where(ClientAudit.client_id == client_id)
    assert line["client_code"] == code and line["new_value"] == "deleted"
    assert line["staff_id"] == staff["id"] and line["address"] == "127.0.0.1"
    assert "Ada" not in line["old_value"] + line["new_value"]
    # The logins of this account alone went with it; the shared user keeps its login.
    left_logins = await AccountUser.select(AccountUser.id).where(AccountUser.id.is_in(logins))
    assert [row["id"] for row in left_logins] == [shared]
    assert await users.account_ids(shared) == [keep]
    # Other clients keep everything.
    assert await rows_of_client(keep) == kept_before
    # The message shows on the next page (Browse, where the redirect leads, or any other).
    assert (
        f"Client {code} (Ada Lovelace) and all of their records were deleted."
        in (await admin_client.get("/admin")).text
    )
    assert (await admin_client.get(f"/admin/clients/{client_id}")).status_code == 404


async def test_nested_rows_of_a_deleted_client_are_gone(admin_client, company_id):
    """Rows that belong to the client through another row (a contact's phone numbers,
    payments on its invoices) go too: their ids no longer exist."""
    client_id = await _client_with_everything(company_id)
    owned = await rows_of_client(client_id)
    await lifecycle.delete_client(
        company_id,
        client_id,
        staff_id=(await _staff_id()),
        password=STAFF_PASSWORD,
        actor=STAFF,
    )
    for table in (ContactNumber, Invoice, Transaction):
        ids = owned[table._meta.tablename]
        assert await table.count().where(table.id.is_in(ids)) == 0


async def _staff_id() -> int:
    return (await Staff.select(Staff.id).first())["id"]


# --- company scoping -----------------------------------------------------------------------


def _endpoints(client_id: int) -> list[tuple[str, str, dict]]:
    base = f"/admin/clients/{client_id}"
    return [
        ("GET", base, {}),
        ("GET", f"{base}/widgets/invoices", {}),
        ("GET", f"{base}/widgets/transactions", {}),
        ("GET", f"{base}/widgets/services", {}),
        ("GET", f"{base}/widgets/notes", {}),
        ("GET", f"{base}/widgets/emails", {}),
        ("GET", f"{base}/widgets/history", {}),
        ("GET", f"{base}/notes/add", {}),
        ("POST", f"{base}/notes/add", {"title": "x"}),
        ("POST", f"{base}/status", {"status": "fraud"}),
        ("GET", f"{base}/email", {}),
        ("POST", f"{base}/email", {"subject": "x", "body": "y"}),
        ("GET", f"{base}/delete", {}),
        ("POST", f"{base}/delete", {"password": STAFF_PASSWORD}),
        ("GET", f"{base}/invoices/add", {}),
        (
            "POST",
            f"{base}/invoices/add",
            {"description": "x", "amount": "1", "currency": "USD", "status": "open"},
        ),
        ("GET", f"{base}/payments/add", {}),
        ("POST", f"{base}/payments/add", {"amount": "1", "currency": "USD"}),
        ("GET", f"{base}/services/add", {}),
        ("POST", f"{base}/services/add", {"name": "x", "price": "1", "currency": "USD"}),
        ("POST", f"{base}/services/1/renew", {}),
    ]


async def test_other_company_and_unknown_clients_are_404_everywhere(
    admin_client, company_id, second_company
):
    theirs = await _client_with_everything(second_company)
    note = await ClientNote.select(ClientNote.id).first()
    token = await _token(admin_client, "/admin/clients/add")
    before = await rows_of_client(theirs)
    # Another company's client, an unknown id, ids no table can hold: all the same 404.
    for client_id in (theirs, 987654321, 0, 10**22):
        for method, path, data in [
            *_endpoints(client_id),
            ("GET", f"/admin/clients/{client_id}/notes/{note['id']}/edit", {}),
            ("POST", f"/admin/clients/{client_id}/notes/{note['id']}/delete", {}),
        ]:
            if method == "GET":
                response = await admin_client.get(path)
            else:
                response = await admin_client.post(path, data={"_csrf_token": token, **data})
            assert response.status_code == 404, (method, path, response.status_code)
            assert "Ada" not in response.text
    # The htmx fragment answer is a 404 too, retargeted to the message area.
    response = await admin_client.get(
        f"/admin/clients/{theirs}/widgets/invoices", headers={"HX-Request": "true"}
    )
    assert response.status_code == 404 and response.headers["hx-retarget"] == "#flash-messages"
    assert await rows_of_client(theirs) == before
    theirs_row = await Client.select(Client.status).where(Client.id == theirs).first()
    assert theirs_row["status"] == "active"


async def test_staff_without_access_to_the_company_get_404(client, company_id, second_company):
    theirs = await _client_with_everything(second_company)
    await make_staff("outsider@example.com", [company_id])
    await login_staff(client, "outsider@example.com", STAFF_PASSWORD)
    token = await _token(client, "/admin/clients/add")
    for method, path, data in _endpoints(theirs):
        if method == "GET":
            response = await client.get(path)
        else:
            response = await client.post(path, data={"_csrf_token": token, **data})
        assert response.status_code == 404, (method, path)
    assert await Client.count().where(Client.id == theirs) == 1


async def test_a_note_of_another_client_is_404(admin_client, company_id):
    mine, other = await make_client(company_id), await make_client(company_id)
    note_id = await notes.add_note(company_id, other, notes.NoteDetails(title="Theirs"), STAFF)
    token = await _token(admin_client, f"/admin/clients/{mine}")
    assert (
        await admin_client.get(f"/admin/clients/{mine}/notes/{note_id}/edit")
    ).status_code == 404
    response = await admin_client.post(
        f"/admin/clients/{mine}/notes/{note_id}/delete", data={"_csrf_token": token}
    )
    assert response.status_code == 404
    assert await ClientNote.count() == 1
    for path in (
        f"/admin/clients/{mine}/notes/{10**22}/delete",
        f"/admin/clients/{mine}/services/{10**22}/renew",
    ):
        response = await admin_client.post(path, data={"_csrf_token": token})
        assert response.status_code == 404, path
    assert (await admin_client.get(f"/admin/clients/{mine}/notes/{10**22}/edit")).status_code == 404
