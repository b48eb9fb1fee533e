"""Staff read names and sentences, never internal codes: who changed a client and through what
(the consent records, the history), and what kind of message the outbox holds."""

from __future__ import annotations

import re

from clients_helpers import post_add_client
from conftest import csrf_from
from portal.clients.tables import Client

INTERNAL_CODES = re.compile(r"staff:\d|admin-add-client|client_email|unsubscribe-link")


async def test_consent_history_and_outbox_name_people_and_places(admin_client, staff):
    response = await post_add_client(admin_client)  # opted in to marketing
    assert response.status_code == 303
    client_id = (await Client.select(Client.id).first())["id"]
    profile = await admin_client.get(f"/admin/clients/{client_id}")
    assert "Ada Admin, through Add Client" in profile.text
    page = await admin_client.get(f"/admin/clients/{client_id}/email")
    response = await admin_client.post(
        f"/admin/clients/{client_id}/email",
        data={"_csrf_token": csrf_from(page.text), "subject": "Hello", "body": "Hi there."},
    )
    assert response.status_code == 303
    outbox = await admin_client.get("/admin/tools/outbox")
    assert "Email from staff" in outbox.text
    history = await admin_client.get(f"/admin/clients/{client_id}/widgets/history")
    assert "Ada Admin" in history.text
    for page in (profile, outbox, history):
        assert not INTERNAL_CODES.search(page.text), INTERNAL_CODES.search(page.text)
