"""The service's tables: sign-in credentials, idempotency keys, member preferences.

Revision ID: s0001
Revises:
Create Date: 2026-11-26 11:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from points import sqltypes

revision: str = "s0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("service",)
depends_on: str | Sequence[str] | None = "m0001"


def _text(length: int | None = None) -> sa.types.TypeEngine[str]:
    base: sa.types.TypeEngine[str] = sa.String(length=length) if length else sa.Text()
    return base.with_variant(sa.TEXT(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "svc_credentials",
        sa.Column("member_id", _text(64), nullable=False),
        sa.Column("phone", _text(20), nullable=False),
        sa.Column("password_hash", _text(200), nullable=False),
        sa.Column(
            "token_version",
            sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"),
            server_default="0",
            nullable=False,
        ),
        sa.Column("updated_at", sqltypes.Timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("member_id", name=op.f("pk_svc_credentials")),
        sa.UniqueConstraint("phone", name="uq_svc_credentials_phone"),
        sqlite_strict=True,
    )
    op.create_table(
        "svc_idempotency_keys",
        sa.Column("member_id", _text(64), nullable=False),
        sa.Column("key", _text(255), nullable=False),
        sa.Column("fingerprint", _text(64), nullable=False),
        sa.Column(
            "status_code", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), nullable=False
        ),
        sa.Column("media_type", _text(100), nullable=False),
        sa.Column("body", _text(), nullable=False),
        sa.Column("created_at", sqltypes.Timestamp(), nullable=False),
        sa.Column("expires_at", sqltypes.Timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("member_id", "key", name=op.f("pk_svc_idempotency_keys")),
        sqlite_strict=True,
    )
    with op.batch_alter_table("svc_idempotency_keys", schema=None) as batch_op:
        batch_op.create_index("ix_svc_idempotency_keys_expires", ["expires_at"], unique=False)
    op.create_table(
        "svc_preferences",
        sa.Column("member_id", _text(64), nullable=False),
        sa.Column("elder_mode", sqltypes.Flag(), nullable=False),
        sa.Column("updated_at", sqltypes.Timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("member_id", name=op.f("pk_svc_preferences")),
        sqlite_strict=True,
    )


def downgrade() -> None:
    op.drop_table("svc_preferences")
    with op.batch_alter_table("svc_idempotency_keys", schema=None) as batch_op:
        batch_op.drop_index("ix_svc_idempotency_keys_expires")
    op.drop_table("svc_idempotency_keys")
    op.drop_table("svc_credentials")
