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

The quarterly report of a unit and a street's roll-up of its units read these records and the
claims: :mod:`marketplace.duty_report`.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Sequence
from typing import Literal, NamedTuple

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from marketplace import bounds, lifecycle
from marketplace.bounds import most
from marketplace.errors import InvalidInput, NotFound
from marketplace.lifecycle import OFFICE, Act, ClaimState, Role
from marketplace.model import OrgKind
from marketplace.orgs import check_id, check_text
from marketplace.schema import duty_records, members, orgs, pairings
from marketplace.standing import standing_at
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
