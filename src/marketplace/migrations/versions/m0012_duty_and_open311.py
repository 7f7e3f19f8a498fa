"""双报到 records, Open311 partners and the origin of the wishes they send; a unit's members by
index.

Revision ID: m0012
Revises: m0011
Create Date: 2026-12-07 16:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from points import sqltypes

revision: str = "m0012"
down_revision: str | Sequence[str] | None = "m0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = 64


def _id(name: str) -> sa.Column[str]:
    return sa.Column(name, sqltypes.Text(ID), nullable=False)


def upgrade() -> None:
    op.create_index("ix_mk_members_home_unit", "mk_members", ["home_unit_id"])
    op.create_table(
        "mk_duty_records",
        _id("community_id"),
        _id("id"),
        _id("member_id"),
        _id("unit_id"),
        sa.Column("kind", sqltypes.Text(16), nullable=False),
        sa.Column("at", sqltypes.Timestamp(), nullable=False),
        sa.Column("note", sqltypes.Text(500), nullable=False),
        _id("recorded_by"),
        sa.Column("created_at", sqltypes.Timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("community_id", "id", name="pk_mk_duty_records"),
        sqlite_strict=True,
    )
    op.create_index("ix_mk_duty_records_unit", "mk_duty_records", ["unit_id", "at"])
    op.create_index("ix_mk_duty_records_member", "mk_duty_records", ["member_id", "at"])
    op.create_table(
        "mk_partners",
        _id("id"),
        _id("community_id"),
        sa.Column("name", sqltypes.Text(100), nullable=False),
        sa.Column("key_hash", sqltypes.Text(64), nullable=False),
        _id("member_id"),
        _id("created_by"),
        sa.Column("created_at", sqltypes.Timestamp(), nullable=False),
        sa.Column("revoked_at", sqltypes.Timestamp(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_mk_partners"),
        sa.UniqueConstraint("key_hash", name="uq_mk_partners_key_hash"),
        sqlite_strict=True,
    )
    op.create_index("ix_mk_partners_community", "mk_partners", ["community_id"])
    op.create_table(
        "mk_wish_origins",
        _id("community_id"),
        _id("wish_id"),
        _id("partner_id"),
        sa.Column("service_code", sqltypes.Text(32), nullable=False),
        sa.Column("contact", sqltypes.Json(), nullable=False),
        sa.Column("created_at", sqltypes.Timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("community_id", "wish_id", name="pk_mk_wish_origins"),
        sqlite_strict=True,
    )
    op.create_index("ix_mk_wish_origins_partner", "mk_wish_origins", ["partner_id", "created_at"])


def downgrade() -> None:
    op.drop_table("mk_wish_origins")
    op.drop_table("mk_partners")
    op.drop_table("mk_duty_records")
    op.drop_index("ix_mk_members_home_unit", "mk_members")
