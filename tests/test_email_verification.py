"""Email verification of client-area users (the client-group setting "Users must verify their
email address"), over HTTP and through a real SMTP server: the single-use link (a GET shows it,
only the POST uses it), the same answer for unknown, used and expired links, every change of
address making it unverified (the database's trigger) and mailing both addresses, the throttled
"Resend the link", and the mass mailer's marketing mail to verified addresses only."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from clients_helpers import VALID_FORM, post_add_client
from conftest import csrf_from, without_csrf_tokens
from portal.client_groups import services as groups
from portal.client_groups.services import GroupDetails
from portal.clients import contacts, users, verification
from portal.clients.contacts import ContactDetails, LoginDetails
from portal.clients.tables import AccountUser, Contact, EmailVerification
from portal.core.actors import SYSTEM
from portal.mail.tables import MailMessage
from portal.plugins.mass_mailer import services as mailer
from portal.plugins.mass_mailer.messages import Compose
from portal.plugins.mass_mailer.services import MailingFilter
from portal.plugins.mass_mailer.worker import MailerSettings, Worker
from test_client_area import PASSWORD, client_login, make_client, own_details_form
from test_mass_mailer_helpers import add_client

LINK = re.compile(r"https?://[^/\s]+(/client/verify/[A-Za-z0-9_\-]+)")
BANNER = "Please confirm your email address"
NOT_VALID = "Link not valid"


async def turn_on(company_id: int, value: str = "true") -> None:
    await groups.set_company_settings(company_id, {"email_verification": value}, SYSTEM)


async def mailed_link(email: str) -> str:
    """The path of the verification link last mailed to `email` (the mail log holds it)."""
    message = (
        await MailMessage.select()
        .where(MailMessage.kind == "email_verification", MailMessage.to_address == email)
        .order_by(MailMessage.id, ascending=False)
        .first()
    )
    assert message is not None, f"no verification mail to {email}"
    match = LINK.search(message["body_text"])
    assert match, message["body_text"]
    return match.group(1)


async def verified_at(client_id: int) -> datetime | None:
    return (await users.owner_of(client_id))["email_verified_at"]


async def mark_verified(client_id: int) -> None:
    owner = await users.owner_of(client_id)
    await AccountUser.update({AccountUser.email_verified_at: datetime.now(UTC)}).where(
        AccountUser.id == owner["id"]
    )


def kinds(messages) -> list[tuple[str, str]]:
    """(To, Subject) of the messages an SMTP server received."""
    return [(str(m["To"]), str(m["Subject"])) for m in messages]


# --- the setting ------------------------------------------------------------------------------


async def test_setting_off_sends_nothing_and_shows_no_banner(client, company_id, smtp_server):
    ann = await make_client(username="ann")
    assert smtp_server.messages == []
    assert await EmailVerification.count() == 0
    assert await verified_at(ann) is None  # unproven, but nobody asks for it
    assert (await client_login(client, "ann")).status_code == 303
    dashboard = await client.get("/client")
    assert dashboard.status_code == 200 and BANNER not in dashboard.text


async def test_the_setting_is_a_yes_no_question_of_the_company_and_each_group(
    admin_client, company_id
):
    page = await admin_client.get("/admin/settings/company/client-settings")
    assert "Sign-in and Security" in page.text
    assert "Users must verify their email address" in page.text
    assert re.search(
        r'<select[^>]*name="setting_email_verification"[^>]*>\s*'
        r'<option value="true">Yes</option>\s*<option value="false" selected>No</option>',
        page.text,
    ), page.text
    vip = await groups.create_group(company_id, GroupDetails(name="VIP"), SYSTEM)
    edit = await admin_client.get(f"/admin/settings/company/client-groups/{vip}/edit")
    assert 'name="setting_email_verification"' in edit.text
    assert "Follow the company setting (currently: No)" in " ".join(edit.text.split())

    # Only the group that requires it gets the mail.
    await groups.set_group_settings(company_id, vip, {"email_verification": "true"}, SYSTEM)
    await make_client(email="general@example.com", username="general")
    await make_client(email="vip@example.com", username="vip", group_id=vip)
    sent = await MailMessage.select(MailMessage.to_address).where(
        MailMessage.kind == "email_verification"
    )
    assert sent == [{"to_address": "vip@example.com"}]


# --- the link ---------------------------------------------------------------------------------


async def test_a_new_client_verifies_by_a_single_use_link(client, company_id, smtp_server):
    await turn_on(company_id)
    ann = await make_client(username="ann")
    assert kinds(smtp_server.messages) == [
        ("ann@example.com", "Confirm your email address at My Company")
    ]
    body = smtp_server.messages[0].get_body(("plain",)).get_content()
    path = LINK.search(body).group(1)
    token = path.rsplit("/", 1)[1]
    stored = await EmailVerification.select().first()
    assert token not in stored["token_hash"] and len(token) >= 40
    assert stored["expires_at"] - datetime.now(UTC) > timedelta(hours=47)

    # Logged in, the user sees the banner with its address.
    await client_login(client, "ann")
    dashboard = await client.get("/client")
    assert f"{BANNER} ann@example.com." in dashboard.text
    assert 'action="/client/verify/resend"' in dashboard.text

    # Opening the link (as a mail scanner would, even twice) does not use it.
    for _ in range(2):
        shown = await client.get(path)
        assert shown.status_code == 200
        assert "ann@example.com" in shown.text and "Confirm email address" in shown.text
    assert await verified_at(ann) is None

    # The button does.
    done = await client.post(path, data={"_csrf_token": csrf_from(shown.text)})
    assert done.status_code == 200 and "Email address confirmed" in done.text
    assert await verified_at(ann) is not None
    assert BANNER not in (await client.get("/client")).text

    # Once only; a used link, an unknown one and a forged one get the same answer.
    fresh = csrf_from((await client.get("/client")).text)
    again = await client.post(path, data={"_csrf_token": fresh})
    unknown = await client.post("/client/verify/" + "x" * 43, data={"_csrf_token": fresh})
    shown_again = await client.get(path)
    shown_unknown = await client.get("/client/verify/" + "y" * 43)
    for response in (again, unknown, shown_again, shown_unknown):
        assert response.status_code == 404 and NOT_VALID in response.text
    # (The pages differ only where they name their own address, in the language links.)
    assert without_csrf_tokens(again.text.replace(token, "T")) == without_csrf_tokens(
        unknown.text.replace("x" * 43, "T")
    )
    assert without_csrf_tokens(shown_again.text.replace(token, "T")) == without_csrf_tokens(
        shown_unknown.text.replace("y" * 43, "T")
    )


async def test_an_expired_link_gets_the_same_answer(client, company_id):
    await turn_on(company_id)
    ann = await make_client(username="ann")
    path = await mailed_link("ann@example.com")
    await EmailVerification.update(
        {EmailVerification.expires_at: datetime.now(UTC) - timedelta(minutes=1)}
    ).where(EmailVerification.id > 0)
    shown = await client.get(path)
    unknown = await client.get("/client/verify/" + "z" * 43)
    assert shown.status_code == unknown.status_code == 404 and NOT_VALID in shown.text
    assert without_csrf_tokens(shown.text.replace(path, "P")) == without_csrf_tokens(
        unknown.text.replace("/client/verify/" + "z" * 43, "P")
    )
    token = csrf_from((await client.get("/client/login")).text)
    assert (await client.post(path, data={"_csrf_token": token})).status_code == 404
    assert await verified_at(ann) is None


async def test_too_many_bad_links_from_one_address_are_refused(client, company_id):
    await turn_on(company_id)
    await make_client(username="ann")
    path = await mailed_link("ann@example.com")
    for number in range(30):
        assert (await client.get(f"/client/verify/guess{number:040d}")).status_code == 404
    refused = await client.get(path)  # even a real link, from that address
    assert refused.status_code == 429 and "Too many attempts" in refused.text
    assert refused.headers["retry-after"]


async def test_accepting_an_invitation_by_its_link_proves_the_address(client, company_id):
    await turn_on(company_id)
    ann = await make_client(username="ann")
    await users.invite(company_id, ann, "bill@example.com", ["invoices"], SYSTEM)
    message = await MailMessage.select().where(MailMessage.kind == "invitation").first()
    token = re.search(r"/client/invitation/(\S+)", message["body_text"]).group(1)
    user_id, _ = await users.accept_as_new_user(
        token, name="Bill Payer", username="bill", password="Billing-otter-91", language="en"
    )
    row = await AccountUser.select().where(AccountUser.id == user_id).first()
    assert row["email_verified_at"] is not None
    assert await MailMessage.count().where(MailMessage.to_address == "bill@example.com") == 1


# --- changes of address ----------------------------------------------------------------------


async def test_the_database_unverifies_every_change_of_address(company_id):
    ann = await make_client(username="ann")
    await mark_verified(ann)
    user_id = (await users.owner_of(ann))["id"]

    async def change(**values) -> datetime | None:
        await AccountUser.update(values).where(AccountUser.id == user_id)
        return await verified_at(ann)

    assert await change(name="Ann B. Client") is not None
    assert await change(email="ANN@example.com") is not None  # the same address
    assert await change(email="ann@example.org") is None
    # A writer that sets both cannot keep a new address verified.
    now = datetime.now(UTC)
    assert await change(email_verified_at=now) is not None
    assert await change(email="ann@example.net", email_verified_at=now) is None


async def test_a_client_changing_its_address_mails_both_and_must_verify_again(
    client, company_id, smtp_server
):
    await turn_on(company_id)
    ann = await make_client(username="ann")
    old_link = await mailed_link("ann@example.com")
    await mark_verified(ann)
    smtp_server.messages.clear()
    await client_login(client, "ann")
    assert BANNER not in (await client.get("/client")).text
    form = {
        **await own_details_form(client),
        "email": "ann@example.org",
        "current_password": PASSWORD,
    }
    assert (await client.post("/client/details", data=form)).status_code == 303
    assert await verified_at(ann) is None
    assert sorted(kinds(smtp_server.messages)) == [
        ("ann@example.com", "The email address of your account at My Company was changed"),
        ("ann@example.org", "Confirm your email address at My Company"),
    ]
    notice = next(m for m in smtp_server.messages if str(m["To"]) == "ann@example.com")
    assert "ann@example.org" in notice.get_body(("plain",)).get_content()
    assert f"{BANNER} ann@example.org." in (await client.get("/client")).text

    # The link sent to the old address confirms nothing any more; the new one does.
    assert (await client.get(old_link)).status_code == 404
    new_link = await mailed_link("ann@example.org")
    shown = await client.get(new_link)
    assert "ann@example.org" in shown.text
    await client.post(new_link, data={"_csrf_token": csrf_from(shown.text)})
    assert await verified_at(ann) is not None


async def test_staff_changing_the_address_mails_both_and_unverifies(
    admin_client, company_id, smtp_server
):
    await turn_on(company_id)
    response = await post_add_client(admin_client)
    assert response.status_code == 303
    client_id = int(response.headers["location"].rsplit("/", 1)[1])
    assert kinds(smtp_server.messages) == [
        ("grace@example.com", "Confirm your email address at My Company")
    ]
    await mark_verified(client_id)
    smtp_server.messages.clear()
    edit = await admin_client.get(f"/admin/clients/{client_id}/edit")
    group = re.search(r'<option value="(\d+)" selected>General', edit.text).group(1)
    form = {
        **VALID_FORM,
        "_csrf_token": csrf_from(edit.text),
        "group_id": group,
        "password": "",
        "version": "1",
        "email": "grace@example.org",
        "username_mode": "specify",
        "username": "grace@example.com",
    }
    saved = await admin_client.post(f"/admin/clients/{client_id}/edit", data=form)
    assert saved.status_code == 303, saved.text[:2000]
    assert await verified_at(client_id) is None
    assert sorted(kinds(smtp_server.messages)) == [
        ("grace@example.com", "The email address of your account at My Company was changed"),
        ("grace@example.org", "Confirm your email address at My Company"),
    ]

    # Another save without a new address sends nothing.
    smtp_server.messages.clear()
    edit = await admin_client.get(f"/admin/clients/{client_id}/edit")
    form.update(_csrf_token=csrf_from(edit.text), version="2", city="Ottawa")
    assert (
        await admin_client.post(f"/admin/clients/{client_id}/edit", data=form)
    ).status_code == 303
    assert smtp_server.messages == []


async def test_with_the_setting_off_a_change_only_tells_the_old_address(admin_client, smtp_server):
    response = await post_add_client(admin_client)
    client_id = int(response.headers["location"].rsplit("/", 1)[1])
    await mark_verified(client_id)
    edit = await admin_client.get(f"/admin/clients/{client_id}/edit")
    group = re.search(r'<option value="(\d+)" selected>General', edit.text).group(1)
    form = {
        **VALID_FORM,
        "_csrf_token": csrf_from(edit.text),
        "group_id": group,
        "password": "",
        "version": "1",
        "email": "grace@example.org",
        "username_mode": "specify",
        "username": "grace@example.com",
    }
    assert (
        await admin_client.post(f"/admin/clients/{client_id}/edit", data=form)
    ).status_code == 303
    assert await verified_at(client_id) is None  # the database's rule, setting or not
    assert kinds(smtp_server.messages) == [
        ("grace@example.com", "The email address of your account at My Company was changed")
    ]


async def test_a_contact_given_a_login_verifies_and_its_changes_unverify(company_id):
    await turn_on(company_id)
    ann = await make_client(username="ann")
    details = ContactDetails(
        first_name="Bill", last_name="Payer", email="bill@example.com", country="DE"
    )
    contact_id = await contacts.add_contact(
        company_id,
        ann,
        details,
        SYSTEM,
        LoginDetails(username="bill", password="Billing-otter-91", permissions=["invoices"]),
    )
    link = await mailed_link("bill@example.com")
    login = await AccountUser.select().where(AccountUser.username == "bill").first()
    assert login["email_verified_at"] is None
    await AccountUser.update({AccountUser.email_verified_at: datetime.now(UTC)}).where(
        AccountUser.id == login["id"]
    )

    details.email = "bill@example.org"
    await contacts.update_contact(company_id, ann, contact_id, details, SYSTEM)
    login = await AccountUser.select().where(AccountUser.id == login["id"]).first()
    assert login["email"] == "bill@example.org" and login["email_verified_at"] is None
    notice = await MailMessage.select().where(MailMessage.kind == "email_changed").first()
    assert notice["to_address"] == "bill@example.com"
    assert await mailed_link("bill@example.org") != link


# --- resend -----------------------------------------------------------------------------------


async def test_resend_sends_a_new_link_and_is_throttled(client, company_id, smtp_server):
    await turn_on(company_id)
    await make_client(username="ann")
    await client_login(client, "ann")
    for _ in range(3):
        page = await client.get("/client/invoices")
        sent = await client.post(
            "/client/verify/resend",
            data={"_csrf_token": csrf_from(page.text), "next": "/client/invoices"},
        )
        assert sent.status_code == 303 and sent.headers["location"] == "/client/invoices"
    assert "We sent a new link to ann@example.com." in (await client.get("/client")).text
    assert len(smtp_server.messages) == 4  # the first link, then three more
    page = await client.get("/client")
    refused = await client.post("/client/verify/resend", data={"_csrf_token": csrf_from(page.text)})
    assert refused.status_code == 429
    assert "You asked for several links in a short time" in refused.text
    assert refused.headers["retry-after"] == "900"
    assert len(smtp_server.messages) == 4
    # Every link sent works (each once).
    paths = [
        LINK.search(m.get_body(("plain",)).get_content()).group(1) for m in smtp_server.messages
    ]
    assert len(set(paths)) == 4


async def test_resend_needs_a_login_and_a_form_token(client, company_id):
    await turn_on(company_id)
    await make_client(username="ann")
    assert (await client.post("/client/verify/resend")).status_code in {302, 303, 401, 403}
    await client_login(client, "ann")
    assert (await client.post("/client/verify/resend")).status_code == 403  # no CSRF token
    assert await MailMessage.count().where(MailMessage.kind == "email_verification") == 1


# --- the mass mailer --------------------------------------------------------------------------


FAST = MailerSettings(
    rate=1000, batch_size=50, lease_seconds=60, retry_seconds=0.01, max_attempts=3, poll_seconds=0.1
)


async def test_marketing_goes_to_verified_addresses_only_when_the_setting_is_on(company_id):
    kay = await add_client(company_id, "Kay", "kay@example.com", opted_in=True)
    await add_client(company_id, "Leo", "leo@example.com", opted_in=True)
    await mark_verified(kay)
    # A billing contact who opted in, without a login of its own.
    await Contact.insert(
        Contact(
            client=kay,
            contact_type="billing",
            first_name="Bea",
            last_name="Billing",
            email="bea@example.com",
            marketing_opt_in=True,
        )
    )
    everyone = {"kay@example.com", "leo@example.com", "bea@example.com"}

    async def reached(kind: str = "marketing") -> set[str]:
        return {
            row["email"]
            async for row in mailer.iter_recipients(company_id, MailingFilter(kind=kind))
        }

    assert await reached() == everyone
    await turn_on(company_id)
    assert await reached() == {"kay@example.com"}
    assert await mailer.count_recipients(company_id, MailingFilter()) == 1
    assert await reached("service") == {"kay@example.com", "leo@example.com"}  # not marketing

    # A login that verified the billing contact's address lets it in.
    await AccountUser.insert(
        AccountUser(
            company=company_id,
            username="bea",
            email="BEA@example.com",
            email_verified_at=datetime.now(UTC),
        )
    )
    assert await reached() == {"kay@example.com", "bea@example.com"}

    # Queued while off, checked again when sent: Leo, still unverified, is skipped.
    await turn_on(company_id, "false")
    job = await mailer.create_job(
        company_id,
        SYSTEM,
        MailingFilter(),
        Compose(
            from_name="News",
            from_address="news@example.com",
            subject="Hello",
            body_text="News.\n",
            body_html="",
        ),
    )
    await turn_on(company_id)
    async with Worker(FAST) as worker:
        assert await worker.run_until_idle() == 2
    sent = await MailMessage.select(MailMessage.to_address).where(MailMessage.kind == "marketing")
    assert {row["to_address"] for row in sent} == {"kay@example.com", "bea@example.com"}
    progress = await mailer.job_progress(company_id, job)
    assert progress.status == "done"


@pytest.mark.parametrize("on", [False, True])
async def test_a_user_is_unverified_only_while_its_group_asks_and_it_has_not(company_id, on):
    if on:
        await turn_on(company_id)
    ann = await make_client(username="ann")
    user_id = (await users.owner_of(ann))["id"]
    assert await verification.is_unverified(user_id) is on
    await mark_verified(ann)
    assert await verification.is_unverified(user_id) is False
