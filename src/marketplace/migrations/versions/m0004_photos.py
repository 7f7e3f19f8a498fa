"""Photos (照片) of wishes and check-outs, kept in the database: a new table, nothing rewritten.

Revision ID: m0004
Revises: m0003
Create Date: 2026-12-07 14:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from points import sqltypes

revision: str = "m0004"
down_revision: str | Sequence[str] | None = "m0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id(name: str, nullable: bool = False) -> sa.Column[str]:
    return sa.Column(
        name, sa.String(length=64).with_variant(sa.TEXT(), "sqlite"), nullable=nullable
    )


def _int(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "mk_photos",
        _id("community_id"),
        _id("id"),
        _id("wish_id"),
        _id("claim_id", nullable=True),
        _id("uploaded_by"),
        sa.Column(
            "media_type", sa.String(length=16).with_variant(sa.TEXT(), "sqlite"), nullable=False
        ),
        _int("width"),
        _int("height"),
        _int("size"),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column(
            "thumbnail_type", sa.String(length=16).with_variant(sa.TEXT(), "sqlite"), nullable=False
        ),
        sa.Column("thumbnail", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sqltypes.Timestamp(), nullable=False),
        sa.CheckConstraint("size BETWEEN 1 AND 16777216", name=op.f("ck_mk_photos_size_bounds")),
        sa.ForeignKeyConstraint(
            ["community_id", "wish_id"],
            ["mk_wishes.community_id", "mk_wishes.id"],
            name=op.f("fk_mk_photos_community_id_wish_id"),
        ),
        sa.PrimaryKeyConstraint("community_id", "id", name=op.f("pk_mk_photos")),
        sqlite_strict=True,
    )
    with op.batch_alter_table("mk_photos", schema=None) as batch_op:
        batch_op.create_index("ix_mk_photos_wish", ["community_id", "wish_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("mk_photos", schema=None) as batch_op:
        batch_op.drop_index("ix_mk_photos_wish")
    op.drop_table("mk_photos")
