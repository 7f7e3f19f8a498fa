"""双报到: in-service party members (在职党员) report to a community, and their home unit sees it.

An in-service party member is a member with a home unit (``members.home_unit_id``). The seeds
(漳浦/云霄) ask each of them for a 报到 at least every month, a survey every quarter, one or two
problems solved a year, and "4+1": each year one community party meeting, one talk, one survey,
one day as a community volunteer, plus pairing with an elderly or left-behind household.

``DUTIES`` is the one table of the kinds of 报到 activity: what each is called, how many are
expected per month, quarter or year, and who may record one. Community staff (or a grid worker,
for a pairing) record what a member did (:func:`record_duty`: load → :func:`decide_record` →
write); a wish the member served (a claim of theirs checked out) counts as that month's 报到
without anyone recording it: it is read from the claims, so it is never written twice.

The quarterly report of a unit (:func:`unit_report`) and a street's roll-up of its units
(:func:`unit_rollup`) are a few indexed reads (the unit's members, their checked-out claims, their
records) and one pure function (:func:`summarise`). Who is behind: a member with a month of the
quarter, already over, in which they neither served a wish nor had a 报到 recorded.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable, Sequence
from typing import Literal, NamedTuple

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from marketplace import bounds, lifecycle
from marketplace.bounds import most
from marketplace.errors import InvalidInput, NotFound
from marketplace.lifecycle import OFFICE, Act, ClaimState, Role
from marketplace.model import CHINA, OrgKind
from marketplace.orgs import check_id, check_text, get_org
from marketplace.periods import Period, midnight, named_period
from marketplace.schema import claims, duty_records, members, orgs, pairings, wishes
from marketplace.standing import standing_at
from marketplace.stats import Rate, rate
from points import Cause, new_id, sqltypes, utcnow


class DutyKind(enum.StrEnum):
    CHECKIN = "checkin"  # 月度报到
    SURVEY = "survey"  # 调研 (quarterly; the 4+1's survey too)
    PROBLEM = "problem"  # 解决问题
    PARTY_MEETING = "party_meeting"  # 参加社区党组织活动
    TALK = "talk"  # 讲一次党课
    VOLUNTEER_DAY = "volunteer_day"  # 当一天社区志愿者
    PAIRING = "pairing"  # 结对帮扶 (an elderly or left-behind household)


class Duty(NamedTuple):
    """One kind of 报到 activity: its name, how many are expected per ``per``, who records it."""

    label: str
    target: int
    per: Literal["month", "quarter", "year"]
    recorders: frozenset[Role]


K = DutyKind
DUTIES: dict[DutyKind, Duty] = {
    K.CHECKIN: Duty("月度报到", 1, "month", OFFICE),  # a served wish counts too
    K.SURVEY: Duty("季度调研", 1, "quarter", OFFICE),
    K.PROBLEM: Duty("解决问题", 1, "year", OFFICE),  # the seeds: 1–2 a year
    K.PARTY_MEETING: Duty("参加社区党组织活动", 1, "year", OFFICE),
    K.TALK: Duty("讲一次党课", 1, "year", OFFICE),
    K.VOLUNTEER_DAY: Duty("当一天社区志愿者", 1, "year", OFFICE),
    K.PAIRING: Duty("结对帮扶", 1, "year", OFFICE | {Role.GRID_WORKER}),
}
"""Kind → Duty(label, target, per, recorders): the one table of the 报到 activities."""
FOUR_PLUS_ONE = (K.PARTY_MEETING, K.TALK, K.SURVEY, K.VOLUNTEER_DAY, K.PAIRING)
SERVED = (ClaimState.CHECKED_OUT.value, ClaimState.CONFIRMED.value)
"""A claim in these states was served: its check-out counts as its month's 报到."""


class DutyRecord(msgspec.Struct, frozen=True, kw_only=True):
    community_id: str
    id: str
    member_id: str
    unit_id: str
    kind: DutyKind
    at: dt.datetime
    note: str
    recorded_by: str
    created_at: dt.datetime


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


def record_duty(
    conn: Connection,
    actor: str,
    *,
    community_id: str,
    member_id: str,
    kind: DutyKind | str,
    at: dt.datetime,
    note: str = "",
    id: str | None = None,
    now: dt.datetime | None = None,
) -> DutyRecord:
    """Record a 报到 activity of an in-service party member in ``community_id`` (the community
    they report to): office of that community, or a grid worker for a pairing (``DUTIES``)."""
    now = now or utcnow()
    record_id = check_id("id", id or new_id())
    check_text("note", note, most(bounds.Note), required=False)
    community, held = standing_at(conn, actor, community_id)
    if community is None or community.kind is not OrgKind.COMMUNITY:
        raise NotFound("org", community_id)
    roles = held.on(community.path) | held.inside(community_id)  # a grid worker is on a grid
    member = conn.execute(
        sa.select(members.c.id, members.c.home_unit_id).where(members.c.id == member_id)
    ).first()
    unit_id = decide_record(kind, roles, member, at, now)
    earlier = conn.execute(
        sa.select(duty_records).where(
            duty_records.c.community_id == community_id, duty_records.c.id == record_id
        )
    ).first()
    if earlier is not None:
        found = sqltypes.to_struct(earlier, DutyRecord)
        if (found.member_id, found.kind) != (member_id, kind):
            raise InvalidInput("id", Cause("id_taken", {"what": "duty record"}))
        return found
    row = {
        "community_id": community_id,
        "id": record_id,
        "member_id": member_id,
        "unit_id": unit_id,
        "kind": DutyKind(kind).value,
        "at": at,
        "note": note,
        "recorded_by": actor,
        "created_at": now,
    }
    conn.execute(duty_records.insert().values(**row))
    return msgspec.convert(row, DutyRecord)


class Reporting(msgspec.Struct, frozen=True, kw_only=True):
    """An in-service party member of a unit paired with the community (who may report there)."""

    member_id: str
    name: str
    unit_id: str
    unit_name: str


def reporting_members(conn: Connection, actor: str, community_id: str) -> tuple[Reporting, ...]:
    """The in-service party members of the units paired with ``community_id``, by unit and
    name: whom the community's staff record 报到 for (NotAllowed for those who may not)."""
    community, held = standing_at(conn, actor, community_id)
    if community is None or community.kind is not OrgKind.COMMUNITY:
        raise NotFound("org", community_id)
    lifecycle.require(Act.RECORD_DUTY, held.on(community.path) | held.inside(community_id))
    unit = orgs.alias("unit")
    rows = conn.execute(
        sa.select(members.c.id, members.c.name, unit.c.id, unit.c.name)
        .join(unit, unit.c.id == members.c.home_unit_id)
        .join(pairings, pairings.c.unit_id == unit.c.id)
        .where(pairings.c.community_id == community_id)
        .order_by(unit.c.name, members.c.name, members.c.id)
    )
    return tuple(
        Reporting(member_id=m, name=name, unit_id=u, unit_name=unit_name)
        for m, name, u, unit_name in rows
    )


def decide_record(
    kind: object,
    roles: frozenset[Role],
    member: Sequence[object] | None,
    at: object,
    now: dt.datetime,
) -> str:
    """Pure: the member's home unit, when ``roles`` may record this kind for this member at this
    time; NotAllowed or InvalidInput naming the fault otherwise."""
    lifecycle.require(Act.RECORD_DUTY, roles, where="duty")
    if kind not in tuple(DutyKind):
        raise InvalidInput("kind", Cause("duty_kind", {"choices": ", ".join(DutyKind)}))
    duty = DUTIES[DutyKind(str(kind))]
    lifecycle.require_roles(
        f"record_{kind}", roles, duty.recorders | lifecycle.SYSTEM, where="duty"
    )
    if member is None:
        raise InvalidInput("member_id", Cause("unknown_member"))
    unit_id = member[1]
    if not isinstance(unit_id, str):
        raise InvalidInput("member_id", Cause("not_in_service"))
    if not isinstance(at, dt.datetime) or at.tzinfo is None:
        raise InvalidInput("at", Cause("needs_time_zone"))
    if at > now or at < now - dt.timedelta(days=366):
        raise InvalidInput("at", Cause("duty_time"))
    return unit_id


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
