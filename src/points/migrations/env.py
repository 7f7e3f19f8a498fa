"""Alembic environment: runs on the connection the caller hands in (see points.database)."""

from __future__ import annotations

from alembic import context

from points.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through points.Database.upgrade() or `linli db upgrade`")

context.configure(
    connection=connection,
    target_metadata=context.config.attributes.get("target_metadata") or metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    transaction_per_migration=False,
)
with context.begin_transaction():
    context.run_migrations()
