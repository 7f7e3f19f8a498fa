"""The service's own tables: sign-in credentials, one-time sign-in codes and their log,
idempotency keys and member preferences.

They sit beside the libraries' tables and are made by the service's Alembic branch
(``service/migrations``, depending on the marketplace's first revision). None is a tenant table:
a credential, a key and a preference belong to a person, not to a community.
"""

from __future__ import annotations

import sqlalchemy as sa

from points import sqltypes

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "pk": "pk_%(table_name)s",
    }
)

credentials = sa.Table(
    "svc_credentials",
    metadata,
    sa.Column("member_id", sqltypes.Text(64), nullable=False),
    sa.Column("phone", sqltypes.Text(20), nullable=False),
    sa.Column("password_hash", sqltypes.Text(200), nullable=False),
    # bumped on password change and sign-out everywhere: older tokens stop working
    sa.Column("token_version", sqltypes.Int64, nullable=False, server_default="0"),
    sa.Column("updated_at", sqltypes.Timestamp(), nullable=False),
    sa.PrimaryKeyConstraint("member_id"),
    sa.UniqueConstraint("phone", name="uq_svc_credentials_phone"),
    sqlite_strict=True,
)

idempotency_keys = sa.Table(
    "svc_idempotency_keys",
    metadata,
    sa.Column("member_id", sqltypes.Text(64), nullable=False),
    sa.Column("key", sqltypes.Text(255), nullable=False),
    sa.Column("fingerprint", sqltypes.Text(64), nullable=False),  # sha256 of method, path, body
    sa.Column("status_code", sqltypes.Int64, nullable=False),
    sa.Column("media_type", sqltypes.Text(100), nullable=False),
    sa.Column("body", sqltypes.Text(), nullable=False),
    sa.Column("created_at", sqltypes.Timestamp(), nullable=False),
    sa.Column("expires_at", sqltypes.Timestamp(), nullable=False),
    sa.PrimaryKeyConstraint("member_id", "key"),
    sa.Index("ix_svc_idempotency_keys_expires", "expires_at"),
    sqlite_strict=True,
)

preferences = sa.Table(
    "svc_preferences",
    metadata,
    sa.Column("member_id", sqltypes.Text(64), nullable=False),
    sa.Column("elder_mode", sqltypes.Flag(), nullable=False),  # 长辈模式
    sa.Column("updated_at", sqltypes.Timestamp(), nullable=False),
    sa.PrimaryKeyConstraint("member_id"),
    sqlite_strict=True,
)

sign_in_codes = sa.Table(
    "svc_sign_in_codes",
    metadata,
    # one code a member at a time (一次性验证码): a new one replaces the one before
    sa.Column("member_id", sqltypes.Text(64), nullable=False),
    sa.Column("community_id", sqltypes.Text(64), nullable=False),  # whose staff issued it
    sa.Column("purpose", sqltypes.Text(16), nullable=False),  # activate | reset
    sa.Column("phone", sqltypes.Text(20), nullable=False),  # the number it signs in with
    sa.Column("code_hash", sqltypes.Text(64), nullable=False),  # HMAC-SHA256, never the code
    sa.Column("issued_by", sqltypes.Text(64), nullable=False),
    sa.Column("issued_at", sqltypes.Timestamp(), nullable=False),
    sa.Column("expires_at", sqltypes.Timestamp(), nullable=False),
    sa.Column("used_at", sqltypes.Timestamp(), nullable=True),
    sa.Column("failures", sqltypes.Int64, nullable=False, server_default="0"),
    sa.PrimaryKeyConstraint("member_id"),
    sa.Index("ix_svc_sign_in_codes_phone", "phone"),
    sqlite_strict=True,
)

sign_in_code_events = sa.Table(
    "svc_sign_in_code_events",
    metadata,
    # every code issued, used or refused: who, when, for whom (never the code)
    sa.Column("id", sqltypes.Text(64), nullable=False),
    sa.Column("member_id", sqltypes.Text(64), nullable=False),  # for whom
    sa.Column("community_id", sqltypes.Text(64), nullable=False),
    sa.Column("event", sqltypes.Text(16), nullable=False),  # issued | used | refused
    sa.Column("purpose", sqltypes.Text(16), nullable=False),
    sa.Column("reason", sqltypes.Text(16), nullable=True),  # refused: expired | used | spent
    sa.Column("actor", sqltypes.Text(64), nullable=True),  # who: the staff, or the member
    sa.Column("address", sqltypes.Text(64), nullable=True),  # the client's address
    sa.Column("at", sqltypes.Timestamp(), nullable=False),
    sa.PrimaryKeyConstraint("id"),
    sa.Index("ix_svc_sign_in_code_events_member_id_at", "member_id", "at"),
    sqlite_strict=True,
)
