"""The migrations are the only way the schema is made; they must match the code's tables."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection

import points
from points.schema import metadata


def _diff(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(conn)
    return list(compare_metadata(context, metadata))


async def test_migrated_schema_matches_the_tables_in_code(db: points.Database) -> None:
    async with db.writer.connect() as conn:
        assert await conn.run_sync(_diff) == []


async def test_migrations_go_down_to_nothing_and_up_again(db: points.Database) -> None:
    assert await db.revision() == "0001"
    await db.downgrade("base")
    assert await db.revision() is None
    await db.upgrade()
    assert await db.revision() == "0001"
    async with db.transaction() as tx:
        await points.open_community(tx, "c1")
    async with db.read() as tx:
        assert await points.audit(tx) == []
