"""One-time sign-in codes (一次性验证码) and their log.

Revision ID: s0002
Revises: s0001
Create Date: 2026-12-07 16:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from points import sqltypes

revision: str = "s0002"
down_revision: str | Sequence[str] | None = "s0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _text(length: int | None = None) -> sa.types.TypeEngine[str]:
    base: sa.types.TypeEngine[str] = sa.String(length=length) if length else sa.Text()
    return base.with_variant(sa.TEXT(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "svc_sign_in_codes",
        sa.Column("member_id", _text(64), nullable=False),
        sa.Column("community_id", _text(64), nullable=False),
        sa.Column("purpose", _text(16), nullable=False),
        sa.Column("phone", _text(20), nullable=False),
        sa.Column("code_hash", _text(64), nullable=False),
        sa.Column("issued_by", _text(64), nullable=False),
        sa.Column("issued_at", sqltypes.Timestamp(), nullable=False),
        sa.Column("expires_at", sqltypes.Timestamp(), nullable=False),
        sa.Column("used_at", sqltypes.Timestamp(), nullable=True),
        sa.Column(
            "failures",
            sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"),
            server_default="0",
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("member_id", name=op.f("pk_svc_sign_in_codes")),
        sqlite_strict=True,
    )
    with op.batch_alter_table("svc_sign_in_codes", schema=None) as batch_op:
        batch_op.create_index("ix_svc_sign_in_codes_phone", ["phone"], unique=False)
    op.create_table(
        "svc_sign_in_code_events",
        sa.Column("id", _text(64), nullable=False),
        sa.Column("member_id", _text(64), nullable=False),
        sa.Column("community_id", _text(64), nullable=False),
        sa.Column("event", _text(16), nullable=False),
        sa.Column("purpose", _text(16), nullable=False),
        sa.Column("reason", _text(16), nullable=True),
        sa.Column("actor", _text(64), nullable=True),
        sa.Column("address", _text(64), nullable=True),
        sa.Column("at", sqltypes.Timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_svc_sign_in_code_events")),
        sqlite_strict=True,
    )
    with op.batch_alter_table("svc_sign_in_code_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_svc_sign_in_code_events_member_id_at", ["member_id", "at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("svc_sign_in_code_events", schema=None) as batch_op:
        batch_op.drop_index("ix_svc_sign_in_code_events_member_id_at")
    op.drop_table("svc_sign_in_code_events")
    with op.batch_alter_table("svc_sign_in_codes", schema=None) as batch_op:
        batch_op.drop_index("ix_svc_sign_in_codes_phone")
    op.drop_table("svc_sign_in_codes")
