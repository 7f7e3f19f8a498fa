"""Report queries (报表查询) over the ledger and the hours record, as statements to join.

Each function builds a SQLAlchemy ``Select`` without running it, so a library beside the ledger
(the marketplace's exports) can join it to its own tables (names, orgs) and stream the result.
``communities`` is any statement selecting community ids (an area's communities). Periods are
``[first, last)`` ISO dates for the hours record (``served_on`` is a local date) and
``[since, until)`` times for transfers (``created_at``).

- :func:`hours_by_member`: per community and member, records served (positive minutes) and the
  minutes, corrections included.
- :func:`points_by_member`: per community and member wallet, posted points by kind (earned,
  adjusted, redeemed, expired, given, received, reversed), the net and the balance now.
- :func:`service_records_between`: the hours records themselves.
- :func:`members_served`: the members with records in the period.
- :func:`lifetime_minutes`: per member, every minute recorded in the communities.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from points.model import AccountKind, Phase, TransferKind
from points.schema import accounts, service_records, transfers

_r, _t = service_records.c, transfers.c
_MEMBER = f"{AccountKind.MEMBER.value}:"


def _served(communities: sa.Select[Any], first: dt.date, last: dt.date) -> sa.ColumnElement[bool]:
    return sa.and_(
        _r.community_id.in_(communities),
        _r.served_on >= first.isoformat(),
        _r.served_on < last.isoformat(),
    )


def hours_by_member(communities: sa.Select[Any], first: dt.date, last: dt.date) -> sa.Select[Any]:
    """``community_id, member_id, records, minutes`` per community and member."""
    return (
        sa.select(
            _r.community_id,
            _r.member_id,
            sa.func.sum(sa.case((_r.minutes > 0, 1), else_=0)).label("records"),
            sa.func.sum(_r.minutes).label("minutes"),
        )
        .where(_served(communities, first, last))
        .group_by(_r.community_id, _r.member_id)
    )


POINT_COLUMNS = (
    "earned",
    "adjusted",
    "redeemed",
    "expired",
    "given",
    "received",
    "reversed",
    "net",
    "balance",
)


def points_by_member(
    communities: sa.Select[Any], since: dt.datetime, until: dt.datetime
) -> sa.Select[Any]:
    """``community_id, member_id`` and :data:`POINT_COLUMNS` per member wallet that moved in
    ``[since, until)``: posted transfers only (a pending hold is not a movement); redeemed,
    expired and given are amounts taken out, the others signed."""
    moved = sa.and_(
        _t.community_id.in_(communities),
        _t.phase.in_((Phase.POSTED.value, Phase.POST.value)),
        _t.created_at >= since,
        _t.created_at < until,
    )
    sides = sa.union_all(
        sa.select(_t.community_id, _t.credit_account_id.label("account"), _t.kind,
                  _t.amount.label("n")).where(moved, _t.credit_account_id.startswith(_MEMBER)),
        sa.select(_t.community_id, _t.debit_account_id, _t.kind, -_t.amount)
        .where(moved, _t.debit_account_id.startswith(_MEMBER)),
    ).subquery()  # fmt: skip

    def total(kind: TransferKind, sign: int = 0) -> sa.ColumnElement[Any]:
        picked = sides.c.kind == kind.value
        if sign:
            picked = sa.and_(picked, sides.c.n * sign > 0)
        return sa.func.sum(sa.case((picked, sides.c.n * (sign or 1)), else_=0))

    grouped = (
        sa.select(
            sides.c.community_id,
            sides.c.account,
            total(TransferKind.ACCRUAL).label("earned"),
            total(TransferKind.ADJUSTMENT).label("adjusted"),
            total(TransferKind.REDEMPTION, -1).label("redeemed"),
            total(TransferKind.EXPIRY, -1).label("expired"),
            total(TransferKind.DONATION, -1).label("given"),
            total(TransferKind.DONATION, 1).label("received"),
            total(TransferKind.REVERSAL).label("reversed"),
            sa.func.sum(sides.c.n).label("net"),
        )
        .group_by(sides.c.community_id, sides.c.account)
        .subquery()
    )
    a = accounts.c
    return sa.select(
        grouped.c.community_id,
        a.owner_id.label("member_id"),
        *(grouped.c[name] for name in POINT_COLUMNS[:-1]),
        (a.credits_posted - a.debits_posted).label("balance"),
    ).select_from(
        grouped.join(
            accounts, sa.and_(a.community_id == grouped.c.community_id, a.id == grouped.c.account)
        )
    )


def service_records_between(
    communities: sa.Select[Any], first: dt.date, last: dt.date
) -> sa.Select[Any]:
    """Every hours record (and correction) served in ``[first, last)``, all its columns."""
    return sa.select(service_records).where(_served(communities, first, last))


def members_served(communities: sa.Select[Any], first: dt.date, last: dt.date) -> sa.Select[Any]:
    """``member_id`` of each member with an hours record served in ``[first, last)``."""
    return sa.select(_r.member_id).where(_served(communities, first, last)).distinct()


def lifetime_minutes(communities: sa.Select[Any]) -> sa.Select[Any]:
    """``member_id, minutes``: every minute recorded for each member in the communities."""
    return (
        sa.select(_r.member_id, sa.func.sum(_r.minutes).label("minutes"))
        .where(_r.community_id.in_(communities))
        .group_by(_r.member_id)
    )
