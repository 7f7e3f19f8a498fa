"""The data set, and what the benchmarks wrote into it, held to DESIGN.md section 3: the ledger
audit (double entry, stored balances, lots) and the marketplace's invariants (capacity, open-claim
counts, each wish's state agreeing with its claims and with its last recorded transition), and
the statistics' day rollups equal to their recomputation from the wishes, claims and
transitions."""

from __future__ import annotations

import sqlalchemy as sa

import points
from marketplace import rollups
from marketplace.lifecycle import WishState, wish_state_from_claims
from marketplace.schema import claims, member_load, wishes
from marketplace.schema import transitions as tr
from points import Database

ACTIVE = ("active", "checked_in", "checked_out")
OPEN = ("active", "checked_in")


def check(db: Database) -> list[str]:
    """Every problem found (empty: the data holds)."""
    problems: list[str] = []
    with db.snapshot() as conn:
        problems += [f"audit: {p.code} {p.subject} {p.message}" for p in points.audit(conn)]
        taken = (
            sa.select(
                claims.c.community_id,
                claims.c.wish_id,
                sa.func.sum(claims.c.places).label("places"),
                sa.func.sum(sa.case((claims.c.state == "checked_in", 1), else_=0)).label("serving"),
                sa.func.sum(sa.case((claims.c.state == "checked_out", 1), else_=0)).label("served"),
            )
            .where(claims.c.state.in_(ACTIVE))
            .group_by(claims.c.community_id, claims.c.wish_id)
            .subquery()
        )
        last = (
            sa.select(tr.c.community_id, tr.c.subject_id, sa.func.max(tr.c.id).label("last"))
            .where(tr.c.subject == "wish")
            .group_by(tr.c.community_id, tr.c.subject_id)
            .subquery()
        )
        rows = conn.execute(
            sa.select(
                wishes.c.community_id,
                wishes.c.id,
                wishes.c.state,
                wishes.c.capacity,
                wishes.c.places_taken,
                sa.func.coalesce(taken.c.places, 0),
                sa.func.coalesce(taken.c.serving, 0),
                sa.func.coalesce(taken.c.served, 0),
                tr.c.to_state,
            )
            .outerjoin(
                taken,
                sa.and_(
                    taken.c.community_id == wishes.c.community_id, taken.c.wish_id == wishes.c.id
                ),
            )
            .outerjoin(
                last,
                sa.and_(
                    last.c.community_id == wishes.c.community_id, last.c.subject_id == wishes.c.id
                ),
            )
            .outerjoin(
                tr, sa.and_(tr.c.community_id == last.c.community_id, tr.c.id == last.c.last)
            )
        )
        for c, w, state, capacity, places_taken, held, serving, served, recorded in rows:
            if places_taken != held or places_taken > capacity:
                problems.append(f"wish {c}/{w}: places_taken {places_taken}, claims hold {held}")
            settled = wish_state_from_claims(
                WishState(state),
                capacity=capacity,
                places_taken=places_taken,
                serving=serving,
                served=served,
            )
            if settled.value != state:
                problems.append(f"wish {c}/{w}: {state}, but its claims say {settled}")
            if recorded != state:
                problems.append(f"wish {c}/{w}: {state}, last transition says {recorded}")
        counted = (
            sa.select(
                claims.c.community_id,
                claims.c.member_id,
                sa.func.count().label("n"),
            )
            .where(claims.c.state.in_(OPEN), claims.c.member_id.is_not(None))
            .group_by(claims.c.community_id, claims.c.member_id)
            .subquery()
        )
        loads = conn.execute(
            sa.select(
                member_load.c.community_id,
                member_load.c.member_id,
                member_load.c.open_claims,
                sa.func.coalesce(counted.c.n, 0),
            ).outerjoin(
                counted,
                sa.and_(
                    counted.c.community_id == member_load.c.community_id,
                    counted.c.member_id == member_load.c.member_id,
                ),
            )
        )
        for c, m, stored, n in loads:
            if stored != n:
                problems.append(f"member {c}/{m}: open_claims {stored}, open claims {n}")
        kept, recomputed = rollups.stored(conn), rollups.rebuild(conn)
        for key in sorted(set(kept) | set(recomputed)):
            if kept[key] != recomputed[key]:
                problems.append(f"statistics {key}: kept {kept[key]}, recomputed {recomputed[key]}")
    return problems
