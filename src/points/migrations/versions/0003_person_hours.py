"""The hours record read per person (志愿记录): an index by member across communities, for the
star level counted from every community a person served in, and the board's 星级.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 16:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_points_service_records_person",
        "points_service_records",
        ["member_id", "community_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_points_service_records_person", table_name="points_service_records")
