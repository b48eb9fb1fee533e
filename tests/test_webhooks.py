"""Signed webhooks ([Settings] > [Company] > Webhooks). Events are written with the change
(none for a rolled-back one) by every write path; the worker dispatches them to the endpoints
that chose them and POSTs them, signed, to a real local receiver that checks each signature as
the Standard Webhooks specification says; a refusal is tried again, a hanging endpoint times
out, repeated failures disable the endpoint and mail the company, private addresses are
refused unless allowed, Redeliver sends again, permissions and companies hold, and a worker
killed mid-delivery (kill -9 of `portal webhooks run`) loses nothing."""

from __future__ import annotations

import asyncio
import contextvars
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime

import pytest

from conftest import _VAR_DIR, PROJECT_DIR, csrf_from, login_staff
from portal.billing import services as billing
from portal.client_area import services as client_area
from portal.client_groups.services import FieldDetails, GroupDetails, create_field, create_group
from portal.clients import bulk, contacts, lifecycle, merge, notes, tags, users
from portal.clients.contacts import ContactDetails
from portal.clients.forms import client_details_of
from portal.clients.services import custom_values, get_client, set_marketing_opt_in, update_client
from portal.clients.tables import Client, ConsentEvent
from portal.core import db
from portal.core.actors import SYSTEM, Actor
from portal.core.config import get_settings
from portal.core.errors import NotFound, ValidationError
from portal.core.permissions import Forbidden
from portal.events.services import EVENT_TYPES
from portal.events.tables import Event
from portal.jobs import services as jobs
from portal.plugins.mass_mailer import services as mailer
from portal.staff.services import create_staff
from portal.webhooks import services
from portal.webhooks.services import EndpointDetails
from portal.webhooks.tables import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from portal.webhooks.worker import DeliveryPolicy, DeliveryWorker
from profile_helpers import PASSWORD, make_client
from webhook_helpers import Receiver

STAFF_WITHOUT_WEBHOOKS = "Quiet-river-73"


def policy(**changes) -> DeliveryPolicy:
    """Retries at once (50 ms, doubling) so that tests need not wait half a minute."""
    return DeliveryPolicy(
        **{"retry_seconds": 0.05, "max_attempts": 8, "lease_seconds": 60} | changes
    )


async def endpoint_for(company_id: int, receiver: Receiver, types=None) -> int:
    """An endpoint of the company at the receiver (on 127.0.0.1: the company allows private
    addresses), for `types` (default: every event); the receiver learns its secret."""
    await services.set_allows_private(company_id, True, SYSTEM)
    endpoint_id, secret = await services.create_endpoint(
        company_id, EndpointDetails(receiver.url, "Receiver", list(types or EVENT_TYPES)), SYSTEM
    )
    receiver.secrets.append(secret)
    return endpoint_id


async def settle(worker: DeliveryWorker, seconds: float = 20) -> None:
    """Runs the worker until every event is dispatched and no delivery to an enabled endpoint
    is pending (retries included)."""
    deadline = time.monotonic() + seconds
    while True:
        await worker.run_until_idle()
        pending = await WebhookDelivery.raw(
            "SELECT d.id FROM webhook_delivery d JOIN webhook_endpoint w ON w.id = d.endpoint "
            "WHERE d.status = 'pending' AND w.enabled = {} LIMIT 1",
            True,
        )
        if not pending and not await Event.exists().where(Event.dispatched_at.is_null()):
            return
        assert time.monotonic() < deadline, "deliveries still pending"
        await asyncio.sleep(0.05)


async def deliveries_of(endpoint_id: int) -> list[dict]:
    return (
        await WebhookDelivery.select()
        .where(WebhookDelivery.endpoint == endpoint_id)
        .order_by(WebhookDelivery.id)
    )


async def edit_client(company_id: int, client_id: int, *, password: str | None = None, **changes):
    """Edit Client, as staff save it, with `changes` to the form's fields."""
    client = await get_client(company_id, client_id)
    details = client_details_of(client, await custom_values(client_id))
    for name, value in changes.items():
        setattr(details, name, value)
    await update_client(
        company_id,
        client_id,
        details,
        expected_version=client.version,
        new_password=password,
        actor=SYSTEM,
    )


def billing_contact(**changes) -> ContactDetails:
    values = {
        "first_name": "Bill",
        "last_name": "Payer",
        "address1": "5 Ledger Lane",
        "city": "Toronto",
        "country": "CA",
        "state": "CA-ON",
        "zip": "M5V 2T6",
        "email": "bill@example.com",
        "contact_type": "billing",
    }
    return ContactDetails(**values | changes)


# --- delivery -------------------------------------------------------------------------------


async def test_each_event_reaches_the_receiver_once_signed(company_id):
    with Receiver() as receiver:
        endpoint_id = await endpoint_for(company_id, receiver)
        client_id = await make_client(company_id, first_name="Ada")
        await edit_client(company_id, client_id, first_name="Augusta")
        await lifecycle.set_status(company_id, client_id, "inactive", SYSTEM)
        await set_marketing_opt_in(company_id, client_id, True, SYSTEM, "test")
        contact_id = await contacts.add_contact(company_id, client_id, billing_contact(), SYSTEM)
        await contacts.delete_contact(company_id, client_id, contact_id, SYSTEM)
        await settle(DeliveryWorker(policy()))

    assert Counter(receiver.types()) == Counter(
        [
            "client.created",
            "client.updated",
            "client.status_changed",
            "consent.granted",
            "contact.created",
            "contact.deleted",
        ]
    )
    assert all(entry.verified for entry in receiver.received)
    assert len({entry.message_id for entry in receiver.received}) == 6
    code = (await get_client(company_id, client_id)).code
    by_type = {entry.event["type"]: entry.event for entry in receiver.received}
    client = {"id": client_id, "code": code}
    assert by_type["client.updated"]["data"] == {"client": client, "changes": ["First Name"]}
    assert by_type["client.status_changed"]["data"] == {
        "client": client,
        "status": {"old": "active", "new": "inactive"},
    }
    assert by_type["consent.granted"]["data"] == {
        "client": client,
        "contact": None,
        "source": "test",
    }
    assert by_type["contact.deleted"]["data"] == {"client": client, "contact": {"id": contact_id}}
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", by_type["client.created"]["timestamp"]
    )
    rows = await deliveries_of(endpoint_id)
    assert [(row["status"], row["attempts"], row["response_code"]) for row in rows] == [
        ("delivered", 1, 200)
    ] * 6


async def test_an_endpoint_gets_only_the_events_it_chose(company_id):
    with Receiver() as receiver:
        await endpoint_for(company_id, receiver, types=["client.status_changed"])
        client_id = await make_client(company_id)
        await lifecycle.set_status(company_id, client_id, "fraud", SYSTEM)
        await settle(DeliveryWorker(policy()))
    assert receiver.types() == ["client.status_changed"]


async def test_a_refusal_is_tried_again_with_backoff(company_id):
    assert 9 <= policy(retry_seconds=10).retry_delay(1).total_seconds() <= 11
    assert 36 <= policy(retry_seconds=10).retry_delay(3).total_seconds() <= 44
    with Receiver() as receiver:
        receiver.answers = [500]
        endpoint_id = await endpoint_for(company_id, receiver, types=["client.created"])
        await make_client(company_id)
        worker = DeliveryWorker(policy())
        await worker.run_until_idle()
        [row] = await deliveries_of(endpoint_id)
        assert (row["status"], row["attempts"], row["response_code"]) == ("pending", 1, 500)
        assert row["next_attempt_at"] > row["created_at"] and row["error"] == "HTTP 500"
        await settle(worker)
    first, second = receiver.received
    assert first.message_id == second.message_id and first.verified and second.verified
    assert receiver.delivered_ids() == [first.message_id]
    [row] = await deliveries_of(endpoint_id)
    assert (row["status"], row["attempts"], row["response_code"]) == ("delivered", 2, 200)
    attempts = await WebhookAttempt.select().order_by(WebhookAttempt.id)
    assert [(a["response_code"], a["error"]) for a in attempts] == [(500, "HTTP 500"), (200, "")]
    # The receiver is on a private address (loopback): its log keeps the status, not what
    # it answered ("refused for now"), so that a webhook cannot read internal services.
    assert attempts[0]["response_excerpt"] == ""


async def test_an_endpoint_that_hangs_times_out_and_is_tried_again(company_id):
    with Receiver() as receiver:
        receiver.holds = [10]
        endpoint_id = await endpoint_for(company_id, receiver, types=["client.created"])
        await make_client(company_id)
        worker = DeliveryWorker(policy(total_seconds=1))
        started = time.monotonic()
        await worker.run_until_idle()
        assert time.monotonic() - started < 5
        [row] = await deliveries_of(endpoint_id)
        assert (row["status"], row["response_code"]) == ("pending", None)
        assert row["error"] == "No complete answer within 1 seconds."
        await settle(worker)
        [row] = await deliveries_of(endpoint_id)
        assert row["status"] == "delivered" and row["attempts"] == 2


async def test_repeated_failures_disable_the_endpoint_and_mail_the_company(
    company_id, staff, smtp_server
):
    with Receiver() as receiver:
        receiver.answers = [503] * 10
        endpoint_id = await endpoint_for(company_id, receiver, types=["client.created"])
        await make_client(company_id)
        await make_client(company_id)
        await settle(DeliveryWorker(policy(max_attempts=2, disable_after=2)))
        assert len(receiver.received) == 4
        endpoint = await services.get_endpoint(company_id, endpoint_id)
        assert not endpoint.enabled and endpoint.disabled_at is not None
        assert endpoint.disabled_reason.startswith("2 deliveries in a row failed")
        assert [row["status"] for row in await deliveries_of(endpoint_id)] == ["failed"] * 2
        [message] = smtp_server.messages
        assert message["To"] == staff["email"]
        assert message["Subject"] == f"Webhook endpoint disabled: {receiver.url}"
        body = message.get_body(("plain",)).get_content()
        assert endpoint.disabled_reason in body
        assert f"/admin/settings/company/webhooks/{endpoint_id}" in body
        # Disabled: nothing more is sent to it, and Send test event says why.
        await make_client(company_id)
        await settle(DeliveryWorker(policy()))
        assert len(await deliveries_of(endpoint_id)) == 2
        with pytest.raises(ValidationError):
            await services.send_test_event(company_id, endpoint_id, SYSTEM)
        # Enabled again: its count starts afresh.
        await services.update_endpoint(
            company_id,
            endpoint_id,
            EndpointDetails(receiver.url, "", ["client.created"], enabled=True),
            SYSTEM,
        )
        endpoint = await services.get_endpoint(company_id, endpoint_id)
        assert (
            endpoint.enabled and endpoint.failed_deliveries == 0 and endpoint.disabled_reason == ""
        )


async def test_enabling_an_endpoint_the_worker_disabled_meanwhile_starts_its_count_afresh(
    company_id,
):
    """Staff save the endpoint enabled, as the form showed it, while the worker's transaction
    disables it: the save, which waits for that transaction, enables it with its count of
    failures at 0, not at the limit that had just disabled it."""
    with Receiver() as receiver:
        endpoint_id = await endpoint_for(company_id, receiver, types=["client.created"])
        details = EndpointDetails(receiver.url, "", ["client.created"], enabled=True)
        async for transaction in db.write_transactions():
            async with transaction:
                await WebhookEndpoint.update(
                    {
                        WebhookEndpoint.enabled: False,
                        WebhookEndpoint.failed_deliveries: 5,
                        WebhookEndpoint.disabled_at: datetime.now(UTC),
                        WebhookEndpoint.disabled_reason: "5 deliveries in a row failed.",
                    }
                ).where(WebhookEndpoint.id == endpoint_id)
                # A context of its own: the save is another request, outside this transaction.
                saving = asyncio.create_task(
                    services.update_endpoint(company_id, endpoint_id, details, SYSTEM),
                    context=contextvars.Context(),
                )
                await asyncio.sleep(0.3)
                assert not saving.done()  # it waits for the worker's transaction
        await saving
        endpoint = await services.get_endpoint(company_id, endpoint_id)
        assert endpoint.enabled
        assert endpoint.failed_deliveries == 0 and endpoint.disabled_reason == ""
        assert endpoint.disabled_at is None


async def test_a_delivered_event_resets_the_count_of_failures(company_id):
    with Receiver() as receiver:
        receiver.answers = [500]
        endpoint_id = await endpoint_for(company_id, receiver, types=["client.created"])
        await make_client(company_id)
        await settle(DeliveryWorker(policy(max_attempts=1)))
        assert (await services.get_endpoint(company_id, endpoint_id)).failed_deliveries == 1
        await make_client(company_id)
        await settle(DeliveryWorker(policy(max_attempts=1)))
        endpoint = await services.get_endpoint(company_id, endpoint_id)
        assert endpoint.failed_deliveries == 0 and endpoint.enabled


async def test_a_rotated_secret_signs_beside_the_new_one_for_a_while(company_id):
    with Receiver() as receiver:
        endpoint_id = await endpoint_for(company_id, receiver, types=["client.created"])
        old = receiver.secrets.pop()
        new = await services.rotate_secret(company_id, endpoint_id, SYSTEM)
        assert new != old and new.startswith("whsec_")
        for secret in (old, new):  # a receiver that knows either one accepts the request
            receiver.secrets = [secret]
            await make_client(company_id)
            await settle(DeliveryWorker(policy()))
        assert [entry.verified for entry in receiver.received] == [True, True]
        assert all(len(entry.signatures) == 2 for entry in receiver.received)
        # After the grace period the old secret signs no more.
        await WebhookEndpoint.update(
            {WebhookEndpoint.previous_secret_until: datetime.now(UTC)}
        ).where(WebhookEndpoint.id == endpoint_id)
        receiver.secrets = [old]
        await make_client(company_id)
        await settle(DeliveryWorker(policy(max_attempts=1)))
        assert len(receiver.received[-1].signatures) == 1 and not receiver.received[-1].verified
    stored = (await WebhookEndpoint.select().first())["secret"]
    assert new not in stored and stored.startswith("enc1:")


# --- the outbox -----------------------------------------------------------------------------


async def test_a_rolled_back_change_emits_nothing(company_id):
    client_id = await make_client(company_id)
    before = await Event.count()
    with pytest.raises(RuntimeError):
        async for transaction in db.write_transactions():
            async with transaction:
                await lifecycle.set_status(company_id, client_id, "fraud", SYSTEM)
                await set_marketing_opt_in(company_id, client_id, True, SYSTEM, "test")
                assert await Event.count() == before + 2  # written, inside the transaction
                raise RuntimeError("the change fails after its writes")
    assert await Event.count() == before
    assert (await get_client(company_id, client_id)).status == "active"
    # A change refused before it writes emits nothing either.
    with pytest.raises(ValidationError):
        await lifecycle.set_status(company_id, client_id, "asleep", SYSTEM)
    assert await Event.count() == before
    # A committed change has its event at once, whether or not a worker ever runs.
    await lifecycle.set_status(company_id, client_id, "fraud", SYSTEM)
    assert await Event.count() == before + 1


async def test_every_client_write_path_emits_its_events(company_id):
    seen = 0

    async def emitted() -> list[tuple[str, dict]]:
        """The events written since the last call, in order."""
        nonlocal seen
        rows = await Event.select().where(Event.id > seen).order_by(Event.id)
        if rows:
            seen = rows[-1]["id"]
        return [(row["event_type"], json.loads(row["data"])) for row in rows]

    def types(events: list[tuple[str, dict]]) -> list[str]:
        return sorted(event_type for event_type, _ in events)

    # Add Client (the path imports share: insert_clients), with and without consent.
    ada = await make_client(company_id, first_name="Ada")
    ref = {"id": ada, "code": (await get_client(company_id, ada)).code}
    assert await emitted() == [("client.created", {"client": ref})]
    grace = await make_client(company_id, first_name="Grace", marketing_opt_in=True)
    assert types(await emitted()) == ["client.created", "consent.granted"]
    # Edit Client: fields, the password and an encrypted custom field name what changed only.
    group = (await get_client(company_id, ada)).group_id
    field_id = await create_field(
        company_id, group, FieldDetails(label="Contract", encrypted=True), SYSTEM
    )
    await edit_client(
        company_id,
        ada,
        password="Another-horse-43",
        city="Hamilton",
        custom={str(field_id): "K-4711"},
    )
    [(kind, data)] = await emitted()
    assert kind == "client.updated"
    assert data == {"client": ref, "changes": ["City", "Contract", "Password"]}
    await edit_client(company_id, ada, marketing_opt_in=True)
    assert types(await emitted()) == ["client.updated", "consent.granted"]
    assert "K-4711" not in json.dumps(await Event.select(Event.data))
    # The client's own edit in the client area.
    owner = await users.owner_of(grace)
    user = await client_area.session_client(owner["id"], grace, owner["session_epoch"])
    form = await client_area.details_form(user)
    own = client_details_of(form.client, form.values)
    own.city = "Ottawa"
    await client_area.update_own_details(user, own, form.client.version, "127.0.0.1")
    assert types(await emitted()) == ["client.updated"]
    # Status and marketing consent from the profile.
    await lifecycle.set_status(company_id, ada, "inactive", SYSTEM)
    assert types(await emitted()) == ["client.status_changed"]
    await set_marketing_opt_in(company_id, ada, False, SYSTEM, "admin-edit-client")
    [(kind, data)] = await emitted()
    assert (kind, data["source"]) == ("consent.withdrawn", "admin-edit-client")
    # Contacts: added (opted in), changed, consent withdrawn, deleted.
    contact_id = await contacts.add_contact(
        company_id, ada, billing_contact(marketing_opt_in=True), SYSTEM
    )
    assert types(await emitted()) == ["consent.granted", "contact.created"]
    await contacts.update_contact(
        company_id, ada, contact_id, billing_contact(marketing_opt_in=True, city="Kingston"), SYSTEM
    )
    about = {"client": ref, "contact": {"id": contact_id}}
    assert await emitted() == [("contact.updated", {**about, "changes": ["City"]})]
    await contacts.set_contact_marketing_opt_in(company_id, ada, contact_id, False, SYSTEM, "test")
    assert await emitted() == [("consent.withdrawn", {**about, "source": "test"})]
    # The mass mailer's unsubscribe of a contact, and a consent record written in SQL.
    await contacts.set_contact_marketing_opt_in(company_id, ada, contact_id, True, SYSTEM, "test")
    await emitted()
    async for transaction in db.write_transactions():
        async with transaction:
            await mailer.opt_out_contact(ada, contact_id, SYSTEM, "unsubscribe-link", "Unsubscribe")
    assert types(await emitted()) == ["consent.withdrawn"]
    await ConsentEvent.raw(
        "INSERT INTO consent_event (client, opted_in, actor, source, wording, address, at) "
        "VALUES ({}, {}, 'system', 'sql', 'Opt-in', '', {})",
        grace,
        True,
        datetime.now(UTC),
    )
    assert types(await emitted()) == ["consent.granted"]
    await contacts.delete_contact(company_id, ada, contact_id, SYSTEM)
    assert await emitted() == [("contact.deleted", about)]
    # What is done for a client rather than to its details emits nothing.
    await notes.add_note(company_id, ada, notes.NoteDetails(title="Called"), SYSTEM)
    await lifecycle.email_client(company_id, ada, "Hello", "A message.", SYSTEM)
    await billing.create_invoice(
        company_id,
        ada,
        billing.InvoiceDetails(
            description="Hosting",
            amount="20.00",
            currency="USD",
            date_billed="2026-01-01",
            date_due="2026-01-15",
        ),
        SYSTEM,
    )
    await users.invite(company_id, ada, "someone@example.com", ["invoices"], SYSTEM)
    assert await emitted() == []
    # Bulk actions, each a job: status, group and tag of each client, one event per client.
    staff_id = await create_staff(
        email="d@example.com", password=PASSWORD, company_ids=[company_id]
    )
    bulk_actor = Actor(kind="staff", id=staff_id, name="D")
    both = bulk.Selection("browse", "", "ids", (ada, grace))
    resellers = await create_group(company_id, GroupDetails(name="Resellers"), SYSTEM)
    tag_id = await tags.create_tag(company_id, "VIP", "red", SYSTEM)
    for order, expected in (
        (bulk.Order("status", status="fraud"), "client.status_changed"),
        (bulk.Order("group", group_id=resellers), "client.updated"),
        (bulk.Order("add_tag", tag_id=tag_id), "client.updated"),
    ):
        job_id = await bulk.start(
            company_id, bulk_actor, both, order, confirmed=2, password=PASSWORD
        )
        assert (await jobs.run_job(job_id)).status == "done"
        events = await emitted()
        assert types(events) == [expected, expected]
        assert {data["client"]["id"] for _, data in events} == {ada, grace}
    # Merge Client: the kept client is updated, the merged one deleted.
    linus = await make_client(company_id, first_name="Linus")
    await emitted()
    versions = {row["id"]: row["version"] for row in await Client.select(Client.id, Client.version)}
    await merge.merge_clients(
        company_id,
        grace,
        linus,
        kept_version=versions[grace],
        merged_version=versions[linus],
        actor=SYSTEM,
    )
    merged = await emitted()
    assert sorted((kind, data["client"]["id"]) for kind, data in merged) == [
        ("client.deleted", linus),
        ("client.updated", grace),
    ]
    # Delete Client: one event; its contacts go with it without events of their own.
    await contacts.add_contact(company_id, grace, billing_contact(), SYSTEM)
    await emitted()
    await lifecycle.delete_client(
        company_id, grace, staff_id=staff_id, password=PASSWORD, actor=SYSTEM
    )
    [(kind, data)] = await emitted()
    assert kind == "client.deleted" and data["client"]["id"] == grace


# --- bad input ------------------------------------------------------------------------------


async def test_private_addresses_are_refused_unless_the_company_allows_them(
    company_id, monkeypatch
):
    assert not await services.allows_private(company_id)  # the default outside development
    for url in (
        "http://127.0.0.1:8000/hooks",
        "http://localhost/hooks",
        "https://10.1.2.3/hooks",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hooks",
        "http://[::ffff:192.168.0.1]/hooks",
        "http://0.0.0.0/hooks",
    ):
        with pytest.raises(ValidationError) as refused:
            await services.create_endpoint(
                company_id, EndpointDetails(url, "", ["client.created"]), SYSTEM
            )
        assert "does not allow webhooks to private addresses" in refused.value.errors["url"], url
    for url, words in (
        ("ftp://example.com/hooks", "starting with https://"),
        ("example.com/hooks", "starting with https://"),
        ("https://user:secret@example.com/hooks", "user name and password"),
        ("https://example.com:99999/hooks", "valid URL"),
        ("https://example.com/hooks#part", "fragment"),
        ("https://exa mple.com/", "spaces"),
        ("https://" + "a" * 2000 + ".com/", "too long"),
        ("https://no-such-host.invalid/hooks", "could not be found"),
    ):
        with pytest.raises(ValidationError) as refused:
            await services.create_endpoint(
                company_id, EndpointDetails(url, "", ["client.created"]), SYSTEM
            )
        assert words in refused.value.errors["url"], url
    with pytest.raises(ValidationError) as refused:
        await services.create_endpoint(
            company_id, EndpointDetails("https://192.0.2.1/", "", ["client.nothing"]), SYSTEM
        )
    assert set(refused.value.errors) == {"url", "event_types"}  # 192.0.2.0/24: documentation
    assert await WebhookEndpoint.count() == 0
    # A public address is fine (nothing is sent when saving).
    await services.create_endpoint(
        company_id, EndpointDetails("http://93.184.215.14/hooks", "", ["client.created"]), SYSTEM
    )
    # On a development install the setting starts on.
    monkeypatch.setenv("PORTAL_ENV", "development")
    get_settings.cache_clear()
    try:
        assert await services.allows_private(company_id)
        await services.set_allows_private(company_id, False, SYSTEM)
        assert not await services.allows_private(company_id)
    finally:
        monkeypatch.delenv("PORTAL_ENV")
        get_settings.cache_clear()


async def test_the_address_is_checked_again_before_each_attempt(company_id):
    with Receiver() as receiver:
        endpoint_id = await endpoint_for(company_id, receiver, types=["client.created"])
        await services.set_allows_private(company_id, False, SYSTEM)
        await make_client(company_id)
        await DeliveryWorker(policy()).run_until_idle()
    assert receiver.received == []
    [row] = await deliveries_of(endpoint_id)
    assert row["status"] == "pending" and row["error"].startswith(
        "Not sent: 127.0.0.1 is an address"
    )


async def test_the_add_form_refuses_bad_input_with_everything_kept(admin_client, company_id):
    page = await admin_client.get("/admin/settings/company/webhooks/add")
    assert page.status_code == 200
    response = await admin_client.post(
        "/admin/settings/company/webhooks/add",
        data={
            "_csrf_token": csrf_from(page.text),
            "url": "http://127.0.0.1:9/hooks",
            "description": "CRM",
            "event_types": ["client.created", "consent.granted"],
            "enabled": "1",
        },
    )
    assert response.status_code == 422
    assert "does not allow webhooks to private addresses" in response.text
    assert 'value="http://127.0.0.1:9/hooks"' in response.text and 'value="CRM"' in response.text
    assert (
        'value="consent.granted" aria-describedby="event-consent-granted-hint" checked'
        in response.text
    )
    assert await WebhookEndpoint.count() == 0


# --- the pages ------------------------------------------------------------------------------


async def test_endpoint_pages_secret_test_event_log_and_redeliver(admin_client, company_id):
    listing = await admin_client.get("/admin/settings/company/webhooks")
    assert listing.status_code == 200 and "No endpoints yet." in listing.text
    assert 'href="/admin/settings/company/webhooks">Company &gt; Webhooks</a>' in listing.text
    response = await admin_client.post(
        "/admin/settings/company/webhooks/settings",
        data={"_csrf_token": csrf_from(listing.text), "allow_private": "1"},
    )
    assert response.status_code == 303
    with Receiver() as receiver:
        page = await admin_client.get("/admin/settings/company/webhooks/add")
        created = await admin_client.post(
            "/admin/settings/company/webhooks/add",
            data={
                "_csrf_token": csrf_from(page.text),
                "url": receiver.url,
                "description": "CRM",
                "event_types": ["client.created"],
                "enabled": "1",
            },
        )
        assert created.status_code == 200
        secret = re.search(r'id="webhook-secret"[^>]*value="(whsec_[^"]+)"', created.text).group(1)
        receiver.secrets.append(secret)
        [endpoint] = await services.list_endpoints(company_id)
        url = f"/admin/settings/company/webhooks/{endpoint.id}"
        page = await admin_client.get(url)
        assert page.status_code == 200 and secret not in page.text
        assert "Nothing delivered yet" in page.text
        sent = await admin_client.post(f"{url}/test", data={"_csrf_token": csrf_from(page.text)})
        assert sent.status_code == 303
        await settle(DeliveryWorker(policy()))
        [entry] = receiver.received
        assert entry.verified and entry.event["type"] == "webhook.test"
        page = await admin_client.get(url)
        assert "webhook.test" in page.text and "Delivered" in page.text and "HTTP 200" in page.text
        region = await admin_client.get(
            url, headers={"HX-Request": "true", "HX-Target": "webhook-deliveries"}
        )
        assert 'id="webhook-deliveries"' in region.text and "<html" not in region.text
        [delivery] = await deliveries_of(endpoint.id)
        detail = await admin_client.get(f"{url}/deliveries/{delivery['id']}")
        assert detail.status_code == 200 and entry.message_id in detail.text
        assert "HTTP 200" in detail.text and "sent_by" in detail.text
        again = await admin_client.post(
            f"{url}/deliveries/{delivery['id']}/redeliver",
            data={"_csrf_token": csrf_from(page.text)},
        )
        assert again.status_code == 303
        await settle(DeliveryWorker(policy()))
        assert [e.message_id for e in receiver.received] == [entry.message_id] * 2
        assert len(await deliveries_of(endpoint.id)) == 2
        rotated = await admin_client.post(
            f"{url}/rotate", data={"_csrf_token": csrf_from(page.text)}
        )
        assert rotated.status_code == 200 and "Secret rotated" in rotated.text
        new_secret = re.search(r'value="(whsec_[^"]+)"', rotated.text).group(1)
        assert new_secret != secret
        saved = await admin_client.post(
            url,
            data={
                "_csrf_token": csrf_from(page.text),
                "url": receiver.url,
                "description": "CRM 2",
                "event_types": ["client.deleted"],
            },
        )
        assert saved.status_code == 303
        endpoint = await services.get_endpoint(company_id, endpoint.id)
        assert (endpoint.description, endpoint.event_types, endpoint.enabled) == (
            "CRM 2",
            ["client.deleted"],
            False,
        )
        confirm = await admin_client.get(f"{url}/delete")
        assert confirm.status_code == 200 and "Delete Endpoint" in confirm.text
        deleted = await admin_client.post(
            f"{url}/delete", data={"_csrf_token": csrf_from(confirm.text)}
        )
        assert deleted.status_code == 303
    assert await WebhookEndpoint.count() == 0 and await WebhookDelivery.count() == 0


async def test_redeliver_sends_a_finished_delivery_again(company_id):
    with Receiver() as receiver:
        receiver.answers = [500]
        endpoint_id = await endpoint_for(company_id, receiver, types=["client.created"])
        await make_client(company_id)
        await DeliveryWorker(policy(retry_seconds=3600)).run_until_idle()
        [row] = await deliveries_of(endpoint_id)
        with pytest.raises(ValidationError):  # still being tried
            await services.redeliver(company_id, endpoint_id, row["id"], SYSTEM)
        await WebhookDelivery.update({WebhookDelivery.status: "failed"}).where(
            WebhookDelivery.id == row["id"]
        )
        new_id = await services.redeliver(company_id, endpoint_id, row["id"], SYSTEM)
        await settle(DeliveryWorker(policy()))
    assert new_id != row["id"]
    assert [r["status"] for r in await deliveries_of(endpoint_id)] == ["failed", "delivered"]
    first, second = receiver.received
    assert first.message_id == second.message_id
    # A delivery that is not there is not found, whatever the endpoint's state.
    await WebhookEndpoint.update({WebhookEndpoint.enabled: False}).where(
        WebhookEndpoint.id == endpoint_id
    )
    with pytest.raises(NotFound):
        await services.redeliver(company_id, endpoint_id, new_id + 1000, SYSTEM)


async def test_staff_without_the_permission_cannot_see_or_change_webhooks(client, company_id):
    endpoint_id, _ = await services.create_endpoint(
        company_id, EndpointDetails("http://93.184.215.14/hooks", "", ["client.created"]), SYSTEM
    )
    await create_staff(
        email="sam@example.com",
        password=STAFF_WITHOUT_WEBHOOKS,
        company_ids=[company_id],
        group="Support",
    )
    await login_staff(client, "sam@example.com", STAFF_WITHOUT_WEBHOOKS)
    home = await client.get("/admin")
    assert "Company &gt; Webhooks" not in home.text
    token = csrf_from(home.text)
    base = "/admin/settings/company/webhooks"
    for path in (base, f"{base}/add", f"{base}/{endpoint_id}", f"{base}/{endpoint_id}/delete"):
        assert (await client.get(path)).status_code == 403, path
    for path in (
        f"{base}/add",
        f"{base}/{endpoint_id}/test",
        f"{base}/{endpoint_id}/rotate",
        f"{base}/settings",
    ):
        assert (
            await client.post(path, data={"_csrf_token": token, "url": "http://93.184.215.14/"})
        ).status_code == 403, path
    support = Actor(kind="staff", id=1, permissions=frozenset({"clients.view"}))
    with pytest.raises(Forbidden):
        await services.create_endpoint(
            company_id, EndpointDetails("http://93.184.215.14/", "", ["client.created"]), support
        )
    with pytest.raises(Forbidden):
        await services.set_allows_private(company_id, True, support)
    assert await WebhookEndpoint.count() == 1


async def test_companies_keep_their_endpoints_and_events_apart(
    admin_client, company_id, second_company
):
    with Receiver() as receiver:
        endpoint_id = await endpoint_for(company_id, receiver)
        await make_client(second_company)
        await settle(DeliveryWorker(policy()))
        assert receiver.received == []
        await make_client(company_id)
        await settle(DeliveryWorker(policy()))
        assert receiver.types() == ["client.created"]
    [delivery] = await deliveries_of(endpoint_id)
    with pytest.raises(NotFound):
        await services.get_endpoint(second_company, endpoint_id)
    with pytest.raises(NotFound):
        await services.redeliver(second_company, endpoint_id, delivery["id"], SYSTEM)
    with pytest.raises(NotFound):
        await services.get_delivery(second_company, endpoint_id, delivery["id"])
    # An administrator of the second company only.
    await create_staff(email="other@example.com", password=PASSWORD, company_ids=[second_company])
    await admin_client.post(
        "/admin/logout", data={"_csrf_token": csrf_from((await admin_client.get("/admin")).text)}
    )
    await login_staff(admin_client, "other@example.com", PASSWORD)
    listing = await admin_client.get("/admin/settings/company/webhooks")
    assert listing.status_code == 200 and receiver.url not in listing.text
    base = f"/admin/settings/company/webhooks/{endpoint_id}"
    for path in (base, f"{base}/delete", f"{base}/deliveries/{delivery['id']}"):
        assert (await admin_client.get(path)).status_code == 404, path
    token = csrf_from(listing.text)
    for path in (
        f"{base}/test",
        f"{base}/rotate",
        f"{base}/delete",
        f"{base}/deliveries/{delivery['id']}/redeliver",
    ):
        assert (await admin_client.post(path, data={"_csrf_token": token})).status_code == 404, path
    assert await WebhookEndpoint.count() == 1


# --- a worker killed mid-delivery -------------------------------------------------------------


def _worker(log_name: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "PORTAL_WEBHOOKS_LEASE_SECONDS": "2",  # a dead worker's claim is taken over soon
        "PORTAL_WEBHOOKS_RETRY_SECONDS": "1",
    }
    log = open(_VAR_DIR / log_name, "w")  # noqa: SIM115 - the process writes it; closed at exit
    return subprocess.Popen(
        [sys.executable, "-m", "portal", "webhooks", "run"],
        cwd=PROJECT_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


async def test_a_worker_killed_mid_delivery_loses_no_event(company_id):
    with Receiver() as receiver:
        receiver.holds = [60]  # the first request is in flight until the worker dies
        endpoint_id = await endpoint_for(company_id, receiver, types=["client.created"])
        for name in ("Ada", "Grace", "Linus"):
            await make_client(company_id, first_name=name)
        first = _worker("webhooks-1.log")
        second = None
        try:
            deadline = time.monotonic() + 60
            while not receiver.received:
                assert first.poll() is None, (_VAR_DIR / "webhooks-1.log").read_text()
                assert time.monotonic() < deadline, "the worker sent nothing in 60 s"
                await asyncio.sleep(0.05)
            held = receiver.received[0].message_id
            os.kill(first.pid, signal.SIGKILL)
            assert await asyncio.to_thread(first.wait, 10) == -signal.SIGKILL
            assert held not in receiver.delivered_ids()
            second = _worker("webhooks-2.log")
            deadline = time.monotonic() + 60
            while await WebhookDelivery.exists().where(WebhookDelivery.status != "delivered"):
                assert second.poll() is None, (_VAR_DIR / "webhooks-2.log").read_text()
                assert time.monotonic() < deadline, "the restarted worker did not deliver in 60 s"
                await asyncio.sleep(0.1)
        finally:
            for process in (first, second):
                if process is not None and process.poll() is None:
                    process.terminate()
                    await asyncio.to_thread(process.wait, 10)
    # Every event answered 200 at least once; the one in flight was sent again (same ID).
    rows = await deliveries_of(endpoint_id)
    assert len(rows) == 3 and {row["status"] for row in rows} == {"delivered"}
    received = Counter(entry.message_id for entry in receiver.received)
    assert set(receiver.delivered_ids()) == set(received) and len(received) == 3
    assert received[held] == 2
    assert all(entry.verified for entry in receiver.received)
    assert await Client.count() == 3
