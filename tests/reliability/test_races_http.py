"""The library's race tests, over HTTP through several service processes on one PostgreSQL.

Two ``linli serve`` processes share a database of this module: one plain, one with two uvicorn
workers (``--workers 2``), so three processes serve the requests, and each of them sweeps every
second (``LINLI_SWEEP_SECONDS=1``). Requests alternate between the two addresses (the kernel
spreads the second one's between its workers). The scenarios of tests/store/test_races.py and
tests/store/test_marketplace_races.py, as clients of the API make them:

- mixed load: 1,000 credits, debits, redemptions, cancels and hand-overs by 32 clients on nine
  wallets, while a monitor reads the wallets: no available balance is ever below zero, and each
  stored balance and hold is what the acknowledged requests add up to (no lost update);
- the stock race: more redeemers than stock; exactly the stock is reserved, then handed over;
- the claim storm: claims (a fifth of them sent twice at once) and cancels on wishes of capacity
  1 to 4; no wish holds more claims than places, nobody holds a place twice, each wish that was
  not cancelled is filled as far as its claimants reach;
- confirmations racing the auto-accept sweeps of all three processes: each wish awarded once;
- sweeps in every process: escalations and order expiries made due at once are handled once
  each, and the processes' own logs add up to exactly the due items.

A rate limit set low (30 a minute) on a second pair of processes (one with two workers too) is
shared through Redis: 60 requests alternating between them get exactly 30 answers and 30 429s.
``pytest -s`` prints the figures. The library runs the same races with 10,000 operations; this
runs 1,000 to stay fast.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import random
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import redis
import sqlalchemy as sa
from sqlalchemy.engine import Connection

import marketplace as mk
import points
import processes
import service_world as sw
from marketplace.schema import ACTIVE_CLAIMS, claims, member_load, transitions, wishes
from points import Database, utcnow
from points.schema import accounts, catalog_items, orders, transfers
from service.database import MIGRATIONS

pytestmark = pytest.mark.postgresql

REDIS_URL = os.environ.get("LINLI_TEST_REDIS_RATE_URL", "redis://127.0.0.1:6379/14")
LIMITED_REDIS_URL = REDIS_URL.rsplit("/", 1)[0] + "/15"
"""The low-limit pair's counters: apart, so the other pair's requests (sign-ins) do not count
against it (Litestar counts per client address across routes)."""
SEED = 20_261_127
CLIENTS = 32
OPS = 1_000
WALLETS = ("vol1", "vol2", "vol3", "vol4", "vol5", "party", "res", "res2", "grid")
CLAIMERS = ("vol1", "vol2", "vol3", "vol4", "vol5", "party")
SIGNED_IN = ("staff", *WALLETS)
START_POINTS = 60
PRICE = 7
RATE_LIMIT = 30
C1 = "/api/v1/communities/c1"
Expected = dict[int, set[str]]  # status → the problem codes it may carry (empty: any)


@dataclass
class Cluster:
    url: str
    bases: tuple[str, str]  # the plain process, and the one with two workers
    headers: dict[str, dict[str, str]]
    logs: tuple[Path, Path]
    limited: tuple[str, str]  # the second pair: a low rate limit
    redis: bool


@dataclass
class Tally:
    """Answers by status and code; any not expected is kept for the failure message."""

    answers: Counter[str] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)

    def note(self, answer: httpx.Response, expected: Expected) -> str:
        code = _code(answer)
        outcome = f"{answer.status_code}:{code}" if code else str(answer.status_code)
        self.answers[outcome] += 1
        allowed = expected.get(answer.status_code)
        if allowed is None or (allowed and code not in allowed):
            where = f"{answer.request.method} {answer.request.url.path}"
            self.unexpected.append(f"{where} via :{answer.request.url.port} {answer.text[:300]}")
        return outcome


def _code(answer: httpx.Response) -> str:
    if answer.headers.get("content-type", "").startswith("application/problem+json"):
        return str(answer.json().get("code"))
    return ""


def _redis_up() -> bool:
    try:
        with redis.Redis.from_url(REDIS_URL, socket_timeout=2) as client:
            return bool(client.ping())
    except redis.RedisError:
        return False


def _serve(port: int, env: dict[str, str], log: Path, workers: int) -> subprocess.Popen[bytes]:
    command = [processes.linli(), "serve", "--port", str(port), "--workers", str(workers)]
    with log.open("ab") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)


def _create(name: str) -> None:
    url = processes.create_postgresql(name)
    db = mk.open_database(url, migrations=(MIGRATIONS,))
    try:
        db.upgrade()
        sw.build(db)
        with db.transaction() as tx:  # no claim limit in the way of the storm
            rules = mk.CommunityRules(claim_limit=100)
            mk.set_community_rules(tx, "staff", "c1", rules, now=utcnow())
    finally:
        db.dispose()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    processes.require_postgresql()
    shared = _redis_up()
    if not shared and os.environ.get("CI") == "true":
        pytest.fail(f"CI must run the shared rate limit: Redis unreachable at {REDIS_URL}")
    name = f"linli_races_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    url = processes.postgresql_url(name)
    env = {
        **os.environ,
        "LINLI_DATABASE_URL": url,
        "LINLI_SECRET_KEY": "races-secret-" + uuid.uuid4().hex * 2,
        "LINLI_SWEEP_SECONDS": "1",  # every process sweeps, all along
        "LINLI_ACCESS_LOG": "0",
        "LINLI_LOG_LEVEL": "INFO",  # each sweep that handled something logs what it did
        "LINLI_POOL_SIZE": "12",
        "LINLI_RATE_LIMIT_PER_MINUTE": "1000000",
        "LINLI_LOGIN_ATTEMPTS_PER_ADDRESS": "100000",
    }
    env.pop("LINLI_REDIS_URL", None)
    if shared:
        env["LINLI_REDIS_URL"] = REDIS_URL
        for own in (REDIS_URL, LIMITED_REDIS_URL):
            with redis.Redis.from_url(own, socket_timeout=2) as client:
                client.flushdb()  # this module's own Redis databases: an earlier run's counts go
    limited = {**env, "LINLI_RATE_LIMIT_PER_MINUTE": str(RATE_LIMIT), "LINLI_SWEEP_SECONDS": "0"}
    if shared:
        limited["LINLI_REDIS_URL"] = LIMITED_REDIS_URL
    limited["LINLI_LOG_LEVEL"] = "WARNING"
    out = tmp_path_factory.mktemp("races_http")
    logs = [out / f"serve-{n}.log" for n in range(4)]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        _create(name)
        ports = [processes.free_port() for _ in logs]
        bases = [f"http://127.0.0.1:{port}" for port in ports]
        for n, port in enumerate(ports):
            procs.append(_serve(port, env if n < 2 else limited, logs[n], workers=1 + n % 2))
        for base, proc, log in zip(bases, procs, logs, strict=True):
            processes.wait_ready(base, proc, log)
        tokens = {p: processes.sign_in(bases[n % 2], p) for n, p in enumerate(SIGNED_IN)}
        yield Cluster(
            url=url,
            bases=(bases[0], bases[1]),
            headers={p: {"Authorization": f"Bearer {t}"} for p, t in tokens.items()},
            logs=(logs[0], logs[1]),
            limited=(bases[2], bases[3]),
            redis=shared,
        )
        for proc, log in zip(procs, logs, strict=True):
            assert proc.poll() is None, log.read_text()[-3000:]
    finally:
        processes.stop(procs)
        for log in logs:
            text = log.read_text() if log.exists() else ""
            if "Traceback" in text:
                print(f"[processes-races] {log.name}:\n{text[-5000:]}")
        processes.drop_postgresql(name)


@asynccontextmanager
async def _served(
    cluster: Cluster,
) -> AsyncIterator[tuple[Database, tuple[httpx.AsyncClient, httpx.AsyncClient]]]:
    """The served database (opened beside the processes) and one HTTP client per process."""
    with processes.database(cluster.url) as db:
        async with processes.clients(cluster.bases, CLIENTS * 2) as clients:
            yield db, clients


async def _run_all(jobs: list[Callable[[], Awaitable[None]]], clients: int = CLIENTS) -> None:
    """``jobs`` through ``clients`` concurrent workers (the shared iterator hands each job to
    exactly one); an exception fails the test."""
    queue = iter(jobs)

    async def client() -> None:
        for job in queue:
            await job()

    async with asyncio.TaskGroup() as group:
        for _ in range(clients):
            group.create_task(client())


def _wallets(conn: Connection) -> dict[str, tuple[int, int]]:
    """Each member wallet of c1: (balance, held)."""
    rows = conn.execute(
        sa.select(accounts).where(accounts.c.community_id == "c1", accounts.c.kind == "member")
    )
    return {
        r.id.removeprefix("member:"): (r.credits_posted - r.debits_posted, r.debits_pending)
        for r in rows
    }


def _lowest_available(conn: Connection) -> int:
    c = accounts.c
    low = conn.scalar(
        sa.select(sa.func.min(c.credits_posted - c.debits_posted - c.debits_pending)).where(
            c.community_id == "c1", c.kind == "member"
        )
    )
    return int(low or 0)


async def _add_item(cluster: Cluster, client: httpx.AsyncClient, stock: int) -> str:
    added = await client.post(
        f"{C1}/items",
        headers=cluster.headers["staff"],
        json={"name": f"香油{uuid.uuid4().hex[:4]}", "cost": PRICE, "stock": stock},
    )
    assert added.status_code == 201, added.text
    return str(added.json()["id"])


async def _fund(cluster: Cluster, clients: tuple[httpx.AsyncClient, ...], amount: int) -> None:
    given = await asyncio.gather(
        *(
            clients[n % 2].post(
                f"{C1}/adjustments",
                headers=cluster.headers["staff"],
                json={"member_id": m, "change": amount, "reason": "竞争测试启动"},
            )
            for n, m in enumerate(WALLETS)
        )
    )
    assert [a.status_code for a in given] == [201] * len(WALLETS), [a.text for a in given]


async def test_a_low_rate_limit_is_shared_by_both_processes_and_their_workers(
    cluster: Cluster,
) -> None:
    if not cluster.redis:
        pytest.skip(f"Redis unreachable at {REDIS_URL}: each process counts on its own")
    statuses: Counter[int] = Counter()
    retry_after = set()
    async with (
        httpx.AsyncClient(base_url=cluster.limited[0], timeout=30) as a,
        httpx.AsyncClient(base_url=cluster.limited[1], timeout=30) as b,
    ):
        for n in range(2 * RATE_LIMIT):  # one after the other: sharing, not a race, is tested
            answer = await (a, b)[n % 2].get("/api/v1/orgs/c1", headers=cluster.headers["res"])
            statuses[answer.status_code] += 1
            if answer.status_code == 429:
                assert _code(answer) == "rate_limited", answer.text
                retry_after.add(answer.headers.get("retry-after"))
    print(
        f"[processes-races] shared rate limit {RATE_LIMIT}/min over 2 processes (3 workers): "
        f"requests={2 * RATE_LIMIT} ok={statuses[200]} limited={statuses[429]} "
        f"retry_after={sorted(map(str, retry_after))}"
    )
    assert statuses == Counter({200: RATE_LIMIT, 429: RATE_LIMIT})
    assert None not in retry_after


@dataclass(frozen=True)
class Op:
    n: int
    kind: str  # credit, debit, redeem, cancel, fulfil
    member: str
    amount: int


def _plan(rng: random.Random) -> list[Op]:
    kinds = ("credit",) * 30 + ("debit",) * 15 + ("redeem",) * 30 + ("cancel",) * 15
    kinds += ("fulfil",) * 10
    return [Op(n, rng.choice(kinds), rng.choice(WALLETS), rng.randint(1, 30)) for n in range(OPS)]


async def test_mixed_credits_redemptions_and_cancels_by_32_clients_never_overdraw_or_lose_one(
    cluster: Cluster,
) -> None:
    h = cluster.headers
    tally = Tally()
    ops = _plan(random.Random(SEED))
    credited: Counter[str] = Counter()  # acknowledged change of each balance
    held: Counter[str] = Counter()  # acknowledged change of each hold
    open_orders: dict[str, list[str]] = {m: [] for m in WALLETS}
    outcomes: Counter[str] = Counter()
    lowest: list[int] = []
    async with _served(cluster) as (db, clients):
        item_id = await _add_item(cluster, clients[0], stock=1_000_000)
        await _fund(cluster, clients, START_POINTS)
        with db.snapshot() as conn:
            before = _wallets(conn)

        async def apply(op: Op) -> None:
            client = clients[op.n % 2]
            if op.kind in ("credit", "debit"):
                change = op.amount if op.kind == "credit" else -op.amount
                answer = await client.post(
                    f"{C1}/adjustments",
                    headers=h["staff"],
                    json={"member_id": op.member, "change": change, "reason": f"混合{op.n}"},
                )
                expected: Expected = {201: set(), 409: {"insufficient_points"}}
                if tally.note(answer, expected) == "201":
                    credited[op.member] += change
            elif op.kind == "redeem" or not open_orders[op.member]:
                answer = await client.post(
                    f"{C1}/orders", headers=h[op.member], json={"item_id": item_id}
                )
                if tally.note(answer, {201: set(), 409: {"insufficient_points"}}) == "201":
                    held[op.member] += PRICE
                    open_orders[op.member].append(answer.json()["id"])
            else:  # taken off the list first: no other client hands over or cancels it too
                order = open_orders[op.member].pop(0)
                who, verb = ("staff", "fulfil") if op.kind == "fulfil" else (op.member, "cancel")
                answer = await client.post(f"{C1}/orders/{order}/{verb}", headers=h[who])
                if tally.note(answer, {200: set()}) == "200":
                    held[op.member] -= PRICE
                    credited[op.member] -= PRICE if verb == "fulfil" else 0
            outcomes[op.kind] += 1

        done = asyncio.Event()

        async def monitor() -> None:
            lowest.append(await db.aread(_lowest_available))
            while not done.is_set():
                lowest.append(await db.aread(_lowest_available))
                await asyncio.sleep(0.02)

        watching = asyncio.create_task(monitor())
        started = time.perf_counter()
        try:
            await _run_all([lambda op=op: apply(op) for op in ops])
        finally:
            done.set()
            await watching
        seconds = time.perf_counter() - started
        with db.snapshot() as conn:
            after = _wallets(conn)
            problems = points.audit(conn)
            lowest.append(_lowest_available(conn))
    expected = {
        m: (before[m][0] + credited[m], before[m][1] + held[m]) for m in WALLETS
    }  # (balance, held) as the acknowledged answers add up
    lost = [m for m in WALLETS if after[m] != expected[m]]
    overdrawn = [m for m in WALLETS if after[m][0] - after[m][1] < 0]
    answered = ", ".join(f"{k}={v}" for k, v in sorted(tally.answers.items()))
    print(
        f"[processes-races] mixed: ops={len(ops)} clients={CLIENTS} "
        f"kinds={dict(sorted(outcomes.items()))} answers=({answered}) "
        f"unexpected={len(tally.unexpected)} overdrafts={len(overdrawn)} lost_updates={len(lost)} "
        f"lowest_available={min(lowest)} samples={len(lowest)} audit={len(problems)} "
        f"seconds={seconds:.1f} ops/s={len(ops) / seconds:.0f}"
    )
    assert tally.unexpected == [], tally.unexpected[:5]
    assert sum(outcomes.values()) == len(ops)
    assert tally.answers["201"] > 0
    assert tally.answers["409:insufficient_points"] > 0
    assert min(lowest) >= 0
    assert overdrawn == []
    assert {m: after[m] for m in WALLETS} == expected
    assert problems == []


async def test_more_redeemers_than_stock_reserve_exactly_the_stock(cluster: Cluster) -> None:
    h, stock, tries = cluster.headers, 20, 8
    tally = Tally()
    async with _served(cluster) as (db, clients):
        item_id = await _add_item(cluster, clients[1], stock=stock)
        await _fund(cluster, clients, tries * PRICE)
        attempts = [m for m in WALLETS for _ in range(tries)]
        random.Random(SEED + 1).shuffle(attempts)
        made: list[str] = []

        async def buy(n: int, member: str) -> None:
            answer = await clients[n % 2].post(
                f"{C1}/orders", headers=h[member], json={"item_id": item_id}
            )
            if tally.note(answer, {201: set(), 409: {"out_of_stock"}}) == "201":
                made.append(answer.json()["id"])

        started = time.perf_counter()
        await _run_all([lambda n=n, m=m: buy(n, m) for n, m in enumerate(attempts)])
        handed = await asyncio.gather(
            *(
                clients[n % 2].post(f"{C1}/orders/{o}/fulfil", headers=h["staff"])
                for n, o in enumerate(made)
            )
        )
        seconds = time.perf_counter() - started
        for answer in handed:
            tally.note(answer, {200: set()})
        with db.snapshot() as conn:
            left = conn.scalar(
                sa.select(catalog_items.c.stock).where(
                    catalog_items.c.community_id == "c1", catalog_items.c.id == item_id
                )
            )
            statuses = Counter(
                conn.execute(
                    sa.select(orders.c.status).where(
                        orders.c.community_id == "c1", orders.c.item_id == item_id
                    )
                ).scalars()
            )
            problems = points.audit(conn)
    print(
        f"[processes-races] stock race: attempts={len(attempts)} stock={stock} "
        f"reserved={len(made)} out_of_stock={tally.answers['409:out_of_stock']} "
        f"fulfilled={statuses['fulfilled']} stock_left={left} audit={len(problems)} "
        f"seconds={seconds:.1f}"
    )
    assert tally.unexpected == [], tally.unexpected[:5]
    assert len(made) == stock
    assert tally.answers["409:out_of_stock"] == len(attempts) - stock
    assert statuses == Counter({"fulfilled": stock})
    assert left == 0
    assert problems == []


def _published(conn: Connection, capacities: list[int]) -> list[str]:
    start, now = utcnow() + dt.timedelta(days=2), utcnow()
    ids = []
    for n, capacity in enumerate(capacities):
        posted = _post(conn, f"风暴{n}", start, now, capacity=capacity)
        ids.append(mk.verify(conn, "staff", "c1", posted.id, now=now).id)
    return ids


def _post(
    conn: Connection, title: str, start: dt.datetime, now: dt.datetime, capacity: int = 1
) -> mk.Wish:
    return mk.post_wish(
        conn,
        "res",
        community_id="c1",
        kind=mk.WishKind.SERVICE,
        category="助老陪护",
        title=title,
        description="竞争测试",
        org_id="g1",
        address="幸福路1号3栋",
        window_start=start,
        window_end=start + dt.timedelta(hours=3),
        estimated_minutes=60,
        capacity=capacity,
        now=now,
    )


async def test_claim_storm_through_both_processes_never_exceeds_capacity(
    cluster: Cluster,
) -> None:
    h = cluster.headers
    rng = random.Random(SEED + 2)
    capacities = [rng.randint(1, 4) for _ in range(30)]
    tally = Tally()
    async with _served(cluster) as (db, clients):
        with db.transaction() as tx:
            ids = _published(tx, capacities)
        pairs = [(rng.choice(CLAIMERS), rng.choice(ids)) for _ in range(300)]
        for n in sorted(rng.sample(range(len(pairs)), 60), reverse=True):
            pairs.insert(n + 1, pairs[n])  # the same claim again, right behind the first
        doomed = rng.sample(ids, 3)
        granted: dict[str, str] = {}
        cancel_tries: Counter[str] = Counter()

        async def claim(n: int, member: str, wish_id: str) -> None:
            answer = await clients[n % 2].post(
                f"{C1}/wishes/{wish_id}/claims", headers=h[member], json={}
            )
            expected = {
                201: set(),
                409: {"capacity_full", "already_claimed", "wrong_state"},  # wrong_state: cancelled
                403: {"not_allowed"},
            }
            if tally.note(answer, expected) == "201":
                granted[answer.json()["claim"]["id"]] = member

        async def cancel(n: int, wish_id: str) -> None:
            for attempt in range(20):  # a claim moved the wish first: look again, as a client
                cancel_tries[wish_id] = attempt
                answer = await clients[n % 2].post(
                    f"{C1}/wishes/{wish_id}/cancel", headers=h["staff"], json={"reason": "已解决"}
                )
                if answer.status_code == 200:
                    return
            tally.unexpected.append(f"cancel of {wish_id} lost every race: {answer.text[:200]}")

        jobs: list[Callable[[], Awaitable[None]]] = [
            lambda n=n, m=m, w=w: claim(n, m, w) for n, (m, w) in enumerate(pairs)
        ]
        for k, wish_id in enumerate(doomed):  # among the first half: later claims meet them
            jobs.insert(rng.randrange(len(jobs) // 2), lambda k=k, w=wish_id: cancel(k, w))
        started = time.perf_counter()
        await _run_all(jobs)
        seconds = time.perf_counter() - started
        with db.snapshot() as conn:
            stored = {
                r.id: r
                for r in conn.execute(
                    sa.select(
                        wishes.c.id, wishes.c.state, wishes.c.capacity, wishes.c.places_taken
                    ).where(wishes.c.community_id == "c1", wishes.c.id.in_(ids))
                )
            }
            active = conn.execute(
                sa.select(claims.c.id, claims.c.wish_id, claims.c.member_id)
                .where(claims.c.community_id == "c1", claims.c.wish_id.in_(ids))
                .where(sa.text(ACTIVE_CLAIMS))
            ).all()
            made = conn.scalar(
                sa.select(sa.func.count()).where(
                    claims.c.community_id == "c1", claims.c.wish_id.in_(ids)
                )
            )
            steps = conn.scalar(
                sa.select(sa.func.count()).where(
                    transitions.c.subject == "claim",
                    transitions.c.action == "claim",
                    transitions.c.subject_id.in_(list(granted)),
                )
            )
            held = Counter(
                conn.execute(
                    sa.select(claims.c.member_id).where(
                        claims.c.community_id == "c1", sa.text(ACTIVE_CLAIMS)
                    )
                ).scalars()
            )
            load = dict(
                conn.execute(
                    sa.select(member_load.c.member_id, member_load.c.open_claims).where(
                        member_load.c.community_id == "c1"
                    )
                ).all()
            )
    per_wish = Counter(r.wish_id for r in active)
    over = [w for w, r in stored.items() if r.places_taken > r.capacity]
    doubled = [p for p, k in Counter((r.wish_id, r.member_id) for r in active).items() if k > 1]
    attempters = {w: {m for m, x in pairs if x == w} for w in ids}
    cancelled = {w for w, r in stored.items() if r.state == mk.WishState.CANCELLED.value}
    print(
        f"[processes-races] claim storm: attempts={len(pairs)} repeated=60 "
        f"ok={tally.answers['201']} full={tally.answers['409:capacity_full']} "
        f"duplicate={tally.answers['409:already_claimed']} "
        f"refused={tally.answers['409:wrong_state']} cancelled_wishes={len(cancelled)} "
        f"cancel_retries={sum(cancel_tries.values())} "
        f"places_filled={len(active)}/{sum(capacities)} over_capacity={len(over)} "
        f"duplicate_active={len(doubled)} seconds={seconds:.1f}"
    )
    assert tally.unexpected == [], tally.unexpected[:5]
    assert over == []
    assert doubled == []
    assert cancelled == set(doomed)
    assert made == len(granted) == steps, "every granted claim is stored, and recorded once"
    for w in ids:
        row = stored[w]
        assert per_wish[w] == row.places_taken <= row.capacity, w
        if w in cancelled:
            assert row.places_taken == 0, w
        else:
            assert row.places_taken == min(row.capacity, len(attempters[w])), w
            full = row.places_taken == row.capacity
            assert row.state == ("claimed" if full else "published"), w
    assert {m: load.get(m, 0) for m in CLAIMERS} == {m: held[m] for m in CLAIMERS}


def _served_long_ago(conn: Connection, volunteers: tuple[str, ...]) -> list[mk.Claim]:
    """Wishes served three weeks ago that nobody confirmed: due for auto-accept (7 days)."""
    done = []
    start = utcnow() - dt.timedelta(days=20)
    for n, member in enumerate(volunteers):
        began = start + dt.timedelta(hours=n)
        posted = _post(conn, f"待确认{n}", began, start - dt.timedelta(days=1))
        wish = mk.verify(conn, "staff", "c1", posted.id, now=start - dt.timedelta(days=1))
        claimed = mk.claim(conn, member, "c1", wish.id, now=start - dt.timedelta(hours=20))
        mk.check_in(conn, member, "c1", claimed.id, code=wish.confirmation_code, now=began)
        out = mk.check_out(conn, member, "c1", claimed.id, now=began + dt.timedelta(hours=1))
        done.append(out)
    return done


async def test_confirmations_racing_every_process_auto_accept_award_each_wish_once(
    cluster: Cluster,
) -> None:
    h, rng, tally = cluster.headers, random.Random(SEED + 3), Tally()
    volunteers = (*CLAIMERS, *CLAIMERS[:4])
    async with _served(cluster) as (db, clients):
        with db.snapshot() as conn:
            before = _wallets(conn)
        with db.transaction() as tx:  # due now: the processes' sweeps start on them
            served = _served_long_ago(tx, volunteers)

        async def confirm(n: int, wish_id: str, delay: float) -> None:
            await asyncio.sleep(delay)
            answer = await clients[n % 2].post(
                f"{C1}/wishes/{wish_id}/confirm", headers=h["res"], json={"rating": 5}
            )
            tally.note(answer, {200: set(), 409: {"wrong_state"}})  # confirmed already

        jobs = []
        for k, claim in enumerate(served):
            delay = rng.uniform(0, 2.5)  # some before a sweep comes round, some after
            jobs += [
                lambda n=n + 5 * k, w=claim.wish_id, d=delay: confirm(n, w, d) for n in range(5)
            ]
        started = time.perf_counter()
        await _run_all(jobs)
        seconds = time.perf_counter() - started
        wish_ids = [c.wish_id for c in served]
        with db.snapshot() as conn:
            confirms = conn.execute(
                sa.select(transitions.c.subject_id, transitions.c.actor_id).where(
                    transitions.c.subject_id.in_(wish_ids), transitions.c.action == "confirm"
                )
            ).all()
            posts = Counter(
                conn.execute(
                    sa.select(transfers.c.pending_id).where(
                        transfers.c.community_id == "c1",
                        transfers.c.pending_id.in_([c.award_id for c in served]),
                    )
                ).scalars()
            )
            states = Counter([mk.load_wish(conn, "c1", w).state.value for w in wish_ids])
            after = _wallets(conn)
            pending = {
                c.award_id: points.get_transfer(conn, "c1", str(c.award_id)).amount for c in served
            }
            problems = points.audit(conn)
    by = Counter("resident" if actor == "res" else "sweep" for _, actor in confirms)
    awarded: Counter[str] = Counter()
    for claim in served:
        awarded[claim.member_id] += pending[claim.award_id]
    print(
        f"[processes-races] confirm vs auto-accept: wishes={len(served)} confirms_sent={len(jobs)} "
        f"confirmed_by_resident={by['resident']} auto_accepted={by['sweep']} "
        f"confirm_refused={tally.answers['409:wrong_state']} posts={sum(posts.values())} "
        f"closed={states['closed']} audit={len(problems)} seconds={seconds:.1f}"
    )
    assert tally.unexpected == [], tally.unexpected[:5]
    assert Counter(w for w, _ in confirms) == Counter(wish_ids), "each wish confirmed once"
    assert tally.answers["200"] == by["resident"]
    assert [posts[c.award_id] for c in served] == [1] * len(served), "each award posted once"
    assert states == Counter({"closed": len(served)})
    assert {m: after[m][0] - before.get(m, (0, 0))[0] for m in awarded} == dict(awarded)
    assert problems == []


def _swept(log: Path) -> Counter[str]:
    """What one ``linli serve`` (all its workers) says its sweeps handled, by sweep."""
    handled: Counter[str] = Counter()
    for line in log.read_text("utf-8", "replace").splitlines():
        if line.startswith("{") and '"swept"' in line:
            handled.update(json.loads(line).get("handled", {}))
    return handled


async def test_sweeps_in_every_process_handle_each_due_item_once(cluster: Cluster) -> None:
    now = utcnow()
    before = [_swept(log) for log in cluster.logs]
    with processes.database(cluster.url) as db:
        with db.transaction() as tx:  # all due at once, for every process's sweeper
            escalating = []
            for n in range(24):
                posted = _post(
                    tx, f"超时{n}", now + dt.timedelta(days=3), now - dt.timedelta(days=3)
                )
                if n % 2:
                    mk.verify(tx, "staff", "c1", posted.id, now=now - dt.timedelta(days=3))
                escalating.append(posted.id)
            mk.wallet.adjust(tx, "staff", "c1", "vol5", 200, reason="过期测试", now=now)
            item = points.add_item(tx, community_id="c1", name="毛巾", cost=5, stock=20)
            expiring = [
                points.redeem(
                    tx,
                    community_id="c1",
                    member_id="vol5",
                    item_id=item.id,
                    hold=dt.timedelta(hours=1),
                    now=now - dt.timedelta(hours=2),
                ).id
                for _ in range(12)
            ]
        started = time.perf_counter()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # the processes sweep every second
            with db.snapshot() as conn:
                left = conn.scalar(
                    sa.select(sa.func.count()).where(
                        orders.c.id.in_(expiring), orders.c.status == "reserved"
                    )
                )
                levels = [mk.load_wish(conn, "c1", w).level for w in escalating]
            if not left and min(levels) >= 1:
                break
            await asyncio.sleep(0.2)
        seconds = time.perf_counter() - started
        await asyncio.sleep(2.5)  # a sweep that would handle something twice has had its turn
        with db.snapshot() as conn:
            escalations = Counter(
                conn.execute(
                    sa.select(transitions.c.subject_id).where(
                        transitions.c.subject_id.in_(escalating),
                        transitions.c.action == "escalate",
                    )
                ).scalars()
            )
            levels = [mk.load_wish(conn, "c1", w).level for w in escalating]
            voids = Counter(
                conn.execute(
                    sa.select(transfers.c.pending_id).where(
                        transfers.c.community_id == "c1", transfers.c.pending_id.in_(expiring)
                    )
                ).scalars()
            )
            statuses = Counter(
                conn.execute(sa.select(orders.c.status).where(orders.c.id.in_(expiring))).scalars()
            )
            stock = points.get_item(conn, "c1", item.id).stock
            problems = points.audit(conn)
    after = [_swept(log) for log in cluster.logs]
    done = [after[n] - before[n] for n in range(2)]
    print(
        f"[processes-races] sweeps in 3 processes: escalate due={len(escalating)} "
        f"handled={done[0]['escalate']}+{done[1]['escalate']} (plain+2 workers) "
        f"escalated_once={sum(1 for w in escalating if escalations[w] == 1)}; "
        f"expire_orders due={len(expiring)} "
        f"handled={done[0]['expire_orders']}+{done[1]['expire_orders']} "
        f"expired_once={sum(1 for o in expiring if voids[o] == 1)} stock_back={stock} "
        f"audit={len(problems)} seconds={seconds:.1f}"
    )
    assert [escalations[w] for w in escalating] == [1] * len(escalating)
    assert levels == [1] * len(escalating)
    assert [voids[o] for o in expiring] == [1] * len(expiring)
    assert statuses == Counter({"expired": len(expiring)})
    assert stock == 20
    assert done[0]["escalate"] + done[1]["escalate"] == len(escalating)
    assert done[0]["expire_orders"] + done[1]["expire_orders"] == len(expiring)
    assert problems == []
