"""Lists people page through: the claims on a wish, a member's own wishes and claims, offers, the
org tree.

Each list is checked like the objects in it: NotFound when the viewer has no business with the
wish, community or org (tenancy), and every list is a cursor page of at most 200 items.
"""

from __future__ import annotations

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from marketplace import lifecycle
from marketplace.errors import InvalidInput, NotFound
from marketplace.lifecycle import Act, ClaimState, Role, WishState
from marketplace.model import Claim, Offer, Org, Wish
from marketplace.moves import load_wish, roles_for
from marketplace.orgs import check_id, get_org, roles_on
from marketplace.schema import claims, members, offers, orgs, roles, wishes
from marketplace.wallet import community_roles
from points import Cause, Page, sqltypes


class ClaimLine(msgspec.Struct, frozen=True, kw_only=True):
    claim: Claim
    member_name: str | None  # the volunteer's name (None for a unit's unassigned places)


def _check_limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 200:
        raise InvalidInput("limit", Cause("range", {"low": 1, "high": 200}))
    return limit


def wish_claims(conn: Connection, actor: str, community_id: str, wish_id: str) -> list[ClaimLine]:
    """Claims on a wish: all of them for office, the resident and who posted it (they meet the
    volunteers); a volunteer sees only their own."""
    wish = load_wish(conn, community_id, wish_id)
    held = roles_for(conn, actor, wish)
    query = (
        sa.select(claims, members.c.name.label("member_name"))
        .outerjoin(members, members.c.id == claims.c.member_id)
        .where(claims.c.community_id == community_id, claims.c.wish_id == wish_id)
        .order_by(claims.c.created_at, claims.c.id)
    )
    if not lifecycle.can(Act.SEE_ALL_CLAIMS, held):
        query = query.where(claims.c.member_id == actor)
    return [
        ClaimLine(claim=sqltypes.to_struct(r, Claim), member_name=r.member_name)
        for r in conn.execute(query)
    ]


def member_wishes(
    conn: Connection,
    actor: str,
    community_id: str,
    *,
    states: frozenset[WishState] = frozenset(),
    cursor: str | None = None,
    limit: int = 50,
) -> Page:
    """我的心愿: wishes the actor posted or that are for them, newest first (items: Wish)."""
    get_org(conn, community_id)
    _check_limit(limit)
    theirs = sa.or_(wishes.c.beneficiary_id == actor, wishes.c.posted_by == actor)
    query = sa.select(wishes).where(wishes.c.community_id == community_id, theirs)
    if states:
        query = query.where(wishes.c.state.in_(sorted(s.value for s in states)))
    if cursor is not None:
        query = query.where(wishes.c.id < check_id("cursor", cursor))
    rows = (conn.execute(query.order_by(wishes.c.id.desc()).limit(limit + 1))).all()
    items = tuple(sqltypes.to_struct(r, Wish) for r in rows[:limit])
    return Page(items=items, next_cursor=items[-1].id if len(rows) > limit else None)


def member_claims(
    conn: Connection,
    actor: str,
    community_id: str,
    *,
    states: frozenset[ClaimState] = frozenset(),
    cursor: str | None = None,
    limit: int = 50,
) -> Page:
    """我的认领: the actor's claims in the community, newest first."""
    community_roles(conn, actor, community_id)
    _check_limit(limit)
    query = sa.select(claims).where(
        claims.c.community_id == community_id, claims.c.member_id == actor
    )
    if states:
        query = query.where(claims.c.state.in_(sorted(s.value for s in states)))
    if cursor is not None:
        query = query.where(claims.c.id < check_id("cursor", cursor))
    rows = (conn.execute(query.order_by(claims.c.id.desc()).limit(limit + 1))).all()
    items = tuple(sqltypes.to_struct(r, Claim) for r in rows[:limit])
    return Page(items=items, next_cursor=items[-1].id if len(rows) > limit else None)


def list_offers(
    conn: Connection,
    actor: str,
    community_id: str,
    *,
    active_only: bool = True,
    cursor: str | None = None,
    limit: int = 50,
) -> Page:
    """互助项目清单 of the community, for anyone with a role there."""
    community_roles(conn, actor, community_id)
    _check_limit(limit)
    query = sa.select(offers).where(offers.c.community_id == community_id)
    if active_only:
        query = query.where(offers.c.active == sa.true())
    if cursor is not None:
        query = query.where(offers.c.id < check_id("cursor", cursor))
    rows = (conn.execute(query.order_by(offers.c.id.desc()).limit(limit + 1))).all()
    items = tuple(sqltypes.to_struct(r, Offer) for r in rows[:limit])
    return Page(items=items, next_cursor=items[-1].id if len(rows) > limit else None)


def set_offer_active(
    conn: Connection, actor: str, community_id: str, offer_id: str, active: bool
) -> Offer:
    """The offerer (or office) pauses or resumes an offer; NotAllowed for the other members,
    who see it in the list."""
    _, held = community_roles(conn, actor, community_id)
    row = (
        conn.execute(
            sa.select(offers).where(offers.c.community_id == community_id, offers.c.id == offer_id)
        )
    ).first()
    if row is None:
        raise NotFound("offer", offer_id)
    offer = sqltypes.to_struct(row, Offer)
    mine = frozenset({Role.OFFERER}) if offer.member_id == actor else frozenset()
    lifecycle.require(Act.SET_OFFER_ACTIVE, held | mine, where="offer")
    conn.execute(
        offers.update()
        .where(offers.c.community_id == community_id, offers.c.id == offer_id)
        .values(active=bool(active))
    )
    return msgspec.structs.replace(offer, active=bool(active))


def child_orgs(
    conn: Connection,
    actor: str,
    org_id: str,
    *,
    cursor: str | None = None,
    limit: int = 50,
) -> Page:
    """The orgs directly under ``org_id`` (for anyone holding a role on it or above)."""
    org = get_org(conn, org_id)
    if not roles_on(conn, actor, org.path, org.community_id):
        raise NotFound("org", org_id)
    _check_limit(limit)
    query = sa.select(orgs).where(orgs.c.parent_id == org_id)
    if cursor is not None:
        query = query.where(orgs.c.id > check_id("cursor", cursor))
    rows = (conn.execute(query.order_by(orgs.c.id).limit(limit + 1))).all()
    items = tuple(sqltypes.to_struct(r, Org) for r in rows[:limit])
    return Page(items=items, next_cursor=items[-1].id if len(rows) > limit else None)


def visible_org(conn: Connection, actor: str, org_id: str) -> Org:
    """One org, for anyone holding a role on it or above, or inside it."""
    org = get_org(conn, org_id)
    if roles_on(conn, actor, org.path, org.community_id):
        return org
    inside = conn.scalar(
        sa.select(sa.func.count())
        .select_from(orgs)
        .where(orgs.c.path.startswith(org.path, autoescape=True))
        .where(orgs.c.id.in_(_held_orgs(actor)))
    )
    if not inside:
        raise NotFound("org", org_id)
    return org


def _held_orgs(actor: str) -> sa.Select[tuple[str]]:
    return sa.select(roles.c.org_id).where(roles.c.member_id == actor)
