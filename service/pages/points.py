"""My points (我的积分) and the points store (积分超市): wallet, hours and star level, statement
with the breakdown of each award, redeem, my orders, donate. Authorization is
:mod:`marketplace.wallet`'s, as for the API."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, post
from litestar.response import Template

import marketplace as mk
import points
from points import Phase, Transfer
from service.api.common import MEMBER, Memo, Now, Points, Quantity, Tx
from service.pages.common import (
    FAILURES,
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
    safe_next,
)
from service.pages.forms import Fields, Form


class RedeemForm(Fields, frozen=True, kw_only=True):
    quantity: Quantity = 1


class DonateForm(Fields, frozen=True, kw_only=True):
    amount: Points
    to_member: Annotated[str, msgspec.Meta(max_length=64)] = ""
    memo: Memo = ""


@get("/points", opt=MEMBER)
@page.read
def my_points(
    request: Request[Any, Any, Any], tx: Tx, viewer: See, cursor: Cursor = None
) -> Template:
    community_id = viewer.community()
    wallet = mk.wallet.wallet(tx, viewer.id, community_id, viewer.id)
    hours = mk.wallet.hours(tx, viewer.id, community_id, viewer.id)
    cursor = after(request, cursor)
    page = mk.wallet.history(tx, viewer.id, community_id, viewer.id, cursor=cursor, limit=PAGE)
    pending = [e.transfer_id for e in page.items if e.phase is Phase.PENDING]
    resolved = points.resolved_pendings(tx, community_id, pending)
    # a hold or an award waiting for confirmation that has since been posted or voided: its
    # posting (or voiding) stands for it in the statement, so nothing is listed twice
    lines = [e for e in page.items if e.transfer_id not in resolved]
    return render(
        request, "points.html", viewer, wallet=wallet, hours=hours, page=page, lines=lines
    )


@get("/points/transfers/{transfer_id:str}", opt=MEMBER)
@page.read
def transfer(request: Request[Any, Any, Any], tx: Tx, viewer: See, transfer_id: PathId) -> Template:
    """为什么得到这些积分: the award's breakdown, step by step."""
    community_id = viewer.community()
    found = mk.wallet.transfer_detail(tx, viewer.id, community_id, transfer_id)
    accrual = _accrual(found)
    if accrual is None and found.pending_id:  # posting an award: the pending one explains it
        pending = mk.wallet.transfer_detail(tx, viewer.id, community_id, found.pending_id)
        accrual = _accrual(pending)
    steps = explain(accrual.get("steps", [])) if accrual else []
    return render(request, "transfer.html", viewer, transfer=found, accrual=accrual, steps=steps)


BONUSES = frozenset({"key_household", "night", "holiday"})


def explain(steps: list[dict[str, Any]]) -> list[str]:
    """The award's breakdown (:func:`points.compute_accrual`'s steps) as Chinese sentences, each
    with the running total where the step changed it: ``按1分向下取整：14.5 分计为 14 分``, not
    ``14 -0.5 → 14 分`` (a step's ``points`` is its total rounded down for display, its
    ``change`` a signed figure: ``+14.5``, ``×1.5``, ``-0.5``, ``-30分钟``)."""
    total = Decimal(0)
    said = []
    for step in steps:
        code, detail, change = (
            step.get("code"),
            str(step.get("detail", "")),
            str(step.get("change")),
        )
        before = total
        if change.startswith("×"):
            total *= _decimal(change[1:])
        elif not change.endswith("分钟"):
            total += _decimal(change)
        if code == "base":
            said.append(f"{detail} 分")
        elif code == "category":
            said.append(f"{detail}，计 {_figure(total)} 分")
        elif code in BONUSES:
            said.append(f"{detail} 分，计 {_figure(total)} 分")
        elif code == "rounding":
            rule = detail.split("：")[0]
            said.append(f"{rule}：{_figure(before)} 分计为 {_figure(total)} 分")
        else:
            said.append(detail)
    return said


def _decimal(text: str) -> Decimal:
    try:
        return Decimal(text.lstrip("+"))
    except InvalidOperation:
        return Decimal(0)


def _figure(value: Decimal) -> str:
    return format(value.quantize(Decimal("0.01")).normalize(), "f")


def _accrual(found: Transfer) -> dict[str, Any] | None:
    detail = found.detail if isinstance(found.detail, dict) else {}
    accrual = detail.get("accrual")
    return accrual if isinstance(accrual, dict) else None


def _store(
    request: Request[Any, Any, Any],
    tx: Tx,
    viewer: Viewer,
    cursor: Cursor = None,
) -> Template:
    community_id = viewer.community()
    page = mk.wallet.catalog(tx, viewer.id, community_id, cursor=cursor, limit=PAGE)
    wallet = mk.wallet.wallet(tx, viewer.id, community_id, viewer.id)
    return render(request, "store.html", viewer, page=page, wallet=wallet)


@get("/store", opt=MEMBER)
@page.read
def store(request: Request[Any, Any, Any], tx: Tx, viewer: See, cursor: Cursor = None) -> Template:
    return _store(request, tx, viewer, after(request, cursor))


@post("/store/{item_id:str}/redeem", opt=MEMBER)
@page.write
def redeem(
    request: Request[Any, Any, Any],
    tx: Tx,
    now: Now,
    viewer: See,
    item_id: PathId,
    form: Form,
) -> Response[Any]:
    community_id = viewer.community()

    def ask() -> str:
        item = mk.wallet.item(tx, viewer.id, community_id, item_id)
        quantity = form.get("quantity", "1")
        count = int(quantity) if quantity.isdigit() else 1
        return f"确定用 {item.cost * count} 积分兑换“{item.name}”吗？"

    def do() -> Response[Any]:
        data = form.parse(RedeemForm)
        order = mk.wallet.redeem(
            tx, viewer.id, community_id, item_id, quantity=data.quantity, now=now
        )
        return done("/orders", f"兑换成功，已冻结 {order.points} 积分，请到社区服务站领取")

    return handle(
        request,
        viewer,
        form,
        do,
        ask=ask,
        back="/store",
        show=lambda tx: _store(request, tx, viewer),
    )


@get("/orders", opt=MEMBER)
@page.read
def my_orders(
    request: Request[Any, Any, Any], tx: Tx, viewer: See, cursor: Cursor = None
) -> Template:
    community_id = viewer.community()
    page = mk.wallet.orders(
        tx,
        viewer.id,
        community_id,
        member_id=viewer.id,
        cursor=after(request, cursor),
        limit=PAGE,
    )
    names = _item_names(tx, viewer, [o.item_id for o in page.items])
    return render(request, "orders.html", viewer, page=page, names=names, office=False)


def _item_names(tx: Tx, viewer: Viewer, ids: list[str]) -> dict[str, str]:
    names: dict[str, str] = {}
    for item_id in dict.fromkeys(ids):
        try:
            names[item_id] = (mk.wallet.item(tx, viewer.id, viewer.community(), item_id)).name
        except FAILURES:
            names[item_id] = item_id
    return names


@post("/orders/{order_id:str}/cancel", opt=MEMBER)
@page.write
def cancel_order(
    request: Request[Any, Any, Any],
    tx: Tx,
    now: Now,
    viewer: See,
    order_id: PathId,
    form: Form,
) -> Response[Any]:
    def do() -> Response[Any]:
        mk.wallet.cancel_order(tx, viewer.id, viewer.community(), order_id, now=now)
        return done(back, "订单已取消，积分已退回")

    back = safe_next(form.get("next"), "/orders")
    return handle(request, viewer, form, do, ask="确定取消这个兑换订单吗？积分会退回。", back=back)


@get("/points/donate", opt=MEMBER)
@page.read
def donate_page(request: Request[Any, Any, Any], tx: Tx, viewer: See) -> Template:
    return _donate_page(request, tx, viewer)


def _donate_page(request: Request[Any, Any, Any], tx: Tx, viewer: Viewer) -> Template:
    wallet = mk.wallet.wallet(tx, viewer.id, viewer.community(), viewer.id)
    return render(request, "donate.html", viewer, wallet=wallet)


@post("/points/donate", opt=MEMBER)
@page.write
def donate(
    request: Request[Any, Any, Any], tx: Tx, now: Now, viewer: See, form: Form
) -> Response[Any]:
    def ask() -> str:
        target = "社区积分池" if not form.get("to_member") else "这位成员"
        return f"确定捐赠 {form.get('amount')} 积分给{target}吗？"

    def do() -> Response[Any]:
        data = form.parse(DonateForm)
        mk.wallet.donate(
            tx,
            viewer.id,
            viewer.community(),
            data.amount,
            to_member=data.to_member or None,
            memo=data.memo,
            now=now,
        )
        return done("/points", f"已捐赠 {data.amount} 积分，谢谢您！")

    return handle(
        request,
        viewer,
        form,
        do,
        ask=ask,
        back="/points/donate",
        show=lambda tx: _donate_page(request, tx, viewer),
    )


ROUTES = [my_points, transfer, store, redeem, my_orders, cancel_order, donate_page, donate]
