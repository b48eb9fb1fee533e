"""Test set-up: one real database per run (SQLite by default, PostgreSQL when
PORTAL_DATABASE_URL says so), migrated once and emptied before every test; the app over real
HTTP through Litestar's test client; a real server process for the browser tests."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

# Settings are read once, at first use: fix the environment before anything imports the portal.
_VAR_DIR = Path(tempfile.mkdtemp(prefix="portal-test-"))
os.environ["PORTAL_VAR_DIR"] = str(_VAR_DIR)
os.environ["PORTAL_ARGON2_PROFILE"] = "fast"
os.environ["PORTAL_SECRET_KEY"] = "test-secret-key-not-for-production-0123456789"
os.environ.setdefault("PORTAL_DATABASE_URL", f"sqlite:///{_VAR_DIR}/test.sqlite3")
os.environ.pop("PORTAL_SMTP_URL", None)
os.environ.pop("PORTAL_REDIS_URL", None)
# Tests deliver webhooks with workers of their own (in the test, or `portal webhooks run`).
os.environ["PORTAL_WEBHOOKS_IN_SERVER"] = "0"
# Jobs run where a test says: by `jobs.run_job` in the test, or by the `job_runner` fixture,
# never by a server process that would take them first.
os.environ["PORTAL_JOBS_IN_SERVER"] = "0"

import httpx  # noqa: E402
from aiosmtpd.controller import Controller  # noqa: E402
from piccolo.conf.apps import Finder  # noqa: E402
from piccolo.table import sort_table_classes  # noqa: E402
from playwright.async_api import Browser, Page, async_playwright, expect  # noqa: E402

from portal.app import create_app  # noqa: E402
from portal.clients.tables import Client  # noqa: E402
from portal.companies.services import create_company, ensure_default_company  # noqa: E402
from portal.companies.tables import Company  # noqa: E402
from portal.core import db  # noqa: E402
from portal.core.config import get_settings  # noqa: E402
from portal.staff.services import create_staff  # noqa: E402

PROJECT_DIR = Path(__file__).resolve().parents[1]
DATABASE_URL = os.environ["PORTAL_DATABASE_URL"]
IS_POSTGRES = DATABASE_URL.startswith("postgres")
STAFF_PASSWORD = "Sturdy-horse-42"  # noqa: S105 - a test credential


def pytest_report_header(config: pytest.Config) -> str:
    return f"portal database: {DATABASE_URL}"


async def _reset_postgres_schema() -> None:
    engine = db.engine()
    await engine.run_ddl("DROP SCHEMA IF EXISTS public CASCADE")
    await engine.run_ddl("CREATE SCHEMA public")


@pytest.fixture(scope="session", autouse=True)
async def database() -> AsyncIterator[None]:
    """A freshly migrated database for the run. PostgreSQL must be reachable: no skipping."""
    if IS_POSTGRES:
        await _reset_postgres_schema()
    await db.migrate()
    await db.start()
    yield
    await db.stop()


_TABLES = list(reversed(sort_table_classes(Finder().get_table_classes())))


@pytest.fixture(autouse=True)
async def empty_database(database: None) -> AsyncIterator[None]:
    """Every test starts from an empty install (no company, no staff); after it, what writers
    keep beside the clients must still match them."""
    for table in _TABLES:
        await table.delete(force=True)
    yield
    await check_kept_in_step()


async def check_kept_in_step() -> None:
    """The client counts, all-time and monthly (portal.clients.counts), each client's copy of
    its primary contact's country and the open invoices' totals (billing's open_invoice_total),
    against the clients, contacts and invoices themselves."""
    off_counts = await Client.raw(
        'SELECT company, "group", country, status, sum(clients) AS off FROM ('
        'SELECT company, "group", country, status, clients FROM client_count UNION ALL '
        'SELECT company, "group", country, status, -count(*) FROM client '
        'GROUP BY company, "group", country, status) AS both_sides '
        'GROUP BY company, "group", country, status HAVING sum(clients) <> 0'
    )
    assert off_counts == [], f"client counts out of step: {off_counts}"
    month = db.month_of("c.created_at")
    off_months = await Client.raw(
        'SELECT company, month, "group", country, status, sum(clients) AS off FROM ('
        'SELECT company, month, "group", country, status, clients FROM client_month_count '
        f'UNION ALL SELECT company, {month} AS month, "group", country, status, -count(*) '
        f'FROM client c GROUP BY company, {month}, "group", country, status) AS both_sides '
        'GROUP BY company, month, "group", country, status HAVING sum(clients) <> 0'
    )
    assert off_months == [], f"monthly client counts out of step: {off_months}"
    off_country = await Client.raw(
        "SELECT c.id, c.country, ct.country AS contact_country FROM client c "
        "JOIN contact ct ON ct.client = c.id AND ct.contact_type = 'primary' "
        "WHERE c.country <> ct.country"
    )
    assert off_country == [], f"client country out of step: {off_country}"
    off_invoices = await Client.raw(
        "SELECT company, currency, date_due, sum(amount) AS amount, sum(invoices) AS n FROM ("
        "SELECT company, currency, date_due, amount, invoices FROM open_invoice_total UNION ALL "
        "SELECT company, currency, date_due, -sum(total - amount_paid), -count(*) FROM invoice "
        "WHERE status = 'open' GROUP BY company, currency, date_due) AS both_sides "
        "GROUP BY company, currency, date_due HAVING sum(amount) <> 0 OR sum(invoices) <> 0"
    )
    assert off_invoices == [], f"open invoice totals out of step: {off_invoices}"


@pytest.fixture
async def company_id() -> int:
    """The install's first company, as a first run creates it."""
    await ensure_default_company()
    row = await Company.select(Company.id).order_by(Company.id).first()
    assert row is not None
    return row["id"]


@pytest.fixture
async def staff(company_id: int) -> dict:
    """An administrator of the default company."""
    email = "admin@example.com"
    staff_id = await create_staff(
        email=email,
        password=STAFF_PASSWORD,
        first_name="Ada",
        last_name="Admin",
        company_ids=[company_id],
    )
    return {"id": staff_id, "email": email, "password": STAFF_PASSWORD, "company_id": company_id}


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    """The app over HTTP with a cookie jar, in the test's event loop. The session fixture has
    opened the database pool; the app's own lifespan runs in the `live_server` tests."""
    transport = httpx.ASGITransport(app=create_app(), client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as http:
        yield http


CSRF_FIELD = re.compile(r'name="_csrf_token" value="([^"]+)"')


MASKED_TOKEN = re.compile(r"\b[0-9a-f]{256,}\b")


def csrf_from(html: str) -> str:
    match = CSRF_FIELD.search(html)
    assert match, "page has no CSRF field"
    return match.group(1)


def redis_url_of_run(database: int) -> str:
    """Redis database `database` of this test run: CI runs the SQLite and the PostgreSQL suites at
    once, and each empties its own."""
    if get_settings().database.engine != "sqlite":
        database -= 4
    return f"redis://127.0.0.1:6379/{database}"


def without_csrf_tokens(html: str) -> str:
    """The page with its CSRF tokens blanked: they are masked afresh on every page, so two
    answers that tell the same thing differ only there."""
    return MASKED_TOKEN.sub("<token>", html)


async def get_csrf(client: httpx.AsyncClient, path: str = "/admin/login") -> str:
    response = await client.get(path)
    return csrf_from(response.text)


async def login_staff(client: httpx.AsyncClient, email: str, password: str) -> None:
    token = await get_csrf(client, "/admin/login")
    response = await client.post(
        "/admin/login", data={"_csrf_token": token, "email": email, "password": password}
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/admin"


@pytest.fixture
async def admin_client(client: httpx.AsyncClient, staff: dict) -> httpx.AsyncClient:
    """A test client logged in as the administrator of the default company."""
    await login_staff(client, staff["email"], staff["password"])
    return client


@pytest.fixture
async def second_company() -> int:
    return await create_company("Second Company Ltd", currency="EUR", language="de", country="DE")


@pytest.fixture
async def job_runner() -> AsyncIterator[None]:
    """The job runner of a server, in the test's event loop: the jobs a browser test starts
    through the live server run here, with the test's database."""
    from portal.jobs import services as jobs

    task = asyncio.create_task(jobs.run_jobs())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


# --- a real server for browser tests -------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def live_server() -> Iterator[str]:
    """`portal serve` as its own process on a free loopback port, on the run's database."""
    port = free_port()
    log = open(_VAR_DIR / "server.log", "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [sys.executable, "-m", "portal", "serve", "--port", str(port)],
        cwd=PROJECT_DIR,
        env=os.environ.copy(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {(_VAR_DIR / 'server.log').read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            time.sleep(0.1)
    else:
        process.kill()
        raise RuntimeError("server did not start in 30 s")
    yield url
    process.terminate()
    process.wait(timeout=10)
    log.close()


@pytest.fixture(scope="session")
def server_log_path() -> Path:
    return _VAR_DIR / "server.log"


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    """Debian's headless Chromium (no browser download). Playwright's async API, because the
    sync API (pytest-playwright's fixtures) keeps a loop running that the async fixtures need."""
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=os.environ.get("PORTAL_CHROMIUM", "/usr/bin/chromium"),
            headless=True,
            args=CHROMIUM_ARGS,
        )
        yield chromium
        await chromium.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context()
    context.set_default_timeout(10_000)
    yield await context.new_page()
    await context.close()


async def log_in_admin_page(page: Page, live_server: str, email: str, password: str) -> None:
    """Logs a staff member in through the login form of a browser page."""
    await page.goto(f"{live_server}/admin/login")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Log in").click()
    await expect(page).to_have_url(re.compile(r"/admin$"))


# --- a real SMTP server for mail tests -----------------------------------------------------


class SmtpCollector:
    """An aiosmtpd handler that keeps every message it receives."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.recipients: list[str] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append(
            email.message_from_bytes(envelope.content, policy=email.policy.default)
        )
        self.recipients = envelope.rcpt_tos
        return "250 OK"


@pytest.fixture
def smtp_server(monkeypatch) -> Iterator[SmtpCollector]:
    """An SMTP server on a free port that the portal sends to (PORTAL_SMTP_URL)."""
    collector = SmtpCollector()
    controller = Controller(collector, hostname="127.0.0.1", port=free_port())
    controller.start()
    monkeypatch.setenv("PORTAL_SMTP_URL", f"smtp://127.0.0.1:{controller.port}")
    get_settings.cache_clear()
    yield collector
    controller.stop()
    monkeypatch.delenv("PORTAL_SMTP_URL")
    get_settings.cache_clear()
