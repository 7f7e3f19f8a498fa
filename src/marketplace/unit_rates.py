"""三率 of the units paired with an area's communities (结对共建单位的三率), from their claims.

A wish is a unit's when it holds a claim by the unit (``claims.unit_id``, the places it assigned
included) or by a member whose home unit it is (``members.home_unit_id``, as of the query: a
member who moves to another unit takes their past wishes along, which a rollup written at claim
time could not follow, so these figures are read from the claims, one query over the area's,
run only when a unit is paired). Response: of its wishes published in the period, those where its
earliest claim came within the claim deadline; resolution and satisfaction as for a community,
over its wishes where one of its claims was checked out (:mod:`marketplace.stats`).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from marketplace.lifecycle import WishAction, WishState
from marketplace.periods import Period
from marketplace.rules import DEFAULT_RULES, CommunityRules
from marketplace.schema import claims, members, transitions, wishes

CONFIRMING = (WishAction.CONFIRM, WishAction.RESOLVE_FOR_VOLUNTEER)


def unit_tallies(
    conn: Connection,
    inside: sa.Select[tuple[str]],
    paired: sa.Select[tuple[str]],
    rules: dict[str, CommunityRules],
    period: Period,
) -> dict[str, Counter[str]]:
    """The units' figures, from their claims and the wishes those are on (one row per unit and
    wish; a unit's is the earliest claim and the last check-out of its own)."""
    w, c = wishes, claims
    touched = sa.or_(*(period.holds(s) for s in (w.c.published_at, w.c.served_at, w.c.closed_at)))
    resolved = sa.case((_resolved(), 1), else_=0)
    facts = (w.c.category, w.c.published_at, w.c.served_at, w.c.closed_at, w.c.rating, resolved)
    unit = sa.func.coalesce(c.c.unit_id, members.c.home_unit_id)
    on_wish = sa.and_(w.c.community_id == c.c.community_id, w.c.id == c.c.wish_id)
    by_unit = (
        sa.select(unit, w.c.community_id, *facts)
        .add_columns(sa.func.min(c.c.created_at), sa.func.max(c.c.checked_out_at))
        .select_from(c.join(w, on_wish).outerjoin(members, members.c.id == c.c.member_id))
        .where(c.c.community_id.in_(inside), unit.in_(paired), touched)
        .group_by(unit, w.c.community_id, w.c.id, w.c.state, *facts[:-1])
    )
    tallies: dict[str, Counter[str]] = {}
    for row in conn.execute(by_unit):
        key, community_id, category, published, served, closed, rating, done, first, took = row
        n = tallies.setdefault(key, Counter())
        n["claimed"] += first in period
        if published in period:
            deadlines = rules.get(community_id, DEFAULT_RULES).deadlines_for(category)
            deadline = published + dt.timedelta(hours=deadlines.claim_hours)
            n["published"] += 1
            n["answered"] += first is not None and first <= deadline
        if took is not None and served in period:
            n["completed"] += 1
            n["resolved"] += done
        if took is not None and rating is not None and closed in period:
            n["rated"] += 1
            n["satisfied"] += rating >= 4
    return tallies


def _resolved() -> sa.ColumnElement[bool]:
    """办结: the wish is closed through a confirmation, not through a dispute lost."""
    t = transitions
    return sa.and_(
        wishes.c.state == WishState.CLOSED.value,
        wishes.c.closed_at.is_not(None),
        sa.exists().where(
            t.c.community_id == wishes.c.community_id,
            t.c.subject_id == wishes.c.id,
            t.c.subject == "wish",
            t.c.action.in_(CONFIRMING),
        ),
    )
