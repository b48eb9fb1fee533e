"""The database layer itself: SQLite's connections lent and taken back while the app runs
(portal.core.db.PortalSQLiteEngine)."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from conftest import IS_POSTGRES
from portal.companies.tables import Company
from portal.core import db
from portal.core.db import write_transactions

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
        async for transaction in write_transactions():
            async with transaction:
                await Company.update({Company.name: f"Name {n}"}).where(Company.id == company_id)
                await asyncio.sleep(0.01)  # others wait for the write lock meanwhile
                row = await Company.select(Company.name).where(Company.id == company_id).first()
                assert row["name"] == f"Name {n}"  # no one else's write inside this transaction

    await asyncio.gather(*(rename(n) for n in range(20)))
    assert len(db.engine().idle) <= db.SQLITE_IDLE_CONNECTIONS


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
