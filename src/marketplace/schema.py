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
OPEN_FOR_CLAIMS = "state IN ('in_service', 'published')"
"""The wish states a free place may be taken in (``lifecycle.CLAIMABLE_WISH_STATES``), spelled as
the partial index on them is, so that a query carrying this very text may use it."""

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
    sa.Index("ix_mk_orgs_kind", "kind", "path"),  # an area's communities (the statistics)
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
    # 房号, 住址, 可服务时间: personal fields, erased with the rest on deletion
    sa.Column("room", Text(20), nullable=True),
    sa.Column("address", Text(200), nullable=True),
    sa.Column("availability", Text(200), nullable=True),
    # 删除个人信息: when the member was anonymised, and when the retention sweep purged the rest
    sa.Column("anonymised_at", Timestamp(), nullable=True),
    sa.Column("purged_at", Timestamp(), nullable=True),
    sa.PrimaryKeyConstraint("id"),
    sa.Index("ix_mk_members_phone", "phone"),
    sa.Index("ix_mk_members_home_unit", "home_unit_id"),  # a unit's members (双报到)
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
    # 重点家庭: whether the resident is a key household, copied from mk_members when the wish is
    # posted and whenever staff record it, for matching's index order; never shown
    sa.Column("key_household", Flag(), nullable=False, server_default=sa.false()),
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
    # recommendations: the wishes open for claims by the parts that depend on the wish alone
    # (urgency, key household), then in the order ties are broken (start, id); org_id last, so
    # a query for wishes near the member filters on the index before reading the row
    sa.Index(
        "ix_mk_wishes_match",
        "community_id",
        "urgency",
        "key_household",
        "window_start",
        "id",
        "org_id",
        sqlite_where=sa.text(OPEN_FOR_CLAIMS),
        postgresql_where=sa.text(OPEN_FOR_CLAIMS),
    ),
    # recommendations' cells of one place near the member (marketplace.shortlist): the place's
    # wishes of one urgency and key household, in the order ties are broken (migration m0014)
    sa.Index(
        "ix_mk_wishes_match_place",
        "community_id",
        "org_id",
        "urgency",
        "key_household",
        "window_start",
        "id",
        sqlite_where=sa.text(OPEN_FOR_CLAIMS),
        postgresql_where=sa.text(OPEN_FOR_CLAIMS),
    ),
    sa.Index("ix_mk_wishes_beneficiary", "beneficiary_id"),
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

stat_days = sa.Table(
    "mk_stat_days",
    metadata,
    _id("community_id"),
    sa.Column("day", Text(10), nullable=False),  # China-time date, YYYY-MM-DD
    sa.Column("figure", Text(32), nullable=False),
    sa.Column("key", Text(ID), nullable=False),  # a category, state, minutes, member id or ""
    sa.Column("batch", Text(ID), nullable=False),  # "" once folded, else the write's batch id
    sa.Column("n", Int64, nullable=False),
    sa.PrimaryKeyConstraint("community_id", "day", "figure", "key", "batch"),
    sa.Index(
        "ix_mk_stat_days_unfolded",
        "batch",
        sqlite_where=sa.text("batch <> ''"),
        postgresql_where=sa.text("batch <> ''"),
    ),
    sqlite_strict=True,
)
"""Day rollups of the statistics, appended by the write path and folded by a sweep
(:mod:`marketplace.rollups`)."""

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

photos = sa.Table(
    "mk_photos",
    metadata,
    _id("community_id"),
    _id("id"),
    _id("wish_id"),
    _id("claim_id", nullable=True),  # None: the resident's photo of the wish; else a check-out's
    _id("uploaded_by"),
    sa.Column("media_type", Text(16), nullable=False),
    sa.Column("width", Int64, nullable=False),
    sa.Column("height", Int64, nullable=False),
    sa.Column("size", Int64, nullable=False),
    sa.Column("content", sa.LargeBinary(), nullable=False),
    sa.Column("thumbnail_type", Text(16), nullable=False),
    sa.Column("thumbnail", sa.LargeBinary(), nullable=False),
    sa.Column("created_at", Timestamp(), nullable=False),
    sa.PrimaryKeyConstraint("community_id", "id"),
    sa.ForeignKeyConstraint(
        ["community_id", "wish_id"], ["mk_wishes.community_id", "mk_wishes.id"]
    ),
    sa.CheckConstraint("size BETWEEN 1 AND 16777216", name="size_bounds"),
    sa.Index("ix_mk_photos_wish", "community_id", "wish_id"),
    sqlite_strict=True,
)
"""Photos (照片) of a wish, kept in the database beside it: re-encoded, without metadata, with a
thumbnail (docs/architecture.md, "Photos": why not files)."""

matters = sa.Table(
    "mk_matters",
    metadata,
    _id("community_id"),
    _id("id"),
    _id("wish_id"),
    sa.Column("level", Int64, nullable=False),  # 1 street, 2 district
    _id("org_id"),  # the street or district it is at
    sa.Column("state", Text(16), nullable=False),
    sa.Column("kind", Text(16), nullable=True),  # 三单: immediate, staged, understood
    sa.Column("reason", Text(500), nullable=False),  # why the community blew the whistle
    _id("raised_by"),
    sa.Column("raised_at", Timestamp(), nullable=False),
    _id("handler_id"),  # who must act now: the level's org, or the unit it was assigned to
    sa.Column("received_at", Timestamp(), nullable=False),  # since when the handler has it
    sa.Column("respond_by", Timestamp(), nullable=False),
    sa.Column("responded_at", Timestamp(), nullable=True),
    _id("unit_id", nullable=True),  # 转派: the unit or department it was assigned to
    sa.Column("deadline_at", Timestamp(), nullable=True),
    sa.Column("answer", Text(1000), nullable=True),
    sa.Column("explanation", Text(1000), nullable=True),  # 谅解: what the resident was told
    sa.Column("done_at", Timestamp(), nullable=True),
    sa.Column("on_time", Flag(), nullable=True),
    _id("rated_by", nullable=True),
    sa.Column("rated_at", Timestamp(), nullable=True),
    sa.Column("satisfaction", Int64, nullable=True),
    sa.Column("rating_comment", Text(500), nullable=True),
    sa.PrimaryKeyConstraint("community_id", "id"),
    sa.ForeignKeyConstraint(
        ["community_id", "wish_id"], ["mk_wishes.community_id", "mk_wishes.id"]
    ),
    sa.CheckConstraint("level BETWEEN 1 AND 2", name="level_bounds"),
    sa.CheckConstraint(
        "satisfaction IS NULL OR satisfaction BETWEEN 1 AND 5", name="satisfaction_bounds"
    ),
    sa.Index("ix_mk_matters_wish", "community_id", "wish_id"),
    sa.Index("ix_mk_matters_queue", "handler_id", "state", "deadline_at"),
    sa.Index("ix_mk_matters_level", "org_id", "state"),  # a level's queue, assigned on or not
    sa.Index("ix_mk_matters_received", "handler_id", "received_at"),
    sa.Index(
        "uq_mk_matters_one_open_per_wish",
        "community_id",
        "wish_id",
        unique=True,
        sqlite_where=sa.text("state IN ('raised', 'accepted', 'assigned')"),
        postgresql_where=sa.text("state IN ('raised', 'accepted', 'assigned')"),
    ),
    sqlite_strict=True,
)
"""吹哨事项: a wish a community escalated on demand, and how the street or district handled it
(:mod:`marketplace.matters`)."""

milestones = sa.Table(
    "mk_milestones",
    metadata,
    _id("community_id"),
    _id("matter_id"),
    sa.Column("n", Int64, nullable=False),
    sa.Column("title", Text(100), nullable=False),
    sa.Column("due_on", Text(10), nullable=False),  # China date, YYYY-MM-DD
    sa.Column("done_at", Timestamp(), nullable=True),
    sa.Column("note", Text(500), nullable=True),
    sa.PrimaryKeyConstraint("community_id", "matter_id", "n"),
    sqlite_strict=True,
)
"""阶段性事项's milestones: what is due by which date, and when it was done."""

calendar_days = sa.Table(
    "mk_calendar_days",
    metadata,
    sa.Column("year", Int64, nullable=False),
    sa.Column("day", Text(10), nullable=False),  # YYYY-MM-DD
    sa.Column("workday", Flag(), nullable=False),  # 班 (a weekend day worked) or 休 (a day off)
    sa.Column("name", Text(50), nullable=False),
    sa.PrimaryKeyConstraint("year", "day"),
    sqlite_strict=True,
)
"""Official days an admin loaded for a year the calendar package does not cover: the days that
differ from the plain week (:mod:`marketplace.calendars`). Reference data, not a tenant's."""

calendar_years = sa.Table(
    "mk_calendar_years",
    metadata,
    sa.Column("year", Int64, nullable=False),
    sa.Column("source", Text(200), nullable=False),  # e.g. 国办发明电〔2026〕N号
    _id("loaded_by"),
    sa.Column("loaded_at", Timestamp(), nullable=False),
    sa.PrimaryKeyConstraint("year"),
    sqlite_strict=True,
)

member_changes = sa.Table(
    "mk_member_changes",
    metadata,
    _id("member_id"),
    _id("id"),
    _id("community_id", nullable=True),  # where the office acted; None for the member's own edit
    sa.Column("field", Text(32), nullable=False),
    sa.Column("old", Json(), nullable=True),
    sa.Column("new", Json(), nullable=True),
    _id("actor_id"),
    sa.Column("source", Text(16), nullable=False),  # profile, office, import
    _id("import_id", nullable=True),
    sa.Column("at", Timestamp(), nullable=False),
    sa.PrimaryKeyConstraint("member_id", "id"),
    sa.Index("ix_mk_member_changes_community", "community_id", "at"),
    sqlite_strict=True,
)
"""Every change of a member's profile (资料变更记录): who, when, which field, old → new
(:mod:`marketplace.profiles`). A member's deletion erases the values and keeps who and when."""

roster_imports = sa.Table(
    "mk_roster_imports",
    metadata,
    _id("community_id"),
    _id("id"),
    _id("actor_id"),
    sa.Column("filename", Text(200), nullable=False),
    sa.Column("content", sa.LargeBinary(), nullable=False),  # emptied once imported or dropped
    sa.Column("rows", Int64, nullable=False),
    sa.Column("problems", Int64, nullable=False),
    sa.Column("state", Text(16), nullable=False),  # checked, imported, dropped
    sa.Column("result", Json(), nullable=True),
    sa.Column("created_at", Timestamp(), nullable=False),
    sa.Column("finished_at", Timestamp(), nullable=True),
    sa.PrimaryKeyConstraint("community_id", "id"),
    # the sweep dropping files nobody confirmed (marketplace.uploads.drop_unconfirmed)
    sa.Index(
        "ix_mk_roster_imports_checked",
        "created_at",
        sqlite_where=sa.text("state = 'checked'"),
        postgresql_where=sa.text("state = 'checked'"),
    ),
    sqlite_strict=True,
)
"""Roster files (花名册) uploaded on the pages, kept between the preview and the confirmation
(:mod:`marketplace.roster`); the file goes once it is imported or dropped."""
corrections = sa.Table(
    "mk_corrections",
    metadata,
    _id("community_id"),
    _id("id"),
    _id("member_id"),  # whose record (the requester)
    sa.Column("reference", Text(128), nullable=False),  # the original record's (claim:<id>, …)
    _id("record_id"),  # the original hours record
    _id("wish_id", nullable=True),  # the wish the claim served, when it came from one
    sa.Column("field", Text(16), nullable=False),  # minutes | served_on | category
    sa.Column("current", Text(32), nullable=False),  # the value when asked
    sa.Column("proposed", Text(32), nullable=False),
    sa.Column("reason", Text(500), nullable=False),
    sa.Column("state", Text(16), nullable=False),  # pending | corrected | refused
    _id("decided_by", nullable=True),
    sa.Column("decided_at", Timestamp(), nullable=True),
    sa.Column("decision_reason", Text(500), nullable=True),
    # what an accepted request wrote: the hours rows and the points transfers
    sa.Column("reversal_ids", Json(), nullable=True),
    _id("entry_id", nullable=True),
    _id("points_reversal_id", nullable=True),
    _id("award_id", nullable=True),
    sa.Column("points_before", Int64, nullable=True),
    sa.Column("points_after", Int64, nullable=True),
    sa.Column("created_at", Timestamp(), nullable=False),
    sa.PrimaryKeyConstraint("community_id", "id"),
    sa.Index("ix_mk_corrections_queue", "community_id", "state", "created_at"),
    sa.Index("ix_mk_corrections_member", "member_id", "created_at"),
    sa.Index(
        "uq_mk_corrections_one_pending",
        "community_id",
        "reference",
        unique=True,
        sqlite_where=sa.text("state = 'pending'"),
        postgresql_where=sa.text("state = 'pending'"),
    ),
    sqlite_strict=True,
)
duty_records = sa.Table(
    "mk_duty_records",
    metadata,
    _id("community_id"),
    _id("id"),
    _id("member_id"),
    _id("unit_id"),  # the member's home unit when it was recorded
    sa.Column("kind", Text(16), nullable=False),
    sa.Column("at", Timestamp(), nullable=False),  # when it happened
    sa.Column("note", Text(500), nullable=False),
    _id("recorded_by"),
    sa.Column("created_at", Timestamp(), nullable=False),
    sa.PrimaryKeyConstraint("community_id", "id"),
    sa.Index("ix_mk_duty_records_unit", "unit_id", "at"),
    sa.Index("ix_mk_duty_records_member", "member_id", "at"),
    sqlite_strict=True,
)
"""双报到: what an in-service party member (在职党员) did for the community they report to, as
staff recorded it (:mod:`marketplace.duty`); the wishes they served count too, read from their
claims."""

partners = sa.Table(
    "mk_partners",
    metadata,
    _id("id"),
    _id("community_id"),  # the community its requests become wishes of (jurisdiction_id)
    sa.Column("name", Text(100), nullable=False),
    sa.Column("key_hash", Text(64), nullable=False),  # SHA-256 of the api_key, hex
    _id("member_id"),  # who its wishes are posted as
    _id("created_by"),
    sa.Column("created_at", Timestamp(), nullable=False),
    sa.Column("revoked_at", Timestamp(), nullable=True),
    sa.PrimaryKeyConstraint("id"),
    sa.UniqueConstraint("key_hash"),
    sa.Index("ix_mk_partners_community", "community_id"),
    sqlite_strict=True,
)
"""Partner systems (Open311 GeoReport v2 clients, 对接平台) and their hashed keys."""

wish_origins = sa.Table(
    "mk_wish_origins",
    metadata,
    _id("community_id"),
    _id("wish_id"),
    _id("partner_id"),
    sa.Column("service_code", Text(32), nullable=False),
    sa.Column("contact", Json(), nullable=False),  # the requester's name, phone, email: staff only
    sa.Column("created_at", Timestamp(), nullable=False),
    sa.PrimaryKeyConstraint("community_id", "wish_id"),
    sa.Index("ix_mk_wish_origins_partner", "partner_id", "created_at"),
    sqlite_strict=True,
)
"""Where a wish came from when another system sent it (Open311 intake)."""
consents = sa.Table(
    "mk_consents",
    metadata,
    _id("member_id"),
    sa.Column("purpose", Text(32), nullable=False),
    sa.Column("seq", Int64, nullable=False),
    sa.Column("given", Flag(), nullable=False),
    _id("recorded_by"),
    sa.Column("note", Text(100), nullable=False, server_default=""),
    sa.Column("recorded_at", Timestamp(), nullable=False),
    sa.PrimaryKeyConstraint("member_id", "purpose", "seq"),
    sqlite_strict=True,
)
"""Separate consents (单独同意) a member gave or withdrew, appended, never changed: the newest
row of a member and purpose is in force (:mod:`marketplace.consents`)."""

exports = sa.Table(
    "mk_exports",
    metadata,
    _id("org_id"),
    _id("id"),
    _id("actor_id"),
    sa.Column("kind", Text(16), nullable=False),
    sa.Column("period", Text(32), nullable=False),
    sa.Column("since", Timestamp(), nullable=False),
    sa.Column("until", Timestamp(), nullable=False),
    sa.Column("format", Text(8), nullable=False),
    sa.Column("rows", Int64, nullable=False),
    sa.Column("withheld", Int64, nullable=False),
    sa.Column("channel", Text(8), nullable=False),
    sa.Column("at", Timestamp(), nullable=False),
    sa.PrimaryKeyConstraint("org_id", "id"),
    sa.Index("ix_mk_exports_actor", "actor_id", "at"),
    sqlite_strict=True,
)
"""Every export (导出记录): who took what out of the system, of which area and period, when."""
id_documents = sa.Table(
    "mk_id_documents",
    metadata,
    _id("member_id"),
    sa.Column("kind", Text(24), nullable=False),  # IdKind: 居民身份证, 护照, …
    sa.Column("number", Text(32), nullable=False),  # shown masked but on a certificate's last 4
    sa.Column("consent", Json(), nullable=False),  # Consent: who recorded it, when, for what
    sa.Column("recorded_at", Timestamp(), nullable=False),
    sa.PrimaryKeyConstraint("member_id"),
    sqlite_strict=True,
)

issuers = sa.Table(
    "mk_certificate_issuers",
    metadata,
    _id("community_id"),
    sa.Column("organisation", Text(100), nullable=False),  # as printed; "": the community's name
    sa.Column("person_in_charge", Text(50), nullable=False),  # 负责人
    sa.Column("handler", Text(50), nullable=False),  # 经办人 ("": whoever issues)
    sa.Column("contact", Text(50), nullable=False),  # 联系方式
    sa.Column("seal", sa.LargeBinary(), nullable=True),  # the seal's image (PNG), or a box to stamp
    _id("updated_by"),
    sa.Column("updated_at", Timestamp(), nullable=False),
    sa.PrimaryKeyConstraint("community_id"),
    sqlite_strict=True,
)

certificates = sa.Table(
    "mk_certificates",
    metadata,
    _id("community_id"),
    sa.Column("number", Text(32), nullable=False),
    _id("member_id"),
    sa.Column("period_from", Text(10), nullable=True),  # ISO dates, served_on, both included
    sa.Column("period_to", Text(10), nullable=False),
    sa.Column("minutes", Int64, nullable=False),
    sa.Column("records", Int64, nullable=False),
    sa.Column("digest", Text(64), nullable=False),  # of the records covered: a change supersedes
    sa.Column("body", Json(), nullable=False),  # what was printed besides the person's own fields
    _id("issued_by"),
    sa.Column("issued_at", Timestamp(), nullable=False),
    sa.PrimaryKeyConstraint("community_id", "number"),
    sa.Index("ix_mk_certificates_number", "number"),  # /verify/{number}: one read, any community
    sa.Index("ix_mk_certificates_member", "community_id", "member_id", "issued_at"),
    sa.Index("ix_mk_certificates_person", "member_id", "issued_at"),
    sqlite_strict=True,
)
outbox = sa.Table(
    "mk_outbox",
    metadata,
    _id("community_id"),
    _id("id"),
    sa.Column("type", Text(40), nullable=False),
    _id("member_id", nullable=True),  # None: for the community's systems only (webhooks)
    sa.Column("key", Text(120), nullable=True),  # a timed event's, so a sweep writes it once
    sa.Column("data", Json(), nullable=False),
    sa.Column("critical", Flag(), nullable=False),  # service-critical: no opt-out
    sa.Column("created_at", Timestamp(), nullable=False),
    sa.Column("read_at", Timestamp(), nullable=True),  # the message centre's 已读
    sa.Column("fanned", Flag(), nullable=False, server_default=sa.false()),
    sa.PrimaryKeyConstraint("community_id", "id"),
    sa.UniqueConstraint("community_id", "key", name="uq_mk_outbox_key"),
    sa.Index("ix_mk_outbox_member", "member_id", "created_at"),
    sa.Index(
        "ix_mk_outbox_new",
        "created_at",
        sqlite_where=sa.text("fanned = 0"),
        postgresql_where=sa.text("fanned = false"),
    ),
    sqlite_strict=True,
)
"""通知 outbox: every event, written in the transaction of what caused it (marketplace.outbox).
A member's rows are their message centre (消息中心); the dispatcher fans each new row out to
``mk_deliveries``, one per channel that should carry it."""

deliveries = sa.Table(
    "mk_deliveries",
    metadata,
    _id("community_id"),
    _id("id"),  # the delivery id receivers drop duplicates by
    _id("message_id"),
    sa.Column("channel", Text(16), nullable=False),  # webhook | sms
    _id("target"),  # the webhook's id, or the member's
    sa.Column("state", Text(8), nullable=False),  # pending | sent | dead
    sa.Column("attempts", Int64, nullable=False),
    sa.Column("next_at", Timestamp(), nullable=False),
    sa.Column("lease_until", Timestamp(), nullable=True),  # claimed by a dispatcher until then
    sa.Column("last_error", Text(500), nullable=True),
    sa.Column("sent_at", Timestamp(), nullable=True),
    sa.Column("created_at", Timestamp(), nullable=False),
    sa.PrimaryKeyConstraint("community_id", "id"),
    sa.Index(
        "ix_mk_deliveries_due",
        "next_at",
        sqlite_where=sa.text("state = 'pending'"),
        postgresql_where=sa.text("state = 'pending'"),
    ),
    sa.Index("ix_mk_deliveries_state", "community_id", "state", "created_at"),
    sqlite_strict=True,
)

webhooks = sa.Table(
    "mk_webhooks",
    metadata,
    _id("community_id"),
    _id("id"),
    sa.Column("url", Text(500), nullable=False),
    sa.Column("secret", Text(200), nullable=False),
    sa.Column("own_system", Flag(), nullable=False),  # the community's own: may see phones
    sa.Column("active", Flag(), nullable=False),
    _id("created_by"),
    sa.Column("created_at", Timestamp(), nullable=False),
    sa.PrimaryKeyConstraint("community_id", "id"),
    sqlite_strict=True,
)

notice_prefs = sa.Table(
    "mk_notice_prefs",
    metadata,
    _id("member_id"),
    sa.Column("sms_off", Flag(), nullable=False),
    sa.Column("webhook_off", Flag(), nullable=False),
    sa.Column("quiet_from", Int64, nullable=False),  # minute of the day, community time
    sa.Column("quiet_to", Int64, nullable=False),
    sa.Column("updated_at", Timestamp(), nullable=False),
    sa.PrimaryKeyConstraint("member_id"),
    sqlite_strict=True,
)
"""A member's 通知设置: opt-outs per channel (service-critical messages still go) and SMS quiet
hours. No row: every channel on, quiet 22:00–07:00."""
