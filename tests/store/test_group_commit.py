"""Group commit on SQLite: units queued together commit together, each in a savepoint of its own.

The writer thread takes every unit queued since its last commit into one transaction. These tests
hold the writer with a first unit until the others are queued, so the others are one group for
sure (the commits are counted), then look at what each caller got and what the database kept.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

import points
import support
from points import AccountKind, TransferKind

C = "c-group"
POOL = points.account_id(AccountKind.POOL, C)
STORE = points.account_id(AccountKind.STORE, C)


def wallet(n: int) -> str:
    return points.account_id(AccountKind.MEMBER, f"m{n}")


def _wallets(backend: str) -> points.Database:
    db = support.open_database(backend, read_threads=1)  # one reader lane: which reads wait
    with db.transaction() as tx:
        points.open_community(tx, C)
        for n in range(8):
            points.open_account(tx, C, AccountKind.MEMBER, f"m{n}")
    return db


@pytest.fixture
def sqlite_db() -> Any:
    db = _wallets("sqlite")
    yield db
    db.dispose()


@pytest.fixture
def any_db(backend_ready: str) -> Any:
    db = _wallets(backend_ready)
    yield db
    db.dispose()


def give(n: int, amount: int = 5, id: str | None = None) -> Callable[[Connection], Any]:
    def unit(conn: Connection) -> points.Transfer:
        return points.transfer(
            conn,
            community_id=C,
            debit_account_id=POOL,
            credit_account_id=wallet(n),
            amount=amount,
            kind=TransferKind.ACCRUAL,
            id=id or f"give-{n}",
        )

    return unit


def in_one_group(
    db: points.Database, units: list[Callable[[Connection], Any]]
) -> tuple[list[Any], int]:
    """Run ``units`` as one group: a first unit holds the writer until all are queued. Returns
    each unit's result (or the exception it raised) and how many commits the writer made."""
    commits: list[int] = []

    def committed(conn: Any) -> None:
        commits.append(1)

    sa.event.listen(db.writer, "commit", committed)
    release = threading.Event()

    def hold(conn: Connection) -> None:
        assert release.wait(30)

    async def main() -> list[Any]:
        holding = asyncio.ensure_future(db.awrite(hold))
        await asyncio.sleep(0.05)  # the writer runs `hold` now
        queued = [asyncio.ensure_future(db.awrite(u)) for u in units]
        await asyncio.sleep(0.05)
        release.set()
        await holding
        return await asyncio.gather(*queued, return_exceptions=True)

    try:
        results = asyncio.run(main())
    finally:
        sa.event.remove(db.writer, "commit", committed)
    return results, len(commits)


def balances(db: points.Database) -> dict[str, int]:
    with db.snapshot() as tx:
        return {wallet(n): points.get_account(tx, C, wallet(n)).balance for n in range(8)}


def test_a_unit_raising_in_a_group_leaves_the_others_committed(sqlite_db: points.Database) -> None:
    db = sqlite_db

    def broken(conn: Connection) -> None:
        give(3)(conn)  # writes, then fails: nothing of it may stay
        raise ValueError("this unit fails after writing")

    later = give(0, id="later")  # after the refusal, in the same group

    def overdraw(conn: Connection) -> points.Transfer:
        return points.transfer(
            conn,
            community_id=C,
            debit_account_id=wallet(0),
            credit_account_id=STORE,
            amount=1_000,
            kind=TransferKind.REDEMPTION,
            id="too-much",
        )

    results, commits = in_one_group(db, [give(1), broken, give(2), overdraw, later])
    print(f"\n[group] units=5 commits={commits} results={[type(r).__name__ for r in results]}")
    assert commits == 2  # the holding unit's group, then these five together
    assert isinstance(results[0], points.Transfer)
    assert isinstance(results[1], ValueError)
    assert isinstance(results[2], points.Transfer)
    assert isinstance(results[3], points.InsufficientPoints)
    assert isinstance(results[4], points.Transfer)
    assert balances(db) == {**dict.fromkeys(map(wallet, range(8)), 0), wallet(1): 5,
                            wallet(2): 5, wallet(0): 5}  # fmt: skip
    with db.snapshot() as tx:
        assert points.audit(tx) == []
        refused = tx.scalar(sa.text("SELECT count(*) FROM points_refused_transfers"))
    assert refused == 1  # the refusal stays, in the same commit as the others
    with pytest.raises(points.InsufficientPoints):  # and a retry under that id is refused again
        db.write(overdraw)


def test_a_unit_that_breaks_the_transaction_costs_only_itself(
    sqlite_db: points.Database,
) -> None:
    """A unit that ends the group's transaction under it (here by hand) fails the group's commit:
    every unit of the group runs again alone, and only the breaking one fails."""
    db = sqlite_db

    def breaks(conn: Connection) -> None:
        conn.exec_driver_sql("ROLLBACK")

    results, _ = in_one_group(db, [give(4), breaks, give(5), give(6)])
    assert [type(r).__name__ for r in results] == ["Transfer", "OperationalError", "Transfer",
                                                   "Transfer"]  # fmt: skip
    got = balances(db)
    assert (got[wallet(4)], got[wallet(5)], got[wallet(6)]) == (5, 5, 5)
    with db.snapshot() as tx:
        assert points.audit(tx) == []


def test_each_caller_is_answered_after_its_group_commits(sqlite_db: points.Database) -> None:
    """An answer is a durable write: when a caller hears back, another connection sees it."""
    db = sqlite_db
    seen_by_others: list[int] = []

    async def main() -> None:
        async def one(n: int) -> None:
            await db.awrite(give(n % 8, amount=1, id=f"t-{n}"))
            with db.snapshot() as tx:  # a reader connection of its own
                seen_by_others.append(
                    tx.scalar(
                        sa.text("SELECT count(*) FROM points_transfers WHERE id = :id"),
                        {"id": f"t-{n}"},
                    )
                )

        await asyncio.gather(*(one(n) for n in range(64)))

    asyncio.run(main())
    assert seen_by_others == [1] * 64


def test_reads_waiting_together_share_one_snapshot_and_fail_alone(any_db: points.Database) -> None:
    """The reader thread takes the reads queued while it was busy into one snapshot (one BEGIN),
    answers each with its own result or error, and a read asked after a write was answered
    sees that write."""
    db = any_db
    begins: list[int] = []

    def began(conn: Any) -> None:
        begins.append(1)

    release = threading.Event()

    def hold(conn: Connection) -> None:
        assert release.wait(30)

    def balance_of(n: int) -> Callable[[Connection], int]:
        return lambda conn: points.get_account(conn, C, wallet(n)).balance

    def missing(conn: Connection) -> int:
        return points.get_account(conn, C, wallet(99)).balance

    async def main() -> list[Any]:
        await db.awrite(give(1, amount=7))  # answered: every later read sees it
        holding = asyncio.ensure_future(db.aread(hold))
        await asyncio.sleep(0.05)  # the reader runs `hold` now
        sa.event.listen(db.reader, "begin", began)
        queued = [asyncio.ensure_future(db.aread(u)) for u in (balance_of(1), missing,
                                                                  balance_of(2))]  # fmt: skip
        await asyncio.sleep(0.05)
        release.set()
        await holding
        return await asyncio.gather(*queued, return_exceptions=True)

    try:
        results = asyncio.run(main())
    finally:
        sa.event.remove(db.reader, "begin", began)
    assert results[0] == 7
    assert isinstance(results[1], points.AccountNotFound)
    assert results[2] == 0
    assert len(begins) == 1  # the three reads: one snapshot


def test_a_read_whose_statement_fails_leaves_the_reads_after_it_a_snapshot(
    any_db: points.Database,
) -> None:
    """On PostgreSQL a failed statement aborts the snapshot's transaction: the reads queued
    after it get a new snapshot (and answer), not the aborted one's error."""
    db = any_db
    release = threading.Event()

    def hold(conn: Connection) -> None:
        assert release.wait(30)

    def broken(conn: Connection) -> Any:
        return conn.exec_driver_sql("SELECT * FROM no_such_table").all()

    def balance(conn: Connection) -> int:
        return points.get_account(conn, C, wallet(1)).balance

    async def main() -> list[Any]:
        await db.awrite(give(1, amount=3))
        holding = asyncio.ensure_future(db.aread(hold))
        await asyncio.sleep(0.05)
        queued = [asyncio.ensure_future(db.aread(u)) for u in (balance, broken, balance)]
        await asyncio.sleep(0.05)
        release.set()
        await holding
        return await asyncio.gather(*queued, return_exceptions=True)

    results = asyncio.run(main())
    assert results[0] == 3
    assert isinstance(results[1], sa.exc.DBAPIError)
    assert results[2] == 3
