"""Batch dispatch (批量派单) written in bulk: many claims through the rules of one.

:func:`dispatch_many` takes a plan (:func:`matching.auto_dispatch`'s assignments) and gives each
assignment the decision :func:`claims.dispatch` gives one (:func:`claims.decide_dispatch`: the
actor's roles in the wish's state, the member's role, a free place; :func:`claims.within_limit`;
one claim per member and wish), on the wishes, standings and counts it loads for a chunk of the
plan in a few statements, as each earlier assignment of the batch left them. The accepted claims
are then written per chunk in one ``executemany`` per table: the wishes' places (settling a wish
as claimed when they fill it, as one claim does), the members' open claims, the claims, and the
record of every move. A refused assignment is told with its reason; the rest of the batch goes on.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping, Sequence

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from marketplace.claims import TAKE_MANY, claim_row, decide_dispatch, full_due, within_limit
from marketplace.errors import AlreadyClaimed, Conflict, InvalidInput, MarketplaceError, NotFound
from marketplace.lifecycle import ACTIVE_CLAIM_STATES, Role, WishAction, WishState
from marketplace.matching import Assignment
from marketplace.model import Claim, Wish
from marketplace.moves import SETTLER, count_open_many, record_all, transition, with_relations
from marketplace.rules import CommunityRules
from marketplace.schema import claims, member_load, orgs, wishes
from marketplace.standing import Standing, standing, standings
from points import sqltypes

CHUNK = 1_000
"""Assignments decided and written together (the statements' sizes stay bounded)."""


class Left(msgspec.Struct, frozen=True, kw_only=True):
    """A place the batch did not fill, and why: ``code`` is the refusal's (``capacity_full``,
    ``claim_limit_reached``, ``not_claiming_role``, …) for an assignment the plan made, or
    ``no_candidate`` (``member_id`` None) when no eligible member had a claim to spare."""

    wish_id: str
    member_id: str | None
    code: str


class Dispatched(msgspec.Struct, frozen=True, kw_only=True):
    """What a batch dispatch did: the claims made, in the plan's order, and the places left."""

    claims: list[Claim]
    left: list[Left]


def dispatch_many(
    conn: Connection,
    actor: str,
    community_id: str,
    plan: Sequence[Assignment],
    rules: CommunityRules,
    *,
    now: dt.datetime,
    known: Mapping[str, tuple[Wish, str]] | None = None,
) -> Dispatched:
    """派单 for every assignment of the plan, in bulk (see the module); the caller's transaction.
    ``known``: wishes (and their places' paths) the caller loaded in this transaction and locked
    (``FOR UPDATE``), taken as they are instead of loaded again."""
    mine = standing(conn, actor)
    seen = dict(known or {})  # and as the chunks before left them
    made: list[Claim] = []
    left: list[Left] = []
    for start in range(0, len(plan), CHUNK):
        chunk = plan[start : start + CHUNK]
        state = _load(conn, community_id, chunk, seen)
        accepted = []
        for step in chunk:
            try:
                _decide(state, mine, actor, step, rules, now)
            except MarketplaceError as refused:
                left.append(Left(wish_id=step.wish_id, member_id=step.member_id,
                                 code=_code(refused)))  # fmt: skip
            else:
                accepted.append(step)
        made += _write(conn, state, actor, accepted, rules, now)
        seen.update((i, (wish, state.places[i])) for i, wish in state.wishes.items())
    return Dispatched(claims=made, left=left)


class _State(msgspec.Struct, kw_only=True):
    """A chunk's wishes, places and members as loaded, moved on by each accepted assignment."""

    wishes: dict[str, Wish]
    places: dict[str, str]  # wish id -> its place's path
    theirs: dict[str, Standing]
    open_claims: dict[str, int]
    holding: set[tuple[str, str]]  # (wish id, member id) with an active claim
    first: dict[str, Wish]  # wish id -> the wish before the chunk
    held: dict[str, frozenset[Role]] = {}  # wish id -> the actor's roles on it


def _load(
    conn: Connection,
    community_id: str,
    chunk: Sequence[Assignment],
    known: Mapping[str, tuple[Wish, str]],
) -> _State:
    wish_ids = sorted({a.wish_id for a in chunk})
    member_ids = sorted({a.member_id for a in chunk})
    found = {i: known[i][0] for i in wish_ids if i in known}
    places = {i: known[i][1] for i in found}
    unknown = [i for i in wish_ids if i not in known]
    if unknown:
        w = wishes.c
        query = (
            sa.select(wishes, orgs.c.path.label("place_path"))
            .join(orgs, orgs.c.id == w.org_id)
            .where(w.community_id == community_id, w.id.in_(unknown))
            .with_for_update(of=wishes)  # PostgreSQL: the wishes stay as loaded until the commit
        )
        for row in conn.execute(query):
            wish = sqltypes.to_struct(row, Wish)
            found[wish.id], places[wish.id] = wish, row.place_path
    counts = conn.execute(
        sa.select(member_load.c.member_id, member_load.c.open_claims)
        .where(member_load.c.community_id == community_id)
        .where(member_load.c.member_id.in_(member_ids))
        .with_for_update()
    )
    holding = conn.execute(
        sa.select(claims.c.wish_id, claims.c.member_id).where(
            claims.c.community_id == community_id,
            claims.c.wish_id.in_(wish_ids),
            claims.c.member_id.in_(member_ids),
            claims.c.state.in_(sorted(s.value for s in ACTIVE_CLAIM_STATES)),
        )
    )
    return _State(
        wishes=found,
        places=places,
        theirs=standings(conn, member_ids),
        open_claims={m: int(n) for m, n in counts},
        holding={(wid, mid) for wid, mid in holding},
        first=dict(found),
    )


def _decide(
    state: _State,
    mine: Standing,
    actor: str,
    step: Assignment,
    rules: CommunityRules,
    now: dt.datetime,
) -> None:
    """The one-claim path's decision on this assignment, then its effect on the state."""
    wish = state.wishes.get(step.wish_id)
    if wish is None:
        raise NotFound("wish", step.wish_id)
    place = state.places[wish.id]
    held = with_relations(mine.on(place, wish.community_id), actor, wish)
    state.held[wish.id] = held
    theirs = state.theirs[step.member_id].on(place, wish.community_id)
    decide_dispatch(wish, held, step.member_id, theirs, now)
    within_limit(step.member_id, state.open_claims.get(step.member_id, 0), rules.claim_limit)
    if (wish.id, step.member_id) in state.holding:
        raise AlreadyClaimed(wish.id, step.member_id)
    taken = wish.places_taken + 1
    fills = wish.state is WishState.PUBLISHED and taken >= wish.capacity
    state.wishes[wish.id] = msgspec.structs.replace(
        wish,
        places_taken=taken,
        first_claimed_at=wish.first_claimed_at or now,
        state=WishState.CLAIMED if fills else wish.state,
        deadline_at=full_due(rules, wish, now) if fills else wish.deadline_at,
    )
    state.open_claims[step.member_id] = state.open_claims.get(step.member_id, 0) + 1
    state.holding.add((wish.id, step.member_id))


def _write(
    conn: Connection,
    state: _State,
    actor: str,
    accepted: list[Assignment],
    rules: CommunityRules,
    now: dt.datetime,
) -> list[Claim]:
    """The accepted assignments' writes: one ``executemany`` per table."""
    if not accepted:
        return []
    community_id = next(iter(state.wishes.values())).community_id
    per_wish = Counter(a.wish_id for a in accepted)
    takes = [
        {"the_community": community_id, "the_wish": wid, "places": n, "now": now,
         "full_due": full_due(rules, state.first[wid], now)}
        for wid, n in sorted(per_wish.items())
    ]  # fmt: skip
    if conn.execute(TAKE_MANY, takes).rowcount not in (-1, len(takes)):
        raise Conflict("a wish of the batch changed while it was dispatched")
    count_open_many(conn, community_id, Counter(a.member_id for a in accepted), rules.claim_limit)
    rows, moves, kept = [], [], []
    blank = dict.fromkeys(str(c.name) for c in claims.c)
    taken = {wid: state.first[wid].places_taken for wid in per_wish}
    for step in accepted:
        before = state.first[step.wish_id]
        row = claim_row(before, step.member_id, None, 1, None, None, now)
        rows.append(row)
        made = msgspec.convert({**blank, **row}, Claim, strict=False)
        kept.append(made)
        moves.append(transition(community_id, "claim", row["id"], "dispatch", "new", "active",
                                actor, state.held[step.wish_id], "", now,
                                wish=_as_counted(state, before, taken[step.wish_id]),
                                claim=made))  # fmt: skip
        taken[step.wish_id] += 1
        if before.state is WishState.PUBLISHED and taken[step.wish_id] == before.capacity:
            settled = ("published", "claimed", actor, SETTLER, WishAction.CLAIM.value, now)
            moves.append(transition(community_id, "wish", before.id, WishAction.SETTLE.value,
                                    *settled, wish=before))  # fmt: skip
    sqltypes.insert_many(conn, claims, rows)
    record_all(conn, moves)
    return kept


def _as_counted(state: _State, before: Wish, taken: int) -> Wish:
    """The wish a claim's record carries for the statistics' rollups: as the batch left it right
    after this claim (its places taken so far; first claimed at the batch's moment unless it was
    before), as one claim's ``RETURNING`` row would be (:mod:`marketplace.rollups`)."""
    first = state.wishes[before.id].first_claimed_at
    return msgspec.structs.replace(before, places_taken=taken + 1, first_claimed_at=first)


def _code(refused: MarketplaceError) -> str:
    if isinstance(refused, InvalidInput):
        return refused.reason.code
    return refused.code
