"""Resident pages (居民): 点单 in a few taps, my wishes, confirm and rate, dispute, cancel, and
requesting from a mutual-help offer (互助项目). A grid worker or staff member uses the same form
for 代点单 (``?for=`` a resident found on the 代点单 page, with the consent note)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, Response, get, post
from litestar.params import QueryParameter
from litestar.response import Template

import marketplace as mk
from marketplace import WishKind
from service.api.common import (
    MEMBER,
    Address,
    Capacity,
    LongText,
    Minutes,
    Note,
    Now,
    Rating,
    Reason,
    Schedule,
    Title,
    Tx,
    Urgency,
)
from service.api.photos import BODY_BYTES, Uploaded
from service.pages.common import (
    CST,
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
from service.pages.forms import Fields, Form, Invalid
from service.pages.photos import attach_chosen, chosen
from service.pages.wish import act
from service.text import text

Day = Annotated[str, msgspec.Meta(pattern=r"^\d{4}-\d{2}-\d{2}$")]
Clock = Annotated[str, msgspec.Meta(pattern=r"^\d{2}:\d{2}(:\d{2})?$")]
Id = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class When(Fields, frozen=True, kw_only=True):
    date: Day
    window_start: Clock
    window_end: Clock

    def moments(self) -> tuple[dt.datetime, dt.datetime]:
        """The window as aware datetimes (the community's local time)."""
        try:
            day = dt.date.fromisoformat(self.date)
            start = dt.time.fromisoformat(self.window_start)
            end = dt.time.fromisoformat(self.window_end)
        except ValueError:
            raise Invalid({"date": "日期或时间格式不正确"}) from None
        return (
            dt.datetime.combine(day, start, tzinfo=CST),
            dt.datetime.combine(day, end, tzinfo=CST),
        )


class WishForm(When, frozen=True, kw_only=True):
    kind: Literal["service", "goods"] = "service"
    category: Annotated[str, text(1, 32)]
    title: Title
    description: LongText = ""
    address: Address
    capacity: Capacity = 1
    estimated_minutes: Minutes | None = None  # the window's
    urgency: Urgency = 2
    skills: Annotated[str, text(max_length=400)] = ""  # 所需技能, as the API's body: up to 20
    beneficiary_id: Id | None = None  # 代点单
    org_id: Id | None = None  # the place (地点): where she lives, or the resident's (代点单)
    beneficiary_name: Annotated[str, text(max_length=50)] = ""  # shown only
    proxy_note: Note | None = None


class RequestForm(When, frozen=True, kw_only=True):
    address: Address
    description: LongText = ""
    estimated_minutes: Minutes = 60


class ConfirmForm(Fields, frozen=True, kw_only=True):
    rating: Rating
    comment: Note = ""


class ReasonForm(Fields, frozen=True, kw_only=True):
    reason: Reason


SKILL_SEPARATORS = re.compile(r"[,，、;；\s]+")


def skills_of(typed: str) -> frozenset[str]:
    """The skills a wish asks for, typed in one field (separated by commas, 、 or spaces), bound
    as the API's body binds them (``marketplace.bounds``: how many, how long each)."""
    found = frozenset(s for s in SKILL_SEPARATORS.split(typed) if s)
    if len(found) > mk.bounds.SKILLS:
        raise Invalid({"skills": f"最多 {mk.bounds.SKILLS} 项技能"})
    longest = mk.bounds.most(mk.bounds.Skill)
    if any(len(s) > longest for s in found):
        raise Invalid({"skills": f"每项技能最多 {longest} 个字"})
    return found


def minutes_of(data: WishForm, start: dt.datetime, end: dt.datetime) -> int:
    """The service's estimated minutes: as given, else the whole window (at most a day)."""
    if data.estimated_minutes is not None:
        return data.estimated_minutes
    return max(1, min(1440, int((end - start).total_seconds() // 60)))


def _defaults(now: dt.datetime) -> dict[str, str]:
    tomorrow = (now.astimezone(CST) + dt.timedelta(days=1)).date().isoformat()
    return {"date": tomorrow, "window_start": "09:00", "window_end": "11:00"}


def _wish_form(
    request: Request[Any, Any, Any],
    tx: Tx,
    viewer: Viewer,
    now: dt.datetime,
    values: dict[str, str],
) -> Template:
    community_id = viewer.community()
    rules = mk.community_rules(tx, community_id)
    proxy = bool(values.get("beneficiary_id"))
    places = [] if proxy else _places(tx, viewer)
    return render(
        request,
        "wish_form.html",
        viewer,
        values={**_defaults(now), **({} if proxy else _mine(tx, viewer, places)), **values},
        categories=rules.categories,
        places=places,
        proxy=proxy,
    )


def _mine(tx: Tx, viewer: Viewer, places: list[tuple[str, str]]) -> dict[str, str]:
    """What the form knows of the resident: where she lives, and the address she gave last
    time (members keep no address of their own)."""
    known: dict[str, str] = {}
    home = mk.get_member(tx, viewer.id).home_org_id
    if home in dict(places):
        known["org_id"] = home
    last = mk.member_wishes(tx, viewer.id, viewer.community(), limit=1).items
    if last and last[0].beneficiary_id == viewer.id:
        known["address"] = last[0].address
    return known


def _places(tx: Tx, viewer: Viewer) -> list[tuple[str, str]]:
    """Where a wish may be placed from this seat: the seat's org and the places under it."""
    seat = viewer.seat
    assert seat is not None
    inside = mk.child_orgs(tx, viewer.id, seat.org_id, limit=50).items
    return [(seat.org_id, seat.org_name), *((o.id, f"{seat.org_name} · {o.name}") for o in inside)]


@get("/wishes/new", opt=MEMBER)
@page.read
def new_wish(
    request: Request[Any, Any, Any],
    tx: Tx,
    now: Now,
    viewer: See,
    for_: Annotated[str | None, QueryParameter(name="for", max_length=64, required=False)] = None,
    place: Annotated[str | None, QueryParameter(max_length=64, required=False)] = None,
    name: Annotated[str | None, QueryParameter(max_length=50, required=False)] = None,
) -> Template:
    values = {}
    if for_:
        values = {"beneficiary_id": for_, "org_id": place or "", "beneficiary_name": name or ""}
    return _wish_form(request, tx, viewer, now, values)


@post("/wishes/new", opt=MEMBER, request_max_body_size=BODY_BYTES)
@page.write_after(pictures=chosen)
def post_wish(
    request: Request[Any, Any, Any],
    tx: Tx,
    now: Now,
    viewer: See,
    form: Form,
    pictures: Uploaded,
) -> Response[Any]:
    """点单 (or 代点单): the same library call as ``POST /api/v1/communities/{id}/wishes``."""

    def do() -> Response[Any]:
        data = form.parse(WishForm)
        start, end = data.moments()
        seat = viewer.seat
        assert seat is not None
        wish = mk.post_wish(
            tx,
            viewer.id,
            community_id=viewer.community(),
            kind=WishKind(data.kind),
            category=data.category,
            title=data.title,
            description=data.description,
            org_id=data.org_id or seat.org_id,
            address=data.address,
            window_start=start,
            window_end=end,
            estimated_minutes=minutes_of(data, start, end),
            capacity=data.capacity,
            urgency=mk.Urgency(data.urgency),
            skills=skills_of(data.skills),
            beneficiary_id=data.beneficiary_id,
            proxy_note=data.proxy_note,
            now=now,
        )
        attach_chosen(tx, viewer, wish.id, pictures, now)
        return done(f"/wishes/{wish.id}", "心愿已提交，等待社区审核")

    return handle(
        request,
        viewer,
        form,
        do,
        back="/wishes/new",
        show=lambda tx: _wish_form(request, tx, viewer, now, form.values),
    )


@get("/wishes/mine", opt=MEMBER)
@page.read
def my_wishes(
    request: Request[Any, Any, Any], tx: Tx, viewer: See, cursor: Cursor = None
) -> Template:
    cursor = after(request, cursor)
    page = mk.member_wishes(tx, viewer.id, viewer.community(), cursor=cursor, limit=PAGE)
    return render(request, "wishes_mine.html", viewer, page=page)


@post("/wishes/{wish_id:str}/confirm", opt=MEMBER)
@page.write
def confirm_wish(
    request: Request[Any, Any, Any],
    tx: Tx,
    now: Now,
    viewer: See,
    wish_id: PathId,
    form: Form,
) -> Response[Any]:
    def do(form: Form) -> str:
        data = form.parse(ConfirmForm)
        mk.confirm(
            tx,
            viewer.id,
            viewer.community(),
            wish_id,
            rating=data.rating,
            comment=data.comment,
            now=now,
        )
        return "感谢评价！服务已确认，志愿者的积分已到账"

    return act(request, tx, viewer, form, now, wish_id, "确定服务已完成并提交评价吗？", do)


@post("/wishes/{wish_id:str}/dispute", opt=MEMBER)
@page.write
def dispute_wish(
    request: Request[Any, Any, Any],
    tx: Tx,
    now: Now,
    viewer: See,
    wish_id: PathId,
    form: Form,
) -> Response[Any]:
    def do(form: Form) -> str:
        data = form.parse(ReasonForm)
        mk.dispute(tx, viewer.id, viewer.community(), wish_id, reason=data.reason, now=now)
        return "已提出异议，社区工作人员会尽快处理"

    return act(request, tx, viewer, form, now, wish_id, "确定提出异议吗？", do)


@post("/wishes/{wish_id:str}/cancel", opt=MEMBER)
@page.write
def cancel_wish(
    request: Request[Any, Any, Any],
    tx: Tx,
    now: Now,
    viewer: See,
    wish_id: PathId,
    form: Form,
) -> Response[Any]:
    def do(form: Form) -> str:
        data = form.parse(ReasonForm)
        mk.cancel(tx, viewer.id, viewer.community(), wish_id, reason=data.reason, now=now)
        return "心愿已取消"

    return act(request, tx, viewer, form, now, wish_id, "确定取消这个心愿吗？", do)


@get("/offers", opt=MEMBER)
@page.read
def offers(request: Request[Any, Any, Any], tx: Tx, viewer: See, cursor: Cursor = None) -> Template:
    return _offers(request, tx, viewer, cursor)


def _offers(
    request: Request[Any, Any, Any], tx: Tx, viewer: Viewer, cursor: Cursor = None
) -> Template:
    community_id = viewer.community()
    page = mk.list_offers(tx, viewer.id, community_id, cursor=after(request, cursor), limit=PAGE)
    rules = mk.community_rules(tx, community_id)
    return render(request, "offers.html", viewer, page=page, categories=rules.categories)


class OfferForm(Fields, frozen=True, kw_only=True):
    category: Annotated[str, text(1, 32)]
    title: Title
    schedule: Schedule
    capacity_per_week: Capacity = 1


@post("/offers", opt=MEMBER)
@page.write
def publish_offer(
    request: Request[Any, Any, Any],
    tx: Tx,
    now: Now,
    viewer: See,
    form: Form,
) -> Response[Any]:
    """A volunteer publishes a standing offer (互助项目)."""

    def do() -> Response[Any]:
        data = form.parse(OfferForm)
        mk.publish_offer(
            tx,
            viewer.id,
            viewer.community(),
            category=data.category,
            title=data.title,
            schedule=data.schedule,
            capacity_per_week=data.capacity_per_week,
            now=now,
        )
        return done("/offers", "互助项目已发布")

    return handle(
        request,
        viewer,
        form,
        do,
        ask="确定发布这个互助项目吗？",
        back="/offers",
        show=lambda tx: _offers(request, tx, viewer),
    )


def _offer_form(
    request: Request[Any, Any, Any],
    tx: Tx,
    viewer: Viewer,
    now: dt.datetime,
    offer_id: PathId,
) -> Template:
    offer = mk.get_offer(tx, viewer.community(), offer_id)
    return render(
        request,
        "offer_request.html",
        viewer,
        values=_defaults(now),
        offer=offer,
    )


@get("/offers/{offer_id:str}/request", opt=MEMBER)
@page.read
def offer_request_page(
    request: Request[Any, Any, Any], tx: Tx, now: Now, viewer: See, offer_id: PathId
) -> Template:
    mk.list_offers(tx, viewer.id, viewer.community(), limit=1)  # tenancy: a role here
    return _offer_form(request, tx, viewer, now, offer_id)


@post("/offers/{offer_id:str}/request", opt=MEMBER)
@page.write
def offer_request(
    request: Request[Any, Any, Any],
    tx: Tx,
    now: Now,
    viewer: See,
    offer_id: PathId,
    form: Form,
) -> Response[Any]:
    def do() -> Response[Any]:
        data = form.parse(RequestForm)
        start, end = data.moments()
        seat = viewer.seat
        assert seat is not None
        wish, _ = mk.request_from_offer(
            tx,
            viewer.id,
            viewer.community(),
            offer_id,
            org_id=seat.org_id,
            address=data.address,
            description=data.description,
            window_start=start,
            window_end=end,
            estimated_minutes=data.estimated_minutes,
            now=now,
        )
        return done(f"/wishes/{wish.id}", "已申请，等待社区审核")

    return handle(
        request,
        viewer,
        form,
        do,
        ask="确定申请这个互助项目吗？",
        back=f"/offers/{offer_id}/request",
        show=lambda tx: _offer_form(request, tx, viewer, now, offer_id),
    )


ROUTES = [
    new_wish,
    post_wish,
    my_wishes,
    confirm_wish,
    dispute_wish,
    cancel_wish,
    offers,
    publish_offer,
    offer_request_page,
    offer_request,
]
