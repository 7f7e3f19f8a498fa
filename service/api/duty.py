"""双报到 over HTTP: staff record what an in-service party member did for the community; a unit's
admin reads (and downloads) the unit's quarterly report; a street reads the roll-up of its units.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Response, get, post
from litestar.params import JSONBody, PathParameter, QueryParameter

import marketplace as mk
from marketplace import DutyKind, DutyRecord, UnitReport, UnitSummary
from service.api.common import MEMBER, Id, Me, Moment, Note, Now, Tx, api, problems
from service.api.wishes import Community
from service.reports import XLSX, unit_report_xlsx

OrgId = Annotated[str, PathParameter(max_length=64)]
Quarter = Annotated[
    str | None,
    QueryParameter(
        max_length=7,
        pattern=r"^20[0-9]{2}-Q[1-4]$",
        description="a quarter in China time (2026-Q4); none given: this quarter",
    ),
]


class DutyIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    member_id: Id
    kind: DutyKind
    at: Moment  # when it happened: within the last year, not in the future
    note: Note = ""


class RollupOut(msgspec.Struct, frozen=True, kw_only=True):
    items: list[UnitSummary]


class DutyController(Controller):
    path = "/communities/{community_id:str}/duty-records"
    tags = ["duty 双报到"]
    opt = MEMBER

    @post(
        "/",
        status_code=201,
        responses=problems(403, 404),
        summary="双报到登记: record what an in-service party member did (staff; grid: 结对帮扶)",
    )
    @api.write
    def record(
        self, tx: Tx, me: Me, now: Now, community_id: Community, data: JSONBody[DutyIn]
    ) -> DutyRecord:
        return mk.record_duty(
            tx,
            me.id,
            community_id=community_id,
            member_id=data.member_id,
            kind=data.kind,
            at=data.at,
            note=data.note,
            now=now,
        )


class UnitReportController(Controller):
    path = "/orgs/{org_id:str}"
    tags = ["duty 双报到"]
    opt = MEMBER

    @get(
        "/unit-report",
        responses=problems(404),
        summary="单位季度报表: a unit's in-service party members over a quarter (its admin)",
    )
    @api.read
    def unit_report(
        self, tx: Tx, me: Me, now: Now, org_id: OrgId, period: Quarter = None
    ) -> UnitReport:
        return mk.unit_report(tx, me.id, org_id, period=period or "", now=now)

    @get(
        "/unit-report.xlsx",
        responses=problems(404),
        summary="单位季度报表 as a spreadsheet (XLSX)",
        media_type=XLSX,
    )
    @api.read
    def unit_report_xlsx(
        self, tx: Tx, me: Me, now: Now, org_id: OrgId, period: Quarter = None
    ) -> Response[Any]:
        report = mk.unit_report(tx, me.id, org_id, period=period or "", now=now)
        name = f"unit-report-{report.unit_id}-{report.period}.xlsx"
        return Response(
            content=unit_report_xlsx(report),
            media_type=XLSX,
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    @get(
        "/unit-rollup",
        responses=problems(404),
        summary="双报到汇总: one line per unit paired with the area's communities (office)",
    )
    @api.read
    def unit_rollup(
        self, tx: Tx, me: Me, now: Now, org_id: OrgId, period: Quarter = None
    ) -> RollupOut:
        return RollupOut(
            items=list(mk.unit_rollup(tx, me.id, org_id, period=period or "", now=now))
        )
