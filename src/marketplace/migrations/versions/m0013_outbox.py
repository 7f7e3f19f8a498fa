"""通知: the outbox, its deliveries, the communities' webhooks and the members' notice settings.
New tables only; nothing rewritten.

Revision ID: m0013
Revises: m0012
Create Date: 2026-12-07 16:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from points import sqltypes

revision: str = "m0013"
down_revision: str | Sequence[str] | None = "m0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Text, Int64, Flag, Json, Timestamp = (
    sqltypes.Text,
    sqltypes.Int64,
    sqltypes.Flag,
    sqltypes.Json,
    sqltypes.Timestamp,
)


def _id(name: str, nullable: bool = False) -> sa.Column[str]:
    return sa.Column(name, Text(64), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "mk_outbox",
        _id("community_id"),
        _id("id"),
        sa.Column("type", Text(40), nullable=False),
        _id("member_id", nullable=True),
        sa.Column("key", Text(120), nullable=True),
        sa.Column("data", Json(), nullable=False),
        sa.Column("critical", Flag(), nullable=False),
        sa.Column("created_at", Timestamp(), nullable=False),
        sa.Column("read_at", Timestamp(), nullable=True),
        sa.Column("fanned", Flag(), nullable=False, server_default=sa.false()),
        sa.PrimaryKeyConstraint("community_id", "id", name=op.f("pk_mk_outbox")),
        sa.UniqueConstraint("community_id", "key", name="uq_mk_outbox_key"),
        sqlite_strict=True,
    )
    op.create_index("ix_mk_outbox_member", "mk_outbox", ["member_id", "created_at"])
    op.create_index(
        "ix_mk_outbox_new",
        "mk_outbox",
        ["created_at"],
        sqlite_where=sa.text("fanned = 0"),
        postgresql_where=sa.text("fanned = false"),
    )
    op.create_table(
        "mk_deliveries",
        _id("community_id"),
        _id("id"),
        _id("message_id"),
        sa.Column("channel", Text(16), nullable=False),
        _id("target"),
        sa.Column("state", Text(8), nullable=False),
        sa.Column("attempts", Int64, nullable=False),
        sa.Column("next_at", Timestamp(), nullable=False),
        sa.Column("lease_until", Timestamp(), nullable=True),
        sa.Column("last_error", Text(500), nullable=True),
        sa.Column("sent_at", Timestamp(), nullable=True),
        sa.Column("created_at", Timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("community_id", "id", name=op.f("pk_mk_deliveries")),
        sqlite_strict=True,
    )
    op.create_index(
        "ix_mk_deliveries_due",
        "mk_deliveries",
        ["next_at"],
        sqlite_where=sa.text("state = 'pending'"),
        postgresql_where=sa.text("state = 'pending'"),
    )
    op.create_index(
        "ix_mk_deliveries_state", "mk_deliveries", ["community_id", "state", "created_at"]
    )
    op.create_table(
        "mk_webhooks",
        _id("community_id"),
        _id("id"),
        sa.Column("url", Text(500), nullable=False),
        sa.Column("secret", Text(200), nullable=False),
        sa.Column("own_system", Flag(), nullable=False),
        sa.Column("active", Flag(), nullable=False),
        _id("created_by"),
        sa.Column("created_at", Timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("community_id", "id", name=op.f("pk_mk_webhooks")),
        sqlite_strict=True,
    )
    op.create_table(
        "mk_notice_prefs",
        _id("member_id"),
        sa.Column("sms_off", Flag(), nullable=False),
        sa.Column("webhook_off", Flag(), nullable=False),
        sa.Column("quiet_from", Int64, nullable=False),
        sa.Column("quiet_to", Int64, nullable=False),
        sa.Column("updated_at", Timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("member_id", name=op.f("pk_mk_notice_prefs")),
        sqlite_strict=True,
    )


def downgrade() -> None:
    op.drop_table("mk_notice_prefs")
    op.drop_table("mk_webhooks")
    op.drop_index("ix_mk_deliveries_state", table_name="mk_deliveries")
    op.drop_index("ix_mk_deliveries_due", table_name="mk_deliveries")
    op.drop_table("mk_deliveries")
    op.drop_index("ix_mk_outbox_new", table_name="mk_outbox")
    op.drop_index("ix_mk_outbox_member", table_name="mk_outbox")
    op.drop_table("mk_outbox")
