"""Recommendations: an index for the cells of one place near the member (issue 14).

``marketplace.shortlist`` reads the wishes of the member's own grid, compound and building one
place at a time; with only ``ix_mk_wishes_match`` (the community's wishes of one urgency and key
household, in order) it filtered a community-wide range down to one place's rows, about 4,000
index entries a request at 100,000 open wishes. A new index only; nothing rewritten.

Revision ID: m0014
Revises: m0013
Create Date: 2026-12-07 19:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "m0014"
down_revision: str | Sequence[str] | None = "m0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN_FOR_CLAIMS = "state IN ('in_service', 'published')"  # as marketplace.schema spells it


def upgrade() -> None:
    op.create_index(
        "ix_mk_wishes_match_place",
        "mk_wishes",
        ["community_id", "org_id", "urgency", "key_household", "window_start", "id"],
        sqlite_where=sa.text(OPEN_FOR_CLAIMS),
        postgresql_where=sa.text(OPEN_FOR_CLAIMS),
    )


def downgrade() -> None:
    op.drop_index("ix_mk_wishes_match_place", table_name="mk_wishes")
