"""The ledger's hash chain: each transfer's place and hash in its community's chain, the heads.

Existing transfers stay unsealed (both columns NULL); the next seal (the service's sweep, or
``linli audit --chain``) chains them in (created_at, id) order. Downgrading drops the chain.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from points import sqltypes

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "points_chain_heads",
        sa.Column(
            "community_id", sa.String(length=64).with_variant(sa.TEXT(), "sqlite"), nullable=False
        ),
        sa.Column("seq", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), nullable=False),
        sa.Column("hash", sa.String(length=64).with_variant(sa.TEXT(), "sqlite"), nullable=False),
        sa.Column("sealed_at", sqltypes.Timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("community_id", name=op.f("pk_points_chain_heads")),
        sqlite_strict=True,
    )
    # Nullable columns without a default: SQLite adds them with ALTER TABLE (no table copy, the
    # STRICT table and its constraints stay as they are), PostgreSQL without a rewrite.
    with op.batch_alter_table("points_transfers", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "chain_seq", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), nullable=True
            )
        )
        batch_op.add_column(
            sa.Column(
                "chain_hash", sa.String(length=64).with_variant(sa.TEXT(), "sqlite"), nullable=True
            )
        )
        batch_op.create_index(
            "ix_points_transfers_chain",
            ["community_id", "chain_seq"],
            unique=True,
            sqlite_where=sa.text("chain_seq IS NOT NULL"),
            postgresql_where=sa.text("chain_seq IS NOT NULL"),
        )
        batch_op.create_index(
            "ix_points_transfers_unsealed",
            ["community_id", "created_at", "id"],
            unique=False,
            sqlite_where=sa.text("chain_seq IS NULL"),
            postgresql_where=sa.text("chain_seq IS NULL"),
        )


def downgrade() -> None:
    op.drop_index("ix_points_transfers_unsealed", table_name="points_transfers")
    op.drop_index("ix_points_transfers_chain", table_name="points_transfers")
    # Plain ALTER TABLE … DROP COLUMN (SQLite >= 3.35): a batch operation would copy the table
    # and lose its STRICT flag.
    op.drop_column("points_transfers", "chain_hash")
    op.drop_column("points_transfers", "chain_seq")
    op.drop_table("points_chain_heads")
