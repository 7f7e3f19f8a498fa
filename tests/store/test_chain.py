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
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

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


def build_ledger(db: points.Database, community: str, *, start: int = 0) -> list[str]:
    """Transfers of every kind and phase in one community; their ids, oldest first."""
    c, ids = community, []

    def move(debit: str, credit: str, amount: int, kind: TransferKind, **kw: Any) -> None:
        with db.transaction() as tx:
            t = points.transfer(
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

    with db.transaction() as tx:
        points.open_community(tx, c)
        for member in ("ann", "bo"):
            points.open_account(tx, c, AccountKind.MEMBER, member, now=at(start))
        award = points.accrue(  # an accrual with its breakdown in `detail`
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
    move(pool(c), wallet("bo"), 40, TransferKind.ACCRUAL, value_date=dt.date(2026, 11, 1))
    move(wallet("ann"), wallet("bo"), 3, TransferKind.DONATION, memo="谢谢")
    move(wallet("ann"), store, 4, TransferKind.REDEMPTION, pending=True, id=f"{c}-hold1")
    move(wallet("bo"), store, 5, TransferKind.REDEMPTION, pending=True, id=f"{c}-hold2",
               timeout=dt.timedelta(days=7))  # fmt: skip
    for resolve in (points.post_pending, points.void_pending):
        with db.transaction() as tx:
            held = f"{c}-hold1" if resolve is points.post_pending else f"{c}-hold2"
            ids.append((resolve(tx, c, held, now=at(start + len(ids)))).id)
    with db.transaction() as tx:
        reversal = points.reverse(tx, c, ids[2], now=at(start + len(ids)))
    ids.append(reversal.id)
    move(wallet("bo"), expiry, 2, TransferKind.EXPIRY)
    move(pool(c), wallet("ann"), 6, TransferKind.ADJUSTMENT, memo="补录")
    return ids


def accruals(db: points.Database, community: str, n: int, *, start: int) -> list[str]:
    """``n`` plain posted accruals from the pool: the newest transfers of the community."""
    ids = []
    for i in range(n):
        with db.transaction() as tx:
            t = points.transfer(
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


def seal_all(db: points.Database, community: str | None = None) -> int:
    sealed = 0
    while True:
        with db.transaction() as tx:
            n = points.seal(tx, community, limit=7)
        if not n:
            return sealed
        sealed += n


def verify(
    db: points.Database, community: str | None = None, heads: Any = None
) -> points.ChainReport:
    with db.snapshot() as tx:
        return points.verify_chain(tx, community, expected_heads=heads)


def audit(db: points.Database, community: str | None = None) -> list[points.Problem]:
    with db.snapshot() as tx:
        return points.audit(tx, community)


def handed_out(report: points.ChainReport) -> dict[str, tuple[int, str]]:
    return {h.community_id: (h.seq, h.hash) for h in report.heads}


def sealed_rows(db: points.Database, community: str) -> list[Any]:
    with db.snapshot() as tx:
        rows = tx.execute(
            sa.select(transfers)
            .where(transfers.c.community_id == community, transfers.c.chain_seq.is_not(None))
            .order_by(transfers.c.chain_seq)
        )
        return list(rows)


# --- a sealed ledger ------------------------------------------------------------------------


def test_transfers_of_every_kind_in_two_communities_seal_into_chains_that_verify(
    db: points.Database,
) -> None:
    made = {c: build_ledger(db, c) for c in ("c1", "c2")}
    before = verify(db)
    assert (before.heads, before.problems, before.unsealed) == ((), (), 20)

    assert seal_all(db) == 20
    report = verify(db)
    assert report.problems == ()
    assert report.unsealed == 0
    assert [(h.community_id, h.seq) for h in report.heads] == [("c1", 10), ("c2", 10)]
    assert report.heads[0].hash != report.heads[1].hash
    for c, ids in made.items():  # sealed in the order the transfers were made
        assert [r.id for r in sealed_rows(db, c)] == ids
    assert audit(db) == []

    # Sealing again changes nothing; a new transfer extends the chain and keeps its past.
    assert seal_all(db) == 0
    accruals(db, "c1", 1, start=100)
    assert (verify(db, "c1")).unsealed == 1
    assert seal_all(db, "c1") == 1
    grown = verify(db, heads=handed_out(report))
    assert grown.problems == ()
    assert [(h.community_id, h.seq) for h in grown.heads] == [("c1", 11), ("c2", 10)]


def test_the_hash_covers_the_transfer_not_the_backend(db: points.Database) -> None:
    """Each stored hash is the link of the row before and this row's fields: recomputed here
    from the rows alone, as an outside party holding a copy would."""
    build_ledger(db, "c1")
    seal_all(db)
    previous = GENESIS
    for row in sealed_rows(db, "c1"):
        assert row.chain_hash == link(previous, row.chain_seq, row._mapping)
        previous = row.chain_hash
    assert (verify(db, "c1")).heads[0].hash == previous


def test_several_sealers_at_once_make_one_chain(db: points.Database) -> None:
    """Writers and sealers run together; each sealer takes a few transfers at a time."""
    with db.transaction() as tx:
        points.open_community(tx, "c1")
        points.open_account(tx, "c1", AccountKind.MEMBER, "ann")
    written = 0
    sealed: list[int] = []

    async def writer(k: int) -> None:
        nonlocal written
        for i in range(10):
            await db.awrite(
                points.transfer,
                community_id="c1",
                debit_account_id=pool("c1"),
                credit_account_id=wallet("ann"),
                amount=1 + i,
                kind=TransferKind.ACCRUAL,
            )
            written += 1

    async def sealer() -> None:
        for _ in range(15):
            sealed.append(await db.awrite(points.seal, limit=3))

    async def race() -> None:
        await asyncio.gather(*(writer(k) for k in range(4)), *(sealer() for _ in range(6)))

    asyncio.run(race())
    rest = seal_all(db)
    rows = sealed_rows(db, "c1")
    assert [r.chain_seq for r in rows] == list(range(1, 41))
    assert len({r.id for r in rows}) == written == 40
    assert sum(sealed) + rest == 40
    report = verify(db)
    assert (report.problems, report.unsealed) == ((), 0)
    print(
        f"[chain] {db.writer.dialect.name}: 4 writers x 10 transfers with 6 sealers at once: "
        f"{sum(sealed)} sealed concurrently in {sum(1 for n in sealed if n)} batches, "
        f"{rest} after; chain 1..{rows[-1].chain_seq}, no gap, no repeat"
    )


def test_a_populated_database_migrated_down_and_up_again_seals_its_transfers_anew(
    db: points.Database,
) -> None:
    """Downgrading drops the chain and keeps the transfers; upgrading finds them unsealed, as
    it finds the transfers of a database made before the chain existed."""
    build_ledger(db, "c1")
    seal_all(db)
    sealed = sealed_rows(db, "c1")
    db.downgrade("0001")
    try:
        assert db.revision() == "m0015"  # the marketplace's head; the ledger is at 0001
        assert audit(db) == []
    finally:
        db.upgrade()
    assert (verify(db)).unsealed == 10
    assert seal_all(db) == 10
    report = verify(db)
    assert (report.problems, [h.seq for h in report.heads]) == ((), [10])
    assert [r.chain_hash for r in sealed_rows(db, "c1")] == [r.chain_hash for r in sealed]
    assert audit(db) == []


def test_seal_refuses_a_limit_that_is_not_a_positive_integer(db: points.Database) -> None:
    with db.transaction() as tx:
        for limit in (0, -1, True):
            with pytest.raises(points.InvalidRequest):
                points.seal(tx, limit=limit)


# --- tampering --------------------------------------------------------------------------------

Tamper = Callable[[Connection, str, list[Any]], None]


def edit_memo(conn: Connection, c: str, rows: list[Any]) -> None:
    _set(conn, c, rows[4].id, memo="改过的备注")


def edit_amount(conn: Connection, c: str, rows: list[Any]) -> None:
    _set(conn, c, rows[1].id, amount=rows[1].amount + 100)


def swap_two(conn: Connection, c: str, rows: list[Any]) -> None:
    a, b = rows[2], rows[3]
    _set(conn, c, a.id, chain_seq=-1)
    _set(conn, c, b.id, chain_seq=a.chain_seq, chain_hash=a.chain_hash)
    _set(conn, c, a.id, chain_seq=b.chain_seq, chain_hash=b.chain_hash)


def delete_middle(conn: Connection, c: str, rows: list[Any]) -> None:
    _delete(conn, c, rows[2].id)  # the donation: its entries, lot and lot uses too


def delete_tail_naively(conn: Connection, c: str, rows: list[Any]) -> None:
    erase_newest(conn, c, rows, 2, rewind_head=False)


def delete_tail(conn: Connection, c: str, rows: list[Any]) -> None:
    erase_newest(conn, c, rows, 2)


def rewrite_history(conn: Connection, c: str, rows: list[Any]) -> None:
    """Edit a sealed transfer, then re-hash it and everything after it, and the head."""
    _set(conn, c, rows[4].id, memo="改过的备注")
    fresh = (
        conn.execute(
            sa.select(transfers)
            .where(transfers.c.community_id == c, transfers.c.chain_seq.is_not(None))
            .order_by(transfers.c.chain_seq)
        )
    ).all()
    previous = fresh[3].chain_hash
    for row in fresh[4:]:
        previous = link(previous, row.chain_seq, row._mapping)
        _set(conn, c, row.id, chain_hash=previous)
    conn.execute(chain_heads.update().where(chain_heads.c.community_id == c).values(hash=previous))


def erase_newest(
    conn: Connection, c: str, rows: list[Any], k: int, *, rewind_head: bool = True
) -> None:
    """Remove the newest ``k`` transfers (posted accruals from the pool) as a careful insider
    would: their entries and lots too, the accounts' counters and versions put back, and the
    stored chain head rewound to the last transfer left. The books still balance."""
    for row in reversed(rows[-k:]):
        assert (row.kind, row.phase, row.debit_account_id) == ("accrual", "posted", pool(c))
        _delete(conn, c, row.id)
        for acct, counter in ((row.debit_account_id, "debits_posted"),
                              (row.credit_account_id, "credits_posted")):  # fmt: skip
            conn.execute(
                accounts.update()
                .where(accounts.c.community_id == c, accounts.c.id == acct)
                .values(
                    {counter: accounts.c[counter] - row.amount, "version": accounts.c.version - 1}
                )
            )
    if rewind_head:
        last = rows[-k - 1]
        conn.execute(
            chain_heads.update()
            .where(chain_heads.c.community_id == c)
            .values(seq=last.chain_seq, hash=last.chain_hash)
        )


def _set(conn: Connection, c: str, transfer_id: str, **values: Any) -> None:
    conn.execute(
        transfers.update()
        .where(transfers.c.community_id == c, transfers.c.id == transfer_id)
        .values(**values)
    )


def _delete(conn: Connection, c: str, transfer_id: str) -> None:
    for table, column in ((entries, "transfer_id"), (lot_uses, "transfer_id"), (lots, "id"),
                          (transfers, "id")):  # fmt: skip
        conn.execute(
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


def test_which_tampering_is_caught_with_and_without_the_external_head(
    db: points.Database,
) -> None:
    """Each case in a community of its own: build, seal, hand the head out, tamper, verify."""
    found: dict[str, tuple[bool, set[str], set[str]]] = {}
    for n, (case, (tamper, _, _, _)) in enumerate(CASES.items()):
        build_ledger(db, case, start=100 * n)
        accruals(db, case, 2, start=100 * n + 50)
        seal_all(db, case)
        head = handed_out(verify(db, case))
        assert head[case][0] == 12
        rows = sealed_rows(db, case)
        with db.writer.begin() as conn:
            tamper(conn, case, rows)
        without, with_head = verify(db, case), verify(db, case, head)
        found[case] = (
            bool(audit(db, case)),
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
