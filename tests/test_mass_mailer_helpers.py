"""Shared by the mass mailer and API tests: clients made through the clients service, a real SMTP
server (aiosmtpd) that records what it receives, and API keys. (No tests in here.)"""

from __future__ import annotations

import email
import os
import threading
from collections.abc import Callable, Iterator
from email import policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller

from conftest import free_port
from portal.client_groups.services import default_group_id
from portal.clients.lifecycle import set_status
from portal.clients.services import ClientDetails, create_client
from portal.core.actors import Actor
from portal.core.config import get_settings
from profile_helpers import accept_currencies

STAFF = Actor(kind="staff", id=1)

# The tests run the mail worker themselves: the served portal of the browser tests (conftest's
# live_server, started after collection with this environment) must not send their mailings
# behind their back, to the outbox.
os.environ["PORTAL_MAILER_IN_SERVER"] = "0"


class Sink:
    """An SMTP server's handler that keeps every message; `on_message` runs (in the server's
    thread) once a message's DATA is complete, before the server answers 250."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.lock = threading.Lock()
        self.on_message: Callable[[int], None] | None = None

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        with self.lock:
            self.messages.append(message)
            count = len(self.messages)
        if self.on_message is not None:
            self.on_message(count)
        return "250 OK"

    def by_address(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for message in self.messages:
            to = str(message["To"]).lower()
            counts[to] = counts.get(to, 0) + 1
        return counts


def start_sink() -> tuple[Sink, Controller, str]:
    sink = Sink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    return sink, controller, f"smtp://127.0.0.1:{port}"


def running_sink(monkeypatch) -> Iterator[Sink]:
    """A real SMTP server on a free loopback port, and PORTAL_SMTP_URL pointing at it (the body
    of each test module's `smtp_sink` fixture)."""
    sink, controller, url = start_sink()
    monkeypatch.setenv("PORTAL_SMTP_URL", url)
    get_settings.cache_clear()
    yield sink
    controller.stop()
    monkeypatch.delenv("PORTAL_SMTP_URL")
    get_settings.cache_clear()


async def add_client(
    company_id: int,
    first_name: str,
    email_address: str,
    *,
    opted_in: bool,
    status: str = "active",
    language: str = "en",
    country: str = "DE",
    username: str | None = None,
) -> int:
    """A client made the way staff make one (with its consent record when opted in)."""
    await accept_currencies(company_id, "EUR")
    details = ClientDetails(
        first_name=first_name,
        last_name="Tester",
        email=email_address,
        country=country,
        preferred_currency="EUR",
        language=language,
        group_id=str(await default_group_id(company_id)),
        username_mode="specify",
        username=username or f"{first_name.lower()}-{company_id}",
        marketing_opt_in=opted_in,
    )
    client_id = await create_client(company_id, details, "Sturdy-horse-42", STAFF)
    if status != "active":
        await set_status(company_id, client_id, status, STAFF)
    return client_id


async def ten_clients(company_id: int) -> dict[str, int]:
    """The acceptance set: ten clients, six opted in (one of them Inactive), two of the opted-in
    sharing one address (in different case)."""
    ids = {
        "ann": await add_client(company_id, "Ann", "shared@example.com", opted_in=True),
        "bob": await add_client(company_id, "Bob", "Shared@Example.com", opted_in=True),
        "cid": await add_client(company_id, "Cid", "cid@example.com", opted_in=True),
        "dee": await add_client(company_id, "Dee", "dee@example.org", opted_in=True),
        "eve": await add_client(company_id, "Eve", "eve@example.net", opted_in=True),
        "ian": await add_client(
            company_id, "Ian", "ian@example.com", opted_in=True, status="inactive"
        ),
    }
    for name in ("kim", "lou", "max", "ned"):
        ids[name] = await add_client(
            company_id, name.title(), f"{name}@example.com", opted_in=False
        )
    return ids


# Who a marketing mailing to Active clients reaches: one message per address.
EXPECTED_ADDRESSES = {
    "shared@example.com",
    "cid@example.com",
    "dee@example.org",
    "eve@example.net",
}
