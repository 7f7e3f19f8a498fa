"""Batch accrual (批量积分): a month of service records awarded in a few statements.

``accrue_many`` ends in the same state as calling :func:`points.accrue` for each record in order:
the same transfers, entries, lots, counters and caps. It reads what it needs in bulk, decides
every award with the functions ``accrue`` and the ledger use (the policy's formula,
:func:`points.awards.accrual_request`, the ledger's guards, :func:`points.ledger.moved`,
``entry_row``, :func:`points.lots.lot_row`), and writes each table with one bulk insert
(:func:`points.sqltypes.insert_many`): a fixed number of statements per 500 records instead of a
dozen per record. What is its own is only the reading and writing in bulk.

Every refusal ``accrue`` would make (a bad reference or memo, an invalid activity, a wallet past
its maximum balance) is raised before anything is written. One exception: when a concurrent
transaction opens one of the batch's wallets at the same moment (PostgreSQL), the batch opens the
others and computes again, so a refusal found then leaves those wallets opened until the caller's
transaction rolls back (``Database.transaction`` does).

Locks (PostgreSQL) follow the ledger's order: the batch's existing wallets in id order, then the
pool. A reference that a concurrent transaction awards to a member outside the batch while it
runs fails the batch's insert with an IntegrityError (``accrue`` would raise ReferenceInUse);
either way the caller's transaction rolls back.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

import msgspec
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

from points import ledger, sqltypes
from points.awards import Award, _award, _local_day, accrual_request, current_policy, local
from points.errors import InvalidId
from points.lots import lot_row
from points.model import (
    Account,
    AccountKind,
    Phase,
    Transfer,
    TransferKind,
    account_id,
    check_id,
    check_text,
    utcnow,
)
from points.policy import Activity, compute_accrual
from points.schema import accounts, entries, transfers
from points.schema import lots as lot_table
from points.sqltypes import insert_ignoring_conflicts, to_struct

CHUNK = 500
"""Keys per ``IN (…)`` list (SQLite and asyncpg both bound the parameters of one statement)."""

_T = TypeVar("_T")


class AccrualRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One verified service record to award: what ``accrue`` takes for one call."""

    member_id: str
    activity: Activity
    reference: str
    memo: str = ""


def accrue_many(
    conn: Connection,
    *,
    community_id: str,
    records: Sequence[AccrualRecord],
    actor: str = "",
    now: dt.datetime | None = None,
) -> list[Award]:
    """Award posted points for each record, as ``accrue`` would one by one, in bulk.

    Returns one Award per record, in order. A record whose reference was awarded before (or
    earlier in the batch) returns that award and writes nothing. Runs in the caller's
    transaction; see the module docstring for when a refusal is raised.
    """
    now = now or utcnow()
    if not records:
        return []
    for _ in range(10):
        plan = _plan(conn, community_id, records, actor, now)
        if _open_wallets(conn, community_id, plan.new_wallets):
            _write(conn, community_id, plan)
            return plan.awards
    raise RuntimeError("wallets kept being opened by others while the batch ran")


class _Plan(msgspec.Struct, kw_only=True):
    awards: list[Award]
    new: list[Transfer]  # the transfers to write, in record order
    new_wallets: list[Account]  # the wallets to open, in id order
    wallets: dict[str, Account]  # the batch's wallets as they were before it (locked or new)


def _plan(
    conn: Connection,
    community_id: str,
    records: Sequence[AccrualRecord],
    actor: str,
    now: dt.datetime,
) -> _Plan:
    """Read and lock what the batch needs, decide every award as ``accrue`` does (the policy's
    formula, then :func:`points.awards.accrual_request`), refuse as the ledger would; writes
    nothing."""
    version, policy = current_policy(conn, community_id)
    members = sorted({r.member_id for r in records if _valid_id(r.member_id)})
    wallets = _lock_wallets(conn, community_id, members)
    references = [r.reference for r in records if _valid_text(r.reference, 128)]
    done = _awarded(conn, community_id, references)
    capped = policy.daily_cap is not None or policy.monthly_cap is not None
    earned = _earned(conn, community_id, records, wallets) if capped else {}
    after = dict(wallets)  # each wallet as the batch so far leaves it (for the credit's guard)
    opened: dict[str, Account] = {}
    awards: list[Award] = []
    new: list[Transfer] = []
    for r in records:
        check_text("reference", r.reference, 128)
        if r.reference in done:
            awards.append(_award(done[r.reference]))
            continue
        check_id("community_id", community_id)
        check_id("owner_id", r.member_id)
        wallet_id = account_id(AccountKind.MEMBER, r.member_id)
        wallet = after.get(wallet_id)
        if wallet is None:
            wallet = opened[wallet_id] = after[wallet_id] = ledger.new_account(
                community_id, AccountKind.MEMBER, r.member_id, now=now
            )
        activity = local(r.activity)
        day = _local_day(activity.started_at).isoformat()
        today, month = (wallet_id, day), (wallet_id, day[:7])
        accrual = compute_accrual(
            policy,
            activity,
            earned_today=earned.get(today, 0),
            earned_this_month=earned.get(month, 0),
        )
        if accrual.points == 0:
            awards.append(Award(transfer=None, accrual=accrual, policy_version=version))
            continue
        t = accrual_request(community_id, r.member_id, activity, accrual, version, policy,
                            r.reference, None, False, None, actor, r.memo, now)  # fmt: skip
        if wallet.max_balance is not None:  # the credit's guard (no maximum: nothing to keep)
            ledger.check_max_balance(t, wallet)
            after[wallet_id] = ledger.moved(wallet, ledger.counter_changes(t)[1])
        if capped:
            earned[today] = earned.get(today, 0) + t.amount
            earned[month] = earned.get(month, 0) + t.amount
        done[r.reference] = t
        new.append(t)
        awards.append(Award(transfer=t, accrual=accrual, policy_version=version))
    before = {**wallets, **opened}
    return _Plan(awards=awards, new=new, new_wallets=sorted(opened.values(), key=_id),
                 wallets=before)  # fmt: skip


def _id(acct: Account) -> str:
    return acct.id


def _lock_wallets(conn: Connection, community_id: str, members: list[str]) -> dict[str, Account]:
    """The members' wallets that exist, locked in id order as the ledger locks accounts
    (PostgreSQL; SQLite's write transaction holds the whole database)."""
    found: dict[str, Account] = {}
    ids = [account_id(AccountKind.MEMBER, m) for m in members]
    for chunk in _chunks(ids):
        rows = conn.execute(
            sa.select(accounts)
            .where(accounts.c.community_id == community_id, accounts.c.id.in_(chunk))
            .order_by(accounts.c.id)
            .with_for_update()
        )
        found.update((row.id, to_struct(row, Account)) for row in rows)
    return found


def _awarded(conn: Connection, community_id: str, references: list[str]) -> dict[str, Transfer]:
    """The accruals already made under these references."""
    found: dict[str, Transfer] = {}
    for chunk in _chunks(sorted(set(references))):
        for row in conn.execute(_by_reference(conn), {"community": community_id, "refs": chunk}):
            t = to_struct(row, Transfer)
            assert t.reference is not None
            found[t.reference] = t
    return found


@sqltypes.per_dialect
def _by_reference(dialect: str) -> Any:
    """The accruals under a list of references, an index probe each (the transfers' unique
    (community, kind, reference) key), whatever the statistics say.

    PostgreSQL's may date from before a batch grew the community (autovacuum analyzes later).
    Told ``reference IN (…)`` and the community, the planner then finds every index on the
    community equally cheap and took one that reads all the community's accruals for each chunk
    (the bench's first round: 558 records/s). So there each reference is a lateral lookup of
    one row, and the community a scalar subquery (a value the planner does not look up in its
    statistics). SQLite plans without statistics: its ``IN`` list takes the unique index."""
    t = transfers.c
    accrual: sa.ColumnElement[str] = sa.literal_column("'accrual'")
    community: Any = sa.bindparam("community", type_=t.community_id.type)
    if dialect == "sqlite":
        return sa.select(transfers).where(
            t.community_id == community,
            t.kind == accrual,
            t.reference.in_(sa.bindparam("refs", expanding=True)),
        )
    refs = (
        sa.func.unnest(sa.bindparam("refs", type_=postgresql.ARRAY(sa.Text)))
        .table_valued("ref")
        .render_derived()
    )
    one = (
        sa.select(transfers)
        .where(
            t.community_id == sa.select(community).scalar_subquery(),
            t.kind == accrual,
            t.reference == refs.c.ref,
        )
        .limit(1)  # not folded into a join: a lookup per reference
        .lateral()
    )
    return sa.select(one).select_from(refs).join(one, sa.true())


def _earned(
    conn: Connection,
    community_id: str,
    records: Sequence[AccrualRecord],
    wallets: dict[str, Account],
) -> dict[tuple[str, str], int]:
    """Accrued points (posted, or held and not voided) per wallet and service day, and per
    wallet and month, for the months the records fall in: what ``accrue`` counts against the
    caps."""
    days = [_local_day(r.activity.started_at).isoformat() for r in records]
    if not wallets or not days:
        return {}
    first, last = min(days)[:7] + "-01", max(days)[:7] + "-31"
    t = transfers.c
    earned: dict[tuple[str, str], int] = {}
    held: dict[str, tuple[str, str, int]] = {}  # hold id -> (wallet, day, amount)
    hold_id = sa.case((t.phase == sa.literal_column("'pending'"), t.id))  # None: posted
    for chunk in _chunks(sorted(wallets)):
        # Without a join: a batch's many wallets would make the planner scan for the voids.
        rows = conn.execute(
            sa.select(t.credit_account_id, t.value_date, t.phase, sa.func.sum(t.amount), hold_id)
            .where(
                t.community_id == community_id,
                t.credit_account_id.in_(chunk),
                t.kind == TransferKind.ACCRUAL.value,
                t.value_date >= first,
                t.value_date <= last,
                t.phase.in_([Phase.POSTED.value, Phase.PENDING.value]),
            )
            .group_by(t.credit_account_id, t.value_date, t.phase, hold_id)
        )
        for wallet, day, phase, total, hold in rows:
            if phase == Phase.PENDING.value:
                held[hold] = (wallet, day, int(total))
            _count(earned, wallet, day, int(total))
    for chunk in _chunks(sorted(held)):  # holds voided since: they do not count
        voided = conn.execute(
            sa.select(t.pending_id).where(
                t.community_id == community_id,
                t.pending_id.in_(chunk),
                t.phase == Phase.VOID.value,
            )
        )
        for (hold,) in voided:
            wallet, day, amount = held[hold]
            _count(earned, wallet, day, -amount)
    return earned


def _count(earned: dict[tuple[str, str], int], wallet: str, day: str, amount: int) -> None:
    for key in ((wallet, day), (wallet, day[:7])):
        earned[key] = earned.get(key, 0) + amount


def _open_wallets(conn: Connection, community_id: str, wallets: list[Account]) -> bool:
    """Open the wallets, in id order; False when another transaction opened one of them
    meanwhile (then the plan is stale: the caller plans again)."""
    opened: set[str] = set()
    for chunk in _chunks(wallets):
        rows = conn.execute(
            insert_ignoring_conflicts(conn, accounts)
            .values([ledger.opening_row(w) for w in chunk])
            .returning(accounts.c.id)
        )
        opened.update(row[0] for row in rows)
    return opened == {w.id for w in wallets}


def _write(conn: Connection, community_id: str, plan: _Plan) -> None:
    """Write the planned transfers with their entries, lots and account counters: the rows the
    ledger writes for each (:func:`points.ledger.entry_row`, :func:`points.lots.lot_row`), the
    accounts moved as its ``UPDATE`` moves them (:func:`points.ledger.moved`)."""
    if not plan.new:
        return
    ledger.open_community(conn, community_id)
    pool_id = account_id(AccountKind.POOL, community_id)
    locked = conn.execute(
        sa.select(accounts)
        .where(accounts.c.community_id == community_id, accounts.c.id == pool_id)
        .with_for_update()
    )
    pool = to_struct(locked.one(), Account)
    # A pool is opened allowing overdraft (it issues the points), so no debit guard applies.
    assert pool.allow_negative
    before = {pool_id: pool, **plan.wallets}
    after = dict(before)
    entry_rows: list[dict[str, Any]] = []
    for t in plan.new:
        debit_changes, credit_changes = ledger.counter_changes(t)
        debit = after[pool_id] = ledger.moved(after[pool_id], debit_changes)
        credit = after[t.credit_account_id] = ledger.moved(
            after[t.credit_account_id], credit_changes
        )
        entry_rows += (ledger.entry_row(t, "debit", debit), ledger.entry_row(t, "credit", credit))
    sqltypes.insert_many(conn, transfers, [ledger.transfer_row(t) for t in plan.new])
    sqltypes.insert_many(conn, entries, entry_rows)
    # A member wallet always keeps lots (``ledger``: an account that may not go negative).
    lot_rows = [lot_row(t) for t in plan.new if not after[t.credit_account_id].allow_negative]
    sqltypes.insert_many(conn, lot_table, lot_rows)
    c = accounts.c
    conn.execute(
        accounts.update()
        .where(c.community_id == community_id, c.id == sa.bindparam("account"))
        .values(
            debits_posted=c.debits_posted + sa.bindparam("debits"),
            credits_posted=c.credits_posted + sa.bindparam("credits"),
            version=c.version + sa.bindparam("transfers"),
        ),
        [
            {
                "account": acct,
                "debits": a.debits_posted - before[acct].debits_posted,
                "credits": a.credits_posted - before[acct].credits_posted,
                "transfers": a.version - before[acct].version,
            }
            for acct, a in sorted(after.items())
            if a.version != before[acct].version
        ],
    )


def _valid_id(value: object) -> bool:
    try:
        check_id("id", value)
    except InvalidId:
        return False
    return True


def _valid_text(value: object, length: int) -> bool:
    return isinstance(value, str) and len(value) <= length


def _chunks(items: list[_T]) -> Iterator[list[_T]]:
    for first in range(0, len(items), CHUNK):
        yield items[first : first + CHUNK]
