"""The migrations are the only way the schema is made; they must match the code's tables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection

import points
from marketplace.schema import metadata as marketplace_metadata
from points.schema import metadata

HEADS = "0004,m0015"  # the ledger's head, and the marketplace's (which depends on 0001)


def _diff(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(conn)
    return list(compare_metadata(context, [metadata, marketplace_metadata]))


def test_migrated_schema_matches_the_tables_in_code(db: points.Database) -> None:
    with db.writer.connect() as conn:
        assert _diff(conn) == []


def test_migrations_go_down_to_nothing_and_up_again(db: points.Database) -> None:
    assert db.revision() == HEADS
    db.downgrade("base")
    assert db.revision() is None
    db.upgrade()
    assert db.revision() == HEADS
    with db.transaction() as tx:
        points.open_community(tx, "c1")
    with db.snapshot() as tx:
        assert points.audit(tx) == []


def test_the_ledger_alone_migrates_without_the_marketplace(tmp_path: Path) -> None:
    db = points.Database(f"sqlite:///{tmp_path / 'ledger.db'}")
    try:
        db.upgrade()
        assert db.revision() == "0004"
        with db.writer.connect() as conn:
            names = sa.inspect(conn).get_table_names()
        assert not [n for n in names if n.startswith("mk_")]
        assert "points_transfers" in names
    finally:
        db.dispose()
