"""花名册导入 and 个人资料: a member's room, address and availability; the log of every change of a
profile (who, when, old → new); roster files kept between their preview and their import.

Revision ID: m0007
Revises: m0006
Create Date: 2026-12-07 16:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from points import sqltypes

revision: str = "m0007"
down_revision: str | Sequence[str] | None = "m0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("mk_members", schema=None) as batch_op:
        batch_op.add_column(sa.Column("room", sqltypes.Text(20), nullable=True))
        batch_op.add_column(sa.Column("address", sqltypes.Text(200), nullable=True))
        batch_op.add_column(sa.Column("availability", sqltypes.Text(200), nullable=True))
    op.create_table(
        "mk_member_changes",
        sa.Column("member_id", sqltypes.Text(64), nullable=False),
        sa.Column("id", sqltypes.Text(64), nullable=False),
        sa.Column("community_id", sqltypes.Text(64), nullable=True),
        sa.Column("field", sqltypes.Text(32), nullable=False),
        sa.Column("old", sqltypes.Json(), nullable=True),
        sa.Column("new", sqltypes.Json(), nullable=True),
        sa.Column("actor_id", sqltypes.Text(64), nullable=False),
        sa.Column("source", sqltypes.Text(16), nullable=False),
        sa.Column("import_id", sqltypes.Text(64), nullable=True),
        sa.Column("at", sqltypes.Timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("member_id", "id", name="pk_mk_member_changes"),
        sqlite_strict=True,
    )
    op.create_index("ix_mk_member_changes_community", "mk_member_changes", ["community_id", "at"])
    op.create_table(
        "mk_roster_imports",
        sa.Column("community_id", sqltypes.Text(64), nullable=False),
        sa.Column("id", sqltypes.Text(64), nullable=False),
        sa.Column("actor_id", sqltypes.Text(64), nullable=False),
        sa.Column("filename", sqltypes.Text(200), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("rows", sqltypes.Int64, nullable=False),
        sa.Column("problems", sqltypes.Int64, nullable=False),
        sa.Column("state", sqltypes.Text(16), nullable=False),
        sa.Column("result", sqltypes.Json(), nullable=True),
        sa.Column("created_at", sqltypes.Timestamp(), nullable=False),
        sa.Column("finished_at", sqltypes.Timestamp(), nullable=True),
        sa.PrimaryKeyConstraint("community_id", "id", name="pk_mk_roster_imports"),
        sqlite_strict=True,
    )


def downgrade() -> None:
    op.drop_table("mk_roster_imports")
    op.drop_index("ix_mk_member_changes_community", table_name="mk_member_changes")
    op.drop_table("mk_member_changes")
    with op.batch_alter_table("mk_members", schema=None) as batch_op:
        batch_op.drop_column("availability")
        batch_op.drop_column("address")
        batch_op.drop_column("room")
