"""The double-entry ledger (积分账本): accounts, transfers, holds, reversals and statements.

A transfer debits one account and credits another by the same positive integer, so the sum over
all accounts is always zero. Nothing is ever updated or deleted: a hold (pending transfer) is
closed by a second transfer that posts or voids it, and a mistake by a reversal.

Each call runs inside the caller's transaction and never commits. The order is always: pure checks,
claim the transfer id (so two concurrent uses of one id cannot both apply), then conditional
``UPDATE``s of the two accounts (``… WHERE available >= amount``), which is what keeps a wallet from
being overdrawn under any concurrency.

Idempotency follows TigerBeetle: a transfer id applied twice with the same fields returns the
first result; with any field the caller set differing (accounts, amount, kind, phase, hold,
reference, memo, actor, expiry, value date, timeout, detail) it raises IdempotencyMismatch; an id
refused for insufficient points stays refused (see :class:`points.Database`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from points import lots, sqltypes
from points.causes import Cause
from points.errors import (
    AccountNotFound,
    IdempotencyMismatch,
    InsufficientPoints,
    InvalidId,
    InvalidRequest,
    MaxBalanceExceeded,
    NotReversible,
    PendingNotOpen,
    ReferenceInUse,
    Refused,
    TransferNotFound,
)
from points.model import (
    SYSTEM_KINDS,
    Account,
    AccountKind,
    Entry,
    Page,
    PendingState,
    Phase,
    RefusedTransfer,
    Transfer,
    TransferKind,
    account_id,
    check_amount,
    check_id,
    check_limit,
    check_text,
    derived_id,
    new_id,
    utcnow,
)
from points.schema import accounts, entries, refused_transfers, transfers
from points.sqltypes import insert_ignoring_conflicts, to_struct

# The fields a refusal keeps (``points_refused_transfers``): a refused id is refused again
# unless one of them differs.
_SAME = (
    "debit_account_id",
    "credit_account_id",
    "amount",
    "kind",
    "phase",
    "pending_id",
    "reference",
)
# Every field the caller sets: two uses of one transfer id are "the same transfer" when all agree
# (TigerBeetle compares every field but the timestamp). The timeout is compared as a duration
# (``timeout_at`` − ``created_at``), so a retry later with the same timeout is the same transfer.
_FINGERPRINT = (*_SAME, "memo", "actor", "expires_at", "value_date", "timeout", "detail")


def open_account(
    conn: Connection,
    community_id: str,
    kind: AccountKind,
    owner_id: str,
    *,
    max_balance: int | None = None,
    now: dt.datetime | None = None,
) -> Account:
    """Open (or return) the account of ``owner_id`` of this kind. Member and org wallets refuse
    overdraft; pool, store and expiry accounts may go negative."""
    new = new_account(community_id, kind, owner_id, max_balance=max_balance, now=now or utcnow())
    conn.execute(insert_ignoring_conflicts(conn, accounts).values(opening_row(new)))
    return get_account(conn, community_id, new.id)


def new_account(
    community_id: str,
    kind: AccountKind,
    owner_id: str,
    *,
    max_balance: int | None = None,
    now: dt.datetime,
) -> Account:
    """The account :func:`open_account` opens, as a value (pure): nothing moved yet."""
    check_id("community_id", community_id)
    check_id("owner_id", owner_id)
    kind = AccountKind(kind)
    if max_balance is not None:
        check_amount(max_balance, allow_zero=True)
    return Account(
        community_id=community_id,
        id=account_id(kind, owner_id),
        kind=kind,
        owner_id=owner_id,
        allow_negative=kind in SYSTEM_KINDS,
        max_balance=max_balance,
        debits_pending=0,
        debits_posted=0,
        credits_pending=0,
        credits_posted=0,
        version=0,
        created_at=now,
    )


_OPENING = ("community_id", "id", "kind", "owner_id", "allow_negative", "max_balance", "created_at")


def opening_row(acct: Account) -> dict[str, Any]:
    """The values that open the account (its counters and version start at their defaults)."""
    return {name: _plain(getattr(acct, name)) for name in _OPENING}


def open_community(conn: Connection, community_id: str) -> None:
    """Open a community's pool, store and expiry accounts (idempotent; one query once open)."""
    check_id("community_id", community_id)
    kinds = (AccountKind.POOL, AccountKind.STORE, AccountKind.EXPIRY)
    ids = [account_id(kind, community_id) for kind in kinds]
    found = conn.scalar(
        sa.select(sa.func.count()).where(
            accounts.c.community_id == community_id, accounts.c.id.in_(ids)
        )
    )
    if found == len(kinds):
        return
    for kind in kinds:
        open_account(conn, community_id, kind, community_id)


def accounts_of(conn: Connection, kind: AccountKind, owner_id: str) -> list[Account]:
    """Every account of ``owner_id`` of this kind, one per community (e.g. a member's wallets)."""
    rows = conn.execute(
        sa.select(accounts)
        .where(accounts.c.id == account_id(AccountKind(kind), owner_id))
        .order_by(accounts.c.community_id)
    )
    return [to_struct(r, Account) for r in rows]


def get_account(conn: Connection, community_id: str, acct_id: str) -> Account:
    row = conn.execute(_ACCOUNT, {"community": community_id, "account": acct_id}).first()
    if row is None:
        raise AccountNotFound(acct_id)
    return to_struct(row, Account)


_ACCOUNT = sa.select(accounts).where(
    accounts.c.community_id == sa.bindparam("community"), accounts.c.id == sa.bindparam("account")
)


def transfer(
    conn: Connection,
    *,
    community_id: str,
    debit_account_id: str,
    credit_account_id: str,
    amount: int,
    kind: TransferKind,
    id: str | None = None,
    reference: str | None = None,
    memo: str = "",
    actor: str = "",
    pending: bool = False,
    timeout: dt.timedelta | None = None,
    expires_at: dt.datetime | None = None,
    value_date: dt.date | None = None,
    detail: Any = None,
    spend_first: str | None = None,
    open_accounts: bool = False,
    derived: tuple[str, ...] = (),
    now: dt.datetime | None = None,
) -> Transfer:
    """Move ``amount`` points; with ``pending`` only hold them until posted, voided or timed out.

    ``expires_at``: when the credited points expire (a wallet's lots). ``value_date``: the day
    the points are for (the service day of an accrual). ``spend_first``: the lot (the id of the
    transfer that credited it) a debit from a wallet uses before any other. ``open_accounts``:
    open a member's wallet, the community's pool or its store the transfer finds missing (else
    AccountNotFound).

    The id is the transfer's idempotency key: the same id again with every field the same returns
    the first transfer; with any field different it is IdempotencyMismatch. ``derived``: fields
    the calling function computed from ``now`` rather than took from its own caller (the expiry an
    accrual policy gives), left out of that comparison, so a later retry is the same transfer.
    """
    now = now or utcnow()
    t = request(
        community_id=community_id,
        debit_account_id=debit_account_id,
        credit_account_id=credit_account_id,
        amount=amount,
        kind=kind,
        id=id,
        reference=reference,
        memo=memo,
        actor=actor,
        pending=pending,
        timeout=timeout,
        expires_at=expires_at,
        value_date=value_date,
        detail=detail,
        now=now,
    )
    return _apply(conn, t, use_first=spend_first, open_missing=open_accounts, derived=derived)


def request(
    *,
    community_id: str,
    debit_account_id: str,
    credit_account_id: str,
    amount: int,
    kind: TransferKind,
    now: dt.datetime,
    id: str | None = None,
    reference: str | None = None,
    memo: str = "",
    actor: str = "",
    pending: bool = False,
    timeout: dt.timedelta | None = None,
    expires_at: dt.datetime | None = None,
    value_date: dt.date | None = None,
    detail: Any = None,
) -> Transfer:
    """The checked transfer :func:`transfer` would apply, as a value (pure): what a batch plans
    before it writes (:func:`points.accrue_many`). Raises what ``transfer`` raises for bad
    fields."""
    if timeout is not None and not pending:
        raise InvalidRequest(Cause("timeout_not_pending"))
    if timeout is not None and not dt.timedelta(0) < timeout <= dt.timedelta(days=3650):
        raise InvalidRequest(Cause("timeout_range", field="timeout"))
    t = _request(
        community_id=community_id,
        id=new_id() if id is None else id,
        debit_account_id=debit_account_id,
        credit_account_id=credit_account_id,
        amount=amount,
        kind=TransferKind(kind),
        phase=Phase.PENDING if pending else Phase.POSTED,
        timeout_at=now + timeout if timeout else None,
        expires_at=expires_at,
        value_date=value_date.isoformat() if value_date else None,
        reference=reference,
        memo=memo,
        actor=actor,
        detail=detail,
        created_at=now,
    )
    if debit_account_id == credit_account_id:
        raise InvalidRequest(Cause("same_account"))
    return t


def apply(
    conn: Connection, t: Transfer, *, open_accounts: bool = False, derived: tuple[str, ...] = ()
) -> Transfer:
    """Apply a transfer :func:`request` made, as :func:`transfer` does."""
    return _apply(conn, t, open_missing=open_accounts, derived=derived)


def post_pending(
    conn: Connection,
    community_id: str,
    pending_id: str,
    *,
    amount: int | None = None,
    id: str | None = None,
    memo: str = "",
    actor: str = "",
    now: dt.datetime | None = None,
) -> Transfer:
    """Post a hold, in full or in part (the rest is released)."""
    return _resolve(conn, community_id, pending_id, Phase.POST, amount, id, memo, actor, now)


def void_pending(
    conn: Connection,
    community_id: str,
    pending_id: str,
    *,
    id: str | None = None,
    memo: str = "",
    actor: str = "",
    now: dt.datetime | None = None,
) -> Transfer:
    """Release a hold: nothing moves."""
    return _resolve(conn, community_id, pending_id, Phase.VOID, None, id, memo, actor, now)


def reverse(
    conn: Connection,
    community_id: str,
    transfer_id: str,
    *,
    amount: int | None = None,
    id: str | None = None,
    memo: str = "",
    actor: str = "",
    now: dt.datetime | None = None,
) -> Transfer:
    """Undo a posted transfer (冲正) with a new transfer the other way; once per transfer."""
    now = now or utcnow()
    original = get_transfer(conn, community_id, transfer_id)
    if original.phase not in (Phase.POSTED, Phase.POST):
        raise NotReversible(transfer_id, Cause("nothing_to_reverse", {"phase": original.phase}))
    if original.kind is TransferKind.REVERSAL:
        raise NotReversible(transfer_id, Cause("reversal_not_reversed"))
    amount = original.amount if amount is None else check_amount(amount)
    if amount > original.amount:
        raise NotReversible(transfer_id, Cause("reverse_at_most", {"high": original.amount}))
    # Points given back to a wallet keep the latest expiry of the lots the original spent.
    chain = original.pending_id or original.id
    _, expires_at = lots.latest_expiry(conn, community_id, chain)
    request = _request(
        community_id=community_id,
        id=new_id() if id is None else id,
        debit_account_id=original.credit_account_id,
        credit_account_id=original.debit_account_id,
        amount=amount,
        kind=TransferKind.REVERSAL,
        phase=Phase.POSTED,
        expires_at=expires_at,
        reference=original.id,
        memo=memo,
        actor=actor,
        created_at=now,
    )
    # The expiry is the ledger's own (the lots as they are now), not the caller's: not compared.
    return _apply(conn, request, use_first=original.id, derived=("expires_at",))


def get_transfer(conn: Connection, community_id: str, transfer_id: str) -> Transfer:
    found = _find(conn, community_id, transfer_id)
    if found is None:
        raise TransferNotFound(transfer_id)
    return found


def find_by_reference(
    conn: Connection, community_id: str, kind: TransferKind, reference: str
) -> Transfer | None:
    row = (
        conn.execute(
            sa.select(transfers).where(
                transfers.c.community_id == community_id,
                transfers.c.kind == TransferKind(kind).value,
                transfers.c.reference == reference,
            )
        )
    ).first()
    return None if row is None else to_struct(row, Transfer)


def pending_state(conn: Connection, community_id: str, pending_id: str) -> PendingState:
    row = (
        conn.execute(
            sa.select(transfers.c.phase).where(
                transfers.c.community_id == community_id, transfers.c.pending_id == pending_id
            )
        )
    ).first()
    if row is None:
        return PendingState.OPEN
    return PendingState.POSTED if row[0] == Phase.POST.value else PendingState.VOIDED


def resolved_pendings(conn: Connection, community_id: str, pending_ids: Iterable[str]) -> set[str]:
    """Which of the pending transfers have been posted or voided (one statement for many: a
    statement page, where each resolved hold is listed by its resolution instead)."""
    wanted = sorted(set(pending_ids))
    if not wanted:
        return set()
    rows = conn.execute(
        sa.select(transfers.c.pending_id).where(
            transfers.c.community_id == community_id, transfers.c.pending_id.in_(wanted)
        )
    )
    return {str(r[0]) for r in rows}


def void_timed_out(
    conn: Connection, *, now: dt.datetime | None = None, limit: int = 100
) -> list[Transfer]:
    """Void holds whose timeout has passed (a sweep; safe to run in several processes)."""
    now = now or utcnow()
    resolution = sa.select(sa.literal(1)).where(
        transfers.c.community_id == _t2.c.community_id, transfers.c.pending_id == _t2.c.id
    )
    rows = conn.execute(
        sa.select(_t2.c.community_id, _t2.c.id)
        .where(_t2.c.phase == Phase.PENDING.value, _t2.c.timeout_at <= now, ~resolution.exists())
        .order_by(_t2.c.timeout_at)
        .limit(limit)
    )
    voided = []
    for community_id, pending_id in rows.all():
        voided.append(
            void_pending(
                conn,
                community_id,
                pending_id,
                id=derived_id("timeout", pending_id),
                memo="超时释放",
                actor="system",
                now=now,
            )
        )
    return voided


def statement(
    conn: Connection,
    community_id: str,
    acct_id: str,
    *,
    cursor: str | None = None,
    limit: int = 50,
    kinds: frozenset[TransferKind] = frozenset(),
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> Page:
    """An account's entries (流水), newest first, ``limit`` at a time (at most 200)."""
    check_limit(limit)
    query = (
        sa.select(entries, transfers)
        .join(
            transfers,
            sa.and_(
                transfers.c.community_id == entries.c.community_id,
                transfers.c.id == entries.c.transfer_id,
            ),
        )
        .where(entries.c.community_id == community_id, entries.c.account_id == acct_id)
        .order_by(entries.c.seq.desc())
        .limit(limit + 1)
    )
    if cursor is not None:
        if not (cursor.isascii() and cursor.isdigit()) or len(cursor) > 18:
            raise InvalidId("cursor", cursor, Cause("cursor"))
        query = query.where(entries.c.seq < int(cursor))
    if kinds:
        query = query.where(transfers.c.kind.in_(sorted(k.value for k in kinds)))
    if since is not None:
        query = query.where(transfers.c.created_at >= since)
    if until is not None:
        query = query.where(transfers.c.created_at < until)
    rows = (conn.execute(query)).all()
    items = tuple(
        Entry(
            seq=r.seq,
            transfer_id=r.transfer_id,
            kind=TransferKind(r.kind),
            phase=Phase(r.phase),
            side=r.side,
            amount=r.amount,
            balance_after=r.balance_after,
            available_after=r.available_after,
            reference=r.reference,
            memo=r.memo,
            created_at=r.created_at,
        )
        for r in rows[:limit]
    )
    more = len(rows) > limit
    return Page(items=items, next_cursor=str(items[-1].seq) if more else None)


# --- the write path -------------------------------------------------------------------------

_t2 = transfers.alias("pending")


def _request(**fields: Any) -> Transfer:
    check_id("community_id", fields["community_id"])
    check_id("id", fields["id"])
    check_id("debit_account_id", fields["debit_account_id"])
    check_id("credit_account_id", fields["credit_account_id"])
    check_amount(fields["amount"])
    if fields.get("reference") is not None:
        check_text("reference", fields["reference"], 128)
    check_text("memo", fields.get("memo", ""), 500)
    check_text("actor", fields.get("actor", ""), 64)
    for name in ("expires_at", "created_at"):
        value = fields.get(name)
        if value is not None and (not isinstance(value, dt.datetime) or value.tzinfo is None):
            raise InvalidRequest(Cause("needs_time_zone", field=name))
    return Transfer(**fields)


def _resolve(
    conn: Connection,
    community_id: str,
    pending_id: str,
    phase: Phase,
    amount: int | None,
    id: str | None,
    memo: str,
    actor: str,
    now: dt.datetime | None,
) -> Transfer:
    now = now or utcnow()
    held = get_transfer(conn, community_id, pending_id)
    if held.phase is not Phase.PENDING:
        raise PendingNotOpen(pending_id, f"not a pending transfer but {held.phase}")
    if amount is None:
        amount = held.amount
    check_amount(amount)
    if amount > held.amount:
        raise InvalidRequest(Cause("post_at_most", {"high": held.amount}, field="amount"))
    request = _request(
        community_id=community_id,
        id=new_id() if id is None else id,
        debit_account_id=held.debit_account_id,
        credit_account_id=held.credit_account_id,
        amount=amount,
        kind=held.kind,
        phase=phase,
        pending_id=pending_id,
        expires_at=held.expires_at,
        value_date=held.value_date,
        reference=None,
        memo=memo,
        actor=actor,
        created_at=now,
    )
    existing = _find(conn, community_id, request.id)
    if existing is None and phase is Phase.POST and held.timeout_at and held.timeout_at <= now:
        raise PendingNotOpen(pending_id, "timed out")
    return _apply(conn, request, held=held)


def _apply(
    conn: Connection,
    t: Transfer,
    *,
    held: Transfer | None = None,
    use_first: str | None = None,
    open_missing: bool = False,
    again: bool = True,
    derived: tuple[str, ...] = (),
) -> Transfer:
    """Write a checked transfer: three statements when all is well (claim the id, move both
    accounts' counters, write both entries), and the lots of a wallet.

    ``open_missing``: open a member's wallet, the pool or the store the transfer finds missing
    (an accrual to a member's first wallet) instead of raising AccountNotFound. When a guard
    refuses, what this call wrote is taken back before the error is raised, so a caller that
    catches it inside its transaction commits nothing half-done.

    ``again``: on PostgreSQL (read committed) an account another transaction opens can commit
    between the id claim (which did not see it) and the look at what is missing (which does):
    nothing explains the conflict then, and the claim is tried once more.

    ``derived``: fields the ledger computed rather than the caller set, left out when a repeat of
    the id is compared with its first use."""
    claimed = conn.execute(_claim_id(conn), {f"v_{k}": v for k, v in transfer_row(t).items()})
    if claimed.first() is None:
        if _open_missing(conn, t, open_missing):
            return _apply(conn, t, held=held, use_first=use_first, derived=derived)
        explained = _explain_conflict(conn, t, last=not again, derived=derived)
        if explained is None:
            return _apply(conn, t, held=held, use_first=use_first, again=False, derived=derived)
        return explained
    a, b = counter_changes(t, held)
    guard_debit = t.phase in (Phase.POSTED, Phase.PENDING)
    guard_credit = b.get("credits_posted", 0) + b.get("credits_pending", 0) > 0
    rows = conn.execute(
        _bump_both(conn),
        {
            "community": t.community_id,
            "debit": t.debit_account_id,
            "credit": t.credit_account_id,
            "amount": t.amount,
            "guard_debit": guard_debit,
            "guard_credit": guard_credit,
            **{f"d_{k}": a.get(k, 0) for k in _COUNTERS},
            **{f"c_{k}": b.get(k, 0) for k in _COUNTERS},
        },
    )
    bumped = {r.id: to_struct(r, Account) for r in rows}
    sides = ((t.debit_account_id, a, guard_debit, False), (t.credit_account_id, b, False,
             guard_credit))  # fmt: skip
    try:
        for acct_id, changes, debit_guard, credit_guard in sides:
            if acct_id not in bumped:  # a guard refused it, or the account is missing
                bumped[acct_id] = _bump(
                    conn,
                    t,
                    acct_id,
                    changes,
                    guard_debit=debit_guard,
                    guard_credit=credit_guard,
                )
    except (Refused, AccountNotFound):
        _undo(conn, t, [(bumped[i], a if i == t.debit_account_id else b) for i in bumped])
        raise
    debit, credit = bumped[t.debit_account_id], bumped[t.credit_account_id]
    conn.execute(_ENTRIES, [entry_row(t, "debit", debit), entry_row(t, "credit", credit)])
    _keep_lots(conn, t, debit, credit, held, use_first)
    return t


_COUNTERS = ("debits_pending", "debits_posted", "credits_pending", "credits_posted")
_ENTRIES = entries.insert()  # both entries in one executemany


_OPENABLE = frozenset(k.value for k in (AccountKind.MEMBER, AccountKind.POOL, AccountKind.STORE))
"""What ``open_accounts`` opens: a member's wallet, the community's pool and its store."""


def _open_missing(conn: Connection, t: Transfer, open_missing: bool) -> bool:
    """After an id claim that wrote nothing: whether an account was missing and is open now (try
    again). A missing account that may not be opened here is AccountNotFound."""
    found = set(
        conn.scalars(
            sa.select(accounts.c.id).where(
                accounts.c.community_id == t.community_id,
                accounts.c.id.in_([t.debit_account_id, t.credit_account_id]),
            )
        )
    )
    missing = [a for a in (t.debit_account_id, t.credit_account_id) if a not in found]
    if not missing:
        return False
    for acct_id in missing:
        kind, _, owner = acct_id.partition(":")
        if not open_missing or kind not in _OPENABLE:
            raise AccountNotFound(acct_id)
        open_account(conn, t.community_id, AccountKind(kind), owner, now=t.created_at)
    return True


@sqltypes.per_dialect
def _claim_id(dialect: str) -> Any:
    """``INSERT … SELECT … WHERE NOT EXISTS (a refusal of this id) AND EXISTS (each account) ON
    CONFLICT DO NOTHING RETURNING id``: the transfer takes its id (and its reference, and its
    hold) unless the id was used or refused before or an account is missing, in one statement.
    Built once per dialect."""
    columns = [c for c in transfers.c if c.name not in ("chain_seq", "chain_hash")]
    community: sa.BindParameter[str] = sa.bindparam("v_community_id")

    def account(side: str) -> sa.Exists:
        return sa.exists().where(
            accounts.c.community_id == community, accounts.c.id == sa.bindparam(side)
        )

    values = sa.select(*(sa.bindparam(f"v_{c.name}", type_=c.type) for c in columns)).where(
        ~sa.exists().where(
            refused_transfers.c.community_id == community,
            refused_transfers.c.id == sa.bindparam("v_id"),
        ),
        account("v_debit_account_id"),
        account("v_credit_account_id"),
    )
    return (
        sqltypes.dialect_insert(dialect, transfers)
        .from_select([c.name for c in columns], values)
        .on_conflict_do_nothing()
        .returning(transfers.c.id)
    )


def _moved(name: str) -> sa.ColumnElement[int]:
    """A counter plus the debit's or the credit's change, whichever row this is."""
    c = accounts.c
    return c[name] + sa.case(
        (c.id == sa.bindparam("debit"), sa.bindparam(f"d_{name}")),
        else_=sa.bindparam(f"c_{name}"),
    )


@sqltypes.per_dialect
def _bump_both(dialect: str) -> Any:
    """Both accounts of a transfer in one ``UPDATE``, each row under its own guard.

    On PostgreSQL the rows are first locked in key order (a ``FOR NO KEY UPDATE`` CTE, which is
    never folded into the ``UPDATE``), so two transfers between the same accounts in opposite
    directions queue instead of deadlocking: without it the planner may visit them in heap order.
    SQLite has one writer; it gets the plain ``UPDATE``. Built once per dialect."""
    c = accounts.c
    both = [c.community_id == sa.bindparam("community"),
            c.id.in_([sa.bindparam("debit"), sa.bindparam("credit")])]  # fmt: skip
    which = sa.and_(*both)
    if dialect != "sqlite":
        locked = (
            sa.select(c.id)
            .where(*both)
            .order_by(c.id)
            .with_for_update(key_share=True)
            .cte("locked")
        )
        which = sa.and_(c.community_id == sa.bindparam("community"),
                        c.id.in_(sa.select(locked.c.id)))  # fmt: skip
    return (
        accounts.update()
        .where(
            which,
            sa.or_(  # the debit's guard: a wallet is never overdrawn
                c.id != sa.bindparam("debit"),
                sa.bindparam("guard_debit", type_=sa.Boolean) == sa.false(),
                c.allow_negative == sa.true(),
                c.credits_posted - c.debits_posted - c.debits_pending >= sa.bindparam("amount"),
            ),
            sa.or_(  # the credit's guard: a wallet's maximum balance
                c.id != sa.bindparam("credit"),
                sa.bindparam("guard_credit", type_=sa.Boolean) == sa.false(),
                c.max_balance.is_(None),
                c.credits_posted + c.credits_pending - c.debits_posted + sa.bindparam("amount")
                <= c.max_balance,
            ),
        )
        .values(**{name: _moved(name) for name in _COUNTERS}, version=c.version + 1)
        .returning(*accounts.c)
    )


def check_max_balance(t: Transfer, credit: Account) -> None:
    """The credit's guard: MaxBalanceExceeded when ``t`` would take the credited account (its
    counters as they are before ``t``) past its maximum balance."""
    balance = credit.credits_posted + credit.credits_pending - credit.debits_posted
    ceiling = credit.max_balance
    if ceiling is not None and balance + t.amount > ceiling:
        refusal = _refusal(t, "max_balance_exceeded", credit.available)
        raise MaxBalanceExceeded(t.credit_account_id, balance, ceiling, t.amount, refusal)


def entry_row(t: Transfer, side: str, acct: Account) -> dict[str, Any]:
    """The ``points_entries`` row of one side of ``t``; ``acct``: the account as ``t`` left it
    (its version is the entry's sequence number)."""
    return {
        "community_id": t.community_id,
        "account_id": acct.id,
        "seq": acct.version,
        "transfer_id": t.id,
        "side": side,
        "balance_after": acct.balance,
        "available_after": acct.available,
    }


def moved(acct: Account, changes: dict[str, int]) -> Account:
    """The account after its counters moved by ``changes`` (and its version by one), as the
    ledger's ``UPDATE`` leaves it: a batch that writes many transfers keeps the accounts so."""
    fields = {name: getattr(acct, name) + delta for name, delta in changes.items()}
    return msgspec.structs.replace(acct, version=acct.version + 1, **fields)


def _undo(conn: Connection, t: Transfer, bumped: list[tuple[Account, dict[str, int]]]) -> None:
    """Take back what :func:`_apply` wrote before a refusal: the claimed id and the counters it
    moved (nothing else is written by then). No other transaction has seen them."""
    conn.execute(
        transfers.delete().where(transfers.c.community_id == t.community_id, transfers.c.id == t.id)
    )
    c = accounts.c
    for acct, changes in bumped:
        conn.execute(
            accounts.update()
            .where(c.community_id == t.community_id, c.id == acct.id)
            .values(
                **{name: c[name] - delta for name, delta in changes.items()}, version=c.version - 1
            )
        )


def counter_changes(
    t: Transfer, held: Transfer | None = None
) -> tuple[dict[str, int], dict[str, int]]:
    """How the debit and credit accounts' four counters move (``held``: the hold a post or a
    void resolves)."""
    if t.phase is Phase.POSTED:
        return {"debits_posted": t.amount}, {"credits_posted": t.amount}
    if t.phase is Phase.PENDING:
        return {"debits_pending": t.amount}, {"credits_pending": t.amount}
    assert held is not None
    posted = t.amount if t.phase is Phase.POST else 0
    return (
        {"debits_pending": -held.amount, "debits_posted": posted},
        {"credits_pending": -held.amount, "credits_posted": posted},
    )


def _bump(
    conn: Connection,
    t: Transfer,
    acct_id: str,
    changes: dict[str, int],
    *,
    guard_debit: bool = False,
    guard_credit: bool = False,
) -> Account:
    """An account the two-row ``UPDATE`` left out: missing, or a guard refused it. Decide on the
    row as locked (on PostgreSQL, READ COMMITTED, a plain re-read may already see a transaction
    that committed after the ``UPDATE``; FOR NO KEY UPDATE is what the ``UPDATE`` takes, and the
    foreign-key checks' KEY SHARE locks do not block it): refuse, or move it after all (the lock
    keeps the row as decided on until the move)."""
    c = accounts.c
    where = [c.community_id == t.community_id, c.id == acct_id]
    locked = conn.execute(sa.select(accounts).where(*where).with_for_update(key_share=True)).first()
    if locked is None:  # deleted meanwhile (the id claim found it): nothing to move
        raise AccountNotFound(acct_id)
    now_acct = to_struct(locked, Account)
    if guard_debit and now_acct.available < t.amount and not now_acct.allow_negative:
        raise InsufficientPoints(
            acct_id,
            now_acct.available,
            t.amount,
            _refusal(t, "insufficient_points", now_acct.available),
        )
    if guard_credit:
        check_max_balance(t, now_acct)
    values: dict[str, Any] = {name: c[name] + delta for name, delta in changes.items()}
    values["version"] = c.version + 1
    row = conn.execute(accounts.update().where(*where).values(**values).returning(accounts)).one()
    return to_struct(row, Account)


def _keep_lots(
    conn: Connection,
    t: Transfer,
    debit: Account,
    credit: Account,
    held: Transfer | None,
    use_first: str | None,
) -> None:
    if not debit.allow_negative:
        if t.phase in (Phase.POSTED, Phase.PENDING):
            lots.use(conn, t.community_id, debit.id, t.id, t.amount, first=use_first)
        elif held is not None and held.amount > (t.amount if t.phase is Phase.POST else 0):
            released = held.amount - (t.amount if t.phase is Phase.POST else 0)
            lots.give_back(conn, t.community_id, held.id, t.id, released)
    if not credit.allow_negative and t.phase in (Phase.POSTED, Phase.POST):
        conn.execute(lots.OPEN, lots.lot_row(t))


def _explain_conflict(
    conn: Connection, t: Transfer, *, last: bool = True, derived: tuple[str, ...] = ()
) -> Transfer | None:
    """The id claim wrote nothing: the same id was applied before (return it, as a replay would),
    or refused before (refuse it again), the hold is resolved already, or the reference is
    taken. None when nothing explains it and this is not the ``last`` try (the accounts the claim
    missed were committed since)."""
    existing = _find(conn, t.community_id, t.id)
    if existing is not None:
        return _same_or_raise(existing, t, derived)
    refused = conn.execute(
        sa.select(refused_transfers).where(
            refused_transfers.c.community_id == t.community_id,
            refused_transfers.c.id == t.id,
        )
    ).first()
    if refused is not None:
        _raise_refused_again(conn, refused._mapping, t)
    if t.pending_id is not None:
        state = pending_state(conn, t.community_id, t.pending_id)
        raise PendingNotOpen(t.pending_id, state.value)
    taken = None
    if t.reference is not None:
        taken = find_by_reference(conn, t.community_id, t.kind, t.reference)
    if taken is None and not last:
        return None
    assert t.reference is not None, f"transfer {t.id}: the id claim wrote nothing, unexplained"
    raise ReferenceInUse(t.kind.value, t.reference, taken.id if taken else "?")


def _same_or_raise(existing: Transfer, t: Transfer, derived: tuple[str, ...] = ()) -> Transfer:
    """The first use of the id when ``t`` repeats it field for field, else IdempotencyMismatch
    naming the fields that differ."""
    differ = tuple(
        f for f in _FINGERPRINT if f not in derived and _field(existing, f) != _field(t, f)
    )
    if differ:
        raise IdempotencyMismatch(t.id, differ)
    return existing


def _field(t: Transfer, name: str) -> Any:
    """A transfer's field as the fingerprint compares it: the timeout as a duration, the detail
    as the JSON it is stored as."""
    if name == "timeout":
        return None if t.timeout_at is None else t.timeout_at - t.created_at
    if name == "detail":
        return None if t.detail is None else msgspec.json.decode(msgspec.json.encode(t.detail))
    return getattr(t, name)


def _raise_refused_again(conn: Connection, row: Any, t: Transfer) -> None:
    """The id was refused before: refuse it again (``available`` as it was at the refusal)."""
    differ = tuple(f for f in _SAME if f != "phase" and row[f] != _plain(getattr(t, f)))
    if differ:
        raise IdempotencyMismatch(t.id, differ)
    refusal = _refusal(t, row["reason"], row["available"])
    if row["reason"] == "insufficient_points":
        raise InsufficientPoints(t.debit_account_id, row["available"], t.amount, refusal)
    credit = get_account(conn, t.community_id, t.credit_account_id)
    balance = credit.credits_posted + credit.credits_pending - credit.debits_posted
    raise MaxBalanceExceeded(
        t.credit_account_id, balance, credit.max_balance or 0, t.amount, refusal
    )


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, (TransferKind, Phase, AccountKind)) else value


def transfer_row(t: Transfer) -> dict[str, Any]:
    """The transfer as the values of its ``points_transfers`` row (batch.py writes them too)."""
    row = dict(zip(Transfer.__struct_fields__, msgspec.structs.astuple(t), strict=True))
    row["kind"], row["phase"] = t.kind.value, t.phase.value
    return row


def _refusal(t: Transfer, reason: str, available: int) -> RefusedTransfer:
    return RefusedTransfer(
        community_id=t.community_id,
        id=t.id,
        debit_account_id=t.debit_account_id,
        credit_account_id=t.credit_account_id,
        amount=t.amount,
        kind=t.kind,
        phase=t.phase,
        pending_id=t.pending_id,
        reference=t.reference,
        reason=reason,
        available=available,
        created_at=t.created_at,
    )


def _find(conn: Connection, community_id: str, transfer_id: str) -> Transfer | None:
    row = (
        conn.execute(
            sa.select(transfers).where(
                transfers.c.community_id == community_id, transfers.c.id == transfer_id
            )
        )
    ).first()
    return None if row is None else to_struct(row, Transfer)
