"""The lifecycle tables (状态流转表) of wishes and claims, and who may make each transition.

Each table maps ``(state, action)`` to the next state and the roles allowed to act. Roles are
org roles held on the wish's community or an ancestor (staff, grid worker, …) or relations to the
wish (the beneficiary, the member who posted it, the holder of the claim), or ``system`` for the
sweeps. :func:`decide` reads the table; nothing else decides who may do what.

A few wish transitions depend on counts rather than on the action alone (a claim fills the wish
only at capacity; a check-out serves it only when nobody is still serving): their next state is
``None`` in the table and :func:`wish_state_from_claims` settles it.
"""

from __future__ import annotations

import enum

from marketplace.errors import NotAllowed


class Role(enum.StrEnum):
    RESIDENT = "resident"  # 居民
    VOLUNTEER = "volunteer"  # 志愿者
    PARTY_MEMBER = "party_member"  # 党员
    GRID_WORKER = "grid_worker"  # 网格员
    STAFF = "staff"  # 社区工作人员
    UNIT_ADMIN = "unit_admin"  # 单位管理员
    ADMIN = "admin"  # 管理员
    # relations to one wish, not held on an org
    BENEFICIARY = "beneficiary"  # the resident the wish is for
    POSTER = "poster"  # who posted it (the resident, or a grid worker 代点单)
    CLAIMANT = "claimant"  # the member holding the claim
    SYSTEM = "system"  # background sweeps


class WishState(enum.StrEnum):
    SUBMITTED = "submitted"  # 待审核
    PUBLISHED = "published"  # 已发布, open for claims
    CLAIMED = "claimed"  # 已认领: every place taken
    IN_SERVICE = "in_service"  # 服务中
    SERVED = "served"  # 待评价
    DISPUTED = "disputed"  # 有异议
    CONFIRMED = "confirmed"  # 已确认
    CLOSED = "closed"  # 已办结
    REJECTED = "rejected"  # 已驳回
    EXPIRED = "expired"  # 已过期
    CANCELLED = "cancelled"  # 已取消


class WishAction(enum.StrEnum):
    VERIFY = "verify"  # 审核通过 (publish)
    REJECT = "reject"
    CANCEL = "cancel"
    CLAIM = "claim"  # 接单 (also a unit's claim)
    DISPATCH = "dispatch"  # 派单: staff assign a member or unit
    WITHDRAW = "withdraw"
    NO_SHOW = "no_show"
    CHECK_IN = "check_in"  # 报到
    CHECK_OUT = "check_out"
    CONFIRM = "confirm"  # 评单
    DISPUTE = "dispute"
    RESOLVE_FOR_VOLUNTEER = "resolve_for_volunteer"
    RESOLVE_AGAINST_VOLUNTEER = "resolve_against_volunteer"
    CLOSE = "close"  # 办结: once the points are posted
    SETTLE = "settle"  # the claims moved the wish (full, freed, serving, served)
    EXPIRE = "expire"
    ESCALATE = "escalate"  # 吹哨: the level rises, the state stays


class ClaimState(enum.StrEnum):
    ACTIVE = "active"  # 已接单
    CHECKED_IN = "checked_in"  # 已报到
    CHECKED_OUT = "checked_out"  # 已签退
    CONFIRMED = "confirmed"
    WITHDRAWN = "withdrawn"
    NO_SHOW = "no_show"  # 爽约
    VOIDED = "voided"  # a dispute went against the volunteer


class ClaimAction(enum.StrEnum):
    CHECK_IN = "check_in"
    CHECK_OUT = "check_out"
    WITHDRAW = "withdraw"
    NO_SHOW = "no_show"
    CONFIRM = "confirm"
    VOID = "void"
    ASSIGN = "assign"  # a unit admin names a member for the unit's place


R = Role
W = WishState
OPEN_WISH_STATES = frozenset({W.SUBMITTED, W.PUBLISHED, W.CLAIMED, W.IN_SERVICE})
CLAIMING = frozenset({R.VOLUNTEER, R.PARTY_MEMBER, R.UNIT_ADMIN})
OFFICE = frozenset({R.STAFF, R.ADMIN})
OWNER = frozenset({R.BENEFICIARY, R.POSTER})

WISH_TABLE: dict[tuple[WishState, WishAction], tuple[WishState | None, frozenset[Role]]] = {
    (W.SUBMITTED, WishAction.VERIFY): (W.PUBLISHED, OFFICE),
    (W.SUBMITTED, WishAction.REJECT): (W.REJECTED, OFFICE),
    (W.SUBMITTED, WishAction.CANCEL): (W.CANCELLED, OWNER | OFFICE),
    (W.PUBLISHED, WishAction.CLAIM): (None, CLAIMING),
    (W.PUBLISHED, WishAction.DISPATCH): (None, OFFICE),
    (W.PUBLISHED, WishAction.WITHDRAW): (None, OFFICE | {R.CLAIMANT}),
    (W.PUBLISHED, WishAction.NO_SHOW): (None, OFFICE | {R.SYSTEM}),
    (W.PUBLISHED, WishAction.CHECK_IN): (W.IN_SERVICE, OFFICE | {R.CLAIMANT}),
    (W.PUBLISHED, WishAction.CANCEL): (W.CANCELLED, OWNER | OFFICE),
    (W.PUBLISHED, WishAction.EXPIRE): (W.EXPIRED, frozenset({R.SYSTEM})),
    (W.CLAIMED, WishAction.WITHDRAW): (None, OFFICE | {R.CLAIMANT}),
    (W.CLAIMED, WishAction.NO_SHOW): (None, OFFICE | {R.SYSTEM}),
    (W.CLAIMED, WishAction.CHECK_IN): (W.IN_SERVICE, OFFICE | {R.CLAIMANT}),
    (W.CLAIMED, WishAction.CANCEL): (W.CANCELLED, OFFICE),
    (W.IN_SERVICE, WishAction.CHECK_IN): (W.IN_SERVICE, OFFICE | {R.CLAIMANT}),
    (W.IN_SERVICE, WishAction.CHECK_OUT): (None, OFFICE | {R.CLAIMANT}),
    (W.IN_SERVICE, WishAction.WITHDRAW): (W.IN_SERVICE, OFFICE | {R.CLAIMANT}),
    (W.IN_SERVICE, WishAction.NO_SHOW): (W.IN_SERVICE, OFFICE | {R.SYSTEM}),
    (W.SERVED, WishAction.CONFIRM): (W.CONFIRMED, OWNER | OFFICE | {R.SYSTEM}),
    (W.SERVED, WishAction.DISPUTE): (W.DISPUTED, OWNER),
    (W.DISPUTED, WishAction.RESOLVE_FOR_VOLUNTEER): (W.CONFIRMED, OFFICE),
    (W.CONFIRMED, WishAction.CLOSE): (W.CLOSED, frozenset({R.SYSTEM})),
    (W.DISPUTED, WishAction.RESOLVE_AGAINST_VOLUNTEER): (W.CLOSED, OFFICE),
    **{(state, WishAction.ESCALATE): (state, OFFICE | {R.SYSTEM}) for state in OPEN_WISH_STATES},
    **{
        (state, WishAction.SETTLE): (None, frozenset({R.SYSTEM}))
        for state in (W.PUBLISHED, W.CLAIMED, W.IN_SERVICE)
    },
}
"""(state, action) → (next state, or None when the claim counts decide; roles allowed)."""

C = ClaimState
CLAIM_TABLE: dict[tuple[ClaimState, ClaimAction], tuple[ClaimState, frozenset[Role]]] = {
    (C.ACTIVE, ClaimAction.CHECK_IN): (C.CHECKED_IN, OFFICE | {R.CLAIMANT}),
    (C.ACTIVE, ClaimAction.WITHDRAW): (C.WITHDRAWN, OFFICE | {R.CLAIMANT}),
    (C.ACTIVE, ClaimAction.NO_SHOW): (C.NO_SHOW, OFFICE | {R.SYSTEM}),
    (C.ACTIVE, ClaimAction.ASSIGN): (C.ACTIVE, frozenset({R.UNIT_ADMIN}) | OFFICE),
    (C.CHECKED_IN, ClaimAction.CHECK_OUT): (C.CHECKED_OUT, OFFICE | {R.CLAIMANT}),
    (C.CHECKED_OUT, ClaimAction.CONFIRM): (C.CONFIRMED, OWNER | OFFICE | {R.SYSTEM}),
    (C.CHECKED_OUT, ClaimAction.VOID): (C.VOIDED, OFFICE),
}
"""(state, action) → (next state, roles allowed)."""

ACTIVE_CLAIM_STATES = frozenset({C.ACTIVE, C.CHECKED_IN, C.CHECKED_OUT})
"""Claims that hold a place on their wish."""


def decide_wish(state: WishState, action: WishAction, roles: frozenset[Role]) -> WishState | None:
    """The next state (None: the claim counts decide), or NotAllowed naming roles and state."""
    row = WISH_TABLE.get((state, action))
    if row is None:
        raise NotAllowed(action.value, state.value, frozenset(roles), frozenset())
    next_state, allowed = row
    if not roles & allowed:
        raise NotAllowed(action.value, state.value, frozenset(roles), frozenset(allowed))
    return next_state


def decide_claim(state: ClaimState, action: ClaimAction, roles: frozenset[Role]) -> ClaimState:
    row = CLAIM_TABLE.get((state, action))
    if row is None:
        raise NotAllowed(action.value, state.value, frozenset(roles), frozenset())
    next_state, allowed = row
    if not roles & allowed:
        raise NotAllowed(action.value, state.value, frozenset(roles), frozenset(allowed))
    return next_state


def wish_state_from_claims(
    current: WishState, *, capacity: int, places_taken: int, serving: int, served: int
) -> WishState:
    """Where a wish stands after its claims changed.

    ``places_taken``: places held by active, checked-in or checked-out claims (a unit's
    unassigned places included); ``serving``: claims checked in and not out; ``served``: claims
    checked out.
    """
    if current in (W.PUBLISHED, W.CLAIMED):
        return W.CLAIMED if places_taken >= capacity else W.PUBLISHED
    if current is W.IN_SERVICE:
        still_to_come = places_taken - serving - served
        if serving == 0 and still_to_come == 0:
            return W.SERVED if served else W.PUBLISHED
        return W.IN_SERVICE
    return current


def wish_actions(state: WishState, roles: frozenset[Role]) -> frozenset[WishAction]:
    """The actions the table lets these roles take on a wish in this state (what a page may
    offer; the operation itself still decides, with the counts and the stored state)."""
    return frozenset(
        action
        for (at, action), (_, allowed) in WISH_TABLE.items()
        if at is state and roles & allowed and action not in (WishAction.SETTLE,)
    )


def claim_actions(state: ClaimState, roles: frozenset[Role]) -> frozenset[ClaimAction]:
    """The actions the table lets these roles take on a claim in this state."""
    return frozenset(
        action
        for (at, action), (_, allowed) in CLAIM_TABLE.items()
        if at is state and roles & allowed
    )
