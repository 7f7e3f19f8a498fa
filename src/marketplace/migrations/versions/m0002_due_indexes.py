"""Indexes for two sweeps' due queries, found missing by tests/store/test_query_plans.py: the
no-show sweep (active claims) and the expiry sweep (published wishes by the end of their window)
scanned whole tables.

Revision ID: m0002
Revises: m0001
Create Date: 2026-11-26 14:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "m0002"
down_revision: str | Sequence[str] | None = "m0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("mk_claims", schema=None) as batch_op:
        batch_op.create_index(
            "ix_mk_claims_active",
            ["community_id", "wish_id"],
            unique=False,
            sqlite_where=sa.text("state = 'active'"),
            postgresql_where=sa.text("state = 'active'"),
        )
    with op.batch_alter_table("mk_wishes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_mk_wishes_window_end",
            ["window_end"],
            unique=False,
            sqlite_where=sa.text("state = 'published'"),
            postgresql_where=sa.text("state = 'published'"),
        )


def downgrade() -> None:
    with op.batch_alter_table("mk_wishes", schema=None) as batch_op:
        batch_op.drop_index("ix_mk_wishes_window_end")
    with op.batch_alter_table("mk_claims", schema=None) as batch_op:
        batch_op.drop_index("ix_mk_claims_active")
