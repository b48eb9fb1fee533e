"""The database layer itself: SQLite's connections lent and taken back while the app runs
(portal.core.db.PortalSQLiteEngine), the writers' gate, statistics after bulk loads, and the
statement timeout."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import subprocess
import sys

import pytest
from piccolo.engine.sqlite import TransactionType
from piccolo.querystring import QueryString

from clients_helpers import post_add_client
from conftest import IS_POSTGRES
from portal.client_groups import services as client_groups
from portal.client_groups.tables import ClientGroup
from portal.clients import contacts, notes, users
from portal.clients.demo import load_demo
from portal.clients.tables import Client, ClientNote, Contact
from portal.companies.tables import Company
from portal.core import db
from portal.core.actors import SYSTEM, Actor
from portal.core.db import write_transactions
from portal.core.errors import NotFound, Unavailable, ValidationError
from portal.mail import services as mail
from portal.mail.tables import MailMessage
from portal.staff import groups as staff_groups
from portal.staff.tables import StaffCompany, StaffGroup
from profile_helpers import make_client

sqlite_only = pytest.mark.skipif(IS_POSTGRES, reason="SQLite's own connection pool")


@sqlite_only
async def test_a_connection_given_back_mid_transaction_keeps_nothing_and_locks_nothing(
    company_id,
):
    connection = await db.engine().get_connection()
    await connection.execute("BEGIN IMMEDIATE")
    await connection.execute("UPDATE company SET name = 'Half-done' WHERE id = ?", [company_id])
    await connection.close()  # given back with its transaction open, as after an error
    row = await Company.select(Company.name).where(Company.id == company_id).first()
    assert row["name"] != "Half-done"
    await Company.update({Company.name: "Done"}).where(Company.id == company_id)
    assert (await Company.select(Company.name).first())["name"] == "Done"


@sqlite_only
async def test_each_connection_keeps_a_small_page_cache_of_its_own():
    """The operating system caches the file; each of the many connections a busy process
    holds keeps SQLITE_PAGE_CACHE_KIB of pages, not SQLite's default 2 MB."""
    connection = await db.engine().get_connection()
    try:
        rows = await connection.execute_fetchall("PRAGMA cache_size")
    finally:
        await connection.close()
    assert list(rows[0].values()) == [-db.SQLITE_PAGE_CACHE_KIB]


def test_the_server_loads_the_libraries_of_rare_work_only_when_it_is_done():
    """Passkeys, imports from another system's MySQL database and webhook deliveries load
    their libraries (webauthn, PyMySQL, httpx and the console it brings) at their first use,
    not in every server process."""
    code = (
        "import sys, types\n"
        "from portal.app import create_app\n"
        "create_app()\n"
        "print(sorted(name for name in ('webauthn', 'pymysql', 'httpx', 'rich')"
        " if type(sys.modules.get(name)) is types.ModuleType))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert loaded.strip() == "[]"


@sqlite_only
async def test_concurrent_transactions_each_get_their_own_connection(company_id):
    async def rename(n: int) -> None:
        async for transaction in write_transactions():
            async with transaction:
                await Company.update({Company.name: f"Name {n}"}).where(Company.id == company_id)
                await asyncio.sleep(0.01)  # others wait for the write lock meanwhile
                row = await Company.select(Company.name).where(Company.id == company_id).first()
                assert row["name"] == f"Name {n}"  # no one else's write inside this transaction

    await asyncio.gather(*(rename(n) for n in range(20)))
    assert len(db.engine().idle) <= db.SQLITE_IDLE_CONNECTIONS


@sqlite_only
async def test_a_write_cancelled_while_running_leaves_no_transaction_behind(company_id):
    """A cancelled query may still be running in its connection's thread: that connection is
    closed, never lent again with the write uncommitted (the next BEGIN would fail)."""
    for attempt in range(30):
        task = asyncio.create_task(
            Company.update({Company.name: f"Cancelled {attempt}"})
            .where(Company.id == company_id)
            .run()
        )
        for _ in range(attempt % 4):
            await asyncio.sleep(0)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        async for transaction in write_transactions():
            async with transaction:
                await Company.update({Company.name: f"Kept {attempt}"}).where(
                    Company.id == company_id
                )
        assert (await Company.select(Company.name).first())["name"] == f"Kept {attempt}"


# A read that takes SQLite a while (a few hundred milliseconds): counting to three million.
SLOW_READ = (
    "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 3000000) "
    "SELECT count(*) AS counted FROM n"
)


async def _ticks_while(work) -> tuple[object, int]:
    """What `work` returns, and how often the event loop ran another task meanwhile."""
    ticks = 0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0.005)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    try:
        result = await work
    finally:
        done.set()
        await task
    return result, ticks


@sqlite_only
async def test_a_long_read_leaves_the_event_loop_and_finishes_in_its_thread():
    """Reads run first on the event loop's thread (cheaper than a trip to the connection's);
    one that takes longer than SQLITE_READ_HERE_SECONDS is interrupted there and runs in the
    thread, while the loop serves others, and so does that statement next time."""
    engine = db.engine()
    engine.slow_reads.pop(SLOW_READ, None)
    rows, ticks = await _ticks_while(Company.raw(SLOW_READ).run())
    assert rows == [{"counted": 3_000_000}]
    assert ticks >= 5, "the loop stood still while the read ran"
    assert SLOW_READ in engine.slow_reads
    rows, ticks = await _ticks_while(Company.raw(SLOW_READ).run())
    assert rows == [{"counted": 3_000_000}] and ticks >= 5
    quick = await Company.raw("SELECT 1 AS one").run()
    assert quick == [{"one": 1}] and "SELECT 1 AS one" not in engine.slow_reads


@sqlite_only
async def test_reads_answer_when_the_loops_thread_has_no_time_for_them(company_id, monkeypatch):
    """However late the loop's thread gets to a read (the process descheduled, a busy core),
    the read is interrupted cleanly and answered from the connection's thread."""
    monkeypatch.setattr(db, "SQLITE_READ_HERE_SECONDS", 0)
    monkeypatch.setattr(db.engine(), "slow_reads", {})
    # Many times over: SQLite counts a statement's steps towards the next look at the clock
    # across its runs, so the short statements around a read get their turn too.
    for _ in range(300):
        async with db.snapshot_transaction():
            row = await Company.select(Company.id).where(Company.id == company_id).first()
        assert row == {"id": company_id}
        assert await Company.raw("SELECT 1 AS one").run() == [{"one": 1}]


@sqlite_only
async def test_a_read_moved_to_the_thread_stays_in_its_transactions_snapshot(company_id):
    """Interrupting a read on the loop's thread does not end its transaction: the read that
    runs again in the thread sees what the transaction's first read saw."""
    db.engine().slow_reads.pop(SLOW_READ, None)
    async with db.snapshot_transaction():
        before = await Company.select(Company.name).where(Company.id == company_id).first()
        writer = sqlite3.connect(db.engine().path, timeout=5)
        with contextlib.closing(writer), writer:
            writer.execute(
                "UPDATE company SET name = 'Renamed meanwhile' WHERE id = ?", [company_id]
            )
        assert await Company.raw(SLOW_READ).run() == [{"counted": 3_000_000}]
        during = await Company.select(Company.name).where(Company.id == company_id).first()
    after = await Company.select(Company.name).where(Company.id == company_id).first()
    assert during == before != after == {"name": "Renamed meanwhile"}


async def test_a_read_that_meets_a_locked_file_waits_in_its_thread(tmp_path):
    """A read on the event loop's thread waits for no lock: when another connection holds the
    file, the read goes to its connection's thread and waits there (the busy timeout) while
    the loop serves others, then reads. (A file in rollback-journal mode, where a writer's
    exclusive lock keeps readers out; in WAL mode, rarely and briefly.)"""
    path = str(tmp_path / "locked.sqlite3")
    with contextlib.closing(sqlite3.connect(path)) as setup, setup:
        setup.execute("CREATE TABLE note (text TEXT)")
        setup.execute("INSERT INTO note VALUES ('before')")
    engine = db.PortalSQLiteEngine(path, wait_seconds=5)
    engine.start_lending()
    connection = await engine.get_connection()
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        assert await connection.execute_fetchall("SELECT text FROM note") == [{"text": "before"}]
        holder.execute("BEGIN EXCLUSIVE")
        holder.execute("UPDATE note SET text = 'after'")
        asyncio.get_running_loop().call_later(0.3, holder.execute, "COMMIT")
        rows, ticks = await _ticks_while(connection.execute_fetchall("SELECT text FROM note"))
    finally:
        holder.close()
        await connection.close()
        await engine.stop_lending()
    assert rows == [{"text": "after"}]
    assert ticks >= 10, "the read waited for the lock on the loop's thread"


@sqlite_only
async def test_a_writer_that_waited_its_turn_leaves_the_whole_lock_wait_to_the_next(tmp_path):
    """A write transaction waits for the file's lock only for what its turn left of the wait;
    the connection it gives back waits the whole of it again for its next user."""
    path = str(tmp_path / "writers.sqlite3")
    with contextlib.closing(sqlite3.connect(path)) as setup, setup:
        setup.execute("CREATE TABLE note (text TEXT)")
    engine = db.PortalSQLiteEngine(path, wait_seconds=5)
    engine.start_lending()

    async def write(hold: float) -> None:
        async with engine.transaction(transaction_type=TransactionType.immediate):
            await engine.run_querystring(QueryString("INSERT INTO note VALUES ('x')"))
            await asyncio.sleep(hold)

    try:
        await asyncio.gather(write(0.5), write(0))  # the second waits 0.5 s for its turn
        timeouts = []
        for connection in list(engine.idle):
            timeouts += await connection.execute_fetchall("PRAGMA busy_timeout")
    finally:
        await engine.stop_lending()
    assert timeouts and all(row == {"timeout": 5000} for row in timeouts), timeouts


@pytest.mark.skipif(not IS_POSTGRES, reason="PostgreSQL's pool")
async def test_a_transaction_cancelled_as_it_begins_gives_its_connection_back(company_id):
    """A request cancelled while its transaction begins (a client gone, a timeout) leaves no
    connection checked out and idle in its transaction: the pool can still close."""

    async def read() -> None:
        async with db.snapshot_transaction():
            await Company.select(Company.id).where(Company.id == company_id).first()

    for attempt in range(60):
        task = asyncio.create_task(read())
        for _ in range(attempt % 12):
            await asyncio.sleep(0)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await asyncio.sleep(0.2)
    rows = await Company.raw(
        "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() "
        "AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()"
    )
    assert rows == [{"n": 0}]


@pytest.mark.skipif(not IS_POSTGRES, reason="PostgreSQL's pool")
async def test_connections_go_back_to_the_pool_as_they_came(admin_client, company_id):
    """The pool takes connections back without asyncpg's reset query (db._keep_session_state),
    so the portal's own work must leave nothing on a connection for its next borrower: no
    setting of the session, no advisory lock, no cursor, no channel listened to."""
    # admin_client logged in (the login throttle's advisory lock); a client added (the write
    # gate, the triggers), then pages read in transactions of their own isolation.
    assert (await post_add_client(admin_client, email="kept@example.com")).status_code == 303
    for path in ("/admin", "/admin/clients", "/admin/clients/suggestions?q=kept"):
        assert (await admin_client.get(path)).status_code == 200
    pool = db.engine().pool
    connections = [await pool.acquire() for _ in range(pool.get_size())]
    try:
        for connection in connections:
            left = await connection.fetchrow(
                # Settings the session changed from the connection's own (SET TRANSACTION
                # marks transaction_isolation "session" with its value back at the default);
                # cursors other than this query's own unnamed one.
                "SELECT (SELECT count(*) FROM pg_settings WHERE source = 'session' "
                "AND setting IS DISTINCT FROM reset_val) AS settings, "
                "(SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                "AND pid = pg_backend_pid()) AS advisory_locks, "
                "(SELECT count(*) FROM pg_cursors WHERE name <> '') AS cursors, "
                "(SELECT count(*) FROM pg_listening_channels()) AS channels"
            )
            assert dict(left) == {"settings": 0, "advisory_locks": 0, "cursors": 0, "channels": 0}
    finally:
        for connection in connections:
            await pool.release(connection)


@pytest.mark.skipif(not IS_POSTGRES, reason="PostgreSQL's statistics and statement timeout")
async def test_demo_data_is_analyzed_even_without_autovacuum(company_id):
    """A server with autovacuum off (or late) must not plan searches over 10,000 fresh demo
    clients without statistics: the demo analyzes what it loaded."""
    await Company.raw("ALTER TABLE client SET (autovacuum_enabled = false)")
    try:
        await load_demo(300, company_id=company_id, seed=3)
        rows = await Company.raw(
            "SELECT relname, last_analyze FROM pg_stat_user_tables "
            "WHERE relname IN ('client', 'contact', 'contact_number', 'client_search')"
        )
    finally:
        await Company.raw("ALTER TABLE client RESET (autovacuum_enabled)")
    assert len(rows) == 4 and all(row["last_analyze"] is not None for row in rows), rows


@pytest.mark.skipif(not IS_POSTGRES, reason="PostgreSQL's statement timeout")
async def test_a_statement_that_runs_too_long_is_stopped_and_answers_unavailable():
    assert (await Company.raw("SHOW statement_timeout"))[0]["statement_timeout"] == "15s"
    with pytest.raises(Unavailable):
        async for transaction in db.write_transactions():
            async with transaction:
                await Company.raw("SET LOCAL statement_timeout = '50ms'")
                await Company.raw("SELECT pg_sleep(2)")


@pytest.mark.skipif(IS_POSTGRES, reason="SQLite's statistics")
async def test_sqlite_demo_data_is_analyzed(company_id):
    await load_demo(300, company_id=company_id, seed=3)
    rows = await Company.raw("SELECT DISTINCT tbl FROM sqlite_stat1 ORDER BY tbl")
    assert {"client", "contact", "contact_number", "client_search"} <= {r["tbl"] for r in rows}


@sqlite_only
async def test_writers_of_a_process_take_their_turn_in_the_order_they_came(company_id):
    """SQLite's own busy handler serves waiting writers in no order (some starve); the gate
    in front of it lets them in first come, first served."""
    entered: list[int] = []
    holding = asyncio.Event()

    async def writer(n: int) -> None:
        async for transaction in write_transactions():
            async with transaction:
                entered.append(n)
                if n == 0:
                    holding.set()
                    await asyncio.sleep(0.5)  # the others queue meanwhile
                await Company.update({Company.name: f"W{n}"}).where(Company.id == company_id)

    first = asyncio.create_task(writer(0))
    await holding.wait()
    queued = []
    for n in range(1, 12):
        queued.append(asyncio.create_task(writer(n)))
        # Each arrives after the one before, with time to open a connection of its own.
        await asyncio.sleep(0.02)
    await asyncio.gather(first, *queued)
    assert entered == list(range(12))


def test_only_statements_that_write_nothing_count_as_reads():
    assert db._reads("SELECT id FROM client")
    assert db._reads("  (SELECT 1) UNION (SELECT 2)")
    assert db._reads("WITH recent AS (SELECT id FROM client) SELECT * FROM recent")
    for write in ("INSERT", "UPDATE client SET", "DELETE FROM", "REPLACE INTO"):
        assert not db._reads(f"WITH recent AS (SELECT id FROM client) {write} note")
    assert not db._reads("PRAGMA busy_timeout")


async def test_what_a_write_adds_to_a_client_deleted_meanwhile_is_not_found(company_id):
    """A note added while another writer deletes its client: the note's insert waits for the
    delete (PostgreSQL) or for its turn (SQLite), then finds no client. The answer is
    NotFound (a 404), not the foreign key's error (a 500), and nothing is left behind."""

    client_id = await make_client(company_id)
    deleted = asyncio.Event()

    async def delete_slowly() -> None:
        async for transaction in write_transactions():
            async with transaction:
                await Client.delete().where(Client.id == client_id)
                deleted.set()
                await asyncio.sleep(0.3)  # the note's writer reads the client meanwhile

    deleting = asyncio.create_task(delete_slowly())
    await deleted.wait()
    with pytest.raises(NotFound):
        await notes.add_note(
            company_id, client_id, notes.NoteDetails(title="Late"), Actor(kind="system")
        )
    await deleting
    assert await ClientNote.count() == 0


async def test_a_reference_gone_before_the_write_is_not_found(company_id, monkeypatch):
    """The same when the client goes between the service's check and its transaction (a
    contact added: the check reads the account, then the write inserts the contact)."""

    client_id = await make_client(company_id)
    account_of = users.account_of

    async def account_then_deleted(company: int, client: int) -> dict:
        account = await account_of(company, client)
        await Client.delete().where(Client.id == client)  # another writer, just then
        return account

    monkeypatch.setattr(users, "account_of", account_then_deleted)
    details = contacts.ContactDetails(
        contact_type="billing",
        first_name="Bill",
        last_name="Payer",
        email="bill@example.com",
        country="CA",
    )
    with pytest.raises(NotFound):
        await contacts.add_contact(company_id, client_id, details, Actor(kind="system"))
    assert await Contact.count() == 0


async def test_mail_to_a_client_deleted_since_is_not_found(company_id):
    """Mail is logged after the action's transaction (email the client, invite a user): a
    client deleted in between is NotFound, not the log's foreign key failing (a 500)."""
    client_id = await make_client(company_id)
    await Client.delete().where(Client.id == client_id)
    with pytest.raises(NotFound):
        await mail.send(
            company_id, "Acme", mail.Mail("a@example.com", "Hello", "Hi", "staff", client_id)
        )
    assert await MailMessage.count() == 0


async def test_a_group_deleted_while_a_client_joins_it_is_deleted(company_id):
    """A client added to a client group while the group is being deleted: the delete waits
    for it and moves it too (a delete that met it afterwards failed on the foreign key)."""
    group_id = await client_groups.create_group(
        company_id, client_groups.GroupDetails(name="Leaving"), Actor(kind="system")
    )
    client_id = await make_client(company_id)
    joined = asyncio.Event()

    async def join_slowly() -> None:
        async for transaction in write_transactions():
            async with transaction:
                await Client.update({Client.group: group_id}).where(Client.id == client_id)
                joined.set()
                await asyncio.sleep(0.3)  # the delete starts meanwhile

    joining = asyncio.create_task(join_slowly())
    await joined.wait()
    moved = await client_groups.delete_group(company_id, group_id, Actor(kind="system"))
    await joining
    assert moved == 1
    assert not await ClientGroup.exists().where(ClientGroup.id == group_id)
    row = await Client.select(Client.group).where(Client.id == client_id).first()
    assert row["group"] == await client_groups.default_group_id(company_id)


async def test_a_staff_group_deleted_while_someone_joins_it_says_so(company_id, staff):
    """The same for a staff group, which is deleted only when nobody is in it: the delete
    waits for the member put in meanwhile and then refuses, naming them."""
    group_id = await staff_groups.create_group(company_id, "Night shift", [], SYSTEM)
    joined = asyncio.Event()

    async def join_slowly() -> None:
        async for transaction in write_transactions():
            async with transaction:
                await StaffCompany.update({StaffCompany.staff_group: group_id}).where(
                    StaffCompany.staff == staff["id"], StaffCompany.company == company_id
                )
                joined.set()
                await asyncio.sleep(0.3)  # the delete starts meanwhile

    joining = asyncio.create_task(join_slowly())
    await joined.wait()
    with pytest.raises(ValidationError, match="1 staff member is in Night shift"):
        await staff_groups.delete_group(company_id, group_id, SYSTEM)
    await joining
    assert await StaffGroup.exists().where(StaffGroup.id == group_id)
