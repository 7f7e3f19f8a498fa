"""Two service processes on one PostgreSQL database (DESIGN.md §7, invariants 3 and 5).

Two real ``linli serve`` processes share a database of this module (and a Redis database when
one is there). Claims and redemptions fired through both at once keep capacity, the claim limit,
stock and balances; one Idempotency-Key sent to both takes effect once; ``linli sweep`` started
in two processes at the same moment handles each due item once, and waits for (never deadlocks
with) a redemption in another process; the outbox's dispatcher running in both sends each
message once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import random
import socket
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from outbox_world import Receiver
from sqlalchemy.engine import Connection, Engine

import marketplace as mk
import points
import processes
import service_world as sw
from marketplace.schema import ACTIVE_CLAIMS, claims, member_load, transitions
from points import utcnow
from points.schema import accounts, catalog_items, orders, transfers
from service.database import MIGRATIONS
from service.sweeper import sweep_once

pytestmark = pytest.mark.postgresql

REDIS_URL = os.environ.get("LINLI_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
CLAIMERS = ("vol1", "vol2", "vol3", "vol4", "vol5", "party")
CLAIM_REFUSALS = {
    409: {"capacity_full", "already_claimed", "claim_limit_reached", "wrong_state"},
    403: {"not_allowed"},
}
ORDER_REFUSALS = {409: {"out_of_stock", "insufficient_points"}}
SIGNED_IN = ("res", "staff", *CLAIMERS)
OPEN = ("active", "checked_in")  # claims that count against the member's limit


@dataclass
class Due:
    """What the sweeps find due, made through the library with past times before the start."""

    escalating: list[str]  # wishes past their claim or verification deadline
    accepting: list[str]  # served wishes nobody confirmed
    expiring: list[str]  # reserved orders past their hold
    item_id: str  # the expiring orders' item
    stock: int  # its stock while they are open


@dataclass
class Cluster:
    url: str  # the module's database
    env: dict[str, str]  # what both processes run with
    bases: tuple[str, str]  # their addresses
    headers: dict[str, dict[str, str]]  # person → bearer header (signed in at either process)
    redis: bool
    due: Due


def _redis_reachable() -> bool:
    parts = httpx.URL(REDIS_URL)
    try:
        with socket.create_connection((parts.host, parts.port or 6379), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _create(name: str, url: str, made: list[Due]) -> None:
    processes.create_postgresql(name)
    db = mk.open_database(url, migrations=(MIGRATIONS,))
    try:
        db.upgrade()
        sw.build(db)
        now = utcnow()
        with db.transaction() as tx:
            escalating = _due_for_escalation(tx, now)
            accepting = _due_for_auto_accept(tx, now)
            expiring, item_id = _due_orders(tx, now)
        with db.snapshot() as conn:
            stock = _stock(conn, item_id)
        made.append(Due(escalating, accepting, expiring, item_id, stock))
    finally:
        db.dispose()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    processes.require_postgresql()
    name = f"linli_proc_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    url = processes.postgresql_url(name)
    redis = _redis_reachable()
    if not redis and os.environ.get("CI") == "true":
        pytest.fail(f"CI must run the processes' Redis part: Redis unreachable at {REDIS_URL}")
    env = {
        **os.environ,
        "LINLI_DATABASE_URL": url,
        "LINLI_SECRET_KEY": "processes-secret-" + uuid.uuid4().hex * 2,
        "LINLI_SWEEP_SECONDS": "0",
        "LINLI_ACCESS_LOG": "0",
        "LINLI_LOG_LEVEL": "WARNING",
        "LINLI_POOL_SIZE": "5",
        "LINLI_RATE_LIMIT_PER_MINUTE": "100000",
        "LINLI_LOGIN_ATTEMPTS": "3",
        "LINLI_LOGIN_ATTEMPTS_PER_ADDRESS": "100000",  # every test signs in from 127.0.0.1
        "LINLI_LOGIN_WINDOW_SECONDS": "120",
    }
    env.pop("LINLI_REDIS_URL", None)
    if redis:
        env["LINLI_REDIS_URL"] = REDIS_URL
    logs = tmp_path_factory.mktemp("processes")
    procs: list[subprocess.Popen[bytes]] = []
    made: list[Due] = []
    try:
        _create(name, url, made)
        bases = []
        for n in range(2):
            port = processes.free_port()
            procs.append(processes.serve(port, env, logs / f"serve-{n}.log"))
            bases.append(f"http://127.0.0.1:{port}")
        for n, (base, proc) in enumerate(zip(bases, procs, strict=True)):
            processes.wait_ready(base, proc, logs / f"serve-{n}.log")
        with ThreadPoolExecutor(len(SIGNED_IN)) as pool:
            addresses = [bases[n % 2] for n in range(len(SIGNED_IN))]
            tokens = pool.map(processes.sign_in, addresses, SIGNED_IN)
        headers = {
            p: {"Authorization": f"Bearer {t}"} for p, t in zip(SIGNED_IN, tokens, strict=True)
        }
        yield Cluster(
            url=url, env=env, bases=(bases[0], bases[1]), headers=headers, redis=redis, due=made[0]
        )
        for n, proc in enumerate(procs):
            assert proc.poll() is None, (logs / f"serve-{n}.log").read_text()[-3000:]
    finally:
        processes.stop(procs)
        for n in range(len(procs)):
            text = (logs / f"serve-{n}.log").read_text()
            if "Traceback" in text:
                print(f"[processes] serve-{n} log:\n{text[-5000:]}")
        processes.drop_postgresql(name)


def _code(answer: httpx.Response) -> str:
    if answer.headers.get("content-type", "").startswith("application/problem+json"):
        return str(answer.json().get("code"))
    return ""


def _unexpected(answers: list[httpx.Response], ok: int, refusals: dict[int, set[str]]) -> list[str]:
    return [
        f"{a.request.url.host}:{a.request.url.port} {a.status_code} {a.text[:300]}"
        for a in answers
        if a.status_code != ok and _code(a) not in refusals.get(a.status_code, set())
    ]


async def test_each_process_accepts_the_others_tokens(cluster: Cluster) -> None:
    async with processes.clients(cluster.bases, 100) as (a, b):
        for n, person in enumerate(("res", "staff", "vol1", "party")):
            signed_in = await (a, b)[n % 2].post(
                "/api/v1/auth/token", json={"phone": sw.PHONES[person], "password": sw.PASSWORD}
            )
            token = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
            for client in (a, b):
                me = await client.get("/api/v1/me", headers=token)
                assert (me.status_code, me.json()["id"]) == (200, person), me.text


async def test_claims_raced_through_both_processes_keep_capacity_and_the_claim_limit(
    cluster: Cluster,
) -> None:
    h = cluster.headers
    capacities = (3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 2)  # 20 places; 6 members may hold 18
    start = utcnow() + dt.timedelta(days=1)
    wish_ids = []
    async with processes.clients(cluster.bases, 100) as clients:
        for n, capacity in enumerate(capacities):
            posted = await clients[n % 2].post(
                "/api/v1/communities/c1/wishes",
                headers=h["res"],
                json={
                    "category": "助老陪护",
                    "title": f"陪老人散步 {n}",
                    "org_id": "g1",
                    "address": "幸福路1号3栋502室",
                    "window_start": start.isoformat(),
                    "window_end": (start + dt.timedelta(hours=3)).isoformat(),
                    "estimated_minutes": 60,
                    "capacity": capacity,
                },
            )
            assert posted.status_code == 201, posted.text
            wish_id = posted.json()["id"]
            verified = await clients[(n + 1) % 2].post(
                f"/api/v1/communities/c1/wishes/{wish_id}/verify", headers=h["staff"]
            )
            assert (verified.status_code, verified.json()["state"]) == (200, "published")
            wish_ids.append(wish_id)

        attempts = [(m, w) for m in CLAIMERS for w in wish_ids for _ in range(2)]
        random.Random(7).shuffle(attempts)
        answers = await asyncio.gather(
            *(
                clients[n % 2].post(
                    f"/api/v1/communities/c1/wishes/{w}/claims", headers=h[m], json={}
                )
                for n, (m, w) in enumerate(attempts)
            )
        )
    assert _unexpected(answers, 201, CLAIM_REFUSALS) == []
    granted = {
        a.json()["claim"]["id"]: a.json()["claim"]["member_id"]
        for a in answers
        if a.status_code == 201
    }

    with processes.database(cluster.url) as db, db.snapshot() as conn:
        rows = conn.execute(
            sa.select(claims.c.id, claims.c.wish_id, claims.c.member_id, claims.c.places)
            .where(claims.c.community_id == "c1", claims.c.wish_id.in_(wish_ids))
            .where(sa.text(ACTIVE_CLAIMS))
        ).all()
        stored = {wish.id: wish for wish in _wishes(conn, wish_ids)}
        open_by_member: dict[str, int] = dict(
            conn.execute(
                sa.select(claims.c.member_id, sa.func.count())
                .where(claims.c.community_id == "c1", claims.c.state.in_(OPEN))
                .group_by(claims.c.member_id)
            ).all()
        )
        load = dict(
            conn.execute(
                sa.select(member_load.c.member_id, member_load.c.open_claims).where(
                    member_load.c.community_id == "c1"
                )
            ).all()
        )
        claim_records = conn.scalar(
            sa.select(sa.func.count()).where(
                transitions.c.subject == "claim",
                transitions.c.action == "claim",
                transitions.c.subject_id.in_([r.id for r in rows]),
            )
        )
        limit = mk.community_rules(conn, "c1").claim_limit
    per_wish = Counter(r.wish_id for r in rows)
    over_capacity = [w for w in wish_ids if per_wish[w] > stored[w].capacity]
    assert over_capacity == []
    assert {w: stored[w].places_taken for w in wish_ids} == {
        w: sum(r.places for r in rows if r.wish_id == w) for w in wish_ids
    }
    for w in wish_ids:
        full = stored[w].places_taken == stored[w].capacity
        assert stored[w].state.value == ("claimed" if full else "published"), w
    pairs = Counter((r.wish_id, r.member_id) for r in rows)
    assert [pair for pair, n in pairs.items() if n > 1] == []
    assert max(open_by_member.values()) <= limit
    assert {m: load.get(m, 0) for m in CLAIMERS} == {m: open_by_member.get(m, 0) for m in CLAIMERS}
    assert granted == {r.id: r.member_id for r in rows}  # every 201 is a stored claim, no more
    assert claim_records == len(rows)  # each one recorded once
    refused = Counter(f"{a.status_code}:{_code(a)}" for a in answers if a.status_code != 201)
    reasons = ", ".join(f"{k}={v}" for k, v in sorted(refused.items()))
    print(
        f"[processes] claims attempts={len(answers)} ok={len(granted)} "
        f"refused={sum(refused.values())} ({reasons}) "
        f"places={sum(capacities)} over_capacity=0 over_limit=0 duplicates=0 errors_5xx=0"
    )


async def test_redemptions_raced_through_both_processes_never_oversell_or_overdraw(
    cluster: Cluster,
) -> None:
    h = cluster.headers
    buyers = CLAIMERS[:5]
    async with processes.clients(cluster.bases, 100) as clients:
        given = await asyncio.gather(
            *(
                clients[n % 2].post(
                    "/api/v1/communities/c1/adjustments",
                    headers=h["staff"],
                    json={"member_id": m, "change": 30, "reason": "兑换竞争测试"},
                )
                for n, m in enumerate(buyers)
            )
        )
        assert [a.status_code for a in given] == [201] * len(buyers), [a.text for a in given]
        added = await clients[0].post(
            "/api/v1/communities/c1/items",
            headers=h["staff"],
            json={"name": "洗衣液", "cost": 10, "stock": 7},
        )
        assert added.status_code == 201, added.text
        item_id = added.json()["id"]

        attempts = [m for m in buyers for _ in range(5)]
        random.Random(11).shuffle(attempts)
        answers = await asyncio.gather(
            *(
                clients[n % 2].post(
                    "/api/v1/communities/c1/orders", headers=h[m], json={"item_id": item_id}
                )
                for n, m in enumerate(attempts)
            )
        )
    assert _unexpected(answers, 201, ORDER_REFUSALS) == []
    made = {a.json()["id"]: a.json()["member_id"] for a in answers if a.status_code == 201}

    with processes.database(cluster.url) as db, db.snapshot() as conn:
        stock = conn.scalar(
            sa.select(catalog_items.c.stock).where(
                catalog_items.c.community_id == "c1", catalog_items.c.id == item_id
            )
        )
        reserved = dict(
            conn.execute(
                sa.select(orders.c.id, orders.c.member_id).where(
                    orders.c.community_id == "c1",
                    orders.c.item_id == item_id,
                    orders.c.status == "reserved",
                )
            ).all()
        )
        wallets = {
            r.id.removeprefix("member:"): r
            for r in conn.execute(
                sa.select(accounts).where(
                    accounts.c.community_id == "c1", accounts.c.kind == "member"
                )
            )
        }
        held = dict(
            conn.execute(
                sa.select(orders.c.member_id, sa.func.sum(orders.c.points))
                .where(orders.c.community_id == "c1", orders.c.status == "reserved")
                .group_by(orders.c.member_id)
            ).all()
        )
        problems = points.audit(conn)
    assert stock is not None
    assert stock >= 0
    assert 7 - stock == len(reserved) == len(made)
    assert made == reserved
    negative = [
        m for m, w in wallets.items() if w.credits_posted - w.debits_posted - w.debits_pending < 0
    ]
    assert negative == []
    # every member's held points are exactly their open orders' points
    assert {m: w.debits_pending for m, w in wallets.items()} == {m: held.get(m, 0) for m in wallets}
    assert problems == []
    refused = Counter(_code(a) for a in answers if a.status_code != 201)
    print(
        f"[processes] redemptions attempts={len(answers)} reserved={len(made)} "
        f"out_of_stock={refused['out_of_stock']} "
        f"insufficient_points={refused['insufficient_points']} stock_left={stock} "
        f"negative_stock=0 negative_available=0 audit={len(problems)}"
    )


async def test_one_idempotency_key_sent_to_both_processes_at_once_takes_effect_once(
    cluster: Cluster,
) -> None:
    h = cluster.headers
    rounds = 6
    async with processes.clients(cluster.bases, 100) as clients:
        added = await clients[1].post(
            "/api/v1/communities/c1/items",
            headers=h["staff"],
            json={"name": "雨伞", "cost": 1, "stock": 50},
        )
        assert added.status_code == 201, added.text
        item_id = added.json()["id"]
        replayed = 0
        for n in range(rounds):
            reason = f"幂等测试 {uuid.uuid4().hex[:8]}"
            adjustment = (
                "/api/v1/communities/c1/adjustments",
                h["staff"],
                {"member_id": "vol5", "change": 2, "reason": reason},
            )
            order = ("/api/v1/communities/c1/orders", h["vol5"], {"item_id": item_id})
            for path, person, body in (adjustment, order):
                key = {"Idempotency-Key": f"both-{n}-{uuid.uuid4().hex}"}
                answers = await asyncio.gather(
                    *(_idempotent(c, path, {**person, **key}, body) for c in clients)
                )
                assert [a.status_code for a in answers] == [201, 201], [a.text for a in answers]
                assert answers[0].json() == answers[1].json()
                flags = sorted(a.headers.get("idempotent-replayed", "") for a in answers)
                assert flags == ["", "true"]
                replayed += 1
                made_id = answers[0].json()["id"]
                with processes.database(cluster.url) as db, db.snapshot() as conn:
                    if path.endswith("/adjustments"):
                        n_effects = conn.scalar(
                            sa.select(sa.func.count()).where(
                                transfers.c.community_id == "c1",
                                transfers.c.kind == "adjustment",
                                transfers.c.memo.contains(reason),
                            )
                        )
                    else:
                        n_effects = conn.scalar(
                            sa.select(sa.func.count()).where(
                                orders.c.community_id == "c1", orders.c.item_id == item_id
                            )
                        )
                        assert n_effects == n + 1
                        n_effects = conn.scalar(
                            sa.select(sa.func.count()).where(
                                orders.c.community_id == "c1", orders.c.id == made_id
                            )
                        )
                assert n_effects == 1, (path, made_id)
    with processes.database(cluster.url) as db, db.snapshot() as conn:
        stock = conn.scalar(
            sa.select(catalog_items.c.stock).where(
                catalog_items.c.community_id == "c1", catalog_items.c.id == item_id
            )
        )
        problems = points.audit(conn)
    assert (stock, problems) == (50 - rounds, [])
    print(
        f"[processes] idempotency keys={2 * rounds} sent_to_both=yes effects={2 * rounds} "
        f"replayed={replayed} doubled=0"
    )


async def _idempotent(
    client: httpx.AsyncClient, path: str, headers: dict[str, str], body: dict[str, Any]
) -> httpx.Response:
    """POST, retrying while the same key is still in flight in that process (409, then replay)."""
    for _ in range(50):
        answer = await client.post(path, headers=headers, json=body)
        if answer.status_code != 409 or _code(answer) != "idempotency_in_flight":
            return answer
        await asyncio.sleep(0.1)
    return answer


async def test_failed_sign_ins_are_counted_across_processes(cluster: Cluster) -> None:
    if not cluster.redis:
        pytest.skip(f"Redis unreachable at {REDIS_URL}: each process counts on its own")
    phone = f"137{random.randrange(10**8):08d}"  # nobody's: its counter is this test's own
    wrong = {"phone": phone, "password": "not-the-password"}
    async with processes.clients(cluster.bases, 100) as clients:
        for n in range(3):  # LINLI_LOGIN_ATTEMPTS=3, alternating processes
            failed = await clients[n % 2].post("/api/v1/auth/token", json=wrong)
            assert (failed.status_code, _code(failed)) == (401, "bad_credentials")
        for client in clients:
            throttled = await client.post("/api/v1/auth/token", json=wrong)
            assert (throttled.status_code, _code(throttled)) == (429, "login_throttled")
    print("[processes] redis shared login throttle: 3 failures over 2 processes → 429 on both")


async def test_sweeps_started_in_two_processes_handle_each_due_item_once(cluster: Cluster) -> None:
    due = cluster.due
    escalating, accepting, expiring = due.escalating, due.accepting, due.expiring
    with processes.database(cluster.url) as db:
        with db.snapshot() as conn:
            levels = {w.id: w.level for w in _wishes(conn, escalating)}
            stock_before = _stock(conn, due.item_id)
        assert stock_before == due.stock

        engine = sa.create_engine(cluster.url)
        procs: list[asyncio.subprocess.Process] = []
        try:
            # Both sweeps wait on this lock (their first step locks due wishes, FOR UPDATE), so
            # they start sweeping at the same moment when it goes.
            with engine.connect() as holder:
                holder.exec_driver_sql("LOCK TABLE mk_wishes IN EXCLUSIVE MODE")
                for _ in range(2):
                    procs.append(
                        await asyncio.create_subprocess_exec(
                            processes.linli(),
                            "sweep",
                            env=cluster.env,
                            stdout=asyncio.subprocess.PIPE,
                            stderr=asyncio.subprocess.PIPE,
                        )
                    )
                waiting = await asyncio.to_thread(_waiting_on_locks, engine, expect=2)
                holder.commit()
            outputs = [await asyncio.wait_for(p.communicate(), 60) for p in procs]
        finally:
            for p in procs:
                if p.returncode is None:
                    p.kill()
                    await p.wait()
            engine.dispose()
        assert [p.returncode for p in procs] == [0, 0], outputs
        reports = [_report(out.decode()) for out, _ in outputs]
        assert waiting == 2  # both were waiting: they swept at once

        with db.snapshot() as conn:
            escalated = {w.id: w for w in _wishes(conn, escalating)}
            accepted = {w.id: w for w in _wishes(conn, accepting)}
            escalations = Counter(
                conn.execute(
                    sa.select(transitions.c.subject_id).where(
                        transitions.c.subject_id.in_(escalating),
                        transitions.c.action == "escalate",
                    )
                ).scalars()
            )
            confirmations = Counter(
                conn.execute(
                    sa.select(transitions.c.subject_id).where(
                        transitions.c.subject_id.in_(accepting),
                        transitions.c.action == "confirm",
                    )
                ).scalars()
            )
            awards = (
                (
                    conn.execute(
                        sa.select(claims.c.award_id).where(
                            claims.c.community_id == "c1", claims.c.wish_id.in_(accepting)
                        )
                    )
                )
                .scalars()
                .all()
            )
            award_posts = Counter(
                conn.execute(
                    sa.select(transfers.c.pending_id).where(
                        transfers.c.community_id == "c1", transfers.c.pending_id.in_(awards)
                    )
                ).scalars()
            )
            closed = dict(
                conn.execute(
                    sa.select(orders.c.id, orders.c.status).where(orders.c.id.in_(expiring))
                ).all()
            )
            voids = Counter(
                conn.execute(
                    sa.select(transfers.c.pending_id).where(
                        transfers.c.community_id == "c1", transfers.c.pending_id.in_(expiring)
                    )
                ).scalars()
            )
            stock_after = _stock(conn, due.item_id)
            problems = points.audit(conn)

    doubled = [w for w in escalating if escalations[w] != 1]
    assert doubled == []
    assert {w: escalated[w].level for w in escalating} == {w: levels[w] + 1 for w in escalating}
    assert {w: accepted[w].state.value for w in accepting} == dict.fromkeys(accepting, "closed")
    assert [confirmations[w] for w in accepting] == [1] * len(accepting)
    assert [award_posts[a] for a in awards] == [1] * len(awards)
    assert closed == dict.fromkeys(expiring, "expired")
    assert [voids[o] for o in expiring] == [1] * len(expiring)
    assert stock_after - stock_before == len(expiring)  # each order's stock came back once
    assert problems == []
    errors = [(n, r) for n, report in enumerate(reports) for r in report.values() if r[2]]
    assert errors == []
    handled = {name: [r[name][0] for r in reports] for name in reports[0]}
    assert sum(handled["escalate"]) == len(escalating)
    assert sum(handled["auto_accept"]) == len(accepting)
    assert sum(handled["expire_orders"]) == len(expiring)
    print(
        f"[processes] sweep due={len(escalating) + len(accepting) + len(expiring)} "
        f"escalate due={len(escalating)} handled={'+'.join(map(str, handled['escalate']))} "
        f"escalated_once={len(escalating) - len(doubled)} doubled={len(doubled)}; "
        f"auto_accept due={len(accepting)} "
        f"handled={'+'.join(map(str, handled['auto_accept']))} accepted_once={len(accepting)}; "
        f"expire_orders due={len(expiring)} "
        f"handled={'+'.join(map(str, handled['expire_orders']))} expired_once={len(expiring)} "
        f"stock_returned={stock_after - stock_before}; both_waiting={waiting} audit=0"
    )


async def test_the_order_expiry_sweep_waits_for_a_redemption_instead_of_deadlocking(
    cluster: Cluster,
) -> None:
    """A redemption (in any process) takes the member's account, then the store's. A sweep must
    not hold the store's (from an earlier order) while it waits for that member's: a deadlock."""
    now = utcnow()
    with processes.database(cluster.url) as db:
        with db.transaction() as tx:
            for member in ("vol5", "party"):
                mk.wallet.adjust(tx, "staff", "c1", member, 20, reason="死锁测试", now=now)
            item = points.add_item(tx, community_id="c1", name="香皂", cost=5, stock=9)
            first, second = [
                points.redeem(
                    tx,
                    community_id="c1",
                    member_id=member,
                    item_id=item.id,
                    hold=dt.timedelta(hours=1),
                    now=now - dt.timedelta(hours=hours),
                )
                for member, hours in (("vol5", 3), ("party", 2))
            ]  # vol5's expires first: the sweep takes it (and the store's account) first
        engine = sa.create_engine(cluster.url)
        try:
            with engine.connect() as redemption:
                redemption.exec_driver_sql("SET LOCAL lock_timeout = '15s'")
                redemption.execute(_lock_account("member:party"))  # its first step
                sweep = asyncio.create_task(sweep_once(db))
                waiting = await asyncio.to_thread(_waiting_on_locks, engine, expect=1)
                redemption.execute(_lock_account("store:c1"))  # its second
                redemption.commit()
            reports = {r.name: r for r in await asyncio.wait_for(sweep, 60)}
        finally:
            engine.dispose()
        with db.snapshot() as conn:
            statuses = [points.get_order(conn, "c1", o.id).status for o in (first, second)]
            problems = points.audit(conn)
    assert waiting == 1  # the sweep waited for the redemption's member account
    assert reports["expire_orders"].error is None  # and did not die of a deadlock
    assert reports["expire_orders"].handled >= 2
    assert statuses == [points.OrderStatus.EXPIRED] * 2
    assert problems == []
    print("[processes] expiry sweep vs redemption: waited, no deadlock, expired=2 audit=0")


def _lock_account(acct_id: str) -> sa.Select[Any]:
    """The lock an UPDATE of the account's counters takes (as the ledger does)."""
    return (
        sa.select(accounts.c.id)
        .where(accounts.c.community_id == "c1", accounts.c.id == acct_id)
        .with_for_update(key_share=True)
    )


def _report(output: str) -> dict[str, tuple[int, int, str]]:
    """``linli sweep``'s lines: name → (handled, skipped, error)."""
    found = {}
    for line in output.splitlines():
        name, *fields = line.split("\t")
        values = dict(f.split("=", 1) for f in fields)
        found[name] = (int(values["handled"]), int(values["skipped"]), values.get("error", ""))
    return found


def _waiting_on_locks(engine: Engine, *, expect: int) -> int:
    """How many sessions of this database wait on a lock, once ``expect`` do (or 60 s pass:
    the processes start Python first)."""
    waiting = 0
    deadline = time.monotonic() + 60
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        while time.monotonic() < deadline:
            waiting = int(
                conn.scalar(
                    sa.text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                    )
                )
                or 0
            )
            if waiting >= expect:
                break
            time.sleep(0.05)
    return waiting


def _wishes(conn: Connection, ids: list[str]) -> list[mk.Wish]:
    return [mk.load_wish(conn, "c1", w) for w in ids]


def _stock(conn: Connection, item_id: str) -> int:
    stock = conn.scalar(
        sa.select(catalog_items.c.stock).where(
            catalog_items.c.community_id == "c1", catalog_items.c.id == item_id
        )
    )
    assert stock is not None
    return int(stock)


def _post(tx: Connection, start: dt.datetime, now: dt.datetime) -> mk.Wish:
    return mk.post_wish(
        tx,
        "res",
        community_id="c1",
        kind=mk.WishKind.SERVICE,
        category="助老陪护",
        title="陪老人去医院",
        description="周二上午复诊",
        org_id="g1",
        address="幸福路1号3栋",
        window_start=start,
        window_end=start + dt.timedelta(hours=3),
        estimated_minutes=60,
        capacity=1,
        now=now,
    )


def _due_for_escalation(tx: Connection, now: dt.datetime) -> list[str]:
    """Published wishes nobody claimed within 48 hours, and wishes nobody verified in 24."""
    ids = []
    for n in range(24):
        if n % 4 == 0:  # submitted two days ago, never verified
            ids.append((_post(tx, now + dt.timedelta(days=2), now - dt.timedelta(days=2))).id)
            continue
        posted = _post(tx, now + dt.timedelta(days=2), now - dt.timedelta(days=3))
        mk.verify(tx, "staff", "c1", posted.id, now=now - dt.timedelta(days=3))
        ids.append(posted.id)
    return ids


def _due_for_auto_accept(tx: Connection, now: dt.datetime) -> list[str]:
    """Wishes served three weeks ago that nobody confirmed (auto-accepted after 7 days)."""
    ids = []
    start = now - dt.timedelta(days=20)
    for n, member in enumerate(("vol1", "vol2", "vol3", "vol4")):
        posted = _post(tx, start + dt.timedelta(hours=n), start - dt.timedelta(days=1))
        wish = mk.verify(tx, "staff", "c1", posted.id, now=start - dt.timedelta(days=1))
        claimed = mk.claim(tx, member, "c1", wish.id, now=start - dt.timedelta(hours=20))
        began = start + dt.timedelta(hours=n)
        mk.check_in(tx, member, "c1", claimed.id, code=wish.confirmation_code, now=began)
        mk.check_out(tx, member, "c1", claimed.id, now=began + dt.timedelta(minutes=90))
        ids.append(wish.id)
    return ids


def _due_orders(tx: Connection, now: dt.datetime) -> tuple[list[str], str]:
    """Orders reserved two hours ago and held for one (all expire at the same moment)."""
    then = now - dt.timedelta(hours=3)
    for member in ("vol4", "party"):
        mk.wallet.adjust(tx, "staff", "c1", member, 100, reason="过期测试", now=then)
    item = points.add_item(tx, community_id="c1", name="毛巾", cost=5, stock=20, now=then)
    ids = []
    for n in range(8):
        order = points.redeem(
            tx,
            community_id="c1",
            member_id=("vol4", "party")[n % 2],
            item_id=item.id,
            hold=dt.timedelta(hours=1),
            now=now - dt.timedelta(hours=2),
        )
        ids.append(order.id)
    return ids, item.id


def test_two_serving_processes_dispatch_each_message_once(cluster: Cluster) -> None:
    """Both ``linli serve`` processes run the outbox's dispatcher (every 2 s by default): each
    message reaches the webhook once."""
    with Receiver() as hook, processes.database(cluster.url) as db:
        with db.transaction() as tx:
            made = mk.add_webhook(tx, mk.SYSTEM, "c1", hook.url, "s" * 32)
            for n in range(300):
                mk.emit(tx, "c1", "reports.ready", {"period": f"p{n}"})
        try:
            deadline = time.monotonic() + 60
            while len(_reports(hook)) < 300 and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.5)  # anything sent twice would arrive meanwhile
        finally:
            with db.transaction() as tx:
                mk.remove_webhook(tx, mk.SYSTEM, "c1", made.id)
        seen = Counter(_reports(hook))  # not the earlier tests' events, if any came after
    assert len(seen) == 300
    assert set(seen.values()) == {1}


def _reports(hook: Receiver) -> list[str]:
    return [r.json()["id"] for r in list(hook.received) if r.json()["type"] == "reports.ready"]
