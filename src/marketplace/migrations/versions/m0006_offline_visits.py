"""离线报到/签退: a claim records whether its check-in and check-out were taken on a phone with no
network and sent later with the phone's time.

Revision ID: m0006
Revises: m0005
Create Date: 2026-12-07 14:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from points import sqltypes

revision: str = "m0006"
down_revision: str | Sequence[str] | None = "m0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("mk_claims", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "checked_in_offline", sqltypes.Flag(), nullable=False, server_default=sa.false()
            )
        )
        batch_op.add_column(
            sa.Column(
                "checked_out_offline", sqltypes.Flag(), nullable=False, server_default=sa.false()
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("mk_claims", schema=None) as batch_op:
        batch_op.drop_column("checked_out_offline")
        batch_op.drop_column("checked_in_offline")
