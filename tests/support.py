"""Test databases: a migrated SQLite file or PostgreSQL database per test, made fast by templates.

SQLite: the migrations run once into a template file; each test gets a copy. PostgreSQL: the
migrations run once into a database of this test session; each test starts from empty tables.
Both are real migrated schemas (never ``create_all``).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import tempfile
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

import marketplace
from marketplace.schema import metadata as marketplace_metadata
from points import Database
from points.database import sync_url
from points.schema import metadata
from service.database import MIGRATIONS as SERVICE_MIGRATIONS
from service.tables import metadata as service_metadata

PG_ADMIN_URL = sync_url(
    os.environ.get("LINLI_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
)
BACKENDS = ("sqlite", "postgresql")
T = TypeVar("T")


_workdir = Path(tempfile.mkdtemp(prefix="linli-tests-"))
_templates: dict[bool, Path] = {}
_pg_urls: dict[bool, str] = {}
_pg_error: str | None = None


def _migrations(service: bool) -> tuple[str, ...]:
    return (SERVICE_MIGRATIONS,) if service else ()


def sqlite_template(service: bool = False) -> Path:
    """A migrated SQLite file to copy: the libraries' tables, and with ``service`` the
    service's too (the libraries' own tests run on a schema without them)."""
    if service not in _templates:
        path = _workdir / f"template-{'service' if service else 'library'}.db"

        def build() -> None:
            db = marketplace.open_database(f"sqlite:///{path}", migrations=_migrations(service))
            db.upgrade()
            db.dispose()

        build()
        _templates[service] = path
    return _templates[service]


def postgresql_url(service: bool = False) -> str | None:
    """A migrated database of this test session, or None (with the reason in pg_unavailable())."""
    global _pg_error
    if service not in _pg_urls and _pg_error is None:
        suffix = "s" if service else "l"
        name = f"linli_test_{os.getpid()}_{uuid.uuid4().hex[:6]}_{suffix}"
        url = sa.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)

        def build() -> None:
            admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
            try:
                with admin.connect() as conn:
                    conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
            finally:
                admin.dispose()
            db = marketplace.open_database(url, migrations=_migrations(service))
            db.upgrade()
            db.dispose()

        try:
            build()
            _pg_urls[service] = url
        except (OSError, sa.exc.SQLAlchemyError) as exc:
            _pg_error = f"PostgreSQL unreachable at {PG_ADMIN_URL}: {exc!s:.200}"
    return _pg_urls.get(service)


def pg_unavailable() -> str | None:
    postgresql_url()
    return _pg_error


def drop_postgresql() -> None:
    names = [sa.make_url(url).database for url in _pg_urls.values()]
    if not names:
        return

    def drop() -> None:
        admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                for name in names:
                    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            admin.dispose()

    drop()


def copy_sqlite(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite database (write-ahead log included): SQLite's backup API."""
    src, dst = sqlite3.connect(f"file:{source}?mode=ro", uri=True), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def fresh_url(backend: str, service: bool = False) -> str:
    """The URL of an empty, migrated database for one test."""
    if backend == "sqlite":
        path = _workdir / f"{uuid.uuid4().hex}.db"
        shutil.copyfile(sqlite_template(service), path)
        return f"sqlite:///{path}"
    url = postgresql_url(service)
    assert url is not None, pg_unavailable()
    return url


def empty_postgresql(db: Database, service: bool = False) -> None:
    tables = [*metadata.sorted_tables, *marketplace_metadata.sorted_tables]
    if service:
        tables += service_metadata.sorted_tables
    names = ", ".join(t.name for t in tables)
    with db.writer.begin() as conn:
        conn.exec_driver_sql(f"TRUNCATE {names}")


def open_database(backend: str, service: bool = False, **options: int) -> Database:
    db = marketplace.open_database(
        fresh_url(backend, service), migrations=_migrations(service), **options
    )
    if backend == "postgresql":
        empty_postgresql(db, service)
    return db


def concurrently(
    db: Database, units: Iterable[Callable[[Connection], T]], *, return_exceptions: bool = False
) -> list[Any]:
    """Run write units at once, as concurrent requests do (through :meth:`Database.awrite`)."""

    async def main() -> list[Any]:
        return await asyncio.gather(
            *(db.awrite(unit) for unit in units), return_exceptions=return_exceptions
        )

    return asyncio.run(main())


def in_threads(calls: Iterable[Callable[[], T]], clients: int = 32) -> list[T]:
    """Call each at once from ``clients`` threads (as a threaded web app would); results in order.
    An exception a call raises is its result."""
    with ThreadPoolExecutor(clients) as pool:
        futures = [pool.submit(call) for call in calls]
        return [f.exception() or f.result() for f in futures]  # type: ignore[misc]
