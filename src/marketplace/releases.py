"""Giving places back: 退单 (withdraw), 爽约 (no-show) and 取消 (cancelling a wish).

A released claim gives its places back to the wish (which settles as published again when it was
full) and its member's open-claim count back. Cancelling a wish releases every claim not yet
checked in. Rows are taken wish first, then claims, then members' counts (in member order), as
every other use case takes them, so concurrent releases, claims and cancels queue instead of
deadlocking on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.engine import Connection

from marketplace import bounds
from marketplace.bounds import most
from marketplace.lifecycle import (
    OFFICE,
    UNIT,
    ClaimAction,
    ClaimState,
    Role,
    WishAction,
    decide_claim,
    decide_wish,
)
from marketplace.loads import see_claim
from marketplace.model import Claim, Wish
from marketplace.moves import (
    claims_of,
    load_wish,
    move,
    roles_for,
    set_claim,
    settle,
    uncount_open,
)
from marketplace.orgs import check_text, roles_on
from marketplace.schema import member_load, wishes
from points import utcnow


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
    """取消: the resident (before anyone claims) or staff withdraw the wish; claims are released.
    Whether a place taken stops the resident is the table's guard (``office_once_taken``),
    checked again in the ``UPDATE`` itself, so a claim landing meanwhile stops an owner's
    cancel."""
    now = now or utcnow()
    check_text("reason", reason, most(bounds.Reason))
    wish = load_wish(conn, community_id, wish_id)
    held = roles_for(conn, actor, wish)
    cancelled = move(
        conn,
        actor,
        wish,
        WishAction.CANCEL,
        roles=held,
        reason=reason,
        now=now,
        values={"closed_at": now, "deadline_at": None, "places_taken": 0},
        unless=None if held & OFFICE else wishes.c.places_taken > 0,
    )
    released = []
    for c in claims_of(conn, community_id, wish_id):
        if c.state is ClaimState.ACTIVE:
            set_claim(
                conn,
                c,
                ClaimState.WITHDRAWN,
                actor,
                OFFICE,
                "心愿已取消",
                now,
                {"closed_at": now},
                wish=cancelled,
            )
            if c.member_id is not None:
                released.append(c.member_id)
    # The members' rows in one order, so two cancels sharing volunteers cannot deadlock.
    for member_id in sorted(released):
        uncount_open(conn, community_id, member_id)
    return cancelled


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
    seen = see_claim(conn, actor, community_id, claim_id)
    c = seen.claim
    assert c is not None
    held = seen.roles(c)
    if c.member_id is None and c.unit_id is not None:
        held |= roles_on(conn, actor, f"/{c.unit_id}/") & UNIT
        if Role.UNIT_ADMIN in held:
            held |= {Role.CLAIMANT}
    target = decide_claim(c.state, action, held)
    assert target is not None  # withdraw and no-show name their state in the table
    decide_wish(seen.wish.state, wish_action, held)
    # The wish row first, as a claim takes it, so concurrent releases and claims queue alike.
    conn.execute(
        wishes.update()
        .where(wishes.c.community_id == community_id, wishes.c.id == seen.wish.id)
        .values(places_taken=wishes.c.places_taken - c.places)
    )
    done = set_claim(conn, c, target, actor, held, reason, now, {"closed_at": now},
                     wish=seen.wish)  # fmt: skip
    if c.member_id is not None:
        uncount_open(conn, community_id, c.member_id)
    settle(conn, actor, seen.wish.id, community_id, wish_action, now)
    return done
