"""The public surface of each library package is a decision: this test holds it."""

from __future__ import annotations

import marketplace
import points

POINTS_API = {
    # values and enums
    "MAX_AMOUNT", "STAR_THRESHOLDS_HOURS", "Account", "AccountKind", "Accrual", "AccrualPolicy",
    "Activity", "Award", "CatalogItem", "DonationRule", "Entry", "ExpiringLot", "HoursSummary",
    "ItemKind", "LimitPeriod", "Order", "OrderStatus", "Page", "PendingState", "Phase", "Problem",
    "RefusedTransfer", "RoundingMode", "ServiceRecord", "Step", "Transfer", "TransferKind",
    # the database and the unit of work; building blocks for tables beside the ledger
    "Database", "record_refusal", "sqltypes", "new_id", "derived_id", "utcnow",
    # ledger
    "account_id", "find_by_reference", "get_account", "get_transfer", "open_account",
    "open_community", "pending_state", "post_pending", "resolved_pendings", "reverse", "statement",
    "transfer", "void_pending", "void_timed_out",
    # awards, hours, store, audit
    "accrue", "adjust", "compute_accrual", "current_policy", "donate", "expire_points",
    "bounds_problems",  # the bounds a Struct's types declare, for a Struct made in code
    "Category", "ONE_LINE",  # a category name, one line of free text (the service's rule too)
    "policy_columns", "policy_of",  # the policy loaded inside a caller's own statement
    "expiring_soon", "set_policy", "correct_service", "hours_display", "hours_summary",
    "record_service", "star_level", "add_item", "cancel", "expire_orders", "fulfil", "get_item",
    "get_order", "list_items", "list_orders", "redeem", "restock", "set_active", "audit",
    "top_hours", "hours_records", "accounts_of",
    # 更正: a record replaced by a reversal and a new entry, its points likewise
    "Amendment", "RecordStanding", "amend_service", "record_standing",
    "record_history",
    # report queries to join (exports): hours and points per member, records of a period
    "reports",
    "minutes_everywhere", "records_between",  # the record per person, a certificate's records
    # batch accrual: a month of service records in a few statements
    "AccrualRecord", "accrue_many",
    # tamper evidence: the hash chain over each community's transfers
    "ChainHead", "ChainReport", "seal", "verify_chain",
    # errors, and their causes: a code with parameters, and the English text of each code
    "Cause", "CAUSES",
    "PointsError", "InvalidRequest", "InvalidAmount", "InvalidId", "InvalidPolicy",
    "InvalidActivity", "DonationNotAllowed", "NotFound", "AccountNotFound", "TransferNotFound",
    "ItemNotFound", "OrderNotFound", "Conflict", "IdempotencyMismatch", "ReferenceInUse",
    "PendingNotOpen", "NotReversible", "ItemUnavailable", "OutOfStock", "LimitReached",
    "OrderNotOpen", "Refused", "InsufficientPoints", "MaxBalanceExceeded",
}  # fmt: skip


def test_points_exports_exactly_its_public_api() -> None:
    assert set(points.__all__) == POINTS_API
    assert len(points.__all__) == len(set(points.__all__))


def test_every_exported_name_exists_and_is_public() -> None:
    for name in points.__all__:
        assert hasattr(points, name), name
        assert not name.startswith("_")


def test_every_points_error_carries_a_stable_code() -> None:
    errors = [getattr(points, n) for n in points.__all__ if isinstance(getattr(points, n), type)]
    codes = {e.code for e in errors if issubclass(e, points.PointsError)}
    subclasses = [e for e in errors if issubclass(e, points.PointsError)]
    assert len(codes) == len(subclasses), "two errors share a code"


def test_marketplace_exports_exist_and_are_unique() -> None:
    assert len(marketplace.__all__) == len(set(marketplace.__all__))
    for name in marketplace.__all__:
        assert hasattr(marketplace, name), name


def test_every_marketplace_error_carries_a_stable_code() -> None:
    errors = [
        getattr(marketplace, n)
        for n in marketplace.__all__
        if isinstance(getattr(marketplace, n), type)
        and issubclass(getattr(marketplace, n), marketplace.MarketplaceError)
    ]
    assert len({e.code for e in errors}) == len(errors)
