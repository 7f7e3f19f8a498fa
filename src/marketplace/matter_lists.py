"""Reading matters (吹哨事项): a level's or a unit's queue, one wish's matters, the public board.

- :func:`matter_queue`: the open matters an org must act on (a street or district: those at its
  level, assigned onwards or not; a unit: those assigned to it), soonest due first, so the overdue
  lead; each line says whether it is overdue. Office of the org or above (or the unit's admin).
  A read across communities, never a write.
- :func:`wish_matters`: one wish's matters, newest first, with their milestones, for whoever may
  see the wish (the caller has asked :func:`marketplace.wish_view` first).
- :func:`board_matters`: the community's 三单 for its public board (公示): the list each matter
  is on, its category, level, state and dates, who handles it (an org's name); never the wish's
  title, description, address, resident, the reasons or the answers.
"""

from __future__ import annotations

import datetime as dt

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from marketplace import lifecycle
from marketplace.errors import InvalidInput, NotFound
from marketplace.lifecycle import OPEN_MATTER_STATES, Act, MatterKind, MatterState
from marketplace.matters import Matter, Milestone, milestones_of, whistle_roles
from marketplace.model import OrgKind
from marketplace.orgs import check_id, get_org, roles_on
from marketplace.schema import matters, milestones, orgs, wishes
from marketplace.workdays import china_day
from points import Cause, sqltypes

QUEUE_KINDS = frozenset({OrgKind.STREET, OrgKind.DISTRICT, OrgKind.UNIT})


class QueueLine(msgspec.Struct, frozen=True, kw_only=True):
    matter: Matter
    title: str  # the wish's title (office only: the queue is theirs)
    category: str
    community: str  # the community's name
    overdue: bool


class BoardStep(msgspec.Struct, frozen=True, kw_only=True):
    """A staged matter's milestone as the public sees it."""

    title: str
    due_on: dt.date
    done: bool


class BoardLine(msgspec.Struct, frozen=True, kw_only=True):
    """One matter on the community's public board: nothing personal."""

    kind: MatterKind
    category: str
    level: int
    state: MatterState
    handler: str  # the name of the org handling it (a street, district, unit or department)
    raised_on: dt.date
    due_on: dt.date | None
    done_on: dt.date | None
    on_time: bool | None
    milestones: tuple[BoardStep, ...] = ()


class WishMatter(msgspec.Struct, frozen=True, kw_only=True):
    matter: Matter
    milestones: tuple[Milestone, ...]
    org: str  # the street's or district's name
    unit: str | None  # the name of the unit it was assigned to


def matter_queue(
    conn: Connection, actor: str, org_id: str, *, now: dt.datetime, limit: int = 50
) -> list[QueueLine]:
    """The open matters the org must act on, soonest due first (at most ``limit``)."""
    org = get_org(conn, org_id)
    if org.kind not in QUEUE_KINDS or not lifecycle.can(
        Act.SEE_MATTERS, roles_on(conn, actor, org.path)
    ):
        raise NotFound("org", org_id)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 200:
        raise InvalidInput("limit", Cause("range", {"low": 1, "high": 200}))
    due = sa.func.coalesce(matters.c.deadline_at, matters.c.respond_by)
    return _lines(
        conn,
        sa.and_(
            sa.or_(matters.c.org_id == org_id, matters.c.handler_id == org_id),
            matters.c.state.in_(sorted(s.value for s in OPEN_MATTER_STATES)),
        ),
        (due, matters.c.community_id, matters.c.id),
        now,
        limit,
    )


def assignees(conn: Connection, matter: Matter) -> list[tuple[str, str]]:
    """Who a matter may be assigned to (转派), as ``(id, name)``: the units and departments, and
    the streets under a district the matter is at."""
    level = get_org(conn, matter.org_id)
    street_below = sa.and_(
        orgs.c.kind == OrgKind.STREET.value,
        orgs.c.path.startswith(level.path, autoescape=True),
        orgs.c.id != level.id,
    )
    rows = conn.execute(
        sa.select(orgs.c.id, orgs.c.name)
        .where(sa.or_(orgs.c.kind == OrgKind.UNIT.value, street_below))
        .order_by(orgs.c.kind, orgs.c.name, orgs.c.id)
        .limit(200)
    )
    return [(r.id, r.name) for r in rows]


def _lines(
    conn: Connection,
    where: sa.ColumnElement[bool],
    order: tuple[sa.ColumnElement[object], ...],
    now: dt.datetime,
    limit: int,
) -> list[QueueLine]:
    community = orgs.alias("community")
    rows = conn.execute(
        sa.select(
            matters,
            wishes.c.title.label("w_title"),
            wishes.c.category.label("w_category"),
            community.c.name.label("c_name"),
        )
        .join(
            wishes,
            sa.and_(
                wishes.c.community_id == matters.c.community_id, wishes.c.id == matters.c.wish_id
            ),
        )
        .join(community, community.c.id == matters.c.community_id)
        .where(where)
        .order_by(*order)
        .limit(limit)
    ).all()
    lines = []
    for r in rows:
        matter = sqltypes.to_struct(r, Matter)
        lines.append(
            QueueLine(
                matter=matter,
                title=r.w_title,
                category=r.w_category,
                community=r.c_name,
                overdue=matter.overdue(now),
            )
        )
    return lines


def community_matters(
    conn: Connection, actor: str, community_id: str, *, now: dt.datetime, limit: int = 50
) -> list[QueueLine]:
    """The matters the community handed up (its office only), newest first: the open ones,
    and the done ones it may still rate."""
    lifecycle.require(Act.BLOW_WHISTLE, whistle_roles(conn, actor, community_id), where="org")
    return _lines(
        conn,
        sa.and_(
            matters.c.community_id == community_id,
            matters.c.state.in_(sorted(s.value for s in OPEN_MATTER_STATES | {MatterState.DONE})),
        ),
        (matters.c.raised_at.desc(), matters.c.id),
        now,
        limit,
    )


def wish_matters(conn: Connection, community_id: str, wish_id: str) -> list[WishMatter]:
    """The wish's matters, newest first, with milestones and the names of who handles them."""
    rows = conn.execute(
        sa.select(matters)
        .where(matters.c.community_id == community_id, matters.c.wish_id == wish_id)
        .order_by(matters.c.raised_at.desc(), matters.c.id)
    ).all()
    found = [sqltypes.to_struct(r, Matter) for r in rows]
    names = _names(conn, {m.org_id for m in found} | {m.unit_id for m in found if m.unit_id})
    return [
        WishMatter(
            matter=m,
            milestones=tuple(milestones_of(conn, community_id, m.id)),
            org=names.get(m.org_id, m.org_id),
            unit=names.get(m.unit_id, m.unit_id) if m.unit_id else None,
        )
        for m in found
    ]


def board_matters(conn: Connection, community_id: str, *, limit: int = 100) -> list[BoardLine]:
    """The community's sorted matters (三单) for its public board, newest first."""
    check_id("community_id", community_id)
    community = get_org(conn, community_id)
    if community.kind is not OrgKind.COMMUNITY:
        raise NotFound("community", community_id)
    handler = orgs.alias("handler")
    rows = conn.execute(
        sa.select(matters, wishes.c.category.label("w_category"), handler.c.name.label("h_name"))
        .join(
            wishes,
            sa.and_(
                wishes.c.community_id == matters.c.community_id, wishes.c.id == matters.c.wish_id
            ),
        )
        .join(handler, handler.c.id == matters.c.handler_id)
        .where(matters.c.community_id == community_id, matters.c.kind.is_not(None))
        .order_by(matters.c.raised_at.desc(), matters.c.id)
        .limit(limit)
    ).all()
    steps: dict[str, list[BoardStep]] = {}
    staged = [r.id for r in rows if r.kind == MatterKind.STAGED.value]
    if staged:
        for s in conn.execute(
            sa.select(milestones)
            .where(milestones.c.community_id == community_id, milestones.c.matter_id.in_(staged))
            .order_by(milestones.c.matter_id, milestones.c.n)
        ):
            steps.setdefault(s.matter_id, []).append(
                BoardStep(
                    title=s.title,
                    due_on=dt.date.fromisoformat(s.due_on),
                    done=s.done_at is not None,
                )
            )
    return [
        BoardLine(
            kind=MatterKind(r.kind),
            category=r.w_category,
            level=r.level,
            state=MatterState(r.state),
            handler=r.h_name,
            raised_on=_day(r.raised_at),
            due_on=_day(r.deadline_at) if r.deadline_at else None,
            done_on=_day(r.done_at) if r.done_at else None,
            on_time=r.on_time,
            milestones=tuple(steps.get(r.id, ())),
        )
        for r in rows
    ]


def _day(moment: dt.datetime) -> dt.date:
    """The China date a moment falls on; a deadline (24:00) is shown as the day it ends."""
    return china_day(moment - dt.timedelta(microseconds=1))


def _names(conn: Connection, ids: set[str]) -> dict[str, str]:
    if not ids:
        return {}
    return {
        r.id: r.name
        for r in conn.execute(sa.select(orgs.c.id, orgs.c.name).where(orgs.c.id.in_(ids)))
    }
