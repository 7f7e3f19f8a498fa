"""吹哨报到 on demand: matters (吹哨事项) with their 三单 milestones, and the official calendar days an
admin loads for a year the calendar package does not cover. New tables, nothing rewritten.

Revision ID: m0011
Revises: m0010
Create Date: 2026-12-07 16:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from points import sqltypes

revision: str = "m0011"
down_revision: str | Sequence[str] | None = "m0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = sa.text("state IN ('raised', 'accepted', 'assigned')")


def _text(name: str, length: int, nullable: bool = False) -> sa.Column[str]:
    return sa.Column(
        name, sa.String(length=length).with_variant(sa.TEXT(), "sqlite"), nullable=nullable
    )


def _int(name: str, nullable: bool = False) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), nullable=nullable)


def _at(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sqltypes.Timestamp(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "mk_matters",
        _text("community_id", 64),
        _text("id", 64),
        _text("wish_id", 64),
        _int("level"),
        _text("org_id", 64),
        _text("state", 16),
        _text("kind", 16, nullable=True),
        _text("reason", 500),
        _text("raised_by", 64),
        _at("raised_at"),
        _text("handler_id", 64),
        _at("received_at"),
        _at("respond_by"),
        _at("responded_at", nullable=True),
        _text("unit_id", 64, nullable=True),
        _at("deadline_at", nullable=True),
        _text("answer", 1000, nullable=True),
        _text("explanation", 1000, nullable=True),
        _at("done_at", nullable=True),
        sa.Column("on_time", sqltypes.Flag(), nullable=True),
        _text("rated_by", 64, nullable=True),
        _at("rated_at", nullable=True),
        _int("satisfaction", nullable=True),
        _text("rating_comment", 500, nullable=True),
        sa.CheckConstraint("level BETWEEN 1 AND 2", name=op.f("ck_mk_matters_level_bounds")),
        sa.CheckConstraint(
            "satisfaction IS NULL OR satisfaction BETWEEN 1 AND 5",
            name=op.f("ck_mk_matters_satisfaction_bounds"),
        ),
        sa.ForeignKeyConstraint(
            ["community_id", "wish_id"],
            ["mk_wishes.community_id", "mk_wishes.id"],
            name=op.f("fk_mk_matters_community_id_wish_id"),
        ),
        sa.PrimaryKeyConstraint("community_id", "id", name=op.f("pk_mk_matters")),
        sqlite_strict=True,
    )
    op.create_index("ix_mk_matters_queue", "mk_matters", ["handler_id", "state", "deadline_at"])
    op.create_index("ix_mk_matters_received", "mk_matters", ["handler_id", "received_at"])
    op.create_index("ix_mk_matters_level", "mk_matters", ["org_id", "state"])
    op.create_index("ix_mk_matters_wish", "mk_matters", ["community_id", "wish_id"])
    op.create_index(
        "uq_mk_matters_one_open_per_wish",
        "mk_matters",
        ["community_id", "wish_id"],
        unique=True,
        sqlite_where=OPEN,
        postgresql_where=OPEN,
    )
    op.create_table(
        "mk_milestones",
        _text("community_id", 64),
        _text("matter_id", 64),
        _int("n"),
        _text("title", 100),
        _text("due_on", 10),
        _at("done_at", nullable=True),
        _text("note", 500, nullable=True),
        sa.PrimaryKeyConstraint("community_id", "matter_id", "n", name=op.f("pk_mk_milestones")),
        sqlite_strict=True,
    )
    op.create_table(
        "mk_calendar_days",
        _int("year"),
        _text("day", 10),
        sa.Column("workday", sqltypes.Flag(), nullable=False),
        _text("name", 50),
        sa.PrimaryKeyConstraint("year", "day", name=op.f("pk_mk_calendar_days")),
        sqlite_strict=True,
    )
    op.create_table(
        "mk_calendar_years",
        _int("year"),
        _text("source", 200),
        _text("loaded_by", 64),
        _at("loaded_at"),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_mk_calendar_years")),
        sqlite_strict=True,
    )


def downgrade() -> None:
    op.drop_table("mk_calendar_years")
    op.drop_table("mk_calendar_days")
    op.drop_table("mk_milestones")
    op.drop_index(
        "uq_mk_matters_one_open_per_wish",
        table_name="mk_matters",
        sqlite_where=OPEN,
        postgresql_where=OPEN,
    )
    op.drop_index("ix_mk_matters_wish", table_name="mk_matters")
    op.drop_index("ix_mk_matters_received", table_name="mk_matters")
    op.drop_index("ix_mk_matters_level", table_name="mk_matters")
    op.drop_index("ix_mk_matters_queue", table_name="mk_matters")
    op.drop_table("mk_matters")
