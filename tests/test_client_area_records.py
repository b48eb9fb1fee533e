"""The client area's record pages over HTTP: invoices (drafts hidden, billed to the billing
contact), services, transactions, emails, contacts and marketing preferences, each shown only to
a user allowed to see it, and never another account's rows."""

from __future__ import annotations

import pytest

from conftest import csrf_from
from portal.billing import services as billing
from portal.clients import contacts
from portal.clients.tables import Client, ConsentEvent, Contact
from portal.core.actors import SYSTEM
from portal.mail import services as mail
from test_client_area import client_login, make_client

BILL_PASSWORD = "Billing-otter-91"
RECORD_PAGES = ["/client/services", "/client/transactions", "/client/emails", "/client/contacts"]


async def add_billing_contact(
    company_id: int, client_id: int, permissions: list[str], email="bill@example.com"
) -> int:
    details = contacts.ContactDetails(
        contact_type="billing",
        first_name="Bill",
        last_name="Payer",
        company="Payer Accounting",
        address1="9 Ledger Lane",
        city="Hamburg",
        country="DE",
        state="DE-HH",
        zip="20095",
        email=email,
    )
    login = contacts.LoginDetails(
        username=email.split("@")[0], password=BILL_PASSWORD, permissions=permissions
    )
    return await contacts.add_contact(company_id, client_id, details, SYSTEM, login)


async def invoice(company_id: int, client_id: int, description: str, amount: str, **kw) -> int:
    details = billing.new_invoice_details("EUR")
    details.description, details.amount = description, amount
    for name, value in kw.items():
        setattr(details, name, value)
    return await billing.create_invoice(company_id, client_id, details, SYSTEM)


@pytest.fixture
async def account(company_id) -> dict:
    """Ann's account with a sent invoice (part paid), a draft, a service, a mail, and Bill, its
    billing contact, whose login may see invoices only; plus another client's invoice."""
    ann = await make_client(username="ann", company="Ann Trading")
    other = await make_client(email="olga@example.com", username="olga")
    sent = await invoice(company_id, ann, "Hosting for March", "100")
    await invoice(company_id, ann, "Draft not sent yet", "55", status="draft")
    payment = billing.new_payment_details("EUR", str(sent))
    payment.amount, payment.method = "40", "Wire transfer"
    await billing.record_payment(company_id, ann, payment, SYSTEM)
    service = billing.new_service_details("EUR")
    service.name, service.price = "Web hosting L", "12"
    await billing.create_service(company_id, ann, service, SYSTEM)
    news = mail.LoggedMail(
        ann,
        "mailing",
        "news@example.com",
        "ann@example.com",
        "Spring news",
        "Hello Ann",
        "sent",
        None,
    )
    await mail.log_messages(company_id, [news])
    await add_billing_contact(company_id, ann, ["invoices"])
    others = await invoice(company_id, other, "Olga's secret invoice", "999")
    return {"ann": ann, "other": other, "sent": sent, "others_invoice": others}


async def test_a_user_with_only_invoices_sees_invoices_and_nothing_else(client, account):
    assert (await client_login(client, "bill", BILL_PASSWORD)).status_code == 303
    page = await client.get("/client/invoices")
    assert page.status_code == 200
    assert "Hosting for March" not in page.text  # the list shows numbers, dates and totals
    assert f'href="/client/invoices/{account["sent"]}"' in page.text
    assert "55.00" not in page.text, "a draft is not shown to the client"
    assert "999.00" not in page.text

    detail = await client.get(f"/client/invoices/{account['sent']}")
    assert detail.status_code == 200
    text = detail.text
    assert "Hosting for March" in text and "Billed to" in text
    assert "Bill Payer" in text and "Payer Accounting" in text and "Hamburg" in text
    assert "Germany" in text and "Hamburg" in text
    assert "60.00" in text, "what is still due"
    assert "Wire transfer" not in text, "payments need the transactions permission"

    for url in [
        f"/client/invoices/{account['others_invoice']}",
        "/client/invoices/not-a-number",
        "/client/invoices/99999999999999999999",
    ]:
        assert (await client.get(url)).status_code == 404, url
    for url in [*RECORD_PAGES, "/client/marketing", "/client/details", "/client/users"]:
        assert (await client.get(url)).status_code == 403, url

    dashboard = await client.get("/client")
    assert "Recent invoices" in dashboard.text
    assert "Web hosting L" not in dashboard.text, "services need their permission"
    assert 'href="/client/services"' not in dashboard.text


async def test_the_owner_sees_every_record_page(client, account):
    assert (await client_login(client, "ann")).status_code == 303
    services = await client.get("/client/services")
    assert services.status_code == 200 and "Web hosting L" in services.text
    transactions = await client.get("/client/transactions")
    assert transactions.status_code == 200 and "Wire transfer" in transactions.text
    assert f'href="/client/invoices/{account["sent"]}"' in transactions.text
    detail = await client.get(f"/client/invoices/{account['sent']}")
    assert "Wire transfer" in detail.text, "the owner sees the payments applied"
    people = await client.get("/client/contacts")
    assert people.status_code == 200
    assert people.text.index("Ann Client") < people.text.index("Bill Payer")
    assert "bill@example.com" in people.text
    emails = await client.get("/client/emails")
    assert emails.status_code == 200 and "Spring news" in emails.text
    # Out-of-range and odd page numbers: the nearest page, never an error.
    assert (await client.get("/client/invoices?page=999")).status_code == 200
    assert (await client.get("/client/invoices?page=-3")).status_code == 200
    assert (await client.get("/client/invoices?page=abc")).status_code == 400


async def test_marketing_preferences_per_contact_with_a_consent_log(client, company_id, account):
    ann = account["ann"]
    bill = await Contact.select(Contact.id).where(Contact.email == "bill@example.com").first()
    olgas = (await Contact.select(Contact.id).where(Contact.client == account["other"]).first())[
        "id"
    ]
    assert (await client_login(client, "ann")).status_code == 303
    page = await client.get("/client/marketing")
    assert page.status_code == 200
    assert 'for="opt-in-' in page.text and "Bill Payer" in page.text
    saved = await client.post(
        "/client/marketing",
        data={"_csrf_token": csrf_from(page.text), "opt_in": [str(bill["id"]), str(olgas)]},
    )
    assert saved.status_code == 303
    assert (await Contact.select(Contact.marketing_opt_in).where(Contact.id == bill["id"]))[0][
        "marketing_opt_in"
    ]
    assert not (await Contact.select(Contact.marketing_opt_in).where(Contact.id == olgas))[0][
        "marketing_opt_in"
    ], "another account's contact is left alone"
    assert not (await Client.select(Client.marketing_opt_in).where(Client.id == ann))[0][
        "marketing_opt_in"
    ]
    events = await ConsentEvent.select().where(ConsentEvent.client == ann)
    assert [(e["contact"], e["opted_in"], e["source"]) for e in events][-1] == (
        bill["id"],
        True,
        "client-area",
    )

    # The primary contact's consent is the account's.
    page = await client.get("/client/marketing")
    primary = (
        await Contact.select(Contact.id)
        .where(Contact.client == ann, Contact.contact_type == "primary")
        .first()
    )["id"]
    await client.post(
        "/client/marketing",
        data={"_csrf_token": csrf_from(page.text), "opt_in": [str(primary)]},
    )
    assert (await Client.select(Client.marketing_opt_in).where(Client.id == ann))[0][
        "marketing_opt_in"
    ]
    assert not (await Contact.select(Contact.marketing_opt_in).where(Contact.id == bill["id"]))[0][
        "marketing_opt_in"
    ]


async def test_a_forged_marketing_change_without_the_permission_is_refused(client, account):
    assert (await client_login(client, "bill", BILL_PASSWORD)).status_code == 303
    page = await client.get("/client/invoices")
    refused = await client.post(
        "/client/marketing", data={"_csrf_token": csrf_from(page.text), "opt_in": ["1"]}
    )
    assert refused.status_code == 403
    assert not await ConsentEvent.exists().where(ConsentEvent.source == "client-area")


def contact_form(csrf: str, **overrides) -> dict:
    form = {
        "_csrf_token": csrf,
        "action": "save",
        "contact_type": "other",
        "first_name": "Otto",
        "last_name": "Other",
        "address1": "3 Side St",
        "city": "Bremen",
        "country": "DE",
        "state": "DE-HB",
        "zip": "28195",
        "email": "otto@example.com",
        "phone_row": ["r1"],
        "phone_type": ["phone"],
        "phone_location": ["work"],
        "phone_number": ["+49 421 555 0101"],
        "marketing_opt_in": "1",  # not for this form to give
    }
    form.update(overrides)
    return form


async def test_a_user_with_the_contacts_permission_manages_contacts(client, account):
    from portal.clients.tables import ClientAudit, ContactNumber

    ann = account["ann"]
    assert (await client_login(client, "ann")).status_code == 303
    page = await client.get("/client/contacts/add")
    assert page.status_code == 200 and 'for="first_name"' in page.text
    bad = await client.post(
        "/client/contacts/add", data=contact_form(csrf_from(page.text), last_name="")
    )
    assert bad.status_code == 422
    assert 'id="last_name-error"' in bad.text and 'value="Otto"' in bad.text
    added = await client.post("/client/contacts/add", data=contact_form(csrf_from(page.text)))
    assert added.status_code == 303
    otto = await Contact.select().where(Contact.email == "otto@example.com").first()
    assert otto["client"] == ann and otto["contact_type"] == "other"
    assert otto["marketing_opt_in"] is False and otto["login"] is None
    numbers = await ContactNumber.select().where(ContactNumber.contact == otto["id"])
    assert [n["number"] for n in numbers] == ["+494215550101"]
    history = await ClientAudit.select().where(ClientAudit.client_id == ann)
    assert any(
        "otto@example.com" in line["new_value"] and line["actor"].startswith("client:")
        for line in history
    )

    edit = await client.get(f"/client/contacts/{otto['id']}/edit")
    assert edit.status_code == 200 and 'value="Bremen"' in edit.text
    saved = await client.post(
        f"/client/contacts/{otto['id']}/edit",
        data=contact_form(csrf_from(edit.text), city="Bremerhaven", contact_type="billing"),
    )
    assert saved.status_code == 303
    otto = await Contact.select().where(Contact.id == otto["id"]).first()
    assert otto["city"] == "Bremerhaven" and otto["contact_type"] == "billing"

    # Not through this form: the primary contact, a contact who logs in, another account's.
    bill = await Contact.select(Contact.id).where(Contact.email == "bill@example.com").first()
    primary = (
        await Contact.select(Contact.id)
        .where(Contact.client == ann, Contact.contact_type == "primary")
        .first()
    )
    olgas = await Contact.select(Contact.id).where(Contact.client == account["other"]).first()
    for contact_id in (bill["id"], primary["id"], olgas["id"], 99999999):
        assert (await client.get(f"/client/contacts/{contact_id}/edit")).status_code == 404
        forged = await client.post(
            f"/client/contacts/{contact_id}/delete", data={"_csrf_token": csrf_from(edit.text)}
        )
        assert forged.status_code == 404
    assert await Contact.exists().where(Contact.id == olgas["id"])

    confirm = await client.get(f"/client/contacts/{otto['id']}/delete")
    assert confirm.status_code == 200
    deleted = await client.post(
        f"/client/contacts/{otto['id']}/delete", data={"_csrf_token": csrf_from(confirm.text)}
    )
    assert deleted.status_code == 303
    assert not await Contact.exists().where(Contact.id == otto["id"])


async def test_contacts_need_the_contacts_permission(client, account):
    assert (await client_login(client, "bill", BILL_PASSWORD)).status_code == 303
    page = await client.get("/client/invoices")
    assert (await client.get("/client/contacts/add")).status_code == 403
    forged = await client.post("/client/contacts/add", data=contact_form(csrf_from(page.text)))
    assert forged.status_code == 403
    assert not await Contact.exists().where(Contact.email == "otto@example.com")
