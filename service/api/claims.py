"""Claims over HTTP (认领与报到): my claims, check-in with the resident's code, check-out, withdraw,
no-show, and a unit admin naming a member for the unit's place."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.params import JSONBody, PathParameter, QueryParameter

import marketplace as mk
from marketplace import Claim, ClaimState
from service import scan
from service.api.common import (
    MEMBER,
    Cursor,
    Id,
    Input,
    Limit,
    Me,
    Note,
    Now,
    Tx,
    api,
    issue_cursor,
    problems,
    read_cursor,
)
from service.api.views import ClaimPage
from service.api.wishes import Community, PointIn
from service.text import text

ClaimId = Annotated[str, PathParameter(max_length=64)]


OfflineAt = Annotated[
    dt.datetime,
    msgspec.Meta(
        tz=True,
        description="离线: when the phone took the action with no network (sent later); "
        "accepted from the claim (check-out: the check-in) up to now + 5 minutes, "
        "at most 24 hours old",
    ),
]


class CheckInIn(Input, frozen=True, kw_only=True):
    code: Annotated[str, msgspec.Meta(pattern=r"^\d{6}$")] | None = None  # the resident's code
    token: Annotated[str, msgspec.Meta(pattern=scan.PATTERN)] | None = None  # 扫码: the QR code
    location: PointIn | None = None
    override_reason: Annotated[str, text(1, 200)] | None = None
    offline_at: OfflineAt | None = None


class CheckOutIn(Input, frozen=True, kw_only=True):
    location: PointIn | None = None
    offline_at: OfflineAt | None = None


class WithdrawIn(Input, frozen=True, kw_only=True):
    reason: Note = ""


class AssignIn(Input, frozen=True, kw_only=True):
    member_id: Id


def _point(given: PointIn | None) -> mk.Point | None:
    return mk.Point(lat=given.lat, lng=given.lng) if given else None


class ClaimController(Controller):
    path = "/communities/{community_id:str}/claims"
    tags = ["claims 认领与报到"]
    opt = MEMBER

    @get("/", responses=problems(404), summary="我的认领: the caller's claims, newest first")
    @api.read
    def my_claims(
        self,
        tx: Tx,
        me: Me,
        community_id: Community,
        states: Annotated[
            list[ClaimState] | None, QueryParameter(name="state", required=False)
        ] = None,
        cursor: Cursor = None,
        limit: Limit = 50,
    ) -> ClaimPage:
        page = mk.member_claims(
            tx,
            me.id,
            community_id,
            states=frozenset(states or ()),
            cursor=read_cursor("claims", cursor),
            limit=limit,
        )
        return ClaimPage(
            items=list(page.items), next_cursor=issue_cursor("claims", page.next_cursor)
        )

    @post(
        "/{claim_id:str}/check-in",
        status_code=200,
        responses=problems(403, 404, 409),
        summary="报到: with the resident's confirmation code, or the token of the QR code on "
        "the resident's page (扫码), or a staff override",
    )
    @api.write
    def check_in(
        self,
        request: Request[Any, Any, Any],
        tx: Tx,
        me: Me,
        now: Now,
        community_id: Community,
        claim_id: ClaimId,
        data: JSONBody[CheckInIn],
    ) -> Claim:
        return mk.check_in(
            tx,
            me.id,
            community_id,
            claim_id,
            code=data.code,
            token_wish=scan.scanned(request, data.token, community_id, data.offline_at or now),
            location=_point(data.location),
            override_reason=data.override_reason,
            offline_at=data.offline_at,
            now=now,
        )

    @post(
        "/{claim_id:str}/check-out",
        status_code=200,
        responses=problems(403, 404, 409),
        summary="签退: the minutes served become a pending award",
    )
    @api.write
    def check_out(
        self,
        tx: Tx,
        me: Me,
        now: Now,
        community_id: Community,
        claim_id: ClaimId,
        data: JSONBody[CheckOutIn],
    ) -> Claim:
        return mk.check_out(
            tx,
            me.id,
            community_id,
            claim_id,
            location=_point(data.location),
            offline_at=data.offline_at,
            now=now,
        )

    @post(
        "/{claim_id:str}/withdraw",
        status_code=200,
        responses=problems(403, 404, 409),
        summary="退单: give the place back before check-in",
    )
    @api.write
    def withdraw(
        self,
        tx: Tx,
        me: Me,
        now: Now,
        community_id: Community,
        claim_id: ClaimId,
        data: JSONBody[WithdrawIn],
    ) -> Claim:
        return mk.withdraw(tx, me.id, community_id, claim_id, reason=data.reason, now=now)

    @post(
        "/{claim_id:str}/no-show",
        status_code=200,
        responses=problems(403, 404, 409),
        summary="爽约: staff release a claim nobody showed up for",
    )
    @api.write
    def no_show(
        self,
        tx: Tx,
        me: Me,
        now: Now,
        community_id: Community,
        claim_id: ClaimId,
    ) -> Claim:
        return mk.release_no_show(tx, me.id, community_id, claim_id, now=now)

    @post(
        "/{claim_id:str}/assign",
        status_code=201,
        responses=problems(403, 404, 409),
        summary="党员认领: a unit admin names a member for one of the unit's places",
    )
    @api.write
    def assign(
        self,
        tx: Tx,
        me: Me,
        now: Now,
        community_id: Community,
        claim_id: ClaimId,
        data: JSONBody[AssignIn],
    ) -> Claim:
        return mk.assign(tx, me.id, community_id, claim_id, data.member_id, now=now)
