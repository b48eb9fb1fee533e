"""The account registration email reaches a real SMTP server, in the client's language."""

from __future__ import annotations

from markupsafe import escape

from clients_helpers import VALID_FORM, post_add_client
from portal.client_area import services as client_area
from portal.clients.tables import AccountUser
from portal.mail.services import WITHHELD_BODY
from portal.mail.tables import MailMessage
from profile_helpers import make_client


async def test_registration_email_is_sent_over_smtp_in_the_clients_language(
    admin_client, smtp_server
):
    response = await post_add_client(admin_client, send_registration_email="1", language="es")
    assert response.status_code == 303
    assert len(smtp_server.messages) == 1
    message = smtp_server.messages[0]
    assert message["To"] == "grace@example.com"
    assert message["Subject"] == "Bienvenido a My Company"
    body = message.get_body(("plain",)).get_content()
    assert "Nombre de usuario: grace@example.com" in body
    assert VALID_FORM["password"] not in message.as_string()
    logged = await MailMessage.select().first()
    assert logged["status"] == "sent" and logged["client"] is not None


async def test_no_email_when_unticked(admin_client, smtp_server):
    response = await post_add_client(admin_client)
    assert response.status_code == 303
    assert smtp_server.messages == []
    assert await MailMessage.count() == 0


async def test_outbox_lists_and_shows_messages_of_the_company_only(admin_client, second_company):
    response = await post_add_client(admin_client, send_registration_email="1")
    assert response.status_code == 303
    outbox = await admin_client.get("/admin/tools/outbox")
    assert "Welcome to My Company" in outbox.text and "outbox" in outbox.text
    message = await MailMessage.select().first()
    shown = await admin_client.get(f"/admin/tools/outbox/{message['id']}")
    assert "Username: grace@example.com" in shown.text
    # A message of another company is not found.
    await MailMessage.update({MailMessage.company: second_company}).where(
        MailMessage.id == message["id"]
    )
    assert (await admin_client.get(f"/admin/tools/outbox/{message['id']}")).status_code == 404
    assert (
        "Welcome to My Company" not in (await admin_client.get("/admin/tools/outbox?page=-3")).text
    )


async def test_outbox_ids_that_cannot_exist_are_404(admin_client):
    for message_id in ("0", "99999999999", "99999999999999999999999"):
        assert (await admin_client.get(f"/admin/tools/outbox/{message_id}")).status_code == 404


async def test_a_one_time_link_shows_in_the_outbox_only_while_it_waits_there(
    admin_client, company_id, smtp_server
):
    """A password reset sent over SMTP: its link is its recipient's, and the outbox shows the
    message without its text; kept in the outbox (no SMTP), the text is what staff pass on."""
    await make_client(company_id)
    owner = await AccountUser.select(AccountUser.username).first()
    await client_area.send_password_reset(owner["username"])
    sent = await MailMessage.select().where(MailMessage.kind == "password_reset").first()
    assert sent["status"] == "sent"
    shown = await admin_client.get(f"/admin/tools/outbox/{sent['id']}")
    assert shown.status_code == 200 and "/client/reset/" not in shown.text
    assert escape(WITHHELD_BODY) in shown.text
    await MailMessage.update({MailMessage.status: "outbox"}).where(MailMessage.id == sent["id"])
    kept = await admin_client.get(f"/admin/tools/outbox/{sent['id']}")
    assert "/client/reset/" in kept.text
