"""Upgrades (issue 7): a database made at any earlier schema revision upgrades to the heads with
every balance unchanged, the audit empty and every other row intact.

The revisions come from Alembic's script directory, so a new migration is tested the moment it
exists. For each revision R of any branch, a database is migrated to R (with what R depends on:
the ledger alone at 0001, ledger and marketplace at m0001, …) and filled with SQL valid at R: the
rows of a realistic history that the libraries wrote at the heads (``history`` below), copied
into the tables and columns that exist at R through reflected tables — what the code of R kept,
stored as it stored it. Then every account's counters and every row are recorded, the database
is upgraded to the heads, and they are compared; the audit must be empty, and the libraries must
go on writing to the upgraded database.

A migration that rewrites stored values on purpose names them in ``REWRITTEN``.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

import marketplace as mk
import marketplace_world as world
import points
import service_world as sw
import support
from marketplace import rollups
from marketplace_world import T0, VOLUNTEERS
from points import Database
from points.database import alembic_config
from service import auth
from service.app import create_app
from service.database import MIGRATIONS
from service.pages.common import set_elder_mode
from service.sweeper import sweep_once

REWRITTEN: dict[tuple[str, str], str] = {}
"""(table, column) → why a migration changes the stored values of that column."""
HOUR = dt.timedelta(hours=1)
COUNTERS = ("debits_pending", "debits_posted", "credits_pending", "credits_posted", "version")
Rows = dict[str, tuple[list[str], list[tuple[Any, ...]]]]


def earlier_states() -> list[tuple[str, frozenset[str]]]:
    """Each revision, with every revision a database upgraded to it holds, bar the heads'."""
    script = ScriptDirectory.from_config(alembic_config(None, (mk.MIGRATIONS, MIGRATIONS)))
    everything = frozenset(r.revision for r in script.walk_revisions())
    states = []
    for revision in sorted(everything):
        held = frozenset(r.revision for r in script.iterate_revisions(revision, "base"))
        if held != everything:
            states.append((revision, held))
    return states


async def test_every_earlier_revision_upgrades_to_the_heads_keeping_balances_and_rows(
    backend_ready: str, tmp_path: Path
) -> None:
    states = earlier_states()
    assert {"0001", "m0001"} <= {r for r, _ in states}  # the ledger alone, then with the board
    started = time.perf_counter()
    source = support.open_database(backend_ready, service=True)
    try:
        await history(source)
        with source.snapshot() as tx:
            assert points.audit(tx) == []
        with source.writer.connect() as conn:
            made = _rows(conn)
        made_seconds = time.perf_counter() - started
        figures = []
        targets = _empty_databases(backend_ready, len(states), tmp_path)
        for (revision, held), target in _paired(states, targets):
            figures.append(await _upgrade_from(revision, held, source, target))
    finally:
        source.dispose()
    rows = sum(len(r) for _, r in made.values())
    empty = sorted(name for name, (_, r) in made.items() if not r)
    print(
        f"[upgrades] backend={backend_ready} revisions={len(figures)} "
        f"({', '.join(figures)}) history_rows={rows} tables={len(made)} "
        f"empty={','.join(empty) or '-'} history_seconds={made_seconds:.1f} "
        f"total_seconds={time.perf_counter() - started:.1f} balances_changed=0 audit=0"
    )


async def _upgrade_from(
    revision: str, held: frozenset[str], source: Database, target: Database
) -> str:
    target.upgrade(revision)
    assert set((target.revision() or "").split(",")) <= held
    with target.writer.connect() as conn:
        copied = _copy(source, conn)
        conn.commit()
        before = _rows(conn)
    balances = _balances(*before["points_accounts"])
    assert balances, f"{revision}: no accounts"
    target.upgrade("heads")
    with target.writer.connect() as conn:
        after = _rows(conn, {name: names for name, (names, _) in before.items()})
    with target.snapshot() as tx:
        problems = points.audit(tx)
        kept, recomputed = rollups.stored(tx), rollups.rebuild(tx)
    assert kept == recomputed, f"{revision}: the statistics' rollups are not backfilled"
    assert _balances(*after["points_accounts"]) == balances, f"{revision}: balances changed"
    assert problems == [], f"upgrading from {revision}: {problems}"
    for table, (_, rows) in before.items():
        assert _sorted(after[table][1]) == _sorted(rows), f"upgrading from {revision}: {table}"
    await _still_writable(target, revision)
    return f"{revision}:{len(before)}tables/{copied}rows"


async def _still_writable(db: Database, revision: str) -> None:
    """The ledger works on the upgraded copy: points in, an order out, the sweeps run, and the
    audit is still empty."""
    with db.transaction() as tx:
        points.adjust(
            tx, community_id="c1", member_id="vol5", change=30, reason="升级后补录", actor="staff"
        )
        item = points.add_item(tx, community_id="c1", name="毛巾", cost=10, stock=3)
        points.redeem(tx, community_id="c1", member_id="vol5", item_id=item.id)
    reports = await sweep_once(db)  # the sweeps (sealing the chain over old and new transfers)
    assert [r.error for r in reports if r.error] == [], f"sweeping after {revision}"
    with db.snapshot() as tx:
        assert points.audit(tx) == [], f"writing after upgrading from {revision}"


# Copying rows into the tables of an earlier revision


def _copy(source: Database, target: Connection) -> int:
    """The source's rows, in the target's tables and columns (FK order), raw as stored."""
    theirs = _reflect(target)
    with source.writer.connect() as conn:
        ours = _reflect(conn)
        copied = 0
        for table in theirs.sorted_tables:
            if table.name == "alembic_version" or table.name not in ours.tables:
                continue
            mine = ours.tables[table.name]
            shared = [c.name for c in table.columns if c.name in mine.columns]
            missing = [
                c.name
                for c in table.columns
                if c.name not in mine.columns and not c.nullable and c.server_default is None
            ]
            assert not missing, f"{table.name}.{missing} exist before but not at the heads"
            query = sa.select(*(mine.c[n] for n in shared))
            rows = [dict(r._mapping) for r in conn.execute(query)]
            if rows:
                target.execute(table.insert(), rows)
                copied += len(rows)
    return copied


def _reflect(conn: sa.Connection) -> sa.MetaData:
    reflected = sa.MetaData()
    reflected.reflect(conn)
    return reflected


def _rows(conn: Connection, columns: dict[str, list[str]] | None = None) -> Rows:
    """Every table's column names and rows (the named columns, or all), raw as stored."""
    reflected = _reflect(conn)
    found: Rows = {}
    for table in reflected.sorted_tables:
        if table.name == "alembic_version" or (columns is not None and table.name not in columns):
            continue
        names = [c.name for c in table.columns] if columns is None else columns[table.name]
        names = [n for n in names if (table.name, n) not in REWRITTEN]
        query = sa.select(*(table.c[n] for n in names))
        found[table.name] = (names, [tuple(r) for r in conn.execute(query)])
    return found


def _sorted(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return sorted(rows, key=repr)


def _balances(
    names: list[str], rows: list[tuple[Any, ...]]
) -> dict[tuple[str, ...], tuple[Any, ...]]:
    """Each account's counters, by (community, account)."""
    key = [names.index("community_id"), names.index("id")]
    counters = [names.index(n) for n in COUNTERS]
    return {tuple(r[k] for k in key): tuple(r[c] for c in counters) for r in rows}


@contextmanager
def _postgresql_database() -> Iterator[str]:
    name = f"linli_upgrades_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(support.PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        yield sa.make_url(support.PG_ADMIN_URL).set(database=name).render_as_string(False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def _empty_databases(backend: str, count: int, folder: Path) -> Generator[Database, None]:
    """``count`` empty databases, one after the other (PostgreSQL: one database, its schema
    dropped and made again each time)."""
    if backend == "sqlite":
        for _ in range(count):
            path = folder / f"upgrade-{uuid.uuid4().hex}.db"
            db = mk.open_database(f"sqlite:///{path}", migrations=(MIGRATIONS,))
            try:
                yield db
            finally:
                db.dispose()
        return
    with _postgresql_database() as url:
        for _ in range(count):
            db = mk.open_database(url, migrations=(MIGRATIONS,), pool_size=2)
            try:
                with db.writer.begin() as conn:
                    conn.exec_driver_sql("DROP SCHEMA public CASCADE")
                    conn.exec_driver_sql("CREATE SCHEMA public")
                yield db
            finally:
                db.dispose()


def _paired(
    states: list[tuple[str, frozenset[str]]], targets: Generator[Database, None]
) -> Iterator[tuple[tuple[str, frozenset[str]], Database]]:
    for state in states:
        yield state, next(targets)
    targets.close()


# The history


async def history(db: Database) -> None:
    """What a community's first months leave behind, written by the libraries (and the service,
    for its idempotency keys): wishes in every state, awards held and posted, adjustments, a
    reversal, a donation, an event's hours, store orders reserved, fulfilled and cancelled, a
    refused overdraft, points expired, a second community, and the service's sweeps run."""
    sw.build(db)
    t = T0
    with db.transaction() as tx:
        policy = points.AccrualPolicy(points_per_hour=12, expiry_days=180)
        mk.wallet.set_policy(tx, "staff", "c1", policy, now=t)
        mk.set_community_rules(tx, "staff", "c1", mk.CommunityRules(claim_limit=4), now=t)
        set_elder_mode(tx, "res", True, t)  # 长辈模式
        for n, volunteer in enumerate(VOLUNTEERS):
            wish = world.published(tx, id=f"w-served-{n}", start=t + 2 * HOUR)
            claim = mk.claim(tx, volunteer, "c1", wish.id, now=t)
            at = t + 2 * HOUR
            code = wish.confirmation_code
            mk.check_in(tx, volunteer, "c1", claim.id, code=code, now=at)
            mk.check_out(tx, volunteer, "c1", claim.id, now=at + 1.5 * HOUR)
            if n < 3:
                mk.confirm(tx, "res", "c1", wish.id, rating=5 - n, comment="谢谢", now=at)
            elif n == 3:
                mk.dispute(tx, "res", "c1", wish.id, reason="没有陪到医院", now=at)
            # the last stays served: its points are held (a pending transfer)
        world.post(tx, id="w-submitted")
        rejected = world.post(tx, id="w-rejected")
        mk.reject(tx, "staff", "c1", rejected.id, reason="不属于服务范围", now=t)
        cancelled = world.published(tx, id="w-cancelled")
        mk.cancel(tx, "res", "c1", cancelled.id, reason="家人陪同", now=t)
        shared = world.published(tx, id="w-claimed", capacity=2)
        mk.claim(tx, "vol1", "c1", shared.id, now=t)
        mk.publish_offer(
            tx, "vol2", "c1", category="助老陪护", title="周末陪诊", schedule="周六上午", now=t
        )
        for member in (*VOLUNTEERS, "party"):
            mk.wallet.adjust(tx, "staff", "c1", member, 60, reason="志愿活动补录", now=t)
        wrong = mk.wallet.adjust(tx, "staff", "c1", "vol4", 40, reason="录入", now=t)
        mk.wallet.reverse(tx, "staff", "c1", wrong.id, reason="录错", amount=25, now=t)
        mk.wallet.donate(tx, "vol3", "c1", 5, memo="捐给社区", now=t)
        attendance = tuple(mk.EventHours(member_id=v, minutes=120) for v in VOLUNTEERS[:3])
        mk.wallet.record_event(
            tx, "staff", "c1", event_id="e-chongyang", category="助老陪护", title="重阳节",
            started_at=t - 24 * HOUR, attendance=attendance, now=t,
        )  # fmt: skip
        item = mk.wallet.add_item(tx, "staff", "c1", name="大米", cost=10, stock=50, now=t)
        orders = [mk.wallet.redeem(tx, m, "c1", item.id, now=t) for m in VOLUNTEERS[:4]]
        mk.wallet.fulfil_order(tx, "staff", "c1", orders[0].id, now=t + HOUR)
        mk.wallet.cancel_order(tx, "vol2", "c1", orders[1].id, now=t + HOUR)
        mk.wallet.adjust(tx, "admin", "c2", "outsider", 15, reason="月亮社区补录", now=t)
    try:
        with db.transaction() as tx:
            mk.wallet.adjust(tx, "staff", "c1", "vol5", -(10**6), reason="超额扣减", now=t)
    except points.Refused:
        pass  # recorded as refused
    with db.transaction() as tx:
        points.expire_points(tx, now=t + dt.timedelta(days=200))
    await _through_the_service(db)
    await sweep_once(db)  # as the service's sweeps would (sealing the hash chain, …)


async def _through_the_service(db: Database) -> None:
    """Two writes with Idempotency-Keys through the app: their stored responses."""
    app = create_app(sw.settings(db.url), db=db, clock=sw.Clock())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://linli.test") as client:
        staff = {"Authorization": f"Bearer {_token(app, 'staff')}", "Idempotency-Key": "k-1"}
        answer = await client.post(
            "/api/v1/communities/c1/adjustments",
            headers=staff,
            json={"member_id": "party", "change": 7, "reason": "补录"},
        )
        assert answer.status_code == 201, answer.text


def _token(app: Any, person: str) -> str:
    return auth.issue_token(app.state.jwt, app.state.settings, person, 0)
