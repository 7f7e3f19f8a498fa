"""The points store's office (积分超市管理): the catalog and its stock (上架/补货/下架) and order
fulfilment (核销). The rules are :mod:`marketplace.wallet`'s; these pages only ask and show."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from litestar import Request, Response, get, post
from litestar.params import QueryParameter
from litestar.response import Template

import marketplace as mk
from points import ItemKind, LimitPeriod, OrderStatus
from service.api.common import MEMBER, Change, Name, Now, Points, Stock, Tx
from service.pages.common import (
    PAGE,
    Cursor,
    PathId,
    See,
    Viewer,
    after,
    done,
    handle,
    page,
    render,
)
from service.pages.forms import Fields, Form


class ItemForm(Fields, frozen=True, kw_only=True):
    name: Name
    cost: Points
    kind: Literal["goods", "service"] = "goods"
    stock: Stock | None = None
    per_member_limit: Points | None = None
    limit_period: Literal["day", "week", "month", "year", "ever"] = "ever"


class RestockForm(Fields, frozen=True, kw_only=True):
    change: Change


def _store_admin(
    request: Request[Any, Any, Any],
    tx: Tx,
    viewer: Viewer,
    cursor: Cursor = None,
) -> Template:
    page = mk.wallet.catalog(
        tx, viewer.id, viewer.community(), include_inactive=True, cursor=cursor, limit=PAGE
    )
    return render(request, "staff_store.html", viewer, page=page)


@get("/staff/store", opt=MEMBER)
@page.read
def store_admin(
    request: Request[Any, Any, Any], tx: Tx, viewer: See, cursor: Cursor = None
) -> Template:
    return _store_admin(request, tx, viewer, after(request, cursor))


@post("/staff/store/items", opt=MEMBER)
@page.write
def add_item(
    request: Request[Any, Any, Any], tx: Tx, now: Now, viewer: See, form: Form
) -> Response[Any]:
    """上架 a new item."""

    def do() -> Response[Any]:
        data = form.parse(ItemForm)
        mk.wallet.add_item(
            tx,
            viewer.id,
            viewer.community(),
            name=data.name,
            cost=data.cost,
            kind=ItemKind(data.kind),
            stock=data.stock,
            per_member_limit=data.per_member_limit,
            limit_period=LimitPeriod(data.limit_period),
            now=now,
        )
        return done("/staff/store", f"“{data.name}”已上架")

    return handle(
        request,
        viewer,
        form,
        do,
        back="/staff/store",
        show=lambda tx: _store_admin(request, tx, viewer),
        ask="确定上架这个商品吗？",
    )


@post("/staff/store/items/{item_id:str}/restock", opt=MEMBER)
@page.write
def restock(
    request: Request[Any, Any, Any],
    tx: Tx,
    viewer: See,
    item_id: PathId,
    form: Form,
) -> Response[Any]:
    def do() -> Response[Any]:
        data = form.parse(RestockForm)
        item = mk.wallet.restock(tx, viewer.id, viewer.community(), item_id, data.change)
        return done("/staff/store", f"“{item.name}”库存现为 {item.stock} 件")

    return handle(
        request,
        viewer,
        form,
        do,
        back="/staff/store",
        show=lambda tx: _store_admin(request, tx, viewer),
        ask=f"确定把库存调整 {form.get('change')} 件吗？",
    )


@post("/staff/store/items/{item_id:str}/active", opt=MEMBER)
@page.write
def set_active(
    request: Request[Any, Any, Any],
    tx: Tx,
    viewer: See,
    item_id: PathId,
    form: Form,
) -> Response[Any]:
    active = form.get("active") == "1"

    def do() -> Response[Any]:
        item = mk.wallet.set_item_active(tx, viewer.id, viewer.community(), item_id, active)
        return done("/staff/store", f"“{item.name}”已{'上架' if active else '下架'}")

    return handle(
        request,
        viewer,
        form,
        do,
        back="/staff/store",
        show=lambda tx: _store_admin(request, tx, viewer),
        ask="确定上架这个商品吗？" if active else "确定下架这个商品吗？",
    )


# --- orders ---------------------------------------------------------------------------------


@get("/staff/orders", opt=MEMBER)
@page.read
def orders(
    request: Request[Any, Any, Any],
    tx: Tx,
    viewer: See,
    status: Annotated[str, QueryParameter(max_length=16)] = "reserved",
    cursor: Cursor = None,
) -> Template:
    """核销: open orders to hand over."""
    community_id = viewer.community()
    wanted = OrderStatus(status) if status in OrderStatus.__members__.values() else None
    cursor = after(request, cursor)
    page = mk.wallet.orders(tx, viewer.id, community_id, status=wanted, cursor=cursor, limit=PAGE)
    names: dict[str, str] = {}
    members: dict[str, str] = {}
    for o in page.items:
        if o.item_id not in names:
            names[o.item_id] = (mk.wallet.item(tx, viewer.id, community_id, o.item_id)).name
        if o.member_id not in members:
            try:
                members[o.member_id] = (mk.member_view(tx, viewer.id, o.member_id)).member.name
            except mk.NotFound:
                members[o.member_id] = o.member_id
    return render(
        request, "orders.html", viewer, page=page, names=names, members=members, office=True
    )


@post("/orders/{order_id:str}/fulfil", opt=MEMBER)
@page.write
def fulfil(
    request: Request[Any, Any, Any],
    tx: Tx,
    now: Now,
    viewer: See,
    order_id: PathId,
    form: Form,
) -> Response[Any]:
    def do() -> Response[Any]:
        order = mk.wallet.fulfil_order(tx, viewer.id, viewer.community(), order_id, now=now)
        return done("/staff/orders", f"已核销，{order.points} 积分已结算")

    return handle(request, viewer, form, do, ask="确定已把物品交给兑换人吗？", back="/staff/orders")


ROUTES = [store_admin, add_item, restock, set_active, orders, fulfil]
