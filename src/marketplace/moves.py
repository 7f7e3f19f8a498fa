"""Moving wishes and claims: the conditional updates every use case shares, and their record.

Each move is decided by the tables (:mod:`marketplace.lifecycle`), applied with a conditional
``UPDATE … WHERE state = :from`` (so two people acting at once cannot both move a subject), and
recorded in ``mk_transitions`` in the same transaction: who, when, from, to, with which roles, why.
A member's open claims are a counter on ``mk_member_load``, moved by conditional updates too.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from marketplace import lifecycle, outbox, rollups
from marketplace.errors import ClaimLimitReached, NotFound
from marketplace.lifecycle import (
    ClaimState,
    Facts,
    Role,
    WishAction,
    WishState,
    claim_action,
    decide_wish,
    wish_state_from_claims,
)
from marketplace.model import Claim, Wish
from marketplace.orgs import community_rules, get_org, roles_on
from marketplace.rollups import Change
from marketplace.schema import claims, member_load, transitions, wishes
from points import new_id, sqltypes

SETTLER = frozenset({Role.SYSTEM})
"""The roles a settle is recorded with: the claim counts moved the wish, not a person."""


def load_wish(conn: Connection, community_id: str, wish_id: str) -> Wish:
    found = find_wish(conn, community_id, wish_id)
    if found is None:
        raise NotFound("wish", wish_id)
    return found


def with_relations(
    org_roles: frozenset[Role], actor: str, wish: Wish, claim: Claim | None = None
) -> frozenset[Role]:
    """The actor's org roles plus their relations to the wish (and to ``claim``): beneficiary,
    poster, claimant. NotFound when that is nothing: a member with no business with the wish
    (another community's, or nobody's) learns nothing, not even that it exists (tenancy,
    DESIGN.md invariant 7); asked about a claim, the NotFound names the claim."""
    held = set(org_roles)
    if actor == wish.beneficiary_id:
        held.add(Role.BENEFICIARY)
    if actor == wish.posted_by:
        held.add(Role.POSTER)
    if claim is not None and actor == claim.member_id:
        held.add(Role.CLAIMANT)
    if not held:
        raise NotFound("claim", claim.id) if claim is not None else NotFound("wish", wish.id)
    return frozenset(held)


def roles_for(
    conn: Connection, actor: str, wish: Wish, claim: Claim | None = None
) -> frozenset[Role]:
    """Org roles on the wish's place or above (or a paired unit), plus relations to the wish
    (:func:`with_relations`)."""
    place = get_org(conn, wish.org_id)
    return with_relations(roles_on(conn, actor, place.path, wish.community_id), actor, wish, claim)


def move(
    conn: Connection,
    actor: str,
    wish: Wish,
    action: WishAction,
    *,
    now: dt.datetime,
    reason: str = "",
    values: dict[str, Any] | None = None,
    roles: frozenset[Role] | None = None,
    to: WishState | None = None,
    unless: sa.ColumnElement[bool] | None = None,
) -> Wish:
    """Apply one row of the wish table: decide, update conditionally, record.

    ``unless``: the stored row's side of a guard (a place taken meanwhile), checked again in the
    ``UPDATE``; when it holds, the move is decided again on the row as it is now.

    When someone else moved the wish first, decide again on the state it is in now: the action
    may still be allowed there (a second volunteer checking in, staff cancelling a wish that just
    filled up). A ``to`` computed by the caller from the old state is not retried."""
    held = roles if roles is not None else roles_for(conn, actor, wish)
    for _ in range(3):
        decided = decide_wish(wish.state, action, held, _facts(wish))
        target = to or decided or wish.state
        result = conn.execute(
            wishes.update()
            .where(
                wishes.c.community_id == wish.community_id,
                wishes.c.id == wish.id,
                wishes.c.state == wish.state.value,
                *([] if unless is None else [~unless]),
            )
            .values(state=target.value, **(values or {}))
        )
        if result.rowcount == 1:
            break
        current = load_wish(conn, wish.community_id, wish.id)
        decide_wish(current.state, action, held, _facts(current))
        if to is not None or current.state is wish.state or unless is not None:
            lifecycle.stale(action.value, current.state.value)
        wish = current
    else:
        lifecycle.stale(action.value, wish.state.value)
    record(
        conn,
        wish.community_id,
        "wish",
        wish.id,
        action.value,
        wish.state.value,
        target.value,
        actor,
        held,
        reason,
        now,
        wish=wish,
    )
    return load_wish(conn, wish.community_id, wish.id)


def _facts(wish: Wish) -> Facts:
    return Facts(places_taken=wish.places_taken)


def record(
    conn: Connection,
    community_id: str,
    subject: str,
    subject_id: str,
    action: str,
    from_state: str,
    to_state: str,
    actor: str,
    roles: frozenset[Role],
    reason: str,
    now: dt.datetime,
    *,
    wish: Wish,
    claim: Claim | None = None,
) -> None:
    """Record one move (:func:`transition`, :func:`record_all`)."""
    row = transition(community_id, subject, subject_id, action, from_state, to_state, actor,
                     roles, reason, now, wish=wish, claim=claim)  # fmt: skip
    record_all(conn, [row])


def claims_of(conn: Connection, community_id: str, wish_id: str) -> list[Claim]:
    rows = conn.execute(
        sa.select(claims)
        .where(claims.c.community_id == community_id, claims.c.wish_id == wish_id)
        .order_by(claims.c.created_at, claims.c.id)
    )
    return [sqltypes.to_struct(r, Claim) for r in rows]


def find_wish(conn: Connection, community_id: str, wish_id: str) -> Wish | None:
    row = (
        conn.execute(
            sa.select(wishes).where(wishes.c.community_id == community_id, wishes.c.id == wish_id)
        )
    ).first()
    return None if row is None else wish_of(row)


def wish_of(row: sa.Row[Any]) -> Wish:
    return sqltypes.to_struct(row, Wish)


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
        roles=SETTLER,
        to=target,
        values=values,
        reason=action.value,
    )


def uncount_open(conn: Connection, community_id: str, member_id: str) -> None:
    """One open claim fewer for the member (never below zero)."""
    conn.execute(_UNCOUNT, {"the_community": community_id, "the_member": member_id})


_UNCOUNT = (
    member_load.update()
    .where(
        member_load.c.community_id == sa.bindparam("the_community"),
        member_load.c.member_id == sa.bindparam("the_member"),
        member_load.c.open_claims > 0,
    )
    .values(open_claims=member_load.c.open_claims - 1)
)


def set_claim(
    conn: Connection,
    c: Claim,
    target: ClaimState,
    actor: str,
    held: frozenset[Role],
    reason: str,
    now: dt.datetime,
    values: dict[str, Any],
    *,
    wish: Wish,
) -> Claim:
    """Move a claim from the state it was loaded in (a conditional update), and record it
    (``wish``: the claim's, for the statistics' rollups)."""
    given = {"the_community": c.community_id, "the_claim": c.id, "was": c.state.value}
    statement = claim_update(*sorted(values))
    moved = conn.execute(statement, {**given, "to": target.value, **values}).first()
    action = claim_action(c.state, target)
    if moved is None:
        current = load_claim(conn, c.community_id, c.id)
        lifecycle.stale(action, current.state.value, subject="claim")
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
        wish=wish,
        claim=c,
    )
    return sqltypes.to_struct(moved, Claim)


@functools.cache
def claim_update(*moved: str) -> Any:
    """``UPDATE`` of a claim in state ``was`` to ``to``, setting the columns ``moved`` too
    (bound by name), returning the row. Built once per set of columns."""
    c = claims.c
    return (
        claims.update()
        .where(
            c.community_id == sa.bindparam("the_community"),
            c.id == sa.bindparam("the_claim"),
            c.state == sa.bindparam("was"),
        )
        .values(state=sa.bindparam("to"), **{name: sa.bindparam(name) for name in moved})
        .returning(*claims.c)
    )


@functools.cache
def wish_update(*moved: str) -> Any:
    """``UPDATE`` of a wish in state ``was`` to ``to``, setting the columns ``moved`` too."""
    w = wishes.c
    return (
        wishes.update()
        .where(
            w.community_id == sa.bindparam("the_community"),
            w.id == sa.bindparam("the_wish"),
            w.state == sa.bindparam("was"),
        )
        .values(state=sa.bindparam("to"), **{name: sa.bindparam(name) for name in moved})
    )


def count_open(conn: Connection, community_id: str, member_id: str, limit: int) -> int:
    """One more open claim for the member, unless they hold ``limit`` already (one statement:
    an upsert that adds only under the limit). Returns the new count."""
    counted = conn.execute(
        _count_open(conn),
        {"community_id": community_id, "member_id": member_id, "open_claims": 1, "limit": limit},
    ).first()
    if counted is None:
        raise ClaimLimitReached(member_id, limit)
    return int(counted[0])


def count_open_many(
    conn: Connection, community_id: str, counts: dict[str, int], limit: int
) -> None:
    """``counts[member]`` more open claims for each member, each under ``limit`` (decided before,
    on the counts loaded in the same transaction); one ``executemany``. An upsert that would
    pass the limit changes nothing, and the transaction is refused (ClaimLimitReached)."""
    if not counts:
        return
    rows = [
        {"community_id": community_id, "member_id": m, "open_claims": n, "limit": limit}
        for m, n in sorted(counts.items())
    ]
    done = conn.execute(_count_open_many(conn), rows).rowcount
    if done not in (-1, len(rows)):  # -1: the driver does not tell
        raise ClaimLimitReached(str(rows[0]["member_id"]), limit)


def transition(
    community_id: str,
    subject: str,
    subject_id: str,
    action: str,
    from_state: str,
    to_state: str,
    actor: str,
    roles: frozenset[Role],
    reason: str,
    now: dt.datetime,
    *,
    wish: Wish,
    claim: Claim | None = None,
) -> Change:
    """One ``mk_transitions`` row (:func:`record_all` writes several in one statement), with the
    wish (and claim) as they stood before the move, for the statistics' rollups."""
    row = {
        "community_id": community_id,
        "id": new_id(),
        "subject": subject,
        "subject_id": subject_id,
        "action": action,
        "from_state": from_state,
        "to_state": to_state,
        "actor_id": actor,
        "roles": sorted(r.value for r in roles),
        "reason": reason,
        "at": now,
    }
    return Change(row, wish, claim)


def record_all(conn: Connection, changes: list[Change]) -> None:
    """Record the moves made by one use case: their transitions in one statement (one
    ``executemany``), their increments of the statistics' rollups in one more
    (:func:`marketplace.rollups.count`) and the notices they make in one more, when they make
    any (:func:`marketplace.outbox.from_changes`: in this transaction, so a move rolled back
    tells nobody)."""
    if changes:
        sqltypes.insert_many(conn, transitions, [change.move for change in changes])
        rollups.count(conn, changes)
        outbox.from_changes(conn, changes)


@sqltypes.per_dialect
def _count_open(dialect: str) -> Any:
    return (
        sqltypes.dialect_insert(dialect, member_load)
        .on_conflict_do_update(
            index_elements=[member_load.c.community_id, member_load.c.member_id],
            set_={"open_claims": member_load.c.open_claims + 1},
            where=member_load.c.open_claims < sa.bindparam("limit"),
        )
        .returning(member_load.c.open_claims)
    )


@sqltypes.per_dialect
def _count_open_many(dialect: str) -> Any:
    insert = sqltypes.dialect_insert(dialect, member_load)
    total = member_load.c.open_claims + insert.excluded.open_claims
    return insert.on_conflict_do_update(
        index_elements=[member_load.c.community_id, member_load.c.member_id],
        set_={"open_claims": total},
        where=total <= sa.bindparam("limit"),
    )
