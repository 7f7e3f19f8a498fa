"""Points over HTTP (积分): wallets, statements, award breakdowns, hours and star level, the accrual
policy, donations, adjustments, batch entry of an offline event's hours, and the points store
(积分超市): catalog, stock, redemption orders. Authorization is :mod:`marketplace.wallet`'s."""

from __future__ import annotations

from typing import Annotated, ClassVar

import msgspec
from litestar import Controller, get, post, put
from litestar.params import FromQuery, JSONBody, Parameter, PathParameter

import marketplace as mk
from marketplace import EventAward, Wallet
from points import (
    CAUSES,
    AccrualPolicy,
    CatalogItem,
    Entry,
    HoursSummary,
    ItemKind,
    LimitPeriod,
    Order,
    OrderStatus,
    ServiceRecord,
    Transfer,
    TransferKind,
)
from service.api.common import (
    MEMBER,
    NONZERO,
    Change,
    Cursor,
    Id,
    Input,
    Limit,
    Me,
    Memo,
    Minutes,
    Moment,
    Name,
    Need,
    Now,
    Points,
    Quantity,
    QueryId,
    Stock,
    Title,
    Tx,
    api,
    issue_cursor,
    problems,
    read_cursor,
)
from service.api.wishes import Community
from service.text import text

MemberId = Annotated[str, PathParameter(max_length=64)]
ItemId = Annotated[str, PathParameter(max_length=64)]
OrderId = Annotated[str, PathParameter(max_length=64)]


class EntryPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[Entry]
    next_cursor: str | None


class PolicyOut(msgspec.Struct, frozen=True, kw_only=True):
    version: int  # 0: the built-in default
    policy: AccrualPolicy


class DonationIn(Input, frozen=True, kw_only=True):
    amount: Points
    to_member: Id | None = None  # None: to the community pool
    memo: Memo = ""


class AdjustmentIn(Input, frozen=True, kw_only=True):
    member_id: Id
    change: Change  # positive: to the member; negative: from them
    reason: Annotated[str, text(1, 200, lines=True)]


class ReversalIn(Input, frozen=True, kw_only=True):
    reason: Annotated[str, text(1, 200, lines=True)]
    amount: Points | None = None  # part of the transfer; all of it when left out


class HoursCorrectionIn(Input, frozen=True, kw_only=True):
    reference: Annotated[str, text(1, 128)]  # e.g. claim:<id>
    minutes: Annotated[int, msgspec.Meta(ge=-1440, le=1440), NONZERO]  # signed
    reason: Annotated[str, text(1, 500, lines=True)]


class AttendanceIn(Input, frozen=True, kw_only=True):
    member_id: Id
    minutes: Minutes


class EventIn(Input, frozen=True, kw_only=True):
    """线下活动: the minutes several members served at one offline event, entered by staff."""

    event_id: Id
    category: Annotated[str, text(1, 32)]
    title: Title
    started_at: Moment
    attendance: Annotated[list[AttendanceIn], msgspec.Meta(min_length=1, max_length=200)]


class EventOut(msgspec.Struct, frozen=True, kw_only=True):
    items: list[EventAward]


class ItemIn(Input, frozen=True, kw_only=True):
    name: Name
    cost: Points
    kind: ItemKind = ItemKind.GOODS
    stock: Stock | None = None  # None: unlimited
    per_member_limit: Points | None = None
    limit_period: LimitPeriod = LimitPeriod.EVER
    valid_from: Moment | None = None
    valid_until: Moment | None = None

    needs: ClassVar[tuple[Need, ...]] = (
        Need("stock", when="kind", value=ItemKind.GOODS, reason=CAUSES["goods_need_stock"]),
    )


class RestockIn(Input, frozen=True, kw_only=True):
    change: Change


class ActiveIn(Input, frozen=True, kw_only=True):
    active: bool


class RedeemIn(Input, frozen=True, kw_only=True):
    item_id: Id
    quantity: Quantity = 1


class ItemPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[CatalogItem]
    next_cursor: str | None


class OrderPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[Order]
    next_cursor: str | None


class PointsController(Controller):
    path = "/communities/{community_id:str}"
    tags = ["points 积分"]
    opt = MEMBER

    @get(
        "/members/{member_id:str}/wallet",
        responses=problems(404),
        summary="我的积分: balance, available, held and awaiting confirmation",
    )
    @api.read
    def wallet(self, tx: Tx, me: Me, community_id: Community, member_id: MemberId) -> Wallet:
        return mk.wallet.wallet(tx, me.id, community_id, member_id)

    @get(
        "/members/{member_id:str}/statement",
        responses=problems(404),
        summary="积分明细: entries newest first, with running balances",
    )
    @api.read
    def statement(
        self,
        tx: Tx,
        me: Me,
        community_id: Community,
        member_id: MemberId,
        kind: Annotated[list[TransferKind] | None, Parameter(required=False)] = None,
        cursor: Cursor = None,
        limit: Limit = 50,
    ) -> EntryPage:
        page = mk.wallet.history(
            tx,
            me.id,
            community_id,
            member_id,
            kinds=frozenset(kind or ()),
            cursor=read_cursor("statement", cursor),
            limit=limit,
        )
        return EntryPage(
            items=list(page.items), next_cursor=issue_cursor("statement", page.next_cursor)
        )

    @get(
        "/members/{member_id:str}/hours",
        responses=problems(404),
        summary="志愿时长与星级: verified minutes by category and the star level",
    )
    @api.read
    def hours(self, tx: Tx, me: Me, community_id: Community, member_id: MemberId) -> HoursSummary:
        return mk.wallet.hours(tx, me.id, community_id, member_id)

    @get(
        "/transfers/{transfer_id:str}",
        responses=problems(404),
        summary="One transfer with its breakdown (why these points)",
    )
    @api.read
    def transfer(
        self,
        tx: Tx,
        me: Me,
        community_id: Community,
        transfer_id: Annotated[str, PathParameter(max_length=64)],
    ) -> Transfer:
        return mk.wallet.transfer_detail(tx, me.id, community_id, transfer_id)

    @post(
        "/transfers/{transfer_id:str}/reversal",
        status_code=201,
        responses=problems(403, 404, 409),
        summary="冲正: undo a posted transfer with a new one the other way (office)",
    )
    @api.write
    def reverse(
        self,
        tx: Tx,
        me: Me,
        now: Now,
        community_id: Community,
        transfer_id: Annotated[str, PathParameter(max_length=64)],
        data: JSONBody[ReversalIn],
    ) -> Transfer:
        return mk.wallet.reverse(
            tx, me.id, community_id, transfer_id, reason=data.reason, amount=data.amount, now=now
        )

    @post(
        "/hours-corrections",
        status_code=201,
        responses=problems(403, 404, 409),
        summary="更正时长: correct an hours record by signed minutes (office)",
    )
    @api.write
    def correct_hours(
        self,
        tx: Tx,
        me: Me,
        now: Now,
        community_id: Community,
        data: JSONBody[HoursCorrectionIn],
    ) -> ServiceRecord:
        return mk.wallet.correct_hours(
            tx, me.id, community_id, data.reference, data.minutes, reason=data.reason, now=now
        )

    @get("/policy", responses=problems(404), summary="积分规则 in force")
    @api.read
    def policy(self, tx: Tx, me: Me, community_id: Community) -> PolicyOut:
        version, current = mk.wallet.policy(tx, me.id, community_id)
        return PolicyOut(version=version, policy=current)

    @put("/policy", responses=problems(403, 404), summary="A new version of the policy (office)")
    @api.write
    def set_policy(
        self,
        tx: Tx,
        me: Me,
        now: Now,
        community_id: Community,
        data: JSONBody[AccrualPolicy],
    ) -> PolicyOut:
        version = mk.wallet.set_policy(tx, me.id, community_id, data, now=now)
        return PolicyOut(version=version, policy=data)

    @post(
        "/donations",
        status_code=201,
        responses=problems(404, 409),
        summary="捐赠 to a member or to the community pool",
    )
    @api.write
    def donate(
        self,
        tx: Tx,
        me: Me,
        now: Now,
        community_id: Community,
        data: JSONBody[DonationIn],
    ) -> Transfer:
        return mk.wallet.donate(
            tx,
            me.id,
            community_id,
            data.amount,
            to_member=data.to_member,
            memo=data.memo,
            now=now,
        )

    @post(
        "/adjustments",
        status_code=201,
        responses=problems(403, 404, 409),
        summary="调整: office corrects a member's points with a reason",
    )
    @api.write
    def adjust(
        self,
        tx: Tx,
        me: Me,
        now: Now,
        community_id: Community,
        data: JSONBody[AdjustmentIn],
    ) -> Transfer:
        return mk.wallet.adjust(
            tx,
            me.id,
            community_id,
            data.member_id,
            data.change,
            reason=data.reason,
            now=now,
        )

    @post(
        "/events",
        status_code=201,
        responses=problems(403, 404, 409),
        summary="线下活动时长批量录入 (office)",
    )
    @api.write
    def event(
        self,
        tx: Tx,
        me: Me,
        now: Now,
        community_id: Community,
        data: JSONBody[EventIn],
    ) -> EventOut:
        made = mk.wallet.record_event(
            tx,
            me.id,
            community_id,
            event_id=data.event_id,
            category=data.category,
            title=data.title,
            started_at=data.started_at,
            attendance=tuple(
                mk.EventHours(member_id=a.member_id, minutes=a.minutes) for a in data.attendance
            ),
            now=now,
        )
        return EventOut(items=made)


class StoreController(Controller):
    path = "/communities/{community_id:str}"
    tags = ["store 积分超市"]
    opt = MEMBER

    @get("/items", responses=problems(403, 404), summary="积分超市: items on sale")
    @api.read
    def items(
        self,
        tx: Tx,
        me: Me,
        community_id: Community,
        include_inactive: FromQuery[bool] = False,
        cursor: Cursor = None,
        limit: Limit = 50,
    ) -> ItemPage:
        page = mk.wallet.catalog(
            tx,
            me.id,
            community_id,
            include_inactive=include_inactive,
            cursor=read_cursor("items", cursor),
            limit=limit,
        )
        return ItemPage(items=list(page.items), next_cursor=issue_cursor("items", page.next_cursor))

    @post("/items", status_code=201, responses=problems(403, 404, 409), summary="上架 (office)")
    @api.write
    def add_item(
        self,
        tx: Tx,
        me: Me,
        now: Now,
        community_id: Community,
        data: JSONBody[ItemIn],
    ) -> CatalogItem:
        return mk.wallet.add_item(
            tx,
            me.id,
            community_id,
            name=data.name,
            cost=data.cost,
            kind=data.kind,
            stock=data.stock,
            per_member_limit=data.per_member_limit,
            limit_period=data.limit_period,
            valid_from=data.valid_from,
            valid_until=data.valid_until,
            now=now,
        )

    @get("/items/{item_id:str}", responses=problems(404), summary="One item")
    @api.read
    def item(self, tx: Tx, me: Me, community_id: Community, item_id: ItemId) -> CatalogItem:
        return mk.wallet.item(tx, me.id, community_id, item_id)

    @post(
        "/items/{item_id:str}/restock",
        status_code=200,
        responses=problems(403, 404, 409),
        summary="补货 (office); a negative change corrects the count",
    )
    @api.write
    def restock(
        self,
        tx: Tx,
        me: Me,
        community_id: Community,
        item_id: ItemId,
        data: JSONBody[RestockIn],
    ) -> CatalogItem:
        return mk.wallet.restock(tx, me.id, community_id, item_id, data.change)

    @put("/items/{item_id:str}/active", responses=problems(403, 404), summary="上架/下架 (office)")
    @api.write
    def set_active(
        self,
        tx: Tx,
        me: Me,
        community_id: Community,
        item_id: ItemId,
        data: JSONBody[ActiveIn],
    ) -> CatalogItem:
        return mk.wallet.set_item_active(tx, me.id, community_id, item_id, data.active)

    @post(
        "/orders",
        status_code=201,
        responses=problems(404, 409),
        summary="兑换: reserve an item with my points",
    )
    @api.write
    def redeem(
        self,
        tx: Tx,
        me: Me,
        now: Now,
        community_id: Community,
        data: JSONBody[RedeemIn],
    ) -> Order:
        return mk.wallet.redeem(
            tx, me.id, community_id, data.item_id, quantity=data.quantity, now=now
        )

    @get(
        "/orders",
        responses=problems(403, 404),
        summary="Orders: mine (member_id=me, or my id) or, for office, anyone's",
    )
    @api.read
    def orders(
        self,
        tx: Tx,
        me: Me,
        community_id: Community,
        member_id: QueryId = None,
        status: FromQuery[OrderStatus | None] = None,
        cursor: Cursor = None,
        limit: Limit = 50,
    ) -> OrderPage:
        whose = me.id if member_id == "me" else member_id
        page = mk.wallet.orders(
            tx,
            me.id,
            community_id,
            member_id=whose,
            status=status,
            cursor=read_cursor("orders", cursor),
            limit=limit,
        )
        return OrderPage(
            items=list(page.items), next_cursor=issue_cursor("orders", page.next_cursor)
        )

    @get("/orders/{order_id:str}", responses=problems(404), summary="One order")
    @api.read
    def order(self, tx: Tx, me: Me, community_id: Community, order_id: OrderId) -> Order:
        return mk.wallet.order(tx, me.id, community_id, order_id)

    @post(
        "/orders/{order_id:str}/cancel",
        status_code=200,
        responses=problems(404, 409),
        summary="Cancel an open order: points and stock come back",
    )
    @api.write
    def cancel(
        self,
        tx: Tx,
        me: Me,
        now: Now,
        community_id: Community,
        order_id: OrderId,
    ) -> Order:
        return mk.wallet.cancel_order(tx, me.id, community_id, order_id, now=now)

    @post(
        "/orders/{order_id:str}/fulfil",
        status_code=200,
        responses=problems(403, 404, 409),
        summary="核销: hand the item over (office)",
    )
    @api.write
    def fulfil(
        self,
        tx: Tx,
        me: Me,
        now: Now,
        community_id: Community,
        order_id: OrderId,
    ) -> Order:
        return mk.wallet.fulfil_order(tx, me.id, community_id, order_id, now=now)
