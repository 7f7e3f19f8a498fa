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
from marketplace.moves import with_relations
from marketplace.rules import DEFAULT_RULES, CommunityRules
from marketplace.schema import claims, member_load, members, orgs, settings, wishes
from marketplace.standing import Standing, from_rows, holds_of
from points import sqltypes


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
        on_place = self.standing.on(self.place_path, self.wish.community_id)
        return with_relations(on_place, self.standing.member_id, self.wish, claim)


def see_wish(
    conn: Connection,
    actor: str,
    community_id: str,
    wish_id: str,
    *,
    claim_id: str | None = None,
    lock: bool = False,
) -> Seen:
    """The wish and all around it, in one statement (NotFound when there is no such wish).
    ``claim_id``: a claim id the client chose, looked up too (a retry returns that claim).
    ``lock``: hold the wish's row until the transaction ends (PostgreSQL), for a use case that
    counts what hangs on the wish before adding to it."""
    statement = _SEE_WISH_BY_ID if claim_id is not None else _SEE_WISH_LOCKED if lock else _SEE_WISH
    given = {"actor": actor, "community": community_id, "subject": wish_id, "claim_id": claim_id}
    rows = [r._asdict() for r in conn.execute(statement, given)]
    if not rows:
        raise NotFound("wish", wish_id)
    seen = _seen(actor, rows)
    if claim_id is not None and rows[0]["c_id"] is not None:
        seen = msgspec.structs.replace(seen, claim=sqltypes.pick(rows[0], claims, "c_", Claim))
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
    statement = _SEE_CLAIM[(policy, lock)]
    given = {"actor": actor, "community": community_id, "subject": claim_id}
    rows = [r._asdict() for r in conn.execute(statement, given)]
    if not rows:
        raise NotFound("claim", claim_id)
    seen = msgspec.structs.replace(
        _seen(actor, rows), claim=sqltypes.pick(rows[0], claims, "c_", Claim)
    )
    if policy:
        found = points.policy_of(rows[0]["policy_version"], rows[0]["policy_body"])
        seen = msgspec.structs.replace(seen, policy=found)
    return seen


def _query(*, claim: Any = None) -> sa.Select[Any]:
    """The load of a wish (or, with ``claim``, of a claim and its wish): bound parameters
    ``actor``, ``community`` and ``subject`` (the wish's or the claim's id). Built once."""
    actor = sa.bindparam("actor", type_=members.c.id.type)
    community = sa.bindparam("community", type_=wishes.c.community_id.type)
    subject = sa.bindparam("subject", type_=wishes.c.id.type)
    holds = holds_of(actor)
    base: Any = wishes
    which = sa.and_(wishes.c.community_id == community, wishes.c.id == subject)
    if claim is not None:
        base = claim.join(
            wishes,
            sa.and_(wishes.c.community_id == claim.c.community_id, wishes.c.id == claim.c.wish_id),
        )
        which = sa.and_(claim.c.community_id == community, claim.c.id == subject)
    # The wish's claims counted in one pass, as a derived table (correlated count subqueries
    # measured ≈ 35 µs each on SQLite here, the derived table ≈ 7 µs for all three).
    wish_id: Any = subject
    if claim is not None:
        wish_id = (
            sa.select(claims.c.wish_id)
            .where(claims.c.community_id == community, claims.c.id == subject)
            .scalar_subquery()
        )
    counts = (
        sa.select(
            _sum(claims.c.state == _literal("checked_in")).label("serving"),
            _sum(claims.c.state == _literal("checked_out")).label("served"),
            _sum(sa.and_(claims.c.member_id == actor, _holding)).label("holding"),
        )
        .where(claims.c.community_id == community, claims.c.wish_id == wish_id)
        .subquery("counts")
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
            counts.c.holding,
            counts.c.serving,
            counts.c.served,
            *holds.c,
        )
        .select_from(
            base.join(orgs, orgs.c.id == wishes.c.org_id)
            .outerjoin(members, members.c.id == wishes.c.beneficiary_id)
            .outerjoin(holds, sa.true())
            .outerjoin(counts, sa.true())
        )
        .where(which)
    )


def _literal(value: str) -> Any:
    """A state written into the statement (a parameter would hide from SQLite that the partial
    indexes on claim states apply)."""
    return sa.literal_column(f"'{value}'")


_holding = sa.or_(*(claims.c.state == _literal(s.value) for s in sorted(ACTIVE_CLAIM_STATES)))
"""A claim holding a place (not ``IN``: an expanding list is compiled anew at each execution)."""


def _sum(condition: sa.ColumnElement[bool]) -> Any:
    return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)


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


def _by_id() -> sa.Select[Any]:
    by_id = claims.alias("by_id")
    return (
        _query()
        .add_columns(*labelled(by_id, "c_"))
        .outerjoin(
            by_id,
            sa.and_(
                by_id.c.community_id == sa.bindparam("community"),
                by_id.c.id == sa.bindparam("claim_id"),
            ),
        )
    )


def _of_claim(policy: bool, lock: bool) -> sa.Select[Any]:
    the_claim = claims.alias("the_claim")
    query = _query(claim=the_claim).add_columns(*labelled(the_claim, "c_"))
    if policy:
        version, body = points.policy_columns(wishes.c.community_id)
        query = query.add_columns(version.label("policy_version"), body.label("policy_body"))
    if lock:
        query = query.with_for_update(of=wishes)
    return query


_SEE_WISH = _query()
_SEE_WISH_LOCKED = _query().with_for_update(of=wishes)
_SEE_WISH_BY_ID = _by_id()
_SEE_CLAIM = {(p, lk): _of_claim(p, lk) for p in (False, True) for lk in (False, True)}
