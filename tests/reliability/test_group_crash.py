"""kill -9 while groups are being committed (SQLite's writer thread, DESIGN.md invariant 8).

A process of its own runs the library with 64 asyncio clients, each sending units of work through
``Database.awrite`` as fast as they are answered; each unit is two transfers (to two wallets)
and the process prints a unit's id once its caller has the answer. The writer takes every queued
unit into one group, so most of the time a group of dozens of units is being written or
fsynced. At a random moment the process gets SIGKILL. Then, on the same file: every unit whose
answer was printed has both its transfers; no unit has only one (a group commits whole or not at
all, a unit inside it whole or not at all); the ledger audit is clean. Units that committed but
whose answer was not printed yet may be there: the caller did not hear back. To make the kill
land on a group in flight, the process pauses 20 ms before each group's COMMIT, with the whole
group written: most kills then find a group written and not committed.

CI runs 3 rounds; ``LINLI_SOAK=1`` (``make soak``) 20, with a fresh seed.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import points
import support
from points import AccountKind

SOAK = os.environ.get("LINLI_SOAK") == "1"
ROUNDS = 20 if SOAK else 3
SEED = int(os.environ.get("LINLI_CRASH_SEED") or (time.time_ns() % 10**6 if SOAK else 20261207))
C = "c-crash"
WALLETS = 32
pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="SIGKILL")

WRITER = """
import asyncio, sys, time
import sqlalchemy as sa
import points
from points import AccountKind, TransferKind

C = "c-crash"
db = points.Database(sys.argv[1])
# Each group waits 20 ms with all its units written, just before its COMMIT: most kills land
# there, on a group written and not committed (none of its units may be kept).
sa.event.listen(db.writer, "commit", lambda conn: time.sleep(0.02))
pool = points.account_id(AccountKind.POOL, C)

def pair(conn, unit, a, b):
    sys.stdout.write("ran " + unit + "\\n")  # inside its group, on the writer thread
    for side, wallet in (("a", a), ("b", b)):
        points.transfer(conn, community_id=C, debit_account_id=pool,
                        credit_account_id=points.account_id(AccountKind.MEMBER, wallet),
                        amount=1, kind=TransferKind.ACCRUAL, id=f"{unit}-{side}")

async def client(i):
    n = 0
    while True:
        unit = f"u{i}x{n}"
        await db.awrite(pair, unit, f"w{i % 32}", f"w{(i + 7) % 32}")
        sys.stdout.write(unit + "\\n")
        sys.stdout.flush()
        n += 1

async def main():
    await asyncio.gather(*(client(i) for i in range(64)))

asyncio.run(main())
"""


def _round(path: Path, rng: random.Random) -> dict[str, int]:
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, f"sqlite:///{path}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    acknowledged: list[str] = []
    started = threading.Event()

    def read() -> None:  # every answer printed before the kill reaches the pipe
        assert proc.stdout is not None
        for line in proc.stdout:
            acknowledged.append(line.strip())
            started.set()

    reader = threading.Thread(target=read)
    reader.start()
    if not started.wait(60):
        proc.kill()
        raise AssertionError(proc.stderr.read() if proc.stderr else "the writer did not start")
    time.sleep(rng.uniform(0.2, 1.5))
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    reader.join(timeout=30)
    ran = {a.removeprefix("ran ") for a in acknowledged if a.startswith("ran ")}
    acknowledged = [a for a in acknowledged if a and not a.startswith("ran ")]

    db = points.Database(f"sqlite:///{path}")
    try:
        with db.snapshot() as tx:
            ids = {r[0] for r in tx.exec_driver_sql("SELECT id FROM points_transfers")}
            problems = points.audit(tx)
    finally:
        db.dispose()
    units = {i.rsplit("-", 1)[0] for i in ids if i.startswith("u")}
    half = [u for u in units if f"{u}-a" not in ids or f"{u}-b" not in ids]
    lost = [u for u in acknowledged if f"{u}-a" not in ids or f"{u}-b" not in ids]
    assert problems == [], problems[:5]
    return {
        "acknowledged": len(acknowledged),
        "committed": len(units),
        "unanswered": len(units - set(acknowledged)),
        "in_flight": len(ran - units),  # ran in a group the kill stopped before its commit
        "lost": len(lost),
        "half": len(half),
    }


def test_a_kill_during_group_commits_loses_no_acknowledged_unit_and_splits_none(
    tmp_path: Path,
) -> None:
    rng = random.Random(SEED)
    template = Path(support.fresh_url("sqlite").removeprefix("sqlite:///"))
    db = points.Database(f"sqlite:///{template}")
    with db.transaction() as tx:
        points.open_community(tx, C)
        for n in range(WALLETS):
            points.open_account(tx, C, AccountKind.MEMBER, f"w{n}")
    db.dispose()
    totals: dict[str, int] = {}
    for n in range(ROUNDS):
        path = tmp_path / f"round-{n}.db"
        support.copy_sqlite(template, path)
        figures = _round(path, rng)
        for key, value in figures.items():
            totals[key] = totals.get(key, 0) + value
        assert (figures["lost"], figures["half"]) == (0, 0), figures
    print(
        f"\n[group-crash] rounds={ROUNDS} seed={SEED} "
        + " ".join(f"{k}={v}" for k, v in totals.items())
        + " audit=0"
    )
