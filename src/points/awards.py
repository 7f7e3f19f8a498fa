"""Awards (志愿积分制): accrual by a community's policy, donations, adjustments and expiry.

A community's accrual policy is stored in versions; every accrual records the version it used and
the breakdown that explains its points, so "why did I get these points?" always has an answer.
Points come from the community pool, carry the policy's expiry date, and expire oldest first.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from points import ledger
from points.causes import Cause
from points.errors import (
    DonationNotAllowed,
    IdempotencyMismatch,
    InvalidPolicy,
    InvalidRequest,
    ReferenceInUse,
)
from points.model import (
    AccountKind,
    Phase,
    Transfer,
    TransferKind,
    account_id,
    check_amount,
    check_id,
    check_text,
    derived_id,
    utcnow,
)
from points.policy import Accrual, AccrualPolicy, Activity, DonationRule, compute_accrual
from points.schema import accounts, lots, policies, transfers
from points.sqltypes import insert_ignoring_conflicts

CHINA = dt.timezone(dt.timedelta(hours=8), "CST")
"""Community-local time for days and months (China keeps one offset and no daylight saving)."""


class Award(msgspec.Struct, frozen=True, kw_only=True):
    """An accrual's outcome: the transfer (None when the policy gave 0 points) and why."""

    transfer: Transfer | None
    accrual: Accrual
    policy_version: int


class ExpiringLot(msgspec.Struct, frozen=True, kw_only=True):
    account_id: str
    lot_id: str
    remaining: int
    expires_at: dt.datetime


def set_policy(
    conn: Connection,
    community_id: str,
    policy: AccrualPolicy,
    *,
    actor: str,
    now: dt.datetime | None = None,
) -> int:
    """Store a new version of the community's policy and return its version number."""
    check_id("community_id", community_id)
    problems = policy.problems()
    if problems:
        raise InvalidPolicy(problems)
    body = msgspec.to_builtins(policy)
    for _ in range(5):  # a concurrent edit takes the same number: try the next one
        latest = conn.scalar(
            sa.select(sa.func.max(policies.c.version)).where(
                policies.c.community_id == community_id
            )
        )
        version = (latest or 0) + 1
        stored = conn.execute(
            insert_ignoring_conflicts(conn, policies)
            .values(
                community_id=community_id,
                version=version,
                body=body,
                actor=actor,
                created_at=now or utcnow(),
            )
            .returning(policies.c.version)
        )
        if stored.first() is not None:
            return version
    raise InvalidRequest(Cause("policy_busy"))


def current_policy(conn: Connection, community_id: str) -> tuple[int, AccrualPolicy]:
    """The community's newest policy; version 0 is the built-in default."""
    version, body = policy_columns(community_id)
    row = conn.execute(sa.select(version, body)).one()
    return policy_of(row[0], row[1])


def policy_columns(community_id: Any) -> tuple[sa.ScalarSelect[Any], sa.ScalarSelect[Any]]:
    """The community's newest policy as two scalar subqueries, its version and its body: a
    library keeping its tables beside the ledger puts them in its own statement to load the
    policy with its rows (one statement fewer); :func:`policy_of` makes the policy of them.
    ``community_id``: a value, or a column of that statement."""

    def newest(column: sa.Column[Any]) -> sa.ScalarSelect[Any]:
        return (
            sa.select(column)
            .where(policies.c.community_id == community_id)
            .order_by(policies.c.version.desc())
            .limit(1)
            .scalar_subquery()
        )

    return newest(policies.c.version), newest(policies.c.body)


def policy_of(version: int | None, body: Any) -> tuple[int, AccrualPolicy]:
    """(version, policy) from :func:`policy_columns`' values; version 0 is the default."""
    if version is None or body is None:
        return 0, AccrualPolicy()
    return int(version), msgspec.convert(body, AccrualPolicy)


def accrue(
    conn: Connection,
    *,
    community_id: str,
    member_id: str,
    activity: Activity,
    reference: str,
    id: str | None = None,
    pending: bool = False,
    timeout: dt.timedelta | None = None,
    actor: str = "",
    memo: str = "",
    now: dt.datetime | None = None,
    policy: tuple[int, AccrualPolicy] | None = None,
) -> Award:
    """Award points for verified service by the current policy (idempotent by ``reference``).

    With ``pending`` the points are held for the member until posted (confirmation) or voided
    (a dispute lost). Daily and monthly caps count the member's accruals for the service day
    (community-local), except holds that were voided. ``policy``: the current policy as the
    caller loaded it with :func:`policy_columns` (else it is read here).

    Without caps in the policy an accrual is the transfer alone (three statements; the wallet
    and the pool are opened if missing). With caps it first reads what the member earned that
    day and month, holding the wallet's row so two accruals cannot both pass a cap.
    """
    now = now or utcnow()
    check_text("reference", reference, 128)
    version, rules = policy or current_policy(conn, community_id)
    if rules.daily_cap is None and rules.monthly_cap is None:
        return _accrue_uncapped(
            conn,
            community_id=community_id,
            member_id=member_id,
            activity=activity,
            reference=reference,
            id=id,
            pending=pending,
            timeout=timeout,
            actor=actor,
            memo=memo,
            now=now,
            version=version,
            policy=rules,
        )
    earlier = ledger.find_by_reference(conn, community_id, TransferKind.ACCRUAL, reference)
    if earlier is not None:
        return _award(earlier)
    wallet = ledger.open_account(conn, community_id, AccountKind.MEMBER, member_id, now=now)
    _lock_account(conn, community_id, wallet.id)  # caps: one accrual per wallet at a time
    earlier = ledger.find_by_reference(conn, community_id, TransferKind.ACCRUAL, reference)
    if earlier is not None:  # awarded while we waited for the lock
        return _award(earlier)
    activity = local(activity)
    day = _local_day(activity.started_at)
    today = _earned(conn, community_id, wallet.id, day.isoformat(), day.isoformat())
    month_start = day.replace(day=1)
    month = _earned(
        conn, community_id, wallet.id, month_start.isoformat(), day.isoformat()[:7] + "-31"
    )
    accrual = compute_accrual(rules, activity, earned_today=today, earned_this_month=month)
    if accrual.points == 0:
        return Award(transfer=None, accrual=accrual, policy_version=version)
    ledger.open_community(conn, community_id)
    t = accrual_request(community_id, member_id, activity, accrual, version, rules, reference, id,
                        pending, timeout, actor, memo, now)  # fmt: skip
    return _award(ledger.apply(conn, t, derived=_BY_POLICY))


def local(activity: Activity) -> Activity:
    """The activity in community-local wall-clock time (what the policy reads)."""
    if activity.started_at.tzinfo is None:
        return activity
    return msgspec.structs.replace(activity, started_at=activity.started_at.astimezone(CHINA))


def accrual_request(
    community_id: str,
    member_id: str,
    activity: Activity,
    accrual: Accrual,
    version: int,
    policy: AccrualPolicy,
    reference: str,
    id: str | None,
    pending: bool,
    timeout: dt.timedelta | None,
    actor: str,
    memo: str,
    now: dt.datetime,
) -> Transfer:
    """The one way an accrual becomes a transfer (``accrue`` and ``accrue_many`` both take it):
    from the pool to the member's wallet, for the service day, expiring by the policy, its
    detail (the policy version, the activity in local time, the breakdown) in its stored JSON
    form, so this award equals the one a replay reads back. Pure."""
    detail = msgspec.json.decode(
        msgspec.json.encode({"policy_version": version, "activity": activity, "accrual": accrual})
    )
    return ledger.request(
        community_id=community_id,
        debit_account_id=account_id(AccountKind.POOL, community_id),
        credit_account_id=account_id(AccountKind.MEMBER, member_id),
        amount=accrual.points,
        kind=TransferKind.ACCRUAL,
        id=id,
        reference=reference,
        memo=memo,
        actor=actor,
        pending=pending,
        timeout=timeout,
        expires_at=_expiry(policy, now),
        value_date=_local_day(activity.started_at),
        detail=detail,
        now=now,
    )


def _accrue_uncapped(
    conn: Connection,
    *,
    community_id: str,
    member_id: str,
    activity: Activity,
    reference: str,
    id: str | None,
    pending: bool,
    timeout: dt.timedelta | None,
    actor: str,
    memo: str,
    now: dt.datetime,
    version: int,
    policy: AccrualPolicy,
) -> Award:
    """An accrual no cap limits: decide the points, then one transfer (the ledger opens the
    wallet and the pool when missing). An earlier award under the reference is returned."""
    activity = local(activity)
    accrual = compute_accrual(policy, activity, earned_today=0, earned_this_month=0)
    if accrual.points == 0:
        earlier = ledger.find_by_reference(conn, community_id, TransferKind.ACCRUAL, reference)
        if earlier is not None:
            return _award(earlier)
        ledger.open_account(conn, community_id, AccountKind.MEMBER, member_id, now=now)
        return Award(transfer=None, accrual=accrual, policy_version=version)
    try:
        t = accrual_request(community_id, member_id, activity, accrual, version, policy,
                            reference, id, pending, timeout, actor, memo, now)  # fmt: skip
        done = ledger.apply(conn, t, open_accounts=True, derived=_BY_POLICY)
    except (ReferenceInUse, IdempotencyMismatch):  # awarded before (maybe by another policy)
        earlier = ledger.find_by_reference(conn, community_id, TransferKind.ACCRUAL, reference)
        if earlier is None:
            raise
        return _award(earlier)
    return _award(done)


def donate(
    conn: Connection,
    *,
    community_id: str,
    from_member: str,
    amount: int,
    to_member: str | None = None,
    id: str | None = None,
    memo: str = "",
    now: dt.datetime | None = None,
) -> Transfer:
    """Give points to another member, or to the community pool when ``to_member`` is None."""
    now = now or utcnow()
    _, policy = current_policy(conn, community_id)
    allowed = policy.donations is DonationRule.ANY or (
        policy.donations is DonationRule.POOL and to_member is None
    )
    if not allowed:
        raise DonationNotAllowed(community_id, policy.donations.value)
    ledger.open_community(conn, community_id)
    if to_member is None:
        target = account_id(AccountKind.POOL, community_id)
    else:
        target = (ledger.open_account(conn, community_id, AccountKind.MEMBER, to_member)).id
    return ledger.transfer(
        conn,
        community_id=community_id,
        debit_account_id=account_id(AccountKind.MEMBER, from_member),
        credit_account_id=target,
        amount=amount,
        kind=TransferKind.DONATION,
        id=id,
        memo=memo,
        actor=from_member,
        expires_at=_expiry(policy, now) if to_member else None,
        derived=_BY_POLICY,
        now=now,
    )


def adjust(
    conn: Connection,
    *,
    community_id: str,
    member_id: str,
    change: int,
    reason: str,
    actor: str,
    id: str | None = None,
    now: dt.datetime | None = None,
) -> Transfer:
    """A staff correction (调整): ``change`` points to (positive) or from (negative) a member."""
    now = now or utcnow()
    if isinstance(change, bool) or not isinstance(change, int) or change == 0:
        raise InvalidRequest(Cause("non_zero", field="change"))
    check_amount(abs(change))
    if not reason.strip():
        raise InvalidRequest(Cause("empty", field="reason"))
    _, policy = current_policy(conn, community_id)
    ledger.open_community(conn, community_id)
    wallet = ledger.open_account(conn, community_id, AccountKind.MEMBER, member_id, now=now)
    pool = account_id(AccountKind.POOL, community_id)
    return ledger.transfer(
        conn,
        community_id=community_id,
        debit_account_id=pool if change > 0 else wallet.id,
        credit_account_id=wallet.id if change > 0 else pool,
        amount=abs(change),
        kind=TransferKind.ADJUSTMENT,
        id=id,
        memo=reason,
        actor=actor,
        expires_at=_expiry(policy, now) if change > 0 else None,
        derived=_BY_POLICY,
        now=now,
    )


def expire_points(
    conn: Connection, *, now: dt.datetime | None = None, limit: int = 500
) -> list[Transfer]:
    """Move the remainders of lots past their expiry date to each community's expiry sink.

    A sweep: safe to run in several processes at once (each lot state expires under one id).
    """
    now = now or utcnow()
    due = (
        conn.execute(
            sa.select(lots.c.community_id, lots.c.id, lots.c.account_id)
            .where(lots.c.remaining > 0, lots.c.expires_at <= now)
            .order_by(lots.c.expires_at)
            .limit(limit)
        )
    ).all()
    done = []
    for community_id, lot_id, acct_id in due:
        _lock_account(conn, community_id, acct_id)
        row = (
            conn.execute(
                sa.select(lots.c.remaining, lots.c.expiry_count).where(
                    lots.c.community_id == community_id, lots.c.id == lot_id
                )
            )
        ).one()
        if row.remaining == 0:
            continue
        ledger.open_community(conn, community_id)
        reference = f"lot:{lot_id}:{row.expiry_count}"
        expiry_id = derived_id("expiry", hashlib.sha256(reference.encode()).hexdigest())
        done.append(
            ledger.transfer(
                conn,
                community_id=community_id,
                debit_account_id=acct_id,
                credit_account_id=account_id(AccountKind.EXPIRY, community_id),
                amount=row.remaining,
                kind=TransferKind.EXPIRY,
                id=expiry_id,
                reference=reference,
                memo="积分过期",
                actor="system",
                spend_first=lot_id,
                now=now,
            )
        )
        conn.execute(
            lots.update()
            .where(lots.c.community_id == community_id, lots.c.id == lot_id)
            .values(expiry_count=lots.c.expiry_count + 1)
        )
    return done


def expiring_soon(
    conn: Connection,
    community_id: str,
    *,
    member_id: str | None = None,
    days: int = 30,
    now: dt.datetime | None = None,
) -> list[ExpiringLot]:
    """Points that expire within ``days`` days, soonest first (到期提醒)."""
    now = now or utcnow()
    if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= 3650:
        raise InvalidRequest(Cause("range", {"low": 0, "high": 3650}, field="days"))
    query = (
        sa.select(lots.c.account_id, lots.c.id, lots.c.remaining, lots.c.expires_at)
        .where(
            lots.c.community_id == community_id,
            lots.c.remaining > 0,
            lots.c.expires_at <= now + dt.timedelta(days=days),
        )
        .order_by(lots.c.expires_at, lots.c.id)
        .limit(1000)
    )
    if member_id is not None:
        query = query.where(lots.c.account_id == account_id(AccountKind.MEMBER, member_id))
    rows = (conn.execute(query)).all()
    return [
        ExpiringLot(account_id=r[0], lot_id=r[1], remaining=r[2], expires_at=r[3]) for r in rows
    ]


def _award(t: Transfer) -> Award:
    detail: dict[str, Any] = t.detail
    return Award(
        transfer=t,
        accrual=msgspec.convert(detail["accrual"], Accrual),
        policy_version=detail["policy_version"],
    )


_BY_POLICY = ("expires_at",)
"""The policy's expiry counts from ``now``: a retry later is the same transfer (``derived``)."""


def _expiry(policy: AccrualPolicy, now: dt.datetime) -> dt.datetime | None:
    return None if policy.expiry_days is None else now + dt.timedelta(days=policy.expiry_days)


def _local_day(moment: dt.datetime) -> dt.date:
    return moment.astimezone(CHINA).date() if moment.tzinfo else moment.date()


def _earned(
    conn: Connection,
    community_id: str,
    wallet: str,
    first: str,
    last: str,
    *,
    excluding: str | None = None,
) -> int:
    """Accrued points (posted, or held and not voided) for service days first..last; with
    ``excluding``, leaving out the accruals of that record (its award and its corrections')."""
    t = transfers.alias("t")
    voided = sa.select(sa.literal(1)).where(
        transfers.c.community_id == t.c.community_id,
        transfers.c.pending_id == t.c.id,
        transfers.c.phase == Phase.VOID.value,
    )
    total = conn.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(t.c.amount), 0)).where(
            t.c.community_id == community_id,
            t.c.credit_account_id == wallet,
            t.c.kind == TransferKind.ACCRUAL.value,
            t.c.value_date >= first,
            t.c.value_date <= last,
            t.c.phase.in_([Phase.POSTED.value, Phase.PENDING.value]),
            ~voided.exists(),
            sa.true()
            if excluding is None
            else sa.not_(
                sa.or_(t.c.reference == excluding, t.c.reference.like(f"fix:{excluding}:%"))
            ),
        )
    )
    return int(total or 0)


def _lock_account(conn: Connection, community_id: str, acct_id: str) -> None:
    """Take the account's row lock first (PostgreSQL), so lot reads and the debit agree.
    SQLite needs nothing: its write transaction holds the whole database."""
    if conn.dialect.name != "sqlite":
        conn.execute(
            sa.select(accounts.c.id)
            .where(accounts.c.community_id == community_id, accounts.c.id == acct_id)
            .with_for_update()
        )
