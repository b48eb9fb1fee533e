"""All migrations, applied to an empty SQLite and an empty PostgreSQL database, give the same
tables, columns and indexes."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg
import pytest

from conftest import PROJECT_DIR

POSTGRES_ADMIN_URL = os.environ.get(
    "PORTAL_TEST_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


# The search index is built by each engine its own way (SQLite: an FTS5 virtual table and its
# shadow tables; PostgreSQL: a pg_trgm GIN index); the clients migrations name those objects
# client_search_fts*, and they are the only engine-specific objects left out of the comparison.
ENGINE_SPECIFIC_PREFIX = "client_search_fts"


def _without_engine_specific(schema: dict) -> dict:
    return {
        "tables": {
            name: columns
            for name, columns in schema["tables"].items()
            if not name.startswith(ENGINE_SPECIFIC_PREFIX)
        },
        "indexes": {
            index for index in schema["indexes"] if not index[1].startswith(ENGINE_SPECIFIC_PREFIX)
        },
        "unique": {
            item for item in schema["unique"] if not item[0].startswith(ENGINE_SPECIFIC_PREFIX)
        },
    }


def _migrate(database_url: str, var_dir: Path) -> None:
    env = {**os.environ, "PORTAL_DATABASE_URL": database_url, "PORTAL_VAR_DIR": str(var_dir)}
    result = subprocess.run(
        [sys.executable, "-m", "portal", "migrate"],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _sqlite_schema(path: Path) -> dict:
    connection = sqlite3.connect(path)
    tables = [
        row[0]
        for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    ]
    schema: dict = {"tables": {}, "indexes": set(), "unique": set()}
    for table in tables:
        info = connection.execute(f'PRAGMA table_info("{table}")').fetchall()
        schema["tables"][table] = {
            name: (bool(notnull) or bool(pk)) for _, name, _, notnull, _, pk in info
        }
        primary = tuple(name for _, name, _, _, _, pk in sorted(info, key=lambda r: r[5]) if pk)
        schema["unique"].add((table, primary))
        for _, name, unique, origin, _ in connection.execute(f'PRAGMA index_list("{table}")'):
            columns = tuple(row[2] for row in connection.execute(f'PRAGMA index_info("{name}")'))
            if origin == "c":
                schema["indexes"].add((table, name, bool(unique)))
            elif origin == "u":
                schema["unique"].add((table, columns))
    connection.close()
    return schema


async def _postgres_schema(url: str) -> dict:
    connection = await asyncpg.connect(url)
    try:
        schema: dict = {"tables": {}, "indexes": set(), "unique": set()}
        columns = await connection.fetch(
            "SELECT table_name, column_name, is_nullable FROM information_schema.columns "
            "WHERE table_schema = 'public'"
        )
        for row in columns:
            schema["tables"].setdefault(row["table_name"], {})[row["column_name"]] = (
                row["is_nullable"] == "NO"
            )
        indexes = await connection.fetch(
            """
            SELECT t.relname AS table_name, i.relname AS index_name, x.indisunique AS is_unique,
                   EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
                     AS is_constraint,
                   ARRAY(SELECT a.attname FROM unnest(x.indkey) WITH ORDINALITY k(attnum, n)
                         JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
                         ORDER BY k.n) AS columns
            FROM pg_index x
            JOIN pg_class t ON t.oid = x.indrelid
            JOIN pg_class i ON i.oid = x.indexrelid
            JOIN pg_namespace s ON s.oid = t.relnamespace
            WHERE s.nspname = 'public'
            """
        )
        for row in indexes:
            if row["is_constraint"]:
                schema["unique"].add((row["table_name"], tuple(row["columns"])))
            else:
                schema["indexes"].add((row["table_name"], row["index_name"], row["is_unique"]))
        return schema
    finally:
        await connection.close()


async def test_migrations_give_the_same_schema_on_both_engines(tmp_path: Path):
    try:
        admin = await asyncpg.connect(POSTGRES_ADMIN_URL)
    except (OSError, asyncpg.PostgresError) as error:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL unreachable outside CI: {error}")
    name = f"portal_schema_{uuid.uuid4().hex[:8]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        postgres_url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
        _migrate(postgres_url, tmp_path / "pg-var")
        sqlite_file = tmp_path / "schema.sqlite3"
        _migrate(f"sqlite:///{sqlite_file}", tmp_path / "sqlite-var")

        on_sqlite = _without_engine_specific(_sqlite_schema(sqlite_file))
        on_postgres = _without_engine_specific(await _postgres_schema(postgres_url))
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()

    assert "client" in on_sqlite["tables"] and "staff" in on_sqlite["tables"]
    assert on_sqlite["tables"] == on_postgres["tables"]
    assert on_sqlite["indexes"] == on_postgres["indexes"]
    assert on_sqlite["unique"] == on_postgres["unique"]


OLD_ROWS = [
    "INSERT INTO company (id, name) VALUES (7, 'Old Co')",
    "INSERT INTO client_group (id, company, name, is_default) VALUES (8, 7, 'General', true)",
    'INSERT INTO client (id, company, "group", number, code, username, password_hash, '
    "session_epoch, last_login_ip) VALUES (41, 7, 8, 1500, '1500', 'ann', '$argon2id$old', 3, "
    "'203.0.113.9')",
    "INSERT INTO contact (id, client, contact_type, first_name, last_name, email) "
    "VALUES (51, 41, 'primary', 'Ann', 'Old', 'ann@example.com')",
]
MOVED = [
    "SELECT id, company, username, email, name, password_hash, session_epoch, last_login_ip "
    "FROM account_user",
    'SELECT "user", client, owner FROM account_member',
    "SELECT id, login FROM contact",
]


def _earlier_release(tmp_path: Path) -> Path:
    """The project without the migrations that moved logins to users (2026-12-04)."""
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    shutil.copy(PROJECT_DIR / "piccolo_conf.py", earlier)
    shutil.copytree(
        PROJECT_DIR / "portal", earlier / "portal", ignore=shutil.ignore_patterns("__pycache__")
    )
    for migration in earlier.glob("portal/*/piccolo_migrations/*_2026_12_04t*.py"):
        migration.unlink()
    return earlier


def _migrate_in(project: Path, database_url: str, var_dir: Path) -> None:
    env = {
        **os.environ,
        "PORTAL_DATABASE_URL": database_url,
        "PORTAL_VAR_DIR": str(var_dir),
        "PYTHONPATH": str(project),
    }
    result = subprocess.run(
        [sys.executable, "-m", "portal", "migrate"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("engine", ["sqlite", "postgres"])
async def test_each_clients_login_becomes_its_owner(tmp_path: Path, engine: str):
    """A database of the release before users: each client's username, password, sessions and
    last login move to a user of the same ID, owner of the account and its primary contact's
    login; the client keeps no credentials; new users get new IDs."""
    earlier = _earlier_release(tmp_path)
    if engine == "sqlite":
        path = tmp_path / "earlier.sqlite3"
        url = f"sqlite:///{path}"
    else:
        admin = await asyncpg.connect(POSTGRES_ADMIN_URL)
        name = f"portal_moved_{uuid.uuid4().hex[:8]}"
        await admin.execute(f'CREATE DATABASE "{name}"')
        url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"

    async def run(statements: list[str]) -> list[list[tuple]]:
        if engine == "sqlite":
            with sqlite3.connect(path) as connection:
                return [connection.execute(statement).fetchall() for statement in statements]
        connection = await asyncpg.connect(url)
        try:
            return [[tuple(row) for row in await connection.fetch(s)] for s in statements]
        finally:
            await connection.close()

    try:
        _migrate_in(earlier, url, tmp_path / "var")
        await run(OLD_ROWS)
        _migrate_in(PROJECT_DIR, url, tmp_path / "var")
        users, members, contacts = await run(MOVED)
        assert users == [
            (41, 7, "ann", "ann@example.com", "Ann Old", "$argon2id$old", 3, "203.0.113.9")
        ]
        assert members == [(41, 41, True)]
        assert contacts == [(51, 41)]
        columns_of_client = (
            "SELECT name FROM pragma_table_info('client')"
            if engine == "sqlite"
            else "SELECT column_name FROM information_schema.columns WHERE table_name = 'client'"
        )
        (added,), columns = await run(
            [
                "INSERT INTO account_user (company, username, email) "
                "VALUES (7, 'bob', 'bob@example.com') RETURNING id",
                columns_of_client,
            ]
        )
        assert added[0] > 41
        assert {"username", "password_hash", "session_epoch"}.isdisjoint(c for (c,) in columns)
        assert await run(["SELECT count(*) FROM account_user WHERE username = 'ann'"]) == [[(1,)]]
    finally:
        if engine == "postgres":
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()
