"""Durability settings checked, not assumed (DESIGN.md §3, invariant 8).

The service is built as ``linli serve`` builds it (``create_app(Settings.from_env(...))``) and
answers a request; then the settings are read back on live connections of its database: the
write connection and every connection of the read pool at once, through
:meth:`points.Database.pragmas` and straight from a connection of ``app.state.db``. SQLite must
run ``journal_mode=wal``, ``synchronous=2`` (FULL) and ``foreign_keys=1``; PostgreSQL
``synchronous_commit=on`` and ``fsync=on``. A connection opened without the library's settings
is the control: the same check finds it wanting (so the check can fail).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from litestar import Litestar

import support
from points import Database
from service.app import create_app
from service.settings import Settings

DURABLE: dict[str, dict[str, Any]] = {
    "sqlite": {"journal_mode": "wal", "synchronous": 2, "foreign_keys": 1},
    "postgresql": {"synchronous_commit": "on", "fsync": "on"},
}


def _wanting(backend: str, found: dict[str, Any]) -> dict[str, Any]:
    """The settings that are not the durable ones (empty: all are)."""
    return {k: found.get(k) for k, v in DURABLE[backend].items() if found.get(k) != v}


@asynccontextmanager
async def _service(url: str, tmp_path: Path) -> AsyncIterator[Litestar]:
    environ = {
        "LINLI_DATABASE_URL": url,
        "LINLI_SECRET_KEY": "durability-secret-" + "d" * 40,
        "LINLI_SWEEP_SECONDS": "0",
        "LINLI_ACCESS_LOG": "0",
    }
    app = create_app(Settings.from_env(environ, cwd=tmp_path))
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://linli.test") as client:
            ready = await client.get("/health/ready")  # the database answered a real request
            assert ready.status_code == 200, ready.text
        yield app
    finally:
        app.state.db.dispose()


def _read_pool_pragmas(db: Database) -> list[dict[str, Any]]:
    """The settings of every connection the read pool may hold, held at once (so each is a
    different connection)."""
    size = db.reader.pool.size()  # type: ignore[attr-defined]
    with ExitStack() as stack:
        held = [stack.enter_context(db.reader.connect()) for _ in range(size)]
        raw = {id(c.connection.driver_connection) for c in held}
        assert len(raw) == size
        return [db.pragmas(conn) for conn in held]


async def test_the_service_database_runs_durable_settings_on_every_connection(
    backend_ready: str, tmp_path: Path
) -> None:
    url = support.fresh_url(backend_ready, service=True)
    async with _service(url, tmp_path) as app:
        db: Database = app.state.db
        writer = db.pragmas()  # the write connection (SQLite: the writer thread's one)
        readers = _read_pool_pragmas(db)
        with db.writer.connect() as conn:  # straight from the app's engines, by hand
            verb = "PRAGMA" if db.is_sqlite else "SHOW"
            direct = {
                name: conn.exec_driver_sql(f"{verb} {name}").scalar()
                for name in DURABLE[backend_ready]
            }
    assert _wanting(backend_ready, writer) == {}
    assert [_wanting(backend_ready, r) for r in readers] == [{}] * len(readers)
    assert direct == DURABLE[backend_ready]
    if db.is_sqlite:
        assert writer["busy_timeout"] == 60000
    print(
        f"[durability] backend={backend_ready} writer={writer} "
        f"readers={len(readers)}×{readers[0]} direct={direct}"
    )


def test_connections_without_the_library_settings_are_found_wanting(
    backend_ready: str, tmp_path: Path
) -> None:
    """The control: the same check on connections opened without the library's settings. SQLite:
    a plain connection to the service's file (WAL is kept in the file, foreign keys are per
    connection), one set to synchronous=NORMAL (the usual WAL speed-up), and a new file.
    PostgreSQL: a session with synchronous_commit=off (what a deployment that turned durability
    down for speed would run with; fsync is the server's, not a session's)."""
    url = support.fresh_url(backend_ready, service=True)
    cases = {
        "sqlite": {
            "plain": (url, ()),
            "synchronous=NORMAL": (url, ("PRAGMA synchronous=NORMAL",)),
            "new file": (f"sqlite:///{tmp_path / 'plain.db'}", ()),
        },
        "postgresql": {"synchronous_commit=off": (url, ("SET synchronous_commit = off",))},
    }[backend_ready]
    db = Database(url)
    wanting = {}
    try:
        for case, (target, statements) in cases.items():
            plain = sa.create_engine(target)
            try:
                with plain.connect() as conn:
                    for statement in statements:
                        conn.exec_driver_sql(statement)
                    wanting[case] = _wanting(backend_ready, db.pragmas(conn))
            finally:
                plain.dispose()
    finally:
        db.dispose()
    if backend_ready == "sqlite":
        assert wanting["plain"]["foreign_keys"] == 0
        assert wanting["synchronous=NORMAL"]["synchronous"] == 1
        assert wanting["new file"]["journal_mode"] == "delete"
    else:
        assert wanting == {"synchronous_commit=off": {"synchronous_commit": "off"}}
    print(f"[durability] backend={backend_ready} control connections found wanting: {wanting}")
