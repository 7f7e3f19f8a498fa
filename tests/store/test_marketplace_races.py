"""Marketplace races: concurrent claims never overfill a wish, confirmations award once, sweeps
share the due items.

Each operation runs in a ``db.transaction()`` of its own, from a thread of its own (as a threaded
web app would): on SQLite they take turns on the one write connection, on PostgreSQL each has a
connection of the pool. The clock is injected (``now=``);
nothing sleeps. ``pytest -s`` shows the figures of each run.
"""

from __future__ import annotations

import datetime as dt
import random
import threading
import time
from collections import Counter
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

import marketplace as mk
import marketplace_world as world
import points
import support
from marketplace import ClaimState, CommunityRules, Role, WishState
from marketplace.schema import claims, member_load, transitions, wishes
from marketplace_world import T0
from points.schema import transfers

CLIENTS = 32
SEED = 20_261_201
WISHES = 200
PLACES = 410
VOLUNTEERS = tuple(f"v{i:02}" for i in range(40))
ATTEMPTS = 2_000
REPEATS = 200  # attempts that repeat the one before: the same member on the same wish
CANCELS = 10

OK, FULL, DUPLICATE, REFUSED, LIMIT = "ok", "full", "duplicate", "refused", "limit"


def open_race_database(backend: str) -> points.Database:
    """A fresh database, with a connection for every client on PostgreSQL."""
    return support.open_database(backend, pool_size=CLIENTS)


def add_volunteers(tx: Connection, names: tuple[str, ...]) -> None:
    for name in names:
        mk.add_member(tx, id=name, name=name, home_org_id="g1", now=T0)
        mk.grant_role(tx, mk.SYSTEM, name, "c1", Role.VOLUNTEER, now=T0)


def run_all(jobs: list[Callable[[], str]], clients: int = CLIENTS) -> list[str]:
    """Run ``jobs`` through ``clients`` concurrent workers; each job's outcome, in job order.

    Any exception a job lets out is recorded as an error (and the test fails on it)."""
    outcomes: list[str] = [""] * len(jobs)
    queue = iter(enumerate(jobs))
    handing = threading.Lock()

    def client() -> None:
        while True:
            with handing:  # the shared iterator hands each job to exactly one client
                n, job = next(queue, (-1, None))
            if job is None:
                return
            try:
                outcomes[n] = job()
            except Exception as exc:
                outcomes[n] = f"error {type(exc).__name__}: {exc!s:.300}"

    support.in_threads([client] * clients, clients)
    return outcomes


def capacities(rng: random.Random) -> list[int]:
    """WISHES capacities of 1 to 4 that add up to PLACES."""
    caps = [rng.randint(1, 4) for _ in range(WISHES)]
    while (total := sum(caps)) != PLACES:
        i = rng.randrange(WISHES)
        step = 1 if total < PLACES else -1
        if 1 <= caps[i] + step <= 4:
            caps[i] += step
    return caps


def claim_job(
    db: points.Database, member: str, wish_id: str, now: dt.datetime
) -> Callable[[], str]:
    def job() -> str:
        try:
            with db.transaction() as tx:
                mk.claim(tx, member, "c1", wish_id, now=now)
        except mk.CapacityFull:
            return FULL
        except mk.AlreadyClaimed:
            return DUPLICATE
        except mk.ClaimLimitReached:
            return LIMIT
        except mk.WrongState as refused:
            if refused.state != WishState.CANCELLED.value:
                raise
            return REFUSED
        return OK

    return job


def test_claim_storm_fills_exactly_the_places_there_are(backend_ready: str) -> None:
    db = open_race_database(backend_ready)
    rng = random.Random(SEED)
    try:
        with db.transaction() as tx:
            world.build(tx)
            add_volunteers(tx, VOLUNTEERS)
            mk.set_community_rules(tx, "staff", "c1", CommunityRules(claim_limit=100), now=T0)
            caps = capacities(rng)
            ids = [f"w{i:03}" for i in range(WISHES)]
            for wish_id, cap in zip(ids, caps, strict=True):
                world.published(tx, capacity=cap, id=wish_id)
        capacity = dict(zip(ids, caps, strict=True))

        at = T0 + dt.timedelta(minutes=10)
        pairs = [(rng.choice(VOLUNTEERS), rng.choice(ids)) for _ in range(ATTEMPTS - REPEATS)]
        # some attempts again right behind the first, so that both are in flight together
        for n in sorted(rng.sample(range(len(pairs) // 2), REPEATS), reverse=True):
            pairs.insert(n + 1, pairs[n])
        repeated = sum(n - 1 for n in Counter(pairs).values() if n > 1)
        assert len(pairs) == ATTEMPTS
        to_cancel = rng.sample(ids, CANCELS)
        jobs: list[Callable[[], str]] = [claim_job(db, m, w, at) for m, w in pairs]

        retries = Counter[str]()

        def cancel_job(wish_id: str) -> Callable[[], str]:
            def job() -> str:
                for attempt in range(20):  # a claim moved the wish first: look again, as a client
                    retries[wish_id] = attempt
                    try:
                        with db.transaction() as tx:
                            mk.cancel(tx, "staff", "c1", wish_id, reason="居民已自行解决", now=at)
                        return "cancelled"
                    except mk.WrongState as lost:
                        if lost.state == WishState.CANCELLED.value:
                            raise
                return "cancel lost every race"

            return job

        # the cancels land among the first half of the claims, so later claims meet them
        for wish_id in to_cancel:
            jobs.insert(rng.randrange(ATTEMPTS // 2), cancel_job(wish_id))

        started = time.perf_counter()
        outcomes = run_all(jobs)
        seconds = time.perf_counter() - started

        tally = Counter(outcomes)
        errors = sorted({o for o in outcomes if o.startswith("error") or o.startswith("cancel ")})
        assert errors == [], errors[:5]
        assert tally["cancelled"] == CANCELS
        assert tally[OK] + tally[FULL] + tally[DUPLICATE] + tally[REFUSED] == ATTEMPTS

        with db.snapshot() as tx:
            stored = {
                r.id: r
                for r in tx.execute(
                    sa.select(wishes.c.id, wishes.c.state, wishes.c.capacity, wishes.c.places_taken)
                )
            }
            all_claims = (
                tx.execute(sa.select(claims.c.wish_id, claims.c.member_id, claims.c.state))
            ).all()
            load = {
                r.member_id: r.open_claims
                for r in tx.execute(sa.select(member_load.c.member_id, member_load.c.open_claims))
            }
            claim_steps = tx.scalar(
                sa.select(sa.func.count())
                .select_from(transitions)
                .where(transitions.c.subject == "claim", transitions.c.action == "claim")
            )

        active = [c for c in all_claims if c.state == ClaimState.ACTIVE.value]
        active_per_wish = Counter(c.wish_id for c in active)
        active_per_member = Counter(c.member_id for c in active)
        duplicate_pairs = sum(
            1 for n in Counter((c.wish_id, c.member_id) for c in active).values() if n > 1
        )
        attempters = {w: {m for m, x in pairs if x == w} for w in ids}
        over = [w for w, r in stored.items() if r.places_taken > r.capacity]
        cancelled = {w for w, r in stored.items() if r.state == WishState.CANCELLED.value}
        filled = sum(active_per_wish.values())
        open_places = sum(capacity[w] for w in ids if w not in cancelled)
        print(
            f"[races] {backend_ready} claim storm: attempts={ATTEMPTS} ok={tally[OK]} "
            f"full={tally[FULL]} duplicate={tally[DUPLICATE]} refused={tally[REFUSED]} "
            f"repeated_pairs={repeated} cancelled_wishes={len(cancelled)} "
            f"cancel_retries={sum(retries.values())} places_filled={filled}/{open_places} "
            f"(of {PLACES}) over_capacity={len(over)} duplicate_active={duplicate_pairs} "
            f"seconds={seconds:.1f}"
        )

        assert over == []
        assert duplicate_pairs == 0
        assert cancelled == set(to_cancel)
        assert len(all_claims) == tally[OK] == claim_steps, "every granted claim is stored, once"
        for w in ids:
            row = stored[w]
            assert active_per_wish[w] == row.places_taken <= row.capacity, w
            if w in cancelled:
                assert row.places_taken == 0, w
            else:
                assert row.places_taken == min(row.capacity, len(attempters[w])), w
                full = row.places_taken == row.capacity
                assert row.state == (WishState.CLAIMED if full else WishState.PUBLISHED).value, w
        for member in VOLUNTEERS:
            assert load.get(member, 0) == active_per_member[member], member
    finally:
        db.dispose()


def test_per_member_open_claim_limit_holds_under_concurrency(backend_ready: str) -> None:
    db = open_race_database(backend_ready)
    try:
        with db.transaction() as tx:
            world.build(tx)
            mk.set_community_rules(tx, "staff", "c1", CommunityRules(claim_limit=3), now=T0)
            ids = [(world.published(tx, id=f"L{i:02}")).id for i in range(30)]

        at = T0 + dt.timedelta(minutes=10)
        started = time.perf_counter()
        outcomes = run_all([claim_job(db, "vol1", w, at) for w in ids], clients=30)
        seconds = time.perf_counter() - started
        tally = Counter(outcomes)

        with db.snapshot() as tx:
            open_claims = tx.scalar(
                sa.select(member_load.c.open_claims).where(
                    member_load.c.community_id == "c1", member_load.c.member_id == "vol1"
                )
            )
            taken = tx.scalar(sa.select(sa.func.sum(wishes.c.places_taken)))
            held = tx.scalar(
                sa.select(sa.func.count()).select_from(claims).where(claims.c.member_id == "vol1")
            )
        print(
            f"[races] {backend_ready} claim limit: attempts={len(ids)} ok={tally[OK]} "
            f"limit={tally[LIMIT]} open_claims={open_claims} places_taken={taken} "
            f"seconds={seconds:.1f}"
        )
        assert tally == Counter({OK: 3, LIMIT: 27}), tally
        assert open_claims == held == taken == 3
    finally:
        db.dispose()


def served(db: points.Database, volunteer: str) -> tuple[mk.Wish, mk.Claim]:
    """A wish ``volunteer`` served for 90 minutes: checked in and out, its accrual pending."""
    start = T0 + dt.timedelta(hours=2)
    with db.transaction() as tx:
        wish = world.published(tx)
        claimed = mk.claim(tx, volunteer, "c1", wish.id, now=T0 + dt.timedelta(minutes=5))
    with db.transaction() as tx:
        mk.check_in(tx, volunteer, "c1", claimed.id, code=wish.confirmation_code, now=start)
        out = mk.check_out(tx, volunteer, "c1", claimed.id, now=start + dt.timedelta(minutes=90))
        wish = mk.get_wish(tx, "res", "c1", wish.id)
    assert wish.state is WishState.SERVED
    assert out.award_id is not None
    return wish, out


def test_double_confirmation_and_auto_accept_race_awards_once(backend_ready: str) -> None:
    """10 confirmations by the resident race 10 auto-accept sweeps, in three orders of start
    (so that both a confirmation and a sweep get to win)."""
    db = open_race_database(backend_ready)
    try:
        with db.transaction() as tx:
            world.build(tx)
        for volunteer, order in (("vol1", "shuffled"), ("vol2", "confirms"), ("vol3", "sweeps")):
            wish, out = served(db, volunteer)
            wallet_id = points.account_id(points.AccountKind.MEMBER, volunteer)
            with db.snapshot() as tx:
                before = points.get_account(tx, "c1", wallet_id)
            assert before.balance == 0 < before.credits_pending
            assert wish.deadline_at is not None
            later = wish.deadline_at + dt.timedelta(hours=1)

            def confirm(wish_id: str = wish.id, at: dt.datetime = later) -> str:
                try:
                    with db.transaction() as tx:
                        mk.confirm(tx, "res", "c1", wish_id, rating=5, now=at)
                except mk.WrongState:
                    return "confirm refused"
                return "confirmed"

            def sweep(at: dt.datetime = later) -> mk.SweepResult:
                with db.transaction() as tx:
                    return mk.auto_accept_due(tx, now=at)

            confirms: list[Callable[[], object]] = [confirm] * 10
            sweeps: list[Callable[[], object]] = [sweep] * 10
            racers = confirms + sweeps if order != "sweeps" else sweeps + confirms
            if order == "shuffled":
                random.Random(SEED).shuffle(racers)
            started = time.perf_counter()
            results = support.in_threads(racers)
            seconds = time.perf_counter() - started

            errors = [r for r in results if isinstance(r, BaseException)]
            assert errors == [], errors[:3]
            said = Counter(r for r in results if isinstance(r, str))
            swept = [r for r in results if isinstance(r, mk.SweepResult)]
            accepted = [i for r in swept for i in r.handled]

            with db.snapshot() as tx:
                closed = mk.get_wish(tx, "res", "c1", wish.id)
                steps = Counter(t.action for t in mk.history(tx, "c1", wish.id))
                after = points.get_account(tx, "c1", wallet_id)
                hours = points.hours_summary(tx, volunteer, community_id="c1")
                problems = points.audit(tx)
                posts = tx.scalar(
                    sa.select(sa.func.count())
                    .select_from(transfers)
                    .where(transfers.c.community_id == "c1", transfers.c.pending_id == out.award_id)
                )
                final = mk.load_claim(tx, "c1", out.id)
            print(
                f"[races] {backend_ready} confirm vs auto-accept ({order} first): "
                f"confirmed={said['confirmed']} refused={said['confirm refused']} "
                f"auto_accepted={len(accepted)} sweeps_skipped={sum(r.skipped for r in swept)} "
                f"sweeps_found_nothing={sum(1 for r in swept if not r.handled and not r.skipped)} "
                f"posts={posts} balance={after.balance} minutes={hours.minutes} "
                f"seconds={seconds:.2f}"
            )
            assert said["confirmed"] + len(accepted) == 1, (said, accepted)
            assert said["confirmed"] + said["confirm refused"] == 10
            assert set(accepted) <= {wish.id}
            assert all(len(r.handled) + r.skipped <= 1 for r in swept)
            assert closed.state is WishState.CLOSED
            assert (steps["confirm"], steps["close"]) == (1, 1)
            assert final.state is ClaimState.CONFIRMED
            assert posts == 1
            assert after.balance == before.credits_pending
            assert after.credits_pending == 0
            assert problems == []
            assert hours.minutes == out.minutes == 90
    finally:
        db.dispose()


def test_concurrent_sweeps_escalate_each_due_wish_once(backend_ready: str) -> None:
    db = open_race_database(backend_ready)
    try:
        with db.transaction() as tx:
            world.build(tx)
            ids = [(world.post(tx, id=f"E{i:02}")).id for i in range(50)]
            deadline = (mk.get_wish(tx, "res", "c1", ids[0])).deadline_at
        assert deadline is not None
        later = deadline + dt.timedelta(hours=1)

        def sweep() -> mk.SweepResult:
            with db.transaction() as tx:
                return mk.escalate_due(tx, now=later, limit=20)

        started = time.perf_counter()
        results = support.in_threads([sweep] * 4)
        seconds = time.perf_counter() - started

        handled = [i for r in results for i in r.handled]
        with db.snapshot() as tx:
            levels = Counter(
                (tx.execute(sa.select(wishes.c.level).where(wishes.c.id.in_(ids)))).scalars()
            )
            escalations = Counter(
                t.subject_id
                for t in (
                    tx.execute(
                        sa.select(transitions.c.subject_id).where(
                            transitions.c.action == "escalate"
                        )
                    )
                )
            )
        print(
            f"[races] {backend_ready} escalation sweeps: due={len(ids)} "
            f"per_sweep={[len(r.handled) for r in results]} skipped={[r.skipped for r in results]} "
            f"escalated={len(escalations)} seconds={seconds:.2f}"
        )
        assert len(handled) == len(set(handled)), "two sweeps handled the same wish"
        assert sorted(handled) == sorted(ids)
        assert levels == Counter({1: len(ids)})
        assert escalations == Counter(dict.fromkeys(ids, 1))
    finally:
        db.dispose()


def test_concurrent_cancels_and_check_ins_never_deadlock(backend_ready: str) -> None:
    """Staff cancel 40 wishes while their first volunteer checks in: every wish ends either
    cancelled or in service, never both and never with a deadlock. Two volunteers hold a place
    on each wish, claimed in alternating order, so cancels release them in alternating order."""
    db = open_race_database(backend_ready)
    at = T0 + dt.timedelta(minutes=10)
    try:
        with db.transaction() as tx:
            world.build(tx)
            mk.set_community_rules(tx, "staff", "c1", CommunityRules(claim_limit=100), now=T0)
            first: dict[str, str] = {}
            for i in range(40):
                wish = world.published(tx, capacity=2, id=f"K{i:02}")
                pair = ("vol1", "vol2") if i % 2 else ("vol2", "vol1")
                for k, member in enumerate(pair):
                    made = mk.claim(tx, member, "c1", wish.id, now=at + dt.timedelta(seconds=k))
                    first.setdefault(wish.id, made.id)

        def cancel(wish_id: str) -> Callable[[], str]:
            def job() -> str:
                try:
                    with db.transaction() as tx:
                        mk.cancel(tx, "staff", "c1", wish_id, reason="活动取消", now=at)
                except mk.WrongState:
                    return "cancel refused"
                return "cancelled"

            return job

        def check_in(claim_id: str) -> Callable[[], str]:
            def job() -> str:
                try:
                    with db.transaction() as tx:
                        mk.check_in(tx, "staff", "c1", claim_id, override_reason="居民确认", now=T0)
                except mk.WrongState:
                    return "check-in refused"
                return "checked in"

            return job

        jobs = [j for w, c in first.items() for j in (check_in(c), cancel(w))]
        started = time.perf_counter()
        outcomes = run_all(jobs)
        seconds = time.perf_counter() - started
        tally = Counter(outcomes)

        with db.snapshot() as tx:
            states = Counter(
                (tx.execute(sa.select(wishes.c.state).where(wishes.c.id.in_(first)))).scalars()
            )
            held = Counter(
                r.member_id
                for r in tx.execute(
                    sa.select(claims.c.member_id).where(
                        claims.c.state.in_([ClaimState.ACTIVE.value, ClaimState.CHECKED_IN.value])
                    )
                )
            )
            load = dict(
                (tx.execute(sa.select(member_load.c.member_id, member_load.c.open_claims))).all()
            )
        print(
            f"[races] {backend_ready} cancel vs check-in: wishes={len(first)} "
            f"cancelled={tally['cancelled']} checked_in={tally['checked in']} "
            f"refused={tally['cancel refused'] + tally['check-in refused']} "
            f"errors={sum(1 for o in outcomes if o.startswith('error'))} seconds={seconds:.2f}"
        )
        assert [o for o in outcomes if o.startswith("error")] == []
        assert tally["cancelled"] + tally["checked in"] == len(first)
        assert tally["cancel refused"] == tally["checked in"]
        assert tally["check-in refused"] == tally["cancelled"]
        assert states[WishState.CANCELLED.value] == tally["cancelled"]
        assert states[WishState.IN_SERVICE.value] == tally["checked in"]
        assert states.total() == len(first)
        assert {m: load.get(m, 0) for m in ("vol1", "vol2")} == {
            m: held[m] for m in ("vol1", "vol2")
        }
    finally:
        db.dispose()
