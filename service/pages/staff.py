"""Community staff and grid worker pages (社区工作人员/网格员): the workbench, the verification
queue (审核/驳回), dispatch with ranked candidates (派单), disputes (异议裁定), the escalation
queue with deadlines (吹哨报到), and 代点单 (find the resident, then the wish form)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, post
from litestar.params import QueryParameter
from litestar.response import Template

import marketplace as mk
from marketplace import WishState
from points import OrderStatus
from service.api.common import MEMBER, Now, Reason, Tx
from service.pages.common import PAGE, Cursor, PathId, See, Viewer, after, page, render
from service.pages.forms import Fields, Form
from service.pages.wish import act


class ReasonForm(Fields, frozen=True, kw_only=True):
    reason: Reason


class ResolveForm(ReasonForm, frozen=True, kw_only=True):
    for_volunteer: bool


class DispatchForm(Fields, frozen=True, kw_only=True):
    member_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


@get("/staff", opt=MEMBER)
@page.read
def workbench(request: Request[Any, Any, Any], tx: Tx, viewer: See) -> Template:
    """工作台: how many wishes wait at each step."""
    community_id = viewer.community()
    counts = {}
    for state in (WishState.SUBMITTED, WishState.PUBLISHED, WishState.DISPUTED, WishState.SERVED):
        page = mk.list_wishes(tx, viewer.id, community_id, states=frozenset({state}), limit=PAGE)
        counts[state.value] = f"{len(page.items)}{'+' if page.next_cursor else ''}"
    orders = mk.wallet.orders(tx, viewer.id, community_id, status=OrderStatus.RESERVED, limit=PAGE)
    pending = f"{len(orders.items)}{'+' if orders.next_cursor else ''}"
    return render(request, "staff_home.html", viewer, counts=counts, orders=pending)


def _queue(
    request: Request[Any, Any, Any],
    tx: Tx,
    viewer: Viewer,
    state: WishState,
    title: str,
    cursor: str | None,
    base: str,
) -> Template:
    community_id = viewer.community()
    cursor = after(request, cursor)
    page = mk.list_wishes(
        tx, viewer.id, community_id, states=frozenset({state}), cursor=cursor, limit=PAGE
    )
    views = mk.wish_views(tx, viewer.id, community_id, page)
    return render(request, "queue.html", viewer, page=views, title=title, base=base)


@get("/staff/verify", opt=MEMBER)
@page.read
def verify_queue(
    request: Request[Any, Any, Any], tx: Tx, viewer: See, cursor: Cursor = None
) -> Template:
    return _queue(request, tx, viewer, WishState.SUBMITTED, "待审核的心愿", cursor, "/staff/verify")


@get("/staff/disputes", opt=MEMBER)
@page.read
def disputes(
    request: Request[Any, Any, Any], tx: Tx, viewer: See, cursor: Cursor = None
) -> Template:
    return _queue(
        request, tx, viewer, WishState.DISPUTED, "有异议的心愿", cursor, "/staff/disputes"
    )


@post("/wishes/{wish_id:str}/verify", opt=MEMBER)
@page.write
def verify(
    request: Request[Any, Any, Any],
    tx: Tx,
    now: Now,
    viewer: See,
    wish_id: PathId,
    form: Form,
) -> Response[Any]:
    def do(form: Form) -> str:
        mk.approve(tx, viewer.id, viewer.community(), wish_id, now=now)
        return "已审核通过，心愿已发布"

    return act(
        request,
        tx,
        viewer,
        form,
        now,
        wish_id,
        "确定审核通过、发布这个心愿吗？",
        do,
        to="/staff/verify",
    )


@post("/wishes/{wish_id:str}/reject", opt=MEMBER)
@page.write
def reject(
    request: Request[Any, Any, Any],
    tx: Tx,
    now: Now,
    viewer: See,
    wish_id: PathId,
    form: Form,
) -> Response[Any]:
    def do(form: Form) -> str:
        data = form.parse(ReasonForm)
        mk.reject(tx, viewer.id, viewer.community(), wish_id, reason=data.reason, now=now)
        return "已驳回，居民会看到驳回原因"

    return act(
        request, tx, viewer, form, now, wish_id, "确定驳回这个心愿吗？", do, to="/staff/verify"
    )


@post("/wishes/{wish_id:str}/resolve", opt=MEMBER)
@page.write
def resolve(
    request: Request[Any, Any, Any],
    tx: Tx,
    now: Now,
    viewer: See,
    wish_id: PathId,
    form: Form,
) -> Response[Any]:
    def do(form: Form) -> str:
        data = form.parse(ResolveForm)
        mk.resolve(
            tx,
            viewer.id,
            viewer.community(),
            wish_id,
            for_volunteer=data.for_volunteer,
            reason=data.reason,
            now=now,
        )
        return "已裁定：服务有效，积分已发放" if data.for_volunteer else "已裁定：服务无效"

    return act(request, tx, viewer, form, now, wish_id, "确定这样裁定吗？", do)


@get("/wishes/{wish_id:str}/dispatch", opt=MEMBER)
@page.read
def dispatch_page(
    request: Request[Any, Any, Any], tx: Tx, now: Now, viewer: See, wish_id: PathId
) -> Template:
    """派单: members ranked for the wish, each with the parts of their score in plain words."""
    community_id = viewer.community()
    view = mk.wish_view(tx, viewer.id, community_id, wish_id)
    ranked = mk.candidates(tx, viewer.id, community_id, wish_id, limit=10, now=now)
    names = {}
    for match in ranked:
        try:
            names[match.member_id] = (mk.member_view(tx, viewer.id, match.member_id)).member
        except mk.NotFound:
            continue
    return render(request, "dispatch.html", viewer, view=view, ranked=ranked, names=names)


@post("/wishes/{wish_id:str}/dispatch", opt=MEMBER)
@page.write
def dispatch(
    request: Request[Any, Any, Any],
    tx: Tx,
    now: Now,
    viewer: See,
    wish_id: PathId,
    form: Form,
) -> Response[Any]:
    def do(form: Form) -> str:
        data = form.parse(DispatchForm)
        mk.dispatch(tx, viewer.id, viewer.community(), wish_id, data.member_id, now=now)
        return "已派单"

    return act(request, tx, viewer, form, now, wish_id, "确定派给这位志愿者吗？", do)


@get("/staff/escalations", opt=MEMBER)
@page.read
def escalations(
    request: Request[Any, Any, Any], tx: Tx, now: Now, viewer: See, cursor: Cursor = None
) -> Template:
    """吹哨报到: open wishes at the seat's level, soonest deadline first."""
    seat = viewer.seat
    org_id = (seat.community_id or seat.org_id) if seat else ""
    cursor = after(request, cursor)
    page = mk.escalation_queue(tx, viewer.id, org_id, cursor=cursor, limit=PAGE)
    return render(request, "escalations.html", viewer, page=page, now=now)


@get("/proxy", opt=MEMBER)
@page.read
def proxy(
    request: Request[Any, Any, Any],
    tx: Tx,
    viewer: See,
    q: Annotated[str, QueryParameter(max_length=50)] = "",
) -> Template:
    """代点单: find the resident (name or the end of their phone number)."""
    seat = viewer.seat
    viewer.community()
    assert seat is not None
    found = mk.find_residents(tx, viewer.id, seat.org_id, text=q)
    return render(request, "proxy.html", viewer, found=found, q=q)


ROUTES = [
    workbench,
    verify_queue,
    disputes,
    verify,
    reject,
    resolve,
    dispatch_page,
    dispatch,
    escalations,
    proxy,
]
