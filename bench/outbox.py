"""通知 outbox, end to end: 10,000 messages written to the outbox, then fanned out and delivered
by the dispatcher (``service.dispatcher.dispatch_once``, as ``linli outbox dispatch --once``
runs it) to a webhook receiver on loopback in a process of its own (tests/outbox_world.py);
the time from the first fan-out to the last delivery recorded as sent. A database of its own
(it needs none of the data set)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

import marketplace as mk
from bench import machine
from bench.options import Options
from bench.results import Row
from marketplace.schema import deliveries
from service.database import open_database
from service.dispatcher import client_for, dispatch_once
from service.settings import Settings

MESSAGES = 10_000
RECEIVER = Path(__file__).resolve().parents[1] / "tests" / "outbox_world.py"


def _stage(db: object, url: str) -> None:
    assert hasattr(db, "transaction")
    with db.transaction() as tx:
        mk.create_org(tx, mk.SYSTEM, id="obx", kind=mk.OrgKind.COMMUNITY, name="通知社区")
        mk.add_webhook(tx, mk.SYSTEM, "obx", url, "bench-secret-" + "x" * 20)
        for n in range(MESSAGES):
            mk.emit(tx, "obx", "reports.ready", {"period": f"p{n}"})


def run(opts: Options, url: str, backend: str, say: Callable[[str], None]) -> list[Row]:
    label = "SQLite" if backend == "sqlite" else "PostgreSQL"
    receiver = subprocess.Popen([sys.executable, str(RECEIVER)], stdout=subprocess.PIPE, text=True)
    try:
        assert receiver.stdout is not None
        port = int(receiver.stdout.readline())
        settings = Settings(database_url=url, secret_key="x", outbox_batch=1000,
                            outbox_concurrency=64)  # fmt: skip
        db = open_database(settings)
        try:
            db.upgrade()
            _stage(db, f"http://127.0.0.1:{port}/hook")

            async def deliver() -> float:
                async with client_for(settings) as client:
                    start = time.perf_counter()
                    await dispatch_once(db, settings, client)
                    return time.perf_counter() - start

            seconds = asyncio.run(deliver())
            with db.snapshot() as tx:
                sent = tx.scalar(sa.select(sa.func.count()).where(deliveries.c.state == "sent"))
        finally:
            db.dispose()
    finally:
        receiver.send_signal(2)  # SIGINT: it prints what it received
        received = int((receiver.communicate(timeout=30)[0] or "0").split()[-1])
    note = f"{sent:,} sent, {received:,} received; batches of 1,000, 64 in flight"
    say(f"  outbox: {MESSAGES:,} webhooks in {seconds:.2f} s ({note})  load {machine.load()}")
    assert sent == MESSAGES
    return [
        Row(group="outbox", name=f"{MESSAGES:,} outbox messages to a local webhook ({label})",
            unit="s", product=seconds, rounds=1, load=machine.load(), target="< 10 s",
            met=seconds < 10, note=note)
    ]  # fmt: skip
