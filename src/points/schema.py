"""The ledger's tables (SQLAlchemy Core). Migrations create them; this module describes them.

Every table carries ``community_id`` and every key starts with it, so the data can be distributed
by community past one PostgreSQL server. On SQLite every table is STRICT: an integer column never
silently stores a float or a string.
"""

from __future__ import annotations

import sqlalchemy as sa

from points.model import MAX_AMOUNT
from points.sqltypes import Flag, Int64, Json, Text, Timestamp

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)
ID = 64


def _community() -> sa.Column[str]:
    return sa.Column("community_id", Text(ID), nullable=False)


accounts = sa.Table(
    "points_accounts",
    metadata,
    _community(),
    sa.Column("id", Text(ID + 8), nullable=False),
    sa.Column("kind", Text(16), nullable=False),
    sa.Column("owner_id", Text(ID), nullable=False),
    sa.Column("allow_negative", Flag(), nullable=False),
    sa.Column("max_balance", Int64, nullable=True),
    sa.Column("debits_pending", Int64, nullable=False, server_default="0"),
    sa.Column("debits_posted", Int64, nullable=False, server_default="0"),
    sa.Column("credits_pending", Int64, nullable=False, server_default="0"),
    sa.Column("credits_posted", Int64, nullable=False, server_default="0"),
    sa.Column("version", Int64, nullable=False, server_default="0"),
    sa.Column("created_at", Timestamp(), nullable=False),
    sa.PrimaryKeyConstraint("community_id", "id"),
    sa.CheckConstraint(
        "debits_pending >= 0 AND debits_posted >= 0 AND credits_pending >= 0 "
        "AND credits_posted >= 0",
        name="counters_not_negative",
    ),
    sa.CheckConstraint(
        "allow_negative OR credits_posted - debits_posted - debits_pending >= 0",
        name="no_overdraft",
    ),
    sqlite_strict=True,
)

transfers = sa.Table(
    "points_transfers",
    metadata,
    _community(),
    sa.Column("id", Text(ID), nullable=False),
    sa.Column("debit_account_id", Text(ID + 8), nullable=False),
    sa.Column("credit_account_id", Text(ID + 8), nullable=False),
    sa.Column("amount", Int64, nullable=False),
    sa.Column("kind", Text(16), nullable=False),
    sa.Column("phase", Text(16), nullable=False),
    sa.Column("pending_id", Text(ID), nullable=True),
    sa.Column("timeout_at", Timestamp(), nullable=True),
    sa.Column("expires_at", Timestamp(), nullable=True),
    sa.Column("value_date", Text(10), nullable=True),
    sa.Column("reference", Text(128), nullable=True),
    sa.Column("memo", Text(500), nullable=False, server_default=""),
    sa.Column("actor", Text(ID), nullable=False, server_default=""),
    sa.Column("detail", Json(), nullable=True),
    sa.Column("created_at", Timestamp(), nullable=False),
    # The community's hash chain (points.chain): set when the transfer is sealed, after commit.
    sa.Column("chain_seq", Int64, nullable=True),
    sa.Column("chain_hash", Text(64), nullable=True),
    sa.PrimaryKeyConstraint("community_id", "id"),
    sa.UniqueConstraint("community_id", "kind", "reference"),
    sa.UniqueConstraint("community_id", "pending_id"),
    sa.ForeignKeyConstraint(
        ["community_id", "debit_account_id"], ["points_accounts.community_id", "points_accounts.id"]
    ),
    sa.ForeignKeyConstraint(
        ["community_id", "credit_account_id"],
        ["points_accounts.community_id", "points_accounts.id"],
    ),
    sa.CheckConstraint(f"amount > 0 AND amount <= {MAX_AMOUNT}", name="amount_bounds"),
    sa.CheckConstraint("debit_account_id <> credit_account_id", name="two_accounts"),
    sa.CheckConstraint(
        "(phase IN ('post', 'void')) = (pending_id IS NOT NULL)", name="pending_link"
    ),
    sa.Index(
        "ix_points_transfers_earned",
        "community_id",
        "credit_account_id",
        "kind",
        "value_date",
    ),
    sa.Index(
        "ix_points_transfers_open_timeouts",
        "community_id",
        "timeout_at",
        sqlite_where=sa.text("phase = 'pending'"),
        postgresql_where=sa.text("phase = 'pending'"),
    ),
    # Partial, so a new (unsealed) transfer adds an entry only to the small index of the backlog.
    sa.Index(
        "ix_points_transfers_chain",
        "community_id",
        "chain_seq",
        unique=True,
        sqlite_where=sa.text("chain_seq IS NOT NULL"),
        postgresql_where=sa.text("chain_seq IS NOT NULL"),
    ),
    sa.Index(
        "ix_points_transfers_unsealed",
        "community_id",
        "created_at",
        "id",
        sqlite_where=sa.text("chain_seq IS NULL"),
        postgresql_where=sa.text("chain_seq IS NULL"),
    ),
    sqlite_strict=True,
)

chain_heads = sa.Table(
    "points_chain_heads",
    metadata,
    _community(),
    sa.Column("seq", Int64, nullable=False),  # the last sealed transfer's chain_seq (0: none)
    sa.Column("hash", Text(64), nullable=False),  # and its chain_hash
    sa.Column("sealed_at", Timestamp(), nullable=False),
    sa.PrimaryKeyConstraint("community_id"),
    sqlite_strict=True,
)

refused_transfers = sa.Table(
    "points_refused_transfers",
    metadata,
    _community(),
    sa.Column("id", Text(ID), nullable=False),
    sa.Column("debit_account_id", Text(ID + 8), nullable=False),
    sa.Column("credit_account_id", Text(ID + 8), nullable=False),
    sa.Column("amount", Int64, nullable=False),
    sa.Column("kind", Text(16), nullable=False),
    sa.Column("phase", Text(16), nullable=False),
    sa.Column("pending_id", Text(ID), nullable=True),
    sa.Column("reference", Text(128), nullable=True),
    sa.Column("reason", Text(32), nullable=False),
    sa.Column("available", Int64, nullable=False),
    sa.Column("created_at", Timestamp(), nullable=False),
    sa.PrimaryKeyConstraint("community_id", "id"),
    sqlite_strict=True,
)

entries = sa.Table(
    "points_entries",
    metadata,
    _community(),
    sa.Column("account_id", Text(ID + 8), nullable=False),
    sa.Column("seq", Int64, nullable=False),
    sa.Column("transfer_id", Text(ID), nullable=False),
    sa.Column("side", Text(8), nullable=False),
    sa.Column("balance_after", Int64, nullable=False),
    sa.Column("available_after", Int64, nullable=False),
    sa.PrimaryKeyConstraint("community_id", "account_id", "seq"),
    sa.ForeignKeyConstraint(
        ["community_id", "transfer_id"], ["points_transfers.community_id", "points_transfers.id"]
    ),
    # A refused transfer's row is deleted (ledger._undo): both databases check its entries
    # through this index, not by scanning the community's entries under the write lock.
    sa.Index("ix_points_entries_transfer", "community_id", "transfer_id"),
    sqlite_strict=True,
)

lots = sa.Table(
    "points_lots",
    metadata,
    _community(),
    sa.Column("id", Text(ID), nullable=False),  # the transfer that credited the points
    sa.Column("account_id", Text(ID + 8), nullable=False),
    sa.Column("amount", Int64, nullable=False),
    sa.Column("remaining", Int64, nullable=False),
    sa.Column("expires_at", Timestamp(), nullable=True),
    sa.Column("expiry_count", Int64, nullable=False, server_default="0"),
    sa.Column("created_at", Timestamp(), nullable=False),
    sa.PrimaryKeyConstraint("community_id", "id"),
    sa.CheckConstraint("remaining >= 0 AND remaining <= amount", name="remaining_bounds"),
    sa.Index("ix_points_lots_spend_order", "community_id", "account_id", "expires_at"),
    sa.Index(
        "ix_points_lots_due",
        "expires_at",
        sqlite_where=sa.text("remaining > 0"),
        postgresql_where=sa.text("remaining > 0"),
    ),
    sqlite_strict=True,
)

lot_uses = sa.Table(
    "points_lot_uses",
    metadata,
    _community(),
    sa.Column("transfer_id", Text(ID), nullable=False),  # the debit (or its restoring transfer)
    sa.Column("lot_id", Text(ID), nullable=False),
    sa.Column("amount", Int64, nullable=False),  # negative when points are given back
    sa.PrimaryKeyConstraint("community_id", "transfer_id", "lot_id"),
    sa.Index("ix_points_lot_uses_lot", "community_id", "lot_id"),
    sqlite_strict=True,
)

policies = sa.Table(
    "points_policies",
    metadata,
    _community(),
    sa.Column("version", Int64, nullable=False),
    sa.Column("body", Json(), nullable=False),
    sa.Column("actor", Text(ID), nullable=False),
    sa.Column("created_at", Timestamp(), nullable=False),
    sa.PrimaryKeyConstraint("community_id", "version"),
    sqlite_strict=True,
)

service_records = sa.Table(
    "points_service_records",
    metadata,
    _community(),
    sa.Column("id", Text(ID), nullable=False),
    sa.Column("member_id", Text(ID), nullable=False),
    sa.Column("category", Text(32), nullable=False),
    sa.Column("minutes", Int64, nullable=False),  # negative only in a correction
    sa.Column("served_on", Text(10), nullable=False),  # ISO date, local to the community
    sa.Column("reference", Text(128), nullable=False),
    sa.Column("actor", Text(ID), nullable=False),
    sa.Column("memo", Text(500), nullable=False, server_default=""),
    sa.Column("created_at", Timestamp(), nullable=False),
    sa.PrimaryKeyConstraint("community_id", "id"),
    sa.UniqueConstraint("community_id", "reference"),
    sa.CheckConstraint("minutes BETWEEN -100000 AND 100000", name="minutes_bounds"),
    sa.Index("ix_points_service_records_member", "community_id", "member_id", "served_on"),
    # the record of a person across communities (志愿记录, star level, the board's 星级)
    sa.Index("ix_points_service_records_person", "member_id", "community_id"),
    sqlite_strict=True,
)

catalog_items = sa.Table(
    "points_catalog_items",
    metadata,
    _community(),
    sa.Column("id", Text(ID), nullable=False),
    sa.Column("name", Text(100), nullable=False),
    sa.Column("kind", Text(16), nullable=False),  # goods | service
    sa.Column("cost", Int64, nullable=False),
    sa.Column("stock", Int64, nullable=True),  # None: unlimited (a service)
    sa.Column("per_member_limit", Int64, nullable=True),
    sa.Column("limit_period", Text(8), nullable=False),  # day | week | month | year | ever
    sa.Column("valid_from", Timestamp(), nullable=True),
    sa.Column("valid_until", Timestamp(), nullable=True),
    sa.Column("active", Flag(), nullable=False),
    sa.Column("created_at", Timestamp(), nullable=False),
    sa.PrimaryKeyConstraint("community_id", "id"),
    sa.CheckConstraint(f"cost > 0 AND cost <= {MAX_AMOUNT}", name="cost_bounds"),
    sa.CheckConstraint("stock IS NULL OR stock >= 0", name="stock_not_negative"),
    sqlite_strict=True,
)

orders = sa.Table(
    "points_orders",
    metadata,
    _community(),
    sa.Column("id", Text(ID), nullable=False),  # also the id of its pending transfer
    sa.Column("item_id", Text(ID), nullable=False),
    sa.Column("member_id", Text(ID), nullable=False),
    sa.Column("quantity", Int64, nullable=False),
    sa.Column("points", Int64, nullable=False),
    sa.Column("status", Text(16), nullable=False),  # reserved | fulfilled | cancelled | expired
    sa.Column("expires_at", Timestamp(), nullable=False),
    sa.Column("created_at", Timestamp(), nullable=False),
    sa.Column("closed_at", Timestamp(), nullable=True),
    sa.Column("closed_by", Text(ID), nullable=True),
    sa.PrimaryKeyConstraint("community_id", "id"),
    sa.ForeignKeyConstraint(
        ["community_id", "item_id"],
        ["points_catalog_items.community_id", "points_catalog_items.id"],
    ),
    sa.CheckConstraint("quantity > 0 AND quantity <= 1000", name="quantity_bounds"),
    sa.Index("ix_points_orders_member_item", "community_id", "member_id", "item_id", "created_at"),
    sa.Index(
        "ix_points_orders_open",
        "expires_at",
        sqlite_where=sa.text("status = 'reserved'"),
        postgresql_where=sa.text("status = 'reserved'"),
    ),
    sqlite_strict=True,
)
