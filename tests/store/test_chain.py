"""Tamper evidence (防篡改): each community's transfers form a hash chain, on SQLite and PostgreSQL.

The tampering below is done the way an insider with SQL access would do it, straight on the
tables. A chain catches an edited, reordered or deleted sealed transfer on its own. A careful
insider who deletes the newest transfers, puts the balances back and rewinds the stored head
leaves a ledger that audits clean and a chain that verifies: only the head handed to an outside
party earlier catches that. The figures print with ``pytest -p no:xdist -s``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

import points
from points import AccountKind, Activity, TransferKind
from points.chain import GENESIS, link
from points.schema import accounts, chain_heads, entries, lot_uses, lots, transfers

T0 = dt.datetime(2026, 11, 2, 1, 0, tzinfo=dt.UTC)


def at(minutes: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def pool(community: str) -> str:
    return points.account_id(AccountKind.POOL, community)


def wallet(member: str) -> str:
    return points.account_id(AccountKind.MEMBER, member)


async def build_ledger(db: points.Database, community: str, *, start: int = 0) -> list[str]:
    """Transfers of every kind and phase in one community; their ids, oldest first."""
    c, ids = community, []

    async def move(debit: str, credit: str, amount: int, kind: TransferKind, **kw: Any) -> None:
        async with db.transaction() as tx:
            t = await points.transfer(
                tx,
                community_id=c,
                debit_account_id=debit,
                credit_account_id=credit,
                amount=amount,
                kind=kind,
                now=at(start + len(ids)),
                **kw,
            )
        ids.append(t.id)

    async with db.transaction() as tx:
        await points.open_community(tx, c)
        for member in ("ann", "bo"):
            await points.open_account(tx, c, AccountKind.MEMBER, member, now=at(start))
        award = await points.accrue(  # an accrual with its breakdown in `detail`
            tx,
            community_id=c,
            member_id="ann",
            activity=Activity(minutes=90, category="助老", started_at=at(start)),
            reference=f"claim:{c}",
            actor="staff",
            memo="陪王奶奶复诊 👵",
            now=at(start),
        )
    assert award.transfer is not None
    ids.append(award.transfer.id)
    store = points.account_id(AccountKind.STORE, c)
    expiry = points.account_id(AccountKind.EXPIRY, c)
    await move(pool(c), wallet("bo"), 40, TransferKind.ACCRUAL, value_date=dt.date(2026, 11, 1))
    await move(wallet("ann"), wallet("bo"), 3, TransferKind.DONATION, memo="谢谢")
    await move(wallet("ann"), store, 4, TransferKind.REDEMPTION, pending=True, id=f"{c}-hold1")
    await move(wallet("bo"), store, 5, TransferKind.REDEMPTION, pending=True, id=f"{c}-hold2",
               timeout=dt.timedelta(days=7))  # fmt: skip
    for resolve in (points.post_pending, points.void_pending):
        async with db.transaction() as tx:
            held = f"{c}-hold1" if resolve is points.post_pending else f"{c}-hold2"
            ids.append((await resolve(tx, c, held, now=at(start + len(ids)))).id)
    async with db.transaction() as tx:
        reversal = await points.reverse(tx, c, ids[2], now=at(start + len(ids)))
    ids.append(reversal.id)
    await move(wallet("bo"), expiry, 2, TransferKind.EXPIRY)
    await move(pool(c), wallet("ann"), 6, TransferKind.ADJUSTMENT, memo="补录")
    return ids


async def accruals(db: points.Database, community: str, n: int, *, start: int) -> list[str]:
    """``n`` plain posted accruals from the pool: the newest transfers of the community."""
    ids = []
    for i in range(n):
        async with db.transaction() as tx:
            t = await points.transfer(
                tx,
                community_id=community,
                debit_account_id=pool(community),
                credit_account_id=wallet("bo" if i % 2 else "ann"),
                amount=10 + i,
                kind=TransferKind.ACCRUAL,
                now=at(start + i),
            )
        ids.append(t.id)
    return ids


async def seal_all(db: points.Database, community: str | None = None) -> int:
    sealed = 0
    while True:
        async with db.transaction() as tx:
            n = await points.seal(tx, community, limit=7)
        if not n:
            return sealed
        sealed += n


async def verify(
    db: points.Database, community: str | None = None, heads: Any = None
) -> points.ChainReport:
    async with db.read() as tx:
        return await points.verify_chain(tx, community, expected_heads=heads)


async def audit(db: points.Database, community: str | None = None) -> list[points.Problem]:
    async with db.read() as tx:
        return await points.audit(tx, community)


def handed_out(report: points.ChainReport) -> dict[str, tuple[int, str]]:
    return {h.community_id: (h.seq, h.hash) for h in report.heads}


async def sealed_rows(db: points.Database, community: str) -> list[Any]:
    async with db.read() as tx:
        rows = await tx.execute(
            sa.select(transfers)
            .where(transfers.c.community_id == community, transfers.c.chain_seq.is_not(None))
            .order_by(transfers.c.chain_seq)
        )
        return list(rows)


# --- a sealed ledger ------------------------------------------------------------------------


async def test_transfers_of_every_kind_in_two_communities_seal_into_chains_that_verify(
    db: points.Database,
) -> None:
    made = {c: await build_ledger(db, c) for c in ("c1", "c2")}
    before = await verify(db)
    assert (before.heads, before.problems, before.unsealed) == ((), (), 20)

    assert await seal_all(db) == 20
    report = await verify(db)
    assert report.problems == ()
    assert report.unsealed == 0
    assert [(h.community_id, h.seq) for h in report.heads] == [("c1", 10), ("c2", 10)]
    assert report.heads[0].hash != report.heads[1].hash
    for c, ids in made.items():  # sealed in the order the transfers were made
        assert [r.id for r in await sealed_rows(db, c)] == ids
    assert await audit(db) == []

    # Sealing again changes nothing; a new transfer extends the chain and keeps its past.
    assert await seal_all(db) == 0
    await accruals(db, "c1", 1, start=100)
    assert (await verify(db, "c1")).unsealed == 1
    assert await seal_all(db, "c1") == 1
    grown = await verify(db, heads=handed_out(report))
    assert grown.problems == ()
    assert [(h.community_id, h.seq) for h in grown.heads] == [("c1", 11), ("c2", 10)]


async def test_the_hash_covers_the_transfer_not_the_backend(db: points.Database) -> None:
    """Each stored hash is the link of the row before and this row's fields: recomputed here
    from the rows alone, as an outside party holding a copy would."""
    await build_ledger(db, "c1")
    await seal_all(db)
    previous = GENESIS
    for row in await sealed_rows(db, "c1"):
        assert row.chain_hash == link(previous, row.chain_seq, row._mapping)
        previous = row.chain_hash
    assert (await verify(db, "c1")).heads[0].hash == previous


async def test_several_sealers_at_once_make_one_chain(db: points.Database) -> None:
    """Writers and sealers run together; each sealer takes a few transfers at a time."""
    async with db.transaction() as tx:
        await points.open_community(tx, "c1")
        await points.open_account(tx, "c1", AccountKind.MEMBER, "ann")
    written = 0
    sealed: list[int] = []

    async def writer(k: int) -> None:
        nonlocal written
        for i in range(10):
            async with db.transaction() as tx:
                await points.transfer(
                    tx,
                    community_id="c1",
                    debit_account_id=pool("c1"),
                    credit_account_id=wallet("ann"),
                    amount=1 + i,
                    kind=TransferKind.ACCRUAL,
                )
            written += 1
            await asyncio.sleep(0)

    async def sealer() -> None:
        for _ in range(15):
            async with db.transaction() as tx:
                sealed.append(await points.seal(tx, limit=3))
            await asyncio.sleep(0)

    await asyncio.gather(*(writer(k) for k in range(4)), *(sealer() for _ in range(6)))
    rest = await seal_all(db)
    rows = await sealed_rows(db, "c1")
    assert [r.chain_seq for r in rows] == list(range(1, 41))
    assert len({r.id for r in rows}) == written == 40
    assert sum(sealed) + rest == 40
    report = await verify(db)
    assert (report.problems, report.unsealed) == ((), 0)
    print(
        f"[chain] {db.writer.dialect.name}: 4 writers x 10 transfers with 6 sealers at once: "
        f"{sum(sealed)} sealed concurrently in {sum(1 for n in sealed if n)} batches, "
        f"{rest} after; chain 1..{rows[-1].chain_seq}, no gap, no repeat"
    )


async def test_a_populated_database_migrated_down_and_up_again_seals_its_transfers_anew(
    db: points.Database,
) -> None:
    """Downgrading drops the chain and keeps the transfers; upgrading finds them unsealed, as
    it finds the transfers of a database made before the chain existed."""
    await build_ledger(db, "c1")
    await seal_all(db)
    sealed = await sealed_rows(db, "c1")
    await db.downgrade("0001")
    try:
        assert await db.revision() == "m0002"  # the marketplace's head; the ledger is at 0001
        assert await audit(db) == []
    finally:
        await db.upgrade()
    assert (await verify(db)).unsealed == 10
    assert await seal_all(db) == 10
    report = await verify(db)
    assert (report.problems, [h.seq for h in report.heads]) == ((), [10])
    assert [r.chain_hash for r in await sealed_rows(db, "c1")] == [r.chain_hash for r in sealed]
    assert await audit(db) == []


async def test_seal_refuses_a_limit_that_is_not_a_positive_integer(db: points.Database) -> None:
    async with db.transaction() as tx:
        for limit in (0, -1, True):
            with pytest.raises(points.InvalidRequest):
                await points.seal(tx, limit=limit)


# --- tampering --------------------------------------------------------------------------------

Tamper = Callable[[AsyncConnection, str, list[Any]], Awaitable[None]]


async def edit_memo(conn: AsyncConnection, c: str, rows: list[Any]) -> None:
    await _set(conn, c, rows[4].id, memo="改过的备注")


async def edit_amount(conn: AsyncConnection, c: str, rows: list[Any]) -> None:
    await _set(conn, c, rows[1].id, amount=rows[1].amount + 100)


async def swap_two(conn: AsyncConnection, c: str, rows: list[Any]) -> None:
    a, b = rows[2], rows[3]
    await _set(conn, c, a.id, chain_seq=-1)
    await _set(conn, c, b.id, chain_seq=a.chain_seq, chain_hash=a.chain_hash)
    await _set(conn, c, a.id, chain_seq=b.chain_seq, chain_hash=b.chain_hash)


async def delete_middle(conn: AsyncConnection, c: str, rows: list[Any]) -> None:
    await _delete(conn, c, rows[2].id)  # the donation: its entries, lot and lot uses too


async def delete_tail_naively(conn: AsyncConnection, c: str, rows: list[Any]) -> None:
    await erase_newest(conn, c, rows, 2, rewind_head=False)


async def delete_tail(conn: AsyncConnection, c: str, rows: list[Any]) -> None:
    await erase_newest(conn, c, rows, 2)


async def rewrite_history(conn: AsyncConnection, c: str, rows: list[Any]) -> None:
    """Edit a sealed transfer, then re-hash it and everything after it, and the head."""
    await _set(conn, c, rows[4].id, memo="改过的备注")
    fresh = (
        await conn.execute(
            sa.select(transfers)
            .where(transfers.c.community_id == c, transfers.c.chain_seq.is_not(None))
            .order_by(transfers.c.chain_seq)
        )
    ).all()
    previous = fresh[3].chain_hash
    for row in fresh[4:]:
        previous = link(previous, row.chain_seq, row._mapping)
        await _set(conn, c, row.id, chain_hash=previous)
    await conn.execute(
        chain_heads.update().where(chain_heads.c.community_id == c).values(hash=previous)
    )


async def erase_newest(
    conn: AsyncConnection, c: str, rows: list[Any], k: int, *, rewind_head: bool = True
) -> None:
    """Remove the newest ``k`` transfers (posted accruals from the pool) as a careful insider
    would: their entries and lots too, the accounts' counters and versions put back, and the
    stored chain head rewound to the last transfer left. The books still balance."""
    for row in reversed(rows[-k:]):
        assert (row.kind, row.phase, row.debit_account_id) == ("accrual", "posted", pool(c))
        await _delete(conn, c, row.id)
        for acct, counter in ((row.debit_account_id, "debits_posted"),
                              (row.credit_account_id, "credits_posted")):  # fmt: skip
            await conn.execute(
                accounts.update()
                .where(accounts.c.community_id == c, accounts.c.id == acct)
                .values(
                    {counter: accounts.c[counter] - row.amount, "version": accounts.c.version - 1}
                )
            )
    if rewind_head:
        last = rows[-k - 1]
        await conn.execute(
            chain_heads.update()
            .where(chain_heads.c.community_id == c)
            .values(seq=last.chain_seq, hash=last.chain_hash)
        )


async def _set(conn: AsyncConnection, c: str, transfer_id: str, **values: Any) -> None:
    await conn.execute(
        transfers.update()
        .where(transfers.c.community_id == c, transfers.c.id == transfer_id)
        .values(**values)
    )


async def _delete(conn: AsyncConnection, c: str, transfer_id: str) -> None:
    for table, column in ((entries, "transfer_id"), (lot_uses, "transfer_id"), (lots, "id"),
                          (transfers, "id")):  # fmt: skip
        await conn.execute(
            table.delete().where(table.c.community_id == c, table.c[column] == transfer_id)
        )


CASES: dict[str, tuple[Tamper, bool, set[str], set[str]]] = {
    # case: (tamper, the audit catches it, chain codes without the head, with the head)
    "edit-memo": (edit_memo, False, {"chain_hash_mismatch"}, {"chain_hash_mismatch"}),
    "edit-amount": (edit_amount, True, {"chain_hash_mismatch"}, {"chain_hash_mismatch"}),
    "swap-two-rows": (swap_two, False, {"chain_hash_mismatch"}, {"chain_hash_mismatch"}),
    "delete-middle": (delete_middle, True, {"chain_gap"}, {"chain_gap"}),
    "delete-tail-naive": (
        delete_tail_naively,
        False,
        {"chain_head_mismatch"},
        {"chain_head_mismatch", "chain_truncated"},
    ),
    "delete-tail": (delete_tail, False, set(), {"chain_truncated"}),
    "rewrite-history": (rewrite_history, False, set(), {"chain_rewritten"}),
}


async def test_which_tampering_is_caught_with_and_without_the_external_head(
    db: points.Database,
) -> None:
    """Each case in a community of its own: build, seal, hand the head out, tamper, verify."""
    found: dict[str, tuple[bool, set[str], set[str]]] = {}
    for n, (case, (tamper, _, _, _)) in enumerate(CASES.items()):
        await build_ledger(db, case, start=100 * n)
        await accruals(db, case, 2, start=100 * n + 50)
        await seal_all(db, case)
        head = handed_out(await verify(db, case))
        assert head[case][0] == 12
        rows = await sealed_rows(db, case)
        async with db.writer.begin() as conn:
            await tamper(conn, case, rows)
        without, with_head = await verify(db, case), await verify(db, case, head)
        found[case] = (
            bool(await audit(db, case)),
            {p.code for p in without.problems},
            {p.code for p in with_head.problems},
        )
        if case == "edit-memo":  # the problem names the edited transfer and its place
            assert [(p.subject, p.message[:3]) for p in without.problems] == [(rows[4].id, "#5:")]
        if case == "delete-tail":
            assert [(h.seq, h.hash) for h in without.heads] == [(10, rows[9].chain_hash)]
            assert [(p.expected, p.actual) for p in with_head.problems] == [(12, 10)]

    def mark(caught: bool) -> str:
        return "caught" if caught else "NOT caught"

    print(f"\n[chain] {db.writer.dialect.name}: tampering with a sealed ledger of 12 transfers")
    print(f"  {'case':<18} {'plain audit':<12} {'chain alone':<12} {'chain + head':<12} codes")
    for case, (audited, without, with_head) in found.items():
        print(
            f"  {case:<18} {mark(audited):<12} {mark(bool(without)):<12} "
            f"{mark(bool(with_head)):<12} {', '.join(sorted(with_head))}"
        )
    assert found == {case: (a, w, h) for case, (_, a, w, h) in CASES.items()}
