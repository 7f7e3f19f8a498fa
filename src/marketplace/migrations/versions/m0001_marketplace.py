"""The marketplace schema: orgs, members, roles, rules, wishes, claims, transitions, offers.

Revision ID: m0001
Revises:
Create Date: 2026-11-23 08:25:18.667133
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from points import sqltypes

revision: str = "m0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("marketplace",)
depends_on: str | Sequence[str] | None = "0001"


def upgrade() -> None:

    op.create_table(
        "mk_member_load",
        sa.Column(
            "community_id", sa.String(length=64).with_variant(sa.TEXT(), "sqlite"), nullable=False
        ),
        sa.Column(
            "member_id", sa.String(length=64).with_variant(sa.TEXT(), "sqlite"), nullable=False
        ),
        sa.Column(
            "open_claims",
            sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"),
            server_default="0",
            nullable=False,
        ),
        sa.Column(
            "no_shows",
            sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"),
            server_default="0",
            nullable=False,
        ),
        sa.CheckConstraint(
            "open_claims >= 0", name=op.f("ck_mk_member_load_open_claims_not_negative")
        ),
        sa.PrimaryKeyConstraint("community_id", "member_id", name=op.f("pk_mk_member_load")),
        sqlite_strict=True,
    )
    op.create_table(
        "mk_members",
        sa.Column("id", sa.String(length=64).with_variant(sa.TEXT(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=50).with_variant(sa.TEXT(), "sqlite"), nullable=False),
        sa.Column("phone", sa.String(length=20).with_variant(sa.TEXT(), "sqlite"), nullable=True),
        sa.Column(
            "home_org_id", sa.String(length=64).with_variant(sa.TEXT(), "sqlite"), nullable=True
        ),
        sa.Column(
            "home_unit_id", sa.String(length=64).with_variant(sa.TEXT(), "sqlite"), nullable=True
        ),
        sa.Column("skills", sqltypes.Json(), nullable=False),
        sa.Column("key_household", sqltypes.Json(), nullable=False),
        sa.Column("key_household_consent", sqltypes.Json(), nullable=True),
        sa.Column("public_profile", sqltypes.Flag(), nullable=False),
        sa.Column("created_at", sqltypes.Timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mk_members")),
        sqlite_strict=True,
    )
    with op.batch_alter_table("mk_members", schema=None) as batch_op:
        batch_op.create_index("ix_mk_members_phone", ["phone"], unique=False)

    op.create_table(
        "mk_offers",
        sa.Column(
            "community_id", sa.String(length=64).with_variant(sa.TEXT(), "sqlite"), nullable=False
        ),
        sa.Column("id", sa.String(length=64).with_variant(sa.TEXT(), "sqlite"), nullable=False),
        sa.Column(
            "member_id", sa.String(length=64).with_variant(sa.TEXT(), "sqlite"), nullable=False
        ),
        sa.Column(
            "category", sa.String(length=32).with_variant(sa.TEXT(), "sqlite"), nullable=False
        ),
        sa.Column("title", sa.String(length=100).with_variant(sa.TEXT(), "sqlite"), nullable=False),
        sa.Column(
            "schedule", sa.String(length=200).with_variant(sa.TEXT(), "sqlite"), nullable=False
        ),
        sa.Column(
            "capacity_per_week",
            sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"),
            nullable=False,
        ),
        sa.Column("active", sqltypes.Flag(), nullable=False),
        sa.Column("created_at", sqltypes.Timestamp(), nullable=False),
        sa.CheckConstraint(
            "capacity_per_week BETWEEN 1 AND 100", name=op.f("ck_mk_offers_capacity_bounds")
        ),
        sa.PrimaryKeyConstraint("community_id", "id", name=op.f("pk_mk_offers")),
        sqlite_strict=True,
    )
    op.create_table(
        "mk_orgs",
        sa.Column("id", sa.String(length=64).with_variant(sa.TEXT(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=16).with_variant(sa.TEXT(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=100).with_variant(sa.TEXT(), "sqlite"), nullable=False),
        sa.Column(
            "parent_id", sa.String(length=64).with_variant(sa.TEXT(), "sqlite"), nullable=True
        ),
        sa.Column(
            "community_id", sa.String(length=64).with_variant(sa.TEXT(), "sqlite"), nullable=True
        ),
        sa.Column("path", sa.String(length=600).with_variant(sa.TEXT(), "sqlite"), nullable=False),
        sa.Column("created_at", sqltypes.Timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mk_orgs")),
        sqlite_strict=True,
    )
    with op.batch_alter_table("mk_orgs", schema=None) as batch_op:
        batch_op.create_index("ix_mk_orgs_parent", ["parent_id"], unique=False)
        batch_op.create_index("ix_mk_orgs_path", ["path"], unique=False)

    op.create_table(
        "mk_pairings",
        sa.Column(
            "community_id", sa.String(length=64).with_variant(sa.TEXT(), "sqlite"), nullable=False
        ),
        sa.Column(
            "unit_id", sa.String(length=64).with_variant(sa.TEXT(), "sqlite"), nullable=False
        ),
        sa.Column("created_at", sqltypes.Timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("community_id", "unit_id", name=op.f("pk_mk_pairings")),
        sqlite_strict=True,
    )
    with op.batch_alter_table("mk_pairings", schema=None) as batch_op:
        batch_op.create_index("ix_mk_pairings_unit", ["unit_id"], unique=False)

    op.create_table(
        "mk_roles",
        sa.Column("org_id", sa.String(length=64).with_variant(sa.TEXT(), "sqlite"), nullable=False),
        sa.Column(
            "member_id", sa.String(length=64).with_variant(sa.TEXT(), "sqlite"), nullable=False
        ),
        sa.Column("role", sa.String(length=16).with_variant(sa.TEXT(), "sqlite"), nullable=False),
        sa.Column(
            "granted_by", sa.String(length=64).with_variant(sa.TEXT(), "sqlite"), nullable=False
        ),
        sa.Column("granted_at", sqltypes.Timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "member_id", "role", name=op.f("pk_mk_roles")),
        sqlite_strict=True,
    )
    with op.batch_alter_table("mk_roles", schema=None) as batch_op:
        batch_op.create_index("ix_mk_roles_member", ["member_id"], unique=False)

    op.create_table(
        "mk_settings",
        sa.Column(
            "community_id", sa.String(length=64).with_variant(sa.TEXT(), "sqlite"), nullable=False
        ),
        sa.Column("body", sqltypes.Json(), nullable=False),
        sa.Column("updated_at", sqltypes.Timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("community_id", name=op.f("pk_mk_settings")),
        sqlite_strict=True,
    )
    op.create_table(
        "mk_transitions",
        sa.Column(
            "community_id", sa.String(length=64).with_variant(sa.TEXT(), "sqlite"), nullable=False
        ),
        sa.Column("id", sa.String(length=64).with_variant(sa.TEXT(), "sqlite"), nullable=False),
        sa.Column("subject", sa.String(length=8).with_variant(sa.TEXT(), "sqlite"), nullable=False),
        sa.Column(
            "subject_id", sa.String(length=64).with_variant(sa.TEXT(), "sqlite"), nullable=False
        ),
        sa.Column("action", sa.String(length=32).with_variant(sa.TEXT(), "sqlite"), nullable=False),
        sa.Column(
            "from_state", sa.String(length=16).with_variant(sa.TEXT(), "sqlite"), nullable=False
        ),
        sa.Column(
            "to_state", sa.String(length=16).with_variant(sa.TEXT(), "sqlite"), nullable=False
        ),
        sa.Column(
            "actor_id", sa.String(length=64).with_variant(sa.TEXT(), "sqlite"), nullable=False
        ),
        sa.Column("roles", sqltypes.Json(), nullable=False),
        sa.Column(
            "reason", sa.String(length=500).with_variant(sa.TEXT(), "sqlite"), nullable=False
        ),
        sa.Column("at", sqltypes.Timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("community_id", "id", name=op.f("pk_mk_transitions")),
        sqlite_strict=True,
    )
    with op.batch_alter_table("mk_transitions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_mk_transitions_period", ["community_id", "action", "at"], unique=False
        )
        batch_op.create_index(
            "ix_mk_transitions_subject", ["community_id", "subject_id"], unique=False
        )

    op.create_table(
        "mk_wishes",
        sa.Column(
            "community_id", sa.String(length=64).with_variant(sa.TEXT(), "sqlite"), nullable=False
        ),
        sa.Column("id", sa.String(length=64).with_variant(sa.TEXT(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=8).with_variant(sa.TEXT(), "sqlite"), nullable=False),
        sa.Column(
            "category", sa.String(length=32).with_variant(sa.TEXT(), "sqlite"), nullable=False
        ),
        sa.Column("title", sa.String(length=100).with_variant(sa.TEXT(), "sqlite"), nullable=False),
        sa.Column(
            "description", sa.String(length=2000).with_variant(sa.TEXT(), "sqlite"), nullable=False
        ),
        sa.Column("org_id", sa.String(length=64).with_variant(sa.TEXT(), "sqlite"), nullable=False),
        sa.Column(
            "address", sa.String(length=200).with_variant(sa.TEXT(), "sqlite"), nullable=False
        ),
        sa.Column("location", sqltypes.Json(), nullable=True),
        sa.Column("window_start", sqltypes.Timestamp(), nullable=False),
        sa.Column("window_end", sqltypes.Timestamp(), nullable=False),
        sa.Column("capacity", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), nullable=False),
        sa.Column(
            "estimated_minutes",
            sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"),
            nullable=False,
        ),
        sa.Column("urgency", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), nullable=False),
        sa.Column("skills", sqltypes.Json(), nullable=False),
        sa.Column(
            "beneficiary_id", sa.String(length=64).with_variant(sa.TEXT(), "sqlite"), nullable=False
        ),
        sa.Column(
            "posted_by", sa.String(length=64).with_variant(sa.TEXT(), "sqlite"), nullable=False
        ),
        sa.Column(
            "proxy_note", sa.String(length=500).with_variant(sa.TEXT(), "sqlite"), nullable=True
        ),
        sa.Column(
            "offer_id", sa.String(length=64).with_variant(sa.TEXT(), "sqlite"), nullable=True
        ),
        sa.Column("state", sa.String(length=16).with_variant(sa.TEXT(), "sqlite"), nullable=False),
        sa.Column(
            "level",
            sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"),
            server_default="0",
            nullable=False,
        ),
        sa.Column("deadline_at", sqltypes.Timestamp(), nullable=True),
        sa.Column(
            "places_taken",
            sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"),
            server_default="0",
            nullable=False,
        ),
        sa.Column(
            "confirmation_code",
            sa.String(length=6).with_variant(sa.TEXT(), "sqlite"),
            nullable=False,
        ),
        sa.Column("rating", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), nullable=True),
        sa.Column(
            "rating_comment", sa.String(length=500).with_variant(sa.TEXT(), "sqlite"), nullable=True
        ),
        sa.Column("created_at", sqltypes.Timestamp(), nullable=False),
        sa.Column("published_at", sqltypes.Timestamp(), nullable=True),
        sa.Column("first_claimed_at", sqltypes.Timestamp(), nullable=True),
        sa.Column("served_at", sqltypes.Timestamp(), nullable=True),
        sa.Column("closed_at", sqltypes.Timestamp(), nullable=True),
        sa.CheckConstraint("capacity BETWEEN 1 AND 100", name=op.f("ck_mk_wishes_capacity_bounds")),
        sa.CheckConstraint(
            "places_taken BETWEEN 0 AND capacity", name=op.f("ck_mk_wishes_places_within_capacity")
        ),
        sa.CheckConstraint(
            "rating IS NULL OR rating BETWEEN 1 AND 5", name=op.f("ck_mk_wishes_rating_bounds")
        ),
        sa.PrimaryKeyConstraint("community_id", "id", name=op.f("pk_mk_wishes")),
        sqlite_strict=True,
    )
    with op.batch_alter_table("mk_wishes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_mk_wishes_board", ["community_id", "state", "created_at"], unique=False
        )
        batch_op.create_index("ix_mk_wishes_due", ["deadline_at"], unique=False)

    op.create_table(
        "mk_claims",
        sa.Column(
            "community_id", sa.String(length=64).with_variant(sa.TEXT(), "sqlite"), nullable=False
        ),
        sa.Column("id", sa.String(length=64).with_variant(sa.TEXT(), "sqlite"), nullable=False),
        sa.Column(
            "wish_id", sa.String(length=64).with_variant(sa.TEXT(), "sqlite"), nullable=False
        ),
        sa.Column(
            "member_id", sa.String(length=64).with_variant(sa.TEXT(), "sqlite"), nullable=True
        ),
        sa.Column("unit_id", sa.String(length=64).with_variant(sa.TEXT(), "sqlite"), nullable=True),
        sa.Column("places", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), nullable=False),
        sa.Column(
            "parent_id", sa.String(length=64).with_variant(sa.TEXT(), "sqlite"), nullable=True
        ),
        sa.Column("state", sa.String(length=16).with_variant(sa.TEXT(), "sqlite"), nullable=False),
        sa.Column("checked_in_at", sqltypes.Timestamp(), nullable=True),
        sa.Column("checked_out_at", sqltypes.Timestamp(), nullable=True),
        sa.Column("minutes", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), nullable=True),
        sa.Column(
            "override_by", sa.String(length=64).with_variant(sa.TEXT(), "sqlite"), nullable=True
        ),
        sa.Column(
            "award_id", sa.String(length=64).with_variant(sa.TEXT(), "sqlite"), nullable=True
        ),
        sa.Column("created_at", sqltypes.Timestamp(), nullable=False),
        sa.Column("closed_at", sqltypes.Timestamp(), nullable=True),
        sa.CheckConstraint("places BETWEEN 0 AND 100", name=op.f("ck_mk_claims_places_bounds")),
        sa.ForeignKeyConstraint(
            ["community_id", "wish_id"],
            ["mk_wishes.community_id", "mk_wishes.id"],
            name=op.f("fk_mk_claims_community_id_wish_id"),
        ),
        sa.PrimaryKeyConstraint("community_id", "id", name=op.f("pk_mk_claims")),
        sqlite_strict=True,
    )
    with op.batch_alter_table("mk_claims", schema=None) as batch_op:
        batch_op.create_index("ix_mk_claims_member", ["member_id", "state"], unique=False)
        batch_op.create_index("ix_mk_claims_wish", ["community_id", "wish_id"], unique=False)
        batch_op.create_index(
            "uq_mk_claims_one_active_per_member",
            ["community_id", "wish_id", "member_id"],
            unique=True,
            sqlite_where=sa.text(
                "state IN ('active', 'checked_in', 'checked_out') AND member_id IS NOT NULL"
            ),
            postgresql_where=sa.text(
                "state IN ('active', 'checked_in', 'checked_out') AND member_id IS NOT NULL"
            ),
        )


def downgrade() -> None:

    with op.batch_alter_table("mk_claims", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_mk_claims_one_active_per_member",
            sqlite_where=sa.text(
                "state IN ('active', 'checked_in', 'checked_out') AND member_id IS NOT NULL"
            ),
            postgresql_where=sa.text(
                "state IN ('active', 'checked_in', 'checked_out') AND member_id IS NOT NULL"
            ),
        )
        batch_op.drop_index("ix_mk_claims_wish")
        batch_op.drop_index("ix_mk_claims_member")

    op.drop_table("mk_claims")
    with op.batch_alter_table("mk_wishes", schema=None) as batch_op:
        batch_op.drop_index("ix_mk_wishes_due")
        batch_op.drop_index("ix_mk_wishes_board")

    op.drop_table("mk_wishes")
    with op.batch_alter_table("mk_transitions", schema=None) as batch_op:
        batch_op.drop_index("ix_mk_transitions_subject")
        batch_op.drop_index("ix_mk_transitions_period")

    op.drop_table("mk_transitions")
    op.drop_table("mk_settings")
    with op.batch_alter_table("mk_roles", schema=None) as batch_op:
        batch_op.drop_index("ix_mk_roles_member")

    op.drop_table("mk_roles")
    with op.batch_alter_table("mk_pairings", schema=None) as batch_op:
        batch_op.drop_index("ix_mk_pairings_unit")

    op.drop_table("mk_pairings")
    with op.batch_alter_table("mk_orgs", schema=None) as batch_op:
        batch_op.drop_index("ix_mk_orgs_path")
        batch_op.drop_index("ix_mk_orgs_parent")

    op.drop_table("mk_orgs")
    op.drop_table("mk_offers")
    with op.batch_alter_table("mk_members", schema=None) as batch_op:
        batch_op.drop_index("ix_mk_members_phone")

    op.drop_table("mk_members")
    op.drop_table("mk_member_load")
