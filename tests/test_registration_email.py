"""The account registration email reaches a real SMTP server, in the client's language."""

from __future__ import annotations

import email
from email import policy

import pytest
from aiosmtpd.controller import Controller

from clients_helpers import VALID_FORM, post_add_client
from conftest import free_port
from portal.core.config import get_settings
from portal.mail.tables import MailMessage


class Collector:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


@pytest.fixture
def smtp_server(monkeypatch):
    collector = Collector()
    port = free_port()
    controller = Controller(collector, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("PORTAL_SMTP_URL", f"smtp://127.0.0.1:{port}")
    get_settings.cache_clear()
    yield collector
    controller.stop()
    monkeypatch.delenv("PORTAL_SMTP_URL")
    get_settings.cache_clear()


async def test_registration_email_is_sent_over_smtp_in_the_clients_language(
    admin_client, smtp_server
):
    response = await post_add_client(admin_client, send_registration_email="1", language="es")
    assert response.status_code == 303
    assert len(smtp_server.messages) == 1
    message = smtp_server.messages[0]
    assert message["To"] == "grace@example.com"
    assert message["Subject"] == "Bienvenido a My Company"
    body = message.get_content()
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
