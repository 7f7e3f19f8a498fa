"""Exports (导出) and separate consents (单独同意): who exported what, and each member's consent
to the transfer of their records to the national volunteer information system.

Revision ID: m0008
Revises: m0007
Create Date: 2026-12-07 16:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from points import sqltypes

revision: str = "m0008"
down_revision: str | Sequence[str] | None = "m0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _text(name: str, length: int, nullable: bool = False) -> sa.Column[str]:
    return sa.Column(
        name, sa.String(length=length).with_variant(sa.TEXT(), "sqlite"), nullable=nullable
    )


def _int(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "mk_consents",
        _text("member_id", 64),
        _text("purpose", 32),
        _int("seq"),
        sa.Column("given", sqltypes.Flag(), nullable=False),
        _text("recorded_by", 64),
        sa.Column(
            "note",
            sa.String(length=100).with_variant(sa.TEXT(), "sqlite"),
            nullable=False,
            server_default="",
        ),
        sa.Column("recorded_at", sqltypes.Timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("member_id", "purpose", "seq", name=op.f("pk_mk_consents")),
        sqlite_strict=True,
    )
    op.create_table(
        "mk_exports",
        _text("org_id", 64),
        _text("id", 64),
        _text("actor_id", 64),
        _text("kind", 16),
        _text("period", 32),
        sa.Column("since", sqltypes.Timestamp(), nullable=False),
        sa.Column("until", sqltypes.Timestamp(), nullable=False),
        _text("format", 8),
        _int("rows"),
        _int("withheld"),
        _text("channel", 8),
        sa.Column("at", sqltypes.Timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "id", name=op.f("pk_mk_exports")),
        sqlite_strict=True,
    )
    op.create_index("ix_mk_exports_actor", "mk_exports", ["actor_id", "at"])


def downgrade() -> None:
    op.drop_index("ix_mk_exports_actor", table_name="mk_exports")
    op.drop_table("mk_exports")
    op.drop_table("mk_consents")
