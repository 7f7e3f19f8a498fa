"""The marketplace's tables (SQLAlchemy Core), beside the ledger's. Migrations create them.

Tenant tables carry ``community_id`` first in every key (distribution by community). Orgs,
members and role grants span communities (a street sees its communities; a person volunteers in
more than one) and would be reference tables in a distributed setup.
"""

from __future__ import annotations

import sqlalchemy as sa

from points import sqltypes

Int64, Text, Flag, Json, Timestamp = (
    sqltypes.Int64,
    sqltypes.Text,
    sqltypes.Flag,
    sqltypes.Json,
    sqltypes.Timestamp,
)
ID = 64
ACTIVE_CLAIMS = "state IN ('active', 'checked_in', 'checked_out')"

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _id(name: str, nullable: bool = False) -> sa.Column[str]:
    return sa.Column(name, Text(ID), nullable=nullable)


orgs = sa.Table(
    "mk_orgs",
    metadata,
    _id("id"),
    sa.Column("kind", Text(16), nullable=False),
    sa.Column("name", Text(100), nullable=False),
    _id("parent_id", nullable=True),
    _id("community_id", nullable=True),
    sa.Column("path", Text(600), nullable=False),
    sa.Column("created_at", Timestamp(), nullable=False),
    sa.PrimaryKeyConstraint("id"),
    sa.Index("ix_mk_orgs_path", "path"),
    sa.Index("ix_mk_orgs_parent", "parent_id"),
    sqlite_strict=True,
)

pairings = sa.Table(
    "mk_pairings",
    metadata,
    _id("community_id"),
    _id("unit_id"),
    sa.Column("created_at", Timestamp(), nullable=False),
    sa.PrimaryKeyConstraint("community_id", "unit_id"),
    sa.Index("ix_mk_pairings_unit", "unit_id"),
    sqlite_strict=True,
)

members = sa.Table(
    "mk_members",
    metadata,
    _id("id"),
    sa.Column("name", Text(50), nullable=False),
    sa.Column("phone", Text(20), nullable=True),
    _id("home_org_id", nullable=True),
    _id("home_unit_id", nullable=True),
    sa.Column("skills", Json(), nullable=False),
    sa.Column("key_household", Json(), nullable=False),
    sa.Column("key_household_consent", Json(), nullable=True),
    sa.Column("public_profile", Flag(), nullable=False),
    sa.Column("created_at", Timestamp(), nullable=False),
    sa.PrimaryKeyConstraint("id"),
    sa.Index("ix_mk_members_phone", "phone"),
    sqlite_strict=True,
)

roles = sa.Table(
    "mk_roles",
    metadata,
    _id("org_id"),
    _id("member_id"),
    sa.Column("role", Text(16), nullable=False),
    _id("granted_by"),
    sa.Column("granted_at", Timestamp(), nullable=False),
    sa.PrimaryKeyConstraint("org_id", "member_id", "role"),
    sa.Index("ix_mk_roles_member", "member_id"),
    sqlite_strict=True,
)

settings = sa.Table(
    "mk_settings",
    metadata,
    _id("community_id"),
    sa.Column("body", Json(), nullable=False),
    sa.Column("updated_at", Timestamp(), nullable=False),
    sa.PrimaryKeyConstraint("community_id"),
    sqlite_strict=True,
)

wishes = sa.Table(
    "mk_wishes",
    metadata,
    _id("community_id"),
    _id("id"),
    sa.Column("kind", Text(8), nullable=False),
    sa.Column("category", Text(32), nullable=False),
    sa.Column("title", Text(100), nullable=False),
    sa.Column("description", Text(2000), nullable=False),
    _id("org_id"),
    sa.Column("address", Text(200), nullable=False),
    sa.Column("location", Json(), nullable=True),
    sa.Column("window_start", Timestamp(), nullable=False),
    sa.Column("window_end", Timestamp(), nullable=False),
    sa.Column("capacity", Int64, nullable=False),
    sa.Column("estimated_minutes", Int64, nullable=False),
    sa.Column("urgency", Int64, nullable=False),
    sa.Column("skills", Json(), nullable=False),
    _id("beneficiary_id"),
    _id("posted_by"),
    sa.Column("proxy_note", Text(500), nullable=True),
    _id("offer_id", nullable=True),
    sa.Column("state", Text(16), nullable=False),
    sa.Column("level", Int64, nullable=False, server_default="0"),
    sa.Column("deadline_at", Timestamp(), nullable=True),
    sa.Column("places_taken", Int64, nullable=False, server_default="0"),
    sa.Column("confirmation_code", Text(6), nullable=False),
    sa.Column("rating", Int64, nullable=True),
    sa.Column("rating_comment", Text(500), nullable=True),
    sa.Column("created_at", Timestamp(), nullable=False),
    sa.Column("published_at", Timestamp(), nullable=True),
    sa.Column("first_claimed_at", Timestamp(), nullable=True),
    sa.Column("served_at", Timestamp(), nullable=True),
    sa.Column("closed_at", Timestamp(), nullable=True),
    sa.PrimaryKeyConstraint("community_id", "id"),
    sa.CheckConstraint("capacity BETWEEN 1 AND 100", name="capacity_bounds"),
    sa.CheckConstraint("places_taken BETWEEN 0 AND capacity", name="places_within_capacity"),
    sa.CheckConstraint("rating IS NULL OR rating BETWEEN 1 AND 5", name="rating_bounds"),
    sa.Index("ix_mk_wishes_board", "community_id", "state", "created_at"),
    sa.Index("ix_mk_wishes_due", "deadline_at"),
    # the expiry sweep: published wishes whose window has ended
    sa.Index(
        "ix_mk_wishes_window_end",
        "window_end",
        sqlite_where=sa.text("state = 'published'"),
        postgresql_where=sa.text("state = 'published'"),
    ),
    sqlite_strict=True,
)

claims = sa.Table(
    "mk_claims",
    metadata,
    _id("community_id"),
    _id("id"),
    _id("wish_id"),
    _id("member_id", nullable=True),
    _id("unit_id", nullable=True),
    sa.Column("places", Int64, nullable=False),
    _id("parent_id", nullable=True),
    sa.Column("state", Text(16), nullable=False),
    sa.Column("checked_in_at", Timestamp(), nullable=True),
    sa.Column("checked_out_at", Timestamp(), nullable=True),
    # 离线报到/签退: the time is the phone's, sent when the network came back
    sa.Column("checked_in_offline", Flag(), nullable=False, server_default=sa.false()),
    sa.Column("checked_out_offline", Flag(), nullable=False, server_default=sa.false()),
    sa.Column("minutes", Int64, nullable=True),
    _id("override_by", nullable=True),
    _id("award_id", nullable=True),
    sa.Column("created_at", Timestamp(), nullable=False),
    sa.Column("closed_at", Timestamp(), nullable=True),
    sa.PrimaryKeyConstraint("community_id", "id"),
    sa.ForeignKeyConstraint(
        ["community_id", "wish_id"], ["mk_wishes.community_id", "mk_wishes.id"]
    ),
    sa.CheckConstraint("places BETWEEN 0 AND 100", name="places_bounds"),
    sa.Index("ix_mk_claims_wish", "community_id", "wish_id"),
    sa.Index("ix_mk_claims_member", "member_id", "state"),
    # the no-show sweep: claims still active (not yet checked in)
    sa.Index(
        "ix_mk_claims_active",
        "community_id",
        "wish_id",
        sqlite_where=sa.text("state = 'active'"),
        postgresql_where=sa.text("state = 'active'"),
    ),
    sa.Index(
        "uq_mk_claims_one_active_per_member",
        "community_id",
        "wish_id",
        "member_id",
        unique=True,
        sqlite_where=sa.text(ACTIVE_CLAIMS + " AND member_id IS NOT NULL"),
        postgresql_where=sa.text(ACTIVE_CLAIMS + " AND member_id IS NOT NULL"),
    ),
    sqlite_strict=True,
)

member_load = sa.Table(
    "mk_member_load",
    metadata,
    _id("community_id"),
    _id("member_id"),
    sa.Column("open_claims", Int64, nullable=False, server_default="0"),
    sa.Column("no_shows", Int64, nullable=False, server_default="0"),
    sa.PrimaryKeyConstraint("community_id", "member_id"),
    sa.CheckConstraint("open_claims >= 0", name="open_claims_not_negative"),
    sqlite_strict=True,
)

transitions = sa.Table(
    "mk_transitions",
    metadata,
    _id("community_id"),
    _id("id"),
    sa.Column("subject", Text(8), nullable=False),
    _id("subject_id"),
    sa.Column("action", Text(32), nullable=False),
    sa.Column("from_state", Text(16), nullable=False),
    sa.Column("to_state", Text(16), nullable=False),
    _id("actor_id"),
    sa.Column("roles", Json(), nullable=False),
    sa.Column("reason", Text(500), nullable=False),
    sa.Column("at", Timestamp(), nullable=False),
    sa.PrimaryKeyConstraint("community_id", "id"),
    sa.Index("ix_mk_transitions_subject", "community_id", "subject_id"),
    sa.Index("ix_mk_transitions_period", "community_id", "action", "at"),
    sqlite_strict=True,
)

offers = sa.Table(
    "mk_offers",
    metadata,
    _id("community_id"),
    _id("id"),
    _id("member_id"),
    sa.Column("category", Text(32), nullable=False),
    sa.Column("title", Text(100), nullable=False),
    sa.Column("schedule", Text(200), nullable=False),
    sa.Column("capacity_per_week", Int64, nullable=False),
    sa.Column("active", Flag(), nullable=False),
    sa.Column("created_at", Timestamp(), nullable=False),
    sa.PrimaryKeyConstraint("community_id", "id"),
    sa.CheckConstraint("capacity_per_week BETWEEN 1 AND 100", name="capacity_bounds"),
    sqlite_strict=True,
)
