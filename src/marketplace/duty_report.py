"""单位季度报表 (双报到): a home unit's in-service party members over one quarter, and a street's
roll-up of its units.

A few indexed reads (the units' members by ``home_unit_id``, their claims checked out since
1 January, their 报到 records) and one pure function (:func:`summarise`), whatever the size of
the quarter. A month's 报到 is a record of kind ``checkin`` or a wish the member served that
month; a member is behind when a month of the quarter is over without one. The kinds and who
records them: :mod:`marketplace.duty`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import NamedTuple

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from marketplace import lifecycle
from marketplace.duty import FOUR_PLUS_ONE, SERVED, DutyKind
from marketplace.errors import InvalidInput, NotFound
from marketplace.lifecycle import Act
from marketplace.model import CHINA, OrgKind
from marketplace.orgs import get_org
from marketplace.periods import Period, midnight, named_period
from marketplace.schema import claims, duty_records, members, orgs, pairings, wishes
from marketplace.standing import standing_at
from marketplace.stats import Rate, rate
from points import Cause, utcnow

K = DutyKind


class MemberDuty(msgspec.Struct, frozen=True, kw_only=True):
    """One member's quarter: service, ratings, 报到 by month and activities by kind."""

    member_id: str
    name: str
    minutes: int  # served in the quarter (claims checked out)
    wishes: int  # distinct wishes served in the quarter
    rated: int
    satisfied: int  # ratings ≥ 4
    months: dict[str, bool]  # YYYY-MM of the quarter → reported (served or recorded)
    missing: tuple[str, ...]  # months over without a 报到
    quarter: dict[str, int]  # kind → activities recorded in the quarter
    year: dict[str, int]  # kind → since 1 January, to the quarter's end
    four_plus_one: tuple[str, ...]  # the 4+1 kinds not yet done this year
    behind: bool  # a month over without a 报到


class UnitReport(msgspec.Struct, frozen=True, kw_only=True):
    """单位季度报表: a home unit's in-service party members over one quarter."""

    unit_id: str
    name: str
    period: str  # 2026-Q4
    since: dt.datetime
    until: dt.datetime
    members: tuple[MemberDuty, ...]
    minutes: int
    wishes: int
    satisfaction: Rate
    behind: tuple[str, ...]  # ids of the members behind on the monthly 报到


class UnitSummary(msgspec.Struct, frozen=True, kw_only=True):
    """One unit's line of a street's roll-up."""

    unit_id: str
    name: str
    members: int
    minutes: int
    wishes: int
    satisfaction: Rate
    behind: int


def quarter_of(period: str, now: dt.datetime) -> Period:
    """A quarter as staff name it (``2026-Q4``; empty: the quarter of ``now``)."""
    if not period:
        today = now.astimezone(CHINA).date()
        period = f"{today.year}-Q{(today.month - 1) // 3 + 1}"
    if "-Q" not in period:
        raise InvalidInput("period", Cause("quarter_format"))
    return Period(*named_period(period, now=now))


def name_of(quarter: Period) -> str:
    day = quarter.since.astimezone(CHINA).date()
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def unit_report(
    conn: Connection, actor: str, unit_id: str, *, period: str = "", now: dt.datetime | None = None
) -> UnitReport:
    """单位季度报表 of ``unit_id``: for its admin (or SYSTEM); NotFound for anyone else."""
    now = now or utcnow()
    quarter = quarter_of(period, now)
    unit, held = standing_at(conn, actor, unit_id)
    if unit is None or unit.kind is not OrgKind.UNIT:
        raise NotFound("org", unit_id)
    if not lifecycle.can(Act.SEE_UNIT_REPORT, held.on(unit.path)):
        raise NotFound("org", unit_id)
    units = {unit.id: unit.name}
    lines = summarise(units, *_facts(conn, [unit.id], quarter), quarter, now)
    people = lines.get(unit.id, ())
    rated, satisfied = sum(m.rated for m in people), sum(m.satisfied for m in people)
    return UnitReport(
        unit_id=unit.id,
        name=unit.name,
        period=name_of(quarter),
        since=quarter.since,
        until=quarter.until,
        members=people,
        minutes=sum(m.minutes for m in people),
        wishes=_distinct_wishes(conn, [unit.id], quarter).get(unit.id, 0),
        satisfaction=rate(satisfied, rated),
        behind=tuple(m.member_id for m in people if m.behind),
    )


def unit_rollup(
    conn: Connection, actor: str, org_id: str, *, period: str = "", now: dt.datetime | None = None
) -> tuple[UnitSummary, ...]:
    """A street's (or district's, or community's) roll-up: one line per unit paired with its
    communities, for the office of the area (NotFound for anyone else)."""
    now = now or utcnow()
    quarter = quarter_of(period, now)
    area = get_org(conn, org_id)
    held = standing_at(conn, actor, org_id)[1].on(area.path)
    if not lifecycle.can(Act.SEE_STATISTICS, held):
        raise NotFound("org", org_id)
    if area.kind not in (OrgKind.DISTRICT, OrgKind.STREET, OrgKind.COMMUNITY):
        raise InvalidInput("org_id", Cause("stats_level"))
    inside = sa.select(orgs.c.id).where(
        orgs.c.kind == OrgKind.COMMUNITY.value,
        orgs.c.path.startswith(area.path, autoescape=True),
    )
    found = conn.execute(
        sa.select(orgs.c.id, orgs.c.name)
        .where(
            orgs.c.id.in_(sa.select(pairings.c.unit_id).where(pairings.c.community_id.in_(inside)))
        )
        .order_by(orgs.c.name, orgs.c.id)
    ).all()
    units: dict[str, str] = dict(found)
    lines = summarise(units, *_facts(conn, list(units), quarter), quarter, now)
    served = _distinct_wishes(conn, list(units), quarter)
    return tuple(
        UnitSummary(
            unit_id=u,
            name=name,
            members=len(people := lines.get(u, ())),
            minutes=sum(m.minutes for m in people),
            wishes=served.get(u, 0),
            satisfaction=rate(sum(m.satisfied for m in people), sum(m.rated for m in people)),
            behind=sum(m.behind for m in people),
        )
        for u, name in units.items()
    )


class Served(NamedTuple):
    member_id: str
    wish: str  # community_id/wish_id
    minutes: int
    at: dt.datetime
    rating: int | None


def _facts(
    conn: Connection, unit_ids: list[str], quarter: Period
) -> tuple[list[tuple[str, str, str]], list[Served], list[tuple[str, str, dt.datetime]]]:
    """The units' members (unit, id, name), their claims checked out and their records since
    1 January of the quarter's year: three indexed reads."""
    year = Period(midnight(dt.date(quarter.since.astimezone(CHINA).year, 1, 1)), quarter.until)
    people = conn.execute(
        sa.select(members.c.home_unit_id, members.c.id, members.c.name)
        .where(members.c.home_unit_id.in_(unit_ids))
        .order_by(members.c.name, members.c.id)
    ).all()
    mine = sa.select(members.c.id).where(members.c.home_unit_id.in_(unit_ids))
    c, w = claims, wishes
    served = [
        Served(m, f"{community}/{wish}", minutes or 0, at, rating)
        for m, community, wish, minutes, at, rating in conn.execute(
            sa.select(
                c.c.member_id,
                c.c.community_id,
                c.c.wish_id,
                c.c.minutes,
                c.c.checked_out_at,
                w.c.rating,
            )
            .join(w, sa.and_(w.c.community_id == c.c.community_id, w.c.id == c.c.wish_id))
            .where(c.c.member_id.in_(mine), c.c.state.in_(SERVED), year.holds(c.c.checked_out_at))
        )
    ]
    d = duty_records.c
    records = [
        (m, kind, at)
        for m, kind, at in conn.execute(
            sa.select(d.member_id, d.kind, d.at).where(d.member_id.in_(mine), year.holds(d.at))
        )
    ]
    return [(u, m, name) for u, m, name in people], served, records


def _distinct_wishes(conn: Connection, unit_ids: list[str], quarter: Period) -> dict[str, int]:
    """Per unit, the distinct wishes its members served in the quarter (two members on one wish
    count it once)."""
    c = claims.c
    served = (
        sa.select(members.c.home_unit_id, c.community_id, c.wish_id)
        .join(members, members.c.id == c.member_id)
        .where(
            members.c.home_unit_id.in_(unit_ids),
            c.state.in_(SERVED),
            quarter.holds(c.checked_out_at),
        )
        .distinct()
        .subquery()
    )
    rows = conn.execute(
        sa.select(served.c.home_unit_id, sa.func.count()).group_by(served.c.home_unit_id)
    )
    return {u: int(n) for u, n in rows}


def months_of(quarter: Period) -> list[tuple[str, Period]]:
    """The quarter's three months, as YYYY-MM and their periods."""
    found, start = [], quarter.since.astimezone(CHINA).date()
    for _ in range(3):
        after = dt.date(start.year + start.month // 12, start.month % 12 + 1, 1)
        found.append((f"{start.year}-{start.month:02d}", Period(midnight(start), midnight(after))))
        start = after
    return found


def summarise(
    units: dict[str, str],
    people: Iterable[tuple[str, str, str]],
    served: Iterable[Served],
    records: Iterable[tuple[str, str, dt.datetime]],
    quarter: Period,
    now: dt.datetime,
) -> dict[str, tuple[MemberDuty, ...]]:
    """Pure: each unit's members' quarter from their served claims and recorded activities (both
    since 1 January, to the quarter's end)."""
    months = months_of(quarter)
    mine: dict[str, list[Served]] = {}
    for s in served:
        mine.setdefault(s.member_id, []).append(s)
    kinds: dict[str, list[tuple[str, dt.datetime]]] = {}
    for member_id, kind, at in records:
        kinds.setdefault(member_id, []).append((kind, at))
    lines: dict[str, list[MemberDuty]] = {u: [] for u in units}
    for unit_id, member_id, name in people:
        done = mine.get(member_id, [])
        entries = kinds.get(member_id, [])
        in_quarter = [s for s in done if s.at in quarter]
        rated = [s.rating for s in {s.wish: s for s in in_quarter}.values() if s.rating]
        reported = {
            month: any(s.at in span for s in done)
            or any(k == K.CHECKIN and at in span for k, at in entries)
            for month, span in months
        }
        year = {k.value: sum(1 for kind, _ in entries if kind == k) for k in DutyKind}
        missing = tuple(m for m, span in months if span.until <= now and not reported[m])
        lines.setdefault(unit_id, []).append(
            MemberDuty(
                member_id=member_id,
                name=name,
                minutes=sum(s.minutes for s in in_quarter),
                wishes=len({s.wish for s in in_quarter}),
                rated=len(rated),
                satisfied=sum(1 for r in rated if r >= 4),
                months=reported,
                missing=missing,
                behind=bool(missing),
                quarter={
                    k.value: sum(1 for kind, at in entries if kind == k and at in quarter)
                    for k in DutyKind
                },
                year=year,
                four_plus_one=tuple(k.value for k in FOUR_PLUS_ONE if not year[k.value]),
            )
        )
    return {u: tuple(found) for u, found in lines.items()}
