"""Background sweeps (定时任务): escalation deadlines, auto-accept, no-show release, wish expiry,
redemption-order expiry, pending-transfer timeouts, points expiry, timed notices (reminders before
a service, forgotten check-outs, points about to expire: marketplace.notify_due), sealing new
transfers into each community's hash chain, folding the statistics' appended day rows, expired
idempotency keys, uploaded roster files nobody confirmed within a day, and the retention purge
of deleted members' remaining personal fields (``LINLI_RETENTION_DAYS``).

Each sweep runs as a write unit of work of its own and handles each due item in a savepoint with a
conditional update (on PostgreSQL it also skips rows another process holds, ``FOR UPDATE SKIP
LOCKED``), so several service processes sweeping one database handle each item exactly once. A
failing sweep is logged and the others still run. The service runs them every
``LINLI_SWEEP_SECONDS``; ``linli sweep`` runs them once, on demand.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable

import msgspec
from sqlalchemy.engine import Connection

import marketplace as mk
import points
from points import Database, utcnow
from service.idempotency import sweep_keys

log = logging.getLogger("linli.sweeps")


class SweepReport(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    handled: int
    skipped: int = 0
    error: str | None = None


def _escalate(conn: Connection, now: dt.datetime) -> tuple[int, int]:
    r = mk.escalate_due(conn, now=now)
    return len(r.handled), r.skipped


def _auto_accept(conn: Connection, now: dt.datetime) -> tuple[int, int]:
    r = mk.auto_accept_due(conn, now=now)
    return len(r.handled), r.skipped


def _no_shows(conn: Connection, now: dt.datetime) -> tuple[int, int]:
    r = mk.release_no_shows(conn, now=now)
    return len(r.handled), r.skipped


def _expire_wishes(conn: Connection, now: dt.datetime) -> tuple[int, int]:
    r = mk.expire_wishes(conn, now=now)
    return len(r.handled), r.skipped


def _expire_orders(conn: Connection, now: dt.datetime) -> tuple[int, int]:
    return len(points.expire_orders(conn, now=now)), 0


def _timeouts(conn: Connection, now: dt.datetime) -> tuple[int, int]:
    return len(points.void_timed_out(conn, now=now)), 0


def _expire_points(conn: Connection, now: dt.datetime) -> tuple[int, int]:
    return len(points.expire_points(conn, now=now)), 0


SEAL_BATCH = 5_000
"""Transfers sealed per sweep (and per process): 0.3–0.6 s on SQLite, whose one writer waits
meanwhile; 1–4 s on PostgreSQL, where no writer waits. A larger backlog (after the upgrade that
added the chain) takes the next sweeps."""


def _seal_chain(conn: Connection, now: dt.datetime) -> tuple[int, int]:
    return points.seal(conn, limit=SEAL_BATCH, now=now), 0


def _fold_statistics(conn: Connection, now: dt.datetime) -> tuple[int, int]:
    return mk.fold_statistics(conn), 0


def _notices(conn: Connection, now: dt.datetime) -> tuple[int, int]:
    return mk.notify_due(conn, now=now), 0


def _roster_files(conn: Connection, now: dt.datetime) -> tuple[int, int]:
    return mk.uploads.drop_unconfirmed(conn, now=now), 0


def _idempotency_keys(conn: Connection, now: dt.datetime) -> tuple[int, int]:
    return sweep_keys(conn, now=now), 0


def retention(conn: Connection, now: dt.datetime, days: int) -> mk.retention.RetentionReport:
    """保存期限: purge what is left of members deleted ``days`` ago or more, and log the counts."""
    report = mk.retention.purge_due(conn, retention=dt.timedelta(days=days), now=now)
    if report.members:
        log.info(
            "retention purged",
            extra={"fields": {"members": report.members, "rows": report.rows}},
        )
    return report


Sweep = Callable[[Connection, dt.datetime], tuple[int, int]]
SWEEPS: tuple[tuple[str, Sweep], ...] = (
    ("escalate", _escalate),
    ("auto_accept", _auto_accept),
    ("no_shows", _no_shows),
    ("expire_wishes", _expire_wishes),
    ("expire_orders", _expire_orders),
    ("pending_timeouts", _timeouts),
    ("expire_points", _expire_points),
    ("seal_chain", _seal_chain),  # it seals what the sweeps above wrote
    ("notices", _notices),  # reminders, forgotten check-outs, points about to expire
    ("fold_statistics", _fold_statistics),  # the statistics' rows the writes above appended
    ("idempotency_keys", _idempotency_keys),
    ("roster_files", _roster_files),  # uploaded rosters nobody confirmed within a day
)  # fmt: skip


def _retention(days: int) -> Sweep:
    def run(conn: Connection, now: dt.datetime) -> tuple[int, int]:
        return retention(conn, now, days).members, 0

    return run


async def sweep_once(
    db: Database, *, now: dt.datetime | None = None, retention_days: int = 180
) -> list[SweepReport]:
    """Every sweep once; each its own unit of work, so one failure stops only itself."""
    now = now or utcnow()
    reports = []
    for name, run in (*SWEEPS, ("retention", _retention(retention_days))):
        try:
            handled, skipped = await db.awrite(run, now)
            reports.append(SweepReport(name=name, handled=handled, skipped=skipped))
        except Exception as exc:  # a sweep must not stop the others, nor the service
            log.exception("sweep %s failed", name)
            reports.append(SweepReport(name=name, handled=0, error=type(exc).__name__))
    done = {r.name: r.handled for r in reports if r.handled}
    if done:
        log.info("swept", extra={"fields": {"handled": done}})
    return reports


class Sweeper:
    """Runs :func:`sweep_once` every ``interval`` seconds while the service runs."""

    def __init__(
        self,
        db: Database,
        interval: float,
        clock: Callable[[], dt.datetime] = utcnow,
        *,
        retention_days: int = 180,
    ) -> None:
        self.db = db
        self.interval = interval
        self.clock = clock
        self.retention_days = retention_days
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.interval > 0 and self.task is None:
            self.task = asyncio.create_task(self._loop(), name="linli-sweeper")

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            self.task = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await sweep_once(self.db, now=self.clock(), retention_days=self.retention_days)
