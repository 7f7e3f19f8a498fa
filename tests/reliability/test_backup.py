"""Backups under load (issue 7): ``linli backup`` runs while a real ``linli serve`` takes writes;
``linli restore`` puts the copy into a fresh database; the copy is the database at one moment.

A real ``linli serve`` runs on a SQLite file, then on a PostgreSQL database of its own, with the
test district (service_world), points in the volunteers' wallets and a store item. Eight clients
send writes, each with an Idempotency-Key (staff adjust points, volunteers redeem store items and
cancel their orders, staff hand items over), recording when each was sent and when its answer
came; unknown outcomes are retried with the same key until they are known. ``linli backup`` runs
in its own process in the middle of it. The restored copy must hold:

- every write acknowledged before the backup started;
- no transfer but the world's and the clients' (each sent before the backup ended);
- each wallet equal to the world's balance plus the effects of the writes the copy holds (what
  the clients were told), and to the sum of its own transfers (the audit of the copy is empty);
- nothing half-done: no transfer without its two entries, no order without its hold, no closed
  order without its post or void, no effect without its stored Idempotency-Key response and no
  stored response without its effect (they commit together).

That writes land between the steps of SQLite's page-by-page copy and stay out of it, and that a
restore never replaces data unless forced, test_backup_commands.py shows.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

import marketplace as mk
import points
import processes
import service_world as sw
from points import Database
from points.schema import accounts, entries, orders, transfers
from service.database import MIGRATIONS
from service.tables import idempotency_keys

C = "c1"
CLIENTS = 8
MEMBERS = ("vol1", "vol2", "vol3", "vol4", "vol5", "party")
LOAD_BEFORE, LOAD_AFTER = 1.5, 0.5  # seconds of load before the backup starts and after it ends
RETRY = {409: {"idempotency_in_flight"}}  # besides transport errors and 5xx: try again


@dataclass
class Write:
    kind: str  # adjust | redeem | fulfil | cancel
    actor: str
    key: str
    member: str
    change: int  # adjust: the change asked for
    sent: float  # time.monotonic() of the first attempt
    answered: float = 0.0  # of the definite answer
    status: int = 0
    result: str = ""  # the transfer's id (adjust) or the order's (the others)
    points: int = 0  # an order's points

    @property
    def ok(self) -> bool:
        return self.status in (200, 201)


@dataclass
class Server:
    url: str
    env: dict[str, str]
    base: str
    headers: dict[str, dict[str, str]]
    item_id: str
    world: set[str]  # the transfers made before the load
    wallets: dict[str, tuple[int, int]]  # member → (posted balance, available) before the load


async def test_a_backup_taken_under_load_restores_to_one_consistent_moment(
    backend_ready: str, tmp_path: Path
) -> None:
    async with _serving(backend_ready, tmp_path) as server:
        writes: list[Write] = []
        stop = asyncio.Event()
        load = asyncio.create_task(_load(server, writes, stop))
        await asyncio.sleep(LOAD_BEFORE)
        copy = tmp_path / ("backup.db" if backend_ready == "sqlite" else "backup.dump")
        started = time.monotonic()
        backed_up = await _linli(server.env, "backup", str(copy))
        ended = time.monotonic()
        await asyncio.sleep(LOAD_AFTER)
        stop.set()
        await load
        assert backed_up.returncode == 0, backed_up.stderr
        with _fresh_database(backend_ready, tmp_path) as target:
            env = {**server.env, "LINLI_DATABASE_URL": target}
            restore_started = time.monotonic()
            restored = await _linli(env, "restore", str(copy))
            restore_seconds = time.monotonic() - restore_started
            assert restored.returncode == 0, restored.stdout + restored.stderr
            assert "audit: 0 problem(s)" in restored.stdout
            found = _read_copy(target)

    acked = [w for w in writes if w.ok]
    before = [w for w in acked if w.answered < started]
    present = [w for w in acked if _present(w, found)]
    assert [w for w in before if not _present(w, found)] == []
    strangers, late = _strangers(found, server.world, acked, ended)
    assert strangers == []  # nothing the clients did not send
    assert late == []  # nor anything sent after the backup ended
    assert found.problems == []
    assert _wallets(server, present) == found.wallets  # what the clients were told, in the copy
    assert found.half_done == []
    assert _keys(present) == found.keys  # effect and stored response: both or neither
    assert [(w.kind, w.status) for w in writes if not w.ok and w.status != 409] == []
    during = [w for w in acked if started <= w.answered <= ended]
    assert during, "no write landed while the backup ran"
    kinds = Counter(w.kind for w in present)
    print(
        f"[backup] backend={backend_ready} rows={found.rows} "
        f"backup_seconds={_reported(backed_up.stdout)} (process {ended - started:.2f}) "
        f"restore_seconds={_reported(restored.stdout, 'in ')} (process {restore_seconds:.2f}) "
        f"audit=0 acknowledged_before={len(before)} "
        f"present={len(present)} acknowledged_during={len(during)} acknowledged={len(acked)} "
        f"sent={len(writes)} lost=0 strangers=0 half_done=0 "
        f"({', '.join(f'{k}={n}' for k, n in sorted(kinds.items()))})"
    )


# What the copy holds


@dataclass
class Copy:
    rows: int
    transfers: dict[str, tuple[str, str | None]]  # id → (phase, pending id)
    orders: dict[str, str]  # id → status
    wallets: dict[str, tuple[int, int]]
    keys: set[tuple[str, str]]  # (member, key) of the stored responses
    half_done: list[str]
    problems: list[points.Problem]


def _read_copy(url: str) -> Copy:
    db = mk.open_database(url, migrations=(MIGRATIONS,), pool_size=2)
    try:
        with db.snapshot() as tx:
            rows = 0
            for name in sa.inspect(tx).get_table_names():
                rows += tx.scalar(sa.select(sa.func.count()).select_from(sa.table(name))) or 0
            found = {
                r.id: (r.phase, r.pending_id)
                for r in tx.execute(
                    sa.select(transfers.c.id, transfers.c.phase, transfers.c.pending_id).where(
                        transfers.c.community_id == C
                    )
                )
            }
            counted = Counter(
                tx.execute(sa.select(entries.c.transfer_id).where(entries.c.community_id == C))
                .scalars()
                .all()
            )
            stored = {
                r.id: r.status
                for r in tx.execute(
                    sa.select(orders.c.id, orders.c.status).where(orders.c.community_id == C)
                )
            }
            keys = {
                (r.member_id, r.key)
                for r in tx.execute(sa.select(idempotency_keys.c.member_id, idempotency_keys.c.key))
            }
            wallets = _balances(tx)
            problems = points.audit(tx)
    finally:
        db.dispose()
    closing = {pending: phase for phase, pending in found.values() if pending}
    half = [f"{t} has {counted[t]} entries" for t in found if counted[t] != 2]
    half += [f"order {o} without its hold" for o in stored if found.get(o, ("",))[0] != "pending"]
    expected = {"reserved": None, "fulfilled": "post", "cancelled": "void", "expired": "void"}
    half += [
        f"order {o} is {status} but its hold's close is {closing.get(o)}"
        for o, status in stored.items()
        if closing.get(o) != expected[status]
    ]
    return Copy(
        rows=rows,
        transfers=found,
        orders=stored,
        wallets=wallets,
        keys=keys,
        half_done=half,
        problems=problems,
    )


def _balances(tx: Any) -> dict[str, tuple[int, int]]:
    """Each member's wallet in c1: (posted balance, available)."""
    a = accounts.c
    query = sa.select(
        a.owner_id,
        a.credits_posted - a.debits_posted,
        a.credits_posted - a.debits_posted - a.debits_pending,
    ).where(a.community_id == C, a.kind == "member", a.owner_id.in_(MEMBERS))
    return {owner: (int(posted), int(available)) for owner, posted, available in tx.execute(query)}


def _present(w: Write, found: Copy) -> bool:
    if w.kind == "adjust":
        return w.result in found.transfers
    if w.kind == "redeem":
        return w.result in found.orders
    closed = {"fulfil": "post", "cancel": "void"}[w.kind]
    return any(p == (closed, w.result) for p in found.transfers.values())


def _strangers(
    found: Copy, world: set[str], acked: list[Write], ended: float
) -> tuple[list[str], list[str]]:
    """Transfers of the copy no client sent, and those sent after the backup ended."""
    by_id = {w.result: w for w in acked if w.kind in ("adjust", "redeem")}
    by_close = {
        (w.result, {"fulfil": "post", "cancel": "void"}[w.kind]): w
        for w in acked
        if w.kind in ("fulfil", "cancel")
    }
    strangers, late = [], []
    for transfer_id, (phase, pending) in found.transfers.items():
        if transfer_id in world:
            continue
        w = by_id.get(transfer_id) or by_close.get((pending or "", phase))
        if w is None:
            strangers.append(transfer_id)
        elif w.sent > ended:
            late.append(transfer_id)
    return strangers, late


def _wallets(server: Server, present: list[Write]) -> dict[str, tuple[int, int]]:
    """The wallets the clients' answers imply: the world's, plus each write the copy holds."""
    posted = {m: server.wallets[m][0] for m in MEMBERS}
    available = {m: server.wallets[m][1] for m in MEMBERS}
    for w in present:
        if w.kind == "adjust":
            posted[w.member] += w.change
            available[w.member] += w.change
        elif w.kind == "redeem":
            available[w.member] -= w.points
        elif w.kind == "fulfil":
            posted[w.member] -= w.points
        else:  # cancel
            available[w.member] += w.points
    return {m: (posted[m], available[m]) for m in MEMBERS}


def _keys(present: list[Write]) -> set[tuple[str, str]]:
    """The stored Idempotency-Key responses the copy must hold: those of the writes it holds
    (the world stores none)."""
    return {(w.actor, w.key) for w in present}


def _reported(output: str, before: str = ", ") -> str:
    """The seconds a command says it took (``…, 0.05 s`` or ``… in 0.19 s:``)."""
    found = re.search(re.escape(before) + r"([0-9.]+) s\b", output)
    return found.group(1) if found else "?"


# The load


async def _load(server: Server, writes: list[Write], stop: asyncio.Event) -> None:
    open_orders: list[Write] = []
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx.AsyncClient(base_url=server.base, timeout=60, limits=limits) as client:

        async def client_loop(n: int) -> None:
            rng = random.Random(n)
            while not stop.is_set():
                roll = rng.random()
                member = rng.choice(MEMBERS)
                if roll < 0.4:
                    change = rng.randint(1, 20) if rng.random() < 0.8 else -rng.randint(1, 10)
                    w = _write("adjust", "staff", member, change)
                    body: dict[str, Any] = {"member_id": member, "change": change, "reason": "补录"}
                    path = f"/api/v1/communities/{C}/adjustments"
                elif roll < 0.75 or not open_orders:
                    w = _write("redeem", member, member)
                    body, path = {"item_id": server.item_id}, f"/api/v1/communities/{C}/orders"
                else:
                    order = open_orders.pop(rng.randrange(len(open_orders)))
                    fulfil = rng.random() < 0.5
                    w = _write(
                        "fulfil" if fulfil else "cancel",
                        "staff" if fulfil else order.member,
                        order.member,
                    )
                    w.result, w.points = order.result, order.points
                    body = {}
                    path = f"/api/v1/communities/{C}/orders/{order.result}/{w.kind}"
                writes.append(w)
                answer = await _send(client, server.headers[w.actor], w, path, body)
                if w.ok and w.kind == "adjust":
                    w.result = answer["id"]
                elif w.ok and w.kind == "redeem":
                    w.result, w.points = answer["id"], int(answer["points"])
                    open_orders.append(w)

        await asyncio.gather(*(client_loop(n) for n in range(CLIENTS)))


def _write(kind: str, actor: str, member: str, change: int = 0) -> Write:
    return Write(
        kind=kind, actor=actor, key=uuid.uuid4().hex, member=member, change=change,
        sent=time.monotonic(),
    )  # fmt: skip


async def _send(
    client: httpx.AsyncClient, headers: dict[str, str], w: Write, path: str, body: dict[str, Any]
) -> Any:
    """Until the answer is definite: the same key again after an unknown outcome."""
    while True:
        try:
            answer = await client.post(
                path, json=body, headers={**headers, "Idempotency-Key": w.key}
            )
        except httpx.TransportError:
            await asyncio.sleep(0.05)
            continue
        problem = answer.headers.get("content-type", "").startswith("application/problem+json")
        code = answer.json().get("code") if problem else None
        if answer.status_code >= 500 or code in RETRY.get(answer.status_code, ()):
            await asyncio.sleep(0.05)
            continue
        w.answered, w.status = time.monotonic(), answer.status_code
        return answer.json()


# The service


@asynccontextmanager
async def _serving(backend: str, folder: Path) -> AsyncIterator[Server]:
    with _fresh_database(backend, folder) as url:
        item_id, world, wallets = _prepare(url)
        env = {
            **_env(),
            "LINLI_DATABASE_URL": url,
            "LINLI_SECRET_KEY": "backup-secret-" + uuid.uuid4().hex * 2,
        }
        port = processes.free_port()
        base = f"http://127.0.0.1:{port}"
        log = folder / "serve.log"
        proc = processes.serve(port, env, log)
        try:
            processes.wait_ready(base, proc, log)
            headers = {
                p: {"Authorization": f"Bearer {processes.sign_in(base, p)}"}
                for p in ("staff", *MEMBERS)
            }
            yield Server(url, env, base, headers, item_id, world, wallets)
            assert proc.poll() is None, log.read_text()[-3000:]
        finally:
            processes.stop([proc])
            text = log.read_text()
            if "Traceback" in text:
                print(f"[backup] serve log:\n{text[-5000:]}")


def _env() -> dict[str, str]:
    env = {
        **os.environ,
        "LINLI_SWEEP_SECONDS": "0",
        "LINLI_ACCESS_LOG": "0",
        "LINLI_LOG_LEVEL": "WARNING",
        "LINLI_POOL_SIZE": "5",
        "LINLI_RATE_LIMIT_PER_MINUTE": "1000000",
        "LINLI_LOGIN_ATTEMPTS_PER_ADDRESS": "100000",
    }
    env.pop("LINLI_REDIS_URL", None)
    return env


def _prepare(url: str) -> tuple[str, set[str], dict[str, tuple[int, int]]]:
    """The migrated district with points in its wallets and a store item; its transfers and
    wallets."""
    db: Database = mk.open_database(url, migrations=(MIGRATIONS,), pool_size=2)
    try:
        db.upgrade()
        sw.build(db)
        with db.transaction() as tx:
            for member in MEMBERS:
                mk.wallet.adjust(tx, "staff", C, member, 200, reason="期初积分")
            item = mk.wallet.add_item(tx, "staff", C, name="洗衣液", cost=3, stock=10**6)
        with db.snapshot() as tx:
            world = set(tx.execute(sa.select(transfers.c.id)).scalars())
            wallets = _balances(tx)
    finally:
        db.dispose()
    return item.id, world, wallets


@contextmanager
def _fresh_database(backend: str, folder: Path) -> Iterator[str]:
    """The URL of an empty database (not migrated), removed afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / f'{uuid.uuid4().hex}.db'}"
        return
    name = f"linli_backup_{uuid.uuid4().hex[:10]}"
    url = processes.create_postgresql(name)
    try:
        yield url
    finally:
        processes.drop_postgresql(name)


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


async def _linli(env: dict[str, str], *args: str) -> Ran:
    proc = await asyncio.create_subprocess_exec(
        processes.linli(),
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return Ran(proc.returncode, out.decode(), err.decode())
