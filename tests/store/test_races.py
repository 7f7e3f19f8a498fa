"""Races: many concurrent clients never overdraw a wallet, oversell stock or close a hold twice.

The trap this ledger exists to avoid: read a balance, check it in Python, write it back. Measured on
this machine it overspent 42 of 50 accounts under 32 concurrent clients, on SQLite and PostgreSQL.
The library instead takes each write transaction with ``BEGIN IMMEDIATE`` on SQLite and moves points
with conditional ``UPDATE``s. One harness drives both the library and a deliberately naive
read-check-write implementation, so the same checker is seen both passing and catching the trap.

The clients are threads (as in a threaded web app), each operation a unit of work through
``db.write``: on SQLite they queue for the one writer thread and commit in groups; on PostgreSQL
each runs its own transaction on a connection of the pool. ``pytest -s`` shows the figures of
each run.

The mixed-load test runs 2,000 operations in CI (≈ 1,620 land, ≈ 380 are refused, all 32
clients busy throughout). Every credit locks the pool's row and every redemption the store's, so
on PostgreSQL the clients queue on two rows and the operations go one after another: measured on
a busy 2-core machine, 2,000 take 9–11 s there (SQLite, committing in groups: ≈ 2 s), 10,000 take
≈ 60 s (each operation slower as the tables grow). ``LINLI_SOAK=1`` (``make soak``) runs the full
10,000; ``LINLI_RACE_OPS`` sets any other number.
"""

from __future__ import annotations

import functools
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

import points
import support
from points import AccountKind, TransferKind
from points.schema import accounts, orders, transfers

SOAK = os.environ.get("LINLI_SOAK") == "1"
RACE_OPS = int(os.environ.get("LINLI_RACE_OPS") or (10_000 if SOAK else 2_000))
NAIVE_OPS = min(2_000, RACE_OPS)
CLIENTS = 32
MEMBERS = 50
START_BALANCE = 20
MAX_OP_AMOUNT = 30
CREDIT_SHARE = 0.4  # fewer credits than redemptions keep the wallets near zero
SEED = 20_240_601
COMMUNITY = "c-race"
POOL = points.account_id(AccountKind.POOL, COMMUNITY)
STORE = points.account_id(AccountKind.STORE, COMMUNITY)

OK, REFUSED, BLOCKED = "ok", "refused", "blocked"


def open_race_database(backend: str) -> points.Database:
    """A fresh database, with a connection for every client on PostgreSQL."""
    return support.open_database(backend, pool_size=CLIENTS)


# --- the harness shared by the library run and the naive control ---------------------------


@dataclass(frozen=True)
class Op:
    id: str
    member: str  # the member's account id
    amount: int
    credit: bool  # pool -> member; otherwise a redemption member -> store


Apply = Callable[[Op], str]
"""Apply one operation in a transaction of its own: OK, REFUSED (or BLOCKED: the naive path hit
the database's CHECK); any exception it lets out is recorded as an error."""


@dataclass(frozen=True)
class Outcome:
    ops: int
    ok: int
    refused: int
    blocked: int
    errors: tuple[str, ...]
    overdrafts: int  # wallets whose stored or logged balance went below zero
    lost_updates: int  # wallets whose stored balance differs from the client-side log
    seconds: float

    def line(self, label: str) -> str:
        return (
            f"[races] {label}: ops={self.ops} ok={self.ok} refused={self.refused} "
            f"blocked={self.blocked} errors={len(self.errors)} overdrafts={self.overdrafts} "
            f"lost_updates={self.lost_updates} seconds={self.seconds:.1f} "
            f"ops/s={self.ops / self.seconds:.0f}"
        )


def members() -> list[str]:
    return [points.account_id(AccountKind.MEMBER, f"m{i:03}") for i in range(MEMBERS)]


def plan(count: int, seed: int = SEED) -> list[Op]:
    rng = random.Random(seed)
    wallets = members()
    return [
        Op(
            id=f"op-{n:05}",
            member=rng.choice(wallets),
            amount=rng.randint(1, MAX_OP_AMOUNT),
            credit=rng.random() < CREDIT_SHARE,
        )
        for n in range(count)
    ]


def set_up_wallets(db: points.Database) -> None:
    """A community and MEMBERS wallets holding START_BALANCE each (one transfer per wallet)."""
    with db.transaction() as tx:
        points.open_community(tx, COMMUNITY)
        for wallet in members():
            points.open_account(tx, COMMUNITY, AccountKind.MEMBER, wallet.split(":", 1)[1])
            points.transfer(
                tx,
                community_id=COMMUNITY,
                debit_account_id=POOL,
                credit_account_id=wallet,
                amount=START_BALANCE,
                kind=TransferKind.ACCRUAL,
                id=f"start-{wallet.split(':', 1)[1]}",
            )


def drive(apply: Apply, ops: list[Op], clients: int = CLIENTS) -> dict[str, str]:
    """Run ``ops`` through ``clients`` concurrent workers; every op's outcome, by op id."""
    outcomes: dict[str, str] = {}
    queue = iter(ops)
    handing = threading.Lock()

    def client() -> None:
        while True:
            with handing:  # the shared iterator hands each op to exactly one client
                op = next(queue, None)
            if op is None:
                return
            try:
                outcomes[op.id] = apply(op)
            except Exception as exc:  # recorded, and the test fails on it below
                outcomes[op.id] = f"error {type(exc).__name__}: {exc!s:.300}"

    support.in_threads([client] * clients, clients)
    return outcomes


def stored_wallets(engine: Engine) -> dict[str, tuple[int, int]]:
    """Each wallet's (balance, available) as stored."""
    c = accounts.c
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(c.id, c.credits_posted, c.debits_posted, c.debits_pending).where(
                c.community_id == COMMUNITY, c.kind == AccountKind.MEMBER.value
            )
        )
        return {
            r.id: (
                r.credits_posted - r.debits_posted,
                r.credits_posted - r.debits_posted - r.debits_pending,
            )
            for r in rows
        }


def race(apply: Apply, ops: list[Op], engine: Engine) -> Outcome:
    """Drive ``ops`` concurrently, then hold the stored wallets against the client-side log."""
    started = time.perf_counter()
    outcomes = drive(apply, ops)
    seconds = time.perf_counter() - started
    assert len(outcomes) == len(ops), "every operation must be accounted for"

    expected = dict.fromkeys(members(), START_BALANCE)
    for op in ops:
        if outcomes[op.id] == OK:
            expected[op.member] += op.amount if op.credit else -op.amount
    stored = stored_wallets(engine)
    assert stored.keys() == expected.keys()
    overdrafts = sum(
        1 for w, (balance, available) in stored.items() if min(available, expected[w]) < 0
    )
    lost = sum(1 for w, (balance, _) in stored.items() if balance != expected[w])
    tally = Counter(outcomes.values())
    return Outcome(
        ops=len(ops),
        ok=tally[OK],
        refused=tally[REFUSED],
        blocked=tally[BLOCKED],
        errors=tuple(sorted(o for o in outcomes.values() if o not in (OK, REFUSED, BLOCKED))),
        overdrafts=overdrafts,
        lost_updates=lost,
        seconds=seconds,
    )


def library_apply(db: points.Database) -> Apply:
    """Each operation as a client of the library makes it: one ``db.transaction()``."""

    def apply(op: Op) -> str:
        debit, credit = (POOL, op.member) if op.credit else (op.member, STORE)
        try:
            db.write(
                points.transfer,
                community_id=COMMUNITY,
                debit_account_id=debit,
                credit_account_id=credit,
                amount=op.amount,
                kind=TransferKind.ACCRUAL if op.credit else TransferKind.REDEMPTION,
                id=op.id,
            )
        except points.InsufficientPoints:
            return REFUSED
        return OK

    return apply


def naive_apply(engine: Engine) -> Apply:
    """The trap: SELECT the counters, check in Python, write back the absolute value computed.

    Only the wallet's own counter is written (``credits_posted`` for a credit, ``debits_posted``
    for a redemption), so a concurrent write to the other counter cannot trip the schema's
    ``no_overdraft`` CHECK and the overwritten update is simply lost. When the CHECK still fires
    (a lost credit under a later debit) the operation counts as BLOCKED.
    """
    c = accounts.c

    def apply(op: Op) -> str:
        where = (c.community_id == COMMUNITY, c.id == op.member)
        try:
            with engine.begin() as conn:
                row = (
                    conn.execute(
                        sa.select(c.credits_posted, c.debits_posted, c.debits_pending).where(*where)
                    )
                ).one()
                time.sleep(0)  # let the other clients interleave, as a web server would
                if op.credit:
                    values = {"credits_posted": row.credits_posted + op.amount}
                else:
                    available = row.credits_posted - row.debits_posted - row.debits_pending
                    if available < op.amount:
                        return REFUSED
                    values = {"debits_posted": row.debits_posted + op.amount}
                conn.execute(accounts.update().where(*where).values(**values))
        except sa.exc.IntegrityError:
            return BLOCKED
        return OK

    return apply


def naive_engine(db: points.Database) -> Engine:
    """A plain engine on the same database: no BEGIN IMMEDIATE hooks, several connections."""
    if not db.is_sqlite:
        return sa.create_engine(db.url, pool_size=CLIENTS, max_overflow=0)
    engine = sa.create_engine(
        db.url,
        pool_size=8,
        max_overflow=0,
        pool_timeout=60,
        connect_args={"check_same_thread": False},
    )

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: object, _record: object) -> None:
        cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.close()

    return engine


# --- the tests -------------------------------------------------------------------------------


@pytest.mark.slow
def test_concurrent_credits_and_redemptions_never_overdraw(backend_ready: str) -> None:
    db = open_race_database(backend_ready)
    try:
        set_up_wallets(db)
        ops = plan(RACE_OPS)
        outcome = race(library_apply(db), ops, db.reader)
        print(outcome.line(f"{backend_ready} library"))

        assert outcome.errors == (), outcome.errors[:5]
        assert outcome.ok + outcome.refused == outcome.ops
        assert outcome.refused > 0 < outcome.ok, "the load must exercise both paths"
        assert outcome.overdrafts == 0
        assert outcome.lost_updates == 0
        with db.snapshot() as tx:
            assert points.audit(tx) == []
            rows = tx.scalar(
                sa.select(sa.func.count())
                .select_from(transfers)
                .where(transfers.c.community_id == COMMUNITY)
            )
        assert rows == outcome.ok + MEMBERS
    finally:
        db.dispose()


@pytest.mark.slow
def test_negative_control_naive_read_then_write_overdraws(backend_ready: str) -> None:
    db = open_race_database(backend_ready)
    engine = naive_engine(db)
    try:
        set_up_wallets(db)
        outcome = race(naive_apply(engine), plan(NAIVE_OPS, seed=SEED + 1), engine)
        print(outcome.line(f"{backend_ready} naive control"))

        assert outcome.errors == (), outcome.errors[:5]
        anomalies = outcome.overdrafts + outcome.lost_updates + outcome.blocked
        assert anomalies > 0, "the checker must catch the read-check-write trap"
    finally:
        engine.dispose()
        db.dispose()


PRICE = 7
STOCK = 100
BUYERS = 1_000


@pytest.mark.slow
def test_thousand_redemptions_of_stock_one_hundred_fill_exactly_one_hundred(
    backend_ready: str,
) -> None:
    db = open_race_database(backend_ready)
    try:
        with db.transaction() as tx:
            points.open_community(tx, COMMUNITY)
            item = points.add_item(
                tx, community_id=COMMUNITY, name="大米 5kg", cost=PRICE, stock=STOCK, id="rice"
            )
            for i in range(BUYERS):
                wallet = points.open_account(tx, COMMUNITY, AccountKind.MEMBER, f"b{i:04}")
                points.transfer(
                    tx,
                    community_id=COMMUNITY,
                    debit_account_id=POOL,
                    credit_account_id=wallet.id,
                    amount=PRICE,
                    kind=TransferKind.ACCRUAL,
                    id=f"start-b{i:04}",
                )

        def buy(i: int) -> str:
            try:
                order = db.write(
                    points.redeem,
                    community_id=COMMUNITY,
                    member_id=f"b{i:04}",
                    item_id=item.id,
                    id=f"order-{i:04}",
                )
            except points.OutOfStock:
                return "out_of_stock"
            return order.id

        started = time.perf_counter()
        results = support.in_threads([functools.partial(buy, i) for i in range(BUYERS)])
        reserved = [r for r in results if r != "out_of_stock"]
        assert len(reserved) == STOCK
        assert results.count("out_of_stock") == BUYERS - STOCK

        def hand_over(order_id: str) -> None:
            db.write(points.fulfil, COMMUNITY, order_id, actor="staff")

        support.in_threads([functools.partial(hand_over, o) for o in reserved])
        seconds = time.perf_counter() - started

        with db.snapshot() as tx:
            statuses = Counter(
                (tx.execute(sa.select(orders.c.status).where(orders.c.community_id == COMMUNITY)))
                .scalars()
                .all()
            )
            stock = (points.get_item(tx, COMMUNITY, item.id)).stock
            store = points.get_account(tx, COMMUNITY, STORE)
            problems = points.audit(tx)
        print(
            f"[races] {backend_ready} stock race: attempts={BUYERS} reserved={len(reserved)} "
            f"out_of_stock={BUYERS - len(reserved)} fulfilled={statuses['fulfilled']} "
            f"stock={stock} store_balance={store.balance} seconds={seconds:.1f}"
        )
        assert statuses == Counter({"fulfilled": STOCK})
        assert stock == 0
        assert store.balance == STOCK * PRICE
        assert store.debits_pending == store.credits_pending == 0
        assert problems == []
    finally:
        db.dispose()


def test_double_post_race_awards_once(backend_ready: str) -> None:
    db = open_race_database(backend_ready)
    wallet = points.account_id(AccountKind.MEMBER, "m-hold")
    try:
        with db.transaction() as tx:
            points.open_community(tx, COMMUNITY)
            points.open_account(tx, COMMUNITY, AccountKind.MEMBER, "m-hold")
            points.transfer(
                tx,
                community_id=COMMUNITY,
                debit_account_id=POOL,
                credit_account_id=wallet,
                amount=100,
                kind=TransferKind.ACCRUAL,
                id="earned",
            )
            points.transfer(
                tx,
                community_id=COMMUNITY,
                debit_account_id=wallet,
                credit_account_id=STORE,
                amount=40,
                kind=TransferKind.REDEMPTION,
                id="hold",
                pending=True,
            )

        def resolve(i: int) -> str:
            try:
                if i % 2:
                    db.write(points.void_pending, COMMUNITY, "hold", id=f"void-{i}")
                    return "voided"
                db.write(points.post_pending, COMMUNITY, "hold", id=f"post-{i}")
                return "posted"
            except points.PendingNotOpen:
                return "not_open"

        results = support.in_threads([functools.partial(resolve, i) for i in range(40)])
        winners = [r for r in results if r != "not_open"]
        assert len(winners) == 1, Counter(results)
        assert results.count("not_open") == 39

        with db.snapshot() as tx:
            state = points.pending_state(tx, COMMUNITY, "hold")
            member = points.get_account(tx, COMMUNITY, wallet)
            assert points.audit(tx) == []
        assert state.value == winners[0]
        assert member.balance == (60 if winners[0] == "posted" else 100)
        assert member.available == member.balance

        def award() -> points.Transfer:
            return db.write(
                points.transfer,
                community_id=COMMUNITY,
                debit_account_id=POOL,
                credit_account_id=wallet,
                amount=25,
                kind=TransferKind.ACCRUAL,
                id="award-once",
            )

        awarded = support.in_threads([award] * 20)
        with db.snapshot() as tx:
            first = points.get_transfer(tx, COMMUNITY, "award-once")
            rows = tx.scalar(
                sa.select(sa.func.count())
                .select_from(transfers)
                .where(transfers.c.community_id == COMMUNITY, transfers.c.id == "award-once")
            )
            after = points.get_account(tx, COMMUNITY, wallet)
            assert points.audit(tx) == []
        assert rows == 1
        assert all(t == first for t in awarded), "every caller gets the first result"
        assert after.balance == member.balance + 25
    finally:
        db.dispose()


def test_guard_that_failed_is_decided_on_the_wallet_as_locked(backend_ready: str) -> None:
    """A redemption's guarded UPDATE finds too few points; before it looks at why, a credit to
    the wallet arrives. The first statement holds both rows (locked in key order), so the
    credit waits: the redemption is decided on one state (refused: 5 points for 10), never leaks
    an AssertionError, and the credit lands after it, nothing lost."""
    if backend_ready == "sqlite":
        pytest.skip("BEGIN IMMEDIATE serialises writers: nothing can commit in between")
    db = open_race_database(backend_ready)
    wallet = points.account_id(AccountKind.MEMBER, "m-late")
    try:
        with db.transaction() as tx:
            points.open_community(tx, COMMUNITY)
            points.open_account(tx, COMMUNITY, AccountKind.MEMBER, "m-late")
            points.transfer(
                tx,
                community_id=COMMUNITY,
                debit_account_id=POOL,
                credit_account_id=wallet,
                amount=5,
                kind=TransferKind.ACCRUAL,
                id="earned",
            )

        def credit() -> None:
            with db.transaction() as tx:
                points.transfer(
                    tx,
                    community_id=COMMUNITY,
                    debit_account_id=POOL,
                    credit_account_id=wallet,
                    amount=20,
                    kind=TransferKind.ACCRUAL,
                    id="late-credit",
                )

        late: list[threading.Thread] = []

        def credit_in_between(
            _conn: object,
            cursor: Any,
            statement: str,
            parameters: Any,
            _context: object,
            _many: bool,
        ) -> None:
            guarded = "UPDATE points_accounts" in statement and wallet in str(parameters)
            if not late and guarded and cursor.rowcount < 2:  # the wallet's guard refused
                late.append(threading.Thread(target=credit))
                late[0].start()  # on another connection, while the redemption goes on
                time.sleep(0.5)  # time for it to reach the wallet's row and wait there

        sa.event.listen(db.writer, "after_cursor_execute", credit_in_between)
        with pytest.raises(points.InsufficientPoints) as refused, db.transaction() as tx:
            points.transfer(
                tx,
                community_id=COMMUNITY,
                debit_account_id=wallet,
                credit_account_id=STORE,
                amount=10,
                kind=TransferKind.REDEMPTION,
                id="spend",
            )
        sa.event.remove(db.writer, "after_cursor_execute", credit_in_between)
        assert late, "the credit must have started between the UPDATE and the re-read"
        late[0].join(timeout=60)
        assert refused.value.available == 5
        with db.snapshot() as tx:
            member = points.get_account(tx, COMMUNITY, wallet)
            assert points.audit(tx) == []
        assert member.balance == 5 + 20
    finally:
        db.dispose()


def test_wallet_opened_by_another_transaction_mid_transfer_is_used(backend_ready: str) -> None:
    """A member's first award: another transaction opens the wallet and commits just after this
    transfer's id claim looked for it (not there yet) and before it looks at what is missing
    (there now). Read committed lets that happen on PostgreSQL; the transfer tries its claim
    again and lands, instead of a 409 whose reference nobody holds."""
    if backend_ready == "sqlite":
        pytest.skip("BEGIN IMMEDIATE serialises writers: nothing can commit in between")
    db = open_race_database(backend_ready)
    wallet = points.account_id(AccountKind.MEMBER, "m-first")
    try:
        with db.transaction() as tx:
            points.open_community(tx, COMMUNITY)
        other = db.writer.connect()
        other.begin()
        points.open_account(other, COMMUNITY, AccountKind.MEMBER, "m-first")
        committed: list[bool] = []

        def commit_in_between(
            _conn: object,
            _cursor: object,
            statement: str,
            _parameters: object,
            _context: object,
            _many: bool,
        ) -> None:
            if not committed and statement.startswith("INSERT INTO points_transfers"):
                other.commit()  # after the claim's snapshot, before the look at what is missing
                committed.append(True)

        sa.event.listen(db.writer, "after_cursor_execute", commit_in_between)
        try:
            with db.transaction() as tx:
                done = points.transfer(
                    tx,
                    community_id=COMMUNITY,
                    debit_account_id=POOL,
                    credit_account_id=wallet,
                    amount=5,
                    kind=TransferKind.ACCRUAL,
                    id="first-award",
                    reference="visit-1",
                    open_accounts=True,
                )
        finally:
            sa.event.remove(db.writer, "after_cursor_execute", commit_in_between)
            other.close()
        assert committed, "the wallet must have been committed between the two statements"
        assert done.id == "first-award"
        with db.snapshot() as tx:
            assert points.get_account(tx, COMMUNITY, wallet).balance == 5
            assert points.audit(tx) == []
    finally:
        db.dispose()
