"""志愿服务记录证明: certificates issued from the hours record, who issues them (organisation,
person in charge, handler, contact, seal image), and a member's ID document kept with consent.

Revision ID: m0009
Revises: m0008
Create Date: 2026-12-07 16:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from points import sqltypes

revision: str = "m0009"
down_revision: str | Sequence[str] | None = "m0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = 64


def _id(name: str, nullable: bool = False) -> sa.Column[str]:
    return sa.Column(name, sqltypes.Text(ID), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "mk_id_documents",
        _id("member_id"),
        sa.Column("kind", sqltypes.Text(24), nullable=False),
        sa.Column("number", sqltypes.Text(32), nullable=False),
        sa.Column("consent", sqltypes.Json(), nullable=False),
        sa.Column("recorded_at", sqltypes.Timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("member_id", name=op.f("pk_mk_id_documents")),
        sqlite_strict=True,
    )
    op.create_table(
        "mk_certificate_issuers",
        _id("community_id"),
        sa.Column("organisation", sqltypes.Text(100), nullable=False),
        sa.Column("person_in_charge", sqltypes.Text(50), nullable=False),
        sa.Column("handler", sqltypes.Text(50), nullable=False),
        sa.Column("contact", sqltypes.Text(50), nullable=False),
        sa.Column("seal", sa.LargeBinary(), nullable=True),
        _id("updated_by"),
        sa.Column("updated_at", sqltypes.Timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("community_id", name=op.f("pk_mk_certificate_issuers")),
        sqlite_strict=True,
    )
    op.create_table(
        "mk_certificates",
        _id("community_id"),
        sa.Column("number", sqltypes.Text(32), nullable=False),
        _id("member_id"),
        sa.Column("period_from", sqltypes.Text(10), nullable=True),
        sa.Column("period_to", sqltypes.Text(10), nullable=False),
        sa.Column("minutes", sqltypes.Int64, nullable=False),
        sa.Column("records", sqltypes.Int64, nullable=False),
        sa.Column("digest", sqltypes.Text(64), nullable=False),
        sa.Column("body", sqltypes.Json(), nullable=False),
        _id("issued_by"),
        sa.Column("issued_at", sqltypes.Timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("community_id", "number", name=op.f("pk_mk_certificates")),
        sqlite_strict=True,
    )
    op.create_index("ix_mk_certificates_number", "mk_certificates", ["number"])
    op.create_index(
        "ix_mk_certificates_member", "mk_certificates", ["community_id", "member_id", "issued_at"]
    )
    op.create_index("ix_mk_certificates_person", "mk_certificates", ["member_id", "issued_at"])


def downgrade() -> None:
    op.drop_index("ix_mk_certificates_person", table_name="mk_certificates")
    op.drop_index("ix_mk_certificates_member", table_name="mk_certificates")
    op.drop_index("ix_mk_certificates_number", table_name="mk_certificates")
    op.drop_table("mk_certificates")
    op.drop_table("mk_certificate_issuers")
    op.drop_table("mk_id_documents")
