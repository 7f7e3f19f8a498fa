"""The ledger (积分账本) through ``import points``, on SQLite and PostgreSQL.

Each test that writes ends with an audit in a read transaction, so every behaviour below is also
checked against the invariants of DESIGN.md §3. The tampering tests at the end show the audit can
fail. Times are explicit ``now=`` values; nothing sleeps.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

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


async def give(
    tx: AsyncConnection,
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
    return await points.transfer(
        tx,
        community_id=community,
        debit_account_id=debit,
        credit_account_id=credit,
        amount=amount,
        kind=kind,
        id=id,
        **options,
    )


async def account(db: points.Database, acct_id: str, community: str = C) -> points.Account:
    async with db.read() as tx:
        return await points.get_account(tx, community, acct_id)


def counters(acct: points.Account) -> tuple[int, int, int, int, int]:
    return (
        acct.debits_pending,
        acct.debits_posted,
        acct.credits_pending,
        acct.credits_posted,
        acct.version,
    )


async def snapshot(db: points.Database, *acct_ids: str) -> list[tuple[int, int, int, int, int]]:
    return [counters(await account(db, a)) for a in acct_ids]


async def assert_not_stored(db: points.Database, transfer_id: str) -> None:
    async with db.read() as tx:
        with pytest.raises(points.TransferNotFound):
            await points.get_transfer(tx, C, transfer_id)


async def assert_audit_clean(db: points.Database) -> None:
    async with db.read() as tx:
        assert await points.audit(tx) == []


async def refuses(
    db: points.Database,
    error: type[Exception],
    write: Callable[..., Awaitable[object]],
    *args: Any,
    **options: Any,
) -> bool:
    """Whether ``write(tx, *args, **options)`` raises ``error`` in a transaction of its own."""
    try:
        async with db.transaction() as tx:
            await write(tx, *args, **options)
    except error:
        return True
    return False


async def hold(
    db: points.Database, amount: int, *, id: str, timeout: dt.timedelta | None = None
) -> points.Transfer:
    """Alice's points held for the store, as an open redemption order holds them."""
    async with db.transaction() as tx:
        return await give(
            tx,
            ALICE,
            STORE,
            amount,
            id=id,
            kind=TransferKind.REDEMPTION,
            pending=True,
            timeout=timeout,
        )


async def close(db: points.Database, action: str, pending_id: str, id: str) -> points.Transfer:
    async with db.transaction() as tx:
        if action == "post":
            return await points.post_pending(tx, C, pending_id, id=id)
        return await points.void_pending(tx, C, pending_id, id=id)


async def read_all_pages(db: points.Database, acct_id: str, limit: int) -> list[list[int]]:
    """The seqs of every page of a statement, following the cursors to the end."""
    pages: list[list[int]] = []
    cursor: str | None = None
    async with db.read() as tx:
        while True:
            page = await points.statement(tx, C, acct_id, cursor=cursor, limit=limit)
            pages.append([e.seq for e in page.items])
            if page.next_cursor is None:
                return pages
            cursor = page.next_cursor


@pytest.fixture
async def funded(db: points.Database) -> points.Database:
    """Community c1 with its system accounts, alice holding 100 points and bob none."""
    async with db.transaction() as tx:
        await points.open_community(tx, C)
        for member in ("alice", "bob"):
            await points.open_account(tx, C, AccountKind.MEMBER, member, now=T0)
        await give(tx, POOL, ALICE, 100, id="seed", kind=TransferKind.ACCRUAL)
    return db


# --- accounts -------------------------------------------------------------------------------


async def test_overdraft_of_a_member_wallet_is_refused_and_nothing_is_stored(
    funded: points.Database,
) -> None:
    before = await snapshot(funded, ALICE, BOB)
    with pytest.raises(points.InsufficientPoints) as refused:
        async with funded.transaction() as tx:
            await give(tx, ALICE, BOB, 101, id="too-much")
    assert (refused.value.account_id, refused.value.available, refused.value.requested) == (
        ALICE,
        100,
        101,
    )
    assert await snapshot(funded, ALICE, BOB) == before
    await assert_not_stored(funded, "too-much")
    async with funded.transaction() as tx:
        await give(tx, ALICE, BOB, 100, id="all-of-it")
    assert (await account(funded, ALICE)).balance == 0
    await assert_audit_clean(funded)


async def test_an_org_wallet_refuses_overdraft_too(funded: points.Database) -> None:
    async with funded.transaction() as tx:
        org = await points.open_account(tx, C, AccountKind.ORG, "unit-3")
    assert not org.allow_negative
    with pytest.raises(points.InsufficientPoints):
        async with funded.transaction() as tx:
            await give(tx, org.id, BOB, 1, id="org-overdraft")
    await assert_audit_clean(funded)


async def test_the_pool_may_go_negative(funded: points.Database) -> None:
    async with funded.transaction() as tx:
        await give(tx, POOL, BOB, points.MAX_AMOUNT, id="big", kind=TransferKind.ACCRUAL)
    pool = await account(funded, POOL)
    assert pool.allow_negative
    assert pool.balance == pool.available == -100 - points.MAX_AMOUNT
    for kind in (AccountKind.STORE, AccountKind.EXPIRY):
        system = await account(funded, points.account_id(kind, C))
        assert system.allow_negative
    await assert_audit_clean(funded)


async def test_open_account_is_idempotent(funded: points.Database) -> None:
    async with funded.transaction() as tx:
        again = await points.open_account(tx, C, AccountKind.MEMBER, "alice", now=at(60))
        await points.open_community(tx, C)
    assert again == await account(funded, ALICE)
    assert again.created_at == T0
    assert again.balance == 100
    assert (again.kind, again.owner_id, again.allow_negative) == (
        AccountKind.MEMBER,
        "alice",
        False,
    )
    await assert_audit_clean(funded)


async def test_balance_and_available_follow_the_four_counters(funded: points.Database) -> None:
    async with funded.transaction() as tx:
        await give(tx, ALICE, BOB, 20, id="gift")
        await give(tx, ALICE, STORE, 30, id="hold", kind=TransferKind.REDEMPTION, pending=True)
    alice, bob, store = [await account(funded, a) for a in (ALICE, BOB, STORE)]
    assert counters(alice) == (30, 20, 0, 100, 3)
    assert (alice.balance, alice.available) == (80, 50)
    assert (bob.balance, bob.available) == (20, 20)
    assert (store.credits_pending, store.balance, store.available) == (30, 0, 0)
    await assert_audit_clean(funded)


async def test_a_credit_past_max_balance_is_refused(funded: points.Database) -> None:
    async with funded.transaction() as tx:
        capped = await points.open_account(tx, C, AccountKind.MEMBER, "capped", max_balance=150)
        await give(tx, POOL, capped.id, 150, id="to-the-cap", kind=TransferKind.ACCRUAL)
    with pytest.raises(points.MaxBalanceExceeded) as refused:
        async with funded.transaction() as tx:
            await give(tx, POOL, capped.id, 1, id="past-the-cap", kind=TransferKind.ACCRUAL)
    assert (refused.value.account_id, refused.value.balance, refused.value.max_balance) == (
        capped.id,
        150,
        150,
    )
    assert refused.value.requested == 1
    assert (await account(funded, capped.id)).balance == 150
    await assert_not_stored(funded, "past-the-cap")
    with pytest.raises(points.MaxBalanceExceeded):  # the refused id stays refused
        async with funded.transaction() as tx:
            await give(tx, POOL, capped.id, 1, id="past-the-cap", kind=TransferKind.ACCRUAL)
    async with funded.transaction() as tx:  # spending makes room again
        await give(tx, capped.id, BOB, 10, id="spend")
        await give(tx, POOL, capped.id, 10, id="refill", kind=TransferKind.ACCRUAL)
    assert (await account(funded, capped.id)).balance == 150
    await assert_audit_clean(funded)


async def test_max_balance_counts_pending_credits(funded: points.Database) -> None:
    async with funded.transaction() as tx:
        capped = await points.open_account(tx, C, AccountKind.MEMBER, "capped", max_balance=100)
        await give(tx, POOL, capped.id, 60, id="held-in", kind=TransferKind.ACCRUAL, pending=True)
    with pytest.raises(points.MaxBalanceExceeded):
        async with funded.transaction() as tx:
            await give(tx, POOL, capped.id, 41, id="posted-in", kind=TransferKind.ACCRUAL)
    with pytest.raises(points.MaxBalanceExceeded):
        async with funded.transaction() as tx:
            await give(
                tx, POOL, capped.id, 41, id="held-too", kind=TransferKind.ACCRUAL, pending=True
            )
    async with funded.transaction() as tx:
        await give(tx, POOL, capped.id, 40, id="fits", kind=TransferKind.ACCRUAL)
        await points.post_pending(tx, C, "held-in", id="held-in:post", now=at(1))
    assert (await account(funded, capped.id)).balance == 100
    await assert_audit_clean(funded)


async def test_open_account_refuses_a_bad_max_balance(db: points.Database) -> None:
    let_through = [
        max_balance
        for max_balance in (-1, 1.5, "10", points.MAX_AMOUNT + 1)
        if not await refuses(
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
    async with db.read() as tx:
        with pytest.raises(points.AccountNotFound):
            await points.get_account(tx, C, points.account_id(AccountKind.MEMBER, "m"))


# --- idempotency ----------------------------------------------------------------------------


async def test_a_replayed_transfer_returns_the_first_and_moves_nothing_more(
    funded: points.Database,
) -> None:
    async with funded.transaction() as tx:
        first = await give(tx, ALICE, BOB, 30, id="gift", memo="谢谢")
    before = await snapshot(funded, ALICE, BOB)
    async with funded.transaction() as tx:
        again = await give(tx, ALICE, BOB, 30, id="gift", memo="again", now=at(60))
    assert again == first
    assert again.created_at == T0
    assert again.memo == "谢谢"
    assert await snapshot(funded, ALICE, BOB) == before
    async with funded.read() as tx:
        page = await points.statement(tx, C, BOB)
        assert [e.transfer_id for e in page.items] == ["gift"]
        assert await points.audit(tx) == []


MISMATCHES: list[tuple[dict[str, Any], tuple[str, ...]]] = [
    ({"amount": 31}, ("amount",)),
    ({"credit": STORE}, ("credit_account_id",)),
    ({"debit": BOB, "credit": ALICE}, ("debit_account_id", "credit_account_id")),
    ({"kind": TransferKind.ADJUSTMENT}, ("kind",)),
    ({"pending": True}, ("phase",)),
    ({"reference": "claim:9"}, ("reference",)),
    ({"amount": 29, "kind": TransferKind.ADJUSTMENT}, ("amount", "kind")),
]


async def test_the_same_id_with_other_fields_raises_idempotency_mismatch_naming_them(
    funded: points.Database,
) -> None:
    async with funded.transaction() as tx:
        await give(tx, ALICE, BOB, 30, id="gift")
    before = await snapshot(funded, ALICE, BOB, STORE)
    for change, fields in MISMATCHES:
        request: dict[str, Any] = {"debit": ALICE, "credit": BOB, "amount": 30} | change
        with pytest.raises(points.IdempotencyMismatch) as mismatch:
            async with funded.transaction() as tx:
                await give(tx, request.pop("debit"), request.pop("credit"), id="gift", **request)
        assert (mismatch.value.transfer_id, mismatch.value.fields) == ("gift", fields), change
    assert await snapshot(funded, ALICE, BOB, STORE) == before
    await assert_audit_clean(funded)


async def test_a_refused_id_stays_refused_after_the_wallet_is_funded(
    funded: points.Database,
) -> None:
    with pytest.raises(points.InsufficientPoints):
        async with funded.transaction() as tx:
            await give(tx, ALICE, BOB, 150, id="early")
    async with funded.transaction() as tx:
        await give(tx, POOL, ALICE, 100, id="top-up", kind=TransferKind.ACCRUAL)
    with pytest.raises(points.InsufficientPoints) as again:
        async with funded.transaction() as tx:
            await give(tx, ALICE, BOB, 150, id="early")
    assert (again.value.account_id, again.value.requested) == (ALICE, 150)
    with pytest.raises(points.IdempotencyMismatch) as mismatch:
        async with funded.transaction() as tx:
            await give(tx, ALICE, BOB, 10, id="early")
    assert mismatch.value.fields == ("amount",)
    await assert_not_stored(funded, "early")
    async with funded.transaction() as tx:
        await give(tx, ALICE, BOB, 150, id="later")
    assert ((await account(funded, ALICE)).balance, (await account(funded, BOB)).balance) == (
        50,
        150,
    )
    await assert_audit_clean(funded)


async def test_a_refusal_leaves_none_of_its_transactions_other_writes(
    funded: points.Database,
) -> None:
    async def writes_then_an_overdraft(tx: AsyncConnection) -> None:
        carol = await points.open_account(tx, C, AccountKind.MEMBER, "carol")
        await give(tx, POOL, carol.id, 10, id="carol-earns", kind=TransferKind.ACCRUAL)
        await give(tx, ALICE, BOB, 60, id="alice-gives")
        await give(tx, BOB, ALICE, 61, id="bob-overdraws")

    before = await snapshot(funded, ALICE, BOB, POOL)
    with pytest.raises(points.InsufficientPoints):
        async with funded.transaction() as tx:
            await writes_then_an_overdraft(tx)
    assert await snapshot(funded, ALICE, BOB, POOL) == before
    async with funded.read() as tx:
        with pytest.raises(points.AccountNotFound):
            await points.get_account(tx, C, points.account_id(AccountKind.MEMBER, "carol"))
    for transfer_id in ("carol-earns", "alice-gives", "bob-overdraws"):
        await assert_not_stored(funded, transfer_id)
    async with funded.transaction() as tx:  # only the refusal itself was kept
        await give(tx, ALICE, BOB, 60, id="alice-gives")
    with pytest.raises(points.InsufficientPoints):
        async with funded.transaction() as tx:
            await give(tx, BOB, ALICE, 61, id="bob-overdraws")
    await assert_audit_clean(funded)


async def test_a_refusal_caught_inside_a_transaction_leaves_nothing_half_written(
    funded: points.Database,
) -> None:
    async with funded.transaction() as tx:
        capped = await points.open_account(tx, C, AccountKind.MEMBER, "capped", max_balance=5)
        with pytest.raises(points.InsufficientPoints):
            await give(tx, ALICE, BOB, 101, id="overdraft")
        with pytest.raises(points.MaxBalanceExceeded):  # refused after alice's side moved
            await give(tx, ALICE, capped.id, 6, id="past-the-cap")
        await give(tx, ALICE, BOB, 10, id="fine")
    for transfer_id in ("overdraft", "past-the-cap"):
        await assert_not_stored(funded, transfer_id)
    alice = await account(funded, ALICE)
    assert (alice.balance, alice.version) == (90, 2)
    assert (await account(funded, capped.id)).balance == 0
    await assert_audit_clean(funded)


# --- holds ----------------------------------------------------------------------------------


async def test_a_pending_transfer_counts_against_available(funded: points.Database) -> None:
    held = await hold(funded, 70, id="order-1")
    assert held.phase is Phase.PENDING
    alice = await account(funded, ALICE)
    assert (alice.balance, alice.available, alice.debits_pending) == (100, 30, 70)
    for pending in (True, False):
        with pytest.raises(points.InsufficientPoints) as refused:
            async with funded.transaction() as tx:
                await give(tx, ALICE, BOB, 31, id=f"more-{pending}", pending=pending)
        assert refused.value.available == 30
    async with funded.transaction() as tx:
        await give(tx, ALICE, BOB, 30, id="the-rest")
    assert (await account(funded, ALICE)).available == 0
    await assert_audit_clean(funded)


async def test_posting_a_hold_in_full_moves_the_held_points(funded: points.Database) -> None:
    await hold(funded, 70, id="order-1")
    async with funded.transaction() as tx:
        posted = await points.post_pending(tx, C, "order-1", id="order-1:post", now=at(5))
        assert await points.pending_state(tx, C, "order-1") is points.PendingState.POSTED
    assert (posted.phase, posted.amount, posted.pending_id) == (Phase.POST, 70, "order-1")
    assert (posted.debit_account_id, posted.credit_account_id) == (ALICE, STORE)
    alice, store = await account(funded, ALICE), await account(funded, STORE)
    assert (alice.balance, alice.available, alice.debits_pending) == (30, 30, 0)
    assert (store.balance, store.credits_pending) == (70, 0)
    await assert_audit_clean(funded)


async def test_posting_a_hold_in_part_releases_the_rest(funded: points.Database) -> None:
    await hold(funded, 70, id="order-1")
    async with funded.transaction() as tx:
        posted = await points.post_pending(tx, C, "order-1", amount=40, id="order-1:post")
    assert posted.amount == 40
    alice, store = await account(funded, ALICE), await account(funded, STORE)
    assert (alice.balance, alice.available, alice.debits_pending) == (60, 60, 0)
    assert (store.balance, store.credits_pending) == (40, 0)
    await assert_audit_clean(funded)


async def test_posting_more_than_was_held_is_refused(funded: points.Database) -> None:
    await hold(funded, 70, id="order-1")
    with pytest.raises(points.InvalidRequest):
        async with funded.transaction() as tx:
            await points.post_pending(tx, C, "order-1", amount=71, id="order-1:post")
    await assert_not_stored(funded, "order-1:post")
    assert (await account(funded, ALICE)).debits_pending == 70
    await assert_audit_clean(funded)


async def test_voiding_a_hold_releases_it(funded: points.Database) -> None:
    await hold(funded, 70, id="order-1")
    async with funded.transaction() as tx:
        voided = await points.void_pending(tx, C, "order-1", id="order-1:void", memo="取消")
        assert await points.pending_state(tx, C, "order-1") is points.PendingState.VOIDED
    assert (voided.phase, voided.amount, voided.pending_id) == (Phase.VOID, 70, "order-1")
    alice, store = await account(funded, ALICE), await account(funded, STORE)
    assert (alice.balance, alice.available, alice.debits_pending) == (100, 100, 0)
    assert (store.balance, store.credits_pending) == (0, 0)
    await assert_audit_clean(funded)


async def test_a_hold_closes_only_once(funded: points.Database) -> None:
    for first, second in itertools.product(("post", "void"), repeat=2):
        order = f"{first}-then-{second}"
        await hold(funded, 10, id=order)
        await close(funded, first, order, f"{order}:1")
        before = await snapshot(funded, ALICE, STORE)
        with pytest.raises(points.PendingNotOpen) as not_open:
            await close(funded, second, order, f"{order}:2")
        assert not_open.value.transfer_id == order
        assert await snapshot(funded, ALICE, STORE) == before
        await assert_not_stored(funded, f"{order}:2")
    await assert_audit_clean(funded)


async def test_a_replayed_post_returns_the_same_transfer(funded: points.Database) -> None:
    await hold(funded, 70, id="order-1")
    async with funded.transaction() as tx:
        first = await points.post_pending(tx, C, "order-1", amount=50, id="p1", now=at(1))
    before = await snapshot(funded, ALICE, STORE)
    async with funded.transaction() as tx:
        again = await points.post_pending(tx, C, "order-1", amount=50, id="p1", now=at(2))
    assert again == first
    assert await snapshot(funded, ALICE, STORE) == before
    with pytest.raises(points.IdempotencyMismatch) as mismatch:
        async with funded.transaction() as tx:
            await points.post_pending(tx, C, "order-1", amount=60, id="p1")
    assert mismatch.value.fields == ("amount",)
    await assert_audit_clean(funded)


async def test_closing_what_is_not_a_hold_is_refused(funded: points.Database) -> None:
    for action in ("post", "void"):
        with pytest.raises(points.PendingNotOpen):
            await close(funded, action, "seed", f"{action}-seed")
        with pytest.raises(points.TransferNotFound):
            await close(funded, action, "no-such-hold", f"{action}-nothing")
    await assert_audit_clean(funded)


async def test_posting_after_the_timeout_is_refused(funded: points.Database) -> None:
    for order in ("late", "in-time"):
        await hold(funded, 10, id=order, timeout=dt.timedelta(minutes=10))
    with pytest.raises(points.PendingNotOpen) as not_open:
        async with funded.transaction() as tx:
            await points.post_pending(tx, C, "late", id="late:post", now=at(10))
    assert not_open.value.state == "timed out"
    async with funded.transaction() as tx:
        posted = await points.post_pending(tx, C, "in-time", id="in-time:post", now=at(9))
        await points.void_pending(tx, C, "late", id="late:void", now=at(10))
    async with funded.transaction() as tx:  # a replay after the timeout returns the first post
        assert await points.post_pending(tx, C, "in-time", id="in-time:post", now=at(30)) == posted
    alice = await account(funded, ALICE)
    assert (alice.balance, alice.available) == (90, 90)
    await assert_audit_clean(funded)


async def test_void_timed_out_voids_only_expired_holds_and_is_idempotent(
    funded: points.Database,
) -> None:
    for order, minutes in (("soon", 5), ("later", 60), ("never", None), ("posted", 5)):
        await hold(funded, 10, id=order, timeout=dt.timedelta(minutes=minutes) if minutes else None)
    async with funded.transaction() as tx:
        await points.post_pending(tx, C, "posted", id="posted:post", now=at(1))
    async with funded.transaction() as tx:
        voided = await points.void_timed_out(tx, now=at(10))
    assert [(t.pending_id, t.phase, t.amount) for t in voided] == [("soon", Phase.VOID, 10)]
    assert voided[0].actor == "system"
    async with funded.transaction() as tx:
        assert await points.void_timed_out(tx, now=at(10)) == []
        assert await points.void_timed_out(tx, now=at(59)) == []
        assert await points.pending_state(tx, C, "soon") is points.PendingState.VOIDED
        assert await points.pending_state(tx, C, "later") is points.PendingState.OPEN
        assert await points.pending_state(tx, C, "never") is points.PendingState.OPEN
    with pytest.raises(points.PendingNotOpen):
        async with funded.transaction() as tx:
            await points.post_pending(tx, C, "soon", id="soon:post", now=at(11))
    alice = await account(funded, ALICE)
    assert (alice.balance, alice.available) == (90, 70)
    await assert_audit_clean(funded)


async def test_void_timed_out_handles_a_hold_with_a_longest_id(funded: points.Database) -> None:
    longest = "h" * 64
    await hold(funded, 10, id=longest, timeout=dt.timedelta(minutes=5))
    async with funded.transaction() as tx:
        voided = await points.void_timed_out(tx, now=at(10))
    assert [t.pending_id for t in voided] == [longest]
    async with funded.transaction() as tx:
        assert await points.void_timed_out(tx, now=at(10)) == []
    assert (await account(funded, ALICE)).available == 100
    await assert_audit_clean(funded)


# --- reversal -------------------------------------------------------------------------------


async def test_a_reversal_undoes_a_posted_transfer_once(funded: points.Database) -> None:
    async with funded.transaction() as tx:
        await give(tx, ALICE, BOB, 30, id="gift")
        back = await points.reverse(tx, C, "gift", id="gift:undo", memo="误操作", now=at(1))
    assert (back.kind, back.phase, back.amount, back.reference) == (
        TransferKind.REVERSAL,
        Phase.POSTED,
        30,
        "gift",
    )
    assert (back.debit_account_id, back.credit_account_id) == (BOB, ALICE)
    before = await snapshot(funded, ALICE, BOB)
    assert [(await account(funded, a)).balance for a in (ALICE, BOB)] == [100, 0]
    async with funded.transaction() as tx:
        assert await points.reverse(tx, C, "gift", id="gift:undo", now=at(2)) == back
    with pytest.raises(points.ReferenceInUse) as in_use:
        async with funded.transaction() as tx:
            await points.reverse(tx, C, "gift", id="gift:undo-again")
    assert in_use.value.transfer_id == "gift:undo"
    assert await snapshot(funded, ALICE, BOB) == before
    await assert_audit_clean(funded)


async def test_a_reversal_may_undo_part_of_a_transfer(funded: points.Database) -> None:
    async with funded.transaction() as tx:
        await give(tx, ALICE, BOB, 30, id="gift")
        back = await points.reverse(tx, C, "gift", amount=10, id="gift:undo")
    assert back.amount == 10
    assert [(await account(funded, a)).balance for a in (ALICE, BOB)] == [80, 20]
    await assert_audit_clean(funded)


async def test_a_reversal_of_more_than_the_original_is_refused(funded: points.Database) -> None:
    async with funded.transaction() as tx:
        await give(tx, ALICE, BOB, 30, id="gift")
    with pytest.raises(points.NotReversible):
        async with funded.transaction() as tx:
            await points.reverse(tx, C, "gift", amount=31, id="gift:undo")
    await assert_not_stored(funded, "gift:undo")
    assert (await account(funded, BOB)).balance == 30
    await assert_audit_clean(funded)


async def test_pending_void_and_reversal_transfers_are_not_reversible(
    funded: points.Database,
) -> None:
    await hold(funded, 10, id="open-hold")
    await hold(funded, 10, id="void-hold")
    await hold(funded, 10, id="post-hold")
    async with funded.transaction() as tx:
        await points.void_pending(tx, C, "void-hold", id="the-void")
        await points.post_pending(tx, C, "post-hold", id="the-post")
        await give(tx, ALICE, BOB, 5, id="gift")
        await points.reverse(tx, C, "gift", id="the-reversal")
    for transfer_id in ("open-hold", "void-hold", "the-void", "the-reversal"):
        with pytest.raises(points.NotReversible) as refused:
            async with funded.transaction() as tx:
                await points.reverse(tx, C, transfer_id, id=f"undo:{transfer_id}")
        assert refused.value.transfer_id == transfer_id
    async with funded.transaction() as tx:  # a posted hold is reversible
        await points.reverse(tx, C, "the-post", id="undo:the-post")
        with pytest.raises(points.TransferNotFound):
            await points.reverse(tx, C, "no-such-transfer", id="undo:nothing")
    alice = await account(funded, ALICE)
    assert (alice.balance, alice.available) == (100, 90)
    await assert_audit_clean(funded)


async def test_reversing_an_accrual_whose_points_were_spent_is_refused(
    funded: points.Database,
) -> None:
    async with funded.transaction() as tx:
        await give(tx, POOL, BOB, 50, id="award", kind=TransferKind.ACCRUAL)
        await give(tx, BOB, ALICE, 40, id="spent")
    with pytest.raises(points.InsufficientPoints) as refused:
        async with funded.transaction() as tx:
            await points.reverse(tx, C, "award", id="award:undo")
    assert (refused.value.account_id, refused.value.available, refused.value.requested) == (
        BOB,
        10,
        50,
    )
    bob = await account(funded, BOB)
    assert (bob.balance, bob.available) == (10, 10)
    async with funded.transaction() as tx:
        await points.reverse(tx, C, "award", amount=10, id="award:undo-part")
    assert (await account(funded, BOB)).balance == 0
    await assert_audit_clean(funded)


# --- references -----------------------------------------------------------------------------


async def test_a_reference_is_used_once_per_kind_in_a_community(funded: points.Database) -> None:
    async with funded.transaction() as tx:
        await points.open_community(tx, OTHER)
        member = await points.open_account(tx, OTHER, AccountKind.MEMBER, "alice")
        first = await give(
            tx, POOL, ALICE, 10, id="award-1", kind=TransferKind.ACCRUAL, reference="claim:7"
        )
    with pytest.raises(points.ReferenceInUse) as in_use:
        async with funded.transaction() as tx:
            await give(
                tx, POOL, BOB, 10, id="award-2", kind=TransferKind.ACCRUAL, reference="claim:7"
            )
    assert (in_use.value.kind, in_use.value.reference, in_use.value.transfer_id) == (
        "accrual",
        "claim:7",
        "award-1",
    )
    await assert_not_stored(funded, "award-2")
    async with funded.transaction() as tx:
        await give(
            tx, POOL, ALICE, 5, id="fix-1", kind=TransferKind.ADJUSTMENT, reference="claim:7"
        )
        await give(
            tx,
            points.account_id(AccountKind.POOL, OTHER),
            member.id,
            10,
            id="award-1",
            kind=TransferKind.ACCRUAL,
            reference="claim:7",
            community=OTHER,
        )
        found = await points.find_by_reference(tx, C, TransferKind.ACCRUAL, "claim:7")
    assert found == first
    assert (await account(funded, ALICE)).balance == 115
    assert (await account(funded, member.id, OTHER)).balance == 10
    await assert_audit_clean(funded)


# --- statement ------------------------------------------------------------------------------


async def test_a_statement_lists_entries_newest_first_with_balances_after(
    funded: points.Database,
) -> None:
    async with funded.transaction() as tx:
        await give(tx, ALICE, BOB, 30, id="gift", now=at(60), memo="送给bob")
        await give(
            tx,
            ALICE,
            STORE,
            20,
            id="order",
            kind=TransferKind.REDEMPTION,
            pending=True,
            now=at(120),
        )
        await points.post_pending(tx, C, "order", id="order:post", now=at(180))
    async with funded.read() as tx:
        page = await points.statement(tx, C, ALICE)
        assert await points.audit(tx) == []
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


async def test_statement_pages_cover_every_entry_exactly_once(funded: points.Database) -> None:
    async with funded.transaction() as tx:
        for i in range(25):
            await give(tx, ALICE, BOB, 1, id=f"g{i}", now=at(i))
    for limit in (1, 7, 13, 26, 200):
        pages = await read_all_pages(funded, ALICE, limit)
        assert [seq for page in pages for seq in page] == list(range(26, 0, -1)), limit
        assert len(pages) == -(-26 // limit), limit  # no empty last page
        assert all(0 < len(page) <= limit for page in pages), limit
    await assert_audit_clean(funded)


async def test_a_statement_filters_by_kind_and_period(funded: points.Database) -> None:
    async with funded.transaction() as tx:
        await give(tx, ALICE, BOB, 1, id="gift-1", now=at(60))
        await give(tx, POOL, ALICE, 5, id="award", kind=TransferKind.ACCRUAL, now=at(120))
        await give(tx, ALICE, BOB, 2, id="gift-2", now=at(180))
    async with funded.read() as tx:
        donations = await points.statement(tx, C, ALICE, kinds=frozenset({TransferKind.DONATION}))
        both = await points.statement(
            tx, C, ALICE, kinds=frozenset({TransferKind.DONATION, TransferKind.ACCRUAL})
        )
        window = await points.statement(tx, C, ALICE, since=at(60), until=at(180))
        assert await points.audit(tx) == []
    assert [e.transfer_id for e in donations.items] == ["gift-2", "gift-1"]
    assert [e.transfer_id for e in both.items] == ["gift-2", "award", "gift-1", "seed"]
    assert [e.transfer_id for e in window.items] == ["award", "gift-1"]


async def test_a_statement_refuses_a_bad_cursor(funded: points.Database) -> None:
    async with funded.read() as tx:
        for cursor in ("", "abc", "-1", "1.5", " 3", "3 ", "1" * 19, "²", "三", "٣"):
            with pytest.raises(points.InvalidId):
                await points.statement(tx, C, ALICE, cursor=cursor)
        assert (await points.statement(tx, C, ALICE, cursor="2")).items[0].transfer_id == "seed"


async def test_a_statement_refuses_a_limit_out_of_bounds(funded: points.Database) -> None:
    async with funded.read() as tx:
        for limit in (0, -1, 201, True, 1.5, None, "10"):
            with pytest.raises(points.InvalidRequest):
                await points.statement(tx, C, ALICE, limit=limit)
        for limit in (1, 200):
            assert len((await points.statement(tx, C, ALICE, limit=limit)).items) == 1


# --- bounds ---------------------------------------------------------------------------------

BAD_AMOUNTS = [0, -1, 2**31, 2**63, 2**70, 1.5, "10", True, None, float("nan")]


async def test_a_bad_amount_is_refused_and_nothing_is_stored(funded: points.Database) -> None:
    await hold(funded, 10, id="order-1")
    before = await snapshot(funded, POOL, ALICE, BOB, STORE)
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
            if not await refuses(funded, points.InvalidRequest, write, *args, id="bad", **options):
                let_through.append((amount, write.__name__, options))
    assert let_through == []
    assert await snapshot(funded, POOL, ALICE, BOB, STORE) == before
    await assert_not_stored(funded, "bad")
    async with funded.transaction() as tx:  # nothing remembers the id: it is free for a good use
        await give(tx, ALICE, BOB, 1, id="bad")
    await assert_audit_clean(funded)


async def test_max_amount_itself_is_accepted(funded: points.Database) -> None:
    with pytest.raises(points.InvalidAmount):
        async with funded.transaction() as tx:
            await give(tx, POOL, BOB, points.MAX_AMOUNT + 1, id="too-big")
    async with funded.transaction() as tx:
        await give(tx, POOL, BOB, points.MAX_AMOUNT, id="biggest", kind=TransferKind.ACCRUAL)
        await give(tx, BOB, ALICE, points.MAX_AMOUNT, id="passed-on")
    assert (await account(funded, ALICE)).balance == 100 + points.MAX_AMOUNT
    await assert_audit_clean(funded)


BAD_IDS = ["", "x" * 65, "a b", " t1", "t1\n", "积分", "t-😀", "-t1", "t/1", 7]


async def test_a_bad_id_is_refused(funded: points.Database) -> None:
    await hold(funded, 10, id="order-1")
    before = await snapshot(funded, ALICE, BOB, STORE)
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
        if not await refuses(funded, points.InvalidId, write, *args, **options)
    ]
    assert let_through == []
    assert await snapshot(funded, ALICE, BOB, STORE) == before
    await assert_audit_clean(funded)


async def test_the_longest_id_is_accepted(funded: points.Database) -> None:
    longest = "A.b_c:d@e-" + "9" * 54
    assert len(longest) == 64
    async with funded.transaction() as tx:
        done = await give(tx, ALICE, BOB, 1, id=longest)
    assert done.id == longest
    await assert_audit_clean(funded)


async def test_a_memo_longer_than_500_characters_is_refused(funded: points.Database) -> None:
    with pytest.raises(points.InvalidRequest):
        async with funded.transaction() as tx:
            await give(tx, ALICE, BOB, 1, id="chatty", memo="谢" * 501)
    await assert_not_stored(funded, "chatty")
    async with funded.transaction() as tx:
        done = await give(tx, ALICE, BOB, 1, id="chatty", memo="谢" * 500)
    assert done.memo == "谢" * 500
    await assert_audit_clean(funded)


async def test_a_transfer_needs_two_different_accounts(funded: points.Database) -> None:
    with pytest.raises(points.InvalidRequest):
        async with funded.transaction() as tx:
            await give(tx, ALICE, ALICE, 1, id="to-self")
    await assert_not_stored(funded, "to-self")
    await assert_audit_clean(funded)


# --- tenancy --------------------------------------------------------------------------------


async def test_an_account_of_another_community_cannot_be_used(funded: points.Database) -> None:
    other_pool = points.account_id(AccountKind.POOL, OTHER)
    async with funded.transaction() as tx:
        await points.open_community(tx, OTHER)
        carol = await points.open_account(tx, OTHER, AccountKind.MEMBER, "carol")
    for debit, credit in ((ALICE, carol.id), (other_pool, ALICE)):
        with pytest.raises(points.AccountNotFound):
            async with funded.transaction() as tx:
                await give(tx, debit, credit, 1, id="crossing", community=OTHER)
    with pytest.raises(points.AccountNotFound):
        async with funded.transaction() as tx:
            await give(tx, ALICE, carol.id, 1, id="crossing")
    async with funded.transaction() as tx:
        with pytest.raises(points.TransferNotFound):
            await points.reverse(tx, OTHER, "seed", id="undo-elsewhere")
    await hold(funded, 10, id="order-1")
    async with funded.transaction() as tx:
        with pytest.raises(points.TransferNotFound):
            await points.post_pending(tx, OTHER, "order-1", id="post-elsewhere")
    async with funded.read() as tx:
        assert (await points.statement(tx, OTHER, ALICE)).items == ()
        with pytest.raises(points.AccountNotFound):
            await points.get_account(tx, OTHER, ALICE)
        assert (await points.get_account(tx, OTHER, carol.id)).balance == 0
        assert await points.audit(tx) == []


# --- the audit can fail ---------------------------------------------------------------------


async def test_the_audit_reports_a_tampered_counter(funded: points.Database) -> None:
    await assert_audit_clean(funded)
    async with funded.writer.begin() as conn:
        await conn.exec_driver_sql(
            "UPDATE points_accounts SET credits_posted = credits_posted + 1 "
            f"WHERE community_id = '{C}' AND id = '{BOB}'"
        )
    async with funded.read() as tx:
        problems = await points.audit(tx)
        scoped = await points.audit(tx, OTHER)
    drift = [p for p in problems if p.code == "counter_drift"]
    assert [(p.community_id, p.subject) for p in drift] == [(C, BOB)]
    assert drift[0].actual["credits_posted"] == drift[0].expected["credits_posted"] + 1
    assert "not_zero_sum" in {p.code for p in problems}
    assert scoped == []


async def test_the_audit_reports_a_deleted_lot_use(funded: points.Database) -> None:
    async with funded.transaction() as tx:
        await give(tx, ALICE, BOB, 30, id="gift")
    await assert_audit_clean(funded)
    async with funded.writer.begin() as conn:
        await conn.exec_driver_sql(
            f"DELETE FROM points_lot_uses WHERE community_id = '{C}' AND transfer_id = 'gift'"
        )
    async with funded.read() as tx:
        problems = await points.audit(tx)
    assert ("lot_drift", "seed") in {(p.code, p.subject) for p in problems}


# --- durability -----------------------------------------------------------------------------


async def test_durability_settings_are_in_force(db: points.Database) -> None:
    settings = await db.pragmas()
    if db.is_sqlite:
        assert settings["journal_mode"] == "wal"
        assert settings["synchronous"] == 2  # FULL
        assert settings["foreign_keys"] == 1
    else:
        assert settings["synchronous_commit"] == "on"


async def test_sqlite_tables_are_strict(funded: points.Database) -> None:
    if not funded.is_sqlite:
        pytest.skip("STRICT tables are a SQLite feature")
    insert = (
        "INSERT INTO points_transfers (community_id, id, debit_account_id, credit_account_id, "
        "amount, kind, phase, memo, actor, created_at) "
        f"VALUES ('{C}', 'raw', '{ALICE}', '{BOB}', {{amount}}, 'donation', 'posted', '', '', "
        "'2025-03-01T01:00:00.000000Z')"
    )
    async with funded.writer.connect() as conn:
        trans = await conn.begin()
        await conn.exec_driver_sql(insert.format(amount=2))  # the row is otherwise valid
        await trans.rollback()
    with pytest.raises(sa.exc.IntegrityError, match="REAL"):
        async with funded.writer.begin() as conn:
            await conn.exec_driver_sql(insert.format(amount=1.5))
    await assert_not_stored(funded, "raw")
    await assert_audit_clean(funded)
