"""Ledger values: accounts, transfers, refusals, and the bounds every amount and id must meet.

An account (账户) carries four counters, debits and credits each pending and posted, after
TigerBeetle. A member's balance is ``credits_posted - debits_posted``; what they may spend is that
less ``debits_pending`` (points held by open redemption orders). A transfer (转账) moves a positive
integer amount from one account to another; corrections are new transfers, never edits.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import os
import re
import threading
import time
from typing import Any

import msgspec

from points.causes import Cause
from points.errors import InvalidAmount, InvalidId, InvalidRequest

MAX_AMOUNT = 1_000_000_000
"""The largest amount one transfer may move (10^9 points); keeps every counter far from 2^63."""

MAX_ID_LENGTH = 64
_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]*$")


class AccountKind(enum.StrEnum):
    """What an account is for. Only member and org wallets refuse overdraft."""

    MEMBER = "member"  # a member's wallet (志愿者积分账户)
    ORG = "org"  # a unit's or org's wallet
    POOL = "pool"  # the community's issuing pool: accruals come from here, it goes negative
    STORE = "store"  # the points store (积分超市): redemptions are paid here
    EXPIRY = "expiry"  # the sink expired points go to


SYSTEM_KINDS = frozenset({AccountKind.POOL, AccountKind.STORE, AccountKind.EXPIRY})


class TransferKind(enum.StrEnum):
    ACCRUAL = "accrual"  # points earned by verified service (志愿积分)
    REDEMPTION = "redemption"  # points spent in the store (兑换)
    REVERSAL = "reversal"  # a correction that undoes another transfer (冲正)
    EXPIRY = "expiry"  # points past their expiry date (过期)
    DONATION = "donation"  # member to member or to the pool (捐赠)
    ADJUSTMENT = "adjustment"  # a staff correction with a reason (调整)


class Phase(enum.StrEnum):
    POSTED = "posted"  # single-phase: posted at once
    PENDING = "pending"  # reserved: counts against the debit account until posted or voided
    POST = "post"  # posts a pending transfer (in full or in part)
    VOID = "void"  # releases a pending transfer


class PendingState(enum.StrEnum):
    OPEN = "open"
    POSTED = "posted"
    VOIDED = "voided"


def account_id(kind: AccountKind, owner_id: str) -> str:
    """The id of an account: one account per (kind, owner) in a community."""
    return f"{kind.value}:{owner_id}"


class Account(msgspec.Struct, frozen=True, kw_only=True):
    community_id: str
    id: str
    kind: AccountKind
    owner_id: str
    allow_negative: bool
    max_balance: int | None
    debits_pending: int
    debits_posted: int
    credits_pending: int
    credits_posted: int
    version: int
    created_at: dt.datetime

    @property
    def balance(self) -> int:
        """Posted points (余额)."""
        return self.credits_posted - self.debits_posted

    @property
    def available(self) -> int:
        """Points that may be spent now (可用): posted less what open orders hold."""
        return self.credits_posted - self.debits_posted - self.debits_pending


class Transfer(msgspec.Struct, frozen=True, kw_only=True):
    community_id: str
    id: str
    debit_account_id: str
    credit_account_id: str
    amount: int
    kind: TransferKind
    phase: Phase
    pending_id: str | None = None
    timeout_at: dt.datetime | None = None
    expires_at: dt.datetime | None = None
    value_date: str | None = None  # ISO date the points are for (an accrual's service day)
    reference: str | None = None
    memo: str = ""
    actor: str = ""
    detail: Any = None
    created_at: dt.datetime


class RefusedTransfer(msgspec.Struct, frozen=True, kw_only=True):
    """A transfer the ledger refused, kept so that its id stays refused (TigerBeetle's rule)."""

    community_id: str
    id: str
    debit_account_id: str
    credit_account_id: str
    amount: int
    kind: TransferKind
    phase: Phase
    pending_id: str | None
    reference: str | None
    reason: str
    available: int
    created_at: dt.datetime


class Entry(msgspec.Struct, frozen=True, kw_only=True):
    """One line of an account's statement (流水): the account's side of one transfer."""

    seq: int
    transfer_id: str
    kind: TransferKind
    phase: Phase
    side: str  # "debit" or "credit"
    amount: int
    balance_after: int
    available_after: int
    reference: str | None
    memo: str
    created_at: dt.datetime


class Page(msgspec.Struct, frozen=True, kw_only=True):
    """One page of a list; pass ``next_cursor`` back to get the next (None: no more)."""

    items: tuple[Any, ...]
    next_cursor: str | None


def check_amount(value: object, *, allow_zero: bool = False) -> int:
    """Return ``value`` if it is an integer amount within bounds, else raise InvalidAmount."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidAmount(value, Cause("integer"))
    if value < 0 or (value == 0 and not allow_zero):
        raise InvalidAmount(value, Cause("positive"))
    if value > MAX_AMOUNT:
        raise InvalidAmount(value, Cause("at_most", {"high": MAX_AMOUNT}))
    return value


def check_id(field: str, value: object) -> str:
    """Return ``value`` if it is a usable id (1-64 of A-Z a-z 0-9 . _ : @ -), else raise."""
    if not isinstance(value, str):
        raise InvalidId(field, value, Cause("text"))
    if not 1 <= len(value) <= MAX_ID_LENGTH:
        raise InvalidId(field, value, Cause("length", {"low": 1, "high": MAX_ID_LENGTH}))
    if not _ID_PATTERN.fullmatch(value):  # match() would let "id\n" through ($)
        raise InvalidId(field, value, Cause("id_chars"))
    return value


def check_text(field: str, value: object, max_length: int) -> str:
    if not isinstance(value, str):
        raise InvalidId(field, value, Cause("text"))
    if len(value) > max_length:
        raise InvalidId(field, value[:20] + "…", Cause("too_long", {"high": max_length}))
    return value


def derived_id(prefix: str, base: str) -> str:
    """A deterministic id for the transfer that follows from ``base`` (e.g. ``fulfil:<order>``);
    hashed when it would pass the id length."""
    plain = f"{prefix}:{base}"
    if len(plain) <= MAX_ID_LENGTH:
        return plain
    digest = hashlib.sha256(base.encode()).hexdigest()
    return f"{prefix}:{digest[: MAX_ID_LENGTH - len(prefix) - 1]}"


_last_id = 0
_id_lock = threading.Lock()


MAX_PAGE = 200


def check_limit(limit: object) -> int:
    """A page size: an integer from 1 to MAX_PAGE."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise InvalidRequest(Cause("range", {"low": 1, "high": MAX_PAGE}, field="limit"))
    return limit


def new_id() -> str:
    """A fresh, time-ordered id (UUIDv7 layout, 32 hex digits).

    Within one process ids only grow, also inside one millisecond (the random tail is bumped),
    so ordering by id is ordering by creation (RFC 9562, section 6.2, method 2's intent)."""
    global _last_id
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms << 80) | (0x7 << 76) | ((rand >> 68) & 0xFFF) << 64
    value |= (0b10 << 62) | (rand & ((1 << 62) - 1))
    with _id_lock:
        if value <= _last_id:
            value = _last_id + 1
        _last_id = value
    return f"{value:032x}"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
