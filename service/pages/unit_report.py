"""单位季度报表 (双报到): a unit admin's page of the unit's in-service party members over a
quarter — who served how long, the ratings, each month's 报到 and who is behind, what of the
"4+1" is still to do this year — with the unit's own 三率 and an XLSX download.

The figures are :func:`marketplace.unit_report` and :func:`marketplace.three_rates` of the unit
the seat acts for; a quarter named badly is refused in Chinese (422).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from litestar import Request, Response, get
from litestar.params import QueryParameter
from litestar.response import Template

import marketplace as mk
from marketplace import DUTIES, DutyKind
from service.api.common import MEMBER, Now, Tx
from service.pages import dashboard
from service.pages.common import CST, See, Viewer, failure, page, render
from service.reports import XLSX, hours, unit_report_xlsx

Quarter = Annotated[str, QueryParameter(max_length=8)]


def quarters(now: dt.datetime) -> list[tuple[str, str]]:
    """This quarter and the three before: (2026-Q4, 2026年第4季度)."""
    today = now.astimezone(CST).date()
    year, quarter, found = today.year, (today.month - 1) // 3 + 1, []
    for _ in range(4):
        found.append((f"{year}-Q{quarter}", f"{year}年第{quarter}季度"))
        year, quarter = (year, quarter - 1) if quarter > 1 else (year - 1, 4)
    return found


def _unit(viewer: Viewer) -> str:
    assert viewer.seat is not None  # PAGES admits unit admins only, each on a seat
    return viewer.seat.org_id


@get("/unit/report", opt=MEMBER)
@page.read
def unit_report(
    request: Request[Any, Any, Any], tx: Tx, now: Now, viewer: See, period: Quarter = ""
) -> Template:
    picker = quarters(now)
    period = period or picker[0][0]
    shown: dict[str, Any] = {"choices": picker, "period": period, "hours": hours}
    try:
        report = mk.unit_report(tx, viewer.id, _unit(viewer), period=period, now=now)
    except mk.InvalidInput as refused:
        status, errors = failure(request, refused)
        return render(request, "unit_report.html", viewer, status=status, errors=errors,
                      report=None, **shown)  # fmt: skip
    rates = mk.three_rates(tx, viewer.id, report.unit_id, since=report.since, until=report.until)
    return render(
        request,
        "unit_report.html",
        viewer,
        report=report,
        rates=rates[0] if rates else None,
        duties=[(k.value, DUTIES[k].label) for k in DutyKind],
        labels_of={k.value: DUTIES[k].label for k in DutyKind},
        **shown,
    )


@get("/unit/report.xlsx", opt=MEMBER)
@page.read
def unit_report_file(
    request: Request[Any, Any, Any], tx: Tx, now: Now, viewer: See, period: Quarter = ""
) -> Response[Any] | Template:
    try:
        report = mk.unit_report(tx, viewer.id, _unit(viewer), period=period, now=now)
    except mk.InvalidInput as refused:
        status, errors = failure(request, refused)
        return render(request, "unit_report.html", viewer, status=status, errors=errors,
                      report=None, choices=quarters(now), period=period, hours=hours)  # fmt: skip
    name = f"unit-report-{report.unit_id}-{report.period}.xlsx"
    return Response(
        content=unit_report_xlsx(report),
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


ROUTES = [unit_report, unit_report_file]


@get("/staff/units", opt=MEMBER)
@page.read
def unit_rollup(
    request: Request[Any, Any, Any],
    tx: Tx,
    now: Now,
    viewer: See,
    org: Annotated[str, QueryParameter(max_length=64)] = "",
    period: Quarter = "",
) -> Template:
    """双报到汇总: one line per unit paired with the area's communities, for the area's office
    (the areas of the statistics page)."""
    areas = dashboard.areas_of(tx, viewer)
    picker = quarters(now)
    period = period or picker[0][0]
    shown: dict[str, Any] = {"areas": areas, "choices": picker, "period": period, "hours": hours}
    if not areas:
        return render(request, "unit_rollup.html", viewer, lines=None, **shown)
    org_id = org if org in dict(areas) else areas[0][0]
    try:
        lines = mk.unit_rollup(tx, viewer.id, org_id, period=period, now=now)
    except mk.InvalidInput as refused:
        status, errors = failure(request, refused)
        return render(request, "unit_rollup.html", viewer, status=status, errors=errors,
                      lines=None, org_id=org_id, **shown)  # fmt: skip
    return render(request, "unit_rollup.html", viewer, lines=lines, org_id=org_id, **shown)


ROUTES = [*ROUTES, unit_rollup]
