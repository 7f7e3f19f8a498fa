"""Wishes over HTTP (微心愿): 点单, 代点单, 审核, 取消, 认领, 派单, 评单, 异议 and their records.

Each handler parses, makes one library call inside the request's transaction, and returns the
wish as the caller may see it. Who may do what is the library's decision (the lifecycle table).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import msgspec
from litestar import Controller, get, post
from litestar.params import FromQuery, JSONBody, PathParameter, QueryParameter

import marketplace as mk
from marketplace import Claim, Match, Reason, WishKind, WishState
from service.api.common import (
    MEMBER,
    Address,
    Capacity,
    Cursor,
    Id,
    Input,
    Limit,
    LongText,
    Me,
    Minutes,
    Moment,
    Note,
    Now,
    QueryCategory,
    QueryId,
    Rating,
    Skills,
    Title,
    Tx,
    Urgency,
    api,
    check_moment,
    problems,
    read_cursor,
)
from service.api.common import Reason as ReasonText
from service.api.views import (
    ClaimLineOut,
    ClaimLines,
    HistoryOut,
    WishOut,
    WishPage,
    wish_out,
    wish_page,
)
from service.text import text


class PointIn(Input, frozen=True, kw_only=True):
    lat: Annotated[float, msgspec.Meta(ge=-90, le=90)]
    lng: Annotated[float, msgspec.Meta(ge=-180, le=180)]


class PostWish(Input, frozen=True, kw_only=True):
    """点单 (or 代点单 with ``beneficiary_id`` and ``proxy_note``)."""

    kind: WishKind = WishKind.SERVICE
    category: Annotated[str, text(1, 32)]
    title: Title
    description: LongText = ""
    org_id: Id
    address: Address
    window_start: Moment
    window_end: Moment
    estimated_minutes: Minutes
    capacity: Capacity = 1
    urgency: Urgency = 2
    skills: Skills = []
    location: PointIn | None = None
    beneficiary_id: Id | None = None
    proxy_note: Note | None = None


class WithReason(Input, frozen=True, kw_only=True):
    reason: ReasonText


class ClaimIn(Input, frozen=True, kw_only=True):
    id: Id | None = None  # the client's id for the claim (retries return the same claim)


class DispatchIn(Input, frozen=True, kw_only=True):
    member_id: Id


class UnitClaimIn(Input, frozen=True, kw_only=True):
    unit_id: Id
    places: Capacity = 1


class ConfirmIn(Input, frozen=True, kw_only=True):
    rating: Rating | None = None
    comment: Note = ""


class ResolveIn(Input, frozen=True, kw_only=True):
    for_volunteer: bool
    reason: ReasonText


class ClaimResult(msgspec.Struct, frozen=True, kw_only=True):
    claim: Claim
    wish: WishOut


class MatchList(msgspec.Struct, frozen=True, kw_only=True):
    items: list[Match]


class ReasonList(msgspec.Struct, frozen=True, kw_only=True):
    items: list[Reason]  # empty: the caller may claim the wish


Community = Annotated[str, PathParameter(max_length=64, description="community (社区) id")]
WishId = Annotated[str, PathParameter(max_length=64)]


def _show(tx: Tx, me: Me, community_id: str, wish_id: str) -> WishOut:
    return wish_out(mk.wish_view(tx, me.id, community_id, wish_id))


class WishController(Controller):
    path = "/communities/{community_id:str}/wishes"
    tags = ["wishes 微心愿"]
    opt = MEMBER

    @get("/", responses=problems(404), summary="List a community's wishes (newest first)")
    @api.read
    def list_wishes(
        self,
        tx: Tx,
        me: Me,
        community_id: Community,
        states: Annotated[
            list[WishState] | None, QueryParameter(name="state", required=False)
        ] = None,
        category: QueryCategory = None,
        org_id: QueryId = None,
        escalated: FromQuery[bool | None] = None,
        since: Annotated[
            dt.datetime | None, QueryParameter(required=False, description="posted at or after")
        ] = None,
        until: Annotated[
            dt.datetime | None, QueryParameter(required=False, description="posted before")
        ] = None,
        cursor: Cursor = None,
        limit: Limit = 50,
    ) -> WishPage:
        check_moment("since", since)
        check_moment("until", until)
        given = mk.Filters(
            states=frozenset(states or ()),
            category=category,
            org_id=org_id,
            escalated=escalated,
            since=since,
            until=until,
            cursor=read_cursor("wishes", cursor),
            limit=limit,
        )
        return wish_page(mk.browse_wishes(tx, me.id, community_id, given), "wishes")

    @post("/", responses=problems(403, 404), summary="点单: post a wish (or 代点单 for a resident)")
    @api.write
    def post_wish(
        self,
        tx: Tx,
        me: Me,
        now: Now,
        community_id: Community,
        data: JSONBody[PostWish],
    ) -> WishOut:
        wish = mk.post_wish(
            tx,
            me.id,
            community_id=community_id,
            kind=data.kind,
            category=data.category,
            title=data.title,
            description=data.description,
            org_id=data.org_id,
            address=data.address,
            window_start=data.window_start,
            window_end=data.window_end,
            estimated_minutes=data.estimated_minutes,
            capacity=data.capacity,
            urgency=mk.Urgency(data.urgency),
            skills=frozenset(data.skills),
            location=mk.Point(lat=data.location.lat, lng=data.location.lng)
            if data.location
            else None,
            beneficiary_id=data.beneficiary_id,
            proxy_note=data.proxy_note,
            now=now,
        )
        return _show(tx, me, community_id, wish.id)

    @get("/{wish_id:str}", responses=problems(404), summary="One wish, as the caller may see it")
    @api.read
    def get_wish(self, tx: Tx, me: Me, community_id: Community, wish_id: WishId) -> WishOut:
        return _show(tx, me, community_id, wish_id)

    @get("/{wish_id:str}/history", responses=problems(404), summary="Every recorded transition")
    @api.read
    def history(self, tx: Tx, me: Me, community_id: Community, wish_id: WishId) -> HistoryOut:
        mk.get_wish(tx, me.id, community_id, wish_id)
        return HistoryOut(items=mk.history(tx, community_id, wish_id))

    @get("/{wish_id:str}/claims", responses=problems(404), summary="Claims on the wish")
    @api.read
    def claims(self, tx: Tx, me: Me, community_id: Community, wish_id: WishId) -> ClaimLines:
        lines = mk.wish_claims(tx, me.id, community_id, wish_id)
        return ClaimLines(
            items=[ClaimLineOut(claim=line.claim, member_name=line.member_name) for line in lines]
        )

    @post(
        "/{wish_id:str}/verify",
        status_code=200,
        responses=problems(403, 404, 409),
        summary="审核通过: publish (an offer's request is claimed by its offerer at once)",
    )
    @api.write
    def verify(
        self,
        tx: Tx,
        me: Me,
        now: Now,
        community_id: Community,
        wish_id: WishId,
    ) -> WishOut:
        mk.approve(tx, me.id, community_id, wish_id, now=now)
        return _show(tx, me, community_id, wish_id)

    @post(
        "/{wish_id:str}/reject",
        status_code=200,
        responses=problems(403, 404, 409),
        summary="驳回 with a reason",
    )
    @api.write
    def reject(
        self,
        tx: Tx,
        me: Me,
        now: Now,
        community_id: Community,
        wish_id: WishId,
        data: JSONBody[WithReason],
    ) -> WishOut:
        mk.reject(tx, me.id, community_id, wish_id, reason=data.reason, now=now)
        return _show(tx, me, community_id, wish_id)

    @post(
        "/{wish_id:str}/cancel",
        status_code=200,
        responses=problems(403, 404, 409),
        summary="取消: the resident before anyone claims, or staff",
    )
    @api.write
    def cancel(
        self,
        tx: Tx,
        me: Me,
        now: Now,
        community_id: Community,
        wish_id: WishId,
        data: JSONBody[WithReason],
    ) -> WishOut:
        mk.cancel(tx, me.id, community_id, wish_id, reason=data.reason, now=now)
        return _show(tx, me, community_id, wish_id)

    @post(
        "/{wish_id:str}/claims",
        status_code=201,
        responses=problems(403, 404, 409),
        summary="接单: take one place",
    )
    @api.write
    def claim(
        self,
        tx: Tx,
        me: Me,
        now: Now,
        community_id: Community,
        wish_id: WishId,
        data: JSONBody[ClaimIn],
    ) -> ClaimResult:
        taken = mk.take_place(tx, me.id, community_id, wish_id, id=data.id, now=now)
        return ClaimResult(claim=taken.claim, wish=wish_out(taken.wish))

    @post(
        "/{wish_id:str}/dispatch",
        status_code=201,
        responses=problems(403, 404, 409),
        summary="派单: staff give a place to a volunteer",
    )
    @api.write
    def dispatch(
        self,
        tx: Tx,
        me: Me,
        now: Now,
        community_id: Community,
        wish_id: WishId,
        data: JSONBody[DispatchIn],
    ) -> ClaimResult:
        made = mk.dispatch(tx, me.id, community_id, wish_id, data.member_id, now=now)
        return ClaimResult(claim=made, wish=_show(tx, me, community_id, wish_id))

    @post(
        "/{wish_id:str}/unit-claims",
        status_code=201,
        responses=problems(403, 404, 409),
        summary="单位接单: a paired unit takes places to assign",
    )
    @api.write
    def claim_for_unit(
        self,
        tx: Tx,
        me: Me,
        now: Now,
        community_id: Community,
        wish_id: WishId,
        data: JSONBody[UnitClaimIn],
    ) -> ClaimResult:
        made = mk.claim_for_unit(
            tx,
            me.id,
            community_id,
            wish_id,
            data.unit_id,
            places=data.places,
            now=now,
        )
        return ClaimResult(claim=made, wish=_show(tx, me, community_id, wish_id))

    @post(
        "/{wish_id:str}/confirm",
        status_code=200,
        responses=problems(403, 404, 409),
        summary="评单: confirm and rate; the points are posted",
    )
    @api.write
    def confirm(
        self,
        tx: Tx,
        me: Me,
        now: Now,
        community_id: Community,
        wish_id: WishId,
        data: JSONBody[ConfirmIn],
    ) -> WishOut:
        mk.confirm(
            tx, me.id, community_id, wish_id, rating=data.rating, comment=data.comment, now=now
        )
        return _show(tx, me, community_id, wish_id)

    @post(
        "/{wish_id:str}/dispute",
        status_code=200,
        responses=problems(403, 404, 409),
        summary="异议: the resident disputes the service",
    )
    @api.write
    def dispute(
        self,
        tx: Tx,
        me: Me,
        now: Now,
        community_id: Community,
        wish_id: WishId,
        data: JSONBody[WithReason],
    ) -> WishOut:
        mk.dispute(tx, me.id, community_id, wish_id, reason=data.reason, now=now)
        return _show(tx, me, community_id, wish_id)

    @post(
        "/{wish_id:str}/resolve",
        status_code=200,
        responses=problems(403, 404, 409),
        summary="Staff resolve a dispute for or against the volunteer",
    )
    @api.write
    def resolve(
        self,
        tx: Tx,
        me: Me,
        now: Now,
        community_id: Community,
        wish_id: WishId,
        data: JSONBody[ResolveIn],
    ) -> WishOut:
        mk.resolve(
            tx,
            me.id,
            community_id,
            wish_id,
            for_volunteer=data.for_volunteer,
            reason=data.reason,
            now=now,
        )
        return _show(tx, me, community_id, wish_id)

    @get(
        "/{wish_id:str}/reasons",
        responses=problems(404),
        summary="Why the caller cannot claim the wish (empty: they can)",
    )
    @api.read
    def reasons(
        self,
        tx: Tx,
        me: Me,
        now: Now,
        community_id: Community,
        wish_id: WishId,
    ) -> ReasonList:
        mk.get_wish(tx, me.id, community_id, wish_id)
        return ReasonList(items=list(mk.reasons(tx, me.id, community_id, wish_id, now=now)))

    @get(
        "/{wish_id:str}/candidates",
        responses=problems(403, 404),
        summary="派单候选人: members ranked for the wish, with the score's parts",
    )
    @api.read
    def candidates(
        self,
        tx: Tx,
        me: Me,
        now: Now,
        community_id: Community,
        wish_id: WishId,
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 20,
    ) -> MatchList:
        mk.get_wish(tx, me.id, community_id, wish_id)
        return MatchList(
            items=mk.candidates(tx, me.id, community_id, wish_id, limit=limit, now=now)
        )
