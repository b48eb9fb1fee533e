"""The mass mailer and billing/other contacts: a contact who opted in itself is mailed (whatever
its client chose), one who did not never is, each address once per mailing, and a contact's
unsubscribe link turns off that contact's consent only. Mail goes to a real SMTP server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from portal.app import create_app
from portal.clients.services import set_marketing_opt_in
from portal.clients.tables import Client, ConsentEvent, Contact
from portal.core.actors import SYSTEM
from portal.core.db import write_transactions
from portal.mail.tables import MailMessage
from portal.plugins.mass_mailer import services
from portal.plugins.mass_mailer.messages import Compose
from portal.plugins.mass_mailer.services import MailingFilter
from portal.plugins.mass_mailer.tables import MailingRecipient, Suppression
from portal.plugins.mass_mailer.worker import MailerSettings, Worker
from test_mass_mailer_helpers import STAFF, add_client, running_sink

COMPOSE = Compose(
    from_name="News",
    from_address="news@example.com",
    subject="Hello {{ client.first_name }}",
    body_text="Dear {{ client.full_name }} ({{ client.email }}),\n\nNews.\n",
    body_html="",
)
FAST = MailerSettings(
    rate=1000, batch_size=50, lease_seconds=60, retry_seconds=0.01, max_attempts=3, poll_seconds=0.1
)


@pytest.fixture
def smtp_sink(monkeypatch):
    yield from running_sink(monkeypatch)


async def add_contact(
    client_id: int,
    first_name: str,
    email_address: str,
    *,
    opted_in: bool,
    contact_type: str = "billing",
    country: str = "FR",
) -> int:
    """A billing or other contact, written straight to its table (with the consent record of
    its opt-in, as the contacts pages would write it)."""
    async for transaction in write_transactions():
        async with transaction:
            rows = await Contact.insert(
                Contact(
                    client=client_id,
                    contact_type=contact_type,
                    marketing_opt_in=opted_in,
                    first_name=first_name,
                    last_name="Contact",
                    email=email_address,
                    country=country,
                )
            ).returning(Contact.id)
            if opted_in:
                await ConsentEvent.insert(
                    ConsentEvent(
                        client=client_id,
                        contact=rows[0]["id"],
                        opted_in=True,
                        actor="staff:1",
                        source="admin-contact",
                        wording="Opt-in to marketing emails",
                    )
                )
    return rows[0]["id"]


async def people(company_id: int) -> dict[str, int]:
    """Ann (no consent) has a billing contact who opted in and another contact who did not;
    Bob (opted in) has a contact with his own address (in other case) and a billing contact
    with the address of Ann's billing contact; inactive Ian's billing contact opted in."""
    ids = {"ann": await add_client(company_id, "Ann", "ann@example.com", opted_in=False)}
    ids["bill"] = await add_contact(ids["ann"], "Bill", "bill@example.com", opted_in=True)
    ids["olga"] = await add_contact(
        ids["ann"], "Olga", "olga@example.com", opted_in=False, contact_type="other"
    )
    ids["bob"] = await add_client(company_id, "Bob", "bob@example.com", opted_in=True)
    ids["bea"] = await add_contact(
        ids["bob"], "Bea", "BOB@Example.com", opted_in=True, contact_type="other"
    )
    ids["cal"] = await add_contact(ids["bob"], "Cal", "Bill@Example.com", opted_in=True)
    ids["ian"] = await add_client(
        company_id, "Ian", "ian@example.com", opted_in=False, status="inactive"
    )
    ids["ivy"] = await add_contact(ids["ian"], "Ivy", "ivy@example.com", opted_in=True)
    return ids


async def run_worker() -> int:
    async with Worker(FAST) as worker:
        return await worker.run_until_idle()


async def queue(company_id: int, kind: str = "marketing") -> int:
    return await services.create_job(company_id, SYSTEM, MailingFilter(kind=kind), COMPOSE)


def token_of(message) -> str:
    return str(message["List-Unsubscribe"]).strip().strip("<>").rsplit("/", 1)[1]


async def test_contacts_with_consent_get_the_mailing_each_address_once(smtp_sink, company_id):
    ids = await people(company_id)
    assert await services.count_recipients(company_id, MailingFilter()) == 2
    job_id = await queue(company_id)
    assert await run_worker() == 2

    # Bill's consent is his own: he is mailed though Ann is not; Olga and Ann are not.
    # bob@ is Bob's and Bea's: one message, to the primary contact; bill@ is Bill's and Cal's:
    # one message, to the contact of the lowest client.
    assert smtp_sink.by_address() == {"bob@example.com": 1, "bill@example.com": 1}
    subjects = {str(m["To"]): str(m["Subject"]) for m in smtp_sink.messages}
    assert subjects == {"bob@example.com": "Hello Bob", "bill@example.com": "Hello Bill"}
    bill = next(m for m in smtp_sink.messages if m["To"] == "bill@example.com")
    assert "Dear Bill Contact (bill@example.com)" in bill.get_body(("plain",)).get_content()
    assert bill["List-Unsubscribe"] is not None

    rows = {
        r["email"]: r for r in await MailingRecipient.select().where(MailingRecipient.job == job_id)
    }
    assert set(rows) == {"bob@example.com", "bill@example.com"}
    assert (rows["bob@example.com"]["client"], rows["bob@example.com"]["contact"]) == (
        ids["bob"],
        None,
    )
    assert (rows["bill@example.com"]["client"], rows["bill@example.com"]["contact"]) == (
        ids["ann"],
        ids["bill"],
    )
    assert {r["status"] for r in rows.values()} == {"sent"}
    # The message to a contact is in its client's mail log.
    logged = await MailMessage.select().where(MailMessage.kind == "marketing")
    assert {(m["client"], m["to_address"]) for m in logged} == {
        (ids["bob"], "bob@example.com"),
        (ids["ann"], "bill@example.com"),
    }

    # The CSV export and the preview see the same people.
    exported = [row async for row in services.iter_recipients(company_id, MailingFilter())]
    assert [(r["email"], r["contact_id"], r["contact_type"]) for r in exported] == [
        ("bill@example.com", ids["bill"], "billing"),
        ("bob@example.com", None, "primary"),
    ]
    assert exported[0]["country"] == "FR" and exported[0]["first_name"] == "Bill"
    with_inactive = MailingFilter(statuses=["active", "inactive"])
    assert await services.count_recipients(company_id, with_inactive) == 3  # Ivy too

    # Service mail goes to the primary contacts, as before: contacts' consent is to marketing.
    smtp_sink.messages.clear()
    await queue(company_id, kind="service")
    await run_worker()
    assert smtp_sink.by_address() == {"ann@example.com": 1, "bob@example.com": 1}


async def test_a_contact_without_consent_is_never_mailed(smtp_sink, company_id):
    client_id = await add_client(company_id, "Kim", "kim@example.com", opted_in=True)
    await add_contact(client_id, "Nora", "nora@example.com", opted_in=False)
    await add_contact(client_id, "Otto", "otto@example.com", opted_in=False, contact_type="other")
    assert await services.count_recipients(company_id, MailingFilter()) == 1
    await queue(company_id)
    await run_worker()
    assert smtp_sink.by_address() == {"kim@example.com": 1}


async def test_consent_and_address_are_checked_again_when_each_message_is_sent(
    smtp_sink, company_id
):
    client_id = await add_client(company_id, "Lu", "lu@example.com", opted_in=False)
    keeps = await add_contact(client_id, "Keep", "keep@example.com", opted_in=True)
    withdraws = await add_contact(client_id, "Wanda", "wanda@example.com", opted_in=True)
    moves = await add_contact(client_id, "Mo", "mo@example.com", opted_in=True)
    job_id = await queue(company_id)
    await Contact.update({Contact.marketing_opt_in: False}).where(Contact.id == withdraws)
    await Contact.update({Contact.email: "mo-new@example.com"}).where(Contact.id == moves)
    # The client's consent does not stand for a contact's.
    await set_marketing_opt_in(company_id, client_id, True, STAFF, "admin-edit-client")
    assert await run_worker() == 1
    assert smtp_sink.by_address() == {"keep@example.com": 1}
    rows = {
        r["contact"]: r
        for r in await MailingRecipient.select().where(MailingRecipient.job == job_id)
    }
    assert rows[keeps]["status"] == "sent"
    assert rows[withdraws]["status"] == "skipped" and "opted out" in rows[withdraws]["error"]
    assert rows[moves]["status"] == "skipped"


async def test_unsubscribing_a_contact_turns_off_that_contact_only(smtp_sink, company_id):
    bob = await add_client(company_id, "Bob", "bob@example.com", opted_in=True)
    cal = await add_contact(bob, "Cal", "cal@example.com", opted_in=True)
    dan = await add_contact(bob, "Dan", "dan@example.com", opted_in=True, contact_type="other")
    await queue(company_id)
    assert await run_worker() == 3
    token = token_of(next(m for m in smtp_sink.messages if m["To"] == "cal@example.com"))

    transport = httpx.ASGITransport(app=create_app(), client=("203.0.113.7", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://mail.example") as stranger:
        confirm = await stranger.get(f"/unsubscribe/{token}")
        assert confirm.status_code == 200 and "c••@example.com" in confirm.text
        for _ in range(2):  # a reused link: the same success, one consent record
            done = await stranger.post(
                f"/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"}
            )
            assert done.status_code == 200 and "You are unsubscribed" in done.text

    contacts = {
        r["id"]: r["marketing_opt_in"]
        for r in await Contact.select(Contact.id, Contact.marketing_opt_in).where(
            Contact.client == bob
        )
    }
    assert contacts[cal] is False and contacts[dan] is True
    client = await Client.select(Client.marketing_opt_in).where(Client.id == bob).first()
    assert client["marketing_opt_in"] is True
    events = await ConsentEvent.select().where(ConsentEvent.opted_in.eq(False))
    assert len(events) == 1
    event = events[0]
    assert (event["client"], event["contact"], event["source"], event["actor"]) == (
        bob,
        cal,
        "unsubscribe-link",
        "unsubscribe-link",
    )
    assert event["address"] == "203.0.113.7"
    assert await Suppression.exists().where(Suppression.email == "cal@example.com")

    smtp_sink.messages.clear()
    await queue(company_id)
    assert await run_worker() == 2
    assert smtp_sink.by_address() == {"bob@example.com": 1, "dan@example.com": 1}


async def test_a_suppressed_address_comes_back_only_with_that_persons_new_opt_in(company_id):
    ann = await add_client(company_id, "Ann", "ann@example.com", opted_in=True)
    bill = await add_contact(ann, "Bill", "bill@example.com", opted_in=True)
    result = await services.suppress_addresses(
        company_id, ["BILL@example.com"], "unsubscribe", STAFF, "api-unsubscribe"
    )
    assert (result.suppressed, result.clients_opted_out) == (1, 0)
    row = await Contact.select(Contact.marketing_opt_in).where(Contact.id == bill).first()
    assert row["marketing_opt_in"] is False
    event = (
        await ConsentEvent.select()
        .where(ConsentEvent.contact == bill)
        .order_by(ConsentEvent.id, ascending=False)
        .first()
    )
    assert (event["opted_in"], event["source"]) == (False, "api-unsubscribe")
    assert (await Client.select().where(Client.id == ann).first())["marketing_opt_in"] is True
    assert await services.count_recipients(company_id, MailingFilter()) == 1  # Ann

    # Bill's consent back without a new opt-in of his (a write around the portal): the address
    # stays suppressed, and the client's own opt-ins do not lift it either.
    await Contact.update({Contact.marketing_opt_in: True}).where(Contact.id == bill)
    await set_marketing_opt_in(company_id, ann, False, STAFF, "admin-edit-client")
    await set_marketing_opt_in(company_id, ann, True, STAFF, "admin-edit-client")
    assert await services.count_recipients(company_id, MailingFilter()) == 1
    # Bill opts in again himself, after the unsubscribe: mailed again.
    await ConsentEvent.insert(
        ConsentEvent(
            client=ann,
            contact=bill,
            opted_in=True,
            actor="client:1",
            source="client-area",
            wording="Opt-in to marketing emails",
            at=datetime.now(UTC) + timedelta(seconds=1),
        )
    )
    assert await services.count_recipients(company_id, MailingFilter()) == 2


async def test_a_contact_of_another_company_is_not_mailed(smtp_sink, company_id, second_company):
    theirs = await add_client(second_company, "Tom", "tom@example.com", opted_in=False)
    await add_contact(theirs, "Tia", "tia@example.com", opted_in=True)
    mine = await add_client(company_id, "Mia", "mia@example.com", opted_in=False)
    await add_contact(mine, "Max", "max@example.com", opted_in=True)
    await queue(company_id)
    await run_worker()
    assert smtp_sink.by_address() == {"max@example.com": 1}
