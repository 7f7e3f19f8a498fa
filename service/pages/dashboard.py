"""The statistics dashboard (统计分析) for staff and higher levels, drawn with Chart.js.

The figures are :func:`marketplace.statistics` and :func:`marketplace.three_rates` of the chosen
org (a community, street or district the viewer is office of) and period; the period is also cut
into a few equal slices, each one :func:`marketplace.statistics` call, for the lines over time.
Every chart has its numbers in a table beside it (readable without JavaScript or sight).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

from litestar import Request, get
from litestar.params import QueryParameter
from litestar.response import Template

import marketplace as mk
from marketplace import OrgKind
from service import labels
from service.api.common import MEMBER, Now, Tx
from service.pages.common import CST, See, Viewer, page, render

PERIODS = {"7": ("近7天", 7, 7), "30": ("近30天", 30, 6), "90": ("近90天", 90, 6),
           "365": ("近一年", 365, 12)}  # fmt: skip
"""key → (label, days, slices)"""


def _areas(tx: Tx, viewer: Viewer) -> list[tuple[str, str]]:
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
    period: Annotated[str, QueryParameter(max_length=4)] = "30",
) -> Template:
    areas = _areas(tx, viewer)
    if not areas:
        return render(request, "dashboard.html", viewer, areas=[], stats=None)
    org_id = org if org in dict(areas) else areas[0][0]
    name, days, slices = PERIODS.get(period, PERIODS["30"])
    local = now.astimezone(CST)
    until = (local + dt.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    since = until - dt.timedelta(days=days)
    stats = mk.statistics(tx, viewer.id, org_id, since=since, until=until)
    rates = mk.three_rates(tx, viewer.id, org_id, since=since, until=until)
    step = (until - since) / slices
    series = []
    for n in range(slices):
        start = since + step * n
        part = mk.statistics(tx, viewer.id, org_id, since=start, until=start + step)
        series.append((start, part))
    categories = sorted({c for _, part in series for c in part.by_category})
    charts = {
        "over_time": {
            "labels": [start.strftime("%m-%d") for start, _ in series],
            "posted": [part.posted for _, part in series],
            "completed": [part.completed for _, part in series],
            "hours": [round(part.volunteer_minutes / 60, 1) for _, part in series],
            "by_category": {c: [p.by_category.get(c, 0) for _, p in series] for c in categories},
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
        areas=areas,
        org_id=org_id,
        periods=PERIODS,
        period=period if period in PERIODS else "30",
        period_name=name,
        stats=stats,
        rates=rates,
        series=series,
        charts=json.dumps(charts, ensure_ascii=False).replace("</", "<\\/"),
        hours=_hours,
    )


def _hours(minutes: int | None) -> float | None:
    return None if minutes is None else round(minutes / 60, 1)


ROUTES = [dashboard]
