"""The statistics dashboard (统计分析) for staff and higher levels, drawn with Chart.js.

The figures are :func:`marketplace.dashboard` of the chosen org (a community, street or district
the viewer is office of) and period: the statistics, 三率 and each day's figures, read from the
day rollups in a few indexed queries. The period is a rolling one (the last 7, 30, 90 or 365 days,
today included), a calendar month, quarter or year (``2026-11``, ``2026-Q3``, ``2026``) or a
range of two days picked in the form (``start``, ``end``: ``2026-01-05..2026-03-31``); a period
named badly is refused in Chinese (422). The 导出 buttons download what the page shows (三率, and
each day's figures) as Excel or CSV (:mod:`service.pages.exports`). The days are grouped into a
few runs for the lines over time. Every chart has its numbers in a table beside it (readable
without JavaScript or sight).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Annotated, Any

from litestar import Request, get
from litestar.params import QueryParameter
from litestar.response import Template

import marketplace as mk
from marketplace import OrgKind
from service import labels
from service.api.common import MEMBER, Now, Tx
from service.pages.common import CST, See, Viewer, failure, page, render

ROLLING = {"7": "近7天", "30": "近30天", "90": "近90天", "365": "近一年"}
"""The rolling periods offered: key (N days, today included) → label."""


class Run:
    """A few consecutive days of the period, added up (one point of a line over time)."""

    def __init__(self, days: list[mk.Day]) -> None:
        self.start = dt.datetime.combine(days[0].day, dt.time(), CST)
        self.posted = sum(d.posted for d in days)
        self.completed = sum(d.completed for d in days)
        self.volunteer_minutes = sum(d.volunteer_minutes for d in days)
        self.by_category: dict[str, int] = {}
        for d in days:
            for category, n in d.by_category.items():
                self.by_category[category] = self.by_category.get(category, 0) + n


def runs(days: tuple[mk.Day, ...]) -> list[Run]:
    """The days in a few runs: one a day up to a week, six runs up to 90 days, twelve beyond
    (the last run may be shorter)."""
    count = len(days) if len(days) <= 7 else 6 if len(days) <= 90 else 12
    step = math.ceil(len(days) / count)
    return [Run(list(days[n : n + step])) for n in range(0, len(days), step)]


def choices(now: dt.datetime) -> list[tuple[str, list[tuple[str, str]]]]:
    """The picker's groups of (period, label): rolling periods, then this month and the eleven
    before, this quarter and the three before, this year and the two before."""
    today = now.astimezone(CST).date()
    months, quarters = [], []
    year, month = today.year, today.month
    for _ in range(12):
        months.append((f"{year}-{month:02d}", f"{year}年{month}月"))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    year, quarter = today.year, (today.month - 1) // 3 + 1
    for _ in range(4):
        quarters.append((f"{year}-Q{quarter}", f"{year}年第{quarter}季度"))
        year, quarter = (year, quarter - 1) if quarter > 1 else (year - 1, 4)
    years = [(f"{today.year - n}", f"{today.year - n}年") for n in range(3)]
    return [("滚动", list(ROLLING.items())), ("按月", months), ("按季度", quarters),
            ("按年", years)]  # fmt: skip


def areas_of(tx: Tx, viewer: Viewer) -> list[tuple[str, str]]:
    """(org id, name) of the areas the viewer may read statistics of: their office seats and,
    for a street or district, the communities and streets directly under it."""
    found: dict[str, str] = {}
    for seat in viewer.seats:
        if seat.role not in mk.OFFICE:
            continue
        if seat.community_id is not None:
            found.setdefault(seat.community_id, seat.community_name or seat.community_id)
        elif seat.org_kind in (OrgKind.STREET, OrgKind.DISTRICT):
            found.setdefault(seat.org_id, seat.org_name)
            children = mk.child_orgs(tx, viewer.id, seat.org_id, limit=200)
            for org in children.items:
                if org.kind in (OrgKind.STREET, OrgKind.COMMUNITY):
                    found.setdefault(org.id, f"{seat.org_name} · {org.name}")
    return list(found.items())


@get("/dashboard", opt=MEMBER)
@page.read
def dashboard(
    request: Request[Any, Any, Any],
    tx: Tx,
    now: Now,
    viewer: See,
    org: Annotated[str, QueryParameter(max_length=64)] = "",
    period: Annotated[str, QueryParameter(max_length=32)] = "30",
    start: Annotated[str, QueryParameter(max_length=10)] = "",
    end: Annotated[str, QueryParameter(max_length=10)] = "",
) -> Template:
    areas = areas_of(tx, viewer)
    if not areas:
        return render(request, "dashboard.html", viewer, areas=[], stats=None)
    org_id = org if org in dict(areas) else areas[0][0]
    picker = choices(now)
    if start or end:  # a range of two days picked in the form (自定义起止日期)
        period = f"{start}..{end}"
    shown: dict[str, Any] = {"areas": areas, "org_id": org_id, "choices": picker, "period": period}
    shown["export_period"] = f"{period}d" if period in ROLLING else period
    try:
        since, until = mk.named_period(shown["export_period"], now=now)
    except mk.InvalidInput as refused:
        status, errors = failure(request, refused)
        return render(request, "dashboard.html", viewer, status=status, stats=None,
                      errors=errors, **shown)  # fmt: skip
    names = dict(pair for _, group in picker for pair in group)
    if period not in names:  # a range, or a period named in the address beyond the picker
        picker.append(("其他", [(period, period.replace("..", " 至 "))]))
    kept: mk.Kept[mk.Dashboard] = request.app.state.kept_dashboards
    board = mk.dashboard(tx, viewer.id, org_id, since=since, until=until, kept=kept, now=now)
    stats, rates, series = board.statistics, board.rates, runs(board.days)
    categories = sorted({c for part in series for c in part.by_category})
    charts = {
        "over_time": {
            "labels": [part.start.strftime("%m-%d") for part in series],
            "posted": [part.posted for part in series],
            "completed": [part.completed for part in series],
            "hours": [round(part.volunteer_minutes / 60, 1) for part in series],
            "by_category": {c: [p.by_category.get(c, 0) for p in series] for c in categories},
        },
        "by_state": {
            "labels": [labels.label(labels.WISH_STATES, s) for s in stats.by_state],
            "values": list(stats.by_state.values()),
        },
        "times": {
            "labels": ["审核", "首次认领", "完成"],
            "values": [
                _hours(stats.median_minutes_to_verify),
                _hours(stats.median_minutes_to_first_claim),
                _hours(stats.median_minutes_to_completion),
            ],
        },
        "rates": {
            "labels": [r.name for r in rates],
            "response": [r.response.percent for r in rates],
            "resolution": [r.resolution.percent for r in rates],
            "satisfaction": [r.satisfaction.percent for r in rates],
        },
    }
    return render(
        request,
        "dashboard.html",
        viewer,
        **shown,
        period_name=names.get(period, period.replace("..", " 至 ")),
        stats=stats,
        rates=rates,
        series=series,
        charts=json.dumps(charts, ensure_ascii=False).replace("</", "<\\/"),
        hours=_hours,
    )


def _hours(minutes: int | None) -> float | None:
    return None if minutes is None else round(minutes / 60, 1)


ROUTES = [dashboard]
