"""更正申请 (``mk_corrections``): a volunteer's request to correct her hours record, and staff's
decision; and on the members, when one was anonymised and when the retention sweep purged what
was left of them.

Revision ID: m0010
Revises: m0009
Create Date: 2026-12-07 16:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from points import sqltypes, utcnow

ANONYMOUS_NAME = "已注销用户"  # marketplace.people.ANONYMOUS_NAME, as it was at this revision

revision: str = "m0010"
down_revision: str | Sequence[str] | None = "m0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    def text(n: int) -> sa.types.TypeEngine[str]:
        return sqltypes.Text(n)

    op.create_table(
        "mk_corrections",
        sa.Column("community_id", text(64), nullable=False),
        sa.Column("id", text(64), nullable=False),
        sa.Column("member_id", text(64), nullable=False),
        sa.Column("reference", text(128), nullable=False),
        sa.Column("record_id", text(64), nullable=False),
        sa.Column("wish_id", text(64), nullable=True),
        sa.Column("field", text(16), nullable=False),
        sa.Column("current", text(32), nullable=False),
        sa.Column("proposed", text(32), nullable=False),
        sa.Column("reason", text(500), nullable=False),
        sa.Column("state", text(16), nullable=False),
        sa.Column("decided_by", text(64), nullable=True),
        sa.Column("decided_at", sqltypes.Timestamp(), nullable=True),
        sa.Column("decision_reason", text(500), nullable=True),
        sa.Column("reversal_ids", sqltypes.Json(), nullable=True),
        sa.Column("entry_id", text(64), nullable=True),
        sa.Column("points_reversal_id", text(64), nullable=True),
        sa.Column("award_id", text(64), nullable=True),
        sa.Column("points_before", sqltypes.Int64, nullable=True),
        sa.Column("points_after", sqltypes.Int64, nullable=True),
        sa.Column("created_at", sqltypes.Timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("community_id", "id", name=op.f("pk_mk_corrections")),
        sqlite_strict=True,
    )
    with op.batch_alter_table("mk_corrections", schema=None) as batch_op:
        batch_op.create_index(
            "ix_mk_corrections_queue", ["community_id", "state", "created_at"], unique=False
        )
        batch_op.create_index("ix_mk_corrections_member", ["member_id", "created_at"], unique=False)
        batch_op.create_index(
            "uq_mk_corrections_one_pending",
            ["community_id", "reference"],
            unique=True,
            sqlite_where=sa.text("state = 'pending'"),
            postgresql_where=sa.text("state = 'pending'"),
        )
    with op.batch_alter_table("mk_members", schema=None) as batch_op:
        batch_op.add_column(sa.Column("anonymised_at", sqltypes.Timestamp(), nullable=True))
        batch_op.add_column(sa.Column("purged_at", sqltypes.Timestamp(), nullable=True))
    # Members deleted before this revision: their retention period counts from now.
    members = sa.table(
        "mk_members",
        sa.column("name", sqltypes.Text()),
        sa.column("anonymised_at", sqltypes.Timestamp()),
    )
    op.get_bind().execute(
        members.update()
        .where(members.c.name == ANONYMOUS_NAME, members.c.anonymised_at.is_(None))
        .values(anonymised_at=utcnow())
    )


def downgrade() -> None:
    with op.batch_alter_table("mk_members", schema=None) as batch_op:
        batch_op.drop_column("purged_at")
        batch_op.drop_column("anonymised_at")
    op.drop_table("mk_corrections")
