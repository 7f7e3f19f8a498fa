"""Loading what a use case needs in one statement: a wish (or a claim and its wish) with its place,
the resident it is for, the community's rules, the actor's standing, the actor's open claims.

A use case then decides on these values without the database (:mod:`marketplace.lifecycle`) and
writes. ``Seen`` is what was loaded; :func:`see_wish` and :func:`see_claim` load it. Each is one
``SELECT``: the wish joined to its org and beneficiary, the actor's holds joined beside it (one row
per hold), the rules and counters as scalar subqueries.
"""

from __future__ import annotations

from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

import points
from marketplace.errors import NotFound
from marketplace.lifecycle import ACTIVE_CLAIM_STATES, Role
from marketplace.model import Claim, Member, Wish
from marketplace.rules import DEFAULT_RULES, CommunityRules
from marketplace.schema import claims, member_load, members, orgs, settings, wishes
from marketplace.standing import Standing, from_rows, holds_of
from points import sqltypes

_ACTIVE = [s.value for s in ACTIVE_CLAIM_STATES]


class Seen(msgspec.Struct, frozen=True, kw_only=True):
    """A wish as one actor's use case found it."""

    wish: Wish
    place_path: str  # the path of the wish's org (its place)
    resident: Member | None  # the beneficiary
    rules: CommunityRules
    standing: Standing  # the actor's
    open_claims: int  # the actor's open claims in the community (the anti-hoarding count)
    holding: int  # the actor's claims holding a place on this wish
    serving: int  # claims on the wish checked in and not out
    served: int  # claims on the wish checked out
    claim: Claim | None = None  # see_claim's claim, or see_wish's claim with the client's id
    policy: tuple[int, points.AccrualPolicy] | None = None  # with ``policy=True``

    def roles(self, claim: Claim | None = None) -> frozenset[Role]:
        """The actor's org roles on the wish's place or above (or a paired unit's), and their
        relations to the wish (and to ``claim``); NotFound when there are none (tenancy)."""
        actor = self.standing.member_id
        held = set(self.standing.on(self.place_path, self.wish.community_id))
        if actor == self.wish.beneficiary_id:
            held.add(Role.BENEFICIARY)
        if actor == self.wish.posted_by:
            held.add(Role.POSTER)
        if claim is not None and actor == claim.member_id:
            held.add(Role.CLAIMANT)
        if not held:
            raise (
                NotFound("claim", claim.id) if claim is not None else NotFound("wish", self.wish.id)
            )
        return frozenset(held)


def see_wish(
    conn: Connection, actor: str, community_id: str, wish_id: str, *, claim_id: str | None = None
) -> Seen:
    """The wish and all around it, in one statement (NotFound when there is no such wish).
    ``claim_id``: a claim id the client chose, looked up too (a retry returns that claim)."""
    query = _query(actor, sa.and_(wishes.c.community_id == community_id, wishes.c.id == wish_id))
    if claim_id is not None:
        by_id = claims.alias("by_id")
        query = query.add_columns(*labelled(by_id, "c_")).outerjoin(
            by_id, sa.and_(by_id.c.community_id == community_id, by_id.c.id == claim_id)
        )
    rows = [r._mapping for r in conn.execute(query)]
    if not rows:
        raise NotFound("wish", wish_id)
    seen = _seen(actor, rows)
    if claim_id is not None and rows[0]["c_id"] is not None:
        seen = msgspec.structs.replace(seen, claim=sqltypes.pick(rows[0], by_id, "c_", Claim))
    return seen


def see_claim(
    conn: Connection,
    actor: str,
    community_id: str,
    claim_id: str,
    *,
    policy: bool = False,
    lock: bool = False,
) -> Seen:
    """A claim, its wish and all around them, in one statement (NotFound: no such claim).

    ``policy``: the community's accrual policy too (:func:`points.policy_columns`). ``lock``: hold
    the wish's row until the transaction ends (PostgreSQL; SQLite has one writer anyway), for a
    use case that settles the wish from the claim counts it loaded."""
    the_claim = claims.alias("the_claim")
    query = _query(
        actor,
        sa.and_(the_claim.c.community_id == community_id, the_claim.c.id == claim_id),
        claim=the_claim,
    ).add_columns(*labelled(the_claim, "c_"))
    if policy:
        version, body = points.policy_columns(wishes.c.community_id)
        query = query.add_columns(version.label("policy_version"), body.label("policy_body"))
    if lock:
        query = query.with_for_update(of=wishes)
    rows = [r._mapping for r in conn.execute(query)]
    if not rows:
        raise NotFound("claim", claim_id)
    seen = msgspec.structs.replace(
        _seen(actor, rows), claim=sqltypes.pick(rows[0], the_claim, "c_", Claim)
    )
    if policy:
        found = points.policy_of(rows[0]["policy_version"], rows[0]["policy_body"])
        seen = msgspec.structs.replace(seen, policy=found)
    return seen


def _query(actor: str, which: sa.ColumnElement[bool], *, claim: Any = None) -> sa.Select[Any]:
    holds = holds_of(actor)
    base: Any = wishes
    if claim is not None:
        base = claim.join(
            wishes,
            sa.and_(wishes.c.community_id == claim.c.community_id, wishes.c.id == claim.c.wish_id),
        )
    mine = sa.and_(
        claims.c.community_id == wishes.c.community_id,
        claims.c.wish_id == wishes.c.id,
    )
    return (
        sa.select(
            *wishes.c,
            orgs.c.path.label("place_path"),
            *labelled(members, "b_"),
            sa.select(settings.c.body)
            .where(settings.c.community_id == wishes.c.community_id)
            .scalar_subquery()
            .label("rules_body"),
            sa.select(member_load.c.open_claims)
            .where(
                member_load.c.community_id == wishes.c.community_id,
                member_load.c.member_id == actor,
            )
            .scalar_subquery()
            .label("open_claims"),
            _count(mine, claims.c.member_id == actor, claims.c.state.in_(_ACTIVE)).label("holding"),
            _count(mine, claims.c.state == "checked_in").label("serving"),
            _count(mine, claims.c.state == "checked_out").label("served"),
            *holds.c,
        )
        .select_from(
            base.join(orgs, orgs.c.id == wishes.c.org_id)
            .outerjoin(members, members.c.id == wishes.c.beneficiary_id)
            .outerjoin(holds, sa.true())
        )
        .where(which)
    )


def _count(*where: sa.ColumnElement[bool]) -> sa.ScalarSelect[int]:
    return sa.select(sa.func.count()).select_from(claims).where(*where).scalar_subquery()


def _seen(actor: str, rows: list[Any]) -> Seen:
    first = rows[0]
    body = first["rules_body"]
    return Seen(
        wish=sqltypes.pick(first, wishes, "", Wish),
        place_path=first["place_path"],
        resident=sqltypes.pick(first, members, "b_", Member) if first["b_id"] is not None else None,
        rules=DEFAULT_RULES if body is None else msgspec.convert(body, CommunityRules),
        standing=from_rows(actor, rows),
        open_claims=int(first["open_claims"] or 0),
        holding=int(first["holding"]),
        serving=int(first["serving"]),
        served=int(first["served"]),
    )


def labelled(table: Any, prefix: str) -> list[sa.Label[Any]]:
    """Every column of ``table`` labelled ``prefix`` + its name (for :func:`pick`)."""
    return [c.label(f"{prefix}{c.name}") for c in table.c]
