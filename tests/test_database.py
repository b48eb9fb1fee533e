"""The database layer itself: SQLite's connections lent and taken back while the app runs
(portal.core.db.PooledSQLiteEngine)."""

from __future__ import annotations

import asyncio

import pytest

from conftest import IS_POSTGRES
from portal.companies.tables import Company
from portal.core import db
from portal.core.db import write_transaction

pytestmark = pytest.mark.skipif(IS_POSTGRES, reason="SQLite's own connection pool")


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


async def test_concurrent_transactions_each_get_their_own_connection(company_id):
    async def rename(n: int) -> None:
        async with write_transaction():
            await Company.update({Company.name: f"Name {n}"}).where(Company.id == company_id)
            await asyncio.sleep(0.01)  # others wait for the write lock meanwhile
            row = await Company.select(Company.name).where(Company.id == company_id).first()
            assert row["name"] == f"Name {n}"  # no one else's write inside this transaction

    await asyncio.gather(*(rename(n) for n in range(20)))
    assert len(db.engine().idle) <= db.SQLITE_IDLE_CONNECTIONS
