"""The entries of a transfer, by an index: a refused transfer's row is deleted in its own
transaction (``ledger._undo``), and SQLite and PostgreSQL check the foreign key from
``points_entries`` for each delete. Without this index both scanned every entry of the
community while holding the write lock: at 200,000 entries a refusal took 15 ms on SQLite
(12 ms of it the delete) and 22 ms on PostgreSQL, growing with the ledger; with it 2.3 and 5 ms.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 22:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_points_entries_transfer",
        "points_entries",
        ["community_id", "transfer_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_points_entries_transfer", table_name="points_entries")
