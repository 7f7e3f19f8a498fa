"""Claims (认领/接单): taking a place on a wish.

A member claims a place; a unit claims several and its admin then names members for them
(县直单位接单 → 党员认领); staff may dispatch (派单) a member directly. Each use case loads what it
needs in one statement (:mod:`marketplace.loads`), decides without the database
(:mod:`marketplace.lifecycle`), then writes. Three conditional writes keep the promises under any
concurrency: the wish's ``places_taken`` never passes its capacity (the same ``UPDATE`` settles
the wish as claimed when it fills), a member's open claims never pass the community's limit, and a
partial unique index keeps one active claim per member and wish.

A claim by a member runs four writes after its load: the wish, the member's count, the claim, and
the record of both moves.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from marketplace import bounds
from marketplace.bounds import within
from marketplace.errors import AlreadyClaimed, CapacityFull, ClaimLimitReached, InvalidInput
from marketplace.lifecycle import (
    CLAIMABLE_WISH_STATES,
    CLAIMING,
    OFFICE,
    UNIT,
    ClaimAction,
    ClaimState,
    Facts,
    Role,
    WishAction,
    WishState,
    decide_claim,
    decide_wish,
    unit_claim_state,
)
from marketplace.loads import Seen, see_claim, see_wish
from marketplace.model import Claim, Wish
from marketplace.moves import SETTLER, count_open, load_wish, record_all, transition
from marketplace.orgs import check_id, get_member, roles_on
from marketplace.privacy import WishView, view_of
from marketplace.rules import CommunityRules
from marketplace.schema import claims, wishes
from marketplace.standing import standing
from points import Cause, new_id, sqltypes, utcnow

DISPATCHED = CLAIMING
"""Whom staff may give a place (派单): volunteers and party members (a unit's admin claims for
the unit instead, :func:`claim_for_unit`)."""


class Taken(msgspec.Struct, frozen=True, kw_only=True):
    """A place taken: the claim, and its wish as the actor now sees it (built from the rows the
    use case already holds)."""

    claim: Claim
    wish: WishView


def take_place(
    conn: Connection,
    actor: str,
    community_id: str,
    wish_id: str,
    *,
    id: str | None = None,
    now: dt.datetime | None = None,
) -> Taken:
    """接单: the actor takes one place on a wish open for claims (published, or in service with a
    place free, ``CLAIMABLE_WISH_STATES``). ``id``: the client's id for the
    claim; the same id again returns the same claim."""
    now = now or utcnow()
    if id is not None:
        check_id("id", id)
    seen = see_wish(conn, actor, community_id, wish_id, claim_id=id)
    held = seen.roles()
    if seen.claim is not None:  # the client's id was used before
        earlier = seen.claim
        if (earlier.wish_id, earlier.member_id) != (wish_id, actor):
            raise InvalidInput("id", Cause("id_taken", {"what": "claim"}))
        return Taken(claim=earlier, wish=view_of(seen, held, earlier))
    if seen.holding:  # said first: a full wish is no longer published, but this is why
        raise AlreadyClaimed(wish_id, actor)
    decide_wish(seen.wish.state, WishAction.CLAIM, held, _facts(seen, now))
    _room(seen, 1)
    within_limit(actor, seen.open_claims, seen.rules.claim_limit)
    made, wish = _take(conn, seen, actor, held, member_id=actor, unit_id=None, places=1,
                       action="claim", claim_id=id, now=now)  # fmt: skip
    after = msgspec.structs.replace(seen, wish=wish)
    return Taken(claim=made, wish=view_of(after, held | {Role.CLAIMANT}, made))


def claim(
    conn: Connection,
    actor: str,
    community_id: str,
    wish_id: str,
    *,
    id: str | None = None,
    now: dt.datetime | None = None,
) -> Claim:
    """接单 (:func:`take_place`), the claim alone."""
    return take_place(conn, actor, community_id, wish_id, id=id, now=now).claim


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
    seen = see_wish(conn, actor, community_id, wish_id)
    held = seen.roles()
    theirs = standing(conn, member_id).on(seen.place_path, community_id)
    decide_dispatch(seen.wish, held, member_id, theirs, now)
    made, _ = _take(conn, seen, actor, held, member_id=member_id, unit_id=None, places=1,
                    action="dispatch", claim_id=None, now=now)  # fmt: skip
    return made


def decide_dispatch(
    wish: Wish, held: frozenset[Role], member_id: str, theirs: frozenset[Role], now: dt.datetime
) -> None:
    """派单's rules, without the database: the member volunteers where the wish is and it is not
    theirs; the actor's roles (``held``) may dispatch in the wish's state, its window open; a
    place is free. Raises what refuses it. (The member's open-claim limit, :func:`within_limit`,
    and one claim per member and wish are kept by the writes.)"""
    if not theirs & DISPATCHED or member_id in (wish.beneficiary_id, wish.posted_by):
        raise InvalidInput("member_id", Cause("not_claiming_role"))
    facts = Facts(places_taken=wish.places_taken, window_over=now >= wish.window_end)
    decide_wish(wish.state, WishAction.DISPATCH, held, facts)
    if wish.places_taken + 1 > wish.capacity:
        raise CapacityFull(wish.id, wish.capacity)


def within_limit(member_id: str, open_claims: int, limit: int) -> None:
    """ClaimLimitReached when the member already holds ``limit`` open claims (防止囤单)."""
    if open_claims >= limit:
        raise ClaimLimitReached(member_id, limit)


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
    within("places", places, bounds.Capacity)
    seen = see_wish(conn, actor, community_id, wish_id)
    held = seen.roles()
    admin_here = unit_id in seen.standing.units(Role.UNIT_ADMIN)
    facts = msgspec.structs.replace(_facts(seen, now), unit_admin=admin_here)
    decide_wish(seen.wish.state, WishAction.CLAIM_FOR_UNIT, held, facts)
    _room(seen, places)
    made, _ = _take(conn, seen, actor, held, member_id=None, unit_id=unit_id, places=places,
                    action="claim_for_unit", claim_id=None, now=now)  # fmt: skip
    return made


def assign(
    conn: Connection,
    actor: str,
    community_id: str,
    unit_claim_id: str,
    member_id: str,
    *,
    now: dt.datetime | None = None,
) -> Claim:
    """党员认领: the unit's admin (or staff) names a member of the unit for one of its places. The
    unit's claim gives that place to the member's new claim; once it has given its last, it is
    assigned (:func:`~marketplace.lifecycle.unit_claim_state`) and no longer an open claim."""
    now = now or utcnow()
    seen = see_claim(conn, actor, community_id, unit_claim_id)
    unit_claim = seen.claim
    assert unit_claim is not None
    held = seen.roles(unit_claim)  # NotFound, then NotAllowed, before telling its kind
    unit = unit_claim.unit_id
    unit_roles = roles_on(conn, actor, f"/{unit}/") & UNIT if unit is not None else frozenset()
    decide_claim(unit_claim.state, ClaimAction.ASSIGN, unit_roles | (held & OFFICE))
    if unit is None or unit_claim.member_id is not None:
        raise InvalidInput("unit_claim_id", Cause("not_unit_claim"))
    member = get_member(conn, member_id)
    if member.home_unit_id != unit_claim.unit_id:
        raise InvalidInput("member_id", Cause("not_unit_member"))
    if member_id in (seen.wish.beneficiary_id, seen.wish.posted_by):
        raise InvalidInput("member_id", Cause("own_wish"))
    given = conn.execute(
        _GIVE, {"the_community": community_id, "the_claim": unit_claim.id, "now": now}
    ).first()
    if given is None:
        raise CapacityFull(seen.wish.id, seen.wish.capacity)
    count_open(conn, community_id, member_id, seen.rules.claim_limit)
    made = _insert(conn, claim_row(seen.wish, member_id, unit_claim.unit_id, 1, unit_claim.id,
                                   None, now))  # fmt: skip
    roles = unit_roles | (held & OFFICE)
    moves = [transition(community_id, "claim", made.id, "assign", "new", "active", actor, roles,
                        "", now, wish=seen.wish, claim=made)]  # fmt: skip
    left = unit_claim_state(int(given.places))
    if left is not ClaimState.ACTIVE:  # its last place: the unit's claim has done its part
        settled = (ClaimState.ACTIVE.value, left.value, actor, roles, "", now)
        moves.append(transition(community_id, "claim", unit_claim.id, "assign", *settled,
                                wish=seen.wish, claim=unit_claim))  # fmt: skip
    record_all(conn, moves)
    return made


def _room(seen: Seen, places: int) -> None:
    """CapacityFull unless the wish, as loaded, has ``places`` left (the conditional write
    checks again)."""
    if seen.wish.places_taken + places > seen.wish.capacity:
        raise CapacityFull(seen.wish.id, seen.wish.capacity)


def _facts(seen: Seen, now: dt.datetime) -> Facts:
    return Facts(places_taken=seen.wish.places_taken, window_over=now >= seen.wish.window_end)


def _take(
    conn: Connection,
    seen: Seen,
    actor: str,
    held: frozenset[Role],
    *,
    member_id: str | None,
    unit_id: str | None,
    places: int,
    action: str,
    claim_id: str | None,
    now: dt.datetime,
) -> tuple[Claim, Wish]:
    """Take ``places`` on the wish (settling it as claimed when they fill it), count the member's
    open claim, insert the claim and record both moves: four statements."""
    wish = seen.wish
    # The wish row first (its lock orders concurrent claims on PostgreSQL), then the member's.
    taken = conn.execute(
        _TAKE,
        {
            "the_community": wish.community_id,
            "the_wish": wish.id,
            "places": places,
            "now": now,
            "full_due": full_due(seen.rules, wish, now),
        },
    ).first()
    if taken is None:
        current = load_wish(conn, wish.community_id, wish.id)
        if current.state not in CLAIMABLE_WISH_STATES:
            decide_wish(current.state, WishAction.CLAIM, held | CLAIMING)
        raise CapacityFull(wish.id, wish.capacity)
    after = sqltypes.to_struct(taken, Wish)
    if member_id is not None:
        count_open(conn, wish.community_id, member_id, seen.rules.claim_limit)
    made = _insert(conn, claim_row(wish, member_id, unit_id, places, None, claim_id, now))
    c = wish.community_id
    # the claim's change carries the wish after its places were taken (its first claim told by
    # first_claimed_at); the settle's, the wish before (rollups.Change)
    moves = [transition(c, "claim", made.id, action, "new", "active", actor, held, "", now,
                        wish=after, claim=made)]  # fmt: skip
    if after.state is not wish.state:
        settled = (wish.state.value, after.state.value, actor, SETTLER, WishAction.CLAIM.value)
        moves.append(transition(c, "wish", wish.id, WishAction.SETTLE.value, *settled, now,
                                wish=wish))  # fmt: skip
    record_all(conn, moves)
    return made, after


def _insert(conn: Connection, row: dict[str, Any]) -> Claim:
    inserted = conn.execute(_insert_claim(conn), row).first()
    if inserted is None:
        raise AlreadyClaimed(row["wish_id"], row["member_id"] or "")
    return sqltypes.to_struct(inserted, Claim)


def claim_row(
    wish: Wish,
    member_id: str | None,
    unit_id: str | None,
    places: int,
    parent_id: str | None,
    claim_id: str | None,
    now: dt.datetime,
) -> dict[str, Any]:
    """A new claim's ``mk_claims`` row (active)."""
    return {
        "community_id": wish.community_id,
        "id": claim_id or new_id(),
        "wish_id": wish.id,
        "member_id": member_id,
        "unit_id": unit_id,
        "places": places,
        "parent_id": parent_id,
        "state": ClaimState.ACTIVE.value,
        "created_at": now,
        "checked_in_offline": False,
        "checked_out_offline": False,
    }


def full_due(rules: CommunityRules, wish: Wish, now: dt.datetime) -> dt.datetime:
    """The deadline of a wish whose places fill now: done within the category's completion
    hours, or by the end of its window."""
    stage = rules.deadlines_for(wish.category)
    return max(now + dt.timedelta(hours=stage.complete_hours), wish.window_end)


_w = wishes.c
_fills = sa.and_(
    _w.state == WishState.PUBLISHED.value, _w.places_taken + sa.bindparam("places") >= _w.capacity
)
TAKE_MANY = (
    wishes.update()
    .where(
        _w.community_id == sa.bindparam("the_community"),
        _w.id == sa.bindparam("the_wish"),
        # not IN: an expanding list would be compiled anew at each execution
        sa.or_(*(_w.state == s.value for s in sorted(CLAIMABLE_WISH_STATES))),
        _w.places_taken + sa.bindparam("places") <= _w.capacity,
    )
    .values(
        places_taken=_w.places_taken + sa.bindparam("places"),
        first_claimed_at=sa.func.coalesce(
            _w.first_claimed_at, sa.bindparam("now", type_=_w.first_claimed_at.type)
        ),
        state=sa.case((_fills, WishState.CLAIMED.value), else_=_w.state),
        deadline_at=sa.case(
            (_fills, sa.bindparam("full_due", type_=_w.deadline_at.type)), else_=_w.deadline_at
        ),
    )
)
_TAKE = TAKE_MANY.returning(*wishes.c)
"""Take places on a wish open for claims (published, or in service with places free), settling a
published wish as claimed in the same row when they fill it; a wish in service stays in service."""


_c = claims.c
_GIVE = (
    claims.update()
    .where(
        _c.community_id == sa.bindparam("the_community"),
        _c.id == sa.bindparam("the_claim"),
        _c.state == ClaimState.ACTIVE.value,
        _c.places >= 1,
    )
    .values(
        places=_c.places - 1,
        state=sa.case((_c.places == 1, ClaimState.ASSIGNED.value), else_=_c.state),
        closed_at=sa.case(
            (_c.places == 1, sa.bindparam("now", type_=_c.closed_at.type)), else_=_c.closed_at
        ),
    )
    .returning(_c.places)
)
"""One of a unit claim's places given to a member, settling the claim as assigned in the same row
when it was the last (the ``CASE`` reads the row before the update)."""


@sqltypes.per_dialect
def _insert_claim(dialect: str) -> Any:
    return sqltypes.dialect_insert(dialect, claims).on_conflict_do_nothing().returning(*claims.c)
