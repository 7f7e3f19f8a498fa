"""Recommendations narrowed in SQL (issue 14): a wish carries whether its resident is a key
household (重点家庭, copied from mk_members), and an index orders the wishes open for claims by
urgency, key household, start and id; a second finds a resident's wishes when staff record the
key household.

Revision ID: m0003
Revises: m0002
Create Date: 2026-12-07 14:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from points import sqltypes

revision: str = "m0003"
down_revision: str | Sequence[str] | None = "m0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN_FOR_CLAIMS = "state IN ('in_service', 'published')"


def upgrade() -> None:
    # ALTER TABLE … ADD COLUMN on both (a batch would copy mk_wishes, which mk_claims refers to)
    op.add_column(
        "mk_wishes",
        sa.Column("key_household", sqltypes.Flag(), nullable=False, server_default=sa.false()),
    )
    op.execute(
        "UPDATE mk_wishes SET key_household = "
        + ("true" if op.get_bind().dialect.name == "postgresql" else "1")
        + " WHERE beneficiary_id IN (SELECT id FROM mk_members WHERE key_household <> '[]')"
    )
    op.create_index(
        "ix_mk_wishes_match",
        "mk_wishes",
        ["community_id", "urgency", "key_household", "window_start", "id", "org_id"],
        unique=False,
        sqlite_where=sa.text(OPEN_FOR_CLAIMS),
        postgresql_where=sa.text(OPEN_FOR_CLAIMS),
    )
    op.create_index("ix_mk_wishes_beneficiary", "mk_wishes", ["beneficiary_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_mk_wishes_beneficiary", "mk_wishes")
    op.drop_index("ix_mk_wishes_match", "mk_wishes")
    op.drop_column("mk_wishes", "key_household")
