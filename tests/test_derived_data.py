"""Data derived from the clients (Browse's counts, each client's copy of its primary contact's
country, the search documents) is kept by the database and the one before-commit step, not by
the writers: every write path there is, raw SQL included, leaves them equal to a fresh recount
and a fresh reindex."""

from __future__ import annotations

from datetime import UTC, datetime

from conftest import check_kept_in_step
from portal.api.permissions import all_api_permissions
from portal.api.services import create_key
from portal.client_area import services as client_area
from portal.client_groups.services import (
    FieldDetails,
    GroupDetails,
    create_field,
    create_group,
    delete_field,
    delete_group,
    update_field,
)
from portal.clients import bulk, counts, lifecycle, merge, search, tags, users
from portal.clients.demo import load_demo
from portal.clients.forms import client_details_of
from portal.clients.services import get_client, set_marketing_opt_in, update_client
from portal.clients.tables import AccountUser, Client, ClientCount, ClientMonthCount, ClientSearch
from portal.core import db
from portal.core.actors import SYSTEM, Actor
from portal.jobs import services as jobs
from portal.privacy import erasure
from portal.staff.services import create_staff
from profile_helpers import PASSWORD, make_client


async def _kept() -> tuple[list, list, dict]:
    all_time = await ClientCount.raw(
        'SELECT company, "group", country, status, clients FROM client_count '
        'WHERE clients <> 0 ORDER BY company, "group", country, status'
    )
    monthly = await ClientMonthCount.raw(
        'SELECT company, month, "group", country, status, clients FROM client_month_count '
        'WHERE clients <> 0 ORDER BY company, month, "group", country, status'
    )
    documents = {
        row["client"]: (row["company"], row["document"])
        for row in await ClientSearch.select(
            ClientSearch.client, ClientSearch.company, ClientSearch.document
        )
    }
    return all_time, monthly, documents


async def _assert_as_if_rebuilt() -> None:
    await check_kept_in_step()
    kept = await _kept()
    await counts.recount()
    await search.reindex_all()
    assert await _kept() == kept
    assert set(kept[2]) == {row["id"] for row in await Client.select(Client.id)}


async def _rename(company_id: int, client_id: int, **changes) -> None:
    client = await get_client(company_id, client_id)
    details = client_details_of(client, {})
    for name, value in changes.items():
        setattr(details, name, value)
    await update_client(
        company_id,
        client_id,
        details,
        expected_version=client.version,
        new_password=None,
        actor=SYSTEM,
    )


async def test_every_write_path_keeps_counts_and_search_as_a_rebuild_would(company_id):
    staff_id = await create_staff(
        email="w@example.com", password=PASSWORD, company_ids=[company_id]
    )
    vip = await create_group(company_id, GroupDetails(name="VIP"), SYSTEM)
    # Add Client, in two groups.
    ada = await make_client(company_id, first_name="Ada")
    grace = await make_client(company_id, first_name="Grace", group_id=vip)
    linus = await make_client(company_id, first_name="Linus", group_id=vip)
    # Edit Client: a new name, country and group.
    await _rename(company_id, ada, first_name="Augusta", country="GB", state="", group_id=str(vip))
    # The client's own edit in the client area.
    owner = await users.owner_of(grace)
    user = await client_area.session_client(owner["id"], grace, owner["session_epoch"])
    form = await client_area.details_form(user)
    own = client_details_of(form.client, form.values)
    own.city = "Hamilton"
    await client_area.update_own_details(user, own, form.client.version, "127.0.0.1")
    # Users of the account: one joins, is renamed (usernames are searchable), and leaves.
    async for transaction in db.write_transactions():
        async with transaction:
            helper = await users.add_user(
                company_id,
                username="helper-one",
                email="helper@example.com",
                name="Helper One",
                password_hash=None,
                language="en",
            )
            await users.add_member(helper, grace, permissions=["invoices"])
    assert (
        "helper-one"
        in (await ClientSearch.select().where(ClientSearch.client == grace))[0]["document"]
    )
    async for transaction in db.write_transactions():
        async with transaction:
            await AccountUser.update({AccountUser.username: "helper-two"}).where(
                AccountUser.id == helper
            )
    await _assert_as_if_rebuilt()
    await users.remove_member(company_id, grace, helper, SYSTEM)
    # Status, marketing consent, deletion.
    await lifecycle.set_status(company_id, linus, "fraud", SYSTEM)
    await set_marketing_opt_in(company_id, grace, True, SYSTEM, "test")
    await lifecycle.delete_client(
        company_id, linus, staff_id=staff_id, password=PASSWORD, actor=SYSTEM
    )
    # Custom fields: a searchable value, then encrypted (out of the index), then deleted.
    field = await create_field(company_id, vip, FieldDetails(label="Contract"), SYSTEM)
    await _rename(company_id, grace, custom={str(field): "CONTRACT-4711"})
    assert (
        "contract-4711"
        in (await ClientSearch.select().where(ClientSearch.client == grace))[0]["document"]
    )
    await update_field(company_id, field, FieldDetails(label="Contract", encrypted=True), SYSTEM)
    await update_field(company_id, field, FieldDetails(label="Contract", encrypted=False), SYSTEM)
    await delete_field(company_id, field, SYSTEM)
    # A group deleted: its clients move to the default group.
    await delete_group(company_id, vip, SYSTEM)
    # Bulk actions, each a job: status, group and a tag of every client, then a deletion.
    everyone = [row["id"] for row in await Client.select(Client.id)]
    chosen = bulk.Selection("browse", "", "ids", tuple(everyone))
    resellers = await create_group(company_id, GroupDetails(name="Resellers"), SYSTEM)
    tag_id = await tags.create_tag(company_id, "Bulk", "red", SYSTEM)
    bulk_actor = Actor(kind="staff", id=staff_id, name="W")
    for order, selection in (
        (bulk.Order("status", status="inactive"), chosen),
        (bulk.Order("group", group_id=resellers), chosen),
        (bulk.Order("add_tag", tag_id=tag_id), chosen),
        (bulk.Order("delete"), bulk.Selection("browse", "", "ids", (ada,))),
    ):
        job_id = await bulk.start(
            company_id,
            bulk_actor,
            selection,
            order,
            confirmed=len(selection.client_ids),
            password=PASSWORD,
        )
        assert (await jobs.run_job(job_id)).status == "done"
    await _assert_as_if_rebuilt()
    # Demo data, in bulk.
    await load_demo(120, company_id=company_id, seed=7)
    await _assert_as_if_rebuilt()
    # A merge: the duplicate's contacts, users and values move to the kept client, then it goes.
    kept, duplicate = await Client.select(Client.id, Client.version).order_by(Client.id).limit(2)
    await merge.merge_clients(
        company_id,
        kept["id"],
        duplicate["id"],
        kept_version=kept["version"],
        merged_version=duplicate["version"],
        actor=SYSTEM,
    )
    await _assert_as_if_rebuilt()
    # An anonymisation: its contacts renamed, its numbers, values and users gone.
    await erasure.anonymise_client(company_id, kept["id"], SYSTEM, "The client asked")
    await _assert_as_if_rebuilt()


async def test_raw_sql_is_kept_in_step_too(company_id):
    """Writes around the services (a shell, an import script): the triggers count them, and
    the next write transaction indexes them."""
    client_id = await make_client(company_id)
    group = (await Client.select(Client.group).where(Client.id == client_id).first())["group"]
    now = datetime.now(UTC)
    async for transaction in db.write_transactions():
        async with transaction:
            rows = await Client.raw(
                'INSERT INTO client (company, "group", number, code, status, country, '
                "preferred_currency, language, tax_exempt, tax_id, marketing_opt_in, "
                "version, created_at, updated_at) VALUES "
                "({}, {}, 9001, 'RAW-9001', 'active', '', 'USD', 'en', "
                "{}, '', {}, 1, {}, {}) RETURNING id",
                company_id,
                group,
                False,
                False,
                now,
                now,
            )
            raw_id = rows[0]["id"]
            await Client.raw(
                "INSERT INTO contact (client, contact_type, first_name, last_name, company, "
                "title, address1, address2, city, state, zip, country, email) VALUES "
                "({}, 'primary', 'Rawley', 'Sequel', '', '', '', '', 'Oslo', '', '', 'NO', "
                "'raw@example.com')",
                raw_id,
            )
    document = (await ClientSearch.select().where(ClientSearch.client == raw_id))[0]["document"]
    assert "rawley sequel" in document and "raw-9001" in document
    await Client.raw(
        "UPDATE contact SET country = 'SE', last_name = 'Query' WHERE client = {}", raw_id
    )
    await Client.raw("UPDATE client SET status = 'inactive' WHERE id = {}", client_id)
    await Client.raw("DELETE FROM contact_number")  # outside any transaction: queued
    await db.refresh_derived_data()  # as housekeeping does
    # Invoices written, paid, moved and deleted in raw SQL, several rows a statement.
    for number, (status, total, paid, due) in enumerate(
        [
            ("open", 1000, 0, "2026-01-05"),
            ("open", 500, 200, "2026-01-05"),
            ("draft", 700, 0, "2026-02-01"),
            ("open", 300, 0, "2026-03-01"),
            ("paid", 90, 90, "2026-03-01"),
        ],
        start=9001,
    ):
        await Client.raw(
            "INSERT INTO invoice (company, client, number, currency, description, date_billed, "
            "date_due, status, subtotal, tax_rate, tax, total, amount_paid, created_at) VALUES "
            f"({{}}, {{}}, {{}}, 'EUR', '', '2025-12-01', '{due}', '{status}', {{}}, '0', 0, {{}}, "
            "{}, {})",
            company_id,
            client_id if number % 2 else raw_id,
            number,
            total,
            total,
            paid,
            now,
        )
    await check_kept_in_step()
    await Client.raw("UPDATE invoice SET amount_paid = total, status = 'paid' WHERE total = 500")
    await Client.raw("UPDATE invoice SET status = 'open' WHERE status = 'draft'")
    await Client.raw("UPDATE invoice SET date_due = '2026-04-01', currency = 'USD'")
    await check_kept_in_step()
    await Client.raw("DELETE FROM invoice WHERE total = 300")
    await Client.raw("DELETE FROM client WHERE id = {}", client_id)  # and its invoices
    await _assert_as_if_rebuilt()


async def test_the_apis_writes_keep_them_too(client, company_id):
    """The JSON API's writes go through the same services: a client added, edited (a new name,
    country and group), given a contact and a status, and another deleted."""
    key = (await create_key(company_id, "sync", all_api_permissions(), SYSTEM))[1]
    headers = {"Authorization": f"Bearer {key}"}
    vip = await create_group(company_id, GroupDetails(name="VIP"), SYSTEM)
    ids = []
    for name in ("Ada", "Linus"):
        added = await client.post(
            "/api/v1/clients",
            json={"first_name": name, "last_name": "Api", "email": f"{name}@example.com"},
            headers=headers,
        )
        assert added.status_code == 201, added.text
        ids.append(added.json()["id"])
    ada, linus = ids
    edited = await client.patch(
        f"/api/v1/clients/{ada}",
        json={"first_name": "Augusta", "country": "GB", "group_id": vip},
        headers={**headers, "If-Match": '"1"'},
    )
    assert edited.status_code == 200, edited.text
    contact = await client.post(
        f"/api/v1/clients/{ada}/contacts",
        json={"first_name": "Bill", "last_name": "Payer", "email": "bill@example.com"},
        headers=headers,
    )
    assert contact.status_code == 201, contact.text
    assert (
        "bill payer"
        in (await ClientSearch.select().where(ClientSearch.client == ada))[0]["document"]
    )
    status = await client.put(
        f"/api/v1/clients/{ada}/status",
        json={"status": "inactive"},
        headers={**headers, "If-Match": edited.headers["etag"]},
    )
    assert status.status_code == 200, status.text
    deleted = await client.delete(f"/api/v1/clients/{linus}", headers={**headers, "If-Match": "*"})
    assert deleted.status_code == 204
    await _assert_as_if_rebuilt()
