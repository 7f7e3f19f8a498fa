"""The statistics' day rollups equal a full recomputation after a random workload, on both
backends.

A seeded random workload drives the real library operations (post, verify, reject, cancel, claim,
dispatch, a unit's claim and assignment, check-in and -out, confirm with a rating, dispute and
resolve, withdraw, and the sweeps: expiry, escalation, auto-accept, no-shows) over several China
days, each in its own transaction (a refused one writes nothing). Then the rollups kept by the
write path must equal :func:`marketplace.rollups.rebuild`, and :func:`marketplace.statistics` and
the communities' :func:`marketplace.three_rates` over each day and over the whole span must equal
:func:`scanned`, a recomputation straight from the wishes, claims and transitions (the set-based
scans the statistics ran before the rollups).
"""

from __future__ import annotations

import datetime as dt
import random
import statistics as pystats
from collections import Counter
from collections.abc import Callable
from typing import Any

import msgspec
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

import marketplace as mk
import marketplace_world as world
import points
from marketplace import rollups
from marketplace.lifecycle import ClaimState, WishAction, WishState
from marketplace.rules import DEFAULT_RULES, CommunityRules, Deadlines
from marketplace.schema import claims, members, orgs, settings, stat_days, transitions, wishes
from marketplace.stats import ANONYMOUS, TOP, mask, rate
from marketplace_world import T0, VOLUNTEERS

H, M = dt.timedelta(hours=1), dt.timedelta(minutes=1)
D0 = T0 - 9 * H  # midnight in China, T0's day
DAYS = 4
CATEGORIES = ("助老陪护", "家电维修", "文体活动")


class Workload:
    def __init__(self, db: points.Database, seed: int) -> None:
        self.db = db
        self.rng = random.Random(seed)
        self.now = D0 + 30 * M
        self.codes: dict[str, str] = {}
        self.done: Counter[str] = Counter()

    def run(self, steps: int) -> None:
        ops: list[Callable[[Connection], Any]] = [
            self.post, self.post, self.post, self.verify, self.verify, self.refuse, self.claim,
            self.claim, self.unit, self.check_in, self.check_out, self.check_out, self.settle,
            self.settle, self.withdraw, self.sweep,
        ]  # fmt: skip
        end = D0 + DAYS * 24 * H - 2 * H
        for _ in range(steps):
            if self.now >= end:
                break
            op = self.rng.choice(ops)
            try:
                with self.db.transaction() as tx:
                    op(tx)
                self.done[op.__name__] += 1
            except (mk.MarketplaceError, points.PointsError):
                self.done["refused"] += 1
            self.now += self.rng.choice((5 * M, 15 * M, 30 * M, H))

    def pick(self, tx: Connection, table: sa.Table, *where: Any) -> sa.Row[Any] | None:
        rows = tx.execute(sa.select(table).where(*where).order_by(table.c.id)).all()
        return self.rng.choice(rows) if rows else None

    def post(self, tx: Connection) -> None:
        community = self.rng.choice(("c1", "c1", "c2"))
        start = self.now + self.rng.choice((H, 5 * H, 20 * H))
        wish = mk.post_wish(
            tx,
            self.rng.choice(("res", "res2")) if community == "c1" else "admin",
            community_id=community,
            kind=mk.WishKind.SERVICE,
            category=self.rng.choice(CATEGORIES),
            title="上门帮忙",
            description="",
            org_id="g1" if community == "c1" else "c2",
            address="幸福路1号3栋",
            window_start=start,
            window_end=start + self.rng.choice((2 * H, 6 * H)),
            estimated_minutes=60,
            capacity=self.rng.choice((1, 1, 2)),
            now=self.now,
        )
        self.codes[wish.id] = wish.confirmation_code

    def _office(self, community: str) -> str:
        return "staff" if community == "c1" else "admin"

    def verify(self, tx: Connection) -> None:
        w = self.pick(tx, wishes, wishes.c.state == WishState.SUBMITTED.value)
        if w is not None:
            mk.verify(tx, self._office(w.community_id), w.community_id, w.id, now=self.now)

    def refuse(self, tx: Connection) -> None:
        w = self.pick(tx, wishes, wishes.c.state.in_(["submitted", "published"]))
        if w is None:
            return
        office = self._office(w.community_id)
        if w.state == "submitted" and self.rng.random() < 0.5:
            mk.reject(tx, office, w.community_id, w.id, reason="不属于服务范围", now=self.now)
        else:
            mk.cancel(tx, office, w.community_id, w.id, reason="已解决", now=self.now)

    def claim(self, tx: Connection) -> None:
        w = self.pick(tx, wishes, wishes.c.state.in_(["published", "in_service"]))
        if w is None:
            return
        if w.community_id == "c2":
            mk.claim(tx, "outsider", "c2", w.id, now=self.now)
        elif self.rng.random() < 0.3:
            mk.dispatch(tx, "staff", "c1", w.id, self.rng.choice(VOLUNTEERS), now=self.now)
        else:
            mk.claim(tx, self.rng.choice(VOLUNTEERS), "c1", w.id, now=self.now)

    def unit(self, tx: Connection) -> None:
        w = self.pick(
            tx, wishes, wishes.c.state == WishState.PUBLISHED.value, wishes.c.community_id == "c1"
        )
        if w is not None:
            made = mk.claim_for_unit(tx, "uadmin", "c1", w.id, "u1", now=self.now)
            mk.assign(tx, "uadmin", "c1", made.id, "party", now=self.now)

    def check_in(self, tx: Connection) -> None:
        c = self.pick(
            tx, claims, claims.c.state == ClaimState.ACTIVE.value, claims.c.member_id.is_not(None)
        )
        if c is not None:
            code = self.codes[c.wish_id]
            mk.check_in(tx, c.member_id, c.community_id, c.id, code=code, now=self.now)

    def check_out(self, tx: Connection) -> None:
        c = self.pick(tx, claims, claims.c.state == ClaimState.CHECKED_IN.value)
        if c is not None:
            mk.check_out(tx, c.member_id, c.community_id, c.id, now=self.now)

    def settle(self, tx: Connection) -> None:
        w = self.pick(tx, wishes, wishes.c.state.in_(["served", "disputed"]))
        if w is None:
            return
        owner = "admin" if w.community_id == "c2" else w.beneficiary_id
        if w.state == "disputed":
            office, won = self._office(w.community_id), self.rng.random() < 0.5
            mk.resolve(tx, office, w.community_id, w.id, for_volunteer=won, reason="核实",
                       now=self.now)  # fmt: skip
        elif self.rng.random() < 0.2 and w.community_id == "c1":
            mk.dispute(tx, owner, w.community_id, w.id, reason="没来", now=self.now)
        else:
            rating = self.rng.choice((None, 1, 2, 3, 4, 5, 5))
            mk.confirm(tx, owner, w.community_id, w.id, rating=rating, now=self.now)

    def withdraw(self, tx: Connection) -> None:
        c = self.pick(
            tx, claims, claims.c.state == ClaimState.ACTIVE.value, claims.c.member_id.is_not(None)
        )
        if c is not None:
            mk.withdraw(tx, c.member_id, c.community_id, c.id, now=self.now)

    def sweep(self, tx: Connection) -> None:
        mk.expire_wishes(tx, now=self.now)
        mk.escalate_due(tx, now=self.now)
        mk.auto_accept_due(tx, now=self.now)
        mk.release_no_shows(tx, now=self.now)
        if self.rng.random() < 0.5:  # fold some of the appended rows (a few at a time, or all)
            mk.fold_statistics(tx, limit=self.rng.choice((3, 20_000)))


@pytest.mark.parametrize("seed", [1, 2])
def test_rollups_and_statistics_equal_a_full_recomputation_after_a_random_workload(
    db: points.Database, seed: int
) -> None:
    with db.transaction() as tx:
        world.build(tx)
        rules = CommunityRules(deadlines=Deadlines(verify_hours=2, claim_hours=1))
        mk.set_community_rules(tx, "staff", "c1", rules, now=T0)
    load = Workload(db, seed)
    load.run(600)
    print(f"\n[rollups] seed={seed} {dict(sorted(load.done.items()))}")
    assert load.done["check_out"] >= 5, load.done
    assert load.done["settle"] >= 5, load.done
    with db.snapshot() as tx:
        kept = rollups.stored(tx)
        assert kept == rollups.rebuild(tx)
        unfolded = tx.scalar(sa.select(sa.func.count()).where(stat_days.c.batch != ""))
        assert unfolded, "some rows are left unfolded, so the reads sum both kinds"
        assert {f for _, _, f, _ in kept} >= {"posted", "claimed", "completed", "minutes"}
        periods = [(D0 + n * 24 * H, D0 + (n + 1) * 24 * H) for n in range(DAYS)]
        periods.append((D0, D0 + DAYS * 24 * H))
        for org_id in ("c1", "c2", "s1", "d1"):
            for since, until in periods:
                got = mk.statistics(tx, "admin", org_id, since=since, until=until)
                assert got == scanned(tx, org_id, since, until), (org_id, since)
                rates = mk.three_rates(tx, "admin", org_id, since=since, until=until)
                assert rates == scanned_rates(tx, org_id, since, until), (org_id, since)


def test_the_migration_backfills_the_rollups_of_a_database_made_before_them(
    db: points.Database,
) -> None:
    with db.transaction() as tx:
        world.build(tx)
    Workload(db, 3).run(120)
    with db.snapshot() as tx:
        kept = rollups.stored(tx)
    assert kept
    db.downgrade("m0002")
    db.upgrade()
    with db.snapshot() as tx:
        assert rollups.stored(tx) == kept
        assert tx.scalar(sa.select(sa.func.count()).where(stat_days.c.batch != "")) == 0


def test_folding_keeps_every_figure_and_leaves_one_row_per_day_figure_and_key(
    db: points.Database,
) -> None:
    with db.transaction() as tx:
        world.build(tx)
    Workload(db, 4).run(150)
    with db.snapshot() as tx:
        kept = rollups.stored(tx)
    with db.transaction() as tx:
        assert mk.fold_statistics(tx, limit=10) == 10
        assert mk.fold_statistics(tx) > 0
        assert mk.fold_statistics(tx) == 0
    with db.snapshot() as tx:
        assert rollups.stored(tx) == kept
        s = stat_days.c
        rows = tx.execute(sa.select(s.community_id, s.day, s.figure, s.key, s.batch)).all()
    assert {r.batch for r in rows} == {""}
    assert len({r[:4] for r in rows}) == len(rows)  # one row per community, day, figure, key


# The recomputation: the statistics' set-based scans from before the rollups.


def _inside(org_id: str) -> sa.Select[tuple[str]]:
    path = sa.select(orgs.c.path).where(orgs.c.id == org_id).scalar_subquery()
    return sa.select(orgs.c.id).where(
        orgs.c.kind == "community", sa.func.substr(orgs.c.path, 1, sa.func.length(path)) == path
    )


def _in(column: Any, since: dt.datetime, until: dt.datetime) -> Any:
    return sa.and_(column >= since, column < until)


def scanned(tx: Connection, org_id: str, since: dt.datetime, until: dt.datetime) -> mk.Statistics:
    """统计 straight from the wishes, claims and transitions."""
    inside = _inside(org_id)
    w, t, c = wishes, transitions, claims
    mine = list(tx.execute(sa.select(wishes).where(w.c.community_id.in_(inside))))

    def within(moment: dt.datetime | None) -> bool:
        return moment is not None and since <= moment < until

    def median(pairs: list[tuple[dt.datetime | None, dt.datetime | None]]) -> int | None:
        found = [rollups.whole_minutes(a, b) for a, b in pairs if a is not None and within(b)]
        return pystats.median_low(found) if found else None

    per_wish = (  # one per action and wish; escalated: by the wish's first escalation
        sa.select(t.c.action, sa.func.min(t.c.at))
        .where(t.c.community_id.in_(inside), t.c.subject == "wish")
        .group_by(t.c.action, t.c.community_id, t.c.subject_id)
    )
    events: Counter[str] = Counter()
    for action, at in tx.execute(per_wish):
        figure = rollups.EVENTS.get(action, "escalated" if action == "escalate" else None)
        if figure is not None and within(at):
            events[figure] += 1
    credited = sa.and_(
        c.c.community_id.in_(inside),
        c.c.state == ClaimState.CONFIRMED.value,
        _in(c.c.closed_at, since, until),
        c.c.member_id.is_not(None),
        c.c.minutes > 0,
    )
    minutes = sa.func.sum(c.c.minutes)
    top = tx.execute(
        sa.select(c.c.member_id, members.c.name, members.c.public_profile, minutes)
        .join(members, members.c.id == c.c.member_id)
        .where(credited)
        .group_by(c.c.member_id, members.c.name, members.c.public_profile)
        .order_by(minutes.desc(), c.c.member_id)
        .limit(TOP)
    )
    new = [r for r in mine if within(r.created_at)]
    rated = [r for r in mine if within(r.closed_at) and r.rating is not None]
    return mk.Statistics(
        org_id=org_id,
        since=since,
        until=until,
        communities=len(tx.execute(inside).all()),
        posted=len(new),
        verified=events["verified"],
        rejected=events["rejected"],
        claimed=sum(within(r.first_claimed_at) for r in mine),
        completed=sum(within(r.served_at) for r in mine),
        confirmed=events["confirmed"],
        disputed=events["disputed"],
        escalated=events["escalated"],
        cancelled=events["cancelled"],
        expired=events["expired"],
        median_minutes_to_verify=median([(r.created_at, r.published_at) for r in mine]),
        median_minutes_to_first_claim=median([(r.published_at, r.first_claimed_at) for r in mine]),
        median_minutes_to_completion=median([(r.published_at, r.served_at) for r in mine]),
        satisfaction=rate(sum(r.rating >= 4 for r in rated), len(rated)),
        volunteer_minutes=int(tx.scalar(sa.select(sa.func.coalesce(minutes, 0)).where(credited))),
        top_volunteers=tuple(
            mk.VolunteerTime(member_id=m, name=name, minutes=int(n))
            if public
            else mk.VolunteerTime(member_id=mask(m), name=ANONYMOUS, minutes=int(n))
            for m, name, public, n in top
        ),
        by_category=dict(sorted(Counter(r.category for r in new).items())),
        by_state=dict(sorted(Counter(r.state for r in new).items())),
    )


def scanned_rates(
    tx: Connection, org_id: str, since: dt.datetime, until: dt.datetime
) -> list[mk.Rates]:
    """三率 of the communities straight from the wishes and transitions; the units' rows are
    read as the statistics read them (from the claims, not the rollups)."""
    inside = _inside(org_id)
    stored = tx.execute(sa.select(settings.c.community_id, settings.c.body))
    rules = {cid: msgspec.convert(body, CommunityRules) for cid, body in stored}
    confirming = {
        (cid, wid)
        for cid, wid in tx.execute(
            sa.select(transitions.c.community_id, transitions.c.subject_id).where(
                transitions.c.action.in_([WishAction.CONFIRM, WishAction.RESOLVE_FOR_VOLUNTEER])
            )
        )
    }

    def within(moment: dt.datetime | None) -> bool:
        return moment is not None and since <= moment < until

    tallies: dict[str, Counter[str]] = {}
    for r in tx.execute(sa.select(wishes).where(wishes.c.community_id.in_(inside))):
        n = tallies.setdefault(r.community_id, Counter())
        if within(r.published_at):
            hours = rules.get(r.community_id, DEFAULT_RULES).deadlines_for(r.category).claim_hours
            n["published"] += 1
            first = r.first_claimed_at
            n["answered"] += first is not None and first <= r.published_at + hours * H
        if within(r.served_at):
            n["served"] += 1
            n["resolved"] += r.state == "closed" and (r.community_id, r.id) in confirming
        if r.rating is not None and within(r.closed_at):
            n["rated"] += 1
            n["satisfied"] += r.rating >= 4
    got = mk.three_rates(tx, "admin", org_id, since=since, until=until)
    units = [r for r in got if r.kind is mk.OrgKind.UNIT]
    communities = tx.execute(
        sa.select(orgs.c.id, orgs.c.name).where(orgs.c.id.in_(inside)).order_by(orgs.c.path)
    )
    return [
        mk.Rates(
            org_id=cid,
            kind=mk.OrgKind.COMMUNITY,
            name=name,
            response=rate((n := tallies.get(cid, Counter()))["answered"], n["published"]),
            resolution=rate(n["resolved"], n["served"]),
            satisfaction=rate(n["satisfied"], n["rated"]),
        )
        for cid, name in communities
    ] + units
