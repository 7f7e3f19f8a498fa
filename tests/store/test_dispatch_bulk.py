"""Batch dispatch in bulk (:func:`marketplace.dispatches.dispatch_many`) against the one-claim
path (:func:`marketplace.dispatch`, one assignment at a time): the same plan, including
assignments the rules refuse, must leave the same rows (wishes, claims, open-claim counts, the
record of every move) and give the same refusals, on both backends; and every invariant holds."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

import marketplace as mk
import marketplace_world as world
import points
from marketplace import CommunityRules, Role, dispatches, rollups
from marketplace.dispatches import Left, dispatch_many
from marketplace.matching import Assignment, auto_dispatch
from marketplace.orgs import community_rules, get_org
from marketplace.recommendations import _candidates, _targets
from marketplace.schema import claims, member_load, transitions, wishes
from marketplace_world import T0

HOUR = dt.timedelta(hours=1)
NOW = T0 + HOUR
HELPERS = tuple(f"h{i:02}" for i in range(12))


def _community(tx: Connection, rng: random.Random) -> None:
    world.build(tx)
    mk.set_community_rules(tx, "staff", "c1", CommunityRules(claim_limit=2), now=T0)
    for member_id in HELPERS:
        skills = frozenset(rng.sample(("电工", "驾驶"), rng.randint(0, 2)))
        mk.add_member(tx, id=member_id, name=member_id, home_org_id="g1", skills=skills, now=T0)
        mk.grant_role(tx, mk.SYSTEM, member_id, "c1", Role.VOLUNTEER, now=T0)
    for n in range(30):
        wish = mk.post_wish(
            tx, "res", community_id="c1", kind=mk.WishKind.SERVICE, category="助老陪护",
            title=f"心愿{n}", description="", org_id="g1", address="1号楼", id=f"w{n:02}",
            window_start=T0 + rng.randint(2, 30) * HOUR,
            window_end=T0 + rng.randint(31, 60) * HOUR, estimated_minutes=60,
            capacity=3 if n < 3 else rng.randint(1, 3), urgency=rng.choice(list(mk.Urgency)),
            skills=frozenset(rng.sample(("电工", "驾驶"), rng.choice((0, 0, 1)))), now=T0,
        )  # fmt: skip
        mk.verify(tx, "staff", "c1", wish.id, now=T0)
    for wish_id, member_id in (("w00", "h00"), ("w01", "h01"), ("w01", "h02"), ("w02", "h00")):
        mk.dispatch(tx, "staff", "c1", wish_id, member_id, now=T0)


def _plan(tx: Connection) -> list[Assignment]:
    """auto_dispatch's plan, after assignments the rules refuse: a member twice on a wish, a
    place past capacity, a member past their limit, a resident, the wish's own
    resident, a wish that is not there."""
    rules = community_rules(tx, "c1")
    members = _candidates(tx, get_org(tx, "c1"), NOW, rules.claim_limit)
    plan = auto_dispatch(_targets(tx, "c1"), members, rules.weights, NOW)
    assert len(plan) > 10
    bad = [
        Assignment(wish_id="w01", member_id="h01", score=0.0),
        *(Assignment(wish_id="w01", member_id=m, score=0.0) for m in HELPERS[3:6]),
        *(Assignment(wish_id=f"w{n:02}", member_id="h00", score=0.0) for n in range(3, 7)),
        Assignment(wish_id="w07", member_id="res2", score=0.0),
        Assignment(wish_id="w08", member_id="res", score=0.0),
        Assignment(wish_id="nowhere", member_id="h05", score=0.0),
    ]
    return [*bad, *plan]


def _one_by_one(tx: Connection, plan: list[Assignment]) -> tuple[list[Any], list[Left]]:
    made, left = [], []
    for step in plan:
        try:
            with tx.begin_nested():
                made.append(mk.dispatch(tx, "staff", "c1", step.wish_id, step.member_id, now=NOW))
        except mk.MarketplaceError as refused:
            code = refused.reason.code if isinstance(refused, mk.InvalidInput) else refused.code
            left.append(Left(wish_id=step.wish_id, member_id=step.member_id, code=code))
    return made, left


def _rows(tx: Connection) -> dict[str, Any]:
    """What the dispatch wrote, claim ids replaced by (wish, member): ids are new each run."""
    who = {r.id: f"{r.wish_id}/{r.member_id}" for r in tx.execute(sa.select(claims))}
    return {
        "wishes": sorted(tuple(r) for r in tx.execute(sa.select(wishes))),
        "claims": sorted(
            (who[r.id], *(v for k, v in r._mapping.items() if k != "id"))
            for r in tx.execute(sa.select(claims))
        ),
        "load": sorted(tuple(r) for r in tx.execute(sa.select(member_load))),
        "record": sorted(
            (
                who.get(r.subject_id, r.subject_id),
                r.subject,
                r.action,
                r.from_state,
                r.to_state,
                r.actor_id,
                tuple(r.roles),
                r.reason,
                r.at,
            )
            for r in tx.execute(sa.select(transitions))
        ),
    }


def _problems(tx: Connection, limit: int) -> list[str]:
    """Capacity and open-claim counts against the claims themselves."""
    found = []
    holding = Counter()
    per_member = Counter()
    for c in tx.execute(sa.select(claims)):
        if c.state in ("active", "checked_in", "checked_out"):
            holding[c.wish_id] += c.places
        if c.state in ("active", "checked_in") and c.member_id is not None:
            per_member[c.member_id] += 1
    for w in tx.execute(sa.select(wishes)):
        if not w.places_taken == holding[w.id] <= w.capacity:
            found.append(f"{w.id}: {w.places_taken} taken, {holding[w.id]} held of {w.capacity}")
        if w.state == "claimed" and w.places_taken < w.capacity:
            found.append(f"{w.id}: claimed with places free")
    for row in tx.execute(sa.select(member_load)):
        if not row.open_claims == per_member[row.member_id] <= limit:
            found.append(
                f"{row.member_id}: counted {row.open_claims}, holds {per_member[row.member_id]}"
            )
    return found


@pytest.mark.parametrize("chunk", [1_000, 3])
def test_bulk_dispatch_leaves_what_one_claim_at_a_time_leaves(
    db: points.Database, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dispatches, "CHUNK", chunk)  # 3: a wish's places split across chunks
    with db.transaction() as tx:
        _community(tx, random.Random(14))
    with db.writer.connect() as conn:
        with conn.begin() as outer:
            assert rollups.stored(conn) == rollups.rebuild(conn), "before"
            plan = _plan(conn)
            known = {t.wish.id: (t.wish, t.path) for t in _targets(conn, "c1", lock=True)}
            rules = community_rules(conn, "c1")
            done = dispatch_many(conn, "staff", "c1", plan, rules, now=NOW, known=known)
            bulk = _rows(conn)
            assert _problems(conn, 2) == []
            assert rollups.stored(conn) == rollups.rebuild(conn)  # the statistics kept up
            outer.rollback()
        with conn.begin() as outer:
            made, left = _one_by_one(conn, plan)
            single = _rows(conn)
            assert rollups.stored(conn) == rollups.rebuild(conn)
            outer.rollback()
    assert [(c.wish_id, c.member_id) for c in done.claims] == [
        (c.wish_id, c.member_id) for c in made
    ]
    assert done.left == left
    assert {x.code for x in left} >= {
        "already_claimed", "capacity_full", "claim_limit_reached", "not_claiming_role",
        "not_found",
    }  # fmt: skip
    assert bulk == single


def test_dispatch_all_says_what_was_assigned_and_why_the_rest_was_not(
    db: points.Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dispatches, "CHUNK", 2)
    with db.transaction() as tx:
        _community(tx, random.Random(7))
        done = mk.dispatch_all(tx, "staff", "c1", now=NOW)
        assert _problems(tx, 2) == []
    # 12 helpers, 5 volunteers and the paired unit's party member, 2 open claims each (three
    # helpers held 4 already)
    assert len(done.claims) == 18 * 2 - 4
    assert done.left
    assert {x.code for x in done.left} == {"no_candidate"}
    assert all(x.member_id is None for x in done.left)
