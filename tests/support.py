"""Test databases: a migrated SQLite file or PostgreSQL database per test, made fast by templates.

SQLite: the migrations run once into a template file; each test gets a copy. PostgreSQL: the
migrations run once into a database of this test session; each test starts from empty tables.
Both are real migrated schemas (never ``create_all``).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

import marketplace
from marketplace.schema import metadata as marketplace_metadata
from points import Database
from points.schema import metadata

PG_ADMIN_URL = os.environ.get(
    "LINLI_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
BACKENDS = ("sqlite", "postgresql")


def run_now(make: Callable[[], Awaitable[None]]) -> None:
    """Run a coroutine to the end from sync code, even inside a running event loop."""

    async def main() -> None:
        await make()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, main()).result()


_workdir = Path(tempfile.mkdtemp(prefix="linli-tests-"))
_template: Path | None = None
_pg_url: str | None = None
_pg_error: str | None = None


def sqlite_template() -> Path:
    global _template
    if _template is None:
        path = _workdir / "template.db"

        async def build() -> None:
            db = marketplace.open_database(f"sqlite+aiosqlite:///{path}")
            await db.upgrade()
            await db.dispose()

        run_now(build)
        _template = path
    return _template


def postgresql_url() -> str | None:
    """A migrated database of this test session, or None (with the reason in pg_unavailable())."""
    global _pg_url, _pg_error
    if _pg_url is None and _pg_error is None:
        name = f"linli_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        url = sa.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)

        async def build() -> None:
            admin = create_async_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
            try:
                async with admin.connect() as conn:
                    await conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
            finally:
                await admin.dispose()
            db = marketplace.open_database(url)
            await db.upgrade()
            await db.dispose()

        try:
            run_now(build)
            _pg_url = url
        except (OSError, sa.exc.SQLAlchemyError) as exc:
            _pg_error = f"PostgreSQL unreachable at {PG_ADMIN_URL}: {exc!s:.200}"
    return _pg_url


def pg_unavailable() -> str | None:
    postgresql_url()
    return _pg_error


def drop_postgresql() -> None:
    if _pg_url is None:
        return
    name = sa.make_url(_pg_url).database

    async def drop() -> None:
        admin = create_async_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        try:
            async with admin.connect() as conn:
                await conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.dispose()

    run_now(drop)


def fresh_url(backend: str) -> str:
    """The URL of an empty, migrated database for one test."""
    if backend == "sqlite":
        path = _workdir / f"{uuid.uuid4().hex}.db"
        shutil.copyfile(sqlite_template(), path)
        return f"sqlite+aiosqlite:///{path}"
    url = postgresql_url()
    assert url is not None, pg_unavailable()
    return url


async def empty_postgresql(db: Database) -> None:
    tables = [*metadata.sorted_tables, *marketplace_metadata.sorted_tables]
    names = ", ".join(t.name for t in tables)
    async with db.writer.begin() as conn:
        await conn.exec_driver_sql(f"TRUNCATE {names}")


async def open_database(backend: str, **options: int) -> Database:
    db = marketplace.open_database(fresh_url(backend), **options)
    if backend == "postgresql":
        await empty_postgresql(db)
    return db
