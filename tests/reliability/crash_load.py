"""The crash test's load and the server it kills (tests/reliability/test_crash.py).

:class:`Load` plans and sends the requests of many concurrent clients, each with its own
Idempotency-Key, and records what became of each: ok (2xx), failed (a definite 4xx refusal) or
unknown (no answer, a 5xx, or the key still in flight). :class:`Server` starts ``linli serve``
and kills it with SIGKILL, after checking that the process it kills is the one holding the
database's connections (an open SQLite file; PostgreSQL's client ports are its sockets).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

import processes
import support

C = "c1"
MEMBERS = ("vol1", "vol2", "vol3", "vol4", "vol5", "party")
CLIENTS = 16
REFUSALS = {  # the definite refusals this load may meet
    409: {"insufficient_points", "out_of_stock", "capacity_full", "already_claimed",
          "claim_limit_reached", "wrong_state"},
    403: {"not_allowed"},
}  # fmt: skip


@dataclass
class Sent:
    """One request and what became of it."""

    n: int
    kind: str  # adjust | redeem | donate | claim | withdraw
    sender: str  # whose token (the key is scoped by them)
    member: str  # whose points or claim
    path: str
    body: dict[str, Any]
    outcome: str = ""  # ok | failed | unknown
    status: int = 0
    code: str = ""  # the problem's code, when refused
    answer: Any = None  # the JSON body, when ok
    was_unknown: str = ""  # why the outcome was first unknown
    replayed: bool = False  # the retry found it applied before the crash

    @property
    def key(self) -> str:
        return f"crash-{self.n:06d}"

    @property
    def memo(self) -> str:
        """What the effect carries to find it by: an adjustment's or a withdrawal's reason, a
        donation's memo (``crash <n>``)."""
        return str(self.body.get("reason") or self.body.get("memo") or "")


@dataclass
class World:
    items: dict[str, int]  # item id → stock at the start
    wishes: list[str]
    posted: dict[str, int]  # member → posted balance at the start


@dataclass
class Load:
    """The clients' shared plan and record."""

    world: World
    tokens: dict[str, dict[str, str]] = field(default_factory=dict)
    serving: asyncio.Event = field(default_factory=asyncio.Event)  # an answer came this round
    sent: list[Sent] = field(default_factory=list)
    held: list[tuple[str, str]] = field(default_factory=list)  # (member, claim) acknowledged

    def next(self, rng: random.Random) -> Sent:
        n = len(self.sent)
        kind = rng.choices(("adjust", "redeem", "donate", "claim", "withdraw"), (3, 3, 2, 2, 1))[0]
        if kind == "withdraw" and not self.held:
            kind = "claim"
        member = rng.choice(MEMBERS)
        base = f"/api/v1/communities/{C}"
        memo = f"crash {n:06d}"
        if kind == "adjust":
            change = rng.randint(1, 40) if rng.random() < 0.8 else -rng.randint(1, 20)
            body = {"member_id": member, "change": change, "reason": memo}
            sent = Sent(n, kind, "staff", member, f"{base}/adjustments", body)
        elif kind == "redeem":
            item = rng.choice(sorted(self.world.items))
            sent = Sent(n, kind, member, member, f"{base}/orders", {"item_id": item})
        elif kind == "donate":
            body = {"amount": rng.randint(1, 5), "memo": memo}
            sent = Sent(n, kind, member, member, f"{base}/donations", body)
        elif kind == "claim":
            wish = rng.choice(self.world.wishes)
            path = f"{base}/wishes/{wish}/claims"
            sent = Sent(n, kind, member, member, path, {"id": f"claim-{n:06d}"})
        else:
            member, claim_id = self.held.pop(rng.randrange(len(self.held)))
            path = f"{base}/claims/{claim_id}/withdraw"
            sent = Sent(n, kind, member, member, path, {"reason": memo})
        self.sent.append(sent)
        return sent

    async def send(self, client: httpx.AsyncClient, sent: Sent) -> None:
        headers = {**self.tokens[sent.sender], "Idempotency-Key": sent.key}
        try:
            answer = await client.post(sent.path, json=sent.body, headers=headers)
        except httpx.HTTPError as exc:  # refused, reset, timed out: sent or not, nobody knows
            sent.outcome, sent.was_unknown = "unknown", sent.was_unknown or type(exc).__name__
            return
        self.serving.set()
        sent.status = answer.status_code
        is_problem = answer.headers.get("content-type", "").startswith("application/problem")
        sent.code = str(answer.json().get("code", "")) if is_problem else ""
        if answer.is_success:
            sent.outcome, sent.answer = "ok", answer.json()
            sent.replayed = answer.headers.get("idempotent-replayed") == "true"
            if sent.kind == "claim":
                self.held.append((sent.member, sent.body["id"]))
        elif answer.status_code >= 500 or sent.code == "idempotency_in_flight":
            sent.outcome = "unknown"
            sent.was_unknown = sent.was_unknown or f"{answer.status_code} {sent.code}"
        else:
            sent.outcome = "failed"

    async def run(self, base: str, rng: random.Random, stop: asyncio.Event) -> None:
        """Send from every client until ``stop`` is set; ``serving`` is set at the first answer."""
        self.serving.clear()

        async def client(seed: int) -> None:
            mine = random.Random(seed)
            async with httpx.AsyncClient(base_url=base, timeout=15) as http:
                while not stop.is_set():
                    await self.send(http, self.next(mine))

        await asyncio.gather(*(client(rng.randrange(2**32)) for _ in range(CLIENTS)))

    async def settle(self, base: str) -> None:
        """Retry every unknown request with its own key until it has a definite answer."""
        async with httpx.AsyncClient(base_url=base, timeout=15) as http:
            for sent in [s for s in self.sent if s.outcome == "unknown"]:
                for _ in range(100):
                    await self.send(http, sent)
                    if sent.outcome != "unknown":
                        break
                    await asyncio.sleep(0.1)
                assert sent.outcome != "unknown", (sent, sent.status, sent.code)


class Server:
    """``linli serve`` on one database, started again after each kill."""

    def __init__(self, url: str, backend: str, logs: Path) -> None:
        self.url, self.backend, self.log = url, backend, logs / "serve.log"
        self.path = str(Path(sa.make_url(url).database or "").resolve())  # SQLite's file
        self.env = {
            **os.environ,
            "LINLI_DATABASE_URL": url,
            "LINLI_SECRET_KEY": "crash-secret-" + "k" * 40,
            "LINLI_SWEEP_SECONDS": "0",
            "LINLI_ACCESS_LOG": "0",
            "LINLI_LOG_LEVEL": "WARNING",
            "LINLI_RATE_LIMIT_PER_MINUTE": "10000000",
            "LINLI_POOL_SIZE": str(CLIENTS + 4),  # no overflow connections come and go
        }
        self.env.pop("LINLI_REDIS_URL", None)
        self.proc: subprocess.Popen[bytes] | None = None
        self.base = ""
        self.starts: list[float] = []  # seconds from exec to ready, each start

    def start(self) -> None:
        began = time.perf_counter()
        port = processes.free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.proc = processes.serve(port, self.env, self.log)
        processes.wait_ready(self.base, self.proc, self.log)
        self.starts.append(time.perf_counter() - began)

    async def kill(self, stop: asyncio.Event | None = None) -> None:
        """SIGKILL the process that holds the database connections (checked first); ``stop``
        is set at that moment (the clients send nothing more to a dead server)."""
        assert self.proc is not None
        pid = self.proc.pid
        assert _children(pid) == [], "linli serve runs uvicorn in-process: no worker children"
        self._holds_the_database(pid)
        os.kill(pid, signal.SIGKILL)
        if stop is not None:
            stop.set()
        assert await asyncio.to_thread(self.proc.wait, 30) == -signal.SIGKILL

    def stop(self) -> None:
        if self.proc is not None:
            processes.stop([self.proc])

    def _holds_the_database(self, pid: int) -> None:
        if self.backend == "sqlite":
            assert self.path in _open_files(pid), f"{pid} does not have {self.path} open"
            return
        name = sa.make_url(self.url).database
        admin = sa.create_engine(support.PG_ADMIN_URL)  # another database: not counted
        try:
            with admin.connect() as conn:
                before = _socket_ports(pid)
                ports = set(
                    conn.execute(
                        sa.text("SELECT client_port FROM pg_stat_activity WHERE datname = :d"),
                        {"d": name},
                    ).scalars()
                )
                theirs = before | _socket_ports(pid)
        finally:
            admin.dispose()
        assert ports, f"no connection to {name}"
        assert ports <= theirs, f"{name} has connections of another process than {pid}"


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _open_files(pid: int) -> set[str]:
    """What the process has open now. A descriptor the server closes between the listing and
    its reading (a request's socket, under load) is skipped: it was open a moment ago, not now."""
    found = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            found.add(str(fd.readlink()))
        except FileNotFoundError:
            continue
    return found


def _socket_ports(pid: int) -> set[int]:
    """The local ports of the process's TCP sockets."""
    inodes = {f[len("socket:[") : -1] for f in _open_files(pid) if f.startswith("socket:[")}
    ports = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            cols = line.split()
            if cols[9] in inodes:
                ports.add(int(cols[1].rsplit(":", 1)[1], 16))
    return ports
