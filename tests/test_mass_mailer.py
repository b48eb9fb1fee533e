"""[Tools] > Mass Mailer end to end: the wizard over HTTP, the worker sending to a real SMTP
server (aiosmtpd) started by the test, the unsubscribe link, the suppressions, the mail log."""

from __future__ import annotations

import asyncio
import re
from urllib.parse import urlsplit

import httpx
import pytest
from markupsafe import escape

from conftest import csrf_from
from portal.api.services import create_key
from portal.app import create_app
from portal.clients.services import set_marketing_opt_in
from portal.clients.tables import Client, ConsentEvent
from portal.core.actors import SYSTEM
from portal.mail.tables import MailMessage
from portal.plugins.mass_mailer import services
from portal.plugins.mass_mailer.messages import Compose
from portal.plugins.mass_mailer.services import MailingFilter
from portal.plugins.mass_mailer.tables import MailingJob, MailingRecipient, Suppression
from portal.plugins.mass_mailer.worker import MailerSettings, Worker, server_worker
from test_mass_mailer_helpers import (
    EXPECTED_ADDRESSES,
    STAFF,
    add_client,
    running_sink,
    ten_clients,
)


@pytest.fixture
def smtp_sink(monkeypatch):
    yield from running_sink(monkeypatch)


FILTER = {"filter": "1", "kind": "marketing", "status": "active"}
COMPOSE = {
    "from_name": "My Company News",
    "from_address": "news@example.com",
    "subject": "Hello {{ client.first_name }}",
    "body_text": "Dear {{ client.full_name }},\n\nNews from {{ company.name }}.\n",
    "body_html": "<p>Dear {{ client.first_name }}</p>",
}
FAST = MailerSettings(
    rate=1000, batch_size=50, lease_seconds=60, retry_seconds=0.01, max_attempts=3, poll_seconds=0.1
)


async def run_worker(settings: MailerSettings = FAST) -> int:
    async with Worker(settings) as worker:
        return await worker.run_until_idle()


async def queue(company_id: int, kind: str = "marketing", **compose: str) -> int:
    return await services.create_job(
        company_id,
        SYSTEM,
        MailingFilter(kind=kind),
        Compose(**{**COMPOSE, **compose}),
    )


async def wizard_send(admin_client: httpx.AsyncClient, **overrides: str) -> httpx.Response:
    """Filter -> Compose -> Preview -> Send, as a person clicks through it."""
    compose_page = await admin_client.get("/admin/tools/mass-mailer/compose", params=FILTER)
    assert compose_page.status_code == 200, compose_page.text
    data = {**FILTER, **COMPOSE, **overrides, "_csrf_token": csrf_from(compose_page.text)}
    preview = await admin_client.post("/admin/tools/mass-mailer/preview", data=data)
    assert preview.status_code == 200, preview.text
    return await admin_client.post("/admin/tools/mass-mailer/send", data=data)


def unsubscribe_path(message) -> str:
    header = str(message["List-Unsubscribe"]).strip()
    match = re.fullmatch(r"<(http://127\.0\.0\.1:8000/unsubscribe/[A-Za-z0-9_-]{43})>", header)
    assert match, header
    return urlsplit(match.group(1)).path


async def test_marketing_mailing_reaches_each_opted_in_address_once_and_unsubscribe_works(
    admin_client, smtp_sink, company_id
):
    clients = await ten_clients(company_id)

    page = await admin_client.get("/admin/tools/mass-mailer")
    assert page.status_code == 200
    assert 'id="recipient-count-number">4<' in page.text
    count = await admin_client.get("/admin/tools/mass-mailer/count", params=FILTER)
    assert ">4</strong> recipients" in count.text
    inactive_too = {**FILTER, "status": ["active", "inactive"]}
    count = await admin_client.get("/admin/tools/mass-mailer/count", params=inactive_too)
    assert ">5</strong> recipients" in count.text

    response = await wizard_send(admin_client)
    assert response.status_code == 303
    job_url = response.headers["location"]
    assert re.fullmatch(r"/admin/tools/mass-mailer/jobs/\d+", job_url)
    assert smtp_sink.messages == []  # queued, not sent by the request

    assert await run_worker() == 4
    assert smtp_sink.by_address() == dict.fromkeys(EXPECTED_ADDRESSES, 1)
    message_ids = set()
    for message in smtp_sink.messages:
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        unsubscribe_path(message)
        assert message["From"] == "My Company News <news@example.com>"
        assert re.fullmatch(r"<mailing-\d+-recipient-\d+@example\.com>", message["Message-ID"])
        message_ids.add(message["Message-ID"])
        text = message.get_body(("plain",)).get_content()
        assert "News from My Company." in text and "/unsubscribe/" in text
        assert message.get_body(("html",)) is not None
    assert len(message_ids) == 4
    shared = next(m for m in smtp_sink.messages if m["To"] == "shared@example.com")
    assert shared["Subject"] == "Hello Ann"  # the lowest client ID of the shared address

    # Each message is in its client's mail log, as marketing.
    logged = await MailMessage.select().where(MailMessage.kind == "marketing")
    assert len(logged) == 4 and {m["status"] for m in logged} == {"sent"}
    assert clients["bob"] not in {m["client"] for m in logged}

    job_page = await admin_client.get(job_url)
    assert "<progress" in job_page.text and 'value="4"' in job_page.text
    assert "100%" in job_page.text and 'hx-trigger="every 1s"' not in job_page.text

    # Cid unsubscribes with the link of the message: a POST with no cookies, no login.
    cid_message = next(m for m in smtp_sink.messages if m["To"] == "cid@example.com")
    path = unsubscribe_path(cid_message)
    transport = httpx.ASGITransport(app=create_app(), client=("203.0.113.9", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://mail.example") as stranger:
        confirm = await stranger.get(path)
        assert confirm.status_code == 200 and "Unsubscribe" in confirm.text
        assert "c••@example.com" in confirm.text  # the address, half hidden
        stranger.cookies.clear()
        done = await stranger.post(path, data={"List-Unsubscribe": "One-Click"})
        assert done.status_code == 200, done.text
        assert "You are unsubscribed" in done.text
    row = await Client.select(Client.marketing_opt_in).where(Client.id == clients["cid"]).first()
    assert row["marketing_opt_in"] is False
    event = (
        await ConsentEvent.select()
        .where(ConsentEvent.client == clients["cid"])
        .order_by(ConsentEvent.id, ascending=False)
        .first()
    )
    assert (event["opted_in"], event["source"], event["actor"]) == (
        False,
        "unsubscribe-link",
        "unsubscribe-link",
    )
    assert event["address"] == "203.0.113.9"
    assert await Suppression.exists().where(Suppression.email == "cid@example.com")

    # The next mailing leaves Cid out; so does the API.
    smtp_sink.messages.clear()
    await queue(company_id)
    assert await run_worker() == 3
    assert smtp_sink.by_address() == dict.fromkeys(EXPECTED_ADDRESSES - {"cid@example.com"}, 1)
    _, key = await create_key(company_id, "external mailer", ["marketing.read"], SYSTEM)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app()), base_url="http://api.example"
    ) as api:
        listed = await api.get(
            "/api/v1/marketing/opt-ins", headers={"Authorization": f"Bearer {key}"}
        )
    assert listed.status_code == 200
    assert {item["id"] for item in listed.json()["items"]} == {
        clients[name] for name in ("ann", "bob", "dee", "eve")
    }


async def test_unsubscribe_link_confirms_first_is_idempotent_and_refuses_forgeries(
    client, company_id
):
    client_id = await add_client(company_id, "Zoe", "zoe@example.com", opted_in=True)
    job_id = await queue(company_id)
    await run_worker()
    recipient = await MailingRecipient.select().where(MailingRecipient.job == job_id).first()
    token = recipient["unsubscribe_token"]
    assert len(token) == 43

    # GET only asks (link scanners follow links): nothing changes.
    page = await client.get(f"/unsubscribe/{token}")
    assert page.status_code == 200 and 'action="/unsubscribe/' in page.text
    assert (await Client.select().where(Client.id == client_id).first())["marketing_opt_in"]

    for _ in range(2):  # a reused link: the same success, one consent record
        done = await client.post(f"/unsubscribe/{token}")
        assert done.status_code == 200 and "You are unsubscribed" in done.text
    events = await ConsentEvent.select().where(
        ConsentEvent.client == client_id, ConsentEvent.opted_in.eq(False)
    )
    assert len(events) == 1

    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    unknown = services.new_unsubscribe_token()
    for bad in (forged, unknown, "nope", "x" * 43, "%00" * 15, token + "A"):
        for method in (client.get, client.post):
            response = await method(f"/unsubscribe/{bad}")
            assert response.status_code == 404, (bad, response.text)
            assert "This unsubscribe link is not valid" in response.text


async def test_opt_in_is_checked_again_when_each_message_is_sent(smtp_sink, company_id):
    keep = await add_client(company_id, "Kay", "kay@example.com", opted_in=True)
    leave = await add_client(company_id, "Leo", "leo@example.com", opted_in=True)
    moved = await add_client(company_id, "Mo", "mo@example.com", opted_in=True)
    job_id = await queue(company_id)
    await set_marketing_opt_in(company_id, leave, False, STAFF, "admin-edit-client")
    from portal.clients.tables import Contact

    await Contact.update({Contact.email: "mo-new@example.com"}).where(Contact.client == moved)
    assert await run_worker() == 1
    assert smtp_sink.by_address() == {"kay@example.com": 1}
    rows = {
        r["client"]: r
        for r in await MailingRecipient.select().where(MailingRecipient.job == job_id)
    }
    assert rows[keep]["status"] == "sent"
    assert rows[leave]["status"] == "skipped" and "opted out" in rows[leave]["error"]
    assert rows[moved]["status"] == "skipped"
    job = await MailingJob.select().where(MailingJob.id == job_id).first()
    assert job["status"] == "done"


async def test_no_form_field_turns_the_opt_in_rule_off(admin_client, smtp_sink, company_id):
    await ten_clients(company_id)
    tampered = {**FILTER, "marketing_opt_in": "0", "opted_in": "any", "kind": "marketing"}
    count = await admin_client.get("/admin/tools/mass-mailer/count", params=tampered)
    assert ">4</strong> recipients" in count.text
    response = await wizard_send(admin_client, marketing_opt_in="0", include_opted_out="1")
    assert response.status_code == 303
    await run_worker()
    assert set(smtp_sink.by_address()) == EXPECTED_ADDRESSES


async def test_service_mailing_reaches_every_address_without_unsubscribe_headers(
    smtp_sink, company_id
):
    await ten_clients(company_id)
    await queue(company_id, kind="service", subject="Maintenance tonight")
    assert await run_worker() == 8  # nine active clients, two share an address
    assert "kim@example.com" in smtp_sink.by_address()
    assert all(m["List-Unsubscribe"] is None for m in smtp_sink.messages)
    assert await MailMessage.count().where(MailMessage.kind == "service") == 8


async def test_bounced_addresses_get_nothing_and_unsubscribed_ones_no_marketing(
    smtp_sink, company_id
):
    await ten_clients(company_id)
    await services.suppress_addresses(
        company_id, ["DEE@example.org"], "bounce", STAFF, "api-bounce"
    )
    await services.suppress_addresses(
        company_id, ["kim@example.com"], "unsubscribe", STAFF, "api-unsubscribe"
    )
    assert await services.count_recipients(company_id, MailingFilter()) == 3
    assert await services.count_recipients(company_id, MailingFilter(kind="service")) == 7
    await queue(company_id, kind="service")
    await run_worker()
    assert "dee@example.org" not in smtp_sink.by_address()
    assert "kim@example.com" in smtp_sink.by_address()  # service mail is not marketing


async def test_a_new_opt_in_after_an_unsubscribe_counts(company_id):
    client_id = await add_client(company_id, "Ria", "ria@example.com", opted_in=True)
    await services.suppress_addresses(
        company_id, ["ria@example.com"], "unsubscribe", STAFF, "api-unsubscribe"
    )
    assert await services.count_recipients(company_id, MailingFilter()) == 0
    await set_marketing_opt_in(company_id, client_id, True, STAFF, "client-area")
    assert await services.count_recipients(company_id, MailingFilter()) == 1


async def test_without_smtp_messages_go_to_the_outbox(company_id):
    await ten_clients(company_id)
    job_id = await queue(company_id)
    assert await run_worker() == 4
    rows = await MailMessage.select().where(MailMessage.kind == "marketing")
    assert len(rows) == 4 and {r["status"] for r in rows} == {"outbox"}
    assert all("/unsubscribe/" in r["body_text"] for r in rows)
    progress = await services.job_progress(company_id, job_id)
    assert (progress.status, progress.sent, progress.percent) == ("done", 4, 100)


async def test_temporary_refusals_are_retried_with_backoff(smtp_sink, company_id):
    await add_client(company_id, "Tia", "tia@example.com", opted_in=True)
    refusals = {"left": 2}
    original = smtp_sink.handle_DATA

    async def refuse_twice(server, session, envelope):
        if refusals["left"]:
            refusals["left"] -= 1
            return "451 4.3.0 Try again later"
        return await original(server, session, envelope)

    smtp_sink.handle_DATA = refuse_twice
    job_id = await queue(company_id)
    async with Worker(FAST) as worker:
        for _ in range(200):
            await worker.run_until_idle()
            if (await services.job_progress(company_id, job_id)).done:
                break
            import asyncio

            await asyncio.sleep(0.02)
    assert smtp_sink.by_address() == {"tia@example.com": 1}
    row = await MailingRecipient.select().where(MailingRecipient.job == job_id).first()
    assert (row["status"], row["attempts"]) == ("sent", 3)


async def test_permanent_refusal_fails_the_recipient_only(smtp_sink, company_id):
    await add_client(company_id, "Uma", "uma@example.com", opted_in=True)
    await add_client(company_id, "Val", "val@example.com", opted_in=True)
    original = smtp_sink.handle_DATA

    async def refuse_uma(server, session, envelope):
        if "uma@" in envelope.rcpt_tos[0]:
            return "550 5.1.1 No such user"
        return await original(server, session, envelope)

    smtp_sink.handle_DATA = refuse_uma
    job_id = await queue(company_id)
    await run_worker()
    assert smtp_sink.by_address() == {"val@example.com": 1}
    problems = await services.job_problems(company_id, job_id)
    assert [(p["email"], p["status"]) for p in problems] == [("uma@example.com", "failed")]
    assert "550" in problems[0]["error"]


# --- bad input ------------------------------------------------------------------------------

BAD_TEMPLATES = [
    ("subject", "{{ ''.__class__ }}", "Not allowed"),
    ("body_text", "{{ ''.__class__.__mro__[1].__subclasses__() }}", "Not allowed"),
    ("body_text", "{{ client.first_name.upper() }}", "Not allowed"),
    ("body_text", "{{ client.__class__ }}", "Not allowed"),
    ("body_text", "{{ client.password_hash }}", "Unknown tag: there is no tag"),
    # The tag named as written, and the tags there are (never a Python message).
    (
        "body_text",
        "{{ client.tax_id }}",
        'there is no tag "{{ client.tax_id }}"; the tags are {{ client.first_name }}',
    ),
    ("subject", "{{ clients }}", 'there is no tag "{{ clients }}"'),
    ("body_text", "{{ client.first_name | attr('__class__') }}", "No filter named 'attr'"),
    ("body_text", "{{ client.first_name | pprint }}", "No filter named 'pprint'"),
    ("body_text", "{% include 'admin/layout.html' %}", "Not allowed"),
    ("body_text", "{{ range(10) }}", "Not allowed"),
    ("body_text", "{{ 'x' * 100000000 }}", "Not allowed"),
    ("body_html", "{{ lipsum() }}", "Not allowed"),
    ("body_text", "{% for x in %}", "Template error"),
]


CALLING = "Not allowed in a mail template: calling a function or method (such as format)."


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ '{:>100000000}'.format(1) }}", CALLING),
        ("{% for i in range(100000) %}{{ i }}{% endfor %}", CALLING),
        ("{{ client.first_name | center }}", "Template error on line 1: No filter named 'center'."),
    ],
)
async def test_a_template_problem_is_one_sentence_without_python_internals(
    admin_client, company_id, template, message
):
    await ten_clients(company_id)
    page = await admin_client.get("/admin/tools/mass-mailer/compose", params=FILTER)
    data = {**FILTER, **COMPOSE, "body_text": template, "_csrf_token": csrf_from(page.text)}
    response = await admin_client.post("/admin/tools/mass-mailer/preview", data=data)
    assert response.status_code == 422, response.text
    shown = re.search(r'id="body_text-error">([^<]*)<', response.text)
    assert shown and shown.group(1) == escape(message)


@pytest.mark.parametrize(("field", "template", "message"), BAD_TEMPLATES)
async def test_template_code_outside_the_allowed_fields_is_refused(
    admin_client, smtp_sink, company_id, field, template, message
):
    await ten_clients(company_id)
    page = await admin_client.get("/admin/tools/mass-mailer/compose", params=FILTER)
    data = {**FILTER, **COMPOSE, field: template, "_csrf_token": csrf_from(page.text)}
    for step in ("preview", "send"):
        response = await admin_client.post(f"/admin/tools/mass-mailer/{step}", data=data)
        assert response.status_code == 422, response.text
        assert escape(message) in response.text  # a message is text: escaped in the page
        assert f'id="{field}-error"' in response.text
    assert await MailingJob.count() == 0
    assert smtp_sink.messages == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("subject", "Hello\r\nBcc: victim@example.com"),
        ("subject", "Hello\nX-Spam: no"),
        ("from_name", "News\r\nBcc: victim@example.com"),
        ("from_address", "news@example.com\r\nBcc: victim@example.com"),
        ("from_address", "not an address"),
        ("subject", ""),
        ("body_text", "   "),
    ],
)
async def test_header_injection_and_missing_fields_are_refused(
    admin_client, company_id, field, value
):
    await ten_clients(company_id)
    page = await admin_client.get("/admin/tools/mass-mailer/compose", params=FILTER)
    data = {**FILTER, **COMPOSE, field: value, "_csrf_token": csrf_from(page.text)}
    response = await admin_client.post("/admin/tools/mass-mailer/send", data=data)
    assert response.status_code == 422
    assert f'id="{field}-error"' in response.text
    assert await MailingJob.count() == 0


async def test_an_empty_recipient_set_is_refused_with_a_message(admin_client, company_id):
    await add_client(company_id, "Ola", "ola@example.com", opted_in=False)
    compose = await admin_client.get("/admin/tools/mass-mailer/compose", params=FILTER)
    assert compose.status_code == 422
    assert "No client matches this filter" in compose.text
    token = csrf_from((await admin_client.get("/admin/tools/mass-mailer")).text)
    data = {**FILTER, **COMPOSE, "_csrf_token": token}
    response = await admin_client.post("/admin/tools/mass-mailer/send", data=data)
    assert response.status_code == 422 and "No client matches this filter" in response.text
    assert await MailingJob.count() == 0 and await MailingRecipient.count() == 0


@pytest.mark.parametrize(
    "params",
    [
        {"group": "abc"},
        {"group": "99999999999999999999"},
        {"status": "deleted"},
        {"status": []},
        {"language": "xx"},
        {"country": "ZZ"},
        {"created_from": "2025-13-45"},
        {"created_from": "2025-02-01", "created_to": "2025-01-01"},
        {"kind": "spam"},
        {"created_to": "0001-01-01"},
    ],
)
async def test_bad_filter_values_get_a_message_never_a_500(admin_client, company_id, params):
    query = {**FILTER, **params}
    count = await admin_client.get("/admin/tools/mass-mailer/count", params=query)
    assert count.status_code == 200 and "correct the filter" in count.text
    compose = await admin_client.get("/admin/tools/mass-mailer/compose", params=query)
    assert compose.status_code == 422 and "field-error" in compose.text
    export = await admin_client.get("/admin/tools/mass-mailer/export.csv", params=query)
    assert export.status_code == 422


async def test_filters_narrow_the_recipients(admin_client, company_id):
    await add_client(company_id, "Dan", "dan@example.com", opted_in=True, language="de")
    await add_client(company_id, "Ema", "ema@example.com", opted_in=True, country="ES")
    await add_client(company_id, "Fin", "fin@example.com", opted_in=True)

    async def count(**params) -> str:
        response = await admin_client.get(
            "/admin/tools/mass-mailer/count", params={**FILTER, **params}
        )
        return re.search(r">(\d+)</strong>", response.text).group(1)

    assert await count() == "3"
    assert await count(language="de") == "1"
    assert await count(language=["de", "en"]) == "3"
    assert await count(country="ES") == "1"
    assert await count(created_from="2000-01-01", created_to="2000-12-31") == "0"
    assert await count(created_from="2000-01-01") == "3"


async def test_csv_export_is_streamed_one_row_per_address_and_formula_safe(
    admin_client, company_id
):
    await ten_clients(company_id)
    for index, name in enumerate(("=HYPERLINK(1)", "+1", "-1", "@SUM(A1)")):
        await add_client(
            company_id, name, f"f{index}@example.com", opted_in=True, username=f"f{index}"
        )
    response = await admin_client.get("/admin/tools/mass-mailer/export.csv", params=FILTER)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in response.headers["content-disposition"]
    lines = response.text.strip().splitlines()
    assert lines[0].startswith("Email,Client ID,")
    assert len(lines) == 1 + 4 + 4
    body = response.text
    for dangerous in ("=HYPERLINK(1)", "+1", "-1", "@SUM(A1)"):
        assert f",'{dangerous}," in body
        assert f",{dangerous}," not in body
    assert services.csv_safe("\tx") == "'\tx" and services.csv_safe("\rx") == "'\rx"
    assert services.csv_safe("plain") == "plain"


async def test_another_companys_mailing_is_not_found(admin_client, company_id, second_company):
    await add_client(second_company, "Ona", "ona@example.com", opted_in=True)
    job_id = await queue(second_company)
    for path in (f"/jobs/{job_id}", f"/jobs/{job_id}/progress", "/jobs/99999999999"):
        response = await admin_client.get(f"/admin/tools/mass-mailer{path}")
        assert response.status_code == 404
    token = csrf_from((await admin_client.get("/admin/tools/mass-mailer")).text)
    response = await admin_client.post(
        f"/admin/tools/mass-mailer/jobs/{job_id}/cancel", data={"_csrf_token": token}
    )
    assert response.status_code == 404
    assert (await MailingJob.select().where(MailingJob.id == job_id).first())["status"] == "queued"


async def test_cancel_skips_what_is_not_sent(admin_client, company_id):
    await ten_clients(company_id)
    job_id = await queue(company_id)
    page = await admin_client.get(f"/admin/tools/mass-mailer/jobs/{job_id}")
    assert 'hx-trigger="every 1s"' in page.text
    response = await admin_client.post(
        f"/admin/tools/mass-mailer/jobs/{job_id}/cancel", data={"_csrf_token": csrf_from(page.text)}
    )
    assert response.status_code == 303
    assert await run_worker() == 0
    progress = await services.job_progress(company_id, job_id)
    assert (progress.status, progress.skipped, progress.done) == ("cancelled", 4, True)


async def test_the_plugin_adds_its_menu_item_tables_and_routes(admin_client):
    from portal import plugins
    from portal.core.db import APPS

    assert [p.name for p in plugins.plugins()] == ["mass_mailer"]
    assert "portal.plugins.mass_mailer.piccolo_app" in APPS
    dashboard = await admin_client.get("/admin")
    assert '<a href="/admin/tools/mass-mailer">Mass Mailer</a>' in dashboard.text
    jobs = await admin_client.get("/admin/tools/mass-mailer/jobs")
    assert jobs.status_code == 200 and "No mailings yet." in jobs.text


@pytest.mark.parametrize("word", ["0", "off", "no", "false"])
async def test_portal_serve_leaves_sending_to_mailer_processes_when_told(monkeypatch, word):
    """PORTAL_MAILER_IN_SERVER reads the words every other switch reads: any "no" keeps the
    worker out of `portal serve` (it returns at once instead of sending for ever)."""
    monkeypatch.setenv("PORTAL_MAILER_IN_SERVER", word)
    await asyncio.wait_for(server_worker(), timeout=5)


async def test_the_wizard_needs_a_staff_login(client):
    response = await client.get("/admin/tools/mass-mailer")
    assert response.status_code in {302, 303, 307}
    assert "/admin/login" in response.headers["location"]


async def test_links_sent_before_tokens_were_stored_keep_working(client, company_id):
    """An earlier release made each link from the recipient's row ID (enciphered with a key
    derived from PORTAL_SECRET_KEY); the migration that brought stored tokens gave every row
    queued before it exactly that token. Here a row as the earlier release left it (no token
    column), the migration run, and the link that release sent for it."""
    from importlib import import_module

    client_id = await add_client(company_id, "Old", "old@example.com", opted_in=True)
    job_id = await queue(company_id)
    await MailingRecipient.raw("DROP INDEX mailer_recipient_unsubscribe_token")
    await MailingRecipient.raw("ALTER TABLE mailer_recipient DROP COLUMN unsubscribe_token")
    await MailingRecipient.raw(
        "UPDATE mailer_recipient SET id = 4242 WHERE job = {} AND client = {}", job_id, client_id
    )
    migration = import_module(
        "portal.plugins.mass_mailer.piccolo_migrations.mass_mailer_2026_12_02t19_00_00_000001"
    )
    await (await migration.forwards()).run()
    # What the earlier release put in the mail for row 4242 under this test run's secret key.
    link_of_earlier_release = "MIKesgsgUepDBDamGYY5bcQ80h5ePv_oB6OfzuBchBg"
    page = await client.get(f"/unsubscribe/{link_of_earlier_release}")
    assert page.status_code == 200 and 'action="/unsubscribe/' in page.text
    done = await client.post(f"/unsubscribe/{link_of_earlier_release}")
    assert "You are unsubscribed" in done.text
    assert not (await Client.select().where(Client.id == client_id).first())["marketing_opt_in"]


async def test_preview_shows_a_chosen_recipient_the_html_in_a_sandbox_and_sends_a_test(
    admin_client, smtp_sink, company_id, staff
):
    await ten_clients(company_id)
    compose_page = await admin_client.get("/admin/tools/mass-mailer/compose", params=FILTER)
    data = {**FILTER, **COMPOSE, "_csrf_token": csrf_from(compose_page.text)}
    preview = await admin_client.post("/admin/tools/mass-mailer/preview", data=data)
    assert preview.status_code == 200
    options = re.findall(r'<option value="([^"]+)"( selected)?>', preview.text)
    assert len(options) == 4 and options[0][1] == " selected"  # the first, unless chosen
    assert re.search(
        r'<iframe class="mail-preview" sandbox=""[^>]*srcdoc="&lt;p&gt;Dear ', preview.text
    )
    second = options[1][0]
    shown = await admin_client.post(
        "/admin/tools/mass-mailer/preview", data={**data, "preview_for": second}
    )
    assert f'<option value="{second}" selected>' in shown.text
    assert f"<dt>To</dt><dd>{second}</dd>" in shown.text
    tested = await admin_client.post(
        "/admin/tools/mass-mailer/test", data={**data, "preview_for": second}
    )
    assert tested.status_code == 200
    assert f"A test of this message was sent to {staff['email']}." in tested.text
    [message] = smtp_sink.messages
    assert message["To"] == staff["email"]
    assert str(message["Subject"]).startswith("[Test] Hello ")
    assert await MailingJob.count() == 0  # nothing queued for the recipients
