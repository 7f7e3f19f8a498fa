"""The ledger schema: accounts, transfers, entries, lots, policies, hours, store.

Revision ID: 0001
Revises:
Create Date: 2026-11-23 07:40:57.540588
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import points.sqltypes

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("points",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "points_accounts",
        sa.Column(
            "community_id", sa.String(length=64).with_variant(sa.TEXT(), "sqlite"), nullable=False
        ),
        sa.Column("id", sa.String(length=72).with_variant(sa.TEXT(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=16).with_variant(sa.TEXT(), "sqlite"), nullable=False),
        sa.Column(
            "owner_id", sa.String(length=64).with_variant(sa.TEXT(), "sqlite"), nullable=False
        ),
        sa.Column("allow_negative", points.sqltypes.Flag(), nullable=False),
        sa.Column(
            "max_balance", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), nullable=True
        ),
        sa.Column(
            "debits_pending",
            sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"),
            server_default="0",
            nullable=False,
        ),
        sa.Column(
            "debits_posted",
            sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"),
            server_default="0",
            nullable=False,
        ),
        sa.Column(
            "credits_pending",
            sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"),
            server_default="0",
            nullable=False,
        ),
        sa.Column(
            "credits_posted",
            sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"),
            server_default="0",
            nullable=False,
        ),
        sa.Column(
            "version",
            sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"),
            server_default="0",
            nullable=False,
        ),
        sa.Column("created_at", points.sqltypes.Timestamp(), nullable=False),
        sa.CheckConstraint(
            "allow_negative OR credits_posted - debits_posted - debits_pending >= 0",
            name=op.f("ck_points_accounts_no_overdraft"),
        ),
        sa.CheckConstraint(
            "debits_pending >= 0 AND debits_posted >= 0 AND credits_pending >= 0 AND credits_posted >= 0",
            name=op.f("ck_points_accounts_counters_not_negative"),
        ),
        sa.PrimaryKeyConstraint("community_id", "id", name=op.f("pk_points_accounts")),
        sqlite_strict=True,
    )
    op.create_table(
        "points_catalog_items",
        sa.Column(
            "community_id", sa.String(length=64).with_variant(sa.TEXT(), "sqlite"), nullable=False
        ),
        sa.Column("id", sa.String(length=64).with_variant(sa.TEXT(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=100).with_variant(sa.TEXT(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=16).with_variant(sa.TEXT(), "sqlite"), nullable=False),
        sa.Column("cost", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), nullable=False),
        sa.Column("stock", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), nullable=True),
        sa.Column(
            "per_member_limit", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), nullable=True
        ),
        sa.Column(
            "limit_period", sa.String(length=8).with_variant(sa.TEXT(), "sqlite"), nullable=False
        ),
        sa.Column("valid_from", points.sqltypes.Timestamp(), nullable=True),
        sa.Column("valid_until", points.sqltypes.Timestamp(), nullable=True),
        sa.Column("active", points.sqltypes.Flag(), nullable=False),
        sa.Column("created_at", points.sqltypes.Timestamp(), nullable=False),
        sa.CheckConstraint(
            "cost > 0 AND cost <= 1000000000", name=op.f("ck_points_catalog_items_cost_bounds")
        ),
        sa.CheckConstraint(
            "stock IS NULL OR stock >= 0", name=op.f("ck_points_catalog_items_stock_not_negative")
        ),
        sa.PrimaryKeyConstraint("community_id", "id", name=op.f("pk_points_catalog_items")),
        sqlite_strict=True,
    )
    op.create_table(
        "points_lot_uses",
        sa.Column(
            "community_id", sa.String(length=64).with_variant(sa.TEXT(), "sqlite"), nullable=False
        ),
        sa.Column(
            "transfer_id", sa.String(length=64).with_variant(sa.TEXT(), "sqlite"), nullable=False
        ),
        sa.Column("lot_id", sa.String(length=64).with_variant(sa.TEXT(), "sqlite"), nullable=False),
        sa.Column("amount", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), nullable=False),
        sa.PrimaryKeyConstraint(
            "community_id", "transfer_id", "lot_id", name=op.f("pk_points_lot_uses")
        ),
        sqlite_strict=True,
    )
    with op.batch_alter_table("points_lot_uses", schema=None) as batch_op:
        batch_op.create_index("ix_points_lot_uses_lot", ["community_id", "lot_id"], unique=False)

    op.create_table(
        "points_lots",
        sa.Column(
            "community_id", sa.String(length=64).with_variant(sa.TEXT(), "sqlite"), nullable=False
        ),
        sa.Column("id", sa.String(length=64).with_variant(sa.TEXT(), "sqlite"), nullable=False),
        sa.Column(
            "account_id", sa.String(length=72).with_variant(sa.TEXT(), "sqlite"), nullable=False
        ),
        sa.Column("amount", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), nullable=False),
        sa.Column(
            "remaining", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), nullable=False
        ),
        sa.Column("expires_at", points.sqltypes.Timestamp(), nullable=True),
        sa.Column(
            "expiry_count",
            sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"),
            server_default="0",
            nullable=False,
        ),
        sa.Column("created_at", points.sqltypes.Timestamp(), nullable=False),
        sa.CheckConstraint(
            "remaining >= 0 AND remaining <= amount", name=op.f("ck_points_lots_remaining_bounds")
        ),
        sa.PrimaryKeyConstraint("community_id", "id", name=op.f("pk_points_lots")),
        sqlite_strict=True,
    )
    with op.batch_alter_table("points_lots", schema=None) as batch_op:
        batch_op.create_index(
            "ix_points_lots_due",
            ["expires_at"],
            unique=False,
            sqlite_where=sa.text("remaining > 0"),
            postgresql_where=sa.text("remaining > 0"),
        )
        batch_op.create_index(
            "ix_points_lots_spend_order", ["community_id", "account_id", "expires_at"], unique=False
        )

    op.create_table(
        "points_policies",
        sa.Column(
            "community_id", sa.String(length=64).with_variant(sa.TEXT(), "sqlite"), nullable=False
        ),
        sa.Column("version", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), nullable=False),
        sa.Column("body", points.sqltypes.Json(), nullable=False),
        sa.Column("actor", sa.String(length=64).with_variant(sa.TEXT(), "sqlite"), nullable=False),
        sa.Column("created_at", points.sqltypes.Timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("community_id", "version", name=op.f("pk_points_policies")),
        sqlite_strict=True,
    )
    op.create_table(
        "points_refused_transfers",
        sa.Column(
            "community_id", sa.String(length=64).with_variant(sa.TEXT(), "sqlite"), nullable=False
        ),
        sa.Column("id", sa.String(length=64).with_variant(sa.TEXT(), "sqlite"), nullable=False),
        sa.Column(
            "debit_account_id",
            sa.String(length=72).with_variant(sa.TEXT(), "sqlite"),
            nullable=False,
        ),
        sa.Column(
            "credit_account_id",
            sa.String(length=72).with_variant(sa.TEXT(), "sqlite"),
            nullable=False,
        ),
        sa.Column("amount", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=16).with_variant(sa.TEXT(), "sqlite"), nullable=False),
        sa.Column("phase", sa.String(length=16).with_variant(sa.TEXT(), "sqlite"), nullable=False),
        sa.Column(
            "pending_id", sa.String(length=64).with_variant(sa.TEXT(), "sqlite"), nullable=True
        ),
        sa.Column(
            "reference", sa.String(length=128).with_variant(sa.TEXT(), "sqlite"), nullable=True
        ),
        sa.Column("reason", sa.String(length=32).with_variant(sa.TEXT(), "sqlite"), nullable=False),
        sa.Column(
            "available", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), nullable=False
        ),
        sa.Column("created_at", points.sqltypes.Timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("community_id", "id", name=op.f("pk_points_refused_transfers")),
        sqlite_strict=True,
    )
    op.create_table(
        "points_service_records",
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
        sa.Column("minutes", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), nullable=False),
        sa.Column(
            "served_on", sa.String(length=10).with_variant(sa.TEXT(), "sqlite"), nullable=False
        ),
        sa.Column(
            "reference", sa.String(length=128).with_variant(sa.TEXT(), "sqlite"), nullable=False
        ),
        sa.Column("actor", sa.String(length=64).with_variant(sa.TEXT(), "sqlite"), nullable=False),
        sa.Column(
            "memo",
            sa.String(length=500).with_variant(sa.TEXT(), "sqlite"),
            server_default="",
            nullable=False,
        ),
        sa.Column("created_at", points.sqltypes.Timestamp(), nullable=False),
        sa.CheckConstraint(
            "minutes BETWEEN -100000 AND 100000",
            name=op.f("ck_points_service_records_minutes_bounds"),
        ),
        sa.PrimaryKeyConstraint("community_id", "id", name=op.f("pk_points_service_records")),
        sa.UniqueConstraint(
            "community_id",
            "reference",
            name=op.f("uq_points_service_records_community_id_reference"),
        ),
        sqlite_strict=True,
    )
    with op.batch_alter_table("points_service_records", schema=None) as batch_op:
        batch_op.create_index(
            "ix_points_service_records_member",
            ["community_id", "member_id", "served_on"],
            unique=False,
        )

    op.create_table(
        "points_orders",
        sa.Column(
            "community_id", sa.String(length=64).with_variant(sa.TEXT(), "sqlite"), nullable=False
        ),
        sa.Column("id", sa.String(length=64).with_variant(sa.TEXT(), "sqlite"), nullable=False),
        sa.Column(
            "item_id", sa.String(length=64).with_variant(sa.TEXT(), "sqlite"), nullable=False
        ),
        sa.Column(
            "member_id", sa.String(length=64).with_variant(sa.TEXT(), "sqlite"), nullable=False
        ),
        sa.Column("quantity", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), nullable=False),
        sa.Column("points", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), nullable=False),
        sa.Column("status", sa.String(length=16).with_variant(sa.TEXT(), "sqlite"), nullable=False),
        sa.Column("expires_at", points.sqltypes.Timestamp(), nullable=False),
        sa.Column("created_at", points.sqltypes.Timestamp(), nullable=False),
        sa.Column("closed_at", points.sqltypes.Timestamp(), nullable=True),
        sa.Column(
            "closed_by", sa.String(length=64).with_variant(sa.TEXT(), "sqlite"), nullable=True
        ),
        sa.CheckConstraint(
            "quantity > 0 AND quantity <= 1000", name=op.f("ck_points_orders_quantity_bounds")
        ),
        sa.ForeignKeyConstraint(
            ["community_id", "item_id"],
            ["points_catalog_items.community_id", "points_catalog_items.id"],
            name=op.f("fk_points_orders_community_id_item_id"),
        ),
        sa.PrimaryKeyConstraint("community_id", "id", name=op.f("pk_points_orders")),
        sqlite_strict=True,
    )
    with op.batch_alter_table("points_orders", schema=None) as batch_op:
        batch_op.create_index(
            "ix_points_orders_member_item",
            ["community_id", "member_id", "item_id", "created_at"],
            unique=False,
        )
        batch_op.create_index(
            "ix_points_orders_open",
            ["expires_at"],
            unique=False,
            sqlite_where=sa.text("status = 'reserved'"),
            postgresql_where=sa.text("status = 'reserved'"),
        )

    op.create_table(
        "points_transfers",
        sa.Column(
            "community_id", sa.String(length=64).with_variant(sa.TEXT(), "sqlite"), nullable=False
        ),
        sa.Column("id", sa.String(length=64).with_variant(sa.TEXT(), "sqlite"), nullable=False),
        sa.Column(
            "debit_account_id",
            sa.String(length=72).with_variant(sa.TEXT(), "sqlite"),
            nullable=False,
        ),
        sa.Column(
            "credit_account_id",
            sa.String(length=72).with_variant(sa.TEXT(), "sqlite"),
            nullable=False,
        ),
        sa.Column("amount", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=16).with_variant(sa.TEXT(), "sqlite"), nullable=False),
        sa.Column("phase", sa.String(length=16).with_variant(sa.TEXT(), "sqlite"), nullable=False),
        sa.Column(
            "pending_id", sa.String(length=64).with_variant(sa.TEXT(), "sqlite"), nullable=True
        ),
        sa.Column("timeout_at", points.sqltypes.Timestamp(), nullable=True),
        sa.Column("expires_at", points.sqltypes.Timestamp(), nullable=True),
        sa.Column(
            "value_date", sa.String(length=10).with_variant(sa.TEXT(), "sqlite"), nullable=True
        ),
        sa.Column(
            "reference", sa.String(length=128).with_variant(sa.TEXT(), "sqlite"), nullable=True
        ),
        sa.Column(
            "memo",
            sa.String(length=500).with_variant(sa.TEXT(), "sqlite"),
            server_default="",
            nullable=False,
        ),
        sa.Column(
            "actor",
            sa.String(length=64).with_variant(sa.TEXT(), "sqlite"),
            server_default="",
            nullable=False,
        ),
        sa.Column("detail", points.sqltypes.Json(), nullable=True),
        sa.Column("created_at", points.sqltypes.Timestamp(), nullable=False),
        sa.CheckConstraint(
            "(phase IN ('post', 'void')) = (pending_id IS NOT NULL)",
            name=op.f("ck_points_transfers_pending_link"),
        ),
        sa.CheckConstraint(
            "amount > 0 AND amount <= 1000000000", name=op.f("ck_points_transfers_amount_bounds")
        ),
        sa.CheckConstraint(
            "debit_account_id <> credit_account_id", name=op.f("ck_points_transfers_two_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["community_id", "credit_account_id"],
            ["points_accounts.community_id", "points_accounts.id"],
            name=op.f("fk_points_transfers_community_id_credit_account_id"),
        ),
        sa.ForeignKeyConstraint(
            ["community_id", "debit_account_id"],
            ["points_accounts.community_id", "points_accounts.id"],
            name=op.f("fk_points_transfers_community_id_debit_account_id"),
        ),
        sa.PrimaryKeyConstraint("community_id", "id", name=op.f("pk_points_transfers")),
        sa.UniqueConstraint(
            "community_id",
            "kind",
            "reference",
            name=op.f("uq_points_transfers_community_id_kind_reference"),
        ),
        sa.UniqueConstraint(
            "community_id", "pending_id", name=op.f("uq_points_transfers_community_id_pending_id")
        ),
        sqlite_strict=True,
    )
    with op.batch_alter_table("points_transfers", schema=None) as batch_op:
        batch_op.create_index(
            "ix_points_transfers_earned",
            ["community_id", "credit_account_id", "kind", "value_date"],
            unique=False,
        )
        batch_op.create_index(
            "ix_points_transfers_open_timeouts",
            ["community_id", "timeout_at"],
            unique=False,
            sqlite_where=sa.text("phase = 'pending'"),
            postgresql_where=sa.text("phase = 'pending'"),
        )

    op.create_table(
        "points_entries",
        sa.Column(
            "community_id", sa.String(length=64).with_variant(sa.TEXT(), "sqlite"), nullable=False
        ),
        sa.Column(
            "account_id", sa.String(length=72).with_variant(sa.TEXT(), "sqlite"), nullable=False
        ),
        sa.Column("seq", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), nullable=False),
        sa.Column(
            "transfer_id", sa.String(length=64).with_variant(sa.TEXT(), "sqlite"), nullable=False
        ),
        sa.Column("side", sa.String(length=8).with_variant(sa.TEXT(), "sqlite"), nullable=False),
        sa.Column(
            "balance_after", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), nullable=False
        ),
        sa.Column(
            "available_after", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["community_id", "transfer_id"],
            ["points_transfers.community_id", "points_transfers.id"],
            name=op.f("fk_points_entries_community_id_transfer_id"),
        ),
        sa.PrimaryKeyConstraint(
            "community_id", "account_id", "seq", name=op.f("pk_points_entries")
        ),
        sqlite_strict=True,
    )


def downgrade() -> None:

    op.drop_table("points_entries")
    with op.batch_alter_table("points_transfers", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_points_transfers_open_timeouts",
            sqlite_where=sa.text("phase = 'pending'"),
            postgresql_where=sa.text("phase = 'pending'"),
        )
        batch_op.drop_index("ix_points_transfers_earned")

    op.drop_table("points_transfers")
    with op.batch_alter_table("points_orders", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_points_orders_open",
            sqlite_where=sa.text("status = 'reserved'"),
            postgresql_where=sa.text("status = 'reserved'"),
        )
        batch_op.drop_index("ix_points_orders_member_item")

    op.drop_table("points_orders")
    with op.batch_alter_table("points_service_records", schema=None) as batch_op:
        batch_op.drop_index("ix_points_service_records_member")

    op.drop_table("points_service_records")
    op.drop_table("points_refused_transfers")
    op.drop_table("points_policies")
    with op.batch_alter_table("points_lots", schema=None) as batch_op:
        batch_op.drop_index("ix_points_lots_spend_order")
        batch_op.drop_index(
            "ix_points_lots_due",
            sqlite_where=sa.text("remaining > 0"),
            postgresql_where=sa.text("remaining > 0"),
        )

    op.drop_table("points_lots")
    with op.batch_alter_table("points_lot_uses", schema=None) as batch_op:
        batch_op.drop_index("ix_points_lot_uses_lot")

    op.drop_table("points_lot_uses")
    op.drop_table("points_catalog_items")
    op.drop_table("points_accounts")
