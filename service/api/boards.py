"""Boards over HTTP: recommendations for a volunteer (为你推荐), batch 派单, escalation queues
(吹哨报到), statistics and 三率, and the ledger audit."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.exceptions import NotAuthorizedException
from litestar.openapi.spec import (
    OpenAPIFormat,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Schema,
)
from litestar.params import PathParameter, QueryParameter
from litestar.response import Stream
from sqlalchemy.engine import Connection

import marketplace as mk
from marketplace import Claim, DispatchLeft, Match, Rates, Statistics
from points import Cause, Page
from points import Problem as AuditProblem
from service import exports, uow
from service.api.common import (
    MEMBER,
    Cursor,
    Limit,
    Me,
    Now,
    QueryId,
    Tx,
    api,
    check_moment,
    problems,
    read_cursor,
)
from service.api.views import WishPage, wish_page
from service.api.wishes import Community, MatchList

OrgId = Annotated[str, PathParameter(max_length=64)]
Since = Annotated[
    dt.datetime | None,
    QueryParameter(description="period start (inclusive): a midnight in China time (+08:00)"),
]
Until = Annotated[
    dt.datetime | None,
    QueryParameter(description="period end (exclusive): a midnight in China time (+08:00)"),
]
Period = Annotated[
    str | None,
    QueryParameter(
        max_length=8,
        pattern=r"^(20[0-9]{2}(-Q[1-4]|-(0[1-9]|1[0-2]))?|[0-9]{1,3}d)$",
        description="instead of since and until: a year (2026), a quarter (2026-Q3), a month "
        "(2026-11) or the last N days, today included (30d; 1 to 366), in China time; "
        "neither given: the last 30 days",
    ),
]
DEFAULT_PERIOD = "30d"


def period_of(
    now: dt.datetime, period: str | None, since: dt.datetime | None, until: dt.datetime | None
) -> tuple[dt.datetime, dt.datetime]:
    """``[since, until)`` of a statistics request: a named period (the last 30 days when
    nothing is given), or both ends."""
    check_moment("since", since)
    check_moment("until", until)
    for name, end in (("since", since), ("until", until)):
        if end is not None:  # a bad end is named before a missing one
            mk.periods.day_start(name, end)
    if since is None and until is None:
        return mk.named_period(period or DEFAULT_PERIOD, now=now)
    if period is not None:
        raise mk.InvalidInput("period", Cause("stats_period"))
    if since is None or until is None:
        raise mk.InvalidInput("since" if since is None else "until", Cause("stats_period"))
    return since, until


class DispatchOut(msgspec.Struct, frozen=True, kw_only=True):
    items: list[Claim]  # the claims made
    left: list[DispatchLeft]  # the places left unfilled, and why


class RatesOut(msgspec.Struct, frozen=True, kw_only=True):
    items: list[Rates]


class AuditOut(msgspec.Struct, frozen=True, kw_only=True):
    problems: list[AuditProblem]


class MatchingController(Controller):
    path = "/communities/{community_id:str}"
    tags = ["matching 匹配"]
    opt = MEMBER

    @get(
        "/recommendations",
        responses=problems(404),
        summary="为你推荐: open wishes that fit the caller, with the score's parts",
    )
    @api.read
    def recommendations(
        self,
        request: Request[Any, Any, Any],
        tx: Tx,
        me: Me,
        now: Now,
        community_id: Community,
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 20,
    ) -> MatchList:
        mk.wallet.community_roles(tx, me.id, community_id)
        kept: mk.Kept[list[Match]] = request.app.state.kept_lists
        found: list[Match] = mk.recommendations(
            tx, me.id, community_id, limit=limit, now=now, kept=kept
        )
        return MatchList(items=found)

    @post(
        "/dispatch-all",
        status_code=200,
        responses=problems(403, 404),
        summary="批量派单: assign volunteers to every open wish (office)",
    )
    @api.write
    def dispatch_all(
        self,
        tx: Tx,
        me: Me,
        now: Now,
        community_id: Community,
    ) -> DispatchOut:
        mk.wallet.community_roles(tx, me.id, community_id)
        done = mk.dispatch_all(tx, me.id, community_id, now=now)
        return DispatchOut(items=done.claims, left=done.left)


class BoardController(Controller):
    path = "/orgs/{org_id:str}"
    tags = ["boards 统计与督办"]
    opt = MEMBER

    @get(
        "/escalations",
        responses=problems(404),
        summary="吹哨报到: open wishes at this level, soonest deadline first (office)",
    )
    @api.read
    def escalations(
        self,
        tx: Tx,
        me: Me,
        org_id: OrgId,
        cursor: Cursor = None,
        limit: Limit = 50,
    ) -> WishPage:
        page = mk.escalation_queue(
            tx, me.id, org_id, cursor=read_cursor("escalations", cursor), limit=limit
        )
        views = []
        for wish in page.items:
            views.append(mk.wish_view(tx, me.id, wish.community_id, wish.id))
        return wish_page(Page(items=tuple(views), next_cursor=page.next_cursor), "escalations")

    @get(
        "/statistics",
        responses=problems(404),
        summary="统计: wishes, times, satisfaction and hours of the org's communities",
    )
    @api.read
    def statistics(
        self,
        request: Request[Any, Any, Any],
        tx: Tx,
        me: Me,
        now: Now,
        org_id: OrgId,
        period: Period = None,
        since: Since = None,
        until: Until = None,
    ) -> Statistics:
        start, end = period_of(now, period, since, until)
        kept: mk.Kept[Statistics] = request.app.state.kept_statistics
        return mk.statistics(tx, me.id, org_id, since=start, until=end, kept=kept, now=now)

    @get(
        "/three-rates",
        responses=problems(404),
        summary="三率: response, resolution and satisfaction per community and unit",
    )
    @api.read
    def three_rates(
        self,
        tx: Tx,
        me: Me,
        now: Now,
        org_id: OrgId,
        period: Period = None,
        since: Since = None,
        until: Until = None,
    ) -> RatesOut:
        start, end = period_of(now, period, since, until)
        return RatesOut(items=mk.three_rates(tx, me.id, org_id, since=start, until=end))


EXPORT_KINDS = f"^({'|'.join(mk.exports.KINDS)})$"


@dataclass
class ExportOperation(Operation):
    """OpenAPI: an export answers a file, XLSX or CSV (as ``format`` asks)."""

    def __post_init__(self) -> None:
        ok = (self.responses or {}).get("200")
        if isinstance(ok, OpenAPIResponse):
            binary = Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY)
            ok.description = "the file (Content-Disposition names it)"
            ok.content = {
                media_type: OpenAPIMediaType(schema=binary)
                for media_type in mk.sheet_writer.MEDIA_TYPES.values()
            }


class ExportController(Controller):
    path = "/orgs/{org_id:str}/exports"
    tags = ["boards 统计与督办"]
    opt = MEMBER

    @get(
        "/{kind:str}",
        responses=problems(404),
        summary="导出: an area's members, hours, points, wishes, 三率, days, or the national "
        "volunteers and records, as XLSX or CSV (office; logged)",
        operation_class=ExportOperation,
    )
    async def export(
        self,
        request: Request[Any, Any, Any],
        org_id: OrgId,
        kind: Annotated[str, PathParameter(max_length=16, pattern=EXPORT_KINDS)],
        period: Annotated[
            str,
            QueryParameter(
                max_length=32,
                description="2026, 2026-Q3, 2026-11, 30d, or a range FROM..TO of days or "
                "calendar periods (2026-01-05..2026-03-31, 2026-01..2026-03; at most ten "
                "years), in China time; the last 30 days when not given",
            ),
        ] = DEFAULT_PERIOD,
        format: Annotated[
            str,
            QueryParameter(max_length=8, pattern="^(xlsx|csv)$", description="xlsx or csv"),
        ] = "xlsx",
    ) -> Stream:
        """The file, streamed; ``X-Linli-Rows`` and ``X-Linli-Withheld`` (members left out of
        the national records for want of consent) say what it holds."""
        now: dt.datetime = request.app.state.clock()

        def check(conn: Connection, me: Any) -> mk.exports.Plan:
            if me is None:
                raise NotAuthorizedException("sign in first")
            return mk.exports.plan(conn, me.id, org_id, kind, period, format, now=now)

        planned = await uow.run(request, check, write=False)
        assert isinstance(planned, mk.exports.Plan)
        return await exports.stream(request.app.state.db, planned, channel="api", now=now)


class AuditController(Controller):
    path = "/audit"
    tags = ["admin 管理"]
    opt = MEMBER

    @get(
        "/",
        responses=problems(403, 404),
        summary="账目核对: recompute balances from the transfers (office; all: district admin)",
    )
    @api.read
    def audit(
        self,
        tx: Tx,
        me: Me,
        community_id: QueryId = None,
    ) -> AuditOut:
        return AuditOut(problems=mk.wallet.audit(tx, me.id, community_id))
