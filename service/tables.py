"""The service's own tables: sign-in credentials, idempotency keys and member preferences.

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
