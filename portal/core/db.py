"""Database engine, transactions and migrations for SQLite and PostgreSQL alike.

Piccolo's engines run every query. This module gives them what a server under load needs, and
keeps the engines' differences behind named helpers:

- **Writes queue, bounded.** SQLite takes one writer at a time. The writers of a process wait
  at a gate in the order they came, then for the file's lock (held by another process, perhaps);
  a writer that has waited PORTAL_DB_WAIT_SECONDS in all gets Unavailable (503), with nothing
  written. PostgreSQL writers wait as long at most for a pooled connection, and a write
  transaction that meets a deadlock or a serialization failure runs again, a few times.
- **Every call is bounded.** PostgreSQL: connecting, waiting for a pooled connection, and every
  statement (PORTAL_DB_STATEMENT_SECONDS, the server's own statement_timeout while serving). A
  database that refuses, drops or stops answering raises Unavailable, logged once an outage
  (portal.core.availability); the pool reconnects by itself when it answers again.
- **Derived data before commit.** Triggers keep counts in step with the rows; what SQL cannot
  compute (search documents) they queue, and the hooks registered with `before_commit` work
  the queue off inside every write transaction, before it commits.
- **Reads may go to a replica.** With PORTAL_DATABASE_REPLICA_URL (PostgreSQL only), read
  transactions run on a streaming replica, except for a writer's own reads: a request that has
  written reads from the primary, and so does a later request of the same session (or API key)
  until the replica has replayed the primary's WAL up to that write. A replica that does not
  answer, or lags more than PORTAL_DATABASE_REPLICA_MAX_LAG_SECONDS, is passed over for the
  primary (one log line an outage).
- **SQLite connections are lent.** Piccolo's SQLite engine opens a connection (a thread and a
  file) for every query and transaction; between `start()` and `stop()` idle ones are lent
  again instead.
- **SQLite reads run where they cost least.** A read runs first on the event loop's own
  thread, where most take microseconds (the trip to a connection's thread and back costs more
  than they do); one that is not done within SQLITE_READ_HERE_SECONDS is interrupted and runs
  in its connection's thread, so that no read holds the loop up for longer. Writes, and reads
  that would wait for a lock, always run in the thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hashlib
import io
import logging
import os
import random
import sqlite3
import sys
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from functools import partial
from itertools import chain
from typing import Any

import aiosqlite
import asyncpg
from aiosqlite import context as aiosqlite_context
from piccolo.columns import Column
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine, PostgresTransaction
from piccolo.engine.sqlite import SQLiteEngine, SQLiteTransaction, TransactionType
from piccolo.query.base import Query
from piccolo.table import Table

from portal.core import availability
from portal.core.config import PROJECT_DIR, DatabaseURL, get_settings
from portal.core.errors import NotFound, Unavailable
from portal.core.placeholders import placeholders

# Piccolo apps in dependency order; each owns its tables and migrations.
APPS = [
    "portal.core.piccolo_app",
    "portal.companies.piccolo_app",
    "portal.jobs.piccolo_app",
    "portal.events.piccolo_app",
    "portal.security.piccolo_app",
    "portal.staff.piccolo_app",
    "portal.client_groups.piccolo_app",
    "portal.clients.piccolo_app",
    "portal.billing.piccolo_app",
    "portal.mail.piccolo_app",
    "portal.privacy.piccolo_app",
    "portal.client_area.piccolo_app",
    "portal.api.piccolo_app",
    "portal.activity.piccolo_app",
    "portal.webhooks.piccolo_app",
]
# Plugins' apps come last: they may depend on any core app, never the other way round.
from portal.plugins import piccolo_apps as _plugin_apps  # noqa: E402

APPS += _plugin_apps()

# Piccolo finds its configuration by importing `piccolo_conf`, which lives at the project root.
os.environ.setdefault("PICCOLO_CONF", "piccolo_conf")
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))

SERVICE = "The database"
# Idle SQLite connections kept for lending, and for how long: a connection reads the planner's
# statistics when it opens, so an ANALYZE reaches the others only through new ones.
SQLITE_IDLE_CONNECTIONS = 8
SQLITE_CONNECTION_SECONDS = 300
# Each SQLite connection's own cache of pages (KiB), over the operating system's cache of the
# file: SQLite's default of 2 MB, times the connections a busy process holds, was the larger
# part of a server's memory, and a page it lacks is read again from the OS's cache.
SQLITE_PAGE_CACHE_KIB = 512
# Statements running at once in the connections' threads of a process. Each thread turns rows
# into Python objects holding the GIL: a dozen at once fought over it, and 16 searches at once
# got half the answers a second that they got one by one (bench/RESULTS.md). At least two: a
# writer waiting in its thread for the file's lock (held by another process) keeps one, and the
# writers' gate lets only one writer of a process wait there.
SQLITE_STATEMENTS_AT_ONCE = max(2, os.cpu_count() or 2)
# A read runs first on the event loop's own thread: most take a few microseconds, and a trip to
# a connection's thread and back costs about 0.1 ms. One still running after
# SQLITE_READ_HERE_SECONDS is interrupted (a read leaves nothing behind, its transaction goes
# on) and runs again in the connection's thread, as that statement does for the next
# SQLITE_SLOW_READ_SECONDS (at most SQLITE_SLOW_READS_KEPT statements remembered).
SQLITE_READ_HERE_SECONDS = 0.0005
SQLITE_SLOW_READ_SECONDS = 60
SQLITE_SLOW_READS_KEPT = 1000
_STEPS_BETWEEN_CLOCK_LOOKS = 1000  # SQLite's virtual machine steps: some 30 µs
# A write transaction that PostgreSQL rolled back for a deadlock or a serialization failure
# runs again this many times in all before the request gets Unavailable.
WRITE_ATTEMPTS = 4
# Values per multi-row INSERT: under both engines' limits (SQLite 32,766, PostgreSQL 65,535).
MAX_INSERT_PARAMETERS = 30_000
# The statement-level parts of a write that would take a writer past the deadline.
_WRITE_VERBS = ("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER", "ANALYZE")


# --- failures: Unavailable, once an outage in the log -----------------------------------------


def _sqlite_failure(error: sqlite3.OperationalError) -> Unavailable | None:
    message = str(error)
    if "locked" in message or "busy" in message:
        return Unavailable(SERVICE, "too many writers are waiting", retry_after=2)
    if any(
        cause in message
        for cause in ("disk I/O error", "unable to open", "readonly database", "disk is full")
    ):
        availability.failed(SERVICE, message)
        return Unavailable(SERVICE, message, retry_after=30)
    return None


def _postgres_failure(error: BaseException, replica: _Replica | None = None) -> Unavailable | None:
    """`replica`: the error met a read on the replica, whose outage the primary takes over."""
    if isinstance(error, asyncpg.TransactionRollbackError):  # deadlock, serialization failure
        return Unavailable(SERVICE, str(error), retry_after=1, retryable=True)
    if isinstance(error, asyncpg.QueryCanceledError):  # statement_timeout: the server is fine
        return Unavailable(SERVICE, "a statement took too long", retry_after=5)
    if isinstance(error, TimeoutError | OSError) or (
        isinstance(error, asyncpg.InterfaceError) and "closed" in str(error)
    ):
        reason = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    elif isinstance(
        error,
        asyncpg.PostgresConnectionError
        | asyncpg.exceptions.OperatorInterventionError
        | asyncpg.exceptions.InsufficientResourcesError,
    ):
        reason = str(error)
    else:
        return None
    if replica is not None:
        replica.failed(reason)
        return Unavailable(REPLICA, reason, retry_after=1)
    availability.failed(SERVICE, reason)
    return Unavailable(SERVICE, reason, retry_after=5)


@contextlib.contextmanager
def _failures_as_unavailable(engine: Engine) -> Iterator[None]:
    """Driver errors that mean "the database cannot answer now" become Unavailable; any other
    error (a bug, a constraint) goes on as it is. Inside a read transaction on the replica, an
    outage is the replica's."""
    current = engine.current_transaction.get() if isinstance(engine, PostgresEngine) else None
    replica = current.replica if isinstance(current, _ReplicaTransaction) else None
    try:
        yield
    except Unavailable:
        raise
    except Exception as error:
        failure = (
            _sqlite_failure(error)
            if isinstance(error, sqlite3.OperationalError)
            else _postgres_failure(error, replica)
            if isinstance(engine, PostgresEngine)
            else None
        )
        if failure is None:
            raise
        raise failure from error
    if replica is None:
        availability.answered(SERVICE)


class _FailuresAsUnavailable:
    """An engine whose queries answer Unavailable when the database cannot answer now."""

    async def run_querystring(self, *args: Any, **kwargs: Any) -> Any:
        with _failures_as_unavailable(self):
            return await super().run_querystring(*args, **kwargs)

    async def run_ddl(self, *args: Any, **kwargs: Any) -> Any:
        with _failures_as_unavailable(self):
            return await super().run_ddl(*args, **kwargs)


# --- SQLite -----------------------------------------------------------------------------------


class _LentConnection(aiosqlite.Connection):
    """An aiosqlite connection its engine lends again: Piccolo closes the connection it used
    for a query or a transaction, and closing this one gives it back."""

    def __init__(self, engine: PortalSQLiteEngine) -> None:
        connect = partial(sqlite3.connect, **engine.connection_kwargs, check_same_thread=False)
        super().__init__(connect, iter_chunk_size=64)
        self.engine = engine
        self.generation = engine.generation
        self.opened = time.monotonic()
        # A mark for each trip to the connection's thread, taken off by the thread when the
        # trip's work is done (that of a cancelled caller may still be running): the
        # connection is used on the event loop's thread only while there is none.
        self.trips: deque[None] = deque()
        # The transaction has run nothing in the thread since it began: it has only read,
        # here, and its COMMIT or ROLLBACK has nothing to wait for either.
        self.only_read_here = False

    async def close(self) -> None:
        await self.engine.take_back(self)

    async def discard(self) -> None:
        await super().close()

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Every trip to the connection's thread, through the engine's few slots."""
        self.only_read_here = False

        def trip(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            finally:
                self.trips.pop()

        async with self.engine.statement_slot():
            self.trips.append(None)
            return await super()._execute(trip, *args, **kwargs)

    @aiosqlite_context.contextmanager
    async def execute_fetchall(self, sql: str, parameters: Sequence[Any] | None = None) -> Any:
        if not self.trips and _reads(sql) and self.engine.reads_quickly(sql):
            rows = self._read_here(sql, [] if parameters is None else parameters)
            if rows is not None:
                return rows
        return await super().execute_fetchall(sql, parameters)

    def _read_here(self, sql: str, parameters: Sequence[Any]) -> list | None:
        """The rows of a read run on this thread; None when it is for the connection's thread
        after all: it ran out of time (interrupted), or the file was busy (a read waits for
        no lock here)."""
        self.wait_for_locks(0)
        connection = self._conn
        deadline = time.perf_counter() + SQLITE_READ_HERE_SECONDS
        connection.set_progress_handler(
            lambda: time.perf_counter() > deadline, _STEPS_BETWEEN_CLOCK_LOOKS
        )
        try:
            return connection.execute(sql, parameters).fetchall()
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode == sqlite3.SQLITE_INTERRUPT:
                self.engine.read_slowly(sql)
                return None
            if error.sqlite_errorcode & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                return None
            raise
        finally:
            connection.set_progress_handler(None, 0)
            self.wait_for_locks(self.engine.wait_seconds)

    def wait_for_locks(self, seconds: float) -> None:
        """The busy timeout, set on this thread: only while the connection's thread is idle."""
        self._conn.execute(f"PRAGMA busy_timeout = {int(seconds * 1000)}")

    async def begin_reading(self) -> None:
        """BEGIN DEFERRED takes no lock yet: here when the connection's thread is idle."""
        if self.trips:
            await self.execute("BEGIN DEFERRED")
            return
        self._conn.execute("BEGIN DEFERRED")
        self.only_read_here = True

    async def end_transaction(self, verb: str) -> None:
        """COMMIT or ROLLBACK; here when the transaction only read, here."""
        if self.only_read_here and not self.trips:
            self._conn.execute(verb)
            self.only_read_here = False
            return
        await self.execute(verb)


class _SQLiteTransaction(SQLiteTransaction):
    """A write transaction (IMMEDIATE) first passes the engine's gate, then waits for the
    file's write lock for what is left of PORTAL_DB_WAIT_SECONDS."""

    __slots__ = ("gated",)

    async def __aenter__(self) -> SQLiteTransaction:
        if self._parent is not None:
            return self._parent
        self.gated = False
        self.connection = await self.engine.get_connection()
        try:
            with _failures_as_unavailable(self.engine):
                await self.begin()
        except BaseException:
            await self._done()
            raise
        self.context = self.engine.current_transaction.set(self)
        return self

    async def begin(self) -> None:
        if self.transaction_type is TransactionType.deferred:
            await self.connection.begin_reading()
            return
        remaining = await self.engine.pass_gate()
        self.gated = True
        await self.connection.execute(f"PRAGMA busy_timeout = {int(remaining * 1000)}")
        await self.connection.execute(f"BEGIN {self.transaction_type.value}")

    async def commit(self) -> None:
        await self.connection.end_transaction("COMMIT")
        self._committed = True

    async def rollback(self) -> None:
        await self.connection.end_transaction("ROLLBACK")
        self._rolled_back = True

    async def __aexit__(self, exception_type, exception, traceback) -> bool:
        if self._parent:
            return exception is None
        try:
            with _failures_as_unavailable(self.engine):
                if exception is not None:
                    if not self._rolled_back:
                        await self.rollback()
                elif not self._committed and not self._rolled_back:
                    await self.commit()
        finally:
            await self._done()
            self.engine.current_transaction.reset(self.context)
        return exception is None

    async def _done(self) -> None:
        try:
            if self.gated and not self.connection.trips:
                # The wait left to this writer is not the next user's: back to the whole wait.
                self.connection.wait_for_locks(self.engine.wait_seconds)
            await self.connection.close()  # back to the pool (rolled back if left open)
        finally:
            if self.gated:
                self.gated = False
                self.engine.leave_gate()


class PortalSQLiteEngine(_FailuresAsUnavailable, SQLiteEngine):
    """Piccolo's SQLite engine, with lent connections and the writers' gate."""

    def __init__(self, path: str, wait_seconds: float) -> None:
        # `timeout` is sqlite3's busy timeout for statements outside a write transaction.
        super().__init__(path=path, timeout=wait_seconds)
        self.wait_seconds = wait_seconds
        self.idle: list[_LentConnection] | None = None  # None: not lending (before start())
        self.generation = 0  # connections of an older generation are not lent again
        self._gate: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None
        self._slots: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = None
        self.slow_reads: dict[str, float] = {}  # read → until when it runs in a thread

    # -- the writers' gate --

    def _gate_lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self._gate is None or self._gate[0] is not loop:
            self._gate = (loop, asyncio.Lock())  # asyncio.Lock wakes its waiters in order
        return self._gate[1]

    def statement_slot(self) -> asyncio.Semaphore:
        """Held for one trip to a connection's thread (SQLITE_STATEMENTS_AT_ONCE at most);
        never across anything else, so a trip never waits for a slot another trip holds."""
        loop = asyncio.get_running_loop()
        if self._slots is None or self._slots[0] is not loop:
            self._slots = (loop, asyncio.Semaphore(SQLITE_STATEMENTS_AT_ONCE))
        return self._slots[1]

    async def pass_gate(self) -> float:
        """Waits for this process's turn to write; returns the seconds left to wait for the
        file's lock. Unavailable when the turn does not come in time."""
        started = time.monotonic()
        try:
            await asyncio.wait_for(self._gate_lock().acquire(), self.wait_seconds)
        except TimeoutError:
            raise Unavailable(SERVICE, "too many writers are waiting", retry_after=2) from None
        return max(0.05, self.wait_seconds - (time.monotonic() - started))

    def leave_gate(self) -> None:
        self._gate_lock().release()

    @contextlib.asynccontextmanager
    async def _gate_held(self) -> AsyncIterator[None]:
        await self.pass_gate()
        try:
            yield
        finally:
            self.leave_gate()

    # -- connections --

    async def get_connection(self) -> _LentConnection:
        if self.idle:
            return self.idle.pop()
        connection = _LentConnection(self)
        with _failures_as_unavailable(self):
            await connection
            await connection.execute("PRAGMA foreign_keys = 1")
            await connection.execute(f"PRAGMA cache_size = -{SQLITE_PAGE_CACHE_KIB}")
            await connection.create_function("sha256_hex", 1, _sha256_hex, deterministic=True)
        connection.row_factory = dict_factory
        return connection

    async def take_back(self, connection: _LentConnection) -> None:
        if connection.trips:
            # A cancelled caller's statement still runs in the thread (a BEGIN IMMEDIATE
            # waiting for the file's lock, say): what it leaves behind must not be lent.
            await connection.discard()
            return
        try:
            if connection.in_transaction:  # left open by an error: nothing of it is kept
                await connection.rollback()
        except BaseException:
            await connection.discard()
            raise
        if (
            self.idle is not None
            and len(self.idle) < SQLITE_IDLE_CONNECTIONS
            and connection.generation == self.generation
            and time.monotonic() - connection.opened < SQLITE_CONNECTION_SECONDS
        ):
            self.idle.append(connection)
        else:
            await connection.discard()

    async def renew(self) -> None:
        """Connections opened from now on replace the ones open now (after ANALYZE)."""
        self.generation += 1
        idle, self.idle = self.idle or [], [] if self.idle is not None else None
        for connection in idle:
            await connection.discard()

    def start_lending(self) -> None:
        if self.idle is None:
            self.idle = []

    async def stop_lending(self) -> None:
        idle, self.idle = self.idle or [], None
        for connection in idle:
            await connection.discard()  # their threads would keep the process from ending

    # -- queries --

    def reads_quickly(self, sql: str) -> bool:
        """Whether the read may run on the event loop's thread (see SQLITE_READ_HERE_SECONDS)."""
        until = self.slow_reads.get(sql)
        if until is None:
            return True
        if until > time.monotonic():
            return False
        del self.slow_reads[sql]
        return True

    def read_slowly(self, sql: str) -> None:
        if len(self.slow_reads) >= SQLITE_SLOW_READS_KEPT:
            del self.slow_reads[next(iter(self.slow_reads))]
        self.slow_reads[sql] = time.monotonic() + SQLITE_SLOW_READ_SECONDS

    def transaction(
        self,
        transaction_type: TransactionType = TransactionType.deferred,
        allow_nested: bool = True,
    ) -> SQLiteTransaction:
        return _SQLiteTransaction(
            engine=self, transaction_type=transaction_type, allow_nested=allow_nested
        )

    async def _run_in_new_connection(
        self, query: str, args: list[Any] | None = None, query_type: str = "generic", table=None
    ) -> Any:
        writes = query_type in {"insert", "update", "delete"} or _writes(query)
        async with self._gate_held() if writes else contextlib.nullcontext():
            connection = await self.get_connection()
            try:
                rows = await connection.execute_fetchall(query, args or [])
                if connection.in_transaction:  # sqlite3 opened one for the write
                    await connection.commit()
            except BaseException:
                # Also when cancelled: the statement may still be running in the connection's
                # thread, and must not be committed by whoever is lent the connection next.
                await connection.discard()
                raise
            await connection.close()
        return rows

    async def _run_in_existing_connection(
        self, connection, query: str, args=None, query_type: str = "generic", table=None
    ) -> Any:
        # Piccolo sets foreign_keys before every statement; a lent connection has it already.
        # One trip to the connection's thread for the statement and its rows.
        return await connection.execute_fetchall(query, args or [])


def _sha256_hex(text: str | None) -> str | None:
    return None if text is None else hashlib.sha256(text.encode()).hexdigest()


def dict_factory(cursor: sqlite3.Cursor, row: tuple) -> dict:
    return {column[0]: row[index] for index, column in enumerate(cursor.description)}


def _reads(sql: str) -> bool:
    words = sql.lstrip(" (\n").split(None, 1)
    return bool(words) and words[0].upper() in ("SELECT", "WITH") and not _writes(sql)


def _writes(sql: str) -> bool:
    words = sql.lstrip(" (\n").split(None, 1)
    first = words[0].upper() if words else ""
    if first == "WITH":
        return any(verb in sql.upper() for verb in _WRITE_VERBS[:4])
    return first in _WRITE_VERBS


# --- PostgreSQL -------------------------------------------------------------------------------

# asyncpg prepares each statement, and after five runs PostgreSQL may keep one generic plan for
# all values. That is what the fixed lookups of every request want (the session, the guard, a
# profile's widgets: planned once, not on every run), but not Browse and search, whose best plans
# depend on the values (a tab of 2% or 88% of the clients, a rare word or a common one): the
# snapshot transactions they read in plan each statement for its values (see bench/RESULTS.md).
PLAN_FOR_VALUES = "SET LOCAL plan_cache_mode = force_custom_plan"


async def _keep_session_state(connection: Any) -> None:
    """What a connection going back to the pool needs beyond asyncpg's own clean-up (an open
    transaction rolled back, listeners dropped): nothing. asyncpg's default sends
    `pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL` on every release (a round trip
    each: three on an admin page) for state the portal never leaves on a connection: its
    settings are the connection's startup parameters, its advisory locks end with their
    transaction, and it declares no cursors and listens to nothing
    (test_connections_go_back_to_the_pool_as_they_came checks each)."""


class _PostgresTransaction(PostgresTransaction):
    async def __aenter__(self) -> PostgresTransaction:
        with _failures_as_unavailable(self.engine):
            try:
                return await super().__aenter__()
            except BaseException:
                # BEGIN failed or was cancelled, perhaps after the server began the transaction:
                # no __aexit__ will give the connection back, and it would stay checked out,
                # idle in its transaction, for good. Closed, the pool replaces it.
                connection = getattr(self, "connection", None)
                if self._parent is None and connection is not None:
                    connection.terminate()
                    if self.engine.pool is not None:
                        await self.engine.pool.release(connection)
                raise

    async def get_connection(self):
        if self.engine.pool:
            return await self.engine.pool.acquire(timeout=self.engine.wait_seconds)
        return await self.engine.get_new_connection()

    async def __aexit__(self, exception_type, exception, traceback) -> bool:
        with _failures_as_unavailable(self.engine):
            return await super().__aexit__(exception_type, exception, traceback)


class PortalPostgresEngine(_FailuresAsUnavailable, PostgresEngine):
    """Piccolo's PostgreSQL engine, with a timeout on every wait."""

    def __init__(self, dsn: str, wait_seconds: float, statement_seconds: float) -> None:
        super().__init__(config={"dsn": dsn, "timeout": wait_seconds})  # timeout: connecting
        self.wait_seconds = wait_seconds
        self.statement_seconds = statement_seconds

    async def start_connection_pool(self, bounded: bool = True, **kwargs: Any) -> None:
        """`bounded`: every statement ends after PORTAL_DB_STATEMENT_SECONDS (the server
        stops it; asyncpg gives up a little later if the server does not answer at all)."""
        if bounded:
            kwargs["server_settings"] = {
                "statement_timeout": str(int(self.statement_seconds * 1000)),
                # A GIN index (the search's trigrams) keeps new entries in a pending list that
                # every search reads through until it is merged: while serving it is merged
                # at 256 kB rather than PostgreSQL's 4 MB. Bulk loads (maintenance commands)
                # keep the larger list, quicker to fill, and merge it when they analyze.
                "gin_pending_list_limit": "256",
            }
            kwargs["command_timeout"] = self.statement_seconds + 2
        kwargs["reset"] = _keep_session_state
        with _failures_as_unavailable(self):
            await super().start_connection_pool(**kwargs)

    def transaction(self, allow_nested: bool = True) -> PostgresTransaction:
        return _PostgresTransaction(engine=self, allow_nested=allow_nested)

    async def _run_in_pool(self, query: str, args: Sequence[Any] | None = None):
        async with self.pool.acquire(timeout=self.wait_seconds) as connection:
            return await connection.fetch(query, *(args or []))


# --- the read replica -------------------------------------------------------------------------

REPLICA = "The read replica"
# After the replica failed to answer, reads go to the primary this long before it is tried again.
REPLICA_RETRY_SECONDS = 5.0
# How often, at most, a process measures how far the replica is behind the primary.
REPLICA_CHECK_SECONDS = 1.0
# The longest a read waits to connect to the replica, or for a connection of its pool, before
# it goes to the primary instead.
REPLICA_WAIT_SECONDS = 2.0
# A writer's mark older than the longest lag allowed plus this is dropped: by then the replica
# has replayed the write, or it lags too much and every read goes to the primary anyway.
MARK_SLACK_SECONDS = 5.0
# In a session: [the primary's WAL position after the session's last write, time.time() then].
WROTE_KEY = "_wrote_lsn"
# API requests (no session): the same mark per key, in this process, for this many keys.
MARKED_KEYS = 10_000
_NEVER = "FFFFFFFF/FFFFFFFF"  # the WAL position no replica reaches: the primary, until expiry

_log = logging.getLogger("portal.availability")


def _lsn(text: str | None) -> int | None:
    """A WAL position (`16/B374D848`) as a number, for comparing."""
    if not text:
        return None
    high, low = text.split("/")
    return int(high, 16) << 32 | int(low, 16)


class Writes:
    """What the current writer (a request's session or API key; a background task) wrote that
    a replica may not show yet."""

    __slots__ = ("at", "lsn", "wrote")

    def __init__(self, lsn: int | None = None, at: float = 0.0) -> None:
        self.lsn = lsn  # the primary's WAL position after an earlier request's writes
        self.at = at  # time.time() of that
        self.wrote = False  # this request (or task) has written: its reads go to the primary


_writer: contextvars.ContextVar[Writes | None] = contextvars.ContextVar(
    "portal_writes", default=None
)


def _wrote() -> None:
    """A write transaction committed: the reads that follow in this request (task) see it."""
    if _replica is None:
        return
    state = _writer.get()
    if state is None:  # a background task: its later reads go to the primary
        _writer.set(state := Writes())
    state.wrote = True


class _Replica:
    """The replica's pool and what this process knows of the replica: whether it answers, how
    far it has replayed the primary's WAL, how far behind it is."""

    def __init__(self, engine: PortalPostgresEngine, max_lag: float) -> None:
        self.engine = engine
        self.max_lag = max_lag
        self.down_until = 0.0  # monotonic; reads go to the primary until then
        self.down_since: float | None = None
        self.lagging = False
        self.replayed = 0  # the replica's replay position, when last read
        # (when, the primary's position then) for positions the replica has not replayed yet.
        self.behind: deque[tuple[float, int]] = deque(maxlen=3600)
        self.checked = 0.0
        self.checking = False

    def failed(self, reason: str) -> None:
        now = time.monotonic()
        self.down_until = now + REPLICA_RETRY_SECONDS
        if self.down_since is None:
            self.down_since = now
            _log.error("%s is not answering (%s); reads go to the primary", REPLICA, reason)

    def answered(self) -> None:
        if self.down_since is not None:
            _log.warning(
                "%s answers again, after %.1f s", REPLICA, time.monotonic() - self.down_since
            )
            self.down_since = None

    def saw_replayed(self, position: int) -> None:
        self.replayed = max(self.replayed, position)
        while self.behind and self.behind[0][1] <= self.replayed:
            self.behind.popleft()

    async def check(self) -> None:
        """Measures, once a REPLICA_CHECK_SECONDS at most, the replica's lag: how long ago the
        primary was at the oldest position sampled that the replica has not replayed yet."""
        now = time.monotonic()
        if self.checking or now - self.checked < REPLICA_CHECK_SECONDS:
            return
        self.checking, self.checked = True, now
        try:
            try:
                primary = await _primary_lsn()
            except Exception:  # noqa: BLE001 - the primary's outage is its reads' to report
                return
            try:
                async with self.engine.pool.acquire(timeout=self.engine.wait_seconds) as connection:
                    text = await connection.fetchval("SELECT pg_last_wal_replay_lsn()::text")
            except Exception as error:  # noqa: BLE001 - whatever it is, the primary serves
                self.failed(_reason(error))
                return
            if text is None:
                self.failed("not a standby: pg_last_wal_replay_lsn() is null")
                return
            self.answered()
            if not self.behind or primary > self.behind[-1][1]:
                self.behind.append((now, primary))
            self.saw_replayed(_lsn(text) or 0)
            lag = now - self.behind[0][0] if self.behind else 0.0
            if lag > self.max_lag and not self.lagging:
                self.lagging = True
                _log.error("%s is %.0f s behind the primary; reads go to the primary", REPLICA, lag)
            elif lag <= self.max_lag and self.lagging:
                self.lagging = False
                _log.warning("%s has caught up with the primary", REPLICA)
        finally:
            self.checking = False


_replica: _Replica | None = None


def _reason(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


async def _primary_lsn() -> int:
    db = engine()
    async with db.pool.acquire(timeout=db.wait_seconds) as connection:
        return _lsn(await connection.fetchval("SELECT pg_current_wal_lsn()::text")) or 0


class _ReplicaTransaction(PostgresTransaction):
    """A read-only transaction on a connection of the replica's pool, set as the primary
    engine's current transaction: Piccolo runs the queries made inside it on its connection."""

    def __init__(self, db: PostgresEngine, replica: _Replica, connection, isolation: str) -> None:
        super().__init__(engine=db)
        self.replica = replica
        self.connection = connection
        self.isolation = isolation
        self.transaction = connection.transaction(isolation=isolation, readonly=True)

    async def start(self) -> None:
        await self.transaction.start()
        if self.isolation == "repeatable_read":  # a snapshot_transaction
            await self.connection.execute(PLAN_FOR_VALUES)
        self.context = self.engine.current_transaction.set(self)

    async def __aenter__(self) -> PostgresTransaction:
        return self  # started by _replica_transaction

    async def __aexit__(self, exception_type, exception, traceback) -> bool:
        try:
            with _failures_as_unavailable(self.engine):
                if exception is None:
                    await self.transaction.commit()
                else:
                    await self.transaction.rollback()
        finally:
            self.engine.current_transaction.reset(self.context)
            with contextlib.suppress(Exception):  # a broken connection is closed by the pool
                await self.replica.engine.pool.release(self.connection)
        return False


async def _replica_transaction(db: PostgresEngine, isolation: str) -> _ReplicaTransaction | None:
    """A started read transaction on the replica, or None when the read belongs on the primary:
    no replica, this request has written, the replica has not yet replayed the writer's last
    write, lags too much, or does not answer."""
    replica = _replica
    if replica is None or replica.engine.pool is None or db.current_transaction.get() is not None:
        return None
    state = _writer.get()
    if state is not None and state.wrote:
        return None
    if time.monotonic() < replica.down_until:
        return None
    await replica.check()
    if replica.lagging or time.monotonic() < replica.down_until:
        return None
    needed = None
    if state is not None and state.lsn is not None:
        if time.time() - state.at < replica.max_lag + MARK_SLACK_SECONDS:
            needed = state.lsn if state.lsn > replica.replayed else None
    connection = None
    try:
        connection = await replica.engine.pool.acquire(timeout=replica.engine.wait_seconds)
        if needed is not None:
            text = await connection.fetchval("SELECT pg_last_wal_replay_lsn()::text")
            replica.saw_replayed(_lsn(text) or 0)
            if replica.replayed < needed:
                await replica.engine.pool.release(connection)
                return None
        transaction = _ReplicaTransaction(db, replica, connection, isolation)
        await transaction.start()
    except BaseException as error:
        if connection is not None:
            with contextlib.suppress(Exception):
                await replica.engine.pool.release(connection)
        if not isinstance(error, Exception):
            raise
        replica.failed(_reason(error))
        return None
    replica.answered()
    return transaction


def _marker_key(scope: Any) -> str | None:
    """The API key of a request without a session (its Authorization header), hashed."""
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            return hashlib.sha256(value).hexdigest()
    return None


_marked_keys: dict[str, tuple[str, float]] = {}


async def _mark(scope: Any, key: str | None) -> None:
    """After a request that wrote: the primary's WAL position now, in its session (when it has
    one) or beside its API key, for the reads of the writer's next requests."""
    try:
        position = await _primary_lsn()
        lsn = f"{position >> 32:X}/{position & 0xFFFFFFFF:X}"
    except Exception:  # noqa: BLE001 - then the primary, until the mark expires
        lsn = _NEVER
    session = scope.get("session")
    if isinstance(session, dict) and session:
        session[WROTE_KEY] = [lsn, time.time()]
    elif key is not None:
        _marked_keys.pop(key, None)
        _marked_keys[key] = (lsn, time.time())
        while len(_marked_keys) > MARKED_KEYS:
            del _marked_keys[next(iter(_marked_keys))]


def read_your_writes(app: Any) -> Any:
    """ASGI middleware, inside the session middleware: a request's reads know what its writer
    (the session, or the API key) wrote in an earlier request, and a request that writes leaves
    its mark (see `Writes`). Does nothing without a replica."""

    async def middleware(scope: Any, receive: Any, send: Any) -> None:
        if _replica is None or scope["type"] != "http":
            await app(scope, receive, send)
            return
        session = scope.get("session")
        key = None if isinstance(session, dict) else _marker_key(scope)
        mark = session.get(WROTE_KEY) if isinstance(session, dict) else _marked_keys.get(key or "")
        state = Writes()
        with contextlib.suppress(TypeError, ValueError, AttributeError):
            lsn, at = mark  # type: ignore[misc]
            state = Writes(_lsn(lsn), float(at))

        async def send_marking(message: Any) -> None:
            if message["type"] == "http.response.start" and state.wrote:
                await _mark(scope, key)
            await send(message)

        token = _writer.set(state)
        try:
            await app(scope, receive, send_marking)
        finally:
            _writer.reset(token)

    return middleware


async def _start_replica(settings: Any, pool_size: int) -> None:
    global _replica
    if settings.replica is None or _replica is not None:
        return
    replica_engine = PortalPostgresEngine(
        dsn=settings.replica.dsn,
        wait_seconds=min(REPLICA_WAIT_SECONDS, settings.db_wait_seconds),
        statement_seconds=settings.db_statement_seconds,
    )
    # min_size=0: nothing connects yet, so a replica that is down does not stop the start.
    await replica_engine.start_connection_pool(bounded=True, min_size=0, max_size=pool_size)
    _replica = _Replica(replica_engine, settings.replica_max_lag_seconds)


async def _stop_replica() -> None:
    global _replica
    replica, _replica = _replica, None
    if replica is not None and replica.engine.pool is not None:
        await _close_pool(replica.engine)


async def _close_pool(db: PostgresEngine) -> None:
    """Closes the pool, waiting for connections in use PORTAL_DB_WAIT_SECONDS at most: one that
    is never given back (a bug) must not keep the process from stopping."""
    pool, db.pool = db.pool, None
    try:
        await asyncio.wait_for(pool.close(), db.wait_seconds)
    except TimeoutError:
        _log.warning("database connections still in use at shutdown were closed")
        pool.terminate()


# --- the engine of this install ---------------------------------------------------------------


def create_engine(database: DatabaseURL | None = None) -> Engine:
    settings = get_settings()
    database = database or settings.database
    if database.engine == "sqlite":
        return PortalSQLiteEngine(path=database.path, wait_seconds=settings.db_wait_seconds)
    return PortalPostgresEngine(
        dsn=database.dsn,
        wait_seconds=settings.db_wait_seconds,
        statement_seconds=settings.db_statement_seconds,
    )


def engine() -> Engine:
    from piccolo.engine.finder import engine_finder

    found = engine_finder()
    assert found is not None, "piccolo_conf.DB is missing"
    return found


def is_sqlite() -> bool:
    return isinstance(engine(), SQLiteEngine)


async def start(bounded: bool = True) -> None:
    """Opens the pool (PostgreSQL) or starts lending connections (SQLite). `bounded`: requests
    are served, every statement has a time limit; maintenance commands (migrations, demo data,
    reindexing) pass False."""
    db = engine()
    if isinstance(db, PortalPostgresEngine):
        # No floor of open connections: during an outage asyncpg would otherwise retry to
        # restore it in the background, logging a traceback each time.
        pool_size = int(os.environ.get("PORTAL_DB_POOL", 20))
        await db.start_connection_pool(bounded=bounded, min_size=0, max_size=pool_size)
        if bounded:  # maintenance commands read what they write: the primary only
            await _start_replica(get_settings(), pool_size)
    elif isinstance(db, PortalSQLiteEngine):
        db.start_lending()


async def stop() -> None:
    await _stop_replica()
    db = engine()
    if isinstance(db, PostgresEngine) and db.pool is not None:
        await _close_pool(db)
    elif isinstance(db, PortalSQLiteEngine):
        await db.stop_lending()


# --- transactions -----------------------------------------------------------------------------

_before_commit: list[Callable[[], Awaitable[None]]] = []


def before_commit(hook: Callable[[], Awaitable[None]]) -> None:
    """Registers work every write transaction does last, before it commits: bringing derived
    data (e.g. search documents) up to date with what the transaction wrote."""
    if hook not in _before_commit:
        _before_commit.append(hook)


class _WriteAttempt:
    """One run of a write transaction's body (see write_transactions)."""

    def __init__(self, attempts: _WriteAttempts) -> None:
        self.attempts = attempts
        self.transaction: Any = None

    async def __aenter__(self) -> Any:
        db = engine()
        current = db.current_transaction.get()
        if isinstance(db, SQLiteEngine):
            if current is not None and current.transaction_type is TransactionType.deferred:
                # SQLite cannot wait for the write lock inside a read transaction.
                raise RuntimeError("A write transaction cannot start inside a read transaction.")
            self.transaction = db.transaction(transaction_type=TransactionType.immediate)
        else:
            if isinstance(current, _ReplicaTransaction):
                raise RuntimeError("A write transaction cannot start inside a read transaction.")
            self.transaction = db.transaction()
        return await self.transaction.__aenter__()

    async def __aexit__(self, exception_type, exception, traceback) -> bool:
        nested = self.transaction._parent is not None
        failure = exception
        if failure is None and not nested:
            try:
                for hook in _before_commit:
                    await hook()
            except BaseException as error:  # noqa: BLE001 - rolled back, then raised
                failure = error
        try:
            await self.transaction.__aexit__(
                type(failure) if failure else None, failure, failure and failure.__traceback__
            )
        except BaseException as error:  # the commit (or rollback) itself failed
            failure = failure or error
        if failure is None:
            self.attempts.done = True
            if not nested:
                _wrote()
            return False
        if nested:
            self.attempts.done = True
        elif _referred_to_a_missing_row(failure):
            # The services check what a write refers to before writing; a reference that
            # fails anyway was deleted meanwhile by another writer (a client deleted while a
            # note was being added): what was written to is gone.
            raise NotFound() from failure
        elif isinstance(failure, Unavailable) and failure.retryable:
            if self.attempts.number < WRITE_ATTEMPTS:
                return True  # rolled back: the body runs again
            raise Unavailable(
                SERVICE, "this change kept meeting other writers'", retry_after=1
            ) from failure
        if failure is exception:
            return False
        raise failure


class _WriteAttempts:
    def __init__(self) -> None:
        self.number = 0
        self.done = False

    def __aiter__(self) -> _WriteAttempts:
        return self

    async def __anext__(self) -> _WriteAttempt:
        if self.done:
            raise StopAsyncIteration
        if self.number:  # after a deadlock: let the other writer finish first
            await asyncio.sleep(random.uniform(0.005, 0.02) * self.number)  # noqa: S311
        self.number += 1
        return _WriteAttempt(self)


def write_transactions() -> _WriteAttempts:
    """A transaction that will write, as a loop that runs its body until it commits:

        async for transaction in write_transactions():
            async with transaction:
                ...

    The body runs once, unless PostgreSQL rolled it back for a deadlock or a serialization
    failure: then it runs again, up to WRITE_ATTEMPTS times, and then raises Unavailable. So a
    body does nothing but database work (no mail, no hashing). On SQLite it takes the write
    lock at BEGIN (IMMEDIATE), after the writers' gate. Inside another write transaction it is
    that transaction. The hooks of `before_commit` run at the end of the outermost one. A
    foreign key that fails (what the write refers to was deleted meanwhile) raises NotFound."""
    return _WriteAttempts()


async def refresh_derived_data() -> None:
    """Runs the `before_commit` hooks in a write transaction of their own: what writes made
    around the portal (SQL in a shell, a migration) queued is brought up to date."""
    async for transaction in write_transactions():
        async with transaction:
            pass


@contextlib.asynccontextmanager
async def read_transaction(replica: bool = True) -> AsyncIterator[None]:
    """Groups a page's reads on one connection (on SQLite each query otherwise opens its own).
    Nothing in it may write. With a replica it runs there (read only), unless the reads belong
    on the primary (see `_replica_transaction`); `replica=False`: on the primary always (reads
    that must see every commit at once, e.g. whether an API key is revoked)."""
    db = engine()
    transaction = await _replica_transaction(db, "read_committed") if replica else None
    async with transaction or db.transaction():
        yield


@contextlib.asynccontextmanager
async def snapshot_transaction() -> AsyncIterator[None]:
    """A read-only transaction whose reads all see the database as it was at the first one, so
    that what a page reads in several statements (Browse's counts and its rows) agrees while
    writers commit in between. SQLite's read transactions are such snapshots already;
    PostgreSQL's default isolation (READ COMMITTED) shows each statement what was committed
    before it, so the transaction asks for REPEATABLE READ. Inside another transaction it is
    that transaction, with its isolation. With a replica it runs there, as read_transaction."""
    db = engine()
    if (replica := await _replica_transaction(db, "repeatable_read")) is not None:
        async with replica:
            yield
        return
    outermost = db.current_transaction.get() is None
    async with db.transaction() as transaction:
        if outermost and isinstance(db, PostgresEngine):
            await transaction.connection.execute(
                f"SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY; {PLAN_FOR_VALUES}"
            )
        yield


# --- what differs between the engines, by name ------------------------------------------------


def locked(query: Query, mode: str = "UPDATE") -> Query:
    """`query` (a select) locking the rows it reads until commit, on PostgreSQL (FOR `mode`:
    UPDATE, NO KEY UPDATE, SHARE, KEY SHARE). SQLite's write transaction excludes every other
    writer already."""
    return query if is_sqlite() else query.lock_rows(mode)


async def lock_name(name: str) -> None:
    """Inside a write transaction: waits for, and holds until commit, a lock named `name`, so
    that what the transaction decides about that name (a count, then an insert) is decided one
    transaction at a time. PostgreSQL: an advisory lock; SQLite's write transaction already
    excludes every other writer."""
    if not is_sqlite():
        await Table.raw("SELECT pg_advisory_xact_lock(hashtext({}))", name)


def skip_locked() -> str:
    """The end of a subquery that claims rows: on PostgreSQL, rows another transaction holds
    are passed over (FOR UPDATE SKIP LOCKED); SQLite has one writer at a time anyway."""
    return "" if is_sqlite() else " FOR UPDATE SKIP LOCKED"


async def lock_table(table_name: str, mode: str) -> None:
    """A PostgreSQL table lock (`mode`, e.g. EXCLUSIVE) until commit, inside a write
    transaction; SQLite's IMMEDIATE transaction already excludes every other writer."""
    if not is_sqlite():
        await engine().run_ddl(f'LOCK TABLE "{table_name}" IN {mode} MODE')


async def lock_for_insert(table_name: str) -> None:
    """Serialises check-then-insert sequences on `table_name` inside a write transaction."""
    await lock_table(table_name, "SHARE ROW EXCLUSIVE")


def month_of(column: str) -> str:
    """SQL of the first day of the month (UTC) of the timestamp `column`, as a date."""
    if is_sqlite():
        return f"date({column}, 'start of month')"
    return f"date_trunc('month', {column} AT TIME ZONE 'UTC')::date"


def sha256_hex(expression: str) -> str:
    """SQL of the hex SHA-256 of the text `expression` (of its UTF-8 bytes), equal to Python's
    `hashlib.sha256(text.encode()).hexdigest()`: PostgreSQL's own sha256(), and on SQLite a
    function every connection of the engine is given."""
    if is_sqlite():
        return f"sha256_hex({expression})"
    return f"encode(sha256(convert_to({expression}, 'UTF8')), 'hex')"


def _referred_to_a_missing_row(error: BaseException) -> bool:
    """A foreign key failed because the row it names is not there. PostgreSQL tells that apart
    from a row still referred to (a delete the key restricts); SQLite does not, but its one
    writer at a time leaves no delete to meet a concurrent reference."""
    if isinstance(error, asyncpg.ForeignKeyViolationError):
        return "is not present in table" in (error.detail or "")
    return isinstance(error, sqlite3.IntegrityError) and "FOREIGN KEY constraint failed" in str(
        error
    )


def violated_unique_index(error: BaseException) -> str | None:
    """The name of the unique index (or column) a failed insert/update ran into, on either engine,
    or None when `error` is not a uniqueness violation."""
    if isinstance(error, asyncpg.UniqueViolationError):
        return error.constraint_name
    if isinstance(error, sqlite3.IntegrityError) and "UNIQUE constraint failed" in str(error):
        detail = str(error).split("UNIQUE constraint failed:", 1)[1].strip()
        return detail.removeprefix("index ").strip("'")
    return None


async def copy_rows(table: type[Table], columns: Sequence[Column], rows: list[tuple]) -> None:
    """Rows straight to the driver on the write transaction's own connection: executemany on
    SQLite, COPY on PostgreSQL; for bulk loads, where building Piccolo's query strings would
    cost more than the inserts themselves."""
    if not rows:
        return
    db = engine()
    transaction = db.current_transaction.get()
    assert transaction is not None, "call inside a write transaction"
    names = [column._meta.db_column_name for column in columns]
    tablename = table._meta.tablename
    if isinstance(db, SQLiteEngine):
        quoted = ", ".join(f'"{name}"' for name in names)
        marks = ", ".join("?" * len(names))
        # Names from the table class; the values travel as parameters.
        statement = f"INSERT INTO {tablename} ({quoted}) VALUES ({marks})"  # noqa: S608
        await transaction.connection.executemany(statement, rows)
    else:
        await transaction.connection.copy_records_to_table(tablename, records=rows, columns=names)


async def insert_rows(
    table: type[Table],
    columns: Sequence[Column],
    rows: list[tuple],
    returning: Column | None = None,
) -> list[dict[str, Any]]:
    """Multi-row INSERTs with as many rows per statement as the parameter limit allows, and the
    new IDs (plus `returning`) when asked for. Built as raw SQL because `Table.insert` builds a
    Table object and a query fragment per row: about 3.5 times slower at this volume."""
    names = ", ".join(f'"{column._meta.db_column_name}"' for column in columns)
    row = f"({placeholders(len(columns))})"
    tail = f' RETURNING id, "{returning._meta.db_column_name}"' if returning else ""
    per_statement = MAX_INSERT_PARAMETERS // len(columns)
    inserted: list[dict[str, Any]] = []
    for start in range(0, len(rows), per_statement):
        chunk = rows[start : start + per_statement]
        values = ", ".join([row] * len(chunk))
        inserted += await table.raw(
            # Names from the table class and placeholders: the values travel as parameters.
            f"INSERT INTO {table._meta.get_formatted_tablename()} ({names}) "  # noqa: S608
            f"VALUES {values}{tail}",
            *chain.from_iterable(chunk),
        )
    return inserted


async def analyze(*tables: str) -> None:
    """Fresh planner statistics for the tables a bulk writer has just filled, or for every
    table (PostgreSQL's autovacuum may be late or off; SQLite has none). Without them neither
    engine can tell that an index beats a scan. On PostgreSQL the tables' GIN indexes also
    merge their pending lists."""
    db = engine()
    for statement in [f'ANALYZE "{table}"' for table in tables] or ["ANALYZE"]:
        await db.run_ddl(statement)
    if isinstance(db, PortalSQLiteEngine):
        await db.renew()  # open connections keep the statistics they started with
        return
    # What the writer left in GIN indexes' pending lists would be read by every search. Only
    # an index's owner may merge it: the portal's own, not another application's in the same
    # database.
    await Table.raw(
        "SELECT gin_clean_pending_list(i.indexrelid) FROM pg_index i"
        " JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam"
        " WHERE a.amname = 'gin' AND pg_has_role(c.relowner, 'USAGE')"
        " AND ({} OR i.indrelid::regclass::text = ANY({}))",
        not tables,
        list(tables),
    )


async def optimize() -> None:
    """Housekeeping: SQLite's own `PRAGMA optimize` analyzes the tables whose statistics have
    gone stale (PostgreSQL's autovacuum does the same by itself)."""
    db = engine()
    if isinstance(db, PortalSQLiteEngine):
        await db.run_ddl("PRAGMA optimize")


# --- the file and the migrations --------------------------------------------------------------


def prepare_sqlite_file(path: str) -> None:
    """WAL lets readers go on while one writer writes; the mode is stored in the file."""
    with contextlib.closing(sqlite3.connect(path, timeout=5)) as connection:
        connection.execute("PRAGMA journal_mode=WAL")


async def migrate(verbose: bool = False) -> None:
    """Apply every pending migration of every app, in dependency order. Piccolo reports on
    stdout; that report is shown only when asked for or when a migration fails."""
    from piccolo.apps.migrations.commands.forwards import run_forwards

    db = engine()
    if isinstance(db, SQLiteEngine):
        prepare_sqlite_file(db.path)
    report = io.StringIO()
    with contextlib.redirect_stdout(sys.stdout if verbose else report):
        result = await run_forwards(app_name="all")
    if not result.success:
        raise RuntimeError(f"Migrations failed: {result.message}\n{report.getvalue()}")
