"""Lots (积分批次): which earned points a spend uses, so that points expire oldest first.

Every credit posted to a wallet opens a lot with the transfer's expiry date. Every debit from a
wallet uses up lots, soonest-expiring first (a reversal of an award uses that award's own lot
first); a voided or partly posted hold gives its points back to the lots it took them from. Lots are
a projection kept in step with the account: their remaining points always add up to the account's
available balance, which the audit checks.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from points.model import Transfer
from points.schema import lot_uses, lots


def lot_row(t: Transfer) -> dict[str, Any]:
    """The lot a posted credit of ``t`` opens in a wallet (its ``points_lots`` row; insert it
    with :data:`OPEN`)."""
    return {
        "community_id": t.community_id,
        "id": t.id,
        "account_id": t.credit_account_id,
        "amount": t.amount,
        "remaining": t.amount,
        "expires_at": t.expires_at,
        "created_at": t.created_at,
    }


OPEN = lots.insert()


def use(
    conn: Connection,
    community_id: str,
    account_id: str,
    transfer_id: str,
    amount: int,
    first: str | None = None,
) -> None:
    """Take ``amount`` points from the account's lots for ``transfer_id``, soonest-expiring first
    (``first``: that lot before any other). Two round trips whatever the number of lots: the
    uses, chosen by a running sum in SQL, then every lot they draw on, each by its key.

    The draws name each lot by its primary key (from what the first statement returned) rather
    than joining the uses back to the lots: without table statistics (a fresh or truncated table,
    no autovacuum yet) PostgreSQL planned that join as a nested loop over all of the community's
    lots and all of its uses, quadratic over a run: 133 ms a spend on average over 3,000
    transfers from one client (0.6 ms by key)."""
    used = conn.execute(
        _USE_FIRST if first else _USE,
        {
            "community": community_id,
            "account": account_id,
            "transfer": transfer_id,
            "amount": amount,
            "first": first,
        },
    ).all()
    if sum(r.amount for r in used) != amount:
        raise RuntimeError(f"lots of {account_id} hold too few points for {amount}")
    if used:
        conn.execute(
            _DRAW, [{"community": community_id, "lot": r.lot_id, "take": r.amount} for r in used]
        )


def _uses(first: bool) -> Any:
    """The uses of a spend: a running sum over the account's lots, soonest-expiring first."""
    amount = sa.bindparam("amount", type_=lot_uses.c.amount.type)
    order = [
        sa.case((lots.c.id == sa.bindparam("first"), 0), else_=1) if first else sa.literal(1),
        lots.c.expires_at.is_(None),
        lots.c.expires_at,
        lots.c.created_at,
        lots.c.id,
    ]
    ranked = (
        sa.select(
            lots.c.id,
            lots.c.remaining,
            sa.func.sum(lots.c.remaining).over(order_by=order, rows=(None, 0)).label("running"),
        )
        .where(
            lots.c.community_id == sa.bindparam("community"),
            lots.c.account_id == sa.bindparam("account"),
            lots.c.remaining > 0,
        )
        .subquery("ranked")
    )
    before = ranked.c.running - ranked.c.remaining  # what the lots before this one give
    take = sa.case((ranked.c.running <= amount, ranked.c.remaining), else_=amount - before)
    chosen = sa.select(
        sa.bindparam("community", type_=lot_uses.c.community_id.type),
        sa.bindparam("transfer", type_=lot_uses.c.transfer_id.type),
        ranked.c.id,
        take,
    ).where(before < amount)
    return (
        lot_uses.insert()
        .from_select(["community_id", "transfer_id", "lot_id", "amount"], chosen)
        .returning(lot_uses.c.lot_id, lot_uses.c.amount)
    )


_USE, _USE_FIRST = _uses(False), _uses(True)
_DRAW = (
    lots.update()
    .where(lots.c.community_id == sa.bindparam("community"), lots.c.id == sa.bindparam("lot"))
    .values(remaining=lots.c.remaining - sa.bindparam("take", type_=lots.c.remaining.type))
)
"""A lot a spend draws on, by its key (executed for every use at once)."""


def give_back(
    conn: Connection, community_id: str, from_transfer: str, by_transfer: str, amount: int
) -> None:
    """Return ``amount`` of what ``from_transfer`` took, latest-expiring lots first."""
    rows = conn.execute(
        sa.select(lot_uses.c.lot_id, sa.func.sum(lot_uses.c.amount))
        .join(
            lots,
            sa.and_(lots.c.community_id == lot_uses.c.community_id, lots.c.id == lot_uses.c.lot_id),
        )
        .where(lot_uses.c.community_id == community_id, lot_uses.c.transfer_id == from_transfer)
        .group_by(lot_uses.c.lot_id, lots.c.expires_at)
        .order_by(lots.c.expires_at.is_(None).desc(), lots.c.expires_at.desc(), lot_uses.c.lot_id)
    )
    left = amount
    for lot_id, used in rows:
        if left == 0:
            break
        back = min(left, int(used))
        if back > 0:
            _move(conn, community_id, by_transfer, lot_id, -back)
            left -= back
    if left:
        raise RuntimeError(
            f"transfer {from_transfer} took {amount - left} points, {amount} due back"
        )


def latest_expiry(
    conn: Connection, community_id: str, transfer_id: str
) -> tuple[bool, dt.datetime | None]:
    """(whether ``transfer_id`` used lots, the latest expiry among them; None: never expires)."""
    rows = (
        conn.execute(
            sa.select(lots.c.expires_at)
            .join(
                lot_uses,
                sa.and_(
                    lots.c.community_id == lot_uses.c.community_id, lots.c.id == lot_uses.c.lot_id
                ),
            )
            .where(lot_uses.c.community_id == community_id, lot_uses.c.transfer_id == transfer_id)
        )
    ).all()
    if not rows:
        return False, None
    dates = [r[0] for r in rows]
    return True, None if any(d is None for d in dates) else max(d for d in dates if d is not None)


def _move(conn: Connection, community_id: str, transfer_id: str, lot_id: str, amount: int) -> None:
    updated = conn.execute(
        lots.update()
        .where(
            lots.c.community_id == community_id,
            lots.c.id == lot_id,
            lots.c.remaining - amount >= 0,
            lots.c.remaining - amount <= lots.c.amount,
        )
        .values(remaining=lots.c.remaining - amount)
    )
    if updated.rowcount != 1:
        raise RuntimeError(f"lot {lot_id} cannot move {amount}")
    conn.execute(
        lot_uses.insert().values(
            community_id=community_id, transfer_id=transfer_id, lot_id=lot_id, amount=amount
        )
    )
