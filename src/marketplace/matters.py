"""吹哨报到 on demand: matters (吹哨事项) and what each level does with them.

"社区吹哨、部门镇街报到": a community's office hands a wish beyond its powers up to its street
(:func:`blow_whistle`, with the reason). The street takes it in (受理, :func:`accept`) and sorts it
into one of the three lists (三单): 即办 (immediate), 阶段性 (staged: milestones with dates), or
谅解 (cannot be done now: :func:`explain` records what the resident is told, and the matter is
done); or hands it up to the district (:func:`escalate`), or sends it back (:func:`send_back`).
An accepted matter may be assigned to a unit or department with a deadline (转派, :func:`assign`),
which answers it (:func:`answer`) or hands it back; progress notes and milestones done are
:func:`note`. Within 5 working days after it is done the community rates who handled it
(:func:`rate`).

Who may do what is :data:`marketplace.lifecycle.MATTER_TABLE`; the actor's relation to the
matter (whistler: the community's office; receiver: the office of the street or district it is
at; handler: the unit it was assigned to) comes from where their roles are
(:func:`matter_roles`). Deadlines count working days on the official calendar
(:mod:`marketplace.workdays`):

=====================  =========================================================
受理 (respond)          1 working day after it reaches a level or a unit
即办 (immediate)        3 working days after it was accepted
阶段性 (staged)         the last milestone's date (each milestone has its own)
谅解 (understood)       done when classified: the explanation is the answer
转派 (assigned)         the working days the assigning level gives (1–60)
评价 (rating window)    5 working days after it was done
=====================  =========================================================

Every use case loads the matter, decides with the table, then writes with a conditional update
(``WHERE state = :from``) and records the move in ``mk_transitions`` (subject ``matter``).

Feedback (反馈, in the move's own transaction, :mod:`marketplace.outbox`): the wish's resident
(and who posted it for her) is told when a level takes the matter in (``matter.accepted``),
classifies it 谅解 with the explanation (``matter.understood``) and answers it
(``matter.answered``); when a matter is sent back, the office that now has it again (the
community that blew the whistle; for a unit's hand-back, the level that assigned it) is told with
the reason (``matter.returned``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from marketplace import lifecycle
from marketplace.calendars import calendar
from marketplace.errors import InvalidInput, NotFound
from marketplace.lifecycle import (
    ESCALATING_WISH_STATES,
    OFFICE,
    OPEN_MATTER_STATES,
    TOP_LEVEL,
    UNIT,
    Act,
    Facts,
    MatterAction,
    MatterKind,
    MatterState,
    Role,
    decide_matter,
)
from marketplace.model import OrgKind
from marketplace.moves import load_wish
from marketplace.notices import STAFF, Notice
from marketplace.orgs import check_text, get_org
from marketplace.outbox import emit, write
from marketplace.schema import matters, milestones, transitions, wishes
from marketplace.standing import SYSTEM_ACTOR, standing
from marketplace.sweeps import escalation_reason
from marketplace.workdays import Calendar, china_day, deadline, end_of
from points import Cause, new_id, sqltypes

RESPOND_DAYS = 1
IMMEDIATE_DAYS = 3
RATING_DAYS = 5
MAX_ASSIGN_DAYS = 60
MAX_MILESTONES = 10
LEVEL_KINDS = {1: OrgKind.STREET, 2: OrgKind.DISTRICT}
LEVEL_NAMES = {1: "街道", 2: "区"}
"""Who took a matter in, as the resident reads it (``matter.accepted``)."""


class Matter(msgspec.Struct, frozen=True, kw_only=True):
    """One 吹哨事项: the wish handed up, where it is, who has it, and by when."""

    community_id: str
    id: str
    wish_id: str
    level: int  # 1 street, 2 district
    org_id: str  # the street or district it is at
    state: MatterState
    kind: MatterKind | None  # 三单, once accepted
    reason: str
    raised_by: str
    raised_at: dt.datetime
    handler_id: str  # who must act now: the level's org or the unit it was assigned to
    received_at: dt.datetime
    respond_by: dt.datetime
    responded_at: dt.datetime | None
    unit_id: str | None
    deadline_at: dt.datetime | None
    answer: str | None
    explanation: str | None
    done_at: dt.datetime | None
    on_time: bool | None
    rated_by: str | None
    rated_at: dt.datetime | None
    satisfaction: int | None
    rating_comment: str | None

    def due(self) -> dt.datetime:
        """What the handler is held to now: the deadline, or, before one is set, the response."""
        return self.deadline_at or self.respond_by

    def overdue(self, now: dt.datetime) -> bool:
        return self.state in OPEN_MATTER_STATES and now > self.due()


class Milestone(msgspec.Struct, frozen=True, kw_only=True):
    """A staged matter's step (阶段目标): what is due by which China date, and when it was done."""

    n: int
    title: str
    due_on: dt.date
    done_at: dt.datetime | None = None
    note: str | None = None


class MilestoneIn(msgspec.Struct, frozen=True, kw_only=True):
    title: str
    due_on: dt.date


def blow_whistle(
    conn: Connection, actor: str, community_id: str, wish_id: str, *, reason: str, now: dt.datetime
) -> Matter:
    """吹哨: the community's office hands an open wish up to its street, with the reason."""
    wish = load_wish(conn, community_id, wish_id)
    held = whistle_roles(conn, actor, community_id)
    lifecycle.require(Act.BLOW_WHISTLE, held, where="wish")
    check_text("reason", reason, 500)
    if wish.state not in ESCALATING_WISH_STATES:
        raise InvalidInput("wish_id", Cause("whistle_wish_state"))
    street = _above(conn, community_id, 1)
    return _raise(conn, actor, held, wish.community_id, wish.id, 1, street, reason, "raise", now)


def take_up(
    conn: Connection, actor: str, community_id: str, wish_id: str, *, now: dt.datetime
) -> Matter:
    """督办受理: the street or district takes up a wish the deadline sweep escalated to its level
    (nobody blew a whistle): a matter at that level, raised by the level itself, its reason the
    escalation's (``sweeps.escalation_reason``); then accepted, assigned or answered as any."""
    wish = load_wish(conn, community_id, wish_id)
    if wish.level < 1 or wish.state not in ESCALATING_WISH_STATES:
        raise InvalidInput("wish_id", Cause("whistle_wish_state"))
    level = min(wish.level, TOP_LEVEL)
    org = _above(conn, community_id, level)
    receiver = actor != SYSTEM_ACTOR and bool(
        standing(conn, actor).on(get_org(conn, org).path) & OFFICE
    )
    held = frozenset({Role.RECEIVER}) if receiver else frozenset()
    lifecycle.require(Act.TAKE_UP, held, where="wish")
    why = escalation_reason(0, level)
    return _raise(conn, actor, held, community_id, wish_id, level, org, why, "take_up", now)


def _raise(
    conn: Connection,
    actor: str,
    held: frozenset[Role],
    community_id: str,
    wish_id: str,
    level: int,
    org: str,
    reason: str,
    action: str,
    now: dt.datetime,
) -> Matter:
    """A new matter at ``org`` (level 1 or 2), to be taken in within 1 working day."""
    if conn.scalar(_OPEN_FOR_WISH, {"c": community_id, "w": wish_id}) is not None:
        raise InvalidInput("wish_id", Cause("matter_open"))
    respond_by = deadline(calendar(conn), now, RESPOND_DAYS)
    matter_id = new_id()
    row: dict[str, Any] = {
        "community_id": community_id, "id": matter_id, "wish_id": wish_id, "level": level,
        "org_id": org, "state": MatterState.RAISED.value, "kind": None, "reason": reason,
        "raised_by": actor, "raised_at": now, "handler_id": org, "received_at": now,
        "respond_by": respond_by, "responded_at": None, "unit_id": None, "deadline_at": None,
        "answer": None, "explanation": None, "done_at": None, "on_time": None, "rated_by": None,
        "rated_at": None, "satisfaction": None, "rating_comment": None,
    }  # fmt: skip
    conn.execute(matters.insert().values(**row))
    _record(conn, community_id, matter_id, action, "new", "raised", actor, held, reason, now)
    return load_matter(conn, community_id, matter_id)


def accept(
    conn: Connection,
    actor: str,
    community_id: str,
    matter_id: str,
    *,
    kind: MatterKind,
    steps: Sequence[MilestoneIn] = (),
    now: dt.datetime,
) -> Matter:
    """受理: take the matter in and sort it into 即办 (done within 3 working days) or 阶段性
    (milestones with dates; the last one is the deadline). 谅解 is :func:`explain`."""
    kind = MatterKind(kind)
    if kind is MatterKind.UNDERSTOOD:
        raise InvalidInput("kind", Cause("not_staged"))
    if kind is MatterKind.IMMEDIATE and steps:
        raise InvalidInput("milestones", Cause("not_staged"))
    today = china_day(now)
    if kind is MatterKind.STAGED and (
        not 1 <= len(steps) <= MAX_MILESTONES or any(s.due_on <= today for s in steps)
    ):
        raise InvalidInput("milestones", Cause("staged_milestones", {"high": MAX_MILESTONES}))
    for step in steps:
        check_text("milestones.title", step.title, 100)

    def plan(matter: Matter, cal: Calendar) -> dict[str, Any]:
        if kind is MatterKind.IMMEDIATE:
            due = deadline(cal, now, IMMEDIATE_DAYS)
        else:
            due = end_of(max(s.due_on for s in steps))
        return {"kind": kind.value, "deadline_at": due}

    moved = _act(conn, actor, community_id, matter_id, MatterAction.ACCEPT, plan, now, kind.value)
    if steps:
        ordered = sorted(steps, key=lambda s: s.due_on)
        conn.execute(
            milestones.insert(),
            [
                {"community_id": community_id, "matter_id": matter_id, "n": n, "title": s.title,
                 "due_on": s.due_on.isoformat(), "done_at": None, "note": None}
                for n, s in enumerate(ordered, 1)
            ],
        )  # fmt: skip
    _tell_resident(conn, moved, "matter.accepted", now, kind=kind.value,
                   by=LEVEL_NAMES[moved.level])  # fmt: skip
    return moved


def explain(
    conn: Connection,
    actor: str,
    community_id: str,
    matter_id: str,
    *,
    explanation: str,
    now: dt.datetime,
) -> Matter:
    """谅解: it cannot be done now; the explanation given to the resident is recorded, and the
    matter is done (on the 谅解清单)."""
    check_text("explanation", explanation, 1000)

    def plan(matter: Matter, cal: Calendar) -> dict[str, Any]:
        return {
            "kind": MatterKind.UNDERSTOOD.value,
            "explanation": explanation,
            **_done(matter, now),
        }

    moved = _act(conn, actor, community_id, matter_id, MatterAction.EXPLAIN, plan, now,
                 explanation)  # fmt: skip
    _tell_resident(conn, moved, "matter.understood", now, explanation=explanation)
    return moved


def assign(
    conn: Connection,
    actor: str,
    community_id: str,
    matter_id: str,
    *,
    unit_id: str,
    days: int,
    now: dt.datetime,
) -> Matter:
    """转派: a unit or department (or, from the district, one of its streets) handles it, done
    within ``days`` working days; it has 1 working day to respond."""
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_ASSIGN_DAYS:
        raise InvalidInput("days", Cause("range", {"low": 1, "high": MAX_ASSIGN_DAYS}))
    unit = get_org(conn, unit_id)

    def plan(matter: Matter, cal: Calendar) -> dict[str, Any]:
        level = get_org(conn, matter.org_id)
        below = unit.kind is OrgKind.STREET and unit.path.startswith(level.path)
        if unit.kind is not OrgKind.UNIT and not (below and unit.id != level.id):
            raise InvalidInput("unit_id", Cause("assign_to"))
        return {
            "unit_id": unit.id,
            "handler_id": unit.id,
            "received_at": now,
            "respond_by": deadline(cal, now, RESPOND_DAYS),
            "responded_at": None,
            "deadline_at": deadline(cal, now, days),
        }

    why = f"{unit.name}（{days}个工作日）"
    return _act(conn, actor, community_id, matter_id, MatterAction.ASSIGN, plan, now, why)


def answer(
    conn: Connection, actor: str, community_id: str, matter_id: str, *, text: str, now: dt.datetime
) -> Matter:
    """答复办结: the result, told to the resident; the community's rating window opens."""
    check_text("answer", text, 1000)

    def plan(matter: Matter, cal: Calendar) -> dict[str, Any]:
        return {"answer": text, **_done(matter, now)}

    moved = _act(conn, actor, community_id, matter_id, MatterAction.ANSWER, plan, now, text)
    _tell_resident(conn, moved, "matter.answered", now, answer=text)
    return moved


def send_back(
    conn: Connection,
    actor: str,
    community_id: str,
    matter_id: str,
    *,
    reason: str,
    now: dt.datetime,
) -> Matter:
    """退回: the level sends a matter it has not taken in back to the community; a unit hands an
    assigned matter back to the level that assigned it. Both with the reason."""
    check_text("reason", reason, 500)

    def plan(matter: Matter, cal: Calendar) -> dict[str, Any]:
        if matter.state is MatterState.RAISED:
            return {"done_at": None}
        # back with the level, which keeps the deadline it gave
        return {"unit_id": None, "handler_id": matter.org_id, "received_at": now,
                "respond_by": deadline(cal, now, RESPOND_DAYS), "responded_at": now}  # fmt: skip

    moved = _act(conn, actor, community_id, matter_id, MatterAction.SEND_BACK, plan, now, reason)
    # back with the community that blew the whistle (returned), or with the level (accepted)
    level = 0 if moved.state is MatterState.RETURNED else moved.level
    title = _about(conn, moved).title
    told = {"wish_id": moved.wish_id, "title": title, "matter_id": moved.id, "reason": reason}
    write(conn, [Notice(community_id=community_id, type="matter.returned", member_id=None,
                        data=told, audience=STAFF, level=level)], now=now)  # fmt: skip
    return moved


def escalate(
    conn: Connection,
    actor: str,
    community_id: str,
    matter_id: str,
    *,
    reason: str,
    now: dt.datetime,
) -> Matter:
    """上报: the street hands the matter up to its district (to be taken in afresh)."""
    check_text("reason", reason, 500)

    def plan(matter: Matter, cal: Calendar) -> dict[str, Any]:
        district = _above(conn, community_id, 2)
        return {"level": 2, "org_id": district, "handler_id": district, "received_at": now,
                "respond_by": deadline(cal, now, RESPOND_DAYS), "responded_at": None,
                "kind": None, "deadline_at": None, "unit_id": None}  # fmt: skip

    moved = _act(conn, actor, community_id, matter_id, MatterAction.ESCALATE, plan, now, reason)
    conn.execute(
        milestones.delete().where(
            milestones.c.community_id == community_id, milestones.c.matter_id == matter_id
        )
    )
    return moved


def note(
    conn: Connection,
    actor: str,
    community_id: str,
    matter_id: str,
    *,
    text: str,
    milestone: int | None = None,
    now: dt.datetime,
) -> Matter:
    """进展: a progress note (shown to the resident), or a staged matter's milestone done."""
    check_text("note", text, 500)
    moved = _act(conn, actor, community_id, matter_id, MatterAction.NOTE, lambda m, c: {}, now,
                 text)  # fmt: skip
    if milestone is not None:
        done = conn.execute(
            milestones.update()
            .where(
                milestones.c.community_id == community_id,
                milestones.c.matter_id == matter_id,
                milestones.c.n == milestone,
                milestones.c.done_at.is_(None),
            )
            .values(done_at=now, note=text)
        )
        if done.rowcount != 1:
            raise InvalidInput("milestone", Cause("range", {"low": 1, "high": MAX_MILESTONES}))
    return moved


def rate(
    conn: Connection,
    actor: str,
    community_id: str,
    matter_id: str,
    *,
    satisfaction: int,
    comment: str = "",
    now: dt.datetime,
) -> Matter:
    """评价: the whistle-blowing community rates who handled the matter (1–5), within 5 working
    days after it was done."""
    if isinstance(satisfaction, bool) or satisfaction not in range(1, 6):
        raise InvalidInput("satisfaction", Cause("range", {"low": 1, "high": 5}))
    check_text("comment", comment, 500, required=False)

    def plan(matter: Matter, cal: Calendar) -> dict[str, Any]:
        return {"rated_by": actor, "rated_at": now, "satisfaction": satisfaction,
                "rating_comment": comment or None}  # fmt: skip

    why = f"{satisfaction}" + (f"：{comment}" if comment else "")
    return _act(conn, actor, community_id, matter_id, MatterAction.RATE, plan, now, why)


def load_matter(conn: Connection, community_id: str, matter_id: str) -> Matter:
    row = conn.execute(
        sa.select(matters).where(matters.c.community_id == community_id, matters.c.id == matter_id)
    ).first()
    if row is None:
        raise NotFound("matter", matter_id)
    return sqltypes.to_struct(row, Matter)


def matter_roles(conn: Connection, actor: str, matter: Matter) -> frozenset[Role]:
    """The actor's relations to the matter: whistler (office of its community itself), receiver
    (office of the street or district it is at, or above), handler (the office or admin of the
    unit it was assigned to). NotFound when none: they learn nothing of it."""
    if actor == SYSTEM_ACTOR:
        return frozenset({Role.SYSTEM})
    held = standing(conn, actor)
    found = set()
    if held.office_of(matter.community_id):
        found.add(Role.WHISTLER)
    if held.on(get_org(conn, matter.org_id).path) & OFFICE:
        found.add(Role.RECEIVER)
    if matter.unit_id is not None and held.on(get_org(conn, matter.unit_id).path) & (OFFICE | UNIT):
        found.add(Role.HANDLER)
    if not found:
        raise NotFound("matter", matter.id)
    return frozenset(found)


def matter_facts(matter: Matter, cal: Calendar, now: dt.datetime) -> Facts:
    """What the guards look at: the level, and whether the rating window is still open."""
    rating_open = matter.done_at is not None and now <= deadline(cal, matter.done_at, RATING_DAYS)
    return Facts(level=matter.level, rating_open=rating_open)


def milestones_of(conn: Connection, community_id: str, matter_id: str) -> list[Milestone]:
    rows = conn.execute(
        sa.select(milestones)
        .where(milestones.c.community_id == community_id, milestones.c.matter_id == matter_id)
        .order_by(milestones.c.n)
    )
    return [
        Milestone(
            n=r.n,
            title=r.title,
            due_on=dt.date.fromisoformat(r.due_on),
            done_at=r.done_at,
            note=r.note,
        )
        for r in rows
    ]


def _act(
    conn: Connection,
    actor: str,
    community_id: str,
    matter_id: str,
    action: MatterAction,
    plan: Callable[[Matter, Calendar], dict[str, Any]],
    now: dt.datetime,
    reason: str,
) -> Matter:
    """Load, decide with the table, write conditionally, record: one row of MATTER_TABLE."""
    matter = load_matter(conn, community_id, matter_id)
    held = matter_roles(conn, actor, matter)
    cal = calendar(conn)
    facts = matter_facts(matter, cal, now) if matter.state is MatterState.DONE else _LEVEL(matter)
    target = decide_matter(matter.state, action, held, facts)
    values = plan(matter, cal)
    if (
        action is not MatterAction.RATE
        and matter.responded_at is None
        and "responded_at" not in values
    ):
        acting_for = Role.HANDLER if matter.unit_id else Role.RECEIVER
        if acting_for in held:
            values["responded_at"] = now
    moved = conn.execute(
        matters.update()
        .where(
            matters.c.community_id == community_id,
            matters.c.id == matter_id,
            matters.c.state == matter.state.value,
            matters.c.handler_id == matter.handler_id,
        )
        .values(state=target.value, **values)
    )
    if moved.rowcount != 1:
        lifecycle.stale(action.value, load_matter(conn, community_id, matter_id).state.value,
                        subject="matter")  # fmt: skip
    _record(conn, community_id, matter_id, action.value, matter.state.value, target.value, actor,
            held, reason, now)  # fmt: skip
    return load_matter(conn, community_id, matter_id)


def _about(conn: Connection, matter: Matter) -> Any:
    """The matter's wish as a notice needs it: its title and whom it is for."""
    return conn.execute(
        sa.select(wishes.c.title, wishes.c.beneficiary_id, wishes.c.posted_by).where(
            wishes.c.community_id == matter.community_id, wishes.c.id == matter.wish_id
        )
    ).one()


def _tell_resident(
    conn: Connection, matter: Matter, type_: str, now: dt.datetime, **more: Any
) -> None:
    """反馈: the wish's resident (and who posted it for her, 代点单) learns what came of the
    matter, in the move's transaction. Nobody else's personal data: the wish, the matter, the
    level's words."""
    wish = _about(conn, matter)
    told = {"wish_id": matter.wish_id, "title": wish.title, "matter_id": matter.id, **more}
    to = dict.fromkeys(m for m in (wish.beneficiary_id, wish.posted_by) if m)
    emit(conn, matter.community_id, type_, told, to=to, now=now)


def _LEVEL(matter: Matter) -> Facts:
    return Facts(level=matter.level)


def _done(matter: Matter, now: dt.datetime) -> dict[str, Any]:
    return {"done_at": now, "on_time": now <= matter.due()}


def whistle_roles(conn: Connection, actor: str, community_id: str) -> frozenset[Role]:
    """Whistler, for the office of the community itself (not of the street above it): who may
    blow its whistle (``Act.BLOW_WHISTLE``) and rate what came of it."""
    if actor == SYSTEM_ACTOR:
        return frozenset({Role.SYSTEM})
    return (
        frozenset({Role.WHISTLER}) if standing(conn, actor).office_of(community_id) else frozenset()
    )


def _above(conn: Connection, community_id: str, level: int) -> str:
    """The id of the street (level 1) or district (level 2) above the community."""
    org = get_org(conn, community_id)
    while org.parent_id is not None:
        org = get_org(conn, org.parent_id)
        if org.kind is LEVEL_KINDS[level]:
            return org.id
    raise InvalidInput("community_id", Cause("no_level_above"))


def _record(
    conn: Connection,
    community_id: str,
    matter_id: str,
    action: str,
    from_state: str,
    to_state: str,
    actor: str,
    held: frozenset[Role],
    reason: str,
    now: dt.datetime,
) -> None:
    conn.execute(
        transitions.insert().values(
            community_id=community_id, id=new_id(), subject="matter", subject_id=matter_id,
            action=action, from_state=from_state, to_state=to_state, actor_id=actor,
            roles=sorted(r.value for r in held), reason=reason[:500], at=now,
        )
    )  # fmt: skip


_OPEN_FOR_WISH = (
    sa.select(matters.c.id)
    .where(
        matters.c.community_id == sa.bindparam("c"),
        matters.c.wish_id == sa.bindparam("w"),
        matters.c.state.in_(sorted(s.value for s in OPEN_MATTER_STATES)),
    )
    .limit(1)
)
