"""Service (报到): showing up and signing out.

Check-in needs the resident's confirmation code (or a staff override, recorded) and, when both
sides give coordinates, a place within the community's distance. Check-out fixes the minutes
served and creates a *pending* accrual in the points ledger; the resident's confirmation posts
it. Each loads the claim with its wish in one statement (holding the wish's row on PostgreSQL, so
the claim counts it settles by cannot change under it), decides, then writes: a check-out by the
last volunteer serving is the accrual, the claim, the member's count, the wish, and one record of
both moves.

离线报到/签退: a phone that pressed 报到 or 签退 with no network sends it later with the time it
was pressed (``offline_at``); :func:`offline_time` decides whether that time is believable, and
the claim records that it was taken offline (``checked_in_offline``, ``checked_out_offline``).
扫码报到: instead of the code, the service may vouch for the wish a check-in token it signed
names (``token_wish``; the service verifies the token, the library compares the wish).
"""

from __future__ import annotations

import datetime as dt
import hmac
import math
from typing import Any

from sqlalchemy.engine import Connection

import points
from marketplace import lifecycle
from marketplace.errors import InvalidInput, TooFar, WrongCode
from marketplace.lifecycle import (
    Act,
    ClaimAction,
    ClaimState,
    WishAction,
    WishState,
    claim_action,
    decide_claim,
    decide_wish,
    wish_state_from_claims,
)
from marketplace.loads import Seen, see_claim
from marketplace.model import Claim, Point, WishKind
from marketplace.moves import (
    SETTLER,
    claim_update,
    record_all,
    transition,
    uncount_open,
    wish_update,
)
from marketplace.orgs import check_text
from marketplace.rollups import Change
from points import Cause, sqltypes, utcnow


def check_in(
    conn: Connection,
    actor: str,
    community_id: str,
    claim_id: str,
    *,
    code: str | None = None,
    token_wish: str | None = None,
    location: Point | None = None,
    override_reason: str | None = None,
    offline_at: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> Claim:
    """报到: start of service, with the resident's code (or the wish named by a check-in token the
    service verified, or a staff override, recorded); ``offline_at``: pressed offline then."""
    now = now or utcnow()
    seen = see_claim(conn, actor, community_id, claim_id, lock=True)
    c, wish = seen.claim, seen.wish
    assert c is not None
    held = seen.roles(c)
    decide_claim(c.state, ClaimAction.CHECK_IN, held)
    at = now if offline_at is None else offline_time(offline_at, since=c.created_at, now=now)
    override_by = None
    if override_reason is not None:
        lifecycle.require(Act.CHECK_IN_OVERRIDE, held, where=c.state.value)
        check_text("override_reason", override_reason, 200)
        override_by = actor
    elif token_wish is not None:
        if token_wish != wish.id:
            raise WrongCode(wish.id)
    elif code is None or not hmac.compare_digest(code.encode(), wish.confirmation_code.encode()):
        raise WrongCode(wish.id)
    if location is not None and wish.location is not None and seen.rules.checkin_distance_m:
        metres = distance_m(location, wish.location)
        if metres > seen.rules.checkin_distance_m:
            raise TooFar(wish.id, metres, seen.rules.checkin_distance_m)
    if at < wish.window_start - dt.timedelta(hours=2):
        raise InvalidInput("now", Cause("checkin_too_early", {"hours": 2}))
    moves = []  # in the order they happen: the wish's first, as before the split
    if wish.state in (WishState.PUBLISHED, WishState.CLAIMED):
        # The wish row before the claim's, as claims and releases take them.
        decide_wish(wish.state, WishAction.CHECK_IN, held)
        moved = conn.execute(_MOVE_WISH, _wish_at(seen, WishState.IN_SERVICE))
        if moved.rowcount != 1:
            lifecycle.stale(WishAction.CHECK_IN.value, wish.state.value)
        moves.append(_wish_move(seen, WishAction.CHECK_IN.value, WishState.IN_SERVICE, actor,
                                held, "", now))  # fmt: skip
    done = _set(seen, conn, _CHECKED_IN, ClaimState.CHECKED_IN, held,
                {"checked_in_at": at, "checked_in_offline": offline_at is not None,
                 "override_by": override_by})  # fmt: skip
    moves.append(_claim_move(seen, ClaimState.CHECKED_IN, actor, held, override_reason or "", now))
    record_all(conn, moves)
    return done


def check_out(
    conn: Connection,
    actor: str,
    community_id: str,
    claim_id: str,
    *,
    location: Point | None = None,
    offline_at: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> Claim:
    """签退: minutes served = check-out − check-in, bounded by the community's per-activity
    maximum; a pending accrual is created for them (posted on confirmation). ``offline_at``:
    pressed offline then (the minutes run to that time)."""
    now = now or utcnow()
    seen = see_claim(conn, actor, community_id, claim_id, policy=True, lock=True)
    c, wish = seen.claim, seen.wish
    assert c is not None
    assert seen.policy is not None
    held = seen.roles(c)
    decide_claim(c.state, ClaimAction.CHECK_OUT, held)
    assert c.checked_in_at is not None
    assert c.member_id is not None
    at = now if offline_at is None else offline_time(offline_at, since=c.checked_in_at, now=now)
    version, policy = seen.policy
    served = max(0, int((at - c.checked_in_at).total_seconds() // 60))
    minutes = min(served, policy.max_minutes_per_activity)
    award_id = None
    if wish.kind is WishKind.SERVICE and minutes > 0:
        award = points.accrue(
            conn,
            community_id=community_id,
            member_id=c.member_id,
            activity=points.Activity(
                minutes=minutes,
                category=wish.category,
                started_at=c.checked_in_at,
                key_household=bool(seen.resident and seen.resident.key_household),
            ),
            reference=f"claim:{c.id}",
            id=points.derived_id("award", c.id),
            pending=True,
            actor=actor,
            memo=wish.title,
            now=now,
            policy=(version, policy),
        )
        award_id = award.transfer.id if award.transfer else None
    done = _set(seen, conn, _CHECKED_OUT, ClaimState.CHECKED_OUT, held,
                {"checked_out_at": at, "checked_out_offline": offline_at is not None,
                 "minutes": minutes, "award_id": award_id})  # fmt: skip
    uncount_open(conn, community_id, c.member_id)
    moves = [_claim_move(seen, ClaimState.CHECKED_OUT, actor, held, "", now)]
    target = wish_state_from_claims(
        wish.state,
        capacity=wish.capacity,
        places_taken=wish.places_taken,
        serving=seen.serving - 1,  # this claim was serving; now it has served
        served=seen.served + 1,
    )
    if target is not wish.state:
        decide_wish(wish.state, WishAction.SETTLE, SETTLER)
        given = _wish_at(seen, target)
        if target is WishState.SERVED:  # the resident has auto_accept_days to confirm
            due = now + dt.timedelta(days=seen.rules.auto_accept_days)
            moved = conn.execute(_SERVED, {**given, "served_at": at, "deadline_at": due})
        else:
            moved = conn.execute(_MOVE_WISH, given)
        if moved.rowcount != 1:
            lifecycle.stale(WishAction.SETTLE.value, wish.state.value)
        moves.append(_wish_move(seen, WishAction.SETTLE.value, target, actor, SETTLER,
                                WishAction.CHECK_OUT.value, now))  # fmt: skip
    record_all(conn, moves)
    return done


OFFLINE_SKEW = dt.timedelta(minutes=5)
"""How far ahead of the service's clock a phone's clock may run."""
OFFLINE_WINDOW = dt.timedelta(hours=24)
"""How long a phone may hold an action taken offline before it must be sent."""


def offline_time(given: dt.datetime, *, since: dt.datetime, now: dt.datetime) -> dt.datetime:
    """The time a phone says it took an action offline, if believable: not before ``since`` (the
    claim for a check-in, the check-in for a check-out), not after ``now`` beyond the clock-skew
    allowance (a time within it counts as ``now``), not more than a day old."""
    if given.tzinfo is None:
        raise InvalidInput("offline_at", Cause("offline_time_zone"))
    if given > now + OFFLINE_SKEW:
        ahead = OFFLINE_SKEW // dt.timedelta(minutes=1)
        raise InvalidInput("offline_at", Cause("offline_time_future", {"minutes": ahead}))
    if given < now - OFFLINE_WINDOW:
        hours = OFFLINE_WINDOW // dt.timedelta(hours=1)
        raise InvalidInput("offline_at", Cause("offline_time_stale", {"hours": hours}))
    if given < since:
        raise InvalidInput("offline_at", Cause("offline_time_early"))
    return min(given, now)


def distance_m(a: Point, b: Point) -> int:
    """Great-circle distance in whole metres (haversine)."""
    lat1, lat2 = math.radians(a.lat), math.radians(b.lat)
    dlat, dlng = lat2 - lat1, math.radians(b.lng - a.lng)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlng / 2) ** 2
    return round(2 * 6_371_000 * math.asin(math.sqrt(h)))


def _set(
    seen: Seen,
    conn: Connection,
    statement: Any,
    target: ClaimState,
    held: frozenset[lifecycle.Role],
    values: dict[str, Any],
) -> Claim:
    """The claim moved from the state it was loaded in (a conditional update)."""
    c = seen.claim
    assert c is not None
    given = {"the_community": c.community_id, "the_claim": c.id, "was": c.state.value}
    moved = conn.execute(statement, {**given, "to": target.value, **values}).first()
    if moved is None:
        lifecycle.stale(claim_action(c.state, target), c.state.value, subject="claim")
    return sqltypes.to_struct(moved, Claim)


def _claim_move(
    seen: Seen,
    target: ClaimState,
    actor: str,
    held: frozenset[lifecycle.Role],
    reason: str,
    now: dt.datetime,
) -> Change:
    c = seen.claim
    assert c is not None
    action = claim_action(c.state, target)
    return transition(c.community_id, "claim", c.id, action, c.state.value, target.value, actor,
                      held, reason, now, wish=seen.wish, claim=c)  # fmt: skip


def _wish_move(
    seen: Seen,
    action: str,
    target: WishState,
    actor: str,
    held: frozenset[lifecycle.Role],
    reason: str,
    now: dt.datetime,
) -> Change:
    w = seen.wish
    return transition(w.community_id, "wish", w.id, action, w.state.value, target.value, actor,
                      held, reason, now, wish=w)  # fmt: skip


def _wish_at(seen: Seen, target: WishState) -> dict[str, Any]:
    w = seen.wish
    return {"the_community": w.community_id, "the_wish": w.id, "was": w.state.value,
            "to": target.value}  # fmt: skip


_CHECKED_IN = claim_update("checked_in_at", "checked_in_offline", "override_by")
_CHECKED_OUT = claim_update("award_id", "checked_out_at", "checked_out_offline", "minutes")
_MOVE_WISH = wish_update()
_SERVED = wish_update("deadline_at", "served_at")
