"""Library benchmarks, in process: ledger postings and batch accrual through ``points``, against
the raw driver (sqlite3, asyncpg) writing the same rows into the same schema.

- postings: one transfer per unit of work (pool → a member wallet: the transfer, two account
  counters, two entries, one lot), from 16 concurrent asyncio clients, each awaiting
  ``db.awrite(unit)`` in turn: the service's concurrent path. On SQLite the writer thread commits
  the units queued meanwhile in groups (one fsync a group); on PostgreSQL each unit is a
  transaction of its own on the database's thread and connection pool. The ceiling runs the same
  statements with the raw driver, one commit a posting (one connection on SQLite, 16 on
  PostgreSQL).
- batch accrual: a month of service records (e.g. 100,000) for 1,000 members. The library runs
  ``points.accrue_many``, ``ACCRUAL_CHUNK`` records per unit of work (``db.awrite``, one
  transaction each); the ceiling computes the same accruals with the pure
  ``points.compute_accrual`` and writes the transfers, entries, lots and account counters with
  ``executemany`` in one transaction.

Both leave a ledger ``points.audit`` finds nothing wrong with (checked after the group)."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import sqlite3
import time
import uuid
from collections.abc import Callable
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

import points
from bench import machine
from bench.options import Options
from bench.results import Row, median
from points import AccountKind, Activity, Database, TransferKind

CLIENTS = 16
MEMBERS = 1_000
ACCRUAL_CHUNK = 5_000  # records per transaction of the library's batch accrual
"""Each transaction reads what its wallets earned so far in the month (the caps): with 500 per
transaction, 200 transactions re-read the month's growing history (SQLite: 3,650 records/s on an
empty month, 1,180 on the third round into the same month); with 5,000, 20 of them (≈ 5,000
records/s, each transaction holding SQLite's write lock ≈ 1 s)."""
SQLITE_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"


def _asyncpg_dsn(url: str) -> str:
    return sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _sqlite_path(url: str) -> str:
    database = sa.make_url(url).database
    assert database
    return database


def _open_wallets(conn: Connection) -> None:
    for community in ("lib", "raw"):
        points.open_community(conn, community)
        for k in range(MEMBERS):
            points.open_account(conn, community, AccountKind.MEMBER, f"{community}-a{k}")


async def prepare(db: Database) -> None:
    """Member wallets in ``lib`` (library) and ``raw`` (ceilings), opened by the library."""
    await db.awrite(_open_wallets)


# --- postings -------------------------------------------------------------------------------


def _posting(conn: Connection, k: int) -> None:
    """One unit of work: one transfer from the pool to a member wallet."""
    points.transfer(
        conn,
        community_id="lib",
        debit_account_id="pool:lib",
        credit_account_id=f"member:lib-a{k % MEMBERS}",
        amount=1,
        kind=TransferKind.ADJUSTMENT,
        memo="bench",
    )


async def _library_postings(db: Database, seconds: float) -> float:
    """``CLIENTS`` asyncio clients, each awaiting one ``db.awrite`` unit (one posting) at a time:
    the service's concurrent path (SQLite: the writer thread commits the queued units in groups;
    PostgreSQL: a transaction each, on the database's thread and connection pool)."""
    done = 0
    stop = time.monotonic() + seconds

    async def client(c: int) -> None:
        nonlocal done
        k = c
        while time.monotonic() < stop:
            await db.awrite(_posting, k)
            done += 1
            k += CLIENTS

    start = time.monotonic()
    await asyncio.gather(*(client(c) for c in range(CLIENTS)))
    return done / (time.monotonic() - start)


_AFTER = (
    " RETURNING version, credits_posted - debits_posted,"
    " credits_posted - debits_posted - debits_pending"
)
_POSTING = (
    "INSERT INTO points_transfers (community_id, id, debit_account_id, credit_account_id, amount,"
    " kind, phase, memo, actor, created_at) VALUES ({}, {}, {}, {}, 1, 'adjustment', 'posted',"
    " 'bench', '', {})",
    "UPDATE points_accounts SET debits_posted = debits_posted + 1, version = version + 1"
    " WHERE community_id = {} AND id = {}" + _AFTER,
    "UPDATE points_accounts SET credits_posted = credits_posted + 1, version = version + 1"
    " WHERE community_id = {} AND id = {}" + _AFTER,
    "INSERT INTO points_entries (community_id, account_id, seq, transfer_id, side, balance_after,"
    " available_after) VALUES ({}, {}, {}, {}, {}, {}, {})",
    "INSERT INTO points_lots (community_id, id, account_id, amount, remaining, expires_at,"
    " expiry_count, created_at) VALUES ({}, {}, {}, 1, 1, NULL, 0, {})",
)


def _sql(dialect: str, statement: str) -> str:
    n = statement.count("{}")
    marks = ["?"] * n if dialect == "sqlite" else [f"${i + 1}" for i in range(n)]
    return statement.format(*marks)


def _sqlite_postings(path: str, seconds: float) -> float:
    """The same rows as a library posting, with sqlite3 (WAL, synchronous=FULL)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=60000")
    ins, debit, credit, entry, lot = (_sql("sqlite", s) for s in _POSTING)
    done, k = 0, 0
    start = time.monotonic()
    stop = start + seconds
    while time.monotonic() < stop:
        tid = uuid.uuid4().hex
        now = dt.datetime.now(dt.UTC).strftime(SQLITE_TIME)
        member = f"member:raw-a{k % MEMBERS}"
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(ins, ("raw", tid, "pool:raw", member, now))
        d = conn.execute(debit, ("raw", "pool:raw")).fetchone()
        c = conn.execute(credit, ("raw", member)).fetchone()
        conn.executemany(
            entry,
            [("raw", "pool:raw", d[0], tid, "debit", d[1], d[2]),
             ("raw", member, c[0], tid, "credit", c[1], c[2])],
        )  # fmt: skip
        conn.execute(lot, ("raw", tid, member, now))
        conn.execute("COMMIT")
        done += 1
        k += 1
    conn.close()
    return done / (time.monotonic() - start)


async def _asyncpg_postings(url: str, seconds: float) -> float:
    import asyncpg

    ins, debit, credit, entry, lot = (_sql("postgresql", s) for s in _POSTING)
    pool = await asyncpg.create_pool(_asyncpg_dsn(url), min_size=CLIENTS, max_size=CLIENTS)
    done = 0
    stop = time.monotonic() + seconds

    async def client(c: int) -> None:
        nonlocal done
        k = c
        async with pool.acquire() as conn:
            while time.monotonic() < stop:
                tid = uuid.uuid4().hex
                now = dt.datetime.now(dt.UTC)
                member = f"member:raw-a{k % MEMBERS}"
                async with conn.transaction():
                    await conn.execute(ins, "raw", tid, "pool:raw", member, now)
                    # the same row order as the library (by id), so clients cannot deadlock
                    first, second = sorted(
                        [("pool:raw", debit, "debit"), (member, credit, "credit")]
                    )
                    got = {}
                    for acct, statement, side in (first, second):
                        got[side] = (acct, await conn.fetchrow(statement, "raw", acct))
                    await conn.executemany(
                        entry,
                        [("raw", a, r[0], tid, side, r[1], r[2]) for side, (a, r) in got.items()],
                    )
                    await conn.execute(lot, "raw", tid, member, now)
                done += 1
                k += CLIENTS

    start = time.monotonic()
    try:
        await asyncio.gather(*(client(c) for c in range(CLIENTS)))
    finally:
        await pool.close()
    return done / (time.monotonic() - start)


# --- batch accrual --------------------------------------------------------------------------


class Record(msgspec.Struct, frozen=True):
    member: int
    minutes: int
    category: str
    started_at: dt.datetime


def records(seed: int, n: int, month: dt.datetime) -> list[Record]:
    rng = random.Random(seed)
    cats = ("助老陪护", "代办跑腿", "托幼辅导", "家电维修", "文体活动")
    return [
        Record(
            rng.randrange(MEMBERS),
            rng.choice((30, 60, 90, 120, 180, 240)),
            rng.choice(cats),
            month + dt.timedelta(minutes=rng.randrange(60 * 24 * 28)),
        )
        for _ in range(n)
    ]


async def _library_accrual(db: Database, batch: list[Record], tag: str) -> float:
    start = time.monotonic()
    for first in range(0, len(batch), ACCRUAL_CHUNK):
        chunk = batch[first : first + ACCRUAL_CHUNK]
        await db.awrite(
            points.accrue_many,
            community_id="lib",
            records=[
                points.AccrualRecord(
                    member_id=f"lib-a{r.member}",
                    activity=Activity(
                        minutes=r.minutes, category=r.category, started_at=r.started_at
                    ),
                    reference=f"rec:{tag}:{i}",
                )
                for i, r in enumerate(chunk, start=first)
            ],
        )
    return len(batch) / (time.monotonic() - start)


def _accrual_rows(batch: list[Record], tag: str, now: dt.datetime) -> dict[str, Any]:
    """The rows ``points.accrue`` would write for each record (default policy, no caps)."""
    policy = points.AccrualPolicy()
    china = dt.timezone(dt.timedelta(hours=8))
    expires = now + dt.timedelta(days=policy.expiry_days or 0)
    transfers, lots = [], []
    for i, r in enumerate(batch):
        local = r.started_at.astimezone(china)
        activity = Activity(minutes=r.minutes, category=r.category, started_at=local)
        accrual = points.compute_accrual(policy, activity)
        if accrual.points == 0:
            continue
        tid = uuid.uuid4().hex
        detail = msgspec.json.encode(
            {"policy_version": 0, "activity": activity, "accrual": accrual}
        ).decode()
        member = f"member:raw-a{r.member}"
        transfers.append(
            (tid, member, accrual.points, local.date().isoformat(), f"rec:{tag}:{i}", detail)
        )
        lots.append((tid, member, accrual.points))
    return {"transfers": transfers, "lots": lots, "expires": expires, "now": now}


def _entries(
    transfers: list[tuple[Any, ...]], state: dict[str, list[int]]
) -> tuple[list[tuple[Any, ...]], dict[str, list[int]]]:
    """Entries with each account's next sequence number and running balances; ``state``:
    account → [version, posted balance, available], updated in place."""
    rows = []
    for tid, member, amount, *_ in transfers:
        for acct, side, delta in (("pool:raw", "debit", -amount), (member, "credit", amount)):
            v = state[acct]
            v[0] += 1
            v[1] += delta
            v[2] += delta
            rows.append(("raw", acct, v[0], tid, side, v[1], v[2]))
    return rows, state


_ACCOUNTS = (
    "SELECT id, version, credits_posted - debits_posted,"
    " credits_posted - debits_posted - debits_pending FROM points_accounts WHERE community_id = {}"
)
_TRANSFER = (
    "INSERT INTO points_transfers (community_id, id, debit_account_id, credit_account_id, amount,"
    " kind, phase, expires_at, value_date, reference, memo, actor, detail, created_at)"
    " VALUES ('raw', {}, 'pool:raw', {}, {}, 'accrual', 'posted', {}, {}, {}, '', '', {}, {})"
)
_ENTRY = (
    "INSERT INTO points_entries (community_id, account_id, seq, transfer_id, side, balance_after,"
    " available_after) VALUES ({}, {}, {}, {}, {}, {}, {})"
)
_LOT = (
    "INSERT INTO points_lots (community_id, id, account_id, amount, remaining, expires_at,"
    " expiry_count, created_at) VALUES ('raw', {}, {}, {}, {}, {}, 0, {})"
)
_COUNTERS = (
    "UPDATE points_accounts SET debits_posted = debits_posted + {}, credits_posted ="
    " credits_posted + {}, version = version + {} WHERE community_id = 'raw' AND id = {}"
)


def _counters(transfers: list[tuple[Any, ...]]) -> list[tuple[int, int, int, str]]:
    moved: dict[str, list[int]] = {}
    for _, member, amount, *_ in transfers:
        for acct, debit, credit in (("pool:raw", amount, 0), (member, 0, amount)):
            m = moved.setdefault(acct, [0, 0, 0])
            m[0] += debit
            m[1] += credit
            m[2] += 1
    return [(d, c, n, acct) for acct, (d, c, n) in sorted(moved.items())]


def _sqlite_accrual(path: str, batch: list[Record], tag: str) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON", "busy_timeout=60000"):
        conn.execute(f"PRAGMA {pragma}")
    start = time.monotonic()
    now = dt.datetime.now(dt.UTC)
    made = _accrual_rows(batch, tag, now)
    ts, exp = now.strftime(SQLITE_TIME), made["expires"].strftime(SQLITE_TIME)
    conn.execute("BEGIN IMMEDIATE")
    state = {r[0]: [r[1], r[2], r[3]] for r in conn.execute(_sql("sqlite", _ACCOUNTS), ("raw",))}
    entries, _ = _entries(made["transfers"], state)
    conn.executemany(
        _sql("sqlite", _TRANSFER),
        [(t, m, a, exp, d, ref, det, ts) for t, m, a, d, ref, det in made["transfers"]],
    )
    conn.executemany(_sql("sqlite", _ENTRY), entries)
    conn.executemany(_sql("sqlite", _LOT), [(t, m, a, a, exp, ts) for t, m, a in made["lots"]])
    conn.executemany(_sql("sqlite", _COUNTERS), _counters(made["transfers"]))
    conn.execute("COMMIT")
    elapsed = time.monotonic() - start
    conn.close()
    return len(batch) / elapsed


async def _asyncpg_accrual(url: str, batch: list[Record], tag: str) -> float:
    import asyncpg

    conn = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        start = time.monotonic()
        now = dt.datetime.now(dt.UTC)
        made = _accrual_rows(batch, tag, now)
        exp = made["expires"]
        async with conn.transaction():
            rows = await conn.fetch(_sql("pg", _ACCOUNTS) + " FOR UPDATE", "raw")
            state = {r[0]: [r[1], r[2], r[3]] for r in rows}
            entries, _ = _entries(made["transfers"], state)
            await conn.executemany(
                _sql("pg", _TRANSFER),
                [(t, m, a, exp, d, ref, det, now) for t, m, a, d, ref, det in made["transfers"]],
            )
            await conn.executemany(_sql("pg", _ENTRY), entries)
            await conn.executemany(
                _sql("pg", _LOT), [(t, m, a, a, exp, now) for t, m, a in made["lots"]]
            )
            await conn.executemany(_sql("pg", _COUNTERS), _counters(made["transfers"]))
        return len(batch) / (time.monotonic() - start)
    finally:
        await conn.close()


# --- the group ------------------------------------------------------------------------------


async def run(opts: Options, db: Database, backend: str, say: Callable[[str], None]) -> list[Row]:
    label = "SQLite" if backend == "sqlite" else "PostgreSQL"
    await prepare(db)
    url = db.url

    async def ceiling_postings(seconds: float) -> float:
        if backend == "sqlite":
            return await asyncio.to_thread(_sqlite_postings, _sqlite_path(url), seconds)
        return await _asyncpg_postings(url, seconds)

    lib, raw = [], []
    await _library_postings(db, 1)
    await ceiling_postings(1)
    for r in range(opts.rounds):
        steps = ("raw", "lib") if r % 2 == 0 else ("lib", "raw")
        for step in steps:
            if step == "raw":
                raw.append(await ceiling_postings(opts.seconds))
            else:
                lib.append(await _library_postings(db, opts.seconds))
        say(f"  round {r + 1}/{opts.rounds} postings: library {lib[-1]:8.1f}/s  "
            f"raw {raw[-1]:8.1f}/s  load {machine.load()}")  # fmt: skip
    rows = [
        Row(group="library", name=f"ledger postings, {CLIENTS} clients ({label})",
            unit="postings/s",
            ceiling_name="raw sqlite3" if backend == "sqlite" else "raw asyncpg",
            ceiling=median(raw), product=median(lib), rounds=opts.rounds, load=machine.load(),
            note=f"{CLIENTS} concurrent asyncio clients, each awaiting one db.awrite unit (one "
            "points.transfer) at a time: "
            + ("SQLite's writer thread commits the queued units in groups (one fsync a group); "
               "the ceiling commits each posting on one sqlite3 connection"
               if backend == "sqlite" else
               "each unit a transaction of its own on the database's thread and connection "
               f"pool; the ceiling: {CLIENTS} asyncpg connections"))
    ]  # fmt: skip
    lib, raw = [], []
    for r in range(opts.rounds):
        # Each round a month of its own: one month's records are accrued once, as in use.
        month = dt.datetime(2025, 1 + r % 12, 1, tzinfo=dt.timezone(dt.timedelta(hours=8)))
        steps = ("raw", "lib") if r % 2 == 0 else ("lib", "raw")
        for step in steps:
            tag = f"{uuid.uuid4().hex[:8]}"
            if step == "raw":
                batch = records(opts.seed + r, opts.accrual_records, month)
                if backend == "sqlite":
                    rate = await asyncio.to_thread(_sqlite_accrual, _sqlite_path(url), batch, tag)
                else:
                    rate = await _asyncpg_accrual(url, batch, tag)
                raw.append(rate)
            else:
                batch = records(opts.seed + r, opts.accrual_records, month)
                lib.append(await _library_accrual(db, batch, tag))
        say(f"  round {r + 1}/{opts.rounds} accrual: library {lib[-1]:8.1f} records/s  raw "
            f"{raw[-1]:8.1f} records/s  load {machine.load()}")  # fmt: skip
    row = Row(
        group="library",
        name=f"batch accrual, {opts.accrual_records:,} records of a month ({label})",
        unit="records/s",
        ceiling_name="raw executemany",
        ceiling=median(raw),
        product=median(lib),
        rounds=opts.rounds,
        load=machine.load(),
        target=">= 50 %",
        note=f"points.accrue_many, {ACCRUAL_CHUNK:,} records per db.awrite unit (a transaction "
        "each); the ceiling's "
        "executemany in one transaction",
    )
    row.met = row.ratio is not None and row.ratio >= 0.5
    rows.append(row)
    return rows


async def raw_writes(url: str, clients: int, seconds: float) -> float:
    """The scale-out ceiling: committed one-row writes of a transfer row with asyncpg."""
    import asyncpg

    # A table shaped like points_transfers (columns, keys, indexes; no foreign keys), so the
    # ledger itself stays balanced for the audit that follows the benchmarks.
    sql = _sql("pg", _POSTING[0]).replace("points_transfers", "bench_raw_transfers")
    setup = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        await setup.execute(
            "CREATE TABLE IF NOT EXISTS bench_raw_transfers (LIKE points_transfers INCLUDING ALL)"
        )
    finally:
        await setup.close()
    pool = await asyncpg.create_pool(_asyncpg_dsn(url), min_size=clients, max_size=clients)
    done = 0
    stop = time.monotonic() + seconds

    async def client(c: int) -> None:
        nonlocal done
        async with pool.acquire() as conn:
            while time.monotonic() < stop:
                now = dt.datetime.now(dt.UTC)
                async with conn.transaction():
                    await conn.execute(sql, "raw", uuid.uuid4().hex, "pool:raw", "store:raw", now)
                done += 1

    start = time.monotonic()
    try:
        await asyncio.gather(*(client(c) for c in range(clients)))
    finally:
        await pool.close()
    return done / (time.monotonic() - start)
