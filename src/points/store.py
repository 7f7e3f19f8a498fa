"""The points store (积分超市): catalog items, and orders that hold points and stock.

Redeeming reserves in one transaction: a hold on the member's points (a pending transfer whose id
is the order id) and the stock, taken with a conditional ``UPDATE … WHERE stock >= quantity`` so
stock never goes negative. Staff then fulfil the order (the hold is posted) or it is cancelled or
expires (the hold is voided and the stock comes back). Each order closes exactly once.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from points import ledger
from points.awards import CHINA
from points.causes import Cause
from points.errors import (
    IdempotencyMismatch,
    InvalidAmount,
    InvalidRequest,
    ItemNotFound,
    ItemUnavailable,
    LimitReached,
    OrderNotFound,
    OrderNotOpen,
    OutOfStock,
)
from points.model import (
    MAX_AMOUNT,
    AccountKind,
    Page,
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
from points.schema import accounts, catalog_items, orders
from points.sqltypes import insert_ignoring_conflicts, pick, to_struct

MAX_QUANTITY = 1000
DEFAULT_HOLD = dt.timedelta(days=7)


class ItemKind(enum.StrEnum):
    GOODS = "goods"  # 实物, with stock
    SERVICE = "service"  # 服务 (时间银行), stock optional


class LimitPeriod(enum.StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"
    EVER = "ever"


class OrderStatus(enum.StrEnum):
    RESERVED = "reserved"
    FULFILLED = "fulfilled"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class CatalogItem(msgspec.Struct, frozen=True, kw_only=True):
    community_id: str
    id: str
    name: str
    kind: ItemKind
    cost: int
    stock: int | None
    per_member_limit: int | None
    limit_period: LimitPeriod
    valid_from: dt.datetime | None
    valid_until: dt.datetime | None
    active: bool
    created_at: dt.datetime


class Order(msgspec.Struct, frozen=True, kw_only=True):
    community_id: str
    id: str
    item_id: str
    member_id: str
    quantity: int
    points: int
    status: OrderStatus
    expires_at: dt.datetime
    created_at: dt.datetime
    closed_at: dt.datetime | None
    closed_by: str | None


def add_item(
    conn: Connection,
    *,
    community_id: str,
    name: str,
    cost: int,
    kind: ItemKind = ItemKind.GOODS,
    stock: int | None = None,
    per_member_limit: int | None = None,
    limit_period: LimitPeriod = LimitPeriod.EVER,
    valid_from: dt.datetime | None = None,
    valid_until: dt.datetime | None = None,
    id: str | None = None,
    now: dt.datetime | None = None,
) -> CatalogItem:
    """Put an item in the store (上架). Goods need a stock; a service may have none (unlimited)."""
    item_id = check_id("id", id or new_id())
    check_id("community_id", community_id)
    check_text("name", name, 100)
    if not name.strip():
        raise InvalidRequest(Cause("empty", field="name"))
    check_amount(cost)
    kind, limit_period = ItemKind(kind), LimitPeriod(limit_period)
    if stock is not None:
        check_amount(stock, allow_zero=True)
    elif kind is ItemKind.GOODS:
        raise InvalidRequest(Cause("goods_need_stock", field="stock"))
    if per_member_limit is not None:
        check_amount(per_member_limit)
    if any(t is not None and t.tzinfo is None for t in (valid_from, valid_until)):
        raise InvalidRequest(Cause("needs_time_zone", field="valid_from"))
    if valid_from and valid_until and valid_until <= valid_from:
        raise InvalidRequest(Cause("after", {"other": "valid_from"}, field="valid_until"))
    values = {
        "community_id": community_id,
        "id": item_id,
        "name": name,
        "kind": kind.value,
        "cost": cost,
        "stock": stock,
        "per_member_limit": per_member_limit,
        "limit_period": limit_period.value,
        "valid_from": valid_from,
        "valid_until": valid_until,
        "active": True,
        "created_at": now or utcnow(),
    }
    conn.execute(insert_ignoring_conflicts(conn, catalog_items).values(**values))
    item = get_item(conn, community_id, item_id)
    if (item.name, item.cost, item.kind) != (name, cost, kind):
        raise IdempotencyMismatch(item_id, ("name", "cost", "kind"))
    return item


def restock(conn: Connection, community_id: str, item_id: str, change: int) -> CatalogItem:
    """Add (or with a negative ``change``, take away) stock; never below zero."""
    if isinstance(change, bool) or not isinstance(change, int) or change == 0:
        raise InvalidRequest(Cause("non_zero", field="change"))
    check_amount(abs(change))
    item = get_item(conn, community_id, item_id)
    if item.stock is None:
        raise ItemUnavailable(item_id, Cause("unlimited_stock"))
    result = conn.execute(
        catalog_items.update()
        .where(*_key(community_id, item_id), catalog_items.c.stock + change >= 0)
        .where(catalog_items.c.stock + change <= MAX_AMOUNT)
        .values(stock=catalog_items.c.stock + change)
    )
    if result.rowcount != 1:
        if change > 0:
            raise InvalidAmount(
                item.stock + change, Cause("stock_at_most", {"high": MAX_AMOUNT}, field="change")
            )
        raise OutOfStock(item_id, item.stock, -change)
    return get_item(conn, community_id, item_id)


def set_active(conn: Connection, community_id: str, item_id: str, active: bool) -> CatalogItem:
    """List or delist an item (上架/下架). Open orders are unaffected."""
    get_item(conn, community_id, item_id)
    conn.execute(catalog_items.update().where(*_key(community_id, item_id)).values(active=active))
    return get_item(conn, community_id, item_id)


def get_item(conn: Connection, community_id: str, item_id: str) -> CatalogItem:
    row = (conn.execute(sa.select(catalog_items).where(*_key(community_id, item_id)))).first()
    if row is None:
        raise ItemNotFound(item_id)
    return to_struct(row, CatalogItem)


def list_items(
    conn: Connection,
    community_id: str,
    *,
    active_only: bool = True,
    cursor: str | None = None,
    limit: int = 50,
) -> Page:
    check_limit(limit)
    query = (
        sa.select(catalog_items)
        .where(catalog_items.c.community_id == community_id)
        .order_by(catalog_items.c.id)
        .limit(limit + 1)
    )
    if active_only:
        query = query.where(catalog_items.c.active == sa.true())
    if cursor is not None:
        query = query.where(catalog_items.c.id > check_id("cursor", cursor))
    rows = (conn.execute(query)).all()
    items = tuple(to_struct(r, CatalogItem) for r in rows[:limit])
    return Page(items=items, next_cursor=items[-1].id if len(rows) > limit else None)


def redeem(
    conn: Connection,
    *,
    community_id: str,
    member_id: str,
    item_id: str,
    quantity: int = 1,
    id: str | None = None,
    hold: dt.timedelta = DEFAULT_HOLD,
    hide_inactive: bool = False,
    now: dt.datetime | None = None,
) -> Order:
    """Reserve an item for a member (兑换): hold the points and the stock. Idempotent by ``id``.

    ``hide_inactive``: an item off sale is not found (for a member who may not see delisted
    items) rather than unavailable. The item and an earlier order under the id come in one
    statement; then the hold (the ledger's three statements and the wallet's lots), the stock
    and the order."""
    now = now or utcnow()
    order_id = check_id("id", id or new_id())
    check_amount(quantity)
    if quantity > MAX_QUANTITY:
        raise InvalidRequest(Cause("range", {"low": 1, "high": MAX_QUANTITY}, field="quantity"))
    if not dt.timedelta(minutes=1) <= hold <= dt.timedelta(days=365):
        raise InvalidRequest(Cause("hold_range"))
    item, earlier = _item_and_order(conn, community_id, item_id, order_id)
    if earlier is not None:
        if (earlier.member_id, earlier.item_id, earlier.quantity) != (member_id, item_id, quantity):
            raise IdempotencyMismatch(order_id, ("member_id", "item_id", "quantity"))
        return earlier
    if item is None or (hide_inactive and not item.active):
        raise ItemNotFound(item_id)
    _check_available(item, now)
    cost = item.cost * quantity
    check_amount(cost)
    # The hold comes first: on PostgreSQL it locks the member's account, so the limit count
    # below cannot race another order of the same member.
    ledger.transfer(
        conn,
        community_id=community_id,
        debit_account_id=account_id(AccountKind.MEMBER, member_id),
        credit_account_id=account_id(AccountKind.STORE, community_id),
        amount=cost,
        kind=TransferKind.REDEMPTION,
        id=order_id,
        reference=f"order:{order_id}",
        memo=item.name,
        actor=member_id,
        pending=True,
        open_accounts=True,
        now=now,
    )
    if item.per_member_limit is not None:
        used = _used(conn, community_id, member_id, item, now)
        if used + quantity > item.per_member_limit:
            raise LimitReached(item_id, item.per_member_limit, used, quantity)
    if item.stock is not None:
        taken = conn.execute(
            _TAKE_STOCK, {"community": community_id, "item": item_id, "quantity": quantity}
        )
        if taken.rowcount != 1:
            left = (get_item(conn, community_id, item_id)).stock or 0
            raise OutOfStock(item_id, left, quantity)
    made = conn.execute(
        _ORDER,
        {
            "community_id": community_id,
            "id": order_id,
            "item_id": item_id,
            "member_id": member_id,
            "quantity": quantity,
            "points": cost,
            "status": OrderStatus.RESERVED.value,
            "expires_at": now + hold,
            "created_at": now,
        },
    ).one()
    return to_struct(made, Order)


def _item_and_order(
    conn: Connection, community_id: str, item_id: str, order_id: str
) -> tuple[CatalogItem | None, Order | None]:
    """The item, and an order already made under ``order_id``, in one statement."""
    given = {"community": community_id, "item": item_id, "order": order_id}
    row = conn.execute(_ITEM_AND_ORDER, given).one()._asdict()
    item = pick(row, catalog_items, "", CatalogItem) if row["id"] is not None else None
    order = pick(row, orders, "o_", Order) if row["o_id"] is not None else None
    return item, order


def _item_and_order_query() -> Any:
    earlier = orders.alias("earlier")
    community: sa.BindParameter[str] = sa.bindparam("community")
    one = sa.select(sa.literal(1).label("one")).subquery("one")
    return sa.select(*catalog_items.c, *(c.label(f"o_{c.name}") for c in earlier.c)).select_from(
        one.outerjoin(
            catalog_items,
            sa.and_(
                catalog_items.c.community_id == community,
                catalog_items.c.id == sa.bindparam("item"),
            ),
        ).outerjoin(
            earlier,
            sa.and_(earlier.c.community_id == community, earlier.c.id == sa.bindparam("order")),
        )
    )


_ITEM_AND_ORDER = _item_and_order_query()
_TAKE_STOCK = (
    catalog_items.update()
    .where(
        catalog_items.c.community_id == sa.bindparam("community"),
        catalog_items.c.id == sa.bindparam("item"),
        catalog_items.c.stock >= sa.bindparam("quantity"),
    )
    .values(stock=catalog_items.c.stock - sa.bindparam("quantity"))
)
_ORDER = orders.insert().returning(*orders.c)


def fulfil(
    conn: Connection,
    community_id: str,
    order_id: str,
    *,
    actor: str,
    now: dt.datetime | None = None,
) -> Order:
    """Hand the item over (核销): the held points are posted to the store."""
    now = now or utcnow()
    order = _close(conn, community_id, order_id, OrderStatus.FULFILLED, actor, now)
    ledger.post_pending(
        conn, community_id, order_id, id=derived_id("fulfil", order_id), actor=actor, now=now
    )
    return order


def cancel(
    conn: Connection,
    community_id: str,
    order_id: str,
    *,
    actor: str,
    now: dt.datetime | None = None,
) -> Order:
    """Cancel an open order: points and stock come back."""
    now = now or utcnow()
    return _release(conn, community_id, order_id, OrderStatus.CANCELLED, actor, now)


def expire_orders(
    conn: Connection, *, now: dt.datetime | None = None, limit: int = 500
) -> list[Order]:
    """Close orders not fulfilled in time (a sweep; safe in several processes at once)."""
    now = now or utcnow()
    query = (
        sa.select(orders.c.community_id, orders.c.id, orders.c.member_id)
        .where(orders.c.status == OrderStatus.RESERVED.value, orders.c.expires_at <= now)
        .order_by(orders.c.expires_at, orders.c.id)
        .limit(limit)
    )
    if conn.dialect.name != "sqlite":
        # On PostgreSQL: skip orders another process (or a cancel) holds, then lock the members'
        # accounts in one order before any store account, as redeem and cancel take them (member,
        # then store); member, store, next member would deadlock with a redemption.
        due = (conn.execute(query.with_for_update(skip_locked=True))).all()
        members = {(c, account_id(AccountKind.MEMBER, m)) for c, _, m in due}
        for community_id, acct_id in sorted(members):
            conn.execute(
                sa.select(accounts.c.id)
                .where(accounts.c.community_id == community_id, accounts.c.id == acct_id)
                .with_for_update(key_share=True)
            )
    else:
        due = (conn.execute(query)).all()
    closed = []
    for community_id, order_id, _ in due:
        try:
            closed.append(
                _release(conn, community_id, order_id, OrderStatus.EXPIRED, "system", now)
            )
        except OrderNotOpen:
            continue  # another process closed it first
    return closed


def get_order(conn: Connection, community_id: str, order_id: str) -> Order:
    found = _find_order(conn, community_id, order_id)
    if found is None:
        raise OrderNotFound(order_id)
    return found


def list_orders(
    conn: Connection,
    community_id: str,
    *,
    member_id: str | None = None,
    status: OrderStatus | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page:
    """Orders, newest first."""
    check_limit(limit)
    query = (
        sa.select(orders)
        .where(orders.c.community_id == community_id)
        .order_by(orders.c.id.desc())
        .limit(limit + 1)
    )
    if member_id is not None:
        query = query.where(orders.c.member_id == member_id)
    if status is not None:
        query = query.where(orders.c.status == OrderStatus(status).value)
    if cursor is not None:
        query = query.where(orders.c.id < check_id("cursor", cursor))
    rows = (conn.execute(query)).all()
    items = tuple(to_struct(r, Order) for r in rows[:limit])
    return Page(items=items, next_cursor=items[-1].id if len(rows) > limit else None)


def _release(
    conn: Connection,
    community_id: str,
    order_id: str,
    status: OrderStatus,
    actor: str,
    now: dt.datetime,
) -> Order:
    order = _close(conn, community_id, order_id, status, actor, now)
    ledger.void_pending(
        conn, community_id, order_id, id=derived_id(status.value, order_id), actor=actor, now=now
    )
    item = get_item(conn, community_id, order.item_id)
    if item.stock is not None:
        conn.execute(
            catalog_items.update()
            .where(*_key(community_id, order.item_id))
            .values(stock=catalog_items.c.stock + order.quantity)
        )
    return order


def _close(
    conn: Connection,
    community_id: str,
    order_id: str,
    status: OrderStatus,
    actor: str,
    now: dt.datetime,
) -> Order:
    """Move a reserved order to ``status``; exactly one closer wins."""
    order = get_order(conn, community_id, order_id)
    if status is OrderStatus.FULFILLED and order.expires_at <= now:
        raise OrderNotOpen(order_id, "expired")
    result = conn.execute(
        orders.update()
        .where(
            orders.c.community_id == community_id,
            orders.c.id == order_id,
            orders.c.status == OrderStatus.RESERVED.value,
        )
        .values(status=status.value, closed_at=now, closed_by=actor)
    )
    if result.rowcount != 1:
        raise OrderNotOpen(order_id, (get_order(conn, community_id, order_id)).status.value)
    return get_order(conn, community_id, order_id)


def _check_available(item: CatalogItem, now: dt.datetime) -> None:
    if not item.active:
        raise ItemUnavailable(item.id, Cause("not_on_sale"))
    if item.valid_from is not None and now < item.valid_from:
        raise ItemUnavailable(item.id, Cause("not_yet_on_sale"))
    if item.valid_until is not None and now >= item.valid_until:
        raise ItemUnavailable(item.id, Cause("no_longer_on_sale"))


def _used(
    conn: Connection, community_id: str, member_id: str, item: CatalogItem, now: dt.datetime
) -> int:
    """How many of ``item`` the member reserved or received in the current period."""
    query = sa.select(sa.func.coalesce(sa.func.sum(orders.c.quantity), 0)).where(
        orders.c.community_id == community_id,
        orders.c.member_id == member_id,
        orders.c.item_id == item.id,
        orders.c.status.in_([OrderStatus.RESERVED.value, OrderStatus.FULFILLED.value]),
    )
    start = period_start(item.limit_period, now)
    if start is not None:
        query = query.where(orders.c.created_at >= start)
    return int(conn.scalar(query) or 0)


def period_start(period: LimitPeriod, now: dt.datetime) -> dt.datetime | None:
    """The start of the current limit period in community-local time (None: all time)."""
    local = now.astimezone(CHINA)
    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if period is LimitPeriod.DAY:
        return day
    if period is LimitPeriod.WEEK:
        return day - dt.timedelta(days=day.weekday())
    if period is LimitPeriod.MONTH:
        return day.replace(day=1)
    if period is LimitPeriod.YEAR:
        return day.replace(month=1, day=1)
    return None


def _key(community_id: str, item_id: str) -> tuple[sa.ColumnElement[bool], ...]:
    return (catalog_items.c.community_id == community_id, catalog_items.c.id == item_id)


def _find_order(conn: Connection, community_id: str, order_id: str) -> Order | None:
    row = (
        conn.execute(
            sa.select(orders).where(orders.c.community_id == community_id, orders.c.id == order_id)
        )
    ).first()
    return None if row is None else to_struct(row, Order)
