"""Where the ledger lives: engines, durable SQLite settings, transactions and migrations.

The caller owns the transaction. :meth:`Database.transaction` is the unit of work: it opens one
write transaction (``BEGIN IMMEDIATE`` on SQLite, so a read followed by a write can never lose an
update), commits when the block ends and rolls back when it raises. When the block raises
:class:`~points.errors.Refused`, everything is rolled back and then the refusal alone is recorded in
a transaction of its own, so the refused id stays refused.

SQLite runs in WAL mode with ``synchronous=FULL`` and foreign keys on. Writes go through one
connection (a second writer would only wait for the file lock); reads use a small pool of their own.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import os
from collections.abc import AsyncIterator, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from points.errors import Refused
from points.model import RefusedTransfer
from points.schema import refused_transfers, transfers
from points.sqltypes import insert_ignoring_conflicts

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA foreign_keys=ON",
    # As long as the pool waits for a connection: SQLite's busy handler is not fair, so under
    # contention one writer can wait many times the length of a transaction for the file lock.
    "PRAGMA busy_timeout=60000",
)
MIGRATIONS = "points:migrations"


class Database:
    """A ledger database: ``sqlite+aiosqlite:///path.db`` or ``postgresql+asyncpg://…``."""

    def __init__(
        self,
        url: str,
        *,
        write_pool_size: int = 1,
        read_pool_size: int = 4,
        pool_size: int = 10,
        echo: bool = False,
        migrations: Sequence[str] = (),
    ) -> None:
        """``migrations``: further Alembic version directories to apply with the ledger's (a
        library that keeps its own tables beside the ledger, such as the marketplace)."""
        parsed = make_url(url)
        self.url = url
        self.migrations = tuple(migrations)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        if self.is_sqlite:
            if parsed.database in (None, "", ":memory:"):
                raise ValueError(
                    "an in-memory SQLite database is private to one connection; use a file"
                )
            self.writer = _sqlite_engine(url, write_pool_size, "BEGIN IMMEDIATE", echo)
            self.reader = _sqlite_engine(url, read_pool_size, "BEGIN", echo)
        else:
            self.writer = create_async_engine(
                url, pool_size=pool_size, max_overflow=pool_size, echo=echo
            )
            self.reader = self.writer

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """One write transaction: commit on success, roll back on error (see the module doc)."""
        try:
            async with self.writer.begin() as conn:
                yield conn
        except Refused as refused:
            await self.record_refusal(refused.refusal)
            raise

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read-only transaction over one consistent snapshot."""
        async with self.reader.connect() as conn:
            if not self.is_sqlite:
                await conn.execution_options(isolation_level="REPEATABLE READ")
            async with conn.begin():
                yield conn

    async def record_refusal(self, refusal: RefusedTransfer) -> None:
        """Keep a refused transfer's id refused. Safe to call twice."""
        async with self.writer.begin() as conn:
            await record_refusal(conn, refusal)

    async def upgrade(self, revision: str = "heads") -> None:
        """Apply the Alembic migrations up to ``revision`` (all heads by default)."""
        async with self.writer.begin() as conn:
            await conn.run_sync(_alembic, "upgrade", revision, self.migrations)

    async def downgrade(self, revision: str) -> None:
        async with self.writer.begin() as conn:
            await conn.run_sync(_alembic, "downgrade", revision, self.migrations)

    async def revision(self) -> str | None:
        """The schema revision the database is at (None: not migrated)."""
        async with self.writer.begin() as conn:
            return await conn.run_sync(_current_revision)

    async def pragmas(self, conn: AsyncConnection | None = None) -> dict[str, Any]:
        """The durability settings a live connection really runs with: ``conn`` (any connection,
        e.g. one of the read pool's), or else a write connection of this database's.

        SQLite: ``journal_mode``, ``synchronous`` (2 is FULL), ``foreign_keys``, ``busy_timeout``
        (per connection, set when it opens). PostgreSQL: ``synchronous_commit`` and ``fsync``."""
        if conn is not None:
            return await _pragmas(conn)
        async with self.writer.connect() as writer:
            return await _pragmas(writer)

    async def dispose(self) -> None:
        await self.writer.dispose()
        if self.reader is not self.writer:
            await self.reader.dispose()


async def record_refusal(conn: AsyncConnection, refusal: RefusedTransfer) -> None:
    """Record a refusal in the caller's transaction (for callers not using Database.transaction).

    A transfer that meanwhile succeeded under the same id wins: then nothing is recorded.
    """
    done = await conn.scalar(
        sa.select(sa.literal(1)).where(
            transfers.c.community_id == refusal.community_id, transfers.c.id == refusal.id
        )
    )
    if done:
        return
    await conn.execute(
        insert_ignoring_conflicts(conn, refused_transfers).values(
            community_id=refusal.community_id,
            id=refusal.id,
            debit_account_id=refusal.debit_account_id,
            credit_account_id=refusal.credit_account_id,
            amount=refusal.amount,
            kind=refusal.kind.value,
            phase=refusal.phase.value,
            pending_id=refusal.pending_id,
            reference=refusal.reference,
            reason=refusal.reason,
            available=refusal.available,
            created_at=refusal.created_at,
        )
    )


async def _pragmas(conn: AsyncConnection) -> dict[str, Any]:
    names: tuple[str, ...]
    if conn.dialect.name == "sqlite":
        verb, names = "PRAGMA", ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
    else:
        verb, names = "SHOW", ("synchronous_commit", "fsync")
    return {n: (await conn.exec_driver_sql(f"{verb} {n}")).scalar() for n in names}


def _sqlite_engine(url: str, size: int, begin: str, echo: bool) -> AsyncEngine:
    engine = create_async_engine(url, pool_size=size, max_overflow=0, pool_timeout=60, echo=echo)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql(begin)

    return engine


def alembic_config(connection: Connection | None = None, migrations: Sequence[str] = ()) -> Config:
    config = Config()
    config.set_main_option("script_location", MIGRATIONS)
    ours = str(importlib.resources.files("points") / "migrations" / "versions")
    config.set_main_option("version_locations", os.pathsep.join((ours, *migrations)))
    config.set_main_option("path_separator", "os")
    config.attributes["connection"] = connection
    return config


def _alembic(connection: Connection, action: str, revision: str, migrations: Sequence[str]) -> None:
    getattr(command, action)(alembic_config(connection, migrations), revision)


def _current_revision(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    heads = MigrationContext.configure(connection).get_current_heads()
    return ",".join(sorted(heads)) or None
