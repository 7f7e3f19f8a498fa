"""Day rollups of the statistics (``mk_stat_days``), backfilled from the wishes, claims and
transitions already stored (:func:`marketplace.rollups.refill`: the same recomputation the tests
compare the write path's upkeep with), and an index of the orgs by kind and path (an area's
communities, which every statistics read starts from).

Revision ID: m0005
Revises: m0004
Create Date: 2026-12-07 14:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from marketplace import rollups

revision: str = "m0005"
down_revision: str | Sequence[str] | None = "m0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    text = sa.String(length=64).with_variant(sa.TEXT(), "sqlite")
    op.create_table(
        "mk_stat_days",
        sa.Column("community_id", text, nullable=False),
        sa.Column("day", sa.String(length=10).with_variant(sa.TEXT(), "sqlite"), nullable=False),
        sa.Column("figure", sa.String(length=32).with_variant(sa.TEXT(), "sqlite"), nullable=False),
        sa.Column("key", text, nullable=False),
        sa.Column("batch", text, nullable=False),
        sa.Column("n", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), nullable=False),
        sa.PrimaryKeyConstraint(
            "community_id", "day", "figure", "key", "batch", name=op.f("pk_mk_stat_days")
        ),
        sqlite_strict=True,
    )
    with op.batch_alter_table("mk_stat_days", schema=None) as batch_op:
        batch_op.create_index(
            "ix_mk_stat_days_unfolded",
            ["batch"],
            unique=False,
            sqlite_where=sa.text("batch <> ''"),
            postgresql_where=sa.text("batch <> ''"),
        )
    with op.batch_alter_table("mk_orgs", schema=None) as batch_op:
        batch_op.create_index("ix_mk_orgs_kind", ["kind", "path"], unique=False)
    rollups.refill(op.get_bind())


def downgrade() -> None:
    with op.batch_alter_table("mk_orgs", schema=None) as batch_op:
        batch_op.drop_index("ix_mk_orgs_kind")
    op.drop_table("mk_stat_days")
