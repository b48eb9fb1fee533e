"""Billing and Other contacts, managed by staff from the client profile through HTTP: the Contacts
widget and the "Add Contact" account action, Edit Contact and Delete Contact; the group's
required fields beside the field with everything typed kept; another client's contact is 404;
staff who may not edit clients get 403; a contact's login (a user of the account with the
chosen permissions) and what deleting the contact does to it."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator

import httpx
import pytest

from conftest import csrf_from, login_staff
from portal.app import create_app
from portal.client_groups.services import set_group_settings
from portal.clients import contacts, users
from portal.clients.tables import (
    AccountMember,
    AccountUser,
    ClientAudit,
    ConsentEvent,
    Contact,
    ContactNumber,
)
from portal.core.actors import SYSTEM
from portal.core.db import write_transactions
from portal.core.errors import NotFound
from portal.staff import services as staff_services
from profile_helpers import PASSWORD, default_group, make_client

LOGIN_PASSWORD = "Billing-otter-91"
SUPPORT_PASSWORD = "Quiet-river-73"


def contact_form(**overrides) -> dict:
    """Add Contact's fields as a browser sends them: a billing contact with two numbers."""
    form = {
        "contact_type": "billing",
        "first_name": "Bill",
        "last_name": "Payer",
        "company": "Payer Ltd",
        "title": "Accountant",
        "address1": "5 Ledger Lane",
        "address2": "",
        "city": "Toronto",
        "country": "CA",
        "state": "CA-ON",
        "zip": "M5V 2T6",
        "email": "bill@example.com",
        "phone_row": ["r1", "r2"],
        "phone_type": ["phone", "fax"],
        "phone_location": ["work", "home"],
        "phone_number": ["416 555 0101", "416 555 0102"],
        "marketing_opt_in": "1",
    }
    form.update(overrides)
    return {key: value for key, value in form.items() if value is not None}


async def post_form(http: httpx.AsyncClient, page: str, data: dict, action: str | None = None):
    """Opens the page (for its CSRF token) and posts `data` to `action` (the page itself)."""
    response = await http.get(page)
    assert response.status_code == 200, response.text
    return await http.post(action or page, data={"_csrf_token": csrf_from(response.text), **data})


async def contacts_of(client_id: int) -> list[dict]:
    return await Contact.select().where(Contact.client == client_id).order_by(Contact.id)


async def numbers_of(contact_id: int) -> list[tuple[str, str, str]]:
    rows = (
        await ContactNumber.select()
        .where(ContactNumber.contact == contact_id)
        .order_by(ContactNumber.position)
    )
    return [(row["number_type"], row["location"], row["number"]) for row in rows]


async def add_billing_contact(http: httpx.AsyncClient, client_id: int, **overrides) -> int:
    response = await post_form(
        http, f"/admin/clients/{client_id}/contacts/add", contact_form(**overrides)
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/admin/clients/{client_id}#widget-contacts"
    return (await contacts_of(client_id))[-1]["id"]


async def widget(http: httpx.AsyncClient, client_id: int) -> str:
    response = await http.get(
        f"/admin/clients/{client_id}/widgets/contacts", headers={"HX-Request": "true"}
    )
    assert response.status_code == 200, response.text
    return response.text


@contextlib.asynccontextmanager
async def session(email: str, password: str) -> AsyncIterator[httpx.AsyncClient]:
    """Another browser, beside the test's admin_client."""
    transport = httpx.ASGITransport(app=create_app(), client=("127.0.0.1", 50002))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as http:
        await login_staff(http, email, password)
        yield http


async def test_add_edit_and_delete_a_billing_contact_with_two_numbers(admin_client, company_id):
    client_id = await make_client(company_id, first_name="Ann", last_name="Owner")
    profile = (await admin_client.get(f"/admin/clients/{client_id}")).text
    assert f'<a href="/admin/clients/{client_id}/contacts/add">Add Contact</a>' in profile
    assert f'hx-get="/admin/clients/{client_id}/widgets/contacts"' in profile

    page = await admin_client.get(f"/admin/clients/{client_id}/contacts/add")
    assert page.status_code == 200
    for label_for, label in [
        ("contact_type", "Type"),
        ("first_name", "First Name"),
        ("last_name", "Last Name"),
        ("company", "Company/Org."),
        ("title", "Title"),
        ("address1", "Address 1"),
        ("address2", "Address 2"),
        ("city", "City"),
        ("country", "Country"),
        ("state", "State/Province"),
        ("zip", "Zip/Postal Code"),
        ("email", "Email"),
        ("marketing_opt_in", "Opt-in to marketing emails"),
        ("give_login", "Give this contact a login"),
        ("username", "Username"),
        ("password", "Password"),
        ("permission-invoices", "Invoices"),
    ]:
        assert f'<label for="{label_for}">{label}</label>' in page.text, label
    assert 'hx-get="/fragments/phone-row"' in page.text
    assert '<option value="CA" selected>' in page.text  # the client's country to start with

    contact_id = await add_billing_contact(admin_client, client_id)
    row = (await Contact.select().where(Contact.id == contact_id).first()) or {}
    assert row["contact_type"] == "billing" and row["email"] == "bill@example.com"
    assert row["marketing_opt_in"] is True and row["login"] is None
    assert await numbers_of(contact_id) == [
        ("phone", "work", "+14165550101"),
        ("fax", "home", "+14165550102"),
    ]
    consents = await ConsentEvent.select().where(ConsentEvent.contact == contact_id)
    assert [(c["opted_in"], c["client"]) for c in consents] == [(True, client_id)]

    html = await widget(admin_client, client_id)
    assert html.index("Ann Owner") < html.index("Bill Payer")  # the primary contact first
    assert "Billing" in html and "+1 416-555-0101" in html
    assert f"/admin/clients/{client_id}/contacts/{contact_id}/edit" in html
    assert f"/admin/clients/{client_id}/contacts/{contact_id}/delete" in html
    primary_id = (await contacts_of(client_id))[0]["id"]
    assert f"/contacts/{primary_id}/delete" not in html  # the primary is Edit Client's

    # Edit: the form starts from the contact; type, name, numbers and consent change.
    edit_path = f"/admin/clients/{client_id}/contacts/{contact_id}/edit"
    edit = await admin_client.get(edit_path)
    assert edit.status_code == 200
    assert 'value="Bill"' in edit.text and 'value="+1 416-555-0102"' in edit.text
    response = await post_form(
        admin_client,
        edit_path,
        contact_form(
            contact_type="other",
            last_name="Ledger",
            phone_row=["r1", "r2"],
            phone_type=["fax", "phone"],
            phone_location=["work", "work"],
            phone_number=["416 555 0199", "+49 30 1234567"],
            marketing_opt_in=None,
        ),
    )
    assert response.status_code == 303, response.text
    row = (await Contact.select().where(Contact.id == contact_id).first()) or {}
    assert (row["contact_type"], row["last_name"], row["marketing_opt_in"]) == (
        "other",
        "Ledger",
        False,
    )
    assert await numbers_of(contact_id) == [
        ("fax", "work", "+14165550199"),
        ("phone", "work", "+49301234567"),
    ]
    consents = (
        await ConsentEvent.select()
        .where(ConsentEvent.contact == contact_id)
        .order_by(ConsentEvent.id)
    )
    assert [c["opted_in"] for c in consents] == [True, False]
    history = await ClientAudit.select(ClientAudit.field, ClientAudit.new_value).where(
        ClientAudit.client_id == client_id
    )
    fields = {line["field"]: line["new_value"] for line in history}
    assert fields["Billing contact Bill Payer: Last Name"] == "Ledger"
    assert fields["Billing contact Bill Payer: Type"] == "Other"

    # Delete: a confirmation page, then POST.
    delete_path = f"/admin/clients/{client_id}/contacts/{contact_id}/delete"
    confirm = await admin_client.get(delete_path)
    assert confirm.status_code == 200 and "Delete Contact" in confirm.text
    response = await post_form(admin_client, delete_path, {})
    assert response.status_code == 303
    assert [c["id"] for c in await contacts_of(client_id)] == [primary_id]
    assert await numbers_of(contact_id) == []
    lines = await ClientAudit.select().where(
        ClientAudit.client_id == client_id, ClientAudit.new_value == "deleted"
    )
    assert lines and "Bill Ledger" in lines[0]["old_value"]


async def test_required_fields_are_reported_beside_the_field_with_everything_kept(
    admin_client, company_id
):
    group = await default_group(company_id)
    await set_group_settings(company_id, group, {"required_fields": "address1,phone"}, SYSTEM)
    client_id = await make_client(company_id)
    path = f"/admin/clients/{client_id}/contacts/add"
    page = (await admin_client.get(path)).text
    required = re.search(r'<div class="field([^"]*)">\s*<label for="address1">', page)
    assert required and "field--required" in required.group(1)

    response = await post_form(
        admin_client,
        path,
        contact_form(
            first_name="",
            address1="",
            email="bill@",
            company="Kept Company Ltd",
            phone_number=["", ""],
            give_login="1",
            username="kept.user",
            password=LOGIN_PASSWORD,
            permissions=["invoices", "emails"],
        ),
    )
    assert response.status_code == 422
    html = response.text
    assert '<p class="field-error" id="first_name-error">First Name is required.</p>' in html
    assert '<p class="field-error" id="address1-error">Address 1 is required.</p>' in html
    assert 'id="email-error">Enter a valid email address' in html
    assert 'id="phone-rows-error">At least one Phone number is required.' in html
    assert 'aria-describedby="first_name-error" aria-invalid="true"' in html
    # What was typed comes back, the password aside.
    assert 'value="Kept Company Ltd"' in html and 'value="bill@"' in html
    assert 'value="kept.user"' in html and LOGIN_PASSWORD not in html
    assert re.search(r'id="give_login" name="give_login" value="1" checked', html)
    assert re.search(r'id="permission-emails" name="permissions" value="emails" checked', html)
    assert not re.search(
        r'id="permission-services" name="permissions" value="services" checked', html
    )
    assert len(await contacts_of(client_id)) == 1  # nothing was added
    assert not await AccountUser.exists().where(AccountUser.username == "kept.user")

    # A wrong type is refused beside Type; a bad number beside its row.
    response = await post_form(
        admin_client, path, contact_form(contact_type="primary", phone_number=["12", ""])
    )
    assert response.status_code == 422
    assert 'id="contact_type-error">Choose Billing or Other.' in response.text
    assert 'id="phone-number-r1-error">Enter a valid phone number' in response.text


async def test_add_number_works_without_javascript(admin_client, company_id):
    client_id = await make_client(company_id)
    response = await post_form(
        admin_client,
        f"/admin/clients/{client_id}/contacts/add",
        contact_form(action="add_phone"),
    )
    assert response.status_code == 200
    assert response.text.count('name="phone_number"') == 3
    assert 'value="416 555 0101"' in response.text
    assert len(await contacts_of(client_id)) == 1


async def test_a_contact_of_client_a_through_client_b_is_not_found(
    admin_client, company_id, second_company
):
    client_a = await make_client(company_id, first_name="Ann")
    client_b = await make_client(company_id, first_name="Bob")
    contact_id = await add_billing_contact(admin_client, client_a)
    for path in (
        f"/admin/clients/{client_b}/contacts/{contact_id}/edit",
        f"/admin/clients/{client_b}/contacts/{contact_id}/delete",
    ):
        assert (await admin_client.get(path)).status_code == 404
        token = csrf_from((await admin_client.get(f"/admin/clients/{client_b}")).text)
        data = {"_csrf_token": token, **contact_form(last_name="Hijacked")}
        assert (await admin_client.post(path, data=data)).status_code == 404
    row = await Contact.select().where(Contact.id == contact_id).first()
    assert row is not None and row["last_name"] == "Payer"
    # The services say the same, and for a client of another company.
    with pytest.raises(NotFound):
        await contacts.get_contact(company_id, client_b, contact_id)
    with pytest.raises(NotFound):
        await contacts.get_contact(second_company, client_a, contact_id)
    with pytest.raises(NotFound):
        await contacts.list_contacts(second_company, client_a)


async def test_support_staff_may_see_contacts_but_not_change_them(admin_client, company_id):
    client_id = await make_client(company_id)
    contact_id = await add_billing_contact(admin_client, client_id)
    await staff_services.create_staff(
        email="sam@example.com",
        password=SUPPORT_PASSWORD,
        first_name="Sam",
        last_name="Support",
        company_ids=[company_id],
        group="Support",
    )
    async with session("sam@example.com", SUPPORT_PASSWORD) as support:
        profile = await support.get(f"/admin/clients/{client_id}")
        # No link to add one (the consent records may say a contact was added "through Add
        # Contact").
        assert profile.status_code == 200 and "/contacts/add" not in profile.text
        html = await widget(support, client_id)
        assert "Bill Payer" in html and "/edit" not in html and "/delete" not in html
        assert "/contacts/add" not in html
        base = f"/admin/clients/{client_id}/contacts"
        assert (await support.get(f"{base}/add")).status_code == 403
        token = csrf_from(profile.text)
        for path in (f"{base}/add", f"{base}/{contact_id}/edit", f"{base}/{contact_id}/delete"):
            data = {"_csrf_token": token, **contact_form(last_name="Forged")}
            assert (await support.post(path, data=data)).status_code == 403, path
    rows = await contacts_of(client_id)
    assert len(rows) == 2 and rows[1]["last_name"] == "Payer"


async def test_a_contact_with_a_login(admin_client, company_id):
    client_id = await make_client(company_id)
    contact_id = await add_billing_contact(
        admin_client,
        client_id,
        give_login="1",
        username="Billing.Bob",
        password=LOGIN_PASSWORD,
        permissions=["invoices", "transactions"],
    )
    contact = await Contact.select().where(Contact.id == contact_id).first()
    user = await AccountUser.select().where(AccountUser.id == contact["login"]).first()
    assert user is not None and user["username"] == "billing.bob"
    assert user["email"] == "bill@example.com" and user["name"] == "Bill Payer"
    member = (
        await AccountMember.select()
        .where(AccountMember.user == user["id"], AccountMember.client == client_id)
        .first()
    )
    assert member is not None and member["owner"] is False
    assert users.permissions_of(member["permissions"]) == {"invoices", "transactions"}
    assert "billing.bob" in await widget(admin_client, client_id)

    # The login works in the client area.
    transport = httpx.ASGITransport(app=create_app(), client=("127.0.0.1", 50003))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as http:
        page = await http.get("/client/login")
        login = await http.post(
            "/client/login",
            data={
                "_csrf_token": csrf_from(page.text),
                "identifier": "billing.bob",
                "password": LOGIN_PASSWORD,
            },
        )
        assert login.status_code == 303, login.text

    # The same username again (in any case) is refused beside Username.
    response = await post_form(
        admin_client,
        f"/admin/clients/{client_id}/contacts/add",
        contact_form(
            first_name="Other",
            email="other@example.com",
            give_login="1",
            username="BILLING.BOB",
            password=LOGIN_PASSWORD,
        ),
    )
    assert response.status_code == 422
    assert (
        'id="username-error">This username is already in use by another client.</p>'
        in response.text
    )
    assert len(await contacts_of(client_id)) == 2

    # Edit: the permissions change; the username is shown, not edited.
    edit_path = f"/admin/clients/{client_id}/contacts/{contact_id}/edit"
    edit = await admin_client.get(edit_path)
    assert 'id="username">billing.bob</p>' in edit.text
    response = await post_form(
        admin_client,
        edit_path,
        contact_form(give_login="1", permissions=["emails"], email="bill.new@example.com"),
    )
    assert response.status_code == 303, response.text
    member = await AccountMember.select().where(AccountMember.user == user["id"]).first()
    assert member["permissions"] == "emails"
    user = await AccountUser.select().where(AccountUser.id == user["id"]).first()
    assert user["email"] == "bill.new@example.com"  # the login's email follows the contact's

    # Unticking "Give this contact a login" takes the login away.
    response = await post_form(admin_client, edit_path, contact_form(permissions=["emails"]))
    assert response.status_code == 303, response.text
    assert (await Contact.select().where(Contact.id == contact_id).first())["login"] is None
    assert not await AccountUser.exists().where(AccountUser.id == user["id"])

    # Ticked again on Edit Contact: a new login, with a username and password of its own.
    response = await post_form(
        admin_client,
        edit_path,
        contact_form(
            give_login="1", username="bob.again", password=LOGIN_PASSWORD, permissions=["emails"]
        ),
    )
    assert response.status_code == 303, response.text
    again = await AccountUser.select().where(AccountUser.username == "bob.again").first()
    assert (await Contact.select().where(Contact.id == contact_id).first())["login"] == again["id"]
    assert await users.account_ids(again["id"]) == [client_id]


async def test_deleting_a_contact_with_a_login_drops_the_orphan_login(admin_client, company_id):
    client_id = await make_client(company_id)
    other_client = await make_client(company_id, first_name="Other")
    alone = await add_billing_contact(
        admin_client, client_id, give_login="1", username="alone", password=LOGIN_PASSWORD
    )
    shared = await add_billing_contact(
        admin_client,
        client_id,
        email="shared@example.com",
        give_login="1",
        username="shared",
        password=LOGIN_PASSWORD,
    )
    login_of = {
        row["id"]: row["login"]
        for row in await contacts_of(client_id)
        if row["contact_type"] != "primary"
    }
    async for transaction in write_transactions():
        async with transaction:  # the shared login is also a user of another account
            await users.add_member(login_of[shared], other_client, permissions=["invoices"])

    for contact_id in (alone, shared):
        path = f"/admin/clients/{client_id}/contacts/{contact_id}/delete"
        confirm = await admin_client.get(path)
        assert "The contact has a login" in confirm.text
        assert (await post_form(admin_client, path, {})).status_code == 303

    assert not await AccountUser.exists().where(AccountUser.id == login_of[alone])
    assert await AccountUser.exists().where(AccountUser.id == login_of[shared])
    assert await users.account_ids(login_of[shared]) == [other_client]
    assert not await AccountMember.exists().where(
        AccountMember.client == client_id, AccountMember.user.is_in(list(login_of.values()))
    )


async def test_the_owners_contact_and_the_primary_contact_are_not_deleted_here(
    admin_client, company_id
):
    client_id = await make_client(company_id)
    contact_id = await add_billing_contact(
        admin_client, client_id, give_login="1", username="heir", password=LOGIN_PASSWORD
    )
    heir = (await Contact.select().where(Contact.id == contact_id).first())["login"]
    await users.transfer_ownership(company_id, client_id, heir, SYSTEM)

    path = f"/admin/clients/{client_id}/contacts/{contact_id}/delete"
    response = await post_form(admin_client, path, {})
    assert response.status_code == 422
    assert "This contact&#39;s login owns the account" in response.text
    assert await Contact.exists().where(Contact.id == contact_id)

    primary = (await contacts_of(client_id))[0]
    assert primary["contact_type"] == "primary"
    base = f"/admin/clients/{client_id}/contacts/{primary['id']}"
    edit = await admin_client.get(f"{base}/edit")
    assert (
        edit.status_code == 303 and edit.headers["location"] == f"/admin/clients/{client_id}/edit"
    )
    token = csrf_from((await admin_client.get(f"/admin/clients/{client_id}")).text)
    response = await admin_client.post(f"{base}/delete", data={"_csrf_token": token})
    assert response.status_code == 422
    assert "The primary contact is the client" in response.text
    assert await Contact.exists().where(Contact.id == primary["id"])


async def test_the_contacts_widget_on_a_page_of_its_own(admin_client, company_id):
    """Without JavaScript the widget's link opens it on a page of its own."""
    client_id = await make_client(company_id)
    response = await admin_client.get(f"/admin/clients/{client_id}/widgets/contacts")
    assert response.status_code == 200
    assert "<h1>Contacts" in response.text and "No billing or other contacts yet." in response.text
    assert PASSWORD not in response.text


async def test_the_groups_rules_on_emails_and_usernames_apply(admin_client, company_id):
    group = await default_group(company_id)
    await set_group_settings(
        company_id,
        group,
        {"unique_contact_emails": "all", "usernames_must_be_emails": "true"},
        SYSTEM,
    )
    client_a = await make_client(company_id)
    client_b = await make_client(company_id)
    await add_billing_contact(admin_client, client_a)
    path = f"/admin/clients/{client_b}/contacts/add"
    response = await post_form(
        admin_client,
        path,
        contact_form(
            email="BILL@example.com", give_login="1", username="bill", password=LOGIN_PASSWORD
        ),
    )
    assert response.status_code == 422
    assert 'id="email-error">Another client already uses this email address.' in response.text
    assert 'id="username-error">In this client group the username must be an email' in response.text
    assert len(await contacts_of(client_b)) == 1


async def test_an_unsubscribe_while_the_form_is_open_is_not_undone(admin_client, company_id):
    """The form says which consent it showed: left as it was, the contact's consent now stays
    (the contact unsubscribed by the link in a mailing meanwhile)."""
    client_id = await make_client(company_id)
    contact_id = await add_billing_contact(admin_client, client_id)  # opted in
    edit_path = f"/admin/clients/{client_id}/contacts/{contact_id}/edit"
    page = await admin_client.get(edit_path)
    assert '<input type="hidden" name="marketing_opt_in_shown" value="1">' in page.text
    async for transaction in write_transactions():
        async with transaction:
            await Contact.update({Contact.marketing_opt_in: False}).where(Contact.id == contact_id)
    form = contact_form(last_name="Later", marketing_opt_in_shown="1")  # still ticked
    response = await post_form(admin_client, edit_path, form)
    assert response.status_code == 303, response.text
    row = await Contact.select().where(Contact.id == contact_id).first()
    assert row["last_name"] == "Later" and row["marketing_opt_in"] is False
    consents = await ConsentEvent.select().where(ConsentEvent.contact == contact_id)
    assert [c["opted_in"] for c in consents] == [True]  # staff recorded no new consent


async def test_the_registration_email_goes_to_a_new_contact_with_a_login(admin_client, company_id):
    from portal.mail.tables import MailMessage

    client_id = await make_client(company_id)
    await add_billing_contact(
        admin_client,
        client_id,
        give_login="1",
        username="billing.bob",
        password=LOGIN_PASSWORD,
        permissions=["invoices"],
        send_registration_email="1",
    )
    await add_billing_contact(
        admin_client,
        client_id,
        email="quiet@example.com",
        give_login="1",
        username="quiet.one",
        password=LOGIN_PASSWORD,
    )
    sent = await MailMessage.select().where(
        MailMessage.kind == "registration", MailMessage.client == client_id
    )
    assert [m["to_address"] for m in sent] == ["bill@example.com"]
    body = sent[0]["body_text"]
    assert "Username: billing.bob" in body and "/client/login" in body
    assert LOGIN_PASSWORD not in body
