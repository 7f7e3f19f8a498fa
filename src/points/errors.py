"""Errors the points library raises: one tree, each error carrying what a caller needs to act.

::

    PointsError                      code
    ├── InvalidRequest               invalid_request      bad input, nothing was written
    │   ├── InvalidAmount            invalid_amount
    │   ├── InvalidId                invalid_id
    │   ├── InvalidPolicy            invalid_policy
    │   ├── InvalidActivity          invalid_activity     (points.policy)
    │   └── DonationNotAllowed       donation_not_allowed
    ├── NotFound                     not_found
    │   ├── AccountNotFound          account_not_found
    │   ├── TransferNotFound         transfer_not_found
    │   ├── ItemNotFound             item_not_found
    │   └── OrderNotFound            order_not_found
    ├── Conflict                     conflict             the request clashes with what is stored
    │   ├── IdempotencyMismatch      idempotency_mismatch same id, different fields
    │   ├── ReferenceInUse           reference_in_use     (kind, reference) already awarded
    │   ├── PendingNotOpen           pending_not_open     posted, voided or timed out already
    │   ├── NotReversible            not_reversible
    │   ├── ItemUnavailable          item_unavailable     inactive or outside its validity window
    │   ├── OutOfStock               out_of_stock
    │   ├── LimitReached             limit_reached        per-member limit for the period
    │   └── OrderNotOpen             order_not_open
    └── Refused                      refused              a transfer the ledger refuses; the refusal
        ├── InsufficientPoints       insufficient_points  is recorded under the transfer id, so a
        └── MaxBalanceExceeded       max_balance_exceeded retry with that id is refused again

``code`` is stable: the HTTP service maps it to a problem response. Bad input and the refusals
that have several reasons carry a :class:`~points.Cause` (``reason``; an invalid policy its
``problems``): a stable code with parameters, whose ``str()`` is English (``points.CAUSES``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from points.causes import CAUSES, Cause

if TYPE_CHECKING:
    from points.model import RefusedTransfer


class PointsError(Exception):
    """Base of every error the points library raises on purpose."""

    code: ClassVar[str] = "points_error"


class InvalidRequest(PointsError, ValueError):
    """Bad input: nothing was written. ``reason`` says why; its ``field`` names the input at
    fault when there is one (``field`` here too, or None)."""

    code = "invalid_request"

    def __init__(self, reason: Cause, message: str | None = None) -> None:
        super().__init__(message or str(reason))
        self.reason = reason
        self.field: str | None = reason.field or None


class InvalidAmount(InvalidRequest):
    code = "invalid_amount"

    def __init__(self, value: object, reason: Cause) -> None:
        super().__init__(reason, f"invalid amount {value!r}: {reason}")
        self.value = value


class InvalidId(InvalidRequest):
    code = "invalid_id"

    def __init__(self, field: str, value: object, reason: Cause) -> None:
        super().__init__(reason, f"invalid {field} {value!r}: {reason}")
        self.field = field
        self.value = value


class InvalidPolicy(InvalidRequest):
    code = "invalid_policy"

    def __init__(self, problems: tuple[Cause, ...]) -> None:
        super().__init__(problems[0], "invalid accrual policy: " + "; ".join(map(str, problems)))
        self.problems = problems


class DonationNotAllowed(InvalidRequest):
    code = "donation_not_allowed"

    def __init__(self, community_id: str, rule: str) -> None:
        pool = rule == "pool"  # then the member named is at fault
        reason = Cause("pool_only", field="to_member") if pool else Cause("no_donations")
        super().__init__(reason, CAUSES[reason.code])  # a sentence, not led by the field
        self.community_id = community_id
        self.rule = rule


class NotFound(PointsError):
    code = "not_found"

    def __init__(self, what: str, key: str) -> None:
        super().__init__(f"{what} {key!r} not found")
        self.key = key


class AccountNotFound(NotFound):
    code = "account_not_found"

    def __init__(self, account_id: str) -> None:
        super().__init__("account", account_id)


class TransferNotFound(NotFound):
    code = "transfer_not_found"

    def __init__(self, transfer_id: str) -> None:
        super().__init__("transfer", transfer_id)


class ItemNotFound(NotFound):
    code = "item_not_found"

    def __init__(self, item_id: str) -> None:
        super().__init__("catalog item", item_id)


class OrderNotFound(NotFound):
    code = "order_not_found"

    def __init__(self, order_id: str) -> None:
        super().__init__("redemption order", order_id)


class Conflict(PointsError):
    code = "conflict"


class IdempotencyMismatch(Conflict):
    """The id was used before with different fields; the first use stands."""

    code = "idempotency_mismatch"

    def __init__(self, transfer_id: str, fields: tuple[str, ...]) -> None:
        super().__init__(f"id {transfer_id!r} was used with different {', '.join(fields)}")
        self.transfer_id = transfer_id
        self.fields = fields


class ReferenceInUse(Conflict):
    """A transfer of this kind with this reference exists (e.g. a claim already awarded)."""

    code = "reference_in_use"

    def __init__(self, kind: str, reference: str, transfer_id: str) -> None:
        super().__init__(f"{kind} reference {reference!r} is taken by transfer {transfer_id!r}")
        self.kind = kind
        self.reference = reference
        self.transfer_id = transfer_id


class PendingNotOpen(Conflict):
    code = "pending_not_open"

    def __init__(self, transfer_id: str, state: str) -> None:
        super().__init__(f"pending transfer {transfer_id!r} is {state}")
        self.transfer_id = transfer_id
        self.state = state


class NotReversible(Conflict):
    code = "not_reversible"

    def __init__(self, transfer_id: str, reason: Cause) -> None:
        super().__init__(f"transfer {transfer_id!r} cannot be reversed: {reason}")
        self.transfer_id = transfer_id
        self.reason = reason


class ItemUnavailable(Conflict):
    code = "item_unavailable"

    def __init__(self, item_id: str, reason: Cause) -> None:
        super().__init__(f"item {item_id!r} is unavailable: {reason}")
        self.item_id = item_id
        self.reason = reason


class OutOfStock(Conflict):
    code = "out_of_stock"

    def __init__(self, item_id: str, available: int, requested: int) -> None:
        super().__init__(f"item {item_id!r} has {available} in stock, {requested} requested")
        self.item_id = item_id
        self.available = available
        self.requested = requested


class LimitReached(Conflict):
    code = "limit_reached"

    def __init__(self, item_id: str, limit: int, used: int, requested: int) -> None:
        super().__init__(
            f"item {item_id!r}: limit {limit} per period, {used} used, {requested} requested"
        )
        self.item_id = item_id
        self.limit = limit
        self.used = used
        self.requested = requested


class OrderNotOpen(Conflict):
    code = "order_not_open"

    def __init__(self, order_id: str, status: str) -> None:
        super().__init__(f"order {order_id!r} is {status}")
        self.order_id = order_id
        self.status = status


class Refused(PointsError):
    """The ledger refused a transfer; ``refusal`` is what :func:`points.record_refusal` keeps."""

    code = "refused"

    def __init__(self, message: str, refusal: RefusedTransfer) -> None:
        super().__init__(message)
        self.refusal = refusal


class InsufficientPoints(Refused):
    code = "insufficient_points"

    def __init__(self, account_id: str, available: int, requested: int, refusal: RefusedTransfer):
        super().__init__(
            f"account {account_id!r} has {available} points available, {requested} requested",
            refusal,
        )
        self.account_id = account_id
        self.available = available
        self.requested = requested


class MaxBalanceExceeded(Refused):
    code = "max_balance_exceeded"

    def __init__(
        self,
        account_id: str,
        balance: int,
        max_balance: int,
        requested: int,
        refusal: RefusedTransfer,
    ):
        super().__init__(
            f"account {account_id!r} would pass its maximum {max_balance} "
            f"(balance {balance}, +{requested})",
            refusal,
        )
        self.account_id = account_id
        self.balance = balance
        self.max_balance = max_balance
        self.requested = requested
