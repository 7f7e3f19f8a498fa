"""Mutual-help offers over HTTP (互助项目): publish, list, pause, and a resident's request."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, get, post, put
from litestar.params import FromQuery, JSONBody, PathParameter

import marketplace as mk
from marketplace import Claim, Offer
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
    Now,
    Schedule,
    Title,
    Tx,
    api,
    issue_cursor,
    problems,
    read_cursor,
)
from service.api.views import WishOut, wish_out
from service.api.wishes import Community
from service.text import text

OfferId = Annotated[str, PathParameter(max_length=64)]


class OfferIn(Input, frozen=True, kw_only=True):
    category: Annotated[str, text(1, 32)]
    title: Title
    schedule: Schedule
    capacity_per_week: Capacity = 1


class RequestIn(Input, frozen=True, kw_only=True):
    org_id: Id
    address: Address
    description: LongText = ""
    window_start: Moment
    window_end: Moment
    estimated_minutes: Minutes


class ActiveIn(Input, frozen=True, kw_only=True):
    active: bool


class OfferPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[Offer]
    next_cursor: str | None


class RequestOut(msgspec.Struct, frozen=True, kw_only=True):
    wish: WishOut
    claim: Claim | None  # the offerer's claim when no verification is needed


class OfferController(Controller):
    path = "/communities/{community_id:str}/offers"
    tags = ["offers 互助项目"]
    opt = MEMBER

    @get("/", responses=problems(404), summary="互助项目清单")
    @api.read
    def list_offers(
        self,
        tx: Tx,
        me: Me,
        community_id: Community,
        active_only: FromQuery[bool] = True,
        cursor: Cursor = None,
        limit: Limit = 50,
    ) -> OfferPage:
        page = mk.list_offers(
            tx,
            me.id,
            community_id,
            active_only=active_only,
            cursor=read_cursor("offers", cursor),
            limit=limit,
        )
        return OfferPage(
            items=list(page.items), next_cursor=issue_cursor("offers", page.next_cursor)
        )

    @post("/", status_code=201, responses=problems(403, 404), summary="Publish an offer")
    @api.write
    def publish(
        self,
        tx: Tx,
        me: Me,
        now: Now,
        community_id: Community,
        data: JSONBody[OfferIn],
    ) -> Offer:
        return mk.publish_offer(
            tx,
            me.id,
            community_id,
            category=data.category,
            title=data.title,
            schedule=data.schedule,
            capacity_per_week=data.capacity_per_week,
            now=now,
        )

    @put("/{offer_id:str}/active", responses=problems(403, 404), summary="Pause or resume an offer")
    @api.write
    def set_active(
        self,
        tx: Tx,
        me: Me,
        community_id: Community,
        offer_id: OfferId,
        data: JSONBody[ActiveIn],
    ) -> Offer:
        return mk.set_offer_active(tx, me.id, community_id, offer_id, data.active)

    @post(
        "/{offer_id:str}/requests",
        status_code=201,
        responses=problems(403, 404, 409),
        summary="A resident requests the offer: a wish pre-claimed by the offerer",
    )
    @api.write
    def request(
        self,
        tx: Tx,
        me: Me,
        now: Now,
        community_id: Community,
        offer_id: OfferId,
        data: JSONBody[RequestIn],
    ) -> RequestOut:
        wish, made = mk.request_from_offer(
            tx,
            me.id,
            community_id,
            offer_id,
            org_id=data.org_id,
            address=data.address,
            description=data.description,
            window_start=data.window_start,
            window_end=data.window_end,
            estimated_minutes=data.estimated_minutes,
            now=now,
        )
        view = mk.wish_view(tx, me.id, community_id, wish.id)
        return RequestOut(wish=wish_out(view), claim=made)
