"""Batch accrual: ``accrue_many`` leaves the ledger exactly as ``accrue`` called for each record in
order would. Each test runs the same story in two communities of one database, one record at a
time in community A and as one batch in community B, and compares every row they wrote."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from typing import Any

import msgspec
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

import points
from points import AccrualPolicy, AccrualRecord, Activity, batch
from points.schema import accounts, entries, lots, refused_transfers, transfers

A, B = "ca", "cb"
NOW = dt.datetime(2026, 3, 1, 2, 0, tzinfo=dt.UTC)
LOCAL = dt.timezone(dt.timedelta(hours=8))
POLICY = AccrualPolicy(
    points_per_hour=10,
    category_multipliers={"助老": 150},
    min_minutes=20,
    daily_cap=25,
    monthly_cap=60,
)


def record(
    member: str, reference: str, minutes: int, started_at: dt.datetime, **more: Any
) -> AccrualRecord:
    return AccrualRecord(
        member_id=member,
        activity=Activity(
            minutes=minutes, category=more.pop("category", "代办"), started_at=started_at
        ),
        reference=reference,
        **more,
    )


def day(n: int, hour: int = 10) -> dt.datetime:
    """A moment on 2026-03-n, community-local."""
    return dt.datetime(2026, 3, 1, hour, tzinfo=LOCAL) + dt.timedelta(days=n - 1)


def one_by_one(
    tx: Connection, community: str, records: Sequence[AccrualRecord]
) -> list[points.Award]:
    return [
        points.accrue(
            tx,
            community_id=community,
            member_id=r.member_id,
            activity=r.activity,
            reference=r.reference,
            memo=r.memo,
            actor="staff1",
            now=NOW,
        )
        for r in records
    ]


def as_batch(
    tx: Connection, community: str, records: Sequence[AccrualRecord]
) -> list[points.Award]:
    return points.accrue_many(tx, community_id=community, records=records, actor="staff1", now=NOW)


def setup(db: points.Database) -> None:
    """In both communities: the policy, two wallets, an award, a hold that counts against the
    caps and a voided one that does not."""
    for c in (A, B):
        with db.transaction() as tx:
            points.set_policy(tx, c, POLICY, actor="admin", now=NOW)
            for m in ("m1", "m2"):
                points.open_account(tx, c, points.AccountKind.MEMBER, m, now=NOW)
            points.accrue(
                tx, community_id=c, member_id="m1", activity=Activity(
                    minutes=60, category="代办", started_at=day(1, 8)
                ), reference="old:1", id="t-old-1", now=NOW,
            )  # fmt: skip
            points.accrue(
                tx, community_id=c, member_id="m1", activity=Activity(
                    minutes=60, category="代办", started_at=day(1, 9)
                ), reference="old:2", id="t-old-2", pending=True, now=NOW,
            )  # fmt: skip
            points.accrue(
                tx, community_id=c, member_id="m2", activity=Activity(
                    minutes=120, category="代办", started_at=day(1, 9)
                ), reference="old:3", id="t-old-3", pending=True, now=NOW,
            )  # fmt: skip
            points.void_pending(tx, c, "t-old-3", id="t-void-3", now=NOW)


STORY = [
    record("m1", "r:1", 120, day(1), memo="陪老人散步"),  # 20, daily cap: 20 earned -> 5
    record("m1", "r:2", 60, day(1, 15)),  # capped to 0
    record("m2", "r:3", 90, day(1), category="助老"),  # 22 (voided hold does not count)
    record("m3", "r:4", 180, day(2)),  # no wallet yet: 30 -> 25
    record("m3", "r:5", 60, day(2, 20)),  # 0, capped
    record("m2", "r:3", 240, day(3)),  # repeated reference: the award above
    record("m2", "old:1", 60, day(3)),  # awarded before the batch (to m1): that award
    record("m1", "r:6", 10, day(4)),  # below the minimum: 0 points
    record("m3", "r:7", 240, day(3)),  # 40 -> 25 (daily)
    record("m3", "r:8", 120, day(4)),  # monthly: 50 earned -> 10
    record("m4", "r:9", 5, day(4)),  # only a 0-point record: the wallet opens all the same
    record("m1", "r:10", 60, dt.datetime(2026, 3, 31, 17, 0, tzinfo=dt.UTC)),  # local April 1
    record("m1", "r:11", 30, dt.datetime(2026, 3, 31, 12, 0)),  # naive: the local wall clock
    record("m2", "r:12", 10, day(5)),  # 0 points, so its reference stays free ...
    record("m2", "r:12", 60, day(5)),  # ... and the repeat is awarded
    record("m5", "r:13", 60, day(6), memo="x" * 500),
]


def _key(ids: dict[str, str], value: str | None) -> str | None:
    return None if value is None else ids.get(value, value)


def rows(tx: Connection, community: str) -> dict[str, list[Any]]:
    """The community's ledger rows with generated ids replaced by the transfers' references and
    the community's own name taken out."""

    def plain(value: Any) -> Any:
        if value == community:
            return "*"
        return value.replace(f":{community}", ":*") if isinstance(value, str) else value

    def select(table: sa.Table) -> list[dict[str, Any]]:
        found = tx.execute(sa.select(table).where(table.c.community_id == community))
        return [{k: plain(v) for k, v in r._mapping.items() if k != "community_id"} for r in found]

    made = select(transfers)
    ids = {t["id"]: t["reference"] for t in made if t["reference"] and not t["id"].startswith("t-")}
    for t in made:
        t["id"], t["pending_id"] = _key(ids, t["id"]), _key(ids, t["pending_id"])
    for e in (lines := select(entries)):
        e["transfer_id"] = _key(ids, e["transfer_id"])
    for lot in (held := select(lots)):
        lot["id"] = _key(ids, lot["id"])
    wallets = select(accounts)
    for w in wallets:
        if w["kind"] != "member":  # the pool and its siblings open at the current time
            del w["created_at"]
    order = lambda row: sorted((k, str(v)) for k, v in row.items())  # noqa: E731
    return {
        name: sorted(found, key=order)
        for name, found in (
            ("transfers", made), ("entries", lines), ("lots", held), ("accounts", wallets)
        )
    }  # fmt: skip


def same_award(award: points.Award) -> points.Award:
    """An award with its community and generated id taken out."""
    t = award.transfer
    if t is None:
        return award
    key = t.id if t.id.startswith("t-") else t.reference
    debit = t.debit_account_id.split(":")[0] + ":*"
    plain = msgspec.structs.replace(t, community_id="*", id=key, debit_account_id=debit)
    return msgspec.structs.replace(award, transfer=plain)


def assert_same_ledgers(db: points.Database) -> dict[str, list[Any]]:
    with db.snapshot() as tx:
        one, batch = rows(tx, A), rows(tx, B)
        assert points.audit(tx) == []
        chained = tx.scalar(sa.select(sa.func.count()).where(transfers.c.chain_seq.is_not(None)))
    assert batch == one
    assert chained == 0
    return batch


def test_a_batch_writes_what_accruing_each_record_in_order_writes(
    db: points.Database,
) -> None:
    setup(db)

    with db.transaction() as tx:
        expected = one_by_one(tx, A, STORY)
    with db.transaction() as tx:
        awards = as_batch(tx, B, STORY)

    assert [same_award(a) for a in awards] == [same_award(a) for a in expected]
    assert [a.transfer.amount if a.transfer else 0 for a in awards] == [
        5, 0, 22, 25, 0, 22, 10, 0, 25, 10, 0, 10, 5, 0, 10, 10
    ]  # fmt: skip
    assert awards[5] == awards[2]
    written = assert_same_ledgers(db)
    assert {w["owner_id"] for w in written["accounts"] if w["kind"] == "member"} == {
        "m1", "m2", "m3", "m4", "m5"
    }  # fmt: skip


def test_a_batch_longer_than_one_lookup_reads_every_part(
    db: points.Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batch, "CHUNK", 2)  # wallets, references and holds two at a time
    setup(db)

    with db.transaction() as tx:
        expected = one_by_one(tx, A, STORY)
    with db.transaction() as tx:
        awards = as_batch(tx, B, STORY)

    assert [same_award(a) for a in awards] == [same_award(a) for a in expected]
    assert_same_ledgers(db)


def test_running_a_batch_again_writes_nothing_and_returns_the_same_awards(
    db: points.Database,
) -> None:
    setup(db)
    with db.transaction() as tx:
        one_by_one(tx, A, STORY)
    with db.transaction() as tx:
        first = as_batch(tx, B, STORY)
    before = assert_same_ledgers(db)

    with db.transaction() as tx:
        expected = one_by_one(tx, A, STORY)
    with db.transaction() as tx:
        again = as_batch(tx, B, STORY)

    assert [same_award(a) for a in again] == [same_award(a) for a in expected]
    assert again[13] == again[14] == first[14]  # "r:12" now returns the award its repeat made
    assert again[:13] + again[14:] == first[:13] + first[14:]
    assert assert_same_ledgers(db) == before


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_batches_match_accruing_one_by_one(db: points.Database, seed: int) -> None:
    rng = random.Random(seed)
    setup(db)
    made = [
        record(
            f"m{rng.randrange(1, 6)}",
            f"r:{rng.randrange(40)}",
            rng.choice((0, 10, 30, 60, 90, 240, 600)),
            day(rng.randrange(1, 6), rng.randrange(24)) + dt.timedelta(days=27 * rng.randrange(2)),
            category=rng.choice(("助老", "代办")),
        )
        for _ in range(40)
    ]
    for first in range(0, len(made), 15):  # several batches, each after the last
        with db.transaction() as tx:
            expected = one_by_one(tx, A, made[first : first + 15])
        with db.transaction() as tx:
            awards = as_batch(tx, B, made[first : first + 15])
        assert [same_award(a) for a in awards] == [same_award(a) for a in expected]
    assert_same_ledgers(db)


def counts(tx: Connection) -> list[int]:
    tables = (transfers, entries, lots, accounts, refused_transfers)
    return [tx.scalar(sa.select(sa.func.count()).select_from(t)) or 0 for t in tables]


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        (record("m9", "r:bad", -5, day(2)), points.InvalidActivity),
        (record("m9", "r:" + "x" * 127, 60, day(2)), points.InvalidId),
        (record("m 9", "r:bad", 60, day(2)), points.InvalidId),
        (record("m9", "r:bad", 60, day(2), memo="x" * 501), points.InvalidId),
    ],
    ids=["activity", "reference", "member", "memo"],
)
def test_a_refused_record_refuses_the_batch_before_anything_is_written(
    db: points.Database, bad: AccrualRecord, error: type[Exception]
) -> None:
    setup(db)
    batch = [*STORY[:4], bad, *STORY[4:]]
    with pytest.raises(error) as one, db.transaction() as tx:
        one_by_one(tx, A, batch)
    with db.transaction() as tx:
        before = counts(tx)
        with pytest.raises(error) as caught:
            as_batch(tx, B, batch)
        assert counts(tx) == before  # nothing written, even inside the transaction

    assert str(caught.value) == str(one.value)
    assert_same_ledgers(db)


def test_a_wallet_past_its_maximum_refuses_the_batch_as_accrue_does(
    db: points.Database,
) -> None:
    setup(db)
    for c in (A, B):
        with db.transaction() as tx:
            points.open_account(tx, c, points.AccountKind.MEMBER, "m8", max_balance=30, now=NOW)
    batch = [record("m8", "m8:1", 120, day(2)), *STORY[:3], record("m8", "m8:2", 120, day(3))]

    with pytest.raises(points.MaxBalanceExceeded) as one, db.transaction() as tx:
        one_by_one(tx, A, batch)
    with pytest.raises(points.MaxBalanceExceeded) as caught, db.transaction() as tx:
        as_batch(tx, B, batch)

    got, want = caught.value, one.value
    assert (got.account_id, got.balance, got.max_balance, got.requested) == (
        want.account_id, want.balance, want.max_balance, want.requested
    ) == ("member:m8", 20, 30, 20)  # fmt: skip
    ignore = {"id", "community_id", "debit_account_id"}
    assert {k: v for k, v in msgspec.to_builtins(got.refusal).items() if k not in ignore} == {
        k: v for k, v in msgspec.to_builtins(want.refusal).items() if k not in ignore
    }
    with db.snapshot() as tx:  # the refusal alone was kept, as Database.transaction does
        refused = tx.scalar(sa.select(sa.func.count()).where(refused_transfers.c.community_id == B))
    assert refused == 1
    assert_same_ledgers(db)


def test_an_empty_batch_does_nothing(db: points.Database) -> None:
    with db.transaction() as tx:
        assert as_batch(tx, B, []) == []
        assert counts(tx) == [0, 0, 0, 0, 0]


def test_a_wallet_opened_by_another_writer_meanwhile_makes_the_batch_plan_again(
    db: points.Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup(db)
    first = record("m3", "race:1", 120, day(2))
    opened = batch._open_wallets
    calls = 0

    def racing(tx: Connection, community: str, wallets: list[points.Account]) -> bool:
        nonlocal calls
        calls += 1
        if calls == 1:  # another writer opens m3's wallet and awards it, between plan and write
            one_by_one(tx, community, [first])
        return opened(tx, community, wallets)

    monkeypatch.setattr(batch, "_open_wallets", racing)
    with db.transaction() as tx:
        expected = one_by_one(tx, A, [first, *STORY])
    with db.transaction() as tx:
        awards = as_batch(tx, B, STORY)

    assert calls == 2
    assert [same_award(a) for a in awards] == [same_award(a) for a in expected[1:]]
    assert [a.transfer.amount if a.transfer else 0 for a in awards][3] == 5  # 20 earned first
    assert_same_ledgers(db)


def test_a_reference_taken_after_the_plan_fails_the_write_as_an_integrity_error(
    db: points.Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bulk insert (COPY on PostgreSQL) keeps the ledger's unique reference, and fails as
    SQLAlchemy's IntegrityError as a statement would (the service's error table reads those)."""
    setup(db)
    planned = batch._plan

    def racing(tx: Connection, community: str, *args: Any) -> Any:
        plan = planned(tx, community, *args)
        # another writer awards "r:1" to a member outside the batch, after the plan
        one_by_one(tx, community, [record("m9", "r:1", 60, day(3))])
        return plan

    monkeypatch.setattr(batch, "_plan", racing)
    with db.transaction() as tx:
        before = counts(tx)
    with pytest.raises(sa.exc.IntegrityError) as caught, db.transaction() as tx:
        as_batch(tx, B, STORY)
    assert "r:1" in str(caught.value)
    with db.snapshot() as tx:
        assert counts(tx) == before


def test_references_are_looked_up_by_their_index_on_statistics_from_before_the_batch(
    db: points.Database,
) -> None:
    """PostgreSQL's statistics may date from before a batch grew the community (autovacuum
    analyzes later): told the community, the planner then finds every index on it equally cheap
    and took one that reads all the community's accruals for each chunk of references."""
    if db.url.startswith("sqlite"):
        pytest.skip("SQLite plans without statistics (its IN list takes the unique index)")
    accruals = (
        "INSERT INTO points_transfers (community_id, id, debit_account_id, credit_account_id,"
        " amount, kind, phase, reference, value_date, created_at) SELECT '{0}', 'x' || g,"
        " 'pool:{0}', 'member:m1', 1, 'accrual', 'posted', 'x:' || g, '2026-03-01', now()"
        " FROM generate_series(1, 20000) AS g"
    )
    with db.transaction() as tx:
        for c in (A, B):
            points.open_community(tx, c)
            points.open_account(tx, c, points.AccountKind.MEMBER, "m1", now=NOW)
        tx.exec_driver_sql(accruals.format(A))
        tx.exec_driver_sql("ANALYZE points_transfers")  # community B has no transfer yet
        tx.exec_driver_sql(accruals.format(B))
    seen: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    with db.transaction() as tx:
        sa.event.listen(tx.engine, "before_cursor_execute", capture)
        try:
            found = batch._awarded(tx, B, ["x:7", "r:new"])
        finally:
            sa.event.remove(tx.engine, "before_cursor_execute", capture)
        [(statement, parameters)] = seen
        plan = "\n".join(r[0] for r in tx.exec_driver_sql("EXPLAIN " + statement, parameters))

    assert list(found) == ["x:7"]
    assert "uq_points_transfers_community_id_kind_reference" in plan, plan
    assert "Filter" not in plan, plan
