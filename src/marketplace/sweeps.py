"""Background sweeps, driven by an explicit ``now`` (tests inject the clock; nothing sleeps).

- :func:`escalate_due` (吹哨报到): a wish past its deadline moves up a level (community → street →
  district), shows on that level's queue, and its deadline restarts. A dispute staff have not
  resolved escalates too (``ESCALATING_WISH_STATES``), due like a verification.
- :func:`auto_accept_due`: a served wish nobody confirmed in time is accepted as the system.
- :func:`release_no_shows`: a claim not checked in by the end of the window is released and
  counted against the member; a unit's places it never assigned are released too.
- :func:`expire_wishes`: a published wish whose window has passed with nobody serving expires.

Each item is handled in a savepoint with a conditional update, so several processes sweeping at
once handle each due item exactly once (on PostgreSQL they also skip rows another sweeper holds).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from marketplace.completion import confirm
from marketplace.errors import MarketplaceError
from marketplace.lifecycle import (
    ESCALATING_WISH_STATES,
    ClaimState,
    Role,
    WishAction,
    WishState,
    decide_wish,
)
from marketplace.moves import load_wish, move, record
from marketplace.orgs import SYSTEM, community_rules
from marketplace.releases import release_no_show
from marketplace.rules import MAX_LEVEL, Deadlines
from marketplace.schema import claims, wishes
from points import PointsError, utcnow


class SweepResult(msgspec.Struct, frozen=True, kw_only=True):
    handled: tuple[str, ...]  # ids of the wishes or claims acted on
    skipped: int  # due items another process (or a user) settled first


def escalate_due(
    conn: Connection, *, now: dt.datetime | None = None, limit: int = 500
) -> SweepResult:
    now = now or utcnow()
    due = _due(
        conn,
        sa.select(wishes.c.community_id, wishes.c.id).where(
            wishes.c.deadline_at <= now,
            wishes.c.state.in_(sorted(s.value for s in ESCALATING_WISH_STATES)),
        ),
        limit,
    )

    def escalate(community_id: str, wish_id: str) -> bool:
        wish = load_wish(conn, community_id, wish_id)
        due = wish.deadline_at
        if due is None or due > now or wish.state not in ESCALATING_WISH_STATES:
            return False
        decide_wish(wish.state, WishAction.ESCALATE, frozenset({Role.SYSTEM}))
        rules = community_rules(conn, community_id)
        level = min(wish.level + 1, MAX_LEVEL)
        deadline = now + dt.timedelta(
            hours=_stage_hours(rules.deadlines_for(wish.category), wish.state)
        )
        moved = conn.execute(
            wishes.update()
            .where(
                wishes.c.community_id == community_id,
                wishes.c.id == wish_id,
                wishes.c.state == wish.state.value,
                wishes.c.deadline_at == wish.deadline_at,
            )
            .values(level=level, deadline_at=deadline)
        )
        if moved.rowcount != 1:
            return False
        record(
            conn,
            community_id,
            "wish",
            wish_id,
            WishAction.ESCALATE.value,
            wish.state.value,
            wish.state.value,
            SYSTEM,
            frozenset({Role.SYSTEM}),
            escalation_reason(wish.level, level),
            now,
            wish=wish,
        )
        return True

    return _each(conn, due, escalate)


def auto_accept_due(
    conn: Connection, *, now: dt.datetime | None = None, limit: int = 500
) -> SweepResult:
    now = now or utcnow()
    due = _due(
        conn,
        sa.select(wishes.c.community_id, wishes.c.id).where(
            wishes.c.state == WishState.SERVED.value, wishes.c.deadline_at <= now
        ),
        limit,
    )

    def accept(community_id: str, wish_id: str) -> bool:
        confirm(conn, SYSTEM, community_id, wish_id, now=now)
        return True

    return _each(conn, due, accept)


def release_no_shows(
    conn: Connection, *, now: dt.datetime | None = None, limit: int = 500
) -> SweepResult:
    now = now or utcnow()
    due = _due(
        conn,
        sa.select(claims.c.community_id, claims.c.id)
        .join(
            wishes,
            sa.and_(
                wishes.c.community_id == claims.c.community_id, wishes.c.id == claims.c.wish_id
            ),
        )
        .where(
            claims.c.state == ClaimState.ACTIVE.value,
            # a member's claim, or a unit's places it never assigned
            sa.or_(claims.c.member_id.is_not(None), claims.c.places > 0),
            wishes.c.window_end <= now,
        ),
        limit,
        of=claims,
    )

    def release(community_id: str, claim_id: str) -> bool:
        release_no_show(conn, SYSTEM, community_id, claim_id, now=now)
        return True

    return _each(conn, due, release)


def expire_wishes(
    conn: Connection, *, now: dt.datetime | None = None, limit: int = 500
) -> SweepResult:
    now = now or utcnow()
    due = _due(
        conn,
        sa.select(wishes.c.community_id, wishes.c.id).where(
            wishes.c.state == WishState.PUBLISHED.value,
            wishes.c.window_end <= now,
            wishes.c.places_taken == 0,
        ),
        limit,
    )

    def expire(community_id: str, wish_id: str) -> bool:
        wish = load_wish(conn, community_id, wish_id)
        move(
            conn,
            SYSTEM,
            wish,
            WishAction.EXPIRE,
            now=now,
            roles=frozenset({Role.SYSTEM}),
            values={"closed_at": now, "deadline_at": None},
        )
        return True

    return _each(conn, due, expire)


def _stage_hours(deadlines: Deadlines, state: WishState) -> int:
    """Hours to act on a wish in ``state``: staff's turn (verify it, resolve its dispute) has
    ``verify_hours``, a published wish's claim ``claim_hours``, the rest ``complete_hours``."""
    if state in (WishState.SUBMITTED, WishState.DISPUTED):
        return deadlines.verify_hours
    if state is WishState.PUBLISHED:
        return deadlines.claim_hours
    return deadlines.complete_hours


def _due(
    conn: Connection, query: sa.Select[Any], limit: int, of: sa.Table = wishes
) -> list[tuple[str, str]]:
    if conn.dialect.name != "sqlite":
        query = query.with_for_update(skip_locked=True, of=of)
    rows = (conn.execute(query.limit(limit))).all()
    return [(str(r._mapping["community_id"]), str(r._mapping["id"])) for r in rows]


_ESCALATED = re.compile(r"^level (\d+) → (\d+)$")


def escalation_reason(level: int, to: int) -> str:
    """The reason an escalation (吹哨) records: the levels it moved between (0 community, 1 street,
    2 district), read back by :func:`escalation_levels`."""
    return f"level {level} → {to}"


def escalation_levels(reason: str) -> tuple[int, int] | None:
    """The levels an escalation's recorded reason names (None: not an escalation's reason)."""
    found = _ESCALATED.match(reason)
    return (int(found[1]), int(found[2])) if found else None


def _each(
    conn: Connection,
    due: list[tuple[str, str]],
    act: Callable[[str, str], bool],
) -> SweepResult:
    handled, skipped = [], 0
    for community_id, item_id in due:
        try:
            with conn.begin_nested():
                done = act(community_id, item_id)
        except (MarketplaceError, PointsError):  # settled meanwhile, or refused: skip it
            done = False
        if done:
            handled.append(item_id)
        else:
            skipped += 1
    return SweepResult(handled=tuple(handled), skipped=skipped)
