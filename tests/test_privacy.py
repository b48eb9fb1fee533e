"""The privacy toolkit (portal.privacy) over HTTP and through its services: exports of a client's
personal data (the ZIP's contents, the client area's link tied to its session and expiring,
one job for requests at once), anonymisation (the email left nowhere but as the suppression's
hash, on either engine; invoices kept; logins and sessions gone; once only; permissions and
companies), a client's own request to be erased, retention (preview and daily run) and the data
requests log."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import zipfile
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from conftest import IS_POSTGRES, STAFF_PASSWORD, csrf_from, login_staff
from portal.app import create_app
from portal.billing.tables import Invoice, Service, Transaction
from portal.client_area.services import session_client
from portal.client_groups.services import FieldDetails, create_field
from portal.clients import users
from portal.clients.forms import client_details_of
from portal.clients.services import get_client, update_client
from portal.clients.tables import (
    AccountInvitation,
    AccountUser,
    Client,
    ClientAudit,
    ClientNote,
    ConsentEvent,
    Contact,
    ContactNumber,
    CustomFieldValue,
)
from portal.core.actors import SYSTEM, Actor
from portal.core.db import write_transactions
from portal.core.errors import ValidationError
from portal.jobs import services as jobs
from portal.jobs.tables import Job, JobFile
from portal.mail.services import WITHHELD_BODY
from portal.plugins.mass_mailer import services as mailer
from portal.plugins.mass_mailer.messages import Compose
from portal.plugins.mass_mailer.services import MailingFilter
from portal.plugins.mass_mailer.tables import MailingRecipient, Suppression
from portal.privacy import erasure, export, retention
from portal.privacy.tables import DataRequest
from portal.security.tables import LoginSession
from portal.staff.services import create_staff
from profile_helpers import PASSWORD, add_records, default_group, make_client

EMAIL = "augusta.byronson@example.org"
OLD_EMAIL = "augusta.old@example.org"
FIRST, LAST = "Augusta", "Byronson"
SECRET = "X1234567"  # an encrypted custom value
PLAIN_VALUE = "Plain-Value-77"
COMPOSE = Compose(
    from_name="News",
    from_address="news@example.com",
    subject="Hello {{ client.first_name }}",
    body_text="Dear {{ client.full_name }},\n\nNews.\n",
    body_html="",
)


@asynccontextmanager
async def http():
    """Another browser: the app over HTTP with a cookie jar of its own."""
    transport = httpx.ASGITransport(app=create_app(), client=("127.0.0.1", 50001))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as c:
        yield c


async def client_login(session: httpx.AsyncClient, identifier: str) -> None:
    page = await session.get("/client/login")
    response = await session.post(
        "/client/login",
        data={"_csrf_token": csrf_from(page.text), "identifier": identifier, "password": PASSWORD},
        headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"},
    )
    assert response.status_code == 303, response.text


async def post(session: httpx.AsyncClient, page: str, url: str, **fields: str):
    """Posts a form to `url` with the CSRF token of `page`."""
    token = csrf_from((await session.get(page)).text)
    return await session.post(url, data={"_csrf_token": token, **fields})


async def rich_client(company_id: int) -> dict:
    """Augusta Byronson with every kind of personal data: an encrypted and a plain custom
    value, phone numbers, an old email in her history, a billing contact with a login of its
    own, an invitation, an invoice, a payment, a service, a sticky note, mail from staff, and
    marketing consent."""
    group = await default_group(company_id)
    passport = await create_field(
        company_id, group, FieldDetails(label="Passport", encrypted=True), SYSTEM
    )
    nickname = await create_field(company_id, group, FieldDetails(label="Nickname"), SYSTEM)
    client_id = await make_client(
        company_id,
        first_name=FIRST,
        last_name=LAST,
        custom={str(passport): SECRET, str(nickname): PLAIN_VALUE},
        marketing_opt_in=True,
    )
    staff = Actor(kind="staff", id=None, name="Ada Admin", address="127.0.0.1")
    for email in (OLD_EMAIL, EMAIL):  # her history holds her old address
        client = await get_client(company_id, client_id)
        details = client_details_of(client, {str(passport): SECRET, str(nickname): PLAIN_VALUE})
        details.email, details.username_mode, details.tax_id = email, "email", "GB123456789"
        await update_client(
            company_id,
            client_id,
            details,
            expected_version=client.version,
            new_password=None,
            actor=staff,
        )
    await add_records(company_id, client_id, staff, login="byronbill")
    return {"id": client_id, "code": (await get_client(company_id, client_id)).code}


async def run(job_id: int) -> None:
    job = await jobs.run_job(job_id)
    assert job.status == "done", job.message


def unzip(content: bytes) -> tuple[dict, dict[str, list[list[str]]]]:
    archive = zipfile.ZipFile(io.BytesIO(content))
    document = json.loads(archive.read("personal-data.json"))
    tables = {
        name.removesuffix(".csv"): list(
            csv.reader(io.StringIO(archive.read(name).decode("utf-8-sig")))
        )
        for name in archive.namelist()
        if name.endswith(".csv")
    }
    return document, tables


# --- exports ----------------------------------------------------------------------------------


async def test_staff_export_holds_each_part_readable_and_notes_only_when_chosen(
    admin_client, company_id
):
    person = await rich_client(company_id)
    page = f"/admin/clients/{person['id']}/privacy"
    assert "<title>Personal Data – " in (await admin_client.get(page)).text
    response = await post(admin_client, page, f"{page}/export")
    assert response.status_code == 303
    job_id = int(response.headers["location"].rsplit("/", 1)[1])
    await run(job_id)
    job_page = await admin_client.get(f"/admin/jobs/{job_id}")
    assert f"/admin/jobs/{job_id}/download" in job_page.text
    download = await admin_client.get(f"/admin/jobs/{job_id}/download")
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/zip"
    document, tables = unzip(download.content)

    assert document["details"]["email"] == EMAIL
    assert document["details"]["last_name"] == LAST
    assert document["details"]["tax_id"] == "GB123456789"
    contacts = {(c["type"], c["first_name"], c["last_name"]) for c in document["contacts"]}
    assert ("billing", "Bill", "Payer") in contacts
    assert {"+14165550199", "+14165550188"} <= {n["number"] for n in document["phone_numbers"]}
    custom = {row["field"]: row for row in document["custom_fields"]}
    assert custom["Passport"]["value"] == SECRET and custom["Passport"]["encrypted_at_rest"]
    assert custom["Nickname"]["value"] == PLAIN_VALUE
    # Readable in the export, never in the clear in the database.
    stored = {row["value"] for row in await CustomFieldValue.select(CustomFieldValue.value)}
    assert SECRET not in stored
    assert [i["total"] for i in document["invoices"]] == ["20.00"]
    assert [t["amount"] for t in document["transactions"]] == ["5.00"]
    assert [s["name"] for s in document["services"]] == ["example.com"]
    assert any(event["opted_in"] for event in document["consent"])
    assert "Hello" in {message["subject"] for message in document["mail_log"]}
    # The invitation is listed, its one-time link withheld: whoever holds it joins the account.
    [invitation] = [m for m in document["mail_log"] if m["kind"] == "invitation"]
    assert invitation["body"] == WITHHELD_BODY
    assert not any("/client/invitation/" in m["body"] for m in document["mail_log"])
    assert {EMAIL, "byronbill"} <= {login["username"] for login in document["logins"]}
    assert document["export"]["staff_only_notes"] == {"count": 1, "included": False}
    assert "notes" not in document and "notes" not in tables
    # The CSV files: one a part, a header and the rows.
    for part in ("details", "contacts", "phone_numbers", "custom_fields", "consent", "mail_log"):
        assert part in tables
    assert tables["invoices"][0][:2] == ["number", "description"]
    assert tables["invoices"][1][1] == "Hosting"
    assert [SECRET] == [row[1] for row in tables["custom_fields"][1:] if row[0] == "Passport"]

    # With the notes, chosen by staff.
    response = await post(admin_client, page, f"{page}/export", include_notes="1")
    job_id = int(response.headers["location"].rsplit("/", 1)[1])
    await run(job_id)
    document, tables = unzip((await admin_client.get(f"/admin/jobs/{job_id}/download")).content)
    assert [note["title"] for note in document["notes"]] == ["VIP"]
    assert tables["notes"][1][0] == "VIP"
    assert document["export"]["staff_only_notes"] == {"count": 1, "included": True}


async def test_a_client_downloads_its_export_in_its_own_session_until_it_expires(
    client, company_id
):
    person = await rich_client(company_id)
    await client_login(client, EMAIL)
    page = await client.get("/client/privacy")
    assert page.status_code == 200 and "Prepare my data" in page.text
    response = await post(client, "/client/privacy", "/client/privacy/export")
    assert response.status_code == 303
    line = await DataRequest.select().where(DataRequest.kind == "export").first()
    assert line["requested_by"] == f"{FIRST} {LAST} (client)" and line["session_hash"]
    assert "being prepared" in (await client.get("/client/privacy")).text
    await run(line["job"])
    page = await client.get("/client/privacy")
    link = f"/client/privacy/exports/{line['id']}/download"
    assert link in page.text
    download = await client.get(link)
    assert download.status_code == 200
    document, _ = unzip(download.content)
    assert document["details"]["email"] == EMAIL
    # A client export holds the login and sign-ins of the user who asked (not those of the
    # account's other users: Bill's), never the staff's notes.
    assert {s["username"] for s in document["sign_ins"]} == {EMAIL}
    assert [login["username"] for login in document["logins"]] == [EMAIL]
    assert document["export"]["staff_only_notes"]["included"] is False

    # The same user in another browser (another sign-in) does not get it.
    async with http() as other:
        await client_login(other, EMAIL)
        refused = await other.get(link)
        assert refused.status_code == 404
        assert "only in the session that asked for it" in refused.text
        assert link not in (await other.get("/client/privacy")).text
    # Nor does staff's session, nor anyone logged out.
    async with http() as anonymous:
        assert (await anonymous.get(link)).status_code in (302, 303)

    # After its day, the link answers 410 and housekeeping deletes the file.
    await DataRequest.update(
        {DataRequest.expires_at: datetime.now(UTC) - timedelta(minutes=1)}
    ).where(DataRequest.id == line["id"])
    gone = await client.get(link)
    assert gone.status_code == 410 and "expired" in gone.text
    assert await JobFile.count() == 1
    await export.drop_expired()
    assert await JobFile.count() == 0
    assert (await Job.select(Job.result_file).where(Job.id == line["job"]).first())[
        "result_file"
    ] is None
    assert (await client.get(link)).status_code == 410
    assert person["id"]


async def test_a_user_without_account_details_may_not_export(client, company_id):
    person = await rich_client(company_id)
    bill = await AccountUser.select().where(AccountUser.username == "byronbill").first()
    await AccountUser.update(
        {AccountUser.password_hash: (await users.owner_of(person["id"]))["password_hash"]}
    ).where(AccountUser.id == bill["id"])
    await client_login(client, "byronbill")  # may see invoices only
    assert "/client/privacy" not in (await client.get("/client")).text
    assert (await client.get("/client/privacy")).status_code == 403
    page = await client.get("/client")
    response = await client.post(
        "/client/privacy/export", data={"_csrf_token": csrf_from(page.text)}
    )
    assert response.status_code == 403
    assert await DataRequest.count() == 0


async def test_exports_asked_at_once_make_one_job(company_id, client):
    person = await rich_client(company_id)
    staff = Actor(kind="staff", id=1, name="Ada Admin", permissions=None)
    first, second = await asyncio.gather(
        export.start_export(company_id, person["id"], staff),
        export.start_export(company_id, person["id"], staff),
    )
    assert first.job_id == second.job_id and first.already != second.already
    assert await Job.count().where(Job.kind == export.KIND) == 1
    # A client session asking meanwhile is told, and no job is made; once it is done, the
    # next request makes a new one.
    await client_login(client, EMAIL)
    busy = await post(client, "/client/privacy", "/client/privacy/export")
    assert busy.status_code == 409
    assert "being prepared already" in busy.text
    assert await Job.count().where(Job.kind == export.KIND) == 1
    await run(first.job_id)
    assert (await post(client, "/client/privacy", "/client/privacy/export")).status_code == 303
    again = await post(client, "/client/privacy", "/client/privacy/export")
    assert again.status_code == 303  # its own export, being prepared: the same one
    assert await Job.count().where(Job.kind == export.KIND) == 2


# --- anonymisation ----------------------------------------------------------------------------


async def _text_columns() -> list[tuple[str, str]]:
    """Every text column of every table of the database (the engine-specific search index
    aside: it holds trigrams of client_search's documents, checked through those)."""
    if IS_POSTGRES:
        rows = await Client.raw(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'public' AND data_type IN ('text', 'character varying')"
        )
        return [(row["table_name"], row["column_name"]) for row in rows]
    found = []
    tables = await Client.raw(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "AND name NOT LIKE 'client_search_fts%'"
    )
    for table in tables:
        for column in await Client.raw(f'PRAGMA table_info("{table["name"]}")'):
            if column["type"].upper().startswith(("TEXT", "VARCHAR", "CHAR")):
                found.append((table["name"], column["name"]))
    return found


async def where_found(needle: str) -> dict[str, list[str]]:
    """Table.column -> the values that hold `needle` (any case), across the whole database."""
    hits: dict[str, list[str]] = {}
    for table, column in await _text_columns():
        rows = await Client.raw(
            f'SELECT "{column}" AS value FROM "{table}" WHERE lower("{column}") LIKE {{}}',  # noqa: S608
            f"%{needle.lower()}%",
        )
        if rows:
            hits[f"{table}.{column}"] = [row["value"] for row in rows]
    return hits


async def test_after_anonymisation_the_email_is_nowhere_but_the_suppression_hash(
    admin_client, company_id
):
    person = await rich_client(company_id)
    await mailer.create_job(company_id, SYSTEM, MailingFilter(kind="marketing"), COMPOSE)
    async with http() as browser:  # she signs in: a session, an activity line
        await client_login(browser, EMAIL)
    staff_export = await export.start_export(company_id, person["id"], SYSTEM)
    await run(staff_export.job_id)
    for needle in (EMAIL, OLD_EMAIL, LAST, "+14165550199", "GB123456789", PLAIN_VALUE):
        assert await where_found(needle), needle  # there before
    invoices = await Invoice.count().where(Invoice.client == person["id"])
    transactions = await Transaction.count().where(Transaction.client == person["id"])
    services = await Service.count().where(Service.client == person["id"])
    owner = await users.owner_of(person["id"])

    page = f"/admin/clients/{person['id']}/anonymise"
    form = await admin_client.get(page)
    assert "Anonymise Client" in form.text and "can't be undone" in form.text
    response = await post(
        admin_client, page, page, reason="The client asked by email", password=STAFF_PASSWORD
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/admin/clients/{person['id']}"

    for needle in (
        EMAIL,
        OLD_EMAIL,
        FIRST,
        LAST,
        "byronbill",
        "Bill Payer",
        "+14165550199",
        "GB123456789",
        PLAIN_VALUE,
        "Difference Street",
        "invited-byronbill",
    ):
        assert await where_found(needle) == {}, needle
    hashes = {row["email"] for row in await Suppression.select(Suppression.email)}
    for email in (EMAIL, "byronbill@example.com"):
        assert "sha256:" + hashlib.sha256(email.encode()).hexdigest() in hashes
    # What the law keeps stays, under the anonymised name.
    assert await Invoice.count().where(Invoice.client == person["id"]) == invoices == 1
    assert await Transaction.count().where(Transaction.client == person["id"]) == transactions
    assert await Service.count().where(Service.client == person["id"]) == services
    contacts = await Contact.select().where(Contact.client == person["id"]).order_by(Contact.id)
    assert [(c["first_name"], c["last_name"]) for c in contacts] == [
        ("Anonymised", "Client"),
        ("Anonymised", "Contact"),
    ]
    assert all(c["email"].endswith("@invalid") and c["login"] is None for c in contacts)
    assert "Anonymised Client" in (await admin_client.get(f"/admin/clients/{person['id']}")).text
    # Logins, sessions, invitations, numbers, custom values, notes, exports: gone.
    assert not await AccountUser.exists().where(AccountUser.id == owner["id"])
    assert await LoginSession.count().where(LoginSession.kind == "client") == 0
    assert await AccountInvitation.count() == 0
    assert await ContactNumber.count() == 0
    assert await CustomFieldValue.count() == 0
    assert await ClientNote.count() == 0
    assert await Job.count().where(Job.kind == export.KIND) == 0 and await JobFile.count() == 0
    # Consent withdrawn, recorded; recipients' rows without addresses.
    last = await ConsentEvent.select().order_by(ConsentEvent.id, ascending=False).first()
    assert last["opted_in"] is False and last["source"] == "anonymisation"
    assert not (await Client.select().where(Client.id == person["id"]).first())["marketing_opt_in"]
    assert all(r["email"].endswith("@invalid") for r in await MailingRecipient.select())
    # One line in the history; the older ones keep their fields, not the values.
    lines = (
        await ClientAudit.select()
        .where(ClientAudit.client_id == person["id"])
        .order_by(ClientAudit.id)
    )
    assert (lines[-1]["field"], lines[-1]["new_value"]) == ("Client", "anonymised")
    assert sum(1 for line in lines if line["new_value"] == "anonymised") == 1
    assert {
        line["old_value"] for line in lines if line["field"] == "Email" and line["old_value"]
    } == {"(anonymised)"}
    erasures = await DataRequest.select().where(DataRequest.kind == "erasure")
    assert len(erasures) == 1 and erasures[0]["status"] == "done"
    assert "The client asked by email" in erasures[0]["details"]


async def test_anonymising_twice_is_refused_and_changes_nothing(admin_client, company_id):
    person = await rich_client(company_id)
    code = await erasure.anonymise_client(company_id, person["id"], SYSTEM, "Asked by phone")
    assert code == person["code"]
    lines = await ClientAudit.count().where(ClientAudit.client_id == person["id"])
    version = await Client.select(Client.version).where(Client.id == person["id"]).first()
    with pytest.raises(erasure.AlreadyAnonymised, match="already anonymised"):
        await erasure.anonymise_client(company_id, person["id"], SYSTEM, "Again")
    page = f"/admin/clients/{person['id']}/anonymise"
    assert "nothing left to anonymise" in (await admin_client.get(page)).text
    profile = await admin_client.get(f"/admin/clients/{person['id']}")
    token = csrf_from(profile.text)
    again = await admin_client.post(
        page, data={"_csrf_token": token, "reason": "Again", "password": STAFF_PASSWORD}
    )
    assert again.status_code == 409 and "already anonymised" in again.text
    assert await ClientAudit.count().where(ClientAudit.client_id == person["id"]) == lines
    assert await Client.select(Client.version).where(Client.id == person["id"]).first() == version
    assert await DataRequest.count().where(DataRequest.kind == "erasure") == 1


async def test_anonymising_at_once_anonymises_once(company_id):
    person = await rich_client(company_id)
    results = await asyncio.gather(
        erasure.anonymise_client(company_id, person["id"], SYSTEM, "One"),
        erasure.anonymise_client(company_id, person["id"], SYSTEM, "Two"),
        return_exceptions=True,
    )
    assert sorted(type(result).__name__ for result in results) == ["AlreadyAnonymised", "str"]
    assert await DataRequest.count().where(DataRequest.kind == "erasure") == 1


async def test_wrong_password_or_no_reason_anonymise_nothing(admin_client, company_id):
    person = await rich_client(company_id)
    page = f"/admin/clients/{person['id']}/anonymise"
    wrong = await post(admin_client, page, page, reason="Asked", password="not-it")
    assert wrong.status_code == 422 and "Nothing was changed" in wrong.text
    assert 'value="Asked"' in wrong.text  # the reason comes back
    no_reason = await post(admin_client, page, page, reason="", password=STAFF_PASSWORD)
    assert no_reason.status_code == 422 and "Reason is required" in no_reason.text
    assert (await get_client(company_id, person["id"])).contact["email"] == EMAIL
    assert await DataRequest.count() == 0


async def test_privacy_needs_its_permission(client, company_id):
    person = await rich_client(company_id)
    await create_staff(
        email="sam@example.com", password=STAFF_PASSWORD, company_ids=[company_id], group="Support"
    )
    await login_staff(client, "sam@example.com", STAFF_PASSWORD)
    profile = await client.get(f"/admin/clients/{person['id']}")
    assert "Anonymise Client" not in profile.text and "Export Personal Data" not in profile.text
    assert "Data Requests" not in profile.text
    base = f"/admin/clients/{person['id']}"
    for path in (
        f"{base}/privacy",
        f"{base}/anonymise",
        f"{base}/privacy/summary",
        "/admin/tools/data-requests",
        "/admin/settings/company/privacy",
    ):
        assert (await client.get(path)).status_code == 403, path
    token = csrf_from(profile.text)
    for path in (f"{base}/privacy/export", f"{base}/anonymise"):
        response = await client.post(path, data={"_csrf_token": token, "password": STAFF_PASSWORD})
        assert response.status_code == 403, path
    with pytest.raises(Exception, match="clients.privacy"):
        await erasure.anonymise_client(
            company_id, person["id"], Actor(kind="staff", id=2, permissions=frozenset()), "x"
        )
    assert await DataRequest.count() == 0 and await Job.count() == 0


async def test_another_companys_client_is_not_found(admin_client, company_id, second_company):
    other = await make_client(second_company, first_name="Otto")
    base = f"/admin/clients/{other}"
    for path in (f"{base}/privacy", f"{base}/anonymise", f"{base}/privacy/summary"):
        assert (await admin_client.get(path)).status_code == 404, path
    token = csrf_from((await admin_client.get("/admin/clients")).text)
    for path in (f"{base}/privacy/export", f"{base}/anonymise"):
        response = await admin_client.post(
            path, data={"_csrf_token": token, "reason": "x", "password": STAFF_PASSWORD}
        )
        assert response.status_code == 404, path
    foreign = await export.start_export(second_company, other, SYSTEM)
    await run(foreign.job_id)
    assert (await admin_client.get(f"/admin/jobs/{foreign.job_id}/download")).status_code == 404
    assert (await get_client(second_company, other)).contact["first_name"] == "Otto"


async def test_the_mailer_keeps_an_erased_address_from_marketing_by_its_hash(company_id):
    """Another client's billing contact shares the erased client's address and had opted in
    before: the hashed suppression keeps the address from marketing mail, on either engine."""
    person = await rich_client(company_id)
    other = await make_client(company_id, first_name="Olga")
    await _shared_contact(other, EMAIL)
    before = await mailer.count_recipients(company_id, MailingFilter(kind="marketing"))
    await erasure.anonymise_client(company_id, person["id"], SYSTEM, "Asked")
    after = await mailer.count_recipients(company_id, MailingFilter(kind="marketing"))
    # Her address went with her; the other client's contact keeps it, suppressed by its hash.
    assert (before, after) == (1, 0)
    assert await Contact.exists().where(Contact.email == EMAIL)


async def _shared_contact(client_id: int, email: str) -> None:
    async for transaction in write_transactions():
        async with transaction:
            rows = await Contact.insert(
                Contact(
                    client=client_id,
                    contact_type="billing",
                    marketing_opt_in=True,
                    first_name="Shared",
                    last_name="Address",
                    email=email,
                    country="CA",
                )
            ).returning(Contact.id)
            await ConsentEvent.insert(
                ConsentEvent(
                    client=client_id,
                    contact=rows[0]["id"],
                    opted_in=True,
                    actor="staff:1",
                    source="admin-add-contact",
                    wording="Opt-in to marketing emails",
                )
            )


# --- the client's own request -------------------------------------------------------------------


async def test_a_client_asks_to_be_erased_and_staff_decline_or_anonymise(
    client, admin_client, company_id
):
    person = await rich_client(company_id)
    async with http() as browser:
        await client_login(browser, EMAIL)
        wrong = await post(browser, "/client/privacy", "/client/privacy/erase", password="nope")
        assert wrong.status_code == 422 and "not correct" in wrong.text
        asked = await post(browser, "/client/privacy", "/client/privacy/erase", password=PASSWORD)
        assert asked.status_code == 303
        page = await browser.get("/client/privacy")
        assert "The provider will confirm it" in page.text
        twice = await post(browser, "/client/privacy", "/client/privacy/erase", password=PASSWORD)
        assert twice.status_code == 422 and "already asked" in twice.text
        assert await DataRequest.count().where(DataRequest.kind == "erasure") == 1

        summary = await admin_client.get(
            f"/admin/clients/{person['id']}/privacy/summary", headers={"HX-Request": "true"}
        )
        assert "The client asked to be erased" in summary.text
        page = f"/admin/clients/{person['id']}/privacy"
        request = await DataRequest.select().where(DataRequest.kind == "erasure").first()
        declined = await post(
            admin_client,
            page,
            f"{page}/requests/{request['id']}/decline",
            reason="Invoices are disputed until June",
        )
        assert declined.status_code == 303
        page_text = (await browser.get("/client/privacy")).text
        assert "was declined" in page_text and "Invoices are disputed until June" in page_text
        # Asked again, then anonymised by staff: the request is what was done.
        assert (
            await post(browser, "/client/privacy", "/client/privacy/erase", password=PASSWORD)
        ).status_code == 303
        await erasure.anonymise_client(
            company_id, person["id"], Actor(kind="staff", id=1, name="Ada Admin"), "As asked"
        )
        lines = (
            await DataRequest.select().where(DataRequest.kind == "erasure").order_by(DataRequest.id)
        )
        assert [line["status"] for line in lines] == ["declined", "done"]
        assert {line["requested_by"] for line in lines} == {"The client"}
        # Her session is over, and she cannot log in again.
        assert (await browser.get("/client/privacy")).status_code in (302, 303)
    page = await client.get("/client/login")
    refused = await client.post(
        "/client/login",
        data={"_csrf_token": csrf_from(page.text), "identifier": EMAIL, "password": PASSWORD},
    )
    assert refused.status_code == 400


async def test_only_the_owner_may_ask_and_not_staff_working_as_it(company_id):
    person = await rich_client(company_id)
    bill = (
        await AccountUser.select(AccountUser.id).where(AccountUser.username == "byronbill").first()
    )
    user = await session_client(bill["id"], person["id"], 0)
    assert user is not None and not user.owner
    with pytest.raises(Exception, match="account.owner"):
        await erasure.ask_for_erasure(user, PASSWORD, "127.0.0.1")


# --- retention ----------------------------------------------------------------------------------


async def _age(client_id: int, months: int) -> None:
    """The client was added and last changed `months` months ago, and its records too."""
    then = datetime.now(UTC) - timedelta(days=31 * months)
    await Client.raw(
        "UPDATE client SET created_at = {}, updated_at = {} WHERE id = {}", then, then, client_id
    )
    for table in ("invoice", "billing_transaction", "service"):
        await Client.raw(
            f"UPDATE {table} SET created_at = {{}} WHERE client = {{}}", then, client_id
        )  # noqa: S608


async def test_retention_preview_and_daily_run(admin_client, company_id):
    asleep = await make_client(company_id, first_name="Sleepy")
    await _age(asleep, 30)
    recent = await make_client(company_id, first_name="Recent")
    signed_in = await make_client(company_id, first_name="Signed")
    await _age(signed_in, 30)
    login = await users.owner_of(signed_in)
    await AccountUser.update({AccountUser.last_login_at: datetime.now(UTC)}).where(
        AccountUser.id == login["id"]
    )
    fraud = await make_client(company_id, first_name="Fraudster")
    await Client.update({Client.status: "fraud"}).where(Client.id == fraud)
    await _age(fraud, 30)
    owing = await make_client(company_id, first_name="Owing")
    await add_records(company_id, owing, SYSTEM, login="owingbill")  # an open invoice
    await _age(owing, 30)

    page = await admin_client.get("/admin/settings/company/privacy")
    assert "Anonymise clients inactive for N months" in page.text
    assert "Who would be anonymised now" not in page.text  # blank: never
    preview = await post(
        admin_client,
        "/admin/settings/company/privacy",
        "/admin/settings/company/privacy",
        retention_months="24",
        action="preview",
    )
    assert preview.status_code == 200 and "1 client</strong>" in preview.text
    assert "Sleepy" in preview.text and "Recent" not in preview.text
    assert await retention.retention_months(company_id) is None  # a preview saves nothing
    bad = await post(
        admin_client,
        "/admin/settings/company/privacy",
        "/admin/settings/company/privacy",
        retention_months="soon",
        action="save",
    )
    assert bad.status_code == 422 and "whole number of months" in bad.text
    saved = await post(
        admin_client,
        "/admin/settings/company/privacy",
        "/admin/settings/company/privacy",
        retention_months="24",
        action="save",
    )
    assert saved.status_code == 303
    assert await retention.retention_months(company_id) == 24

    await retention.queue_daily_runs()
    await retention.queue_daily_runs()  # the same day: nothing more
    runs = await Job.select().where(Job.kind == retention.KIND)
    assert len(runs) == 1
    await run(runs[0]["id"])
    first_names = {
        row["client"]: row["first_name"]
        for row in await Contact.select(Contact.client, Contact.first_name).where(
            Contact.contact_type == "primary"
        )
    }
    assert first_names[asleep] == "Anonymised"
    assert {first_names[c] for c in (recent, signed_in, fraud, owing)} == {
        "Recent",
        "Signed",
        "Fraudster",
        "Owing",
    }
    code = (await Client.select(Client.code).where(Client.id == asleep).first())["code"]
    log = await DataRequest.select().where(DataRequest.kind == "retention").first()
    assert log["status"] == "done" and code in log["details"]
    erased = await DataRequest.select().where(DataRequest.kind == "erasure").first()
    assert erased["client_id"] == asleep and erased["requested_by"] == "Data retention"
    assert await ClientAudit.exists().where(
        ClientAudit.client_id == asleep, ClientAudit.new_value == "anonymised"
    )
    # Tomorrow's run finds nobody new (the anonymised client is never chosen again).
    await retention.queue_daily_runs()
    assert await Job.count().where(Job.kind == retention.KIND) == 1


# --- the log --------------------------------------------------------------------------------------


async def test_the_data_requests_log_lists_who_asked_what_and_when(admin_client, company_id):
    person = await rich_client(company_id)
    started = await export.start_export(
        company_id, person["id"], Actor(kind="staff", id=1, name="Ada Admin")
    )
    await run(started.job_id)
    await erasure.anonymise_client(
        company_id, person["id"], Actor(kind="staff", id=1, name="Ada Admin"), "Asked by letter"
    )
    page = await admin_client.get("/admin/tools/data-requests")
    assert page.status_code == 200
    for text in (
        "Data Requests",
        "Export",
        "Erasure",
        "Ada Admin",
        "Asked by letter",
        person["code"],
    ):
        assert text in page.text, text
    menu = await admin_client.get("/admin")
    assert "/admin/tools/data-requests" in menu.text
    client_page = await admin_client.get(f"/admin/clients/{person['id']}/privacy")
    assert "anonymised on" in client_page.text and "Asked by letter" in client_page.text
    with pytest.raises(ValidationError):
        await erasure.anonymise_client(company_id, person["id"], SYSTEM, "")
