"""The client self-service area over HTTP."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from conftest import csrf_from, without_csrf_tokens
from portal.client_area.tables import PasswordResetToken
from portal.client_groups import services as groups
from portal.client_groups.services import FieldDetails, GroupDetails
from portal.clients.forms import read_client_details
from portal.clients.lifecycle import set_status
from portal.clients.services import create_client
from portal.clients.tables import (
    AccountUser,
    Client,
    ConsentEvent,
    Contact,
    ContactNumber,
    CustomFieldValue,
)
from portal.clients.users import owner_of
from portal.companies.services import set_internationalization
from portal.companies.tables import Company
from portal.core.actors import SYSTEM, Actor
from portal.core.passwords import hash_password
from portal.core.tables import Session
from portal.mail.tables import MailMessage
from profile_helpers import accept_currencies

PASSWORD = "Client-horse-42"


async def make_client(email="ann@example.com", username=None, group_id=None, **extra) -> int:
    company = (await Company.select(Company.id).order_by(Company.id).first())["id"]
    await accept_currencies(company, "EUR")  # Ann prefers euros
    group = group_id or await groups.default_group_id(company)
    form = {
        "first_name": "Ann",
        "last_name": "Client",
        "address1": "1 Main St",
        "city": "Berlin",
        "country": "DE",
        "state": "DE-BE",
        "zip": "10115",
        "email": email,
        "preferred_currency": "EUR",
        "language": "en",
        "group_id": str(group),
        "username_mode": "specify" if username else "email",
        "username": username or "",
        **extra,
    }
    return await create_client(company, read_client_details(form), PASSWORD, Actor(kind="system"))


async def client_login(http, identifier, password=PASSWORD):
    page = await http.get("/client/login")
    return await http.post(
        "/client/login",
        data={"_csrf_token": csrf_from(page.text), "identifier": identifier, "password": password},
    )


@pytest.fixture
async def ann(company_id) -> int:
    return await make_client(username="ann")


async def test_login_with_username_and_with_email(client, ann):
    response = await client_login(client, "ANN")
    assert response.status_code == 303 and response.headers["location"] == "/client"
    dashboard = await client.get("/client")
    assert dashboard.status_code == 200 and "Welcome, Ann" in dashboard.text
    # A client session never opens the admin area.
    assert (await client.get("/admin")).status_code == 302
    page = await client.get("/client")
    await client.post("/client/logout", data={"_csrf_token": csrf_from(page.text)})
    assert (await client.get("/client")).status_code == 302
    assert (await client_login(client, "Ann@Example.com")).status_code == 303


async def test_wrong_password_and_unknown_user_answer_alike_and_are_throttled(client, ann):
    wrong = await client_login(client, "ann", "Wrong-horse-1")
    unknown = await client_login(client, "nobody", "Wrong-horse-1")
    assert wrong.status_code == unknown.status_code == 400

    def normalise(response, name):
        text = response.text.replace(csrf_from(response.text), "T")
        return text.replace(f'value="{name}"', 'value="X"')

    assert normalise(wrong, "ann") == normalise(unknown, "nobody")
    statuses = [
        (await client_login(client, "ann", f"Wrong-{i}-horse")).status_code for i in range(20)
    ]
    assert statuses.count(429) >= 15
    assert (await client_login(client, "ann")).status_code == 429


async def test_inactive_and_fraud_clients_are_refused_and_logged_out(client, company_id, ann):
    assert (await client_login(client, "ann")).status_code == 303
    await set_status(company_id, ann, "inactive", Actor(kind="system"))
    assert (await client.get("/client")).status_code == 302
    refused = await client_login(client, "ann")
    assert refused.status_code == 400 and "Username or password is incorrect." in refused.text
    await set_status(company_id, ann, "fraud", Actor(kind="system"))
    assert (await client_login(client, "ann")).status_code == 400


async def test_edit_own_details_add_phone_language_and_consent(client, ann):
    await client_login(client, "ann")
    page = await client.get("/client/details")
    assert page.status_code == 200
    version = re.search(r'name="version" value="(\d+)"', page.text).group(1)
    form = {
        "_csrf_token": csrf_from(page.text),
        "version": version,
        "first_name": "Ann",
        "last_name": "Client",
        "address1": "2 New Street",
        "city": "Berlin",
        "country": "DE",
        "state": "DE-BE",
        "zip": "10117",
        "email": "ann@example.com",
        "phone_row": ["a1"],
        "phone_type": ["phone"],
        "phone_location": ["home"],
        "phone_number": ["030 1234567"],
        "language": "de",
        "marketing_opt_in": "1",
        # Attempts to change what a client may not change:
        "group_id": "999",
        "username": "root",
        "username_mode": "specify",
        "preferred_currency": "USD",
        "tax_exempt": "1",
    }
    saved = await client.post("/client/details", data=form)
    assert saved.status_code == 303
    row = await Client.select().where(Client.id == ann).first()
    assert (
        (await owner_of(ann))["username"],
        row["preferred_currency"],
        row["tax_exempt"],
        row["language"],
    ) == (
        "ann",
        "EUR",
        False,
        "de",
    )
    assert row["marketing_opt_in"] is True
    contact = await Contact.select().where(Contact.client == ann).first()
    assert contact["address1"] == "2 New Street"
    numbers = await ContactNumber.select(ContactNumber.number).where(
        ContactNumber.contact == contact["id"]
    )
    assert numbers == [{"number": "+49301234567"}]

    german = await client.get("/client/details")
    assert (
        'lang="de"' in german.text
        and "Kontodaten" in german.text
        and "Kontaktinformationen" in german.text
    )
    assert "Deutschland" in german.text

    page = german
    form.update(
        _csrf_token=csrf_from(page.text),
        version=re.search(r'name="version" value="(\d+)"', page.text).group(1),
    )
    form.pop("marketing_opt_in")
    assert (await client.post("/client/details", data=form)).status_code == 303
    events = await ConsentEvent.select().where(ConsentEvent.client == ann).order_by(ConsentEvent.id)
    user_id = (await owner_of(ann))["id"]  # the user who acted, in the account
    assert [(e["opted_in"], e["actor"], e["source"]) for e in events] == [
        (True, f"client:{user_id}", "client-area"),
        (False, f"client:{user_id}", "client-area"),
    ]
    assert (
        events[0]["wording"] == "Opt-in to marketing emails" and events[0]["address"] == "127.0.0.1"
    )


async def own_details_form(client) -> dict:
    """Ann's details form as the page holds it (its token and version), Berlin address."""
    page = await client.get("/client/details")
    return {
        "_csrf_token": csrf_from(page.text),
        "version": re.search(r'name="version" value="(\d+)"', page.text).group(1),
        "first_name": "Ann",
        "last_name": "Client",
        "address1": "1 Main St",
        "city": "Berlin",
        "country": "DE",
        "state": "DE-BE",
        "zip": "10115",
        "email": "ann@example.com",
        "language": "en",
    }


async def test_a_number_of_no_known_type_is_refused_and_the_numbers_kept(client, ann):
    await client_login(client, "ann")
    numbers = {
        "phone_row": ["a1"],
        "phone_type": ["phone"],
        "phone_location": ["home"],
        "phone_number": ["030 1234567"],
    }
    form = {**await own_details_form(client), **numbers}
    assert (await client.post("/client/details", data=form)).status_code == 303
    form = {**await own_details_form(client), **numbers, "phone_type": ["pager"]}
    refused = await client.post("/client/details", data=form)
    assert refused.status_code == 422 and "Choose Phone or Fax." in refused.text
    numbers = await ContactNumber.select(ContactNumber.number, ContactNumber.number_type)
    assert numbers == [{"number": "+49301234567", "number_type": "phone"}]


async def test_details_sent_without_a_real_version_are_not_saved(client, ann):
    await client_login(client, "ann")
    form = {**await own_details_form(client), "address1": "9 Crafted Street"}
    for version in ("", "0", "2147483648", "garbage"):
        refused = await client.post("/client/details", data={**form, "version": version})
        assert refused.status_code == 409, version
        assert "changed elsewhere in the meantime" in refused.text
    contact = await Contact.select(Contact.address1).where(Contact.client == ann).first()
    assert contact["address1"] != "9 Crafted Street"


async def test_read_only_and_hidden_custom_fields_cannot_be_changed(client, company_id):
    group = await groups.create_group(
        company_id,
        GroupDetails(
            name="Managed",
            overrides={"read_only_fields": "city", "shown_fields": "address1,city,country"},
        ),
        SYSTEM,
    )
    shown = await groups.create_field(
        company_id, group, FieldDetails(label="Nickname", visible_to_client=True), SYSTEM
    )
    locked = await groups.create_field(
        company_id,
        group,
        FieldDetails(label="Plan", visible_to_client=True, read_only_for_client=True),
        SYSTEM,
    )
    hidden = await groups.create_field(company_id, group, FieldDetails(label="Risk score"), SYSTEM)
    client_id = await make_client(email="bob@example.com", group_id=group)
    await CustomFieldValue.insert(
        CustomFieldValue(field=locked, client=client_id, value="Gold"),
        CustomFieldValue(field=hidden, client=client_id, value="low"),
    )
    await client_login(client, "bob@example.com")
    page = await client.get("/client/details")
    assert (
        "Risk score" not in page.text
        and "Gold" in page.text
        and f'name="custom_{locked}"' not in page.text
    )
    assert 'name="city"' not in page.text  # read-only once it has a value
    assert 'name="title"' not in page.text  # not shown to clients
    version = re.search(r'name="version" value="(\d+)"', page.text).group(1)
    response = await client.post(
        "/client/details",
        data={
            "_csrf_token": csrf_from(page.text),
            "version": version,
            "first_name": "Bob",
            "last_name": "Client",
            "email": "bob@example.com",
            "address1": "3 Road",
            "city": "Hacked",
            "title": "Hacked",
            "country": "DE",
            "language": "en",
            f"custom_{shown}": "Bobby",
            f"custom_{locked}": "Platinum",
            f"custom_{hidden}": "none",
        },
    )
    assert response.status_code == 303, response.text
    contact = await Contact.select().where(Contact.client == client_id).first()
    assert (contact["address1"], contact["city"], contact["title"]) == ("3 Road", "Berlin", "")
    values = {
        r["field"]: r["value"]
        for r in await CustomFieldValue.select().where(CustomFieldValue.client == client_id)
    }
    assert values == {shown: "Bobby", locked: "Gold", hidden: "low"}


async def test_a_username_written_as_another_users_email_takes_nothing_from_them(client, ann):
    """Sam's username is Ann's email address: Ann still signs in with it, and a forgotten
    password asked for with it reaches her too; the password tells the two apart."""
    sam = await make_client(email="sam@example.com", username="ANN@example.com", first_name="Sam")
    sam_password = await hash_password("Sam-horse-4242")
    sam_user = (await owner_of(sam))["id"]
    await AccountUser.update({AccountUser.password_hash: sam_password}).where(
        AccountUser.id == sam_user
    )
    assert (await client_login(client, "ann@example.com")).status_code == 303
    assert "Welcome, Ann" in (await client.get("/client")).text
    page = await client.get("/client")
    await client.post("/client/logout", data={"_csrf_token": csrf_from(page.text)})
    assert (await client_login(client, "ann@example.com", "Sam-horse-4242")).status_code == 303
    assert "Welcome, Sam" in (await client.get("/client")).text

    page = await client.get("/client/forgot-password")
    await client.post(
        "/client/forgot-password",
        data={"_csrf_token": csrf_from(page.text), "identifier": "ann@example.com"},
    )
    mailed = await MailMessage.select(MailMessage.to_address).where(
        MailMessage.kind == "password_reset"
    )
    assert sorted(row["to_address"] for row in mailed) == ["ann@example.com", "sam@example.com"]


async def test_password_reset_flow_single_use_and_expiry(client, ann):
    page = await client.get("/client/forgot-password")
    unknown = await client.post(
        "/client/forgot-password",
        data={"_csrf_token": csrf_from(page.text), "identifier": "nobody"},
    )
    known = await client.post(
        "/client/forgot-password", data={"_csrf_token": csrf_from(page.text), "identifier": "ann"}
    )
    assert unknown.status_code == known.status_code == 200
    assert without_csrf_tokens(unknown.text) == without_csrf_tokens(known.text)
    message = await MailMessage.select().where(MailMessage.kind == "password_reset").first()
    link = re.search(r"/client/reset/(\S+)", message["body_text"]).group(1)
    stored = await PasswordResetToken.select().first()
    assert link not in stored["token_hash"] and len(link) >= 40

    # A logged-in session elsewhere ends when the password is reset.
    other = client
    await client_login(other, "ann")
    form = await client.get(f"/client/reset/{link}")
    assert form.status_code == 200
    done = await client.post(
        f"/client/reset/{link}",
        data={"_csrf_token": csrf_from(form.text), "password": "Brand-new-horse-7"},
    )
    assert done.status_code == 200 and "Your password was changed" in done.text
    assert (await client.get("/client")).status_code == 302
    # The session it ended was the one the form's token was bound to: a fresh one for the retry.
    fresh = csrf_from((await client.get("/client/login")).text)
    reused = await client.post(
        f"/client/reset/{link}",
        data={"_csrf_token": fresh, "password": "Another-new-horse-8"},
    )
    assert reused.status_code == 404
    assert (await client_login(client, "ann", "Brand-new-horse-7")).status_code == 303
    assert await MailMessage.count().where(MailMessage.kind == "password_changed") == 1

    # An expired link is refused, and so is a forged one.
    await client.post(
        "/client/logout", data={"_csrf_token": csrf_from((await client.get("/client")).text)}
    )
    page = await client.get("/client/forgot-password")
    await client.post(
        "/client/forgot-password",
        data={"_csrf_token": csrf_from(page.text), "identifier": "ann@example.com"},
    )
    latest = (
        await MailMessage.select()
        .where(MailMessage.kind == "password_reset")
        .order_by(MailMessage.id, ascending=False)
        .first()
    )
    expired = re.search(r"/client/reset/(\S+)", latest["body_text"]).group(1)
    await PasswordResetToken.update(
        {PasswordResetToken.expires_at: datetime.now(UTC) - timedelta(minutes=1)}
    ).where(PasswordResetToken.used_at.is_null())
    assert (await client.get(f"/client/reset/{expired}")).status_code == 404
    assert (await client.get("/client/reset/forged-token")).status_code == 404


async def test_forgot_username_and_change_password(client, ann):
    page = await client.get("/client/forgot-username")
    response = await client.post(
        "/client/forgot-username",
        data={"_csrf_token": csrf_from(page.text), "email": "ann@example.com"},
    )
    assert response.status_code == 200
    reminder = await MailMessage.select().where(MailMessage.kind == "username_reminder").first()
    assert "Username: ann" in reminder["body_text"]

    await client_login(client, "ann")
    page = await client.get("/client/password")
    wrong = await client.post(
        "/client/password",
        data={
            "_csrf_token": csrf_from(page.text),
            "current_password": "nope",
            "new_password": "Better-horse-99",
        },
    )
    assert wrong.status_code == 422 and "The current password is not correct." in wrong.text
    sessions_before = await Session.count()
    changed = await client.post(
        "/client/password",
        data={
            "_csrf_token": csrf_from(page.text),
            "current_password": PASSWORD,
            "new_password": "Better-horse-99",
        },
    )
    assert changed.status_code == 303
    assert (await client.get("/client")).status_code == 200  # this session goes on
    assert sessions_before >= 1


async def test_client_pages_need_a_client_session(client, staff):
    for path in ("/client", "/client/details", "/client/password"):
        response = await client.get(path)
        assert response.status_code == 302 and response.headers["location"].startswith(
            "/client/login"
        )


async def test_language_choice_on_the_login_page(client, company_id):
    response = await client.get("/client/language", params={"lang": "es", "next": "/client/login"})
    assert response.status_code == 302 and response.headers["location"] == "/client/login"
    page = await client.get("/client/login")
    assert (
        'lang="es"' in page.text
        and "Iniciar sesión" in page.text
        and "¿Olvidó su contraseña?" in page.text
    )
    assert (await client.get("/client/language", params={"lang": "xx"})).status_code == 404
    browser_german = await client.get(
        "/client/login", headers={"accept-language": "de-DE,de;q=0.9"}
    )
    assert 'lang="es"' in browser_german.text  # the explicit choice wins over the browser's


async def test_dashboard_shows_amounts_due_and_invoices_of_the_client_only(client, ann, company_id):
    from portal.billing import services as billing

    other = await make_client(email="other@example.com")
    system = Actor(kind="system")
    invoice = billing.new_invoice_details("USD")
    invoice.description, invoice.amount = "Hosting", "12.50"
    await billing.create_invoice(company_id, ann, invoice, system)
    invoice.currency, invoice.amount = "EUR", "7"
    await billing.create_invoice(company_id, ann, invoice, system)
    invoice.description, invoice.amount = "Secret other invoice", "999"
    await billing.create_invoice(company_id, other, invoice, system)

    await client_login(client, "ann")
    page = await client.get("/client")
    assert "$12.50" in page.text and "€7.00" in page.text
    assert "999.00" not in page.text
    assert "Amounts due" in page.text and "Recent invoices" in page.text


async def test_a_language_the_company_does_not_offer_is_not_offered_before_login(
    client, company_id
):
    await set_internationalization(company_id, ["en", "de"], "en", SYSTEM)
    page = await client.get("/client/login")
    assert 'hreflang="de"' in page.text and 'hreflang="es"' not in page.text
    assert (await client.get("/client/language?lang=es")).status_code == 404
    assert (await client.get("/client/language?lang=de")).status_code in {302, 303}
