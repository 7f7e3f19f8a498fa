"""Volunteer and party-member pages (志愿者/党员): wishes recommended with the reasons in plain
words, the searchable list, claim and withdraw, check-in with the resident's code, check-out, and
my claims; and the unit admin's (单位管理员) claim for the unit and naming members for it."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

import msgspec
from litestar import Request, Response, get, post
from litestar.params import QueryParameter
from litestar.response import Template

import marketplace as mk
from marketplace import ClaimState, Role, WishState
from service import scan
from service.api.common import MEMBER, Capacity, Note, Now, Tx
from service.pages.common import (
    PAGE,
    Cursor,
    PathId,
    See,
    Viewer,
    after,
    page,
    render,
    wish_titles,
)
from service.pages.forms import Fields, Form
from service.pages.wish import act

Code = Annotated[str, msgspec.Meta(pattern=r"^\d{6}$")]
OPEN = (WishState.PUBLISHED, WishState.CLAIMED, WishState.IN_SERVICE)
LISTED = {
    "published": "待认领",
    "claimed": "已认领",
    "in_service": "服务中",
    "served": "待评价",
    "closed": "已办结",
    "all": "全部",
}


class CheckInForm(Fields, frozen=True, kw_only=True):
    code: Code | None = None  # the 6 digits read aloud (the fallback)
    token: Annotated[str, msgspec.Meta(pattern=scan.PATTERN)] | None = None  # 扫码: the QR code
    lat: Annotated[float, msgspec.Meta(ge=-90, le=90)] | None = None  # the phone's place, if
    lng: Annotated[float, msgspec.Meta(ge=-180, le=180)] | None = None  # it would tell

    @property
    def place(self) -> mk.Point | None:
        return (
            None if self.lat is None or self.lng is None else mk.Point(lat=self.lat, lng=self.lng)
        )


class WithdrawForm(Fields, frozen=True, kw_only=True):
    reason: Note = ""


class UnitClaimForm(Fields, frozen=True, kw_only=True):
    unit_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    places: Capacity = 1


class AssignForm(Fields, frozen=True, kw_only=True):
    member_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


@get("/volunteer", opt=MEMBER)
@page.read
def recommended(request: Request[Any, Any, Any], tx: Tx, now: Now, viewer: See) -> Template:
    """为你推荐: the library's ranking for the member, each with why it fits."""
    community_id = viewer.community()
    kept: mk.Kept[list[mk.Match]] = request.app.state.kept_lists
    matches = mk.recommendations(tx, viewer.id, community_id, limit=10, now=now, kept=kept)
    views = wish_titles(tx, viewer.id, community_id, [m.wish_id for m in matches])
    rows = [(views[m.wish_id], m) for m in matches if m.wish_id in views]
    full = None if rows else mk.at_claim_limit(tx, viewer.id, community_id)
    return render(request, "recommend.html", viewer, rows=rows, full=full)


@get("/wishes", opt=MEMBER)
@page.read
def wish_list(
    request: Request[Any, Any, Any],
    tx: Tx,
    viewer: See,
    state_: Annotated[str, QueryParameter(name="state", max_length=16)] = "published",
    category: Annotated[str, QueryParameter(max_length=32)] = "",
    q: Annotated[str, QueryParameter(max_length=50)] = "",
    cursor: Cursor = None,
) -> Template:
    """找心愿: the community's wishes with filters, a page at a time (htmx swaps the list)."""
    community_id = viewer.community()
    state = state_ if state_ in LISTED else "all"
    states = frozenset() if state == "all" else {WishState(state)}
    page = mk.list_wishes(
        tx,
        viewer.id,
        community_id,
        states=frozenset(states),
        category=category or None,
        text=q.strip() or None,
        cursor=after(request, cursor),
        limit=PAGE,
    )
    rules = mk.community_rules(tx, community_id)
    query = "/wishes?" + urlencode({"state": state, "category": category, "q": q})
    return render(
        request,
        "wishes.html",
        viewer,
        page=page,
        states=LISTED,
        state=state,
        category=category,
        q=q,
        categories=rules.categories,
        base=query,
        fragment=request.headers.get("hx-target") == "wish-list",
    )


@post("/wishes/{wish_id:str}/claim", opt=MEMBER)
@page.write
def claim(
    request: Request[Any, Any, Any],
    tx: Tx,
    now: Now,
    viewer: See,
    wish_id: PathId,
    form: Form,
) -> Response[Any]:
    def do(form: Form) -> str:
        mk.claim(tx, viewer.id, viewer.community(), wish_id, now=now)
        return "认领成功！请按约定时间上门，到达后向居民询问确认码报到"

    return act(request, tx, viewer, form, now, wish_id, "确定认领这个心愿吗？", do)


def _claim_wish(tx: Tx, viewer: Viewer, claim_id: PathId) -> str:
    """The wish a claim is on (the action itself decides whether the viewer may act on it)."""
    found = mk.load_claim(tx, viewer.community(), claim_id)
    return found.wish_id


@post("/claims/{claim_id:str}/check-in", opt=MEMBER)
@page.write
def check_in(
    request: Request[Any, Any, Any],
    tx: Tx,
    now: Now,
    viewer: See,
    claim_id: PathId,
    form: Form,
) -> Response[Any]:
    wish_id = _claim_wish(tx, viewer, claim_id)

    def do(form: Form) -> str:
        data = form.parse(CheckInForm)
        community_id = viewer.community()
        mk.check_in(
            tx,
            viewer.id,
            community_id,
            claim_id,
            code=data.code,
            token_wish=scan.scanned(request, data.token, community_id, now),
            location=data.place,
            now=now,
        )
        return "报到成功，服务开始计时"

    return act(request, tx, viewer, form, now, wish_id, "确定现在报到开始服务吗？", do)


@post("/claims/{claim_id:str}/check-out", opt=MEMBER)
@page.write
def check_out(
    request: Request[Any, Any, Any],
    tx: Tx,
    now: Now,
    viewer: See,
    claim_id: PathId,
    form: Form,
) -> Response[Any]:
    wish_id = _claim_wish(tx, viewer, claim_id)

    def do(form: Form) -> str:
        done_ = mk.check_out(tx, viewer.id, viewer.community(), claim_id, now=now)
        return f"已签退，本次服务 {done_.minutes} 分钟，居民确认后积分到账"

    return act(request, tx, viewer, form, now, wish_id, "确定服务已完成并签退吗？", do)


@post("/claims/{claim_id:str}/withdraw", opt=MEMBER)
@page.write
def withdraw(
    request: Request[Any, Any, Any],
    tx: Tx,
    now: Now,
    viewer: See,
    claim_id: PathId,
    form: Form,
) -> Response[Any]:
    wish_id = _claim_wish(tx, viewer, claim_id)

    def do(form: Form) -> str:
        data = form.parse(WithdrawForm)
        mk.withdraw(tx, viewer.id, viewer.community(), claim_id, reason=data.reason, now=now)
        return "已退单，名额已让出"

    return act(request, tx, viewer, form, now, wish_id, "确定退单、让出名额吗？", do)


@get("/claims", opt=MEMBER)
@page.read
def my_claims(
    request: Request[Any, Any, Any],
    tx: Tx,
    viewer: See,
    cursor: Cursor = None,
) -> Template:
    community_id = viewer.community()
    cursor = after(request, cursor)
    page = mk.member_claims(tx, viewer.id, community_id, cursor=cursor, limit=PAGE)
    views = wish_titles(tx, viewer.id, community_id, [c.wish_id for c in page.items])
    hours = mk.wallet.hours(tx, viewer.id, community_id, viewer.id)
    return render(
        request,
        "claims.html",
        viewer,
        page=page,
        views=views,
        hours=hours,
        serving=(ClaimState.ACTIVE, ClaimState.CHECKED_IN),
    )


@get("/unit", opt=MEMBER)
@page.read
def unit_home(request: Request[Any, Any, Any], tx: Tx, now: Now, viewer: See) -> Template:
    """单位: wishes the unit may take in this community, and its members."""
    community_id = viewer.community()
    seat = viewer.seat
    assert seat is not None
    page = mk.list_wishes(tx, viewer.id, community_id, states=frozenset(OPEN), limit=PAGE)
    views = mk.wish_views(tx, viewer.id, community_id, page)
    people: tuple[mk.Member, ...] = ()
    if seat.role is Role.UNIT_ADMIN:
        people = mk.unit_members(tx, viewer.id, seat.org_id)
    return render(request, "unit.html", viewer, wishes=views.items, people=people)


@post("/wishes/{wish_id:str}/unit-claim", opt=MEMBER)
@page.write
def unit_claim(
    request: Request[Any, Any, Any],
    tx: Tx,
    now: Now,
    viewer: See,
    wish_id: PathId,
    form: Form,
) -> Response[Any]:
    def do(form: Form) -> str:
        data = form.parse(UnitClaimForm)
        mk.claim_for_unit(
            tx, viewer.id, viewer.community(), wish_id, data.unit_id, places=data.places, now=now
        )
        return f"单位已认领 {data.places} 个名额，请指派党员"

    return act(request, tx, viewer, form, now, wish_id, "确定以单位名义认领吗？", do)


@post("/claims/{claim_id:str}/assign", opt=MEMBER)
@page.write
def assign(
    request: Request[Any, Any, Any],
    tx: Tx,
    now: Now,
    viewer: See,
    claim_id: PathId,
    form: Form,
) -> Response[Any]:
    wish_id = _claim_wish(tx, viewer, claim_id)

    def do(form: Form) -> str:
        data = form.parse(AssignForm)
        mk.assign(tx, viewer.id, viewer.community(), claim_id, data.member_id, now=now)
        return "已指派"

    return act(request, tx, viewer, form, now, wish_id, "确定指派这位党员吗？", do)


ROUTES = [
    recommended,
    wish_list,
    claim,
    check_in,
    check_out,
    withdraw,
    my_claims,
    unit_home,
    unit_claim,
    assign,
]
