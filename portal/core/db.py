"""Database engine, transactions and migrations for SQLite and PostgreSQL alike."""

from __future__ import annotations

import contextlib
import io
import os
import sqlite3
import sys
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Any

import aiosqlite
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine, TransactionType

from portal.core.config import PROJECT_DIR, DatabaseURL, get_settings

# Piccolo apps in dependency order; each owns its tables and migrations.
APPS = [
    "portal.core.piccolo_app",
    "portal.companies.piccolo_app",
    "portal.staff.piccolo_app",
    "portal.client_groups.piccolo_app",
    "portal.clients.piccolo_app",
    "portal.billing.piccolo_app",
    "portal.mail.piccolo_app",
    "portal.client_area.piccolo_app",
    "portal.api.piccolo_app",
]
# Plugins' apps come last: they may depend on any core app, never the other way round.
from portal.plugins import piccolo_apps as _plugin_apps  # noqa: E402

APPS += _plugin_apps()

SQLITE_BUSY_TIMEOUT_SECONDS = 30

# Piccolo finds its configuration by importing `piccolo_conf`, which lives at the project root.
os.environ.setdefault("PICCOLO_CONF", "piccolo_conf")
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))


# Open SQLite connections kept for reuse while the app runs, and for how long: a connection
# reads the planner's statistics when it opens, so another process's ANALYZE reaches it only
# through a new one.
SQLITE_IDLE_CONNECTIONS = 8
SQLITE_CONNECTION_SECONDS = 300


class PooledSQLiteEngine(SQLiteEngine):
    """Piccolo's SQLite engine opens a connection (a thread and a file) for every query and
    every transaction and closes it after, a few milliseconds of each request. Between start()
    and stop() this one lends idle connections instead and takes them back."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.idle: list[_LentConnection] | None = None  # None: not pooling
        self.generation = 0  # connections of an older generation are not lent again

    async def get_connection(self) -> Any:
        if self.idle is None:
            return await super().get_connection()
        if self.idle:
            lent = self.idle.pop()
            lent.closed = False
            return lent
        return _LentConnection(await super().get_connection(), self)

    async def _run_in_new_connection(
        self, query: str, args: list[Any] | None = None, query_type: str = "generic", table=None
    ) -> Any:
        if self.idle is None:
            return await super()._run_in_new_connection(query, args, query_type, table)
        connection = await self.get_connection()
        try:
            async with connection.execute(query, args or []) as cursor:
                rows = await cursor.fetchall()
            await connection.commit()  # a write outside a transaction (sqlite3 opened one)
        except BaseException:
            # Also when cancelled: the statement may still be running in the connection's
            # thread, and must not be committed by whoever is lent the connection next.
            await connection.discard()
            raise
        await connection.close()
        return rows

    async def take_back(self, lent: _LentConnection) -> None:
        try:
            if lent.connection.in_transaction:  # left open by an error: nothing of it is kept
                await lent.connection.rollback()
        except BaseException:
            await lent.discard()
            raise
        if (
            self.idle is not None
            and len(self.idle) < SQLITE_IDLE_CONNECTIONS
            and lent.generation == self.generation
            and time.monotonic() - lent.opened < SQLITE_CONNECTION_SECONDS
        ):
            self.idle.append(lent)
        else:
            await lent.discard()

    def start_pooling(self) -> None:
        if self.idle is None:
            self.idle = []

    async def renew(self) -> None:
        """Connections opened from now on replace the ones open now (after ANALYZE)."""
        self.generation += 1
        idle, self.idle = self.idle or [], [] if self.idle is not None else None
        for lent in idle:
            await lent.discard()

    async def stop_pooling(self) -> None:
        idle, self.idle = self.idle or [], None
        for lent in idle:
            await lent.discard()


class _LentConnection:
    """A pooled connection as piccolo uses it; closing it gives it back to the pool."""

    def __init__(self, connection: aiosqlite.Connection, engine: PooledSQLiteEngine) -> None:
        object.__setattr__(self, "connection", connection)
        object.__setattr__(self, "engine", engine)
        object.__setattr__(self, "generation", engine.generation)
        object.__setattr__(self, "opened", time.monotonic())
        object.__setattr__(self, "closed", False)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.connection, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "closed":
            object.__setattr__(self, name, value)
        else:
            setattr(self.connection, name, value)

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            await self.engine.take_back(self)

    async def discard(self) -> None:
        self.closed = True
        await self.connection.close()


def create_engine(database: DatabaseURL | None = None) -> Engine:
    database = database or get_settings().database
    if database.engine == "sqlite":
        # `timeout` is sqlite3's busy timeout: a writer waits for the lock instead of failing.
        return PooledSQLiteEngine(path=database.path, timeout=SQLITE_BUSY_TIMEOUT_SECONDS)
    # asyncpg prepares each statement, and after five runs PostgreSQL may keep one generic plan
    # for all values. Browse's best plans depend on them (a tab of 2% or 88% of the clients, a
    # range of client numbers): plan each run for its values (measured: 'created in 2025' at
    # 100k went from 2.5 to 7 ms from the sixth page on).
    return PostgresEngine(
        config={
            "dsn": database.dsn,
            "server_settings": {"plan_cache_mode": "force_custom_plan"},
        }
    )


def engine() -> Engine:
    from piccolo.engine.finder import engine_finder

    found = engine_finder()
    assert found is not None, "piccolo_conf.DB is missing"
    return found


def is_sqlite() -> bool:
    return isinstance(engine(), SQLiteEngine)


def write_transaction() -> AbstractAsyncContextManager:
    """A transaction that will write. On SQLite it takes the write lock at BEGIN (IMMEDIATE), so
    two writers queue on the busy timeout instead of failing with "database is locked" when a
    read lock would have to be upgraded."""
    db = engine()
    if isinstance(db, SQLiteEngine):
        return db.transaction(transaction_type=TransactionType.immediate)
    return db.transaction()


def read_transaction() -> AbstractAsyncContextManager:
    """Groups a page's reads on one connection (on SQLite each query otherwise opens its own)."""
    return engine().transaction()


@contextlib.asynccontextmanager
async def snapshot_transaction() -> AsyncIterator[None]:
    """A read-only transaction whose reads all see the database as it was at the first one, so
    that what a page reads in several statements (Browse's counts and its rows) agrees while
    writers commit in between. SQLite's read transactions are such snapshots already;
    PostgreSQL's default isolation (READ COMMITTED) shows each statement what was committed
    before it, so the transaction asks for REPEATABLE READ. Inside another transaction it is
    that transaction, with its isolation."""
    db = engine()
    outermost = db.current_transaction.get() is None
    async with db.transaction() as transaction:
        if outermost and isinstance(db, PostgresEngine):
            await transaction.connection.execute(
                "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"
            )
        yield


def prepare_sqlite_file(path: str) -> None:
    """WAL lets readers go on while one writer writes; the mode is stored in the file."""
    with sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT_SECONDS) as connection:
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


async def start() -> None:
    db = engine()
    if isinstance(db, PostgresEngine):
        await db.start_connection_pool(
            min_size=2, max_size=int(os.environ.get("PORTAL_DB_POOL", 20))
        )
    elif isinstance(db, PooledSQLiteEngine):
        db.start_pooling()


async def stop() -> None:
    db = engine()
    if isinstance(db, PostgresEngine):
        await db.close_connection_pool()
    elif isinstance(db, PooledSQLiteEngine):
        await db.stop_pooling()  # their threads would keep the process from ending


async def lock_for_insert(table_name: str) -> None:
    """Serialise check-then-insert sequences on `table_name` inside a write transaction. SQLite's
    IMMEDIATE transaction already excludes other writers; PostgreSQL needs a table lock."""
    db = engine()
    if isinstance(db, PostgresEngine):
        await db.run_ddl(f'LOCK TABLE "{table_name}" IN SHARE ROW EXCLUSIVE MODE')


def violated_unique_index(error: BaseException) -> str | None:
    """The name of the unique index (or column) a failed insert/update ran into, on either engine,
    or None when `error` is not a uniqueness violation."""
    import asyncpg

    if isinstance(error, asyncpg.UniqueViolationError):
        return error.constraint_name
    if isinstance(error, sqlite3.IntegrityError) and "UNIQUE constraint failed" in str(error):
        detail = str(error).split("UNIQUE constraint failed:", 1)[1].strip()
        return detail.removeprefix("index ").strip("'")
    return None


async def refresh_statistics() -> None:
    """Fresh table statistics for the query planner, after a bulk load (SQLite has no
    autovacuum to keep them). Without them SQLite cannot tell that walking an index in sort
    order beats sorting a whole table. A full ANALYZE takes about 0.1 s a 100,000 clients; a
    sampled one (analysis_limit) misjudges columns with few values, such as a client's status."""
    db = engine()
    await db.run_ddl("ANALYZE")
    if isinstance(db, PooledSQLiteEngine):
        await db.renew()  # open connections keep the statistics they started with


# SQLite's statistics are refreshed once a table has grown or shrunk by this share.
STALE_STATISTICS_SHARE = 0.1


async def refresh_stale_statistics() -> bool:
    """On SQLite, ANALYZE when the client table (the one that grows) has no statistics yet or
    has changed in size by STALE_STATISTICS_SHARE since they were taken; housekeeping calls this
    now and then, as PostgreSQL's autovacuum analyzes by itself. Returns whether it analyzed."""
    if not is_sqlite():
        return False
    db = engine()
    now = (await db.run_ddl("SELECT count(*) AS n FROM client"))[0]["n"]
    has_statistics = await db.run_ddl(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat1'"
    )
    stat = (
        await db.run_ddl("SELECT stat FROM sqlite_stat1 WHERE tbl = 'client' LIMIT 1")
        if has_statistics
        else []
    )
    then = int(stat[0]["stat"].split()[0]) if stat else None
    if then is not None and abs(now - then) <= STALE_STATISTICS_SHARE * max(then, 1):
        return False
    await refresh_statistics()
    return True
