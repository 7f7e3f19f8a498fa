"""kill -9 under load (DESIGN.md §3: invariants 3, 4, 5 and 8): an acknowledged write survives.

A real ``linli serve`` runs on a SQLite file, then on a PostgreSQL database of its own, with the
test district (service_world). Sixteen clients send money-like writes, each with an
Idempotency-Key: staff adjust volunteers' points, volunteers redeem store items, donate to the
pool, claim wishes and withdraw claims. Each request is recorded as ok (2xx), failed (a definite
4xx refusal) or unknown (a connection error, a timeout, a 5xx: the outcome is not known). At a
random moment the serving process — the one holding the database connections, checked — gets
SIGKILL; the server restarts on the same database and the load goes on. After the rounds every
unknown request is retried with the same key until it has a definite answer, the server is
killed once more, and the database must show: every acknowledged write exactly once with the
fields it was acknowledged with, nothing that was not acknowledged, each key applied at most
once, balances equal to what the acknowledged requests imply, ``points.audit`` empty, and each
wish's places taken equal to its active claims (stock never negative).

CI runs 3 rounds per backend with a fixed seed. ``LINLI_SOAK=1`` (``make soak``) runs 20 rounds
with a fresh seed, printed: ``LINLI_CRASH_SEED=<seed>`` makes the same choices of requests and
kill moments again (the interleaving of the clients is the machine's).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import random
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

import marketplace as mk
import points
import processes
import service_world as sw
import support
from crash_checks import check
from crash_load import CLIENTS, MEMBERS, REFUSALS, C, Load, Server, World
from points import utcnow
from points.schema import accounts
from service.database import MIGRATIONS

SOAK = os.environ.get("LINLI_SOAK") == "1"
ROUNDS = 20 if SOAK else 3
SEED = int(os.environ.get("LINLI_CRASH_SEED") or (time.time_ns() % 10**6 if SOAK else 20261126))
LOAD_SECONDS = (0.5, 3.0)  # load served before the kill (after the first answer), per round
START_POINTS = 20  # each member's: orders, donations and deductions meet insufficient points
ITEMS = (("毛巾", 3, 100_000), ("电影票", 7, 8))  # name, cost, stock (the second runs out)
pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc to find the server")


@contextmanager
def _database(backend: str) -> Iterator[str]:
    """A migrated database of this test's own, with the district in it."""
    if backend == "sqlite":
        yield support.fresh_url("sqlite", service=True)
        return
    name = f"linli_crash_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    url = processes.create_postgresql(name)
    try:
        db = mk.open_database(url, migrations=(MIGRATIONS,), pool_size=2)
        try:
            db.upgrade()
        finally:
            db.dispose()
        yield url
    finally:
        processes.drop_postgresql(name)


def _prepare(url: str) -> World:
    db = mk.open_database(url, migrations=(MIGRATIONS,), pool_size=2)
    try:
        sw.build(db)
        now = utcnow()
        with db.transaction() as tx:
            for member in MEMBERS:
                mk.wallet.adjust(tx, "staff", C, member, START_POINTS, reason="开户", now=now)
            items = {}
            for name, cost, stock in ITEMS:
                item = points.add_item(tx, community_id=C, name=name, cost=cost, stock=stock)
                items[item.id] = stock
            start = now + dt.timedelta(days=2)
            made = []
            for n in range(24):
                wish = mk.post_wish(
                    tx, "res", community_id=C, kind=mk.WishKind.SERVICE, category="助老陪护",
                    title=f"陪老人散步 {n}", description="傍晚一小时", org_id="g1",
                    address="幸福路1号3栋", window_start=start + dt.timedelta(hours=n),
                    window_end=start + dt.timedelta(hours=n + 2), estimated_minutes=60,
                    capacity=1 + n % 3, now=now,
                )  # fmt: skip
                made.append(mk.verify(tx, "staff", C, wish.id, now=now).id)
        with db.snapshot() as conn:
            posted = _posted(conn)
        return World(items=items, wishes=made, posted=posted)
    finally:
        db.dispose()


def _posted(conn: Connection) -> dict[str, int]:
    rows = conn.execute(
        sa.select(accounts.c.owner_id, accounts.c.credits_posted - accounts.c.debits_posted).where(
            accounts.c.community_id == C, accounts.c.kind == "member"
        )
    )
    return {owner: int(balance) for owner, balance in rows}


async def test_acknowledged_writes_survive_kill_9_under_load(
    backend_ready: str, tmp_path: Path
) -> None:
    started = time.perf_counter()
    rng = random.Random(SEED)
    if SOAK:
        print(f"[crash] backend={backend_ready} soak rounds={ROUNDS} seed={SEED}")
    with _database(backend_ready) as url:
        load = Load(_prepare(url))
        server = Server(url, backend_ready, tmp_path)
        try:
            for round_ in range(ROUNDS):
                server.start()
                if round_ == 0:
                    for person in ("staff", *MEMBERS):
                        token = await asyncio.to_thread(processes.sign_in, server.base, person)
                        load.tokens[person] = {"Authorization": f"Bearer {token}"}
                stop = asyncio.Event()
                running = asyncio.create_task(load.run(server.base, rng, stop))
                await asyncio.wait_for(load.serving.wait(), 60)  # past the first requests' warm-up
                await asyncio.sleep(rng.uniform(*LOAD_SECONDS))
                await server.kill(stop)
                await running
            server.start()
            await load.settle(server.base)
            await server.kill()  # the checks read the database as the last crash left it
        finally:
            server.stop()
            if "Traceback" in (log := server.log.read_text()):
                print(f"[crash] backend={backend_ready} server log:\n{log[-5000:]}")
        found = check(url, load)
    sent = load.sent
    outcomes = Counter(s.outcome for s in sent)
    unknown = [s for s in sent if s.was_unknown]
    n = found.counts()
    print(
        f"[crash] backend={backend_ready} rounds={ROUNDS} requests={len(sent)} "
        f"acknowledged={outcomes['ok']} failed={outcomes['failed']} unknown={len(unknown)} "
        f"lost={n['lost']} duplicates={n['duplicates']} audit={n['audit']} "
        f"seconds={time.perf_counter() - started:.1f}"
    )
    print(
        f"[crash] backend={backend_ready} seed={SEED} clients={CLIENTS} "
        f"starts={len(server.starts)} "
        f"start_seconds={'/'.join(f'{t:.1f}' for t in server.starts)} "
        f"unknown: applied_before_kill={sum(s.replayed for s in unknown)} "
        f"applied_on_retry={sum(s.outcome == 'ok' and not s.replayed for s in unknown)} "
        f"refused_on_retry={sum(s.outcome == 'failed' for s in unknown)} "
        f"because={dict(Counter(s.was_unknown for s in unknown))}; "
        f"stray={n['stray']} differ={n['differ']} marketplace={n['marketplace']}; "
        f"kinds={dict(Counter(s.kind for s in sent))} "
        f"refusals={dict(Counter(s.code for s in sent if s.outcome == 'failed'))}"
    )
    assert [s.key for s in unknown if s.was_unknown.startswith("500")] == []  # no crash of ours
    odd = [(s.kind, s.status, s.code) for s in sent if s.outcome == "failed"]
    assert [o for o in odd if o[2] not in REFUSALS.get(o[1], set())] == []
    assert found.lost == []
    assert found.duplicates == []
    assert found.stray == []
    assert found.differ == []
    assert found.marketplace == []
    assert found.audit == []
