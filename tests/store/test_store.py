"""The points store (积分超市): an order holds points and stock, then closes exactly once by
fulfilment, cancellation or expiry; limits, stock, availability and idempotency are enforced."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.engine import Connection

import points
from points import ItemKind, LimitPeriod, OrderStatus

C = "c1"
NOW = dt.datetime(2026, 3, 10, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai
WALLET = "member:m1"
STORE = f"store:{C}"


def fund(tx: Connection, member: str, amount: int) -> None:
    points.adjust(
        tx,
        community_id=C,
        member_id=member,
        change=amount,
        reason="期初积分",
        actor="staff1",
        now=NOW,
    )


def add_goods(
    tx: Connection,
    *,
    id: str = "rice",
    cost: int = 30,
    stock: int | None = 10,
    kind: ItemKind = ItemKind.GOODS,
    per_member_limit: int | None = None,
    limit_period: LimitPeriod = LimitPeriod.EVER,
    valid_from: dt.datetime | None = None,
    valid_until: dt.datetime | None = None,
) -> points.CatalogItem:
    return points.add_item(
        tx,
        community_id=C,
        id=id,
        name="大米5斤" if id == "rice" else f"商品{id}",
        cost=cost,
        kind=kind,
        stock=stock,
        per_member_limit=per_member_limit,
        limit_period=limit_period,
        valid_from=valid_from,
        valid_until=valid_until,
        now=NOW,
    )


def setup(db: points.Database, balance: int = 100, **item: object) -> points.CatalogItem:
    with db.transaction() as tx:
        fund(tx, "m1", balance)
        return add_goods(tx, **item)  # type: ignore[arg-type]


def redeem(
    db: points.Database,
    *,
    item: str = "rice",
    quantity: int = 1,
    member: str = "m1",
    id: str | None = None,
    now: dt.datetime = NOW,
) -> points.Order:
    with db.transaction() as tx:
        return points.redeem(
            tx, community_id=C, member_id=member, item_id=item, quantity=quantity, id=id, now=now
        )


def account(db: points.Database, acct_id: str = WALLET) -> points.Account:
    with db.snapshot() as tx:
        return points.get_account(tx, C, acct_id)


def stock(db: points.Database, item: str = "rice") -> int | None:
    with db.snapshot() as tx:
        return (points.get_item(tx, C, item)).stock


def assert_healthy(db: points.Database) -> None:
    with db.snapshot() as tx:
        assert points.audit(tx) == []


# An order's life


def test_redeeming_holds_points_and_stock_without_spending_them(
    db: points.Database,
) -> None:
    setup(db)

    order = redeem(db, quantity=2, id="o1")

    assert (order.id, order.item_id, order.member_id, order.quantity, order.points) == (
        "o1",
        "rice",
        "m1",
        2,
        60,
    )
    assert order.status is OrderStatus.RESERVED
    assert order.expires_at == NOW + dt.timedelta(days=7)
    assert (order.closed_at, order.closed_by) == (None, None)
    wallet = account(db)
    assert (wallet.balance, wallet.available, wallet.debits_pending) == (100, 40, 60)
    assert stock(db) == 8
    assert_healthy(db)


def test_fulfilling_posts_the_held_points_to_the_store(db: points.Database) -> None:
    setup(db)
    order = redeem(db, quantity=2)

    later = NOW + dt.timedelta(hours=3)
    with db.transaction() as tx:
        done = points.fulfil(tx, C, order.id, actor="staff1", now=later)

    assert done.status is OrderStatus.FULFILLED
    assert (done.closed_at, done.closed_by) == (later, "staff1")
    wallet = account(db)
    assert (wallet.balance, wallet.available, wallet.debits_pending) == (40, 40, 0)
    assert (account(db, STORE)).balance == 60
    assert stock(db) == 8
    assert_healthy(db)


def test_cancelling_gives_back_points_and_stock(db: points.Database) -> None:
    setup(db)
    order = redeem(db, quantity=2)

    with db.transaction() as tx:
        cancelled = points.cancel(tx, C, order.id, actor="m1", now=NOW)

    assert cancelled.status is OrderStatus.CANCELLED
    assert cancelled.closed_by == "m1"
    wallet = account(db)
    assert (wallet.balance, wallet.available, wallet.debits_pending) == (100, 100, 0)
    assert (account(db, STORE)).balance == 0
    assert stock(db) == 10
    assert_healthy(db)


def test_expiring_orders_closes_overdue_ones_and_gives_back_points_and_stock(
    db: points.Database,
) -> None:
    setup(db)
    overdue = redeem(db, id="o1")
    fresh = redeem(db, id="o2", now=NOW + dt.timedelta(days=1))

    with db.transaction() as tx:
        assert points.expire_orders(tx, now=NOW + dt.timedelta(days=7, seconds=-1)) == []
    with db.transaction() as tx:
        expired = points.expire_orders(tx, now=NOW + dt.timedelta(days=7))
    with db.transaction() as tx:
        again = points.expire_orders(tx, now=NOW + dt.timedelta(days=7))

    assert [(o.id, o.status, o.closed_by) for o in expired] == [
        (overdue.id, OrderStatus.EXPIRED, "system")
    ]
    assert again == []
    with db.snapshot() as tx:
        assert (points.get_order(tx, C, fresh.id)).status is OrderStatus.RESERVED
    wallet = account(db)
    assert (wallet.balance, wallet.available) == (100, 70)
    assert stock(db) == 9
    assert_healthy(db)


def test_fulfilling_a_cancelled_order_is_refused(db: points.Database) -> None:
    setup(db)
    order = redeem(db)
    with db.transaction() as tx:
        points.cancel(tx, C, order.id, actor="m1", now=NOW)

    with pytest.raises(points.OrderNotOpen) as caught, db.transaction() as tx:
        points.fulfil(tx, C, order.id, actor="staff1", now=NOW)

    assert caught.value.status == "cancelled"
    assert (account(db)).balance == 100
    assert stock(db) == 10
    assert_healthy(db)


def test_an_order_closes_only_once(db: points.Database) -> None:
    setup(db)
    order = redeem(db)
    with db.transaction() as tx:
        points.fulfil(tx, C, order.id, actor="staff1", now=NOW)

    with pytest.raises(points.OrderNotOpen), db.transaction() as tx:
        points.cancel(tx, C, order.id, actor="m1", now=NOW)
    with pytest.raises(points.OrderNotOpen), db.transaction() as tx:
        points.fulfil(tx, C, order.id, actor="staff1", now=NOW)
    with db.transaction() as tx:
        assert points.expire_orders(tx, now=NOW + dt.timedelta(days=30)) == []

    assert (account(db)).balance == 70
    assert stock(db) == 9
    assert_healthy(db)


def test_fulfilling_after_the_hold_ran_out_is_refused_before_the_sweep(
    db: points.Database,
) -> None:
    setup(db)
    order = redeem(db)

    with pytest.raises(points.OrderNotOpen) as caught, db.transaction() as tx:
        points.fulfil(tx, C, order.id, actor="staff1", now=order.expires_at)

    assert caught.value.status == "expired"
    with db.transaction() as tx:
        expired = points.expire_orders(tx, now=order.expires_at)
    assert [o.id for o in expired] == [order.id]
    assert (account(db)).available == 100
    assert stock(db) == 10
    assert_healthy(db)


def test_closing_an_unknown_order_is_not_found(db: points.Database) -> None:
    with pytest.raises(points.OrderNotFound), db.transaction() as tx:
        points.cancel(tx, C, "nope", actor="m1", now=NOW)
    assert_healthy(db)


def test_an_order_with_the_longest_id_can_still_be_closed(db: points.Database) -> None:
    setup(db)
    long_ids = ["a" * 64, "b" * 64, "c" * 64]
    for order_id in long_ids:
        redeem(db, id=order_id)

    with db.transaction() as tx:
        points.fulfil(tx, C, long_ids[0], actor="staff1", now=NOW)
        points.cancel(tx, C, long_ids[1], actor="m1", now=NOW)
        expired = points.expire_orders(tx, now=NOW + dt.timedelta(days=7))

    assert [o.id for o in expired] == [long_ids[2]]
    assert (account(db)).balance == 70
    assert_healthy(db)


# Limits per member


def test_a_member_cannot_pass_the_per_member_limit(db: points.Database) -> None:
    setup(db, per_member_limit=2, limit_period=LimitPeriod.MONTH)
    with db.transaction() as tx:
        fund(tx, "m2", 100)
    redeem(db, quantity=2)

    with pytest.raises(points.LimitReached) as caught:
        redeem(db, quantity=1)

    assert (caught.value.limit, caught.value.used, caught.value.requested) == (2, 2, 1)
    assert (account(db)).available == 40
    assert stock(db) == 8
    redeem(db, member="m2", quantity=2)  # another member's limit is their own
    assert_healthy(db)


def test_a_new_community_local_month_resets_a_monthly_limit(db: points.Database) -> None:
    setup(db, per_member_limit=1, limit_period=LimitPeriod.MONTH)
    late_march = dt.datetime(2026, 3, 31, 15, 0, tzinfo=dt.UTC)  # 23:00 on 31 March locally

    redeem(db, now=late_march)
    with pytest.raises(points.LimitReached):
        redeem(db, now=late_march + dt.timedelta(minutes=59))
    april = redeem(db, now=late_march + dt.timedelta(hours=1))  # 00:00 on 1 April

    assert april.status is OrderStatus.RESERVED
    assert (account(db)).available == 40
    assert_healthy(db)


def test_cancelled_and_expired_orders_do_not_count_toward_the_limit(
    db: points.Database,
) -> None:
    setup(db, per_member_limit=1)
    first = redeem(db)
    with db.transaction() as tx:
        points.cancel(tx, C, first.id, actor="m1", now=NOW)
    second = redeem(db)
    with db.transaction() as tx:
        points.expire_orders(tx, now=second.expires_at)

    third = redeem(db, now=second.expires_at)

    assert third.status is OrderStatus.RESERVED
    with pytest.raises(points.LimitReached):
        redeem(db, now=second.expires_at)
    assert_healthy(db)


# Stock, availability, points


def test_too_little_stock_is_refused_and_nothing_is_held(db: points.Database) -> None:
    setup(db, stock=1)

    with pytest.raises(points.OutOfStock) as caught:
        redeem(db, quantity=2, id="o1")

    assert (caught.value.available, caught.value.requested) == (1, 2)
    wallet = account(db)
    assert (wallet.available, wallet.debits_pending) == (100, 0)
    assert stock(db) == 1
    with db.snapshot() as tx, pytest.raises(points.OrderNotFound):
        points.get_order(tx, C, "o1")
    redeem(db, quantity=1)
    assert stock(db) == 0
    assert_healthy(db)


def test_an_inactive_item_is_unavailable(db: points.Database) -> None:
    setup(db)
    with db.transaction() as tx:
        delisted = points.set_active(tx, C, "rice", False)
    assert delisted.active is False

    with pytest.raises(points.ItemUnavailable):
        redeem(db)
    with db.transaction() as tx:
        points.set_active(tx, C, "rice", True)
    redeem(db)
    assert_healthy(db)


def test_an_item_is_unavailable_outside_its_validity_window(db: points.Database) -> None:
    opens, closes = NOW + dt.timedelta(days=1), NOW + dt.timedelta(days=2)
    setup(db, valid_from=opens, valid_until=closes)

    with pytest.raises(points.ItemUnavailable):
        redeem(db, now=opens - dt.timedelta(seconds=1))
    with pytest.raises(points.ItemUnavailable):
        redeem(db, now=closes)
    order = redeem(db, now=opens)

    assert order.status is OrderStatus.RESERVED
    assert stock(db) == 9
    assert_healthy(db)


def test_too_few_points_are_refused_and_no_stock_is_taken(db: points.Database) -> None:
    setup(db, balance=50)

    with pytest.raises(points.InsufficientPoints) as caught:
        redeem(db, quantity=2, id="o1")

    assert (caught.value.available, caught.value.requested) == (50, 60)
    assert stock(db) == 10
    wallet = account(db)
    assert (wallet.balance, wallet.available) == (50, 50)
    with db.snapshot() as tx, pytest.raises(points.OrderNotFound):
        points.get_order(tx, C, "o1")
    assert_healthy(db)


def test_points_held_by_an_open_order_cannot_be_spent_again(db: points.Database) -> None:
    setup(db, balance=50)
    redeem(db)

    with pytest.raises(points.InsufficientPoints):
        redeem(db)

    assert stock(db) == 9
    assert_healthy(db)


def test_redeeming_an_unknown_item_is_not_found(db: points.Database) -> None:
    setup(db)
    with pytest.raises(points.ItemNotFound):
        redeem(db, item="gold")
    assert_healthy(db)


# Idempotency


def test_redeeming_again_with_the_same_order_id_returns_the_order(
    db: points.Database,
) -> None:
    setup(db)
    first = redeem(db, quantity=2, id="o1")

    again = redeem(db, quantity=2, id="o1", now=NOW + dt.timedelta(minutes=5))

    assert again == first
    assert (account(db)).available == 40
    assert stock(db) == 8
    assert_healthy(db)


@pytest.mark.parametrize(
    ("field", "change"),
    [("quantity", {"quantity": 3}), ("item_id", {"item": "soap"}), ("member_id", {"member": "m2"})],
)
def test_the_same_order_id_with_different_fields_is_an_idempotency_mismatch(
    db: points.Database, field: str, change: dict[str, object]
) -> None:
    setup(db)
    with db.transaction() as tx:
        add_goods(tx, id="soap", cost=5)
        fund(tx, "m2", 100)
    redeem(db, quantity=2, id="o1")
    request: dict[str, object] = {"quantity": 2, "id": "o1", **change}

    with pytest.raises(points.IdempotencyMismatch) as caught:
        redeem(db, **request)  # type: ignore[arg-type]

    assert field in caught.value.fields
    assert (account(db)).available == 40
    assert_healthy(db)


# Catalog


def test_a_service_without_stock_is_unlimited(db: points.Database) -> None:
    setup(db, balance=2000, id="haircut", cost=2, stock=None, kind=ItemKind.SERVICE)

    big = redeem(db, item="haircut", quantity=1000)
    with db.transaction() as tx:
        points.cancel(tx, C, big.id, actor="m1", now=NOW)
    redeem(db, item="haircut", quantity=1000)

    assert stock(db, "haircut") is None
    assert (account(db)).available == 0
    assert_healthy(db)


def test_goods_need_a_stock(db: points.Database) -> None:
    with pytest.raises(points.InvalidRequest), db.transaction() as tx:
        add_goods(tx, stock=None)
    assert_healthy(db)


def test_adding_an_item_twice_with_one_id_returns_it_and_a_changed_one_is_refused(
    db: points.Database,
) -> None:
    with db.transaction() as tx:
        first = add_goods(tx)
    with db.transaction() as tx:
        assert add_goods(tx) == first
    with pytest.raises(points.IdempotencyMismatch), db.transaction() as tx:
        add_goods(tx, cost=31)
    assert_healthy(db)


def test_restocking_adds_and_takes_stock_but_never_below_zero(db: points.Database) -> None:
    setup(db, stock=3)
    redeem(db, quantity=2)

    with db.transaction() as tx:
        assert (points.restock(tx, C, "rice", 5)).stock == 6
    with db.transaction() as tx:
        assert (points.restock(tx, C, "rice", -4)).stock == 2
    with pytest.raises(points.OutOfStock) as caught, db.transaction() as tx:
        points.restock(tx, C, "rice", -3)

    assert (caught.value.available, caught.value.requested) == (2, 3)
    assert stock(db) == 2
    assert_healthy(db)


@pytest.mark.parametrize("change", [0, True])
def test_restocking_by_nothing_is_refused(db: points.Database, change: int) -> None:
    setup(db)
    with pytest.raises(points.InvalidRequest), db.transaction() as tx:
        points.restock(tx, C, "rice", change)
    assert_healthy(db)


def test_an_unlimited_service_cannot_be_restocked(db: points.Database) -> None:
    setup(db, id="haircut", stock=None, kind=ItemKind.SERVICE)
    with pytest.raises(points.Conflict), db.transaction() as tx:  # the stored item has no stock
        points.restock(tx, C, "haircut", 5)
    assert_healthy(db)


# Lists


def test_items_are_listed_a_page_at_a_time_and_delisted_ones_only_on_request(
    db: points.Database,
) -> None:
    with db.transaction() as tx:
        for n in range(5):
            add_goods(tx, id=f"i{n}")
        points.set_active(tx, C, "i2", False)
        points.add_item(tx, community_id="c2", id="i9", name="别处", cost=1, stock=1)

    def pages(active_only: bool) -> list[list[str]]:
        found, cursor = [], None
        while True:
            with db.snapshot() as tx:
                page = points.list_items(tx, C, active_only=active_only, cursor=cursor, limit=2)
            found.append([item.id for item in page.items])
            if page.next_cursor is None:
                return found
            cursor = page.next_cursor

    assert pages(active_only=True) == [["i0", "i1"], ["i3", "i4"]]
    assert pages(active_only=False) == [["i0", "i1"], ["i2", "i3"], ["i4"]]
    with pytest.raises(points.InvalidRequest), db.snapshot() as tx:
        points.list_items(tx, C, limit=0)
    assert_healthy(db)


def test_orders_are_listed_newest_first_a_page_at_a_time(db: points.Database) -> None:
    setup(db, balance=300)
    with db.transaction() as tx:
        fund(tx, "m2", 100)
    for n in range(5):
        redeem(db, id=f"o{n}")
    redeem(db, id="o5", member="m2")
    with db.transaction() as tx:
        points.cancel(tx, C, "o1", actor="m1", now=NOW)

    def pages(**filters: object) -> list[list[str]]:
        found: list[list[str]] = []
        cursor = None
        while True:
            with db.snapshot() as tx:
                page = points.list_orders(tx, C, cursor=cursor, limit=2, **filters)  # type: ignore[arg-type]
            found.append([order.id for order in page.items])
            if page.next_cursor is None:
                return found
            cursor = page.next_cursor

    assert pages() == [["o5", "o4"], ["o3", "o2"], ["o1", "o0"]]
    assert pages(member_id="m1") == [["o4", "o3"], ["o2", "o1"], ["o0"]]
    assert pages(status=OrderStatus.CANCELLED) == [["o1"]]
    assert pages(member_id="m2", status=OrderStatus.RESERVED) == [["o5"]]
    assert_healthy(db)


def test_a_validity_window_must_be_timezone_aware_and_in_order(db: points.Database) -> None:
    naive = dt.datetime(2026, 3, 11, 9, 0)
    with pytest.raises(points.InvalidRequest), db.transaction() as tx:
        add_goods(tx, valid_from=naive)
    with pytest.raises(points.InvalidRequest), db.transaction() as tx:
        add_goods(tx, valid_until=naive)
    with pytest.raises(points.InvalidRequest), db.transaction() as tx:
        add_goods(tx, valid_from=NOW, valid_until=NOW)
    assert_healthy(db)


def test_restocking_past_the_largest_amount_is_an_invalid_amount(
    db: points.Database,
) -> None:
    setup(db, stock=10)
    with pytest.raises(points.InvalidAmount), db.transaction() as tx:
        points.restock(tx, C, "rice", points.MAX_AMOUNT)
    assert stock(db) == 10
    assert_healthy(db)
