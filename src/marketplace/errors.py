"""Errors the marketplace raises: one tree, each with a stable ``code`` for the HTTP service.

::

    MarketplaceError                  code
    ├── InvalidInput                  invalid_input        bad input, nothing was written
    ├── NotFound                      not_found            also for another community's objects
    ├── NotAllowed                    not_allowed          the actor may not do this (roles, guards)
    └── Conflict                      conflict             the request clashes with what is stored
        ├── WrongState                wrong_state          nobody may do this in this state (done
        │                                                  already, or not yet possible)
        ├── CapacityFull              capacity_full
        ├── AlreadyClaimed            already_claimed      the member holds an active claim
        ├── ClaimLimitReached         claim_limit_reached  too many open claims (anti-hoarding)
        ├── WrongCode                 wrong_code           check-in confirmation code
        ├── TooFar                    too_far              check-in location outside the distance
        └── PhotoLimitReached         photo_limit_reached  a wish's (or a check-out's) photos are
                                                           all there already
"""

from __future__ import annotations

from typing import ClassVar

from points import Cause


class MarketplaceError(Exception):
    code: ClassVar[str] = "marketplace_error"


class InvalidInput(MarketplaceError, ValueError):
    """Bad input in ``field``, for one or more ``reasons`` (:class:`points.Cause`: a code and its
    parameters; ``str()`` reads in English). ``reason`` is the first."""

    code = "invalid_input"

    def __init__(self, field: str, reason: Cause, *more: Cause) -> None:
        self.field = field
        self.reason = reason
        self.reasons = (reason, *more)
        super().__init__(f"{field}: " + "; ".join(str(r) for r in self.reasons))


class NotFound(MarketplaceError):
    code = "not_found"

    def __init__(self, what: str, key: str) -> None:
        super().__init__(f"{what} {key!r} not found")
        self.what = what
        self.key = key


class NotAllowed(MarketplaceError):
    """The tables (marketplace.lifecycle) let no role the actor holds take this action from this
    state, or one of the row's guards refuses it (``guard``: its name, ``why``: its rule)."""

    code = "not_allowed"

    def __init__(
        self,
        action: str,
        state: str,
        roles: frozenset[str],
        allowed: frozenset[str],
        *,
        guard: str | None = None,
        why: str = "",
    ) -> None:
        held = ", ".join(sorted(roles)) or "no role"
        if guard is not None:
            message = f"{action} from {state} is refused: {why or guard}"
        elif allowed:
            need = ", ".join(sorted(allowed))
            message = f"{action} from {state} needs one of: {need} (actor holds {held})"
        else:
            message = f"{action} is not possible from {state}"
        super().__init__(message)
        self.action = action
        self.state = state
        self.roles = roles
        self.allowed = allowed
        self.guard = guard


class Conflict(MarketplaceError):
    code = "conflict"


class WrongState(Conflict):
    """The tables (marketplace.lifecycle) have no such action from the state the ``subject``
    (``wish`` or ``claim``) is in, whoever asks: it is past it (confirming a confirmed wish) or
    not there yet. :class:`NotAllowed` says "not you"; this says "not now"."""

    code = "wrong_state"

    def __init__(self, subject: str, action: str, state: str) -> None:
        super().__init__(f"{action} is not possible: the {subject} is {state}")
        self.subject = subject
        self.action = action
        self.state = state


class CapacityFull(Conflict):
    code = "capacity_full"

    def __init__(self, wish_id: str, capacity: int) -> None:
        super().__init__(f"wish {wish_id!r} has all {capacity} places taken")
        self.wish_id = wish_id
        self.capacity = capacity


class AlreadyClaimed(Conflict):
    code = "already_claimed"

    def __init__(self, wish_id: str, member_id: str) -> None:
        super().__init__(f"member {member_id!r} already holds a claim on wish {wish_id!r}")
        self.wish_id = wish_id
        self.member_id = member_id


class ClaimLimitReached(Conflict):
    code = "claim_limit_reached"

    def __init__(self, member_id: str, limit: int) -> None:
        super().__init__(f"member {member_id!r} already holds {limit} open claims")
        self.member_id = member_id
        self.limit = limit


class WrongCode(Conflict):
    code = "wrong_code"

    def __init__(self, wish_id: str) -> None:
        super().__init__(f"the confirmation code for wish {wish_id!r} does not match")
        self.wish_id = wish_id


class TooFar(Conflict):
    code = "too_far"

    def __init__(self, wish_id: str, metres: int, allowed: int) -> None:
        super().__init__(f"check-in {metres} m from wish {wish_id!r}; at most {allowed} m")
        self.wish_id = wish_id
        self.metres = metres
        self.allowed = allowed


class PhotoLimitReached(Conflict):
    """The resident's photos of a wish, or a volunteer's of a check-out, are at their limit."""

    code = "photo_limit_reached"

    def __init__(self, subject: str, limit: int, held: int) -> None:
        super().__init__(f"the {subject} holds {held} of at most {limit} photos")
        self.subject = subject
        self.limit = limit
        self.held = held


class CorrectionPending(Conflict):
    """The hours record has a correction request waiting for a decision already (one at a
    time)."""

    code = "correction_pending"

    def __init__(self, reference: str) -> None:
        super().__init__(f"the record {reference!r} has a correction request pending")
        self.reference = reference
