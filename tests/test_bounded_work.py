"""No single request can freeze the server: work whose size a request decides (a mail template,
a regular expression, the fields of a form) is bounded, and while an abusive request runs, an
ordinary one (the client login page) still answers within a second. Through a real `portal
serve`, whose one event loop serves every tenant."""

from __future__ import annotations

import asyncio
import re
import time

import httpx
import pytest

from portal.core.actors import SYSTEM
from portal.plugins.mass_mailer.tables import MailingJob
from server_helpers import CSRF_FIELD, PortalServer, staff_session

ORDINARY = "/client/login"
COMPOSE = {
    "filter": "1",
    "kind": "marketing",
    "status": "active",
    "from_name": "News",
    "from_address": "news@example.com",
    "subject": "Hello {{ client.first_name }}",
}
LOOPS = "{% for a in client.company_name %}{% for b in client.company_name %}"
ABUSIVE_TEMPLATES = [
    # Three loops inside each other over the longest field: 16 million steps.
    (
        LOOPS + "{% for c in client.company_name %}x{% endfor %}{% endfor %}{% endfor %}",
        "repeats more than 10,000 times",
    ),
    # Text doubled again and again: a gigabyte after a few steps.
    (
        "{% set a = client.email %}" + "{% set a = a ~ a ~ a ~ a %}" * 8 + "{{ a }}",
        "makes a text longer than 100,000 characters",
    ),
    ("{{ client.email" + " | replace('e', client.email)" * 6 + " }}", "longer than 100,000"),
    ("{% set a = client.email %}" + "{% set a = a + a %}" * 12 + "{{ a }}", "longer than 100,000"),
    (
        "{% for c in client.company_name %}" + "y" * 5000 + "{% endfor %}",
        "longer than 1,000,000 characters",
    ),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with PortalServer(tmp_path_factory.mktemp("bounded") / "server.log") as running:
        yield running


async def while_it_runs(server: PortalServer, abusive) -> tuple[httpx.Response, float, float]:
    """Runs the abusive request and, while it runs, the ordinary one: (abusive answer, its
    seconds, the ordinary one's seconds)."""
    started = time.monotonic()
    task = asyncio.create_task(abusive)
    await asyncio.sleep(0.05)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        before = time.monotonic()
        assert (await http.get(ORDINARY)).status_code == 200
        ordinary = time.monotonic() - before
    response = await task
    return response, time.monotonic() - started, ordinary


@pytest.mark.parametrize(("template", "message"), ABUSIVE_TEMPLATES)
@pytest.mark.parametrize("step", ["preview", "send"])
async def test_a_mail_template_that_does_too_much_is_refused_beside_its_field(
    server, staff, company_id, template, message, step
):
    async with staff_session(server.url, staff["email"], staff["password"], timeout=60) as http:
        page = await http.get("/admin/tools/mass-mailer/compose", params={"filter": "1"})
        data = {**COMPOSE, "body_text": template, "_csrf_token": CSRF_FIELD.search(page.text)[1]}
        response, seconds, ordinary = await while_it_runs(
            server, http.post(f"/admin/tools/mass-mailer/{step}", data=data)
        )
    assert response.status_code == 422, response.text[:300]
    error = re.search(r'id="body_text-error">([^<]*)<', response.text)
    assert error and message in error.group(1), response.text[-3000:]
    assert ordinary < 1, f"an ordinary request waited {ordinary:.2f} s"
    assert seconds < 5
    assert await MailingJob.count() == 0


def test_rendering_itself_stops_a_template_at_its_bounds():
    """The sending worker renders each message within the same bounds, whatever was checked
    when the mailing was queued."""
    from portal.core.errors import ValidationError
    from portal.plugins.mass_mailer import messages

    template = messages._sandbox(False).from_string(
        "{% for a in client.email %}{% for b in client.email %}{% for c in client.email %}"
        "x{% endfor %}{% endfor %}{% endfor %}"
    )
    compiled = messages.CompiledMessage(
        subject=messages._sandbox(False).from_string("Hi"),
        body_text=template,
        body_html=None,
        from_name="News",
        from_address="news@example.com",
        kind="service",
    )
    client = {
        "first_name": "A",
        "last_name": "B",
        "company": "",
        "email": "e" * 200 + "@example.com",
        "code": "1500",
        "language": "en",
        "country": "DE",
    }
    started = time.monotonic()
    with pytest.raises(ValidationError) as refused:
        messages.render(compiled, messages.template_context(client, "Co", None))
    assert "repeats more than 10,000 times" in refused.value.errors["body_text"]
    assert time.monotonic() - started < 1


async def test_a_custom_field_regex_cannot_backtrack(server, staff, company_id):
    """`(a+)+$`-style patterns are matched in linear time (RE2): the longest value is checked
    at once, and the server goes on answering meanwhile."""
    from clients_helpers import VALID_FORM
    from portal.client_groups.services import FieldDetails, create_field, default_group_id

    group_id = await default_group_id(company_id)
    field_id = await create_field(
        company_id,
        group_id,
        FieldDetails(label="Code", required="regex", regex=r"(a+)+", visible_to_client=True),
        SYSTEM,
    )
    async with staff_session(server.url, staff["email"], staff["password"], timeout=60) as http:
        page = await http.get("/admin/clients/add")
        data = {
            **VALID_FORM,
            "_csrf_token": CSRF_FIELD.search(page.text)[1],
            "group_id": str(group_id),
            f"custom_{field_id}": "a" * 254 + "b",
        }
        response, seconds, ordinary = await while_it_runs(
            server, http.post("/admin/clients/add", data=data)
        )
    assert response.status_code == 422
    assert "Code is not in the expected format." in response.text
    assert ordinary < 1 and seconds < 2


@pytest.mark.parametrize(
    "pattern", [r"(a)\1", r"(?=a)a", r"(?<!x)y", "(" * 300 + ")" * 300, "x" * 501]
)
async def test_a_regex_the_engine_cannot_run_safely_is_refused_when_saved(company_id, pattern):
    from portal.client_groups.services import FieldDetails, create_field, default_group_id
    from portal.core.errors import ValidationError

    with pytest.raises(ValidationError) as refused:
        await create_field(
            company_id,
            await default_group_id(company_id),
            FieldDetails(label="Code", required="regex", regex=pattern),
            SYSTEM,
        )
    assert refused.value.errors["regex"].startswith(("This regular expression", "The regular"))


async def test_a_form_of_too_many_fields_is_refused_before_it_is_parsed(server):
    """480,000 empty fields, unauthenticated: refused at once (the CSRF check would otherwise
    parse them all first)."""
    body = b"&".join([b"a="] * 480_000)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        response, seconds, ordinary = await while_it_runs(
            server,
            http.post(
                "/admin/login",
                content=body,
                headers={"content-type": "application/x-www-form-urlencoded"},
            ),
        )
    assert response.status_code == 413
    assert "too many fields" in response.text
    assert ordinary < 1 and seconds < 1


async def test_phone_rows_past_the_cap_are_refused_and_not_sent_back(admin_client):
    from clients_helpers import add_client_form
    from portal.clients.services import MAX_PHONE_ROWS

    token, group = await add_client_form(admin_client)
    rows = 240  # four fields each, within the form's field limit
    data = {
        "_csrf_token": token,
        "group_id": group,
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "ada@example.com",
        "country": "GB",
        "preferred_currency": "GBP",
        "language": "en",
        "username_mode": "email",
        "password": "Sturdy-horse-42",
        "phone_row": [f"r{n}" for n in range(rows)],
        "phone_type": ["phone"] * rows,
        "phone_location": ["home"] * rows,
        "phone_number": ["+44 20 7946 0958"] * rows,
    }
    response = await admin_client.post("/admin/clients/add", data=data)
    assert response.status_code == 422
    assert f"At most {MAX_PHONE_ROWS} numbers can be stored." in response.text
    assert response.text.count('name="phone_number"') == MAX_PHONE_ROWS


async def test_a_request_head_sent_byte_by_byte_is_cut_off(tmp_path):
    env = {"PORTAL_HEADER_SECONDS": "1"}
    with PortalServer(tmp_path / "server.log", env=env) as slow_server:
        reader, writer = await asyncio.open_connection("127.0.0.1", slow_server.port)
        writer.write(b"GET /client/login HTTP/1.1\r\nHost: x\r\n")
        await writer.drain()
        started = time.monotonic()
        closed = False
        for _ in range(30):  # a header byte every 0.2 s, never the blank line
            await asyncio.sleep(0.2)
            try:
                writer.write(b"X")
                await writer.drain()
            except (ConnectionError, OSError):
                closed = True
                break
            if reader.at_eof():
                closed = True
                break
        writer.close()
    assert closed and time.monotonic() - started < 3


async def test_a_request_body_sent_byte_by_byte_gets_408(tmp_path):
    env = {"PORTAL_BODY_SECONDS": "1"}
    with PortalServer(tmp_path / "server.log", env=env) as slow_server:
        reader, writer = await asyncio.open_connection("127.0.0.1", slow_server.port)
        writer.write(
            b"POST /admin/login HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n"
        )
        await writer.drain()
        started = time.monotonic()
        answer = b""
        for _ in range(30):
            writer.write(b"a")
            await writer.drain()
            try:
                answer += await asyncio.wait_for(reader.read(100), 0.2)
            except TimeoutError:
                continue
            if answer:
                break
        writer.close()
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert time.monotonic() - started < 3
