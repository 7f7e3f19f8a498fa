"""The hot queries use an index, never a whole-table scan: a lost index fails here, not in
production at 100,000 wishes.

Each case calls the library or service function that issues the query (the statements are
captured from SQLAlchemy while it runs, not copied by hand), then asks the database for the plan
of every statement with a WHERE: SQLite's ``EXPLAIN QUERY PLAN`` must show no ``SCAN <table>``
without an index (SQLite plans without statistics as if every table were large), PostgreSQL's
``EXPLAIN`` (with ``enable_seqscan``, hash and merge joins off, so that on these small tables a
usable index is always preferred) no ``Seq Scan``. A paged list must also come out of its
index in order (no ``TEMP B-TREE FOR ORDER BY`` on SQLite).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from typing import Any

import msgspec
import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection

import marketplace as mk
import marketplace_world as world
import points
import support
from marketplace.schema import metadata as marketplace_metadata
from points import Database
from points.schema import metadata as points_metadata
from service import auth, idempotency
from service.tables import credentials
from service.tables import metadata as service_metadata

TABLES = frozenset(
    t.name
    for m in (points_metadata, marketplace_metadata, service_metadata)
    for t in m.sorted_tables
)
LATER = world.T0 + dt.timedelta(days=400)
YEAR = dict(zip(("since", "until"), mk.named_period("2026", now=world.T0), strict=True))
Call = Callable[[Database, Connection], Any]


@pytest.fixture
def db(backend_ready: str) -> Iterator[Database]:
    database = support.open_database(backend_ready, service=True)
    try:
        with database.transaction() as tx:
            world.build(tx)
            wish = world.published(tx, id="w1", capacity=2)
            mk.claim(tx, "vol1", "c1", wish.id, now=world.T0)
            points.adjust(
                tx, community_id="c1", member_id="vol1", change=50, reason="x", actor="staff"
            )
            points.add_item(tx, community_id="c1", name="茶", cost=1, stock=5, id="tea")
            # a second grid of vol2's compound: recommendations read p1 and g2 as one near cell
            mk.create_org(tx, mk.SYSTEM, id="g2", kind=mk.OrgKind.GRID, name="第二网格",
                          parent_id="p1", now=world.T0)  # fmt: skip
            points.redeem(tx, community_id="c1", member_id="vol1", item_id="tea")
        yield database
    finally:
        database.dispose()


HOT: dict[str, Call] = {
    "wish list by community and state, by id": lambda db, c: mk.list_wishes(
        c, "vol1", "c1", states=frozenset({mk.WishState.PUBLISHED}), category="助老陪护", limit=20
    ),
    "claims of a wish": lambda db, c: mk.wish_claims(c, "staff", "c1", "w1"),
    "a member's claims": lambda db, c: mk.member_claims(c, "vol1", "c1"),
    "account by id": lambda db, c: points.get_account(c, "c1", "member:vol1"),
    "transfer by reference": lambda db, c: points.find_by_reference(
        c, "c1", points.TransferKind.ACCRUAL, "claim:x"
    ),
    "statement by account and seq": lambda db, c: points.statement(
        c, "c1", "member:vol1", cursor="5"
    ),
    "orders by member": lambda db, c: points.list_orders(c, "c1", member_id="vol1"),
    # taken, then found taken: the second take reads what is stored under the key
    "idempotency key lookup": lambda db, c: _take_twice(db),
    "recommendations for a member": lambda db, c: mk.recommendations(
        c, "vol2", "c1", limit=3, now=world.T0
    ),
    "escalation due": lambda db, c: mk.escalate_due(c, now=world.T0, limit=1),
    "auto-accept due": lambda db, c: mk.auto_accept_due(c, now=LATER),
    "no-shows due": lambda db, c: mk.release_no_shows(c, now=world.T0),
    "expired wishes due": lambda db, c: mk.expire_wishes(c, now=world.T0),
    "points expiry due": lambda db, c: points.expire_points(c, now=world.T0),
    "hold timeouts due": lambda db, c: points.void_timed_out(c, now=world.T0),
    "store orders due": lambda db, c: points.expire_orders(c, now=world.T0),
    "idempotency keys due": lambda db, c: db.write(idempotency.sweep_keys, now=world.T0),
    "roster files due": lambda db, c: mk.uploads.drop_unconfirmed(c, now=world.T0),
    # a district's dashboard: the statistics, 三率 (a unit is paired) and each day, from the rollups
    "a district's dashboard": lambda db, c: mk.dashboard(c, "admin", "d1", **YEAR),
    "folding the statistics": lambda db, c: mk.fold_statistics(c),
}
KEY = idempotency.Claim(
    member_id="vol1",
    version=0,
    key="key-1",
    fingerprint="f" * 64,
    now=world.T0,
    expires_at=world.T0 + dt.timedelta(hours=24),
)


def _take_twice(db: Database) -> None:
    db.write(auth.set_credentials, "vol1", "13900000001", "hash", now=world.T0)
    stored = db.read(lambda conn: conn.scalar(sa.select(credentials.c.token_version)))
    key = msgspec.structs.replace(KEY, version=stored)
    for _ in range(2):
        db.write(idempotency.take, key)


OWN_CONNECTION = frozenset({"idempotency key lookup", "idempotency keys due"})
ORDERED = frozenset(
    {"wish list by community and state, by id", "a member's claims", "recommendations for a member"}
)


def _capture(db: Database) -> tuple[list[tuple[str, Any]], Callable[[], None]]:
    seen: list[tuple[str, Any]] = []

    def keep(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
    ) -> None:
        wanted = re.match(r"\s*(SELECT|UPDATE|DELETE)\b", statement, re.I)
        if not many and wanted and " WHERE " in statement.upper().replace("\n", " "):
            seen.append((statement, parameters))

    engines = {db.writer, db.reader}
    for engine in engines:
        event.listen(engine, "before_cursor_execute", keep)

    def stop() -> None:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", keep)

    return seen, stop


def _plan(conn: Connection, statement: str, parameters: Any) -> list[str]:
    if conn.dialect.name == "sqlite":
        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
        return [str(r[-1]) for r in rows]
    for setting in ("enable_seqscan", "enable_hashjoin", "enable_mergejoin"):
        conn.exec_driver_sql(f"SET LOCAL {setting} = off")
    rows = conn.exec_driver_sql("EXPLAIN " + statement, parameters)
    return [str(r[0]) for r in rows]


def _full_scans(plan: list[str]) -> list[str]:
    """Steps that read a whole table: SQLite's ``SCAN <table>`` without an index, PostgreSQL's
    sequential scan."""
    found = []
    for line in plan:
        sqlite = re.search(r"\bSCAN (\w+)(?: AS \w+)?$", line.strip())
        pg = re.search(r"Seq Scan on (\w+)", line)
        table = (sqlite or pg).group(1) if (sqlite or pg) else None
        if table in TABLES:
            found.append(line.strip())
    return found


BOUNDED_SORTS = ("USING INDEX ix_mk_wishes_match_place ",)
"""Searches whose rows may be sorted: the wishes of the few places near a member, of one urgency
and key household (recommendations' near cells, several places each), not a list's whole."""


def _sorted_whole(conn: Connection, statement: str, parameters: Any) -> list[str]:
    """SQLite's sorts (``TEMP B-TREE FOR ORDER BY``) but those of a bounded search (the sort's
    parent in the plan also holds the search it orders)."""
    rows = [tuple(r) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)]
    found = []
    for _, parent, _, detail in rows:
        if "TEMP B-TREE FOR ORDER BY" not in detail:
            continue
        searches = [d for _, p, _, d in rows if p == parent and "mk_wishes" in d]
        if not any(b in d for d in searches for b in BOUNDED_SORTS):
            found.append(str(detail))
    return found


@pytest.mark.parametrize("name", list(HOT))
def test_hot_query_uses_an_index(db: Database, name: str) -> None:
    seen, stop = _capture(db)
    try:
        if name in OWN_CONNECTION:  # the service's own transaction
            HOT[name](db, None)  # type: ignore[arg-type]
        else:
            with db.writer.connect() as conn:
                tx = conn.begin()
                try:
                    HOT[name](db, conn)
                finally:
                    tx.rollback()
    finally:
        stop()
    assert seen, f"{name}: no statement captured"
    problems = []
    with db.writer.connect() as conn, conn.begin():
        for statement, parameters in seen:
            plan = _plan(conn, statement, parameters)
            scans = _full_scans(plan)
            if name in ORDERED and conn.dialect.name == "sqlite":
                scans += _sorted_whole(conn, statement, parameters)
            if scans:
                problems.append(f"{' '.join(statement.split())[:300]}\n    " + "\n    ".join(plan))
    assert not problems, f"{name}: a scan without an index:\n" + "\n".join(problems)


def test_a_dropped_index_is_caught(db: Database) -> None:
    """The check itself works: without the wishes' due index the escalation query scans.
    (PostgreSQL with ``enable_seqscan = off`` would read another index whole instead, which its
    plan does not tell from a search: the SQLite plan is the one that catches a lost index.)"""
    if db.is_sqlite is False:
        pytest.skip("PostgreSQL falls back to reading another index whole")
    seen, stop = _capture(db)
    try:
        with db.writer.connect() as conn:
            tx = conn.begin()
            try:
                mk.escalate_due(conn, now=world.T0, limit=1)
            finally:
                tx.rollback()
    finally:
        stop()
    with db.writer.connect() as conn:
        tx = conn.begin()
        try:
            conn.execute(sa.text("DROP INDEX ix_mk_wishes_due"))
            plans = [_plan(conn, s, p) for s, p in seen]
        finally:
            tx.rollback()
    assert any(_full_scans(plan) for plan in plans)


def test_a_near_cell_reads_its_places_index(db: Database) -> None:
    """Recommendations read the places near the member (here p1 and g2, one cell) through
    ``ix_mk_wishes_match_place`` and sort those few rows, instead of filtering a whole urgency of
    the community down to them in ``ix_mk_wishes_match``'s order (issue 14) — on SQLite too,
    which plans without statistics."""
    if not db.is_sqlite:
        pytest.skip("PostgreSQL picks its index by its own statistics (autovacuum's ANALYZE)")
    with db.transaction() as tx:
        for f in range(20):
            mk.create_org(tx, mk.SYSTEM, id=f"f{f}", kind=mk.OrgKind.GRID, name=f"远网格{f}",
                          parent_id="c1", now=world.T0)  # fmt: skip
        for n in range(200):  # most of the community's wishes are away from vol2's compound
            place = f"f{n % 20}" if n % 10 else "g2"
            world.published(tx, actor="staff", id=f"n{n}", org_id=place)
    seen, stop = _capture(db)
    try:
        with db.writer.connect() as conn, conn.begin():
            assert mk.recommendations(conn, "vol2", "c1", limit=3, now=world.T0)
    finally:
        stop()
    with db.writer.connect() as conn, conn.begin():
        plans = [_plan(conn, s, p) for s, p in seen if "place_path" in s]
    assert plans, "no shortlist statement captured"
    lines = [line for plan in plans for line in plan]
    assert any("ix_mk_wishes_match_place" in line for line in lines), lines


NEVER_DELETED = {
    "points_accounts": "the ledger's accounts stay (append-only)",
    "points_catalog_items": "a store item is taken off sale, never deleted",
}


def test_every_deleted_row_finds_what_refers_to_it_through_an_index() -> None:
    """Deleting a row makes SQLite (``foreign_keys=ON``) and PostgreSQL look for the rows that
    refer to it; without an index led by the referring columns that is a scan of the child
    table, under the write lock (a refused transfer's delete scanned every entry of its
    community: 12 ms at 200,000 entries). So every foreign key leads an index of its table,
    but those to tables no code deletes from."""
    missing = []
    for table in (t for m in (points_metadata, marketplace_metadata, service_metadata)
                  for t in m.sorted_tables):  # fmt: skip
        keys = [tuple(c.name for c in table.primary_key.columns)]
        keys += [tuple(c.name for c in i.columns) for i in table.indexes]
        keys += [
            tuple(c.name for c in u.columns)
            for u in table.constraints
            if isinstance(u, sa.UniqueConstraint)
        ]
        for fk in table.foreign_key_constraints:
            columns = {c.name for c in fk.columns}
            if fk.referred_table.name in NEVER_DELETED:
                continue
            if not any(set(key[: len(columns)]) == columns for key in keys):
                missing.append(f"{table.name} {sorted(columns)} -> {fk.referred_table.name}")
    assert missing == []
