"""Mutual-help offers (互助项目清单): standing offers residents can request from.

A member publishes an offer (a skill, a schedule, a weekly capacity). A resident's request makes a
wish already claimed by the offerer; it still waits for staff when the community's rules say so.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from marketplace import bounds, lifecycle
from marketplace.bounds import most, within
from marketplace.claims import claim
from marketplace.errors import CapacityFull, InvalidInput, NotFound
from marketplace.lifecycle import Act, Facts, Role, WishAction, WishState
from marketplace.model import Claim, Offer, Urgency, Wish, WishKind
from marketplace.moves import load_wish, move
from marketplace.orgs import check_text, community_rules, get_org, roles_on
from marketplace.schema import offers, wishes
from marketplace.wallet import community_roles
from marketplace.wishes import post_wish, verify
from points import Cause, new_id, sqltypes, utcnow


def publish_offer(
    conn: Connection,
    actor: str,
    community_id: str,
    *,
    category: str,
    title: str,
    schedule: str,
    capacity_per_week: int = 1,
    now: dt.datetime | None = None,
) -> Offer:
    community = get_org(conn, community_id)
    held = roles_on(conn, actor, community.path, community_id)
    lifecycle.require(Act.PUBLISH_OFFER, held, where="new")
    rules = community_rules(conn, community_id)
    if category not in rules.categories:
        raise InvalidInput("category", Cause("unknown_category"))
    check_text("title", title, most(bounds.Title))
    check_text("schedule", schedule, most(bounds.Schedule))
    if isinstance(capacity_per_week, bool) or not isinstance(capacity_per_week, int):
        raise InvalidInput("capacity_per_week", Cause("integer"))
    within("capacity_per_week", capacity_per_week, bounds.Capacity)
    offer_id = new_id()
    conn.execute(
        offers.insert().values(
            community_id=community_id,
            id=offer_id,
            member_id=actor,
            category=category,
            title=title,
            schedule=schedule,
            capacity_per_week=capacity_per_week,
            active=True,
            created_at=now or utcnow(),
        )
    )
    return get_offer(conn, community_id, offer_id)


def get_offer(conn: Connection, community_id: str, offer_id: str) -> Offer:
    row = (
        conn.execute(
            sa.select(offers).where(offers.c.community_id == community_id, offers.c.id == offer_id)
        )
    ).first()
    if row is None:
        raise NotFound("offer", offer_id)
    return sqltypes.to_struct(row, Offer)


def request_from_offer(
    conn: Connection,
    actor: str,
    community_id: str,
    offer_id: str,
    *,
    org_id: str,
    address: str,
    description: str,
    window_start: dt.datetime,
    window_end: dt.datetime,
    estimated_minutes: int,
    now: dt.datetime | None = None,
) -> tuple[Wish, Claim | None]:
    """A resident asks for the offer: a wish for the actor, claimed by the offerer at once when no
    verification is needed (else when staff verify it, see :func:`claim_for_offer`)."""
    now = now or utcnow()
    try:
        community_roles(conn, actor, community_id)  # who may list the offers may ask
    except NotFound:
        raise NotFound("offer", offer_id) from None  # another community's: not even its kind
    offer = get_offer(conn, community_id, offer_id)
    lifecycle.require(
        Act.REQUEST_FROM_OFFER,
        frozenset({Role.RESIDENT}),  # a member of the community: checked above (NotFound)
        where="offer",
        facts=Facts(offer_active=offer.active),
    )
    week_start = now - dt.timedelta(days=7)
    this_week = conn.scalar(
        sa.select(sa.func.count()).where(
            wishes.c.community_id == community_id,
            wishes.c.offer_id == offer_id,
            wishes.c.created_at >= week_start,
            wishes.c.state.not_in([WishState.REJECTED.value, WishState.CANCELLED.value]),
        )
    )
    if (this_week or 0) >= offer.capacity_per_week:
        raise CapacityFull(offer_id, offer.capacity_per_week)
    wish = post_wish(
        conn,
        actor,
        community_id=community_id,
        kind=WishKind.SERVICE,
        category=offer.category,
        title=offer.title,
        description=description,
        org_id=org_id,
        address=address,
        window_start=window_start,
        window_end=window_end,
        estimated_minutes=estimated_minutes,
        urgency=Urgency.NORMAL,
        offer_id=offer_id,
        now=now,
    )
    rules = community_rules(conn, community_id)
    if rules.offers_need_verification:
        return wish, None
    published = move(
        conn,
        "system",
        wish,
        WishAction.VERIFY,
        now=now,
        roles=frozenset({Role.STAFF}),
        reason="互助项目免审核",
        values={"published_at": now},
    )
    made = claim(conn, offer.member_id, community_id, published.id, now=now)
    return load_wish(conn, community_id, published.id), made


def claim_for_offer(
    conn: Connection,
    actor: str,
    community_id: str,
    wish_id: str,
    *,
    now: dt.datetime | None = None,
) -> tuple[Wish, Claim]:
    """Staff verify an offer's wish; the offerer's claim follows in the same transaction."""
    now = now or utcnow()
    wish = load_wish(conn, community_id, wish_id)
    if wish.offer_id is None:
        raise InvalidInput("wish_id", Cause("not_offer_request"))
    offer = get_offer(conn, community_id, wish.offer_id)
    published = verify(conn, actor, community_id, wish_id, now=now)
    made = claim(conn, offer.member_id, community_id, published.id, now=now)
    return load_wish(conn, community_id, wish_id), made


def approve(
    conn: Connection,
    actor: str,
    community_id: str,
    wish_id: str,
    *,
    now: dt.datetime | None = None,
) -> Wish:
    """审核通过 as staff do it: publish the wish; a request from an offer is claimed by its
    offerer in the same step (:func:`claim_for_offer`)."""
    wish = load_wish(conn, community_id, wish_id)
    if wish.offer_id is not None:
        published, _ = claim_for_offer(conn, actor, community_id, wish_id, now=now)
        return published
    return verify(conn, actor, community_id, wish_id, now=now)
