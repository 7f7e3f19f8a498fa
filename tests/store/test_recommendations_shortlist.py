"""Recommendations read a shortlist from the database (:mod:`marketplace.shortlist`); they must
equal ranking every open wish of the community (:func:`marketplace.matching.recommend` over the
whole load), on a seeded random community, on both backends: the same wishes, scores, parts and
words, for every member and several limits."""

from __future__ import annotations

import datetime as dt
import random

import sqlalchemy as sa
from sqlalchemy.engine import Connection

import marketplace as mk
import marketplace_world as world
import points
from marketplace import CommunityRules, OrgKind, Role, Weights
from marketplace.matching import recommend
from marketplace.orgs import get_org
from marketplace.recommendations import _candidates, _for_volunteer, _targets
from marketplace.schema import wishes
from marketplace_world import T0

HOUR = dt.timedelta(hours=1)
NOW = T0 + 110 * HOUR
SKILLS = ("电工", "驾驶", "医护")
PLACES = ("c1", "p1", "g1", "g1", "g2", "b1", "p2", "g3", "g3")
URGENCIES = (mk.Urgency.NORMAL, mk.Urgency.URGENT, mk.Urgency.URGENT, mk.Urgency.LOW)
HOMES = ("g1", "g2", "b1", "g3", "p2", "c1", None)
RESIDENTS = tuple(f"r{i}" for i in range(8))
HELPERS = tuple(f"h{i:02}" for i in range(16))


def _community(tx: Connection, rng: random.Random) -> None:
    """c1 with two compounds, three grids and a building; 16 volunteers living around it (or
    nowhere known); 8 residents, some key households; 300 wishes posted over 100 hours, some
    taken, some past their window, some never published."""
    world.build(tx)
    sys = mk.SYSTEM
    for org_id, kind, parent in (
        ("g2", OrgKind.GRID, "p1"),
        ("b1", OrgKind.BUILDING, "g1"),
        ("p2", OrgKind.COMPOUND, "c1"),
        ("g3", OrgKind.GRID, "p2"),
    ):
        mk.create_org(tx, sys, id=org_id, kind=kind, name=org_id, parent_id=parent, now=T0)
    mk.set_community_rules(tx, "staff", "c1", CommunityRules(claim_limit=6), now=T0)
    for member_id in HELPERS:
        skills = frozenset(rng.sample(SKILLS, rng.randint(0, 2)))
        mk.add_member(tx, id=member_id, name=member_id, home_org_id=rng.choice(HOMES),
                      skills=skills, now=T0)  # fmt: skip
        mk.grant_role(tx, sys, member_id, "c1", Role.VOLUNTEER, now=T0)
    for member_id in RESIDENTS:
        mk.add_member(tx, id=member_id, name=member_id, home_org_id="g1", now=T0)
        mk.grant_role(tx, sys, member_id, "c1", Role.RESIDENT, now=T0)
    _key_household(tx, "r0")  # before their wishes are posted
    posted = []
    for n in range(300):
        at = T0 + rng.randint(0, 100) * HOUR + rng.choice((0, 0, 1)) * dt.timedelta(minutes=7)
        start = at + rng.randint(1, 200) * HOUR
        if n % 9 == 0:  # the same start as others: ties broken by id
            start = T0 + 101 * HOUR
        wish = mk.post_wish(
            tx, rng.choice(RESIDENTS), community_id="c1", kind=mk.WishKind.SERVICE,
            category="助老陪护", title=f"心愿{n}", description="", org_id=rng.choice(PLACES),
            address="1号楼", id=f"w{n:03}", window_start=start,
            window_end=start + rng.randint(1, 72) * HOUR, estimated_minutes=60,
            capacity=rng.choice((1, 1, 2, 3)), urgency=rng.choice(URGENCIES),
            skills=frozenset(rng.sample(SKILLS, rng.choice((0, 0, 1, 2)))), now=at,
        )  # fmt: skip
        if rng.random() < 0.9:
            mk.verify(tx, "staff", "c1", wish.id, now=at)
            posted.append((wish.id, at))
    _key_household(tx, "r1")  # after: their wishes learn it
    _key_household(tx, "r2")
    for wish_id, at in rng.sample(posted, 80):
        helper = rng.choice(HELPERS)
        try:
            with tx.begin_nested():
                mk.claim(tx, helper, "c1", wish_id, now=at + HOUR)
        except mk.MarketplaceError:
            pass  # lacks a skill, at the limit, full, …


def _key_household(tx: Connection, member_id: str) -> None:
    flags = frozenset({mk.KeyHousehold.ELDERLY_ALONE})
    mk.set_key_household(tx, "staff", member_id, "c1", flags, purpose="优先帮扶", now=T0)


def _ranked_over_everything(
    tx: Connection, member_id: str, weights: Weights, limit: int
) -> list[mk.Match]:
    """Recommendations as they were before the shortlist: every open wish loaded and ranked."""
    community = get_org(tx, "c1")
    candidates = _candidates(tx, community, NOW, 6, member_id)
    if not candidates:
        return []
    found = recommend(candidates[0], _targets(tx, "c1"), weights, NOW, limit=limit)
    return [_for_volunteer(m) for m in found]


def test_recommendations_equal_ranking_every_open_wish(db: points.Database) -> None:
    rng = random.Random(14)
    with db.transaction() as tx:
        _community(tx, rng)
    members = (*HELPERS, *world.VOLUNTEERS, "party", "outsider", "res")
    weightings = (Weights(), Weights(distance=0.0, urgency=3.0, key_household=0.5, waiting=2.0))
    compared = 0
    for weights in weightings:
        with db.transaction() as tx:
            mk.set_community_rules(
                tx, "staff", "c1", CommunityRules(claim_limit=6, weights=weights), now=T0
            )
        with db.snapshot() as tx:
            for member_id in members:
                for limit in (1, 3, 8, 30, 120):  # 120: later cells are probed, then read
                    got = mk.recommendations(tx, member_id, "c1", limit=limit, now=NOW)
                    assert got == _ranked_over_everything(tx, member_id, weights, limit), (
                        member_id,
                        limit,
                    )
                    compared += len(got)
    assert compared > 1000  # the data set gives most members wishes to compare


def test_a_wish_carries_its_residents_key_household(db: points.Database) -> None:
    def flags(tx: Connection) -> list[bool]:
        return [bool(f) for f in tx.execute(sa.select(wishes.c.key_household)).scalars()]

    with db.transaction() as tx:
        world.build(tx)
        world.published(tx, id="before")
        _key_household(tx, "res")  # recorded after a wish was posted: the wish learns it
        world.published(tx, id="after")  # posted by a key household: the wish carries it
        assert flags(tx) == [True, True]
        mk.anonymise(tx, "res", "res", now=T0)  # the flags go with the personal data
        assert flags(tx) == [False, False]
