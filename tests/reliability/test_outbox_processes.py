"""通知 outbox under real processes (both backends): a dispatcher killed with SIGKILL mid-batch
loses no message and sends each at most once more, under the same delivery id; two dispatchers
running at once send each message once."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from outbox_world import Receiver

import marketplace as mk
import marketplace_world as world
import points
import processes
from marketplace.schema import deliveries
from marketplace_world import T0
from service.dispatcher import PIPELINE

SECRET = "s" * 32
BATCH = 100


def _env(db: points.Database, **more: str) -> dict[str, str]:
    return {
        **os.environ,
        "LINLI_DATABASE_URL": db.writer.url.render_as_string(hide_password=False),
        "LINLI_SECRET_KEY": "k" * 32,
        "LINLI_OUTBOX_BATCH": str(BATCH),
        "LINLI_OUTBOX_SECONDS": "1",
        "LINLI_LOG_LEVEL": "WARNING",
        **more,
    }


def _messages(db: points.Database, url: str, count: int) -> None:
    with db.transaction() as tx:
        world.build(tx)
        mk.add_webhook(tx, "staff", "c1", url, SECRET, now=T0)
        for n in range(count):
            mk.emit(tx, "c1", "reports.ready", {"period": f"p{n}"}, now=T0)


def _states(db: points.Database) -> dict[str, str]:
    with db.snapshot() as tx:
        return dict(tx.execute(sa.select(deliveries.c.id, deliveries.c.state)).all())


@contextmanager
def _running(args: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen([processes.linli(), *args], env=env, stdout=subprocess.DEVNULL)
    try:
        yield proc
    finally:
        processes.stop([proc])


def test_a_dispatcher_killed_mid_batch_loses_nothing_and_resends_at_most_once(
    db: points.Database,
) -> None:
    with Receiver(delay=0.01) as hook:
        _messages(db, hook.url, 4 * BATCH)
        env = _env(db, LINLI_OUTBOX_CONCURRENCY="4", LINLI_OUTBOX_LEASE_SECONDS="2")
        with _running(["outbox", "dispatch"], env) as proc:
            deadline = time.monotonic() + 60
            while len(hook.received) < BATCH + BATCH // 2 and time.monotonic() < deadline:
                time.sleep(0.005)
            proc.kill()  # SIGKILL: no clean-up, its leased batch half sent
            proc.wait(10)
        at_kill = len(hook.received)
        assert BATCH < at_kill < 4 * BATCH, at_kill
        time.sleep(2.2)  # the dead dispatcher's lease ends
        subprocess.run([processes.linli(), "outbox", "dispatch", "--once"], env=env,
                       check=True, timeout=120, stdout=subprocess.DEVNULL)  # fmt: skip
        seen = hook.ids()
    states = _states(db)
    assert len(states) == 4 * BATCH
    assert set(states.values()) == {"sent"}
    assert set(seen) == set(states)  # no message lost
    assert max(seen.values()) <= 2  # each at most once more, under its own delivery id
    assert sum(n - 1 for n in seen.values()) <= PIPELINE * BATCH  # only the batches in flight


def test_two_dispatchers_at_once_send_each_message_once(db: points.Database) -> None:
    # a slow receiver (600 × 50 ms over 4 connections: 7.5 s of sending) keeps the first process
    # busy long enough for the second to start even on a loaded machine, so both take a share
    with Receiver(delay=0.05) as hook:
        _messages(db, hook.url, 6 * BATCH)
        with db.transaction() as tx:  # fanned out first: a process that starts second finds
            mk.fan_out(tx)  # deliveries to share, not an outbox the first is still fanning out
        env = _env(db, LINLI_OUTBOX_CONCURRENCY="4")
        args = [processes.linli(), "outbox", "dispatch", "--once"]
        both = [subprocess.Popen(args, env=env, stdout=subprocess.PIPE) for _ in range(2)]
        try:
            said = [proc.communicate(timeout=120)[0].decode() for proc in both]
        finally:
            processes.stop(both)
        seen = hook.ids()
    states = _states(db)
    assert len(states) == 6 * BATCH
    assert set(states.values()) == {"sent"}
    assert set(seen) == set(states)
    assert set(seen.values()) == {1}
    assert all("\tsent=0\t" not in line for line in said), said  # both took a share
