"""Escalation queues (吹哨报到): the open wishes each level of the hierarchy must act on.

A community's queue holds its open wishes with a deadline and its unresolved disputes; a street's,
the wishes of its communities escalated at least once (level ≥ 1); a district's, those escalated
twice (level 2).
Each is ordered by deadline, soonest first, so the most overdue wish leads. Office of the org or
above may read it (NotFound otherwise). It is a read across communities, never a write.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from marketplace import lifecycle
from marketplace.errors import InvalidInput, NotFound
from marketplace.lifecycle import ESCALATING_WISH_STATES, Act
from marketplace.model import OrgKind, Wish
from marketplace.orgs import check_id, get_org, roles_on
from marketplace.schema import orgs, wishes
from points import Cause, Page, sqltypes

LEVEL_OF = {OrgKind.COMMUNITY: 0, OrgKind.STREET: 1, OrgKind.DISTRICT: 2}
"""The lowest escalation level an org's queue shows."""
_FAR = dt.datetime(9999, 1, 1, tzinfo=dt.UTC)


def escalation_queue(
    conn: Connection,
    actor: str,
    org_id: str,
    *,
    cursor: str | None = None,
    limit: int = 50,
) -> Page:
    """The open and disputed wishes at or above the org's level, soonest deadline first. The
    cursor is ``<deadline as ISO text>|<community id>|<wish id>`` of the last item of the page
    before."""
    org = get_org(conn, org_id)
    if org.kind not in LEVEL_OF or not lifecycle.can(
        Act.SEE_ESCALATIONS, roles_on(conn, actor, org.path)
    ):
        raise NotFound("org", org_id)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 200:
        raise InvalidInput("limit", Cause("range", {"low": 1, "high": 200}))
    inside = sa.select(orgs.c.id).where(
        orgs.c.kind == OrgKind.COMMUNITY.value,
        orgs.c.path.startswith(org.path, autoescape=True),
    )
    query = sa.select(wishes).where(
        wishes.c.community_id.in_(inside),
        wishes.c.state.in_(sorted(s.value for s in ESCALATING_WISH_STATES)),
        wishes.c.deadline_at.is_not(None),
        wishes.c.level >= LEVEL_OF[org.kind],
    )
    if cursor is not None:
        deadline, community_id, wish_id = _parse(cursor)
        after = sa.tuple_(wishes.c.deadline_at, wishes.c.community_id, wishes.c.id) > sa.tuple_(
            sa.literal(deadline, wishes.c.deadline_at.type),
            sa.literal(community_id),
            sa.literal(wish_id),
        )
        query = query.where(after)
    query = query.order_by(wishes.c.deadline_at, wishes.c.community_id, wishes.c.id)
    rows = (conn.execute(query.limit(limit + 1))).all()
    items = tuple(sqltypes.to_struct(r, Wish) for r in rows[:limit])
    last = items[-1] if items and len(rows) > limit else None
    next_cursor = None
    if last is not None:
        stamp = (last.deadline_at or _FAR).isoformat()
        next_cursor = f"{stamp}|{last.community_id}|{last.id}"
    return Page(items=items, next_cursor=next_cursor)


def _parse(cursor: str) -> tuple[dt.datetime, str, str]:
    parts = cursor.split("|")
    if len(parts) != 3:
        raise InvalidInput("cursor", Cause("cursor"))
    try:
        deadline = dt.datetime.fromisoformat(parts[0])
    except ValueError:
        raise InvalidInput("cursor", Cause("cursor")) from None
    if deadline.tzinfo is None:
        raise InvalidInput("cursor", Cause("cursor"))
    return deadline, check_id("cursor", parts[1]), check_id("cursor", parts[2])
