"""Matching against stored wishes and members: recommendations, reasons, candidates, dispatch."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

import marketplace as mk
import marketplace_world as world
import points
from marketplace import CommunityRules
from marketplace.recommendations import _escaped
from marketplace_world import T0


def test_a_wish_needing_a_skill_is_recommended_only_to_members_with_it(
    db: points.Database,
) -> None:
    with db.transaction() as tx:
        world.build(tx)
        care = world.published(tx, id="care")
        world.repair(tx, id="repair", urgency=mk.Urgency.URGENT)
        world.published(tx, id="mine", actor="res2")
    with db.snapshot() as tx:
        for_vol1 = mk.recommendations(tx, "vol1", "c1", now=T0)
        for_vol2 = mk.recommendations(tx, "vol2", "c1", now=T0)
        for_outsider = mk.recommendations(tx, "outsider", "c1", now=T0)
    assert [m.wish_id for m in for_vol1] == ["repair", "care", "mine"]  # urgent first
    assert for_vol1[0].score.parts["skills"] > 0
    assert "紧急" in for_vol1[0].score.explain
    assert any("同一网格" in phrase for phrase in for_vol1[0].score.explain)
    assert [m.wish_id for m in for_vol2] == [care.id, "mine"]  # lacks 家电维修
    assert for_outsider == []


def test_reasons_say_why_a_member_cannot_take_a_wish(db: points.Database) -> None:
    with db.transaction() as tx:
        world.build(tx)
        wish = world.published(tx, category="家电维修")
        repair = world.repair(tx)
    with db.snapshot() as tx:
        assert mk.reasons(tx, "vol1", "c1", repair.id, now=T0) == ()
        codes = [r.code for r in mk.reasons(tx, "vol2", "c1", repair.id, now=T0)]
        assert codes == ["missing_skills"]
        own = [r.code for r in mk.reasons(tx, "res", "c1", wish.id, now=T0)]
        assert "own_wish" in own
        assert "needs_role" in own


def test_candidates_are_ranked_for_staff_only(db: points.Database) -> None:
    with db.transaction() as tx:
        world.build(tx)
        wish = mk.post_wish(
            tx,
            "res",
            community_id="c1",
            kind=mk.WishKind.SERVICE,
            category="家电维修",
            title="修洗衣机",
            description="",
            org_id="g1",
            address="幸福路1号",
            window_start=T0 + dt.timedelta(hours=1),
            window_end=T0 + dt.timedelta(hours=4),
            estimated_minutes=60,
            skills=frozenset({"家电维修"}),
            now=T0,
        )
        mk.verify(tx, "staff", "c1", wish.id, now=T0)
    with db.snapshot() as tx:
        ranked = mk.candidates(tx, "staff", "c1", wish.id, now=T0)
        assert [m.member_id for m in ranked] == ["vol1"]  # the only one with the skill
    with db.snapshot() as tx:
        try:
            mk.candidates(tx, "vol2", "c1", wish.id, now=T0)
        except mk.NotAllowed:
            pass
        else:
            raise AssertionError("a volunteer must not see the candidate list")


def test_auto_dispatch_fills_places_within_capacity_and_limits(db: points.Database) -> None:
    with db.transaction() as tx:
        world.build(tx)
        mk.set_community_rules(tx, "staff", "c1", CommunityRules(claim_limit=2), now=T0)
        for n in range(8):
            world.published(tx, id=f"w{n}", capacity=1 + n % 3)
    with db.transaction() as tx:
        made = mk.dispatch_all(tx, "staff", "c1", now=T0).claims
    with db.snapshot() as tx:
        page = mk.list_wishes(tx, "staff", "c1", limit=50)
        per_member: dict[str, int] = {}
        for claim in made:
            assert claim.member_id is not None
            per_member[claim.member_id] = per_member.get(claim.member_id, 0) + 1
    wishes = {w.id: w for w in page.items}
    assert all(w.places_taken <= w.capacity for w in wishes.values())
    assert all(n <= 2 for n in per_member.values())
    # 5 volunteers + 1 party member of the paired unit, 2 places each = 12 of the 16 places.
    assert len(made) == 12
    assert sum(w.places_taken for w in wishes.values()) == 12


def test_a_community_path_is_escaped_for_like_as_sqlalchemy_escapes_it() -> None:
    """The candidates' statement is built once, so the community's path (ids may hold ``_``)
    is escaped by hand: the same value SQLAlchemy's ``autoescape`` would send."""
    for path in ("/d1/s1/c1/", "/d_1/s%1/c//1/", "/a_b_c/"):
        compiled = sa.column("path").startswith(path, autoescape=True).compile()
        assert list(compiled.params.values()) == [_escaped(path)]
