"""通知 dispatcher: carries the outbox's messages to webhooks and SMS, inside ``linli serve`` (every
``LINLI_OUTBOX_SECONDS``) or as ``linli outbox dispatch [--once]``.

One round (:func:`dispatch_once`) fans new outbox rows out into deliveries, then, while due
deliveries remain: leases a batch (committed before anything is sent), sends it with at most
``LINLI_OUTBOX_CONCURRENCY`` requests in flight, and records the outcomes (two batches at once,
so one's database work overlaps the other's sending) (sent; again after a
backoff; dead after ``LINLI_OUTBOX_ATTEMPTS``). Each step is a unit of work of its own, safe with
several processes (see :mod:`marketplace.deliveries`): a message is sent once, and a dispatcher
killed mid-batch leaves its batch to be sent once more, under the same delivery ids, when the
lease ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable

import msgspec

import marketplace as mk
from points import Database, utcnow
from service import channels
from service.postman import Postman
from service.settings import Settings

log = logging.getLogger("linli.outbox")
FAN_OUT = 1000
PIPELINE = 2
"""Batches a dispatcher has in flight at once (so the database's share overlaps the sending)."""


class Round(msgspec.Struct, kw_only=True):
    fanned: int = 0
    sent: int = 0
    failed: int = 0
    dead: int = 0


def client_for(settings: Settings) -> Postman:
    """The HTTP client of one dispatcher (keep-alive connections, the timeout per request)."""
    return Postman(timeout=settings.outbox_timeout_seconds, per_origin=settings.outbox_concurrency)


async def _send(
    client: Postman, settings: Settings, d: mk.Delivery, gate: asyncio.Semaphore
) -> mk.Outcome:
    async with gate:
        if d.channel == "sms":
            error = await channels.send_sms(client, settings, d)
        else:
            error = await channels.send_webhook(client, d)
    return mk.Outcome(community_id=d.community_id, id=d.id, attempts=d.attempts, error=error)


async def dispatch_once(
    db: Database,
    settings: Settings,
    client: Postman,
    *,
    clock: Callable[[], dt.datetime] = utcnow,
    rounds: int = 1000,
) -> Round:
    """Fan out what is new, then send what is due until nothing due is left (at most
    ``rounds`` batches)."""
    done = Round()
    sms_types = frozenset(settings.sms_templates) if settings.sms_url else frozenset()
    while True:
        fanned = await db.awrite(mk.fan_out, now=clock(), sms_types=sms_types, limit=FAN_OUT)
        done.fanned += fanned
        if fanned < FAN_OUT:
            break
    lease = dt.timedelta(seconds=settings.outbox_lease_seconds)
    gate = asyncio.Semaphore(settings.outbox_concurrency)

    async def worker() -> None:
        for _ in range(rounds):
            now = clock()
            batch = await db.awrite(mk.claim_due, now=now, lease=lease, limit=settings.outbox_batch)
            if not batch:
                return
            outcomes = await asyncio.gather(*(_send(client, settings, d, gate) for d in batch))
            dead = await db.awrite(
                mk.settle,
                outcomes,
                now=clock(),
                max_attempts=settings.outbox_attempts,
                base_seconds=settings.outbox_backoff_seconds,
            )
            failed = sum(1 for o in outcomes if o.error is not None)
            done.sent += len(outcomes) - failed
            done.failed += failed
            done.dead += dead
            if len(batch) < settings.outbox_batch:
                return

    # Two batches in flight: one is claimed or settled while the other is being sent.
    await asyncio.gather(*(worker() for _ in range(PIPELINE)))
    return done


class Dispatcher:
    """Runs :func:`dispatch_once` every ``settings.outbox_seconds`` while the service runs."""

    def __init__(
        self, db: Database, settings: Settings, clock: Callable[[], dt.datetime] = utcnow
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.settings.outbox_seconds > 0 and self.task is None:
            self.task = asyncio.create_task(self._loop(), name="linli-outbox")

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            self.task = None

    async def _loop(self) -> None:
        async with client_for(self.settings) as client:
            while True:
                try:
                    done = await dispatch_once(self.db, self.settings, client, clock=self.clock)
                    if done.sent or done.failed:
                        log.info("dispatched", extra={"fields": msgspec.to_builtins(done)})
                except Exception:  # the loop must outlive a bad round (a database restart)
                    log.exception("outbox dispatch failed")
                await asyncio.sleep(self.settings.outbox_seconds)
