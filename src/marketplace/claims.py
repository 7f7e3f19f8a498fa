"""Claims (认领/接单) and service (报到): taking a place on a wish, showing up, signing out.

A member claims a place; a unit claims several and its admin then names members for them
(县直单位接单 → 党员认领); staff may dispatch (派单) a member directly. Three conditional
``UPDATE``s keep the promises under any concurrency: the wish's ``places_taken`` never passes its
capacity, a member's open claims never pass the community's limit, and a partial unique index
keeps one active claim per member and wish.

Check-in needs the resident's confirmation code (or a staff override, recorded) and, when both
sides give coordinates, a place within the community's distance. Check-out fixes the minutes
served and creates a *pending* accrual in the points ledger; confirmation posts it.
"""

from __future__ import annotations

import datetime as dt
import hmac
import math
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

import points
from marketplace.errors import (
    AlreadyClaimed,
    CapacityFull,
    ClaimLimitReached,
    InvalidInput,
    NotAllowed,
    NotFound,
    TooFar,
    WrongCode,
)
from marketplace.lifecycle import (
    CLAIM_TABLE,
    ClaimAction,
    ClaimState,
    Role,
    WishAction,
    WishState,
    decide_claim,
    decide_wish,
    wish_state_from_claims,
)
from marketplace.model import Claim, Point, Wish, WishKind
from marketplace.orgs import check_id, check_text, community_rules, get_member, roles_on
from marketplace.schema import claims, member_load, wishes
from marketplace.wishes import claims_of, load_wish, move, record, roles_for
from points import new_id, sqltypes, utcnow

CLAIMING = frozenset({Role.VOLUNTEER, Role.PARTY_MEMBER})
OFFICE = frozenset({Role.STAFF, Role.ADMIN})


def claim(
    conn: Connection,
    actor: str,
    community_id: str,
    wish_id: str,
    *,
    id: str | None = None,
    now: dt.datetime | None = None,
) -> Claim:
    """接单: the actor takes one place on a published wish."""
    now = now or utcnow()
    wish = load_wish(conn, community_id, wish_id)
    held = roles_for(conn, actor, wish)
    if Role.BENEFICIARY in held or Role.POSTER in held:
        raise NotAllowed("claim", wish.state.value, held, frozenset({Role.VOLUNTEER}))
    decide_wish(wish.state, WishAction.CLAIM, held & CLAIMING)
    return _take(
        conn,
        actor,
        held,
        wish,
        member_id=actor,
        unit_id=None,
        places=1,
        parent_id=None,
        action="claim",
        claim_id=id,
        now=now,
    )


def dispatch(
    conn: Connection,
    actor: str,
    community_id: str,
    wish_id: str,
    member_id: str,
    *,
    now: dt.datetime | None = None,
) -> Claim:
    """派单: staff give a place to a member who volunteers in the community."""
    now = now or utcnow()
    wish = load_wish(conn, community_id, wish_id)
    held = roles_for(conn, actor, wish)
    decide_wish(wish.state, WishAction.DISPATCH, held)
    try:
        their = roles_for(conn, member_id, wish)
    except NotFound:
        their = frozenset()
    if not their & CLAIMING or their & {Role.BENEFICIARY, Role.POSTER}:
        raise InvalidInput("member_id", "must be a volunteer or party member of the community")
    return _take(
        conn,
        actor,
        held,
        wish,
        member_id=member_id,
        unit_id=None,
        places=1,
        parent_id=None,
        action="dispatch",
        claim_id=None,
        now=now,
    )


def claim_for_unit(
    conn: Connection,
    actor: str,
    community_id: str,
    wish_id: str,
    unit_id: str,
    *,
    places: int = 1,
    now: dt.datetime | None = None,
) -> Claim:
    """单位接单: a paired unit's admin takes ``places`` places, to assign to members later."""
    now = now or utcnow()
    if isinstance(places, bool) or not isinstance(places, int) or not 1 <= places <= 100:
        raise InvalidInput("places", "must be 1 to 100")
    wish = load_wish(conn, community_id, wish_id)
    unit_roles = roles_on(conn, actor, f"/{unit_id}/")
    held = roles_for(conn, actor, wish)
    own = held & {Role.BENEFICIARY, Role.POSTER}  # nobody takes their own wish, as in claim()
    if Role.UNIT_ADMIN not in unit_roles or Role.UNIT_ADMIN not in held or own:
        raise NotAllowed("claim_for_unit", wish.state.value, held, frozenset({Role.UNIT_ADMIN}))
    decide_wish(wish.state, WishAction.CLAIM, frozenset({Role.UNIT_ADMIN}))
    return _take(
        conn,
        actor,
        held,
        wish,
        member_id=None,
        unit_id=unit_id,
        places=places,
        parent_id=None,
        action="claim_for_unit",
        claim_id=None,
        now=now,
    )


def assign(
    conn: Connection,
    actor: str,
    community_id: str,
    unit_claim_id: str,
    member_id: str,
    *,
    now: dt.datetime | None = None,
) -> Claim:
    """党员认领: the unit's admin names a member of the unit for one of its places."""
    now = now or utcnow()
    unit_claim = load_claim(conn, community_id, unit_claim_id)
    wish = load_wish(conn, community_id, unit_claim.wish_id)
    seen = roles_for(conn, actor, wish, unit_claim)  # NotFound before telling its kind
    if unit_claim.unit_id is None or unit_claim.member_id is not None:
        raise InvalidInput("unit_claim_id", "is not a unit's claim")
    unit_roles = roles_on(conn, actor, f"/{unit_claim.unit_id}/")
    unit_roles |= seen & OFFICE  # staff may assign too
    decide_claim(unit_claim.state, ClaimAction.ASSIGN, unit_roles)
    member = get_member(conn, member_id)
    if member.home_unit_id != unit_claim.unit_id:
        raise InvalidInput("member_id", "must be a member of the unit")
    if member_id in (wish.beneficiary_id, wish.posted_by):
        raise InvalidInput("member_id", "cannot serve their own wish")
    taken = conn.execute(
        claims.update()
        .where(_key(unit_claim), claims.c.state == ClaimState.ACTIVE.value, claims.c.places >= 1)
        .values(places=claims.c.places - 1)
    )
    if taken.rowcount != 1:
        raise CapacityFull(wish.id, wish.capacity)
    rules = community_rules(conn, community_id)
    _count_open(conn, community_id, member_id, rules.claim_limit)
    made = _insert_claim(conn, wish, member_id, unit_claim.unit_id, 1, unit_claim.id, None, now)
    record(
        conn, community_id, "claim", made.id, "assign", "new", "active", actor, unit_roles, "", now
    )
    return made


def withdraw(
    conn: Connection,
    actor: str,
    community_id: str,
    claim_id: str,
    *,
    reason: str = "",
    now: dt.datetime | None = None,
) -> Claim:
    """退单: give the place back before check-in."""
    return _release(
        conn,
        actor,
        community_id,
        claim_id,
        ClaimAction.WITHDRAW,
        WishAction.WITHDRAW,
        reason,
        now or utcnow(),
    )


def release_no_show(
    conn: Connection,
    actor: str,
    community_id: str,
    claim_id: str,
    *,
    now: dt.datetime | None = None,
) -> Claim:
    """爽约: a claim not checked in by the end of the window; counted against the member."""
    now = now or utcnow()
    done = _release(
        conn,
        actor,
        community_id,
        claim_id,
        ClaimAction.NO_SHOW,
        WishAction.NO_SHOW,
        "未按时报到",
        now,
    )
    if done.member_id is not None:
        conn.execute(
            member_load.update()
            .where(
                member_load.c.community_id == community_id,
                member_load.c.member_id == done.member_id,
            )
            .values(no_shows=member_load.c.no_shows + 1)
        )
    return done


def cancel(
    conn: Connection,
    actor: str,
    community_id: str,
    wish_id: str,
    *,
    reason: str,
    now: dt.datetime | None = None,
) -> Wish:
    """取消: the resident (before anyone claims) or staff withdraw the wish; claims are released."""
    now = now or utcnow()
    check_text("reason", reason, 500)
    wish = load_wish(conn, community_id, wish_id)
    held = roles_for(conn, actor, wish)
    if wish.state is WishState.PUBLISHED and wish.places_taken and not held & OFFICE:
        # a volunteer already holds a place: only staff may cancel, as once every place is taken
        raise NotAllowed(WishAction.CANCEL.value, wish.state.value, held, OFFICE)
    cancelled = move(
        conn,
        actor,
        wish,
        WishAction.CANCEL,
        roles=held,
        reason=reason,
        now=now,
        values={"closed_at": now, "deadline_at": None, "places_taken": 0},
        # checked again in the UPDATE itself, so a claim landing meanwhile stops an owner's cancel
        unless=None if held & OFFICE else wishes.c.places_taken > 0,
    )
    released = []
    for c in claims_of(conn, community_id, wish_id):
        if c.state is ClaimState.ACTIVE:
            set_claim(
                conn, c, ClaimState.WITHDRAWN, actor, OFFICE, "心愿已取消", now, {"closed_at": now}
            )
            if c.member_id is not None:
                released.append(c.member_id)
    # The members' rows in one order, so two cancels sharing volunteers cannot deadlock.
    for member_id in sorted(released):
        _uncount_open(conn, community_id, member_id)
    return cancelled


def check_in(
    conn: Connection,
    actor: str,
    community_id: str,
    claim_id: str,
    *,
    code: str | None = None,
    location: Point | None = None,
    override_reason: str | None = None,
    now: dt.datetime | None = None,
) -> Claim:
    """报到: start of service, with the resident's code (or a staff override, recorded)."""
    now = now or utcnow()
    c = load_claim(conn, community_id, claim_id)
    wish = load_wish(conn, community_id, c.wish_id)
    held = roles_for(conn, actor, wish, c)
    decide_claim(c.state, ClaimAction.CHECK_IN, held)
    override_by = None
    if override_reason is not None:
        if not held & OFFICE:
            raise NotAllowed("check_in_override", c.state.value, held, OFFICE)
        check_text("override_reason", override_reason, 200)
        override_by = actor
    elif code is None or not hmac.compare_digest(code.encode(), wish.confirmation_code.encode()):
        raise WrongCode(wish.id)
    rules = community_rules(conn, community_id)
    if location is not None and wish.location is not None and rules.checkin_distance_m:
        metres = distance_m(location, wish.location)
        if metres > rules.checkin_distance_m:
            raise TooFar(wish.id, metres, rules.checkin_distance_m)
    if now < wish.window_start - dt.timedelta(hours=2):
        raise InvalidInput("now", "check-in opens two hours before the agreed time")
    # The wish row before the claim's, as cancel and _release take them (else they deadlock).
    if wish.state in (WishState.PUBLISHED, WishState.CLAIMED):
        move(conn, actor, wish, WishAction.CHECK_IN, now=now, roles=held)
    return set_claim(
        conn,
        c,
        ClaimState.CHECKED_IN,
        actor,
        held,
        override_reason or "",
        now,
        {"checked_in_at": now, "override_by": override_by},
    )


def check_out(
    conn: Connection,
    actor: str,
    community_id: str,
    claim_id: str,
    *,
    location: Point | None = None,
    now: dt.datetime | None = None,
) -> Claim:
    """签退: minutes served = check-out − check-in, bounded by the community's per-activity
    maximum; a pending accrual is created for them (posted on confirmation)."""
    now = now or utcnow()
    c = load_claim(conn, community_id, claim_id)
    wish = load_wish(conn, community_id, c.wish_id)
    held = roles_for(conn, actor, wish, c)
    decide_claim(c.state, ClaimAction.CHECK_OUT, held)
    assert c.checked_in_at is not None
    assert c.member_id is not None
    _, policy = points.current_policy(conn, community_id)
    served = max(0, int((now - c.checked_in_at).total_seconds() // 60))
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
                key_household=_key_household(conn, wish),
            ),
            reference=f"claim:{c.id}",
            id=points.derived_id("award", c.id),
            pending=True,
            actor=actor,
            memo=wish.title,
            now=now,
        )
        award_id = award.transfer.id if award.transfer else None
    done = set_claim(
        conn,
        c,
        ClaimState.CHECKED_OUT,
        actor,
        held,
        "",
        now,
        {"checked_out_at": now, "minutes": minutes, "award_id": award_id},
    )
    _uncount_open(conn, community_id, c.member_id)
    settle(conn, actor, wish.id, community_id, WishAction.CHECK_OUT, now)
    return done


def load_claim(conn: Connection, community_id: str, claim_id: str) -> Claim:
    row = (
        conn.execute(
            sa.select(claims).where(claims.c.community_id == community_id, claims.c.id == claim_id)
        )
    ).first()
    if row is None:
        raise NotFound("claim", claim_id)
    return sqltypes.to_struct(row, Claim)


def settle(
    conn: Connection,
    actor: str,
    wish_id: str,
    community_id: str,
    action: WishAction,
    now: dt.datetime,
) -> Wish:
    """Move the wish to where its claims now put it (claimed, published, in service, served)."""
    wish = load_wish(conn, community_id, wish_id)
    all_claims = claims_of(conn, community_id, wish_id)
    serving = sum(1 for c in all_claims if c.state is ClaimState.CHECKED_IN)
    served = sum(1 for c in all_claims if c.state is ClaimState.CHECKED_OUT)
    target = wish_state_from_claims(
        wish.state,
        capacity=wish.capacity,
        places_taken=wish.places_taken,
        serving=serving,
        served=served,
    )
    if target is wish.state:
        return wish
    values: dict[str, Any] = {}
    if target is WishState.SERVED:
        rules = community_rules(conn, community_id)
        values = {"served_at": now, "deadline_at": now + dt.timedelta(days=rules.auto_accept_days)}
    elif target in (WishState.CLAIMED, WishState.PUBLISHED):
        # Every place taken: the completion clock starts; a place freed: the claim clock again.
        stage = (community_rules(conn, community_id)).deadlines_for(wish.category)
        if target is WishState.CLAIMED:  # done within complete_hours, or by the window's end
            due = max(now + dt.timedelta(hours=stage.complete_hours), wish.window_end)
        else:
            due = now + dt.timedelta(hours=stage.claim_hours)
        values = {"deadline_at": due}
    return move(
        conn,
        actor,
        wish,
        WishAction.SETTLE,
        now=now,
        roles=frozenset({Role.SYSTEM}),
        to=target,
        values=values,
        reason=action.value,
    )


def distance_m(a: Point, b: Point) -> int:
    """Great-circle distance in whole metres (haversine)."""
    lat1, lat2 = math.radians(a.lat), math.radians(b.lat)
    dlat, dlng = lat2 - lat1, math.radians(b.lng - a.lng)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlng / 2) ** 2
    return round(2 * 6_371_000 * math.asin(math.sqrt(h)))


def _take(
    conn: Connection,
    actor: str,
    held: frozenset[Role],
    wish: Wish,
    *,
    member_id: str | None,
    unit_id: str | None,
    places: int,
    parent_id: str | None,
    action: str,
    claim_id: str | None,
    now: dt.datetime,
) -> Claim:
    if claim_id is not None:
        check_id("id", claim_id)
        try:
            earlier = load_claim(conn, wish.community_id, claim_id)
        except NotFound:
            earlier = None
        if earlier is not None:
            if (earlier.wish_id, earlier.member_id) != (wish.id, member_id):
                raise InvalidInput("id", "this claim id is taken by another claim")
            return earlier
    if now >= wish.window_end:
        raise NotAllowed(action, "window_over", held, frozenset())
    rules = community_rules(conn, wish.community_id)
    # The wish row first (its lock orders concurrent claims on PostgreSQL), then the member's.
    taken = conn.execute(
        wishes.update()
        .where(
            wishes.c.community_id == wish.community_id,
            wishes.c.id == wish.id,
            wishes.c.state == WishState.PUBLISHED.value,
            wishes.c.places_taken + places <= wishes.c.capacity,
        )
        .values(
            places_taken=wishes.c.places_taken + places,
            first_claimed_at=sa.func.coalesce(
                wishes.c.first_claimed_at, sa.literal(now, wishes.c.first_claimed_at.type)
            ),
        )
    )
    if taken.rowcount != 1:
        current = load_wish(conn, wish.community_id, wish.id)
        if current.state is not WishState.PUBLISHED:
            decide_wish(current.state, WishAction.CLAIM, held | CLAIMING)
        raise CapacityFull(wish.id, wish.capacity)
    if member_id is not None:
        _count_open(conn, wish.community_id, member_id, rules.claim_limit)
    made = _insert_claim(conn, wish, member_id, unit_id, places, parent_id, claim_id, now)
    record(conn, wish.community_id, "claim", made.id, action, "new", "active", actor, held, "", now)
    settle(conn, actor, wish.id, wish.community_id, WishAction.CLAIM, now)
    return made


def _insert_claim(
    conn: Connection,
    wish: Wish,
    member_id: str | None,
    unit_id: str | None,
    places: int,
    parent_id: str | None,
    claim_id: str | None,
    now: dt.datetime,
) -> Claim:
    new = claim_id or new_id()
    inserted = conn.execute(
        sqltypes.insert_ignoring_conflicts(conn, claims)
        .values(
            community_id=wish.community_id,
            id=new,
            wish_id=wish.id,
            member_id=member_id,
            unit_id=unit_id,
            places=places,
            parent_id=parent_id,
            state=ClaimState.ACTIVE.value,
            created_at=now,
        )
        .returning(claims.c.id)
    )
    if inserted.first() is None:
        raise AlreadyClaimed(wish.id, member_id or "")
    return load_claim(conn, wish.community_id, new)


def _count_open(conn: Connection, community_id: str, member_id: str, limit: int) -> None:
    conn.execute(
        sqltypes.insert_ignoring_conflicts(conn, member_load).values(
            community_id=community_id, member_id=member_id
        )
    )
    counted = conn.execute(
        member_load.update()
        .where(
            member_load.c.community_id == community_id,
            member_load.c.member_id == member_id,
            member_load.c.open_claims < limit,
        )
        .values(open_claims=member_load.c.open_claims + 1)
    )
    if counted.rowcount != 1:
        raise ClaimLimitReached(member_id, limit)


def _uncount_open(conn: Connection, community_id: str, member_id: str) -> None:
    conn.execute(
        member_load.update()
        .where(
            member_load.c.community_id == community_id,
            member_load.c.member_id == member_id,
            member_load.c.open_claims > 0,
        )
        .values(open_claims=member_load.c.open_claims - 1)
    )


def _release(
    conn: Connection,
    actor: str,
    community_id: str,
    claim_id: str,
    action: ClaimAction,
    wish_action: WishAction,
    reason: str,
    now: dt.datetime,
) -> Claim:
    c = load_claim(conn, community_id, claim_id)
    wish = load_wish(conn, community_id, c.wish_id)
    held = roles_for(conn, actor, wish, c)
    if c.member_id is None and c.unit_id is not None:
        held |= (roles_on(conn, actor, f"/{c.unit_id}/")) & {Role.UNIT_ADMIN}
        if Role.UNIT_ADMIN in held:
            held |= {Role.CLAIMANT}
    target = decide_claim(c.state, action, held)
    decide_wish(wish.state, wish_action, held)
    # The wish row first, as in _take, so concurrent releases and claims queue the same way.
    conn.execute(
        wishes.update()
        .where(wishes.c.community_id == community_id, wishes.c.id == wish.id)
        .values(places_taken=wishes.c.places_taken - c.places)
    )
    done = set_claim(conn, c, target, actor, held, reason, now, {"closed_at": now})
    if c.member_id is not None:
        _uncount_open(conn, community_id, c.member_id)
    settle(conn, actor, wish.id, community_id, wish_action, now)
    return done


def set_claim(
    conn: Connection,
    c: Claim,
    target: ClaimState,
    actor: str,
    held: frozenset[Role],
    reason: str,
    now: dt.datetime,
    values: dict[str, Any],
) -> Claim:
    result = conn.execute(
        claims.update()
        .where(_key(c), claims.c.state == c.state.value)
        .values(state=target.value, **values)
    )
    action = claim_action(c.state, target)
    if result.rowcount != 1:
        current = load_claim(conn, c.community_id, c.id)
        raise NotAllowed(action, current.state.value, held, frozenset())
    record(
        conn,
        c.community_id,
        "claim",
        c.id,
        action,
        c.state.value,
        target.value,
        actor,
        held,
        reason,
        now,
    )
    return load_claim(conn, c.community_id, c.id)


def claim_action(state: ClaimState, target: ClaimState) -> str:
    """The table's verb for a claim moving from ``state`` to ``target`` (for the record)."""
    for (from_state, action), (next_state, _) in CLAIM_TABLE.items():
        if from_state is state and next_state is target:
            return action.value
    return target.value


def _key(c: Claim) -> sa.ColumnElement[bool]:
    return sa.and_(claims.c.community_id == c.community_id, claims.c.id == c.id)


def _key_household(conn: Connection, wish: Wish) -> bool:
    try:
        member = get_member(conn, wish.beneficiary_id)
    except NotFound:
        return False
    return bool(member.key_household)
