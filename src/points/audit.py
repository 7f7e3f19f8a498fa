"""The audit (对账): recompute every account from the transfers and report what disagrees.

It returns problems as values, an empty list when the ledger is healthy, and changes nothing.
Checked: each account's four counters against its transfers (invariant 4); the sum over accounts
is zero (invariant 1); no wallet is overdrawn (invariant 2); each hold is closed at most once and
never posts more than it held; each account's entries run 1..version and end at its balance; each
wallet's lots add up to its available points; each lot's remaining matches its uses.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from points.model import Phase
from points.schema import accounts, entries, lot_uses, lots, transfers


class Problem(msgspec.Struct, frozen=True, kw_only=True):
    code: str  # counter_drift, not_zero_sum, overdraft, hold_overposted, hold_mismatch, ...
    community_id: str
    subject: str  # the account, transfer or lot concerned
    expected: Any = None
    actual: Any = None
    message: str = ""


def audit(conn: Connection, community_id: str | None = None) -> list[Problem]:
    """Every problem found, in one community or all of them."""
    problems: list[Problem] = []
    problems += _counters(conn, community_id)
    problems += _holds(conn, community_id)
    problems += _entries(conn, community_id)
    problems += _lots(conn, community_id)
    return problems


def _scope(table: sa.FromClause, community_id: str | None) -> list[sa.ColumnElement[bool]]:
    return [] if community_id is None else [table.c.community_id == community_id]


def _counters(conn: Connection, community_id: str | None) -> list[Problem]:
    t, p = transfers, transfers.alias("held")
    expected: dict[tuple[str, str], dict[str, int]] = defaultdict(
        lambda: dict.fromkeys(
            ("debits_pending", "debits_posted", "credits_pending", "credits_posted"), 0
        )
    )
    posted = (
        sa.select(
            t.c.community_id, t.c.debit_account_id, t.c.credit_account_id, sa.func.sum(t.c.amount)
        )
        .where(t.c.phase.in_([Phase.POSTED.value, Phase.POST.value]), *_scope(t, community_id))
        .group_by(t.c.community_id, t.c.debit_account_id, t.c.credit_account_id)
    )
    for cid, debit, credit, total in conn.execute(posted):
        expected[(cid, debit)]["debits_posted"] += int(total)
        expected[(cid, credit)]["credits_posted"] += int(total)
    closed = sa.select(sa.literal(1)).where(
        t.c.community_id == p.c.community_id, t.c.pending_id == p.c.id
    )
    open_holds = (
        sa.select(
            p.c.community_id, p.c.debit_account_id, p.c.credit_account_id, sa.func.sum(p.c.amount)
        )
        .where(p.c.phase == Phase.PENDING.value, ~closed.exists(), *_scope(p, community_id))
        .group_by(p.c.community_id, p.c.debit_account_id, p.c.credit_account_id)
    )
    for cid, debit, credit, total in conn.execute(open_holds):
        expected[(cid, debit)]["debits_pending"] += int(total)
        expected[(cid, credit)]["credits_pending"] += int(total)

    problems = []
    sums: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    rows = conn.execute(sa.select(accounts).where(*_scope(accounts, community_id)))
    for row in rows:
        a = row._mapping
        key = (a["community_id"], a["id"])
        stored = {name: a[name] for name in expected[key]}
        if stored != expected[key]:
            problems.append(
                Problem(
                    code="counter_drift",
                    community_id=a["community_id"],
                    subject=a["id"],
                    expected=dict(expected[key]),
                    actual=stored,
                    message="stored counters differ from the sum of the transfers",
                )
            )
        available = a["credits_posted"] - a["debits_posted"] - a["debits_pending"]
        if not a["allow_negative"] and available < 0:
            problems.append(
                Problem(
                    code="overdraft",
                    community_id=a["community_id"],
                    subject=a["id"],
                    expected=">= 0",
                    actual=available,
                    message="a wallet is overdrawn",
                )
            )
        sums[a["community_id"]][0] += a["credits_posted"] - a["debits_posted"]
        sums[a["community_id"]][1] += a["credits_pending"] - a["debits_pending"]
        expected.pop(key, None)
    for (cid, acct), _ in expected.items():
        problems.append(
            Problem(
                code="missing_account",
                community_id=cid,
                subject=acct,
                message="transfers name an account that does not exist",
            )
        )
    for cid, (posted_sum, pending_sum) in sums.items():
        if posted_sum or pending_sum:
            problems.append(
                Problem(
                    code="not_zero_sum",
                    community_id=cid,
                    subject=cid,
                    expected=[0, 0],
                    actual=[posted_sum, pending_sum],
                    message="posted and pending balances over all accounts must each sum to zero",
                )
            )
    return problems


def _holds(conn: Connection, community_id: str | None) -> list[Problem]:
    t, p = transfers, transfers.alias("held")
    rows = conn.execute(
        sa.select(
            t.c.community_id,
            t.c.id,
            t.c.amount,
            t.c.phase,
            t.c.debit_account_id,
            t.c.credit_account_id,
            t.c.kind,
            p.c.id.label("held_id"),
            p.c.amount.label("held_amount"),
            p.c.phase.label("held_phase"),
            p.c.debit_account_id.label("held_debit"),
            p.c.credit_account_id.label("held_credit"),
            p.c.kind.label("held_kind"),
        )
        .select_from(
            t.outerjoin(p, sa.and_(p.c.community_id == t.c.community_id, p.c.id == t.c.pending_id))
        )
        .where(t.c.pending_id.is_not(None), *_scope(t, community_id))
    )
    problems = []
    for r in rows:
        same = (r.debit_account_id, r.credit_account_id, r.kind) == (
            r.held_debit,
            r.held_credit,
            r.held_kind,
        )
        if r.held_id is None or r.held_phase != Phase.PENDING.value or not same:
            problems.append(
                Problem(
                    code="hold_mismatch",
                    community_id=r.community_id,
                    subject=r.id,
                    message="a post or void does not match a pending transfer",
                )
            )
        elif r.phase == Phase.POST.value and r.amount > r.held_amount:
            problems.append(
                Problem(
                    code="hold_overposted",
                    community_id=r.community_id,
                    subject=r.id,
                    expected=r.held_amount,
                    actual=r.amount,
                    message="a hold posted more than it held",
                )
            )
        elif r.phase == Phase.VOID.value and r.amount != r.held_amount:
            problems.append(
                Problem(
                    code="hold_mismatch",
                    community_id=r.community_id,
                    subject=r.id,
                    expected=r.held_amount,
                    actual=r.amount,
                    message="a void must name the held amount",
                )
            )
    return problems


def _entries(conn: Connection, community_id: str | None) -> list[Problem]:
    e = entries
    last = (
        sa.select(e.c.community_id, e.c.account_id, sa.func.count(), sa.func.max(e.c.seq))
        .where(*_scope(e, community_id))
        .group_by(e.c.community_id, e.c.account_id)
        .subquery()
    )
    rows = conn.execute(
        sa.select(
            accounts.c.community_id,
            accounts.c.id,
            accounts.c.version,
            accounts.c.credits_posted - accounts.c.debits_posted,
            last.c[2],
            last.c[3],
            e.c.balance_after,
        )
        .select_from(
            accounts.outerjoin(
                last,
                sa.and_(
                    last.c.community_id == accounts.c.community_id,
                    last.c.account_id == accounts.c.id,
                ),
            ).outerjoin(
                e,
                sa.and_(
                    e.c.community_id == accounts.c.community_id,
                    e.c.account_id == accounts.c.id,
                    e.c.seq == last.c[3],
                ),
            )
        )
        .where(*_scope(accounts, community_id))
    )
    problems = []
    for cid, acct, version, balance, count, top, last_balance in rows:
        count, top = count or 0, top or 0
        if count != version or top != version:
            problems.append(
                Problem(
                    code="entries_gap",
                    community_id=cid,
                    subject=acct,
                    expected=version,
                    actual=[count, top],
                    message="entries must run 1..version",
                )
            )
        elif version and last_balance != balance:
            problems.append(
                Problem(
                    code="entries_balance",
                    community_id=cid,
                    subject=acct,
                    expected=balance,
                    actual=last_balance,
                    message="the last entry's balance differs from the account",
                )
            )
    return problems


def _lots(conn: Connection, community_id: str | None) -> list[Problem]:
    problems = []
    used = (
        sa.select(
            lot_uses.c.community_id, lot_uses.c.lot_id, sa.func.sum(lot_uses.c.amount).label("used")
        )
        .group_by(lot_uses.c.community_id, lot_uses.c.lot_id)
        .subquery()
    )
    rows = conn.execute(
        sa.select(lots.c.community_id, lots.c.id, lots.c.amount, lots.c.remaining, used.c.used)
        .select_from(
            lots.outerjoin(
                used,
                sa.and_(used.c.community_id == lots.c.community_id, used.c.lot_id == lots.c.id),
            )
        )
        .where(*_scope(lots, community_id))
    )
    for cid, lot_id, amount, remaining, spent in rows:
        if amount - (spent or 0) != remaining:
            problems.append(
                Problem(
                    code="lot_drift",
                    community_id=cid,
                    subject=lot_id,
                    expected=amount - (spent or 0),
                    actual=remaining,
                    message="a lot's remaining differs from its uses",
                )
            )
    held = (
        sa.select(
            lots.c.community_id, lots.c.account_id, sa.func.sum(lots.c.remaining).label("remaining")
        )
        .group_by(lots.c.community_id, lots.c.account_id)
        .subquery()
    )
    rows = conn.execute(
        sa.select(
            accounts.c.community_id,
            accounts.c.id,
            accounts.c.credits_posted - accounts.c.debits_posted - accounts.c.debits_pending,
            held.c.remaining,
        )
        .select_from(
            accounts.outerjoin(
                held,
                sa.and_(
                    held.c.community_id == accounts.c.community_id,
                    held.c.account_id == accounts.c.id,
                ),
            )
        )
        .where(accounts.c.allow_negative == sa.false(), *_scope(accounts, community_id))
    )
    for row in rows:
        cid, acct, available, remaining = tuple(row)
        if available != (remaining or 0):
            problems.append(
                Problem(
                    code="lots_out_of_step",
                    community_id=cid,
                    subject=acct,
                    expected=available,
                    actual=remaining or 0,
                    message="a wallet's lots do not add up to its available points",
                )
            )
    return problems
