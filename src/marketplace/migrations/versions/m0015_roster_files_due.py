"""Roster files: an index for the sweep that drops the ones nobody confirmed within a day.

``marketplace.uploads.drop_unconfirmed`` reads the files still checked, oldest first; the index
holds only those (partial on ``state = 'checked'``), so the sweep never reads the files already
imported or dropped, which stay as the record of each import. A new index only.

Revision ID: m0015
Revises: m0014
Create Date: 2026-12-08 01:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "m0015"
down_revision: str | Sequence[str] | None = "m0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHECKED = "state = 'checked'"  # as marketplace.schema spells it


def upgrade() -> None:
    op.create_index(
        "ix_mk_roster_imports_checked",
        "mk_roster_imports",
        ["created_at"],
        sqlite_where=sa.text(CHECKED),
        postgresql_where=sa.text(CHECKED),
    )


def downgrade() -> None:
    op.drop_index("ix_mk_roster_imports_checked", table_name="mk_roster_imports")
