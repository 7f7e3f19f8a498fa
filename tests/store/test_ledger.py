"""The ledger (积分账本) through ``import points``, on SQLite and PostgreSQL.

Each test that writes ends with an audit in a read transaction, so every behaviour below is also
checked against the invariants of DESIGN.md §3. The tampering tests at the end show the audit can
fail. Times are explicit ``now=`` values; nothing sleeps.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

import points
from points import AccountKind, Phase, TransferKind

C = "c1"
OTHER = "c2"
POOL = points.account_id(AccountKind.POOL, C)
STORE = points.account_id(AccountKind.STORE, C)
ALICE = points.account_id(AccountKind.MEMBER, "alice")
BOB = points.account_id(AccountKind.MEMBER, "bob")
T0 = dt.datetime(2025, 3, 1, 1, 0, tzinfo=dt.UTC)


def at(minutes: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def give(
    tx: Connection,
    debit: str,
    credit: str,
    amount: Any,
    *,
    id: str,
    kind: TransferKind = TransferKind.DONATION,
    community: str = C,
    **options: Any,
) -> points.Transfer:
    """One transfer with the test's usual defaults."""
    options.setdefault("now", T0)
    return points.transfer(
        tx,
        community_id=community,
        debit_account_id=debit,
        credit_account_id=credit,
        amount=amount,
        kind=kind,
        id=id,
        **options,
    )


def account(db: points.Database, acct_id: str, community: str = C) -> points.Account:
    with db.snapshot() as tx:
        return points.get_account(tx, community, acct_id)


def counters(acct: points.Account) -> tuple[int, int, int, int, int]:
    return (
        acct.debits_pending,
        acct.debits_posted,
        acct.credits_pending,
        acct.credits_posted,
        acct.version,
    )


def snapshot(db: points.Database, *acct_ids: str) -> list[tuple[int, int, int, int, int]]:
    return [counters(account(db, a)) for a in acct_ids]


def assert_not_stored(db: points.Database, transfer_id: str) -> None:
    with db.snapshot() as tx, pytest.raises(points.TransferNotFound):
        points.get_transfer(tx, C, transfer_id)


def assert_audit_clean(db: points.Database) -> None:
    with db.snapshot() as tx:
        assert points.audit(tx) == []


def refuses(
    db: points.Database,
    error: type[Exception],
    write: Callable[..., object],
    *args: Any,
    **options: Any,
) -> bool:
    """Whether ``write(tx, *args, **options)`` raises ``error`` in a transaction of its own."""
    try:
        with db.transaction() as tx:
            write(tx, *args, **options)
    except error:
        return True
    return False


def hold(
    db: points.Database, amount: int, *, id: str, timeout: dt.timedelta | None = None
) -> points.Transfer:
    """Alice's points held for the store, as an open redemption order holds them."""
    with db.transaction() as tx:
        return give(
            tx,
            ALICE,
            STORE,
            amount,
            id=id,
            kind=TransferKind.REDEMPTION,
            pending=True,
            timeout=timeout,
        )


def close(db: points.Database, action: str, pending_id: str, id: str) -> points.Transfer:
    with db.transaction() as tx:
        if action == "post":
            return points.post_pending(tx, C, pending_id, id=id)
        return points.void_pending(tx, C, pending_id, id=id)


def read_all_pages(db: points.Database, acct_id: str, limit: int) -> list[list[int]]:
    """The seqs of every page of a statement, following the cursors to the end."""
    pages: list[list[int]] = []
    cursor: str | None = None
    with db.snapshot() as tx:
        while True:
            page = points.statement(tx, C, acct_id, cursor=cursor, limit=limit)
            pages.append([e.seq for e in page.items])
            if page.next_cursor is None:
                return pages
            cursor = page.next_cursor


@pytest.fixture
def funded(db: points.Database) -> points.Database:
    """Community c1 with its system accounts, alice holding 100 points and bob none."""
    with db.transaction() as tx:
        points.open_community(tx, C)
        for member in ("alice", "bob"):
            points.open_account(tx, C, AccountKind.MEMBER, member, now=T0)
        give(tx, POOL, ALICE, 100, id="seed", kind=TransferKind.ACCRUAL)
    return db


# --- accounts -------------------------------------------------------------------------------


def test_overdraft_of_a_member_wallet_is_refused_and_nothing_is_stored(
    funded: points.Database,
) -> None:
    before = snapshot(funded, ALICE, BOB)
    with pytest.raises(points.InsufficientPoints) as refused, funded.transaction() as tx:
        give(tx, ALICE, BOB, 101, id="too-much")
    assert (refused.value.account_id, refused.value.available, refused.value.requested) == (
        ALICE,
        100,
        101,
    )
    assert snapshot(funded, ALICE, BOB) == before
    assert_not_stored(funded, "too-much")
    with funded.transaction() as tx:
        give(tx, ALICE, BOB, 100, id="all-of-it")
    assert (account(funded, ALICE)).balance == 0
    assert_audit_clean(funded)


def test_an_org_wallet_refuses_overdraft_too(funded: points.Database) -> None:
    with funded.transaction() as tx:
        org = points.open_account(tx, C, AccountKind.ORG, "unit-3")
    assert not org.allow_negative
    with pytest.raises(points.InsufficientPoints), funded.transaction() as tx:
        give(tx, org.id, BOB, 1, id="org-overdraft")
    assert_audit_clean(funded)


def test_the_pool_may_go_negative(funded: points.Database) -> None:
    with funded.transaction() as tx:
        give(tx, POOL, BOB, points.MAX_AMOUNT, id="big", kind=TransferKind.ACCRUAL)
    pool = account(funded, POOL)
    assert pool.allow_negative
    assert pool.balance == pool.available == -100 - points.MAX_AMOUNT
    for kind in (AccountKind.STORE, AccountKind.EXPIRY):
        system = account(funded, points.account_id(kind, C))
        assert system.allow_negative
    assert_audit_clean(funded)


def test_open_account_is_idempotent(funded: points.Database) -> None:
    with funded.transaction() as tx:
        again = points.open_account(tx, C, AccountKind.MEMBER, "alice", now=at(60))
        points.open_community(tx, C)
    assert again == account(funded, ALICE)
    assert again.created_at == T0
    assert again.balance == 100
    assert (again.kind, again.owner_id, again.allow_negative) == (
        AccountKind.MEMBER,
        "alice",
        False,
    )
    assert_audit_clean(funded)


def test_balance_and_available_follow_the_four_counters(funded: points.Database) -> None:
    with funded.transaction() as tx:
        give(tx, ALICE, BOB, 20, id="gift")
        give(tx, ALICE, STORE, 30, id="hold", kind=TransferKind.REDEMPTION, pending=True)
    alice, bob, store = [account(funded, a) for a in (ALICE, BOB, STORE)]
    assert counters(alice) == (30, 20, 0, 100, 3)
    assert (alice.balance, alice.available) == (80, 50)
    assert (bob.balance, bob.available) == (20, 20)
    assert (store.credits_pending, store.balance, store.available) == (30, 0, 0)
    assert_audit_clean(funded)


def test_a_credit_past_max_balance_is_refused(funded: points.Database) -> None:
    with funded.transaction() as tx:
        capped = points.open_account(tx, C, AccountKind.MEMBER, "capped", max_balance=150)
        give(tx, POOL, capped.id, 150, id="to-the-cap", kind=TransferKind.ACCRUAL)
    with pytest.raises(points.MaxBalanceExceeded) as refused, funded.transaction() as tx:
        give(tx, POOL, capped.id, 1, id="past-the-cap", kind=TransferKind.ACCRUAL)
    assert (refused.value.account_id, refused.value.balance, refused.value.max_balance) == (
        capped.id,
        150,
        150,
    )
    assert refused.value.requested == 1
    assert (account(funded, capped.id)).balance == 150
    assert_not_stored(funded, "past-the-cap")
    with (
        pytest.raises(points.MaxBalanceExceeded),
        funded.transaction() as tx,
    ):  # the refused id stays refused
        give(tx, POOL, capped.id, 1, id="past-the-cap", kind=TransferKind.ACCRUAL)
    with funded.transaction() as tx:  # spending makes room again
        give(tx, capped.id, BOB, 10, id="spend")
        give(tx, POOL, capped.id, 10, id="refill", kind=TransferKind.ACCRUAL)
    assert (account(funded, capped.id)).balance == 150
    assert_audit_clean(funded)


def test_max_balance_counts_pending_credits(funded: points.Database) -> None:
    with funded.transaction() as tx:
        capped = points.open_account(tx, C, AccountKind.MEMBER, "capped", max_balance=100)
        give(tx, POOL, capped.id, 60, id="held-in", kind=TransferKind.ACCRUAL, pending=True)
    with pytest.raises(points.MaxBalanceExceeded), funded.transaction() as tx:
        give(tx, POOL, capped.id, 41, id="posted-in", kind=TransferKind.ACCRUAL)
    with pytest.raises(points.MaxBalanceExceeded), funded.transaction() as tx:
        give(tx, POOL, capped.id, 41, id="held-too", kind=TransferKind.ACCRUAL, pending=True)
    with funded.transaction() as tx:
        give(tx, POOL, capped.id, 40, id="fits", kind=TransferKind.ACCRUAL)
        points.post_pending(tx, C, "held-in", id="held-in:post", now=at(1))
    assert (account(funded, capped.id)).balance == 100
    assert_audit_clean(funded)


def test_open_account_refuses_a_bad_max_balance(db: points.Database) -> None:
    let_through = [
        max_balance
        for max_balance in (-1, 1.5, "10", points.MAX_AMOUNT + 1)
        if not refuses(
            db,
            points.InvalidAmount,
            points.open_account,
            C,
            AccountKind.MEMBER,
            "m",
            max_balance=max_balance,
        )
    ]
    assert let_through == []
    with db.snapshot() as tx, pytest.raises(points.AccountNotFound):
        points.get_account(tx, C, points.account_id(AccountKind.MEMBER, "m"))


# --- idempotency ----------------------------------------------------------------------------


def test_a_replayed_transfer_returns_the_first_and_moves_nothing_more(
    funded: points.Database,
) -> None:
    with funded.transaction() as tx:
        first = give(tx, ALICE, BOB, 30, id="gift", memo="谢谢")
    before = snapshot(funded, ALICE, BOB)
    with funded.transaction() as tx:
        again = give(tx, ALICE, BOB, 30, id="gift", memo="谢谢", now=at(60))
    assert again == first
    assert again.created_at == T0
    assert again.memo == "谢谢"
    assert snapshot(funded, ALICE, BOB) == before
    with funded.snapshot() as tx:
        page = points.statement(tx, C, BOB)
        assert [e.transfer_id for e in page.items] == ["gift"]
        assert points.audit(tx) == []


MISMATCHES: list[tuple[dict[str, Any], tuple[str, ...]]] = [
    ({"amount": 31}, ("amount",)),
    ({"credit": STORE}, ("credit_account_id",)),
    ({"debit": BOB, "credit": ALICE}, ("debit_account_id", "credit_account_id")),
    ({"kind": TransferKind.ADJUSTMENT}, ("kind",)),
    ({"pending": True}, ("phase",)),
    ({"reference": "claim:9"}, ("reference",)),
    ({"amount": 29, "kind": TransferKind.ADJUSTMENT}, ("amount", "kind")),
    ({"memo": "again"}, ("memo",)),
    ({"actor": "staff-2"}, ("actor",)),
    ({"expires_at": T0 + dt.timedelta(days=30)}, ("expires_at",)),
    ({"value_date": dt.date(2026, 1, 1)}, ("value_date",)),
    ({"detail": {"why": "other"}}, ("detail",)),
    ({"memo": "again", "amount": 31}, ("amount", "memo")),
]
"""A change to the first use ``give(ALICE, BOB, 30, id="gift", memo="谢谢", actor="staff-1",
detail={"why": "gift"})``, and the fields the refusal names."""


def test_the_same_id_with_other_fields_raises_idempotency_mismatch_naming_them(
    funded: points.Database,
) -> None:
    first: dict[str, Any] = {"memo": "谢谢", "actor": "staff-1", "detail": {"why": "gift"}}
    with funded.transaction() as tx:
        give(tx, ALICE, BOB, 30, id="gift", **first)
    before = snapshot(funded, ALICE, BOB, STORE)
    for change, fields in MISMATCHES:
        request: dict[str, Any] = {"debit": ALICE, "credit": BOB, "amount": 30, **first} | change
        with pytest.raises(points.IdempotencyMismatch) as mismatch, funded.transaction() as tx:
            give(tx, request.pop("debit"), request.pop("credit"), id="gift", **request)
        assert (mismatch.value.transfer_id, mismatch.value.fields) == ("gift", fields), change
    assert snapshot(funded, ALICE, BOB, STORE) == before
    assert_audit_clean(funded)


def test_a_hold_repeated_later_with_its_timeout_is_the_same_and_another_timeout_is_not(
    funded: points.Database,
) -> None:
    first = hold(funded, 40, id="order-7", timeout=dt.timedelta(hours=2))
    with funded.transaction() as tx:
        again = give(tx, ALICE, STORE, 40, id="order-7", kind=TransferKind.REDEMPTION,
                     pending=True, timeout=dt.timedelta(hours=2), now=at(90))  # fmt: skip
    assert again == first
    before = snapshot(funded, ALICE, STORE)
    with pytest.raises(points.IdempotencyMismatch) as mismatch:
        hold(funded, 40, id="order-7", timeout=dt.timedelta(hours=3))
    assert mismatch.value.fields == ("timeout",)
    with funded.transaction() as tx:
        posted = points.post_pending(tx, C, "order-7", id="p7", memo="核销", now=at(1))
    with funded.transaction() as tx:
        assert points.post_pending(tx, C, "order-7", id="p7", memo="核销", now=at(2)) == posted
    with pytest.raises(points.IdempotencyMismatch) as mismatch, funded.transaction() as tx:
        points.post_pending(tx, C, "order-7", id="p7", memo="另一次", now=at(2))
    assert mismatch.value.fields == ("memo",)
    assert snapshot(funded, ALICE, STORE) != before  # the post moved the hold, once
    assert_audit_clean(funded)


def test_a_refused_id_stays_refused_after_the_wallet_is_funded(
    funded: points.Database,
) -> None:
    with pytest.raises(points.InsufficientPoints), funded.transaction() as tx:
        give(tx, ALICE, BOB, 150, id="early")
    with funded.transaction() as tx:
        give(tx, POOL, ALICE, 100, id="top-up", kind=TransferKind.ACCRUAL)
    with pytest.raises(points.InsufficientPoints) as again, funded.transaction() as tx:
        give(tx, ALICE, BOB, 150, id="early")
    assert (again.value.account_id, again.value.requested) == (ALICE, 150)
    with pytest.raises(points.IdempotencyMismatch) as mismatch, funded.transaction() as tx:
        give(tx, ALICE, BOB, 10, id="early")
    assert mismatch.value.fields == ("amount",)
    assert_not_stored(funded, "early")
    with funded.transaction() as tx:
        give(tx, ALICE, BOB, 150, id="later")
    assert ((account(funded, ALICE)).balance, (account(funded, BOB)).balance) == (
        50,
        150,
    )
    assert_audit_clean(funded)


def test_a_refusal_leaves_none_of_its_transactions_other_writes(
    funded: points.Database,
) -> None:
    def writes_then_an_overdraft(tx: Connection) -> None:
        carol = points.open_account(tx, C, AccountKind.MEMBER, "carol")
        give(tx, POOL, carol.id, 10, id="carol-earns", kind=TransferKind.ACCRUAL)
        give(tx, ALICE, BOB, 60, id="alice-gives")
        give(tx, BOB, ALICE, 61, id="bob-overdraws")

    before = snapshot(funded, ALICE, BOB, POOL)
    with pytest.raises(points.InsufficientPoints), funded.transaction() as tx:
        writes_then_an_overdraft(tx)
    assert snapshot(funded, ALICE, BOB, POOL) == before
    with funded.snapshot() as tx, pytest.raises(points.AccountNotFound):
        points.get_account(tx, C, points.account_id(AccountKind.MEMBER, "carol"))
    for transfer_id in ("carol-earns", "alice-gives", "bob-overdraws"):
        assert_not_stored(funded, transfer_id)
    with funded.transaction() as tx:  # only the refusal itself was kept
        give(tx, ALICE, BOB, 60, id="alice-gives")
    with pytest.raises(points.InsufficientPoints), funded.transaction() as tx:
        give(tx, BOB, ALICE, 61, id="bob-overdraws")
    assert_audit_clean(funded)


def test_a_refusal_caught_inside_a_transaction_leaves_nothing_half_written(
    funded: points.Database,
) -> None:
    with funded.transaction() as tx:
        capped = points.open_account(tx, C, AccountKind.MEMBER, "capped", max_balance=5)
        with pytest.raises(points.InsufficientPoints):
            give(tx, ALICE, BOB, 101, id="overdraft")
        with pytest.raises(points.MaxBalanceExceeded):  # refused after alice's side moved
            give(tx, ALICE, capped.id, 6, id="past-the-cap")
        give(tx, ALICE, BOB, 10, id="fine")
    for transfer_id in ("overdraft", "past-the-cap"):
        assert_not_stored(funded, transfer_id)
    alice = account(funded, ALICE)
    assert (alice.balance, alice.version) == (90, 2)
    assert (account(funded, capped.id)).balance == 0
    assert_audit_clean(funded)


# --- holds ----------------------------------------------------------------------------------


def test_a_pending_transfer_counts_against_available(funded: points.Database) -> None:
    held = hold(funded, 70, id="order-1")
    assert held.phase is Phase.PENDING
    alice = account(funded, ALICE)
    assert (alice.balance, alice.available, alice.debits_pending) == (100, 30, 70)
    for pending in (True, False):
        with pytest.raises(points.InsufficientPoints) as refused, funded.transaction() as tx:
            give(tx, ALICE, BOB, 31, id=f"more-{pending}", pending=pending)
        assert refused.value.available == 30
    with funded.transaction() as tx:
        give(tx, ALICE, BOB, 30, id="the-rest")
    assert (account(funded, ALICE)).available == 0
    assert_audit_clean(funded)


def test_posting_a_hold_in_full_moves_the_held_points(funded: points.Database) -> None:
    hold(funded, 70, id="order-1")
    with funded.transaction() as tx:
        posted = points.post_pending(tx, C, "order-1", id="order-1:post", now=at(5))
        assert points.pending_state(tx, C, "order-1") is points.PendingState.POSTED
    assert (posted.phase, posted.amount, posted.pending_id) == (Phase.POST, 70, "order-1")
    assert (posted.debit_account_id, posted.credit_account_id) == (ALICE, STORE)
    alice, store = account(funded, ALICE), account(funded, STORE)
    assert (alice.balance, alice.available, alice.debits_pending) == (30, 30, 0)
    assert (store.balance, store.credits_pending) == (70, 0)
    assert_audit_clean(funded)


def test_posting_a_hold_in_part_releases_the_rest(funded: points.Database) -> None:
    hold(funded, 70, id="order-1")
    with funded.transaction() as tx:
        posted = points.post_pending(tx, C, "order-1", amount=40, id="order-1:post")
    assert posted.amount == 40
    alice, store = account(funded, ALICE), account(funded, STORE)
    assert (alice.balance, alice.available, alice.debits_pending) == (60, 60, 0)
    assert (store.balance, store.credits_pending) == (40, 0)
    assert_audit_clean(funded)


def test_posting_more_than_was_held_is_refused(funded: points.Database) -> None:
    hold(funded, 70, id="order-1")
    with pytest.raises(points.InvalidRequest), funded.transaction() as tx:
        points.post_pending(tx, C, "order-1", amount=71, id="order-1:post")
    assert_not_stored(funded, "order-1:post")
    assert (account(funded, ALICE)).debits_pending == 70
    assert_audit_clean(funded)


def test_voiding_a_hold_releases_it(funded: points.Database) -> None:
    hold(funded, 70, id="order-1")
    with funded.transaction() as tx:
        voided = points.void_pending(tx, C, "order-1", id="order-1:void", memo="取消")
        assert points.pending_state(tx, C, "order-1") is points.PendingState.VOIDED
    assert (voided.phase, voided.amount, voided.pending_id) == (Phase.VOID, 70, "order-1")
    alice, store = account(funded, ALICE), account(funded, STORE)
    assert (alice.balance, alice.available, alice.debits_pending) == (100, 100, 0)
    assert (store.balance, store.credits_pending) == (0, 0)
    assert_audit_clean(funded)


def test_a_hold_closes_only_once(funded: points.Database) -> None:
    for first, second in itertools.product(("post", "void"), repeat=2):
        order = f"{first}-then-{second}"
        hold(funded, 10, id=order)
        close(funded, first, order, f"{order}:1")
        before = snapshot(funded, ALICE, STORE)
        with pytest.raises(points.PendingNotOpen) as not_open:
            close(funded, second, order, f"{order}:2")
        assert not_open.value.transfer_id == order
        assert snapshot(funded, ALICE, STORE) == before
        assert_not_stored(funded, f"{order}:2")
    assert_audit_clean(funded)


def test_a_replayed_post_returns_the_same_transfer(funded: points.Database) -> None:
    hold(funded, 70, id="order-1")
    with funded.transaction() as tx:
        first = points.post_pending(tx, C, "order-1", amount=50, id="p1", now=at(1))
    before = snapshot(funded, ALICE, STORE)
    with funded.transaction() as tx:
        again = points.post_pending(tx, C, "order-1", amount=50, id="p1", now=at(2))
    assert again == first
    assert snapshot(funded, ALICE, STORE) == before
    with pytest.raises(points.IdempotencyMismatch) as mismatch, funded.transaction() as tx:
        points.post_pending(tx, C, "order-1", amount=60, id="p1")
    assert mismatch.value.fields == ("amount",)
    assert_audit_clean(funded)


def test_closing_what_is_not_a_hold_is_refused(funded: points.Database) -> None:
    for action in ("post", "void"):
        with pytest.raises(points.PendingNotOpen):
            close(funded, action, "seed", f"{action}-seed")
        with pytest.raises(points.TransferNotFound):
            close(funded, action, "no-such-hold", f"{action}-nothing")
    assert_audit_clean(funded)


def test_posting_after_the_timeout_is_refused(funded: points.Database) -> None:
    for order in ("late", "in-time"):
        hold(funded, 10, id=order, timeout=dt.timedelta(minutes=10))
    with pytest.raises(points.PendingNotOpen) as not_open, funded.transaction() as tx:
        points.post_pending(tx, C, "late", id="late:post", now=at(10))
    assert not_open.value.state == "timed out"
    with funded.transaction() as tx:
        posted = points.post_pending(tx, C, "in-time", id="in-time:post", now=at(9))
        points.void_pending(tx, C, "late", id="late:void", now=at(10))
    with funded.transaction() as tx:  # a replay after the timeout returns the first post
        assert points.post_pending(tx, C, "in-time", id="in-time:post", now=at(30)) == posted
    alice = account(funded, ALICE)
    assert (alice.balance, alice.available) == (90, 90)
    assert_audit_clean(funded)


def test_void_timed_out_voids_only_expired_holds_and_is_idempotent(
    funded: points.Database,
) -> None:
    for order, minutes in (("soon", 5), ("later", 60), ("never", None), ("posted", 5)):
        hold(funded, 10, id=order, timeout=dt.timedelta(minutes=minutes) if minutes else None)
    with funded.transaction() as tx:
        points.post_pending(tx, C, "posted", id="posted:post", now=at(1))
    with funded.transaction() as tx:
        voided = points.void_timed_out(tx, now=at(10))
    assert [(t.pending_id, t.phase, t.amount) for t in voided] == [("soon", Phase.VOID, 10)]
    assert voided[0].actor == "system"
    with funded.transaction() as tx:
        assert points.void_timed_out(tx, now=at(10)) == []
        assert points.void_timed_out(tx, now=at(59)) == []
        assert points.pending_state(tx, C, "soon") is points.PendingState.VOIDED
        assert points.pending_state(tx, C, "later") is points.PendingState.OPEN
        assert points.pending_state(tx, C, "never") is points.PendingState.OPEN
    with pytest.raises(points.PendingNotOpen), funded.transaction() as tx:
        points.post_pending(tx, C, "soon", id="soon:post", now=at(11))
    alice = account(funded, ALICE)
    assert (alice.balance, alice.available) == (90, 70)
    assert_audit_clean(funded)


def test_void_timed_out_handles_a_hold_with_a_longest_id(funded: points.Database) -> None:
    longest = "h" * 64
    hold(funded, 10, id=longest, timeout=dt.timedelta(minutes=5))
    with funded.transaction() as tx:
        voided = points.void_timed_out(tx, now=at(10))
    assert [t.pending_id for t in voided] == [longest]
    with funded.transaction() as tx:
        assert points.void_timed_out(tx, now=at(10)) == []
    assert (account(funded, ALICE)).available == 100
    assert_audit_clean(funded)


# --- reversal -------------------------------------------------------------------------------


def test_a_reversal_undoes_a_posted_transfer_once(funded: points.Database) -> None:
    with funded.transaction() as tx:
        give(tx, ALICE, BOB, 30, id="gift")
        back = points.reverse(tx, C, "gift", id="gift:undo", memo="误操作", now=at(1))
    assert (back.kind, back.phase, back.amount, back.reference) == (
        TransferKind.REVERSAL,
        Phase.POSTED,
        30,
        "gift",
    )
    assert (back.debit_account_id, back.credit_account_id) == (BOB, ALICE)
    before = snapshot(funded, ALICE, BOB)
    assert [(account(funded, a)).balance for a in (ALICE, BOB)] == [100, 0]
    with funded.transaction() as tx:
        assert points.reverse(tx, C, "gift", id="gift:undo", memo="误操作", now=at(2)) == back
    with pytest.raises(points.ReferenceInUse) as in_use, funded.transaction() as tx:
        points.reverse(tx, C, "gift", id="gift:undo-again")
    assert in_use.value.transfer_id == "gift:undo"
    assert snapshot(funded, ALICE, BOB) == before
    assert_audit_clean(funded)


def test_a_reversal_may_undo_part_of_a_transfer(funded: points.Database) -> None:
    with funded.transaction() as tx:
        give(tx, ALICE, BOB, 30, id="gift")
        back = points.reverse(tx, C, "gift", amount=10, id="gift:undo")
    assert back.amount == 10
    assert [(account(funded, a)).balance for a in (ALICE, BOB)] == [80, 20]
    assert_audit_clean(funded)


def test_a_reversal_of_more_than_the_original_is_refused(funded: points.Database) -> None:
    with funded.transaction() as tx:
        give(tx, ALICE, BOB, 30, id="gift")
    with pytest.raises(points.NotReversible), funded.transaction() as tx:
        points.reverse(tx, C, "gift", amount=31, id="gift:undo")
    assert_not_stored(funded, "gift:undo")
    assert (account(funded, BOB)).balance == 30
    assert_audit_clean(funded)


def test_pending_void_and_reversal_transfers_are_not_reversible(
    funded: points.Database,
) -> None:
    hold(funded, 10, id="open-hold")
    hold(funded, 10, id="void-hold")
    hold(funded, 10, id="post-hold")
    with funded.transaction() as tx:
        points.void_pending(tx, C, "void-hold", id="the-void")
        points.post_pending(tx, C, "post-hold", id="the-post")
        give(tx, ALICE, BOB, 5, id="gift")
        points.reverse(tx, C, "gift", id="the-reversal")
    for transfer_id in ("open-hold", "void-hold", "the-void", "the-reversal"):
        with pytest.raises(points.NotReversible) as refused, funded.transaction() as tx:
            points.reverse(tx, C, transfer_id, id=f"undo:{transfer_id}")
        assert refused.value.transfer_id == transfer_id
    with funded.transaction() as tx:  # a posted hold is reversible
        points.reverse(tx, C, "the-post", id="undo:the-post")
        with pytest.raises(points.TransferNotFound):
            points.reverse(tx, C, "no-such-transfer", id="undo:nothing")
    alice = account(funded, ALICE)
    assert (alice.balance, alice.available) == (100, 90)
    assert_audit_clean(funded)


def test_reversing_an_accrual_whose_points_were_spent_is_refused(
    funded: points.Database,
) -> None:
    with funded.transaction() as tx:
        give(tx, POOL, BOB, 50, id="award", kind=TransferKind.ACCRUAL)
        give(tx, BOB, ALICE, 40, id="spent")
    with pytest.raises(points.InsufficientPoints) as refused, funded.transaction() as tx:
        points.reverse(tx, C, "award", id="award:undo")
    assert (refused.value.account_id, refused.value.available, refused.value.requested) == (
        BOB,
        10,
        50,
    )
    bob = account(funded, BOB)
    assert (bob.balance, bob.available) == (10, 10)
    with funded.transaction() as tx:
        points.reverse(tx, C, "award", amount=10, id="award:undo-part")
    assert (account(funded, BOB)).balance == 0
    assert_audit_clean(funded)


# --- references -----------------------------------------------------------------------------


def test_a_reference_is_used_once_per_kind_in_a_community(funded: points.Database) -> None:
    with funded.transaction() as tx:
        points.open_community(tx, OTHER)
        member = points.open_account(tx, OTHER, AccountKind.MEMBER, "alice")
        first = give(
            tx, POOL, ALICE, 10, id="award-1", kind=TransferKind.ACCRUAL, reference="claim:7"
        )
    with pytest.raises(points.ReferenceInUse) as in_use, funded.transaction() as tx:
        give(tx, POOL, BOB, 10, id="award-2", kind=TransferKind.ACCRUAL, reference="claim:7")
    assert (in_use.value.kind, in_use.value.reference, in_use.value.transfer_id) == (
        "accrual",
        "claim:7",
        "award-1",
    )
    assert_not_stored(funded, "award-2")
    with funded.transaction() as tx:
        give(tx, POOL, ALICE, 5, id="fix-1", kind=TransferKind.ADJUSTMENT, reference="claim:7")
        give(
            tx,
            points.account_id(AccountKind.POOL, OTHER),
            member.id,
            10,
            id="award-1",
            kind=TransferKind.ACCRUAL,
            reference="claim:7",
            community=OTHER,
        )
        found = points.find_by_reference(tx, C, TransferKind.ACCRUAL, "claim:7")
    assert found == first
    assert (account(funded, ALICE)).balance == 115
    assert (account(funded, member.id, OTHER)).balance == 10
    assert_audit_clean(funded)


# --- statement ------------------------------------------------------------------------------


def test_a_statement_lists_entries_newest_first_with_balances_after(
    funded: points.Database,
) -> None:
    with funded.transaction() as tx:
        give(tx, ALICE, BOB, 30, id="gift", now=at(60), memo="送给bob")
        give(
            tx,
            ALICE,
            STORE,
            20,
            id="order",
            kind=TransferKind.REDEMPTION,
            pending=True,
            now=at(120),
        )
        points.post_pending(tx, C, "order", id="order:post", now=at(180))
    with funded.snapshot() as tx:
        page = points.statement(tx, C, ALICE)
        assert points.audit(tx) == []
    assert page.next_cursor is None
    lines = [
        (e.seq, e.transfer_id, e.side, e.amount, e.balance_after, e.available_after)
        for e in page.items
    ]
    assert lines == [
        (4, "order:post", "debit", 20, 50, 50),
        (3, "order", "debit", 20, 70, 50),
        (2, "gift", "debit", 30, 70, 70),
        (1, "seed", "credit", 100, 100, 100),
    ]
    gift = page.items[2]
    assert (gift.kind, gift.phase, gift.memo, gift.created_at) == (
        TransferKind.DONATION,
        Phase.POSTED,
        "送给bob",
        at(60),
    )


def test_statement_pages_cover_every_entry_exactly_once(funded: points.Database) -> None:
    with funded.transaction() as tx:
        for i in range(25):
            give(tx, ALICE, BOB, 1, id=f"g{i}", now=at(i))
    for limit in (1, 7, 13, 26, 200):
        pages = read_all_pages(funded, ALICE, limit)
        assert [seq for page in pages for seq in page] == list(range(26, 0, -1)), limit
        assert len(pages) == -(-26 // limit), limit  # no empty last page
        assert all(0 < len(page) <= limit for page in pages), limit
    assert_audit_clean(funded)


def test_a_statement_filters_by_kind_and_period(funded: points.Database) -> None:
    with funded.transaction() as tx:
        give(tx, ALICE, BOB, 1, id="gift-1", now=at(60))
        give(tx, POOL, ALICE, 5, id="award", kind=TransferKind.ACCRUAL, now=at(120))
        give(tx, ALICE, BOB, 2, id="gift-2", now=at(180))
    with funded.snapshot() as tx:
        donations = points.statement(tx, C, ALICE, kinds=frozenset({TransferKind.DONATION}))
        both = points.statement(
            tx, C, ALICE, kinds=frozenset({TransferKind.DONATION, TransferKind.ACCRUAL})
        )
        window = points.statement(tx, C, ALICE, since=at(60), until=at(180))
        assert points.audit(tx) == []
    assert [e.transfer_id for e in donations.items] == ["gift-2", "gift-1"]
    assert [e.transfer_id for e in both.items] == ["gift-2", "award", "gift-1", "seed"]
    assert [e.transfer_id for e in window.items] == ["award", "gift-1"]


def test_a_statement_refuses_a_bad_cursor(funded: points.Database) -> None:
    with funded.snapshot() as tx:
        for cursor in ("", "abc", "-1", "1.5", " 3", "3 ", "1" * 19, "²", "三", "٣"):
            with pytest.raises(points.InvalidId):
                points.statement(tx, C, ALICE, cursor=cursor)
        assert (points.statement(tx, C, ALICE, cursor="2")).items[0].transfer_id == "seed"


def test_a_statement_refuses_a_limit_out_of_bounds(funded: points.Database) -> None:
    with funded.snapshot() as tx:
        for limit in (0, -1, 201, True, 1.5, None, "10"):
            with pytest.raises(points.InvalidRequest):
                points.statement(tx, C, ALICE, limit=limit)
        for limit in (1, 200):
            assert len((points.statement(tx, C, ALICE, limit=limit)).items) == 1


# --- bounds ---------------------------------------------------------------------------------

BAD_AMOUNTS = [0, -1, 2**31, 2**63, 2**70, 1.5, "10", True, None, float("nan")]


def test_a_bad_amount_is_refused_and_nothing_is_stored(funded: points.Database) -> None:
    hold(funded, 10, id="order-1")
    before = snapshot(funded, POOL, ALICE, BOB, STORE)
    let_through = []
    for amount in BAD_AMOUNTS:
        attempts: list[tuple[Any, tuple[Any, ...], dict[str, Any]]] = [
            (give, (ALICE, BOB, amount), {}),
            (give, (POOL, BOB, amount), {"kind": TransferKind.ACCRUAL}),
            (give, (ALICE, STORE, amount), {"pending": True}),
        ]
        if amount is not None:  # None asks post and reverse for the whole amount
            attempts += [
                (points.post_pending, (C, "order-1"), {"amount": amount}),
                (points.reverse, (C, "seed"), {"amount": amount}),
            ]
        for write, args, options in attempts:
            if not refuses(funded, points.InvalidRequest, write, *args, id="bad", **options):
                let_through.append((amount, write.__name__, options))
    assert let_through == []
    assert snapshot(funded, POOL, ALICE, BOB, STORE) == before
    assert_not_stored(funded, "bad")
    with funded.transaction() as tx:  # nothing remembers the id: it is free for a good use
        give(tx, ALICE, BOB, 1, id="bad")
    assert_audit_clean(funded)


def test_max_amount_itself_is_accepted(funded: points.Database) -> None:
    with pytest.raises(points.InvalidAmount), funded.transaction() as tx:
        give(tx, POOL, BOB, points.MAX_AMOUNT + 1, id="too-big")
    with funded.transaction() as tx:
        give(tx, POOL, BOB, points.MAX_AMOUNT, id="biggest", kind=TransferKind.ACCRUAL)
        give(tx, BOB, ALICE, points.MAX_AMOUNT, id="passed-on")
    assert (account(funded, ALICE)).balance == 100 + points.MAX_AMOUNT
    assert_audit_clean(funded)


BAD_IDS = ["", "x" * 65, "a b", " t1", "t1\n", "积分", "t-😀", "-t1", "t/1", 7]


def test_a_bad_id_is_refused(funded: points.Database) -> None:
    hold(funded, 10, id="order-1")
    before = snapshot(funded, ALICE, BOB, STORE)
    let_through = [
        (bad_id, where)
        for bad_id in BAD_IDS
        for where, write, args, options in (
            ("transfer id", give, (ALICE, BOB, 1), {"id": bad_id}),
            ("debit account", give, (bad_id, BOB, 1), {"id": "t1"}),
            ("community", give, (ALICE, BOB, 1), {"id": "t1", "community": bad_id}),
            ("post id", points.post_pending, (C, "order-1"), {"id": bad_id}),
            ("reversal id", points.reverse, (C, "seed"), {"id": bad_id}),
            ("owner", points.open_account, (C, AccountKind.MEMBER, bad_id), {}),
            ("community", points.open_community, (bad_id,), {}),
        )
        if not refuses(funded, points.InvalidId, write, *args, **options)
    ]
    assert let_through == []
    assert snapshot(funded, ALICE, BOB, STORE) == before
    assert_audit_clean(funded)


def test_the_longest_id_is_accepted(funded: points.Database) -> None:
    longest = "A.b_c:d@e-" + "9" * 54
    assert len(longest) == 64
    with funded.transaction() as tx:
        done = give(tx, ALICE, BOB, 1, id=longest)
    assert done.id == longest
    assert_audit_clean(funded)


def test_a_memo_longer_than_500_characters_is_refused(funded: points.Database) -> None:
    with pytest.raises(points.InvalidRequest), funded.transaction() as tx:
        give(tx, ALICE, BOB, 1, id="chatty", memo="谢" * 501)
    assert_not_stored(funded, "chatty")
    with funded.transaction() as tx:
        done = give(tx, ALICE, BOB, 1, id="chatty", memo="谢" * 500)
    assert done.memo == "谢" * 500
    assert_audit_clean(funded)


def test_a_transfer_needs_two_different_accounts(funded: points.Database) -> None:
    with pytest.raises(points.InvalidRequest), funded.transaction() as tx:
        give(tx, ALICE, ALICE, 1, id="to-self")
    assert_not_stored(funded, "to-self")
    assert_audit_clean(funded)


# --- tenancy --------------------------------------------------------------------------------


def test_an_account_of_another_community_cannot_be_used(funded: points.Database) -> None:
    other_pool = points.account_id(AccountKind.POOL, OTHER)
    with funded.transaction() as tx:
        points.open_community(tx, OTHER)
        carol = points.open_account(tx, OTHER, AccountKind.MEMBER, "carol")
    for debit, credit in ((ALICE, carol.id), (other_pool, ALICE)):
        with pytest.raises(points.AccountNotFound), funded.transaction() as tx:
            give(tx, debit, credit, 1, id="crossing", community=OTHER)
    with pytest.raises(points.AccountNotFound), funded.transaction() as tx:
        give(tx, ALICE, carol.id, 1, id="crossing")
    with funded.transaction() as tx, pytest.raises(points.TransferNotFound):
        points.reverse(tx, OTHER, "seed", id="undo-elsewhere")
    hold(funded, 10, id="order-1")
    with funded.transaction() as tx, pytest.raises(points.TransferNotFound):
        points.post_pending(tx, OTHER, "order-1", id="post-elsewhere")
    with funded.snapshot() as tx:
        assert (points.statement(tx, OTHER, ALICE)).items == ()
        with pytest.raises(points.AccountNotFound):
            points.get_account(tx, OTHER, ALICE)
        assert (points.get_account(tx, OTHER, carol.id)).balance == 0
        assert points.audit(tx) == []


# --- the audit can fail ---------------------------------------------------------------------


def test_the_audit_reports_a_tampered_counter(funded: points.Database) -> None:
    assert_audit_clean(funded)
    with funded.writer.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE points_accounts SET credits_posted = credits_posted + 1 "
            f"WHERE community_id = '{C}' AND id = '{BOB}'"
        )
    with funded.snapshot() as tx:
        problems = points.audit(tx)
        scoped = points.audit(tx, OTHER)
    drift = [p for p in problems if p.code == "counter_drift"]
    assert [(p.community_id, p.subject) for p in drift] == [(C, BOB)]
    assert drift[0].actual["credits_posted"] == drift[0].expected["credits_posted"] + 1
    assert "not_zero_sum" in {p.code for p in problems}
    assert scoped == []


def test_the_audit_reports_a_deleted_lot_use(funded: points.Database) -> None:
    with funded.transaction() as tx:
        give(tx, ALICE, BOB, 30, id="gift")
    assert_audit_clean(funded)
    with funded.writer.begin() as conn:
        conn.exec_driver_sql(
            f"DELETE FROM points_lot_uses WHERE community_id = '{C}' AND transfer_id = 'gift'"
        )
    with funded.snapshot() as tx:
        problems = points.audit(tx)
    assert ("lot_drift", "seed") in {(p.code, p.subject) for p in problems}


# --- durability -----------------------------------------------------------------------------


def test_durability_settings_are_in_force(db: points.Database) -> None:
    settings = db.pragmas()
    if db.is_sqlite:
        assert settings["journal_mode"] == "wal"
        assert settings["synchronous"] == 2  # FULL
        assert settings["foreign_keys"] == 1
    else:
        assert settings["synchronous_commit"] == "on"


def test_sqlite_tables_are_strict(funded: points.Database) -> None:
    if not funded.is_sqlite:
        pytest.skip("STRICT tables are a SQLite feature")
    insert = (
        "INSERT INTO points_transfers (community_id, id, debit_account_id, credit_account_id, "
        "amount, kind, phase, memo, actor, created_at) "
        f"VALUES ('{C}', 'raw', '{ALICE}', '{BOB}', {{amount}}, 'donation', 'posted', '', '', "
        "'2025-03-01T01:00:00.000000Z')"
    )
    with funded.writer.connect() as conn:
        trans = conn.begin()
        conn.exec_driver_sql(insert.format(amount=2))  # the row is otherwise valid
        trans.rollback()
    with pytest.raises(sa.exc.IntegrityError, match="REAL"), funded.writer.begin() as conn:
        conn.exec_driver_sql(insert.format(amount=1.5))
    assert_not_stored(funded, "raw")
    assert_audit_clean(funded)
