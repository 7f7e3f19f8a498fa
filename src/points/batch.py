"""Batch accrual (批量积分): a month of service records awarded in a few statements.

``accrue_many`` ends in the same state as calling :func:`points.accrue` for each record in order:
the same transfers, entries, lots, counters and caps. It reads what it needs in bulk, computes
every award in Python, and writes with ``executemany``: a fixed number of statements per 500
records instead of a dozen per record.

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
from sqlalchemy.engine import Connection

from points import ledger
from points.awards import CHINA, Award, _award, _expiry, _local_day, current_policy
from points.errors import InvalidId, MaxBalanceExceeded
from points.model import (
    AccountKind,
    Phase,
    Transfer,
    TransferKind,
    account_id,
    check_id,
    check_text,
    new_id,
    utcnow,
)
from points.policy import Activity, compute_accrual
from points.schema import accounts, entries, lots, transfers
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
        if _open_wallets(conn, community_id, plan.new_wallets, now):
            _write(conn, community_id, plan)
            return plan.awards
    raise RuntimeError("wallets kept being opened by others while the batch ran")


class _Wallet(msgspec.Struct, frozen=True):
    """What the batch reads of a wallet (or the pool): its limits and counters."""

    id: str
    allow_negative: bool
    max_balance: int | None
    debits_pending: int
    debits_posted: int
    credits_pending: int
    credits_posted: int
    version: int


_WALLET_COLUMNS = [accounts.c[name] for name in _Wallet.__struct_fields__]


class _Plan(msgspec.Struct, kw_only=True):
    awards: list[Award]
    new: list[Transfer]  # the transfers to write, in record order
    new_wallets: list[str]  # members whose wallets to open, in id order
    wallets: dict[str, _Wallet]  # the locked wallets as they were before the batch


def _plan(
    conn: Connection,
    community_id: str,
    records: Sequence[AccrualRecord],
    actor: str,
    now: dt.datetime,
) -> _Plan:
    """Read and lock what the batch needs, compute every award, refuse as ``accrue`` would;
    writes nothing."""
    version, policy = current_policy(conn, community_id)
    members = sorted({r.member_id for r in records if _valid_id(r.member_id)})
    wallets = _lock_wallets(conn, community_id, members)
    references = [r.reference for r in records if _valid_text(r.reference, 128)]
    done = _awarded(conn, community_id, references)
    earned = _earned(conn, community_id, records, wallets)
    state = {w.id: [w.credits_posted, w.credits_pending, w.debits_posted, w.debits_pending]
             for w in wallets.values()}  # fmt: skip
    awards: list[Award] = []
    new: list[Transfer] = []
    opened: set[str] = set()
    for r in records:
        check_text("reference", r.reference, 128)
        if r.reference in done:
            awards.append(_award(done[r.reference]))
            continue
        check_id("community_id", community_id)
        check_id("owner_id", r.member_id)
        wallet_id = account_id(AccountKind.MEMBER, r.member_id)
        if wallet_id not in wallets:
            opened.add(r.member_id)
        activity = r.activity
        if activity.started_at.tzinfo is not None:  # the policy reads local wall-clock time
            activity = msgspec.structs.replace(
                activity, started_at=activity.started_at.astimezone(CHINA)
            )
        day = _local_day(activity.started_at).isoformat()
        by_day = earned.setdefault(wallet_id, {})
        accrual = compute_accrual(
            policy,
            activity,
            earned_today=by_day.get(day, 0),
            earned_this_month=sum(v for d, v in by_day.items() if d[:7] == day[:7]),
        )
        if accrual.points == 0:
            awards.append(Award(transfer=None, accrual=accrual, policy_version=version))
            continue
        detail = {"policy_version": version, "activity": activity, "accrual": accrual}
        t = ledger._request(
            community_id=community_id,
            id=new_id(),
            debit_account_id=account_id(AccountKind.POOL, community_id),
            credit_account_id=wallet_id,
            amount=accrual.points,
            kind=TransferKind.ACCRUAL,
            phase=Phase.POSTED,
            timeout_at=None,
            expires_at=_expiry(policy, now),
            value_date=day,
            reference=r.reference,
            memo=r.memo,
            actor=actor,
            detail=msgspec.json.decode(msgspec.json.encode(detail)),  # as a replay reads it
            created_at=now,
        )
        _guard_max_balance(t, wallets.get(wallet_id), state.setdefault(wallet_id, [0, 0, 0, 0]))
        by_day[day] = by_day.get(day, 0) + t.amount
        done[r.reference] = t
        new.append(t)
        awards.append(Award(transfer=t, accrual=accrual, policy_version=version))
    return _Plan(awards=awards, new=new, new_wallets=sorted(opened), wallets=wallets)


def _guard_max_balance(t: Transfer, wallet: _Wallet | None, counters: list[int]) -> None:
    """The ledger's credit guard, on the wallet's counters as the batch so far left them."""
    credits_posted, credits_pending, debits_posted, debits_pending = counters
    balance = credits_posted + credits_pending - debits_posted
    limit = None if wallet is None else wallet.max_balance
    if limit is not None and balance + t.amount > limit:
        available = credits_posted - debits_posted - debits_pending
        raise MaxBalanceExceeded(
            t.credit_account_id,
            balance,
            limit,
            t.amount,
            ledger._refusal(t, "max_balance_exceeded", available),
        )
    counters[0] += t.amount


def _lock_wallets(conn: Connection, community_id: str, members: list[str]) -> dict[str, _Wallet]:
    """The members' wallets that exist, locked in id order as the ledger locks accounts
    (PostgreSQL; SQLite's write transaction holds the whole database)."""
    found: dict[str, _Wallet] = {}
    ids = [account_id(AccountKind.MEMBER, m) for m in members]
    for chunk in _chunks(ids):
        rows = conn.execute(
            sa.select(*_WALLET_COLUMNS)
            .where(accounts.c.community_id == community_id, accounts.c.id.in_(chunk))
            .order_by(accounts.c.id)
            .with_for_update()
        )
        found.update((row[0], _Wallet(*row)) for row in rows)
    return found


def _awarded(conn: Connection, community_id: str, references: list[str]) -> dict[str, Transfer]:
    """The accruals already made under these references."""
    found: dict[str, Transfer] = {}
    for chunk in _chunks(sorted(set(references))):
        rows = conn.execute(
            sa.select(transfers).where(
                transfers.c.community_id == community_id,
                transfers.c.kind == TransferKind.ACCRUAL.value,
                transfers.c.reference.in_(chunk),
            )
        )
        for row in rows:
            t = to_struct(row, Transfer)
            assert t.reference is not None
            found[t.reference] = t
    return found


def _earned(
    conn: Connection,
    community_id: str,
    records: Sequence[AccrualRecord],
    wallets: dict[str, _Wallet],
) -> dict[str, dict[str, int]]:
    """Accrued points (posted, or held and not voided) per wallet and service day, for the
    months the records fall in: what ``accrue`` counts against the caps."""
    days = [_local_day(r.activity.started_at).isoformat() for r in records]
    if not wallets or not days:
        return {}
    first, last = min(days)[:7] + "-01", max(days)[:7] + "-31"
    t = transfers.c
    earned: dict[str, dict[str, int]] = {}
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
            by_day = earned.setdefault(wallet, {})
            by_day[day] = by_day.get(day, 0) + int(total)
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
            earned[wallet][day] -= amount
    return earned


def _open_wallets(
    conn: Connection, community_id: str, members: list[str], now: dt.datetime
) -> bool:
    """Open the wallets, in id order; False when another transaction opened one of them
    meanwhile (then the plan is stale: the caller plans again)."""
    opened: set[str] = set()
    for chunk in _chunks(members):
        rows = conn.execute(
            insert_ignoring_conflicts(conn, accounts)
            .values(
                [
                    {
                        "community_id": community_id,
                        "id": account_id(AccountKind.MEMBER, m),
                        "kind": AccountKind.MEMBER.value,
                        "owner_id": m,
                        "allow_negative": False,
                        "max_balance": None,
                        "created_at": now,
                    }
                    for m in chunk
                ]
            )
            .returning(accounts.c.owner_id)
        )
        opened.update(row[0] for row in rows)
    return opened == set(members)


def _write(conn: Connection, community_id: str, plan: _Plan) -> None:
    """Write the planned transfers with their entries, lots and account counters."""
    if not plan.new:
        return
    ledger.open_community(conn, community_id)
    pool_id = account_id(AccountKind.POOL, community_id)
    locked = conn.execute(
        sa.select(*_WALLET_COLUMNS)
        .where(accounts.c.community_id == community_id, accounts.c.id == pool_id)
        .with_for_update()
    )
    pool = _Wallet(*locked.one())
    # A pool is opened allowing overdraft (it issues the points), so no debit guard applies.
    assert pool.allow_negative
    # account -> [version, balance, available] as the ledger would leave it after each transfer
    after = {w.id: [w.version, w.credits_posted - w.debits_posted, _available(w)]
             for w in (pool, *plan.wallets.values())}  # fmt: skip
    entry_rows: list[dict[str, Any]] = []
    moved: dict[str, list[int]] = {}  # account -> [debits_posted, credits_posted, transfers]
    for t in plan.new:
        sides = (("debit", pool_id, -t.amount), ("credit", t.credit_account_id, t.amount))
        for side, acct, delta in sides:
            a = after.setdefault(acct, [0, 0, 0])
            a[0] += 1
            a[1] += delta
            a[2] += delta
            entry_rows.append(
                {
                    "community_id": community_id,
                    "account_id": acct,
                    "seq": a[0],
                    "transfer_id": t.id,
                    "side": side,
                    "balance_after": a[1],
                    "available_after": a[2],
                }
            )
            m = moved.setdefault(acct, [0, 0, 0])
            m[0 if side == "debit" else 1] += t.amount
            m[2] += 1
    conn.execute(
        transfers.insert(),
        [ledger.transfer_row(t) for t in plan.new],
    )
    conn.execute(entries.insert(), entry_rows)
    lot_rows = [
        {
            "community_id": community_id,
            "id": t.id,
            "account_id": t.credit_account_id,
            "amount": t.amount,
            "remaining": t.amount,
            "expires_at": t.expires_at,
            "created_at": t.created_at,
        }
        for t in plan.new
        if not _allows_negative(plan.wallets.get(t.credit_account_id))
    ]
    if lot_rows:
        conn.execute(lots.insert(), lot_rows)
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
            {"account": acct, "debits": d, "credits": cr, "transfers": n}
            for acct, (d, cr, n) in sorted(moved.items())
        ],
    )


def _available(w: _Wallet) -> int:
    return w.credits_posted - w.debits_posted - w.debits_pending


def _allows_negative(wallet: _Wallet | None) -> bool:
    """Whether the wallet keeps no lots (a member wallet always keeps them)."""
    return wallet is not None and wallet.allow_negative


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
