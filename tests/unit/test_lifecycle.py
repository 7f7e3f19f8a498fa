"""The lifecycle tables (状态流转表), checked cell by cell against an independent list of rows.

The rows below are written by hand from DESIGN.md section 5 and the docstrings of the marketplace
(who verifies, who claims, who confirms, …), not copied from ``WISH_TABLE``. Every state × action
× role triple is tried: a row whose roles include the actor's gives its next state; a row whose
roles do not is NotAllowed ("not you"), naming the action, the state and the roles it needs; no row
at all is WrongState ("not now", for anyone), naming the action and the state.
"""

from __future__ import annotations

import re

import pytest

from marketplace import (
    ACTS,
    CLAIM_TABLE,
    GUARDS,
    WISH_TABLE,
    Act,
    ClaimAction,
    ClaimState,
    Conflict,
    Facts,
    MarketplaceError,
    NotAllowed,
    Role,
    WishAction,
    WishState,
    WrongState,
    can_wish,
    decide_claim,
    decide_wish,
    wish_actions,
)
from marketplace.lifecycle import (
    ACT_GUARDS,
    CORRECTION_TABLE,
    CorrectionAction,
    CorrectionState,
    decide_correction,
    unit_claim_state,
    wish_state_from_claims,
)

OFFICE = {"staff", "admin"}  # 社区工作人员, and admins of the community or above
OWNER = {"beneficiary", "poster"}  # the resident, or the grid worker who posted for them
CLAIMANT = {"claimant"}
SYSTEM = {"system"}
CLAIMING = {"volunteer", "party_member"}  # a place for oneself (接单); a unit's admin for the unit
COUNTS = None  # the next state depends on the claim counts (wish_state_from_claims)
OPEN = ("submitted", "published", "claimed", "in_service")

# (state, action, roles allowed, next state)
WISH_ROWS: list[tuple[str, str, set[str], str | None]] = [
    # 审核: staff publish or reject; the resident (or staff) may withdraw the wish.
    ("submitted", "verify", OFFICE, "published"),
    ("submitted", "reject", OFFICE, "rejected"),
    ("submitted", "cancel", OWNER | OFFICE, "cancelled"),
    # 接单 / 派单 and giving places back: the counts decide between published and claimed.
    ("published", "claim", CLAIMING, COUNTS),
    ("published", "claim_for_unit", {"unit_admin"}, COUNTS),
    ("published", "dispatch", OFFICE, COUNTS),
    ("published", "withdraw", OFFICE | CLAIMANT, COUNTS),
    ("published", "no_show", OFFICE | SYSTEM, COUNTS),
    ("published", "check_in", OFFICE | CLAIMANT, "in_service"),
    ("published", "cancel", OWNER | OFFICE, "cancelled"),
    ("published", "expire", SYSTEM, "expired"),
    ("published", "settle", SYSTEM, COUNTS),
    # Every place taken: only staff may still cancel. Who may claim is still the table's (the
    # use case then refuses the count: capacity_full, not "you may not").
    ("claimed", "claim", CLAIMING, COUNTS),
    ("claimed", "claim_for_unit", {"unit_admin"}, COUNTS),
    ("claimed", "dispatch", OFFICE, COUNTS),
    ("claimed", "withdraw", OFFICE | CLAIMANT, COUNTS),
    ("claimed", "no_show", OFFICE | SYSTEM, COUNTS),
    ("claimed", "check_in", OFFICE | CLAIMANT, "in_service"),
    ("claimed", "cancel", OFFICE, "cancelled"),
    ("claimed", "settle", SYSTEM, COUNTS),
    # 服务中: more claimants arrive or leave; the last check-out serves the wish. Places still free
    # are taken as on a published wish (the wish stays in service).
    ("in_service", "claim", CLAIMING, "in_service"),
    ("in_service", "claim_for_unit", {"unit_admin"}, "in_service"),
    ("in_service", "dispatch", OFFICE, "in_service"),
    ("in_service", "check_in", OFFICE | CLAIMANT, "in_service"),
    ("in_service", "check_out", OFFICE | CLAIMANT, COUNTS),
    ("in_service", "withdraw", OFFICE | CLAIMANT, "in_service"),
    ("in_service", "no_show", OFFICE | SYSTEM, "in_service"),
    ("in_service", "settle", SYSTEM, COUNTS),
    # 评单: the resident (or staff for them, or auto-accept) confirms; only the resident disputes.
    ("served", "confirm", OWNER | OFFICE | SYSTEM, "confirmed"),
    ("served", "dispute", OWNER, "disputed"),
    ("disputed", "resolve_for_volunteer", OFFICE, "confirmed"),
    ("disputed", "resolve_against_volunteer", OFFICE, "closed"),
    ("confirmed", "close", SYSTEM, "closed"),
    # 吹哨: at any open state, and while a dispute waits for staff, the level rises and the state
    # stays.
    *((state, "escalate", OFFICE | SYSTEM, state) for state in (*OPEN, "disputed")),
    # 添加照片: the resident (or who posted for her) adds photos until the wish is finished; the
    # state stays.
    *(
        (state, "attach_photo", OWNER, state)
        for state in (*OPEN, "served", "disputed", "confirmed")
    ),
]

CLAIM_ROWS: list[tuple[str, str, set[str], str | None]] = [
    ("active", "check_in", OFFICE | CLAIMANT, "checked_in"),
    ("active", "withdraw", OFFICE | CLAIMANT, "withdrawn"),
    ("active", "no_show", OFFICE | SYSTEM, "no_show"),
    # a unit's place named: active while places are left, assigned after its last (the count)
    ("active", "assign", {"unit_admin"} | OFFICE, COUNTS),
    ("checked_in", "check_out", OFFICE | CLAIMANT, "checked_out"),
    ("checked_in", "attach_photo", CLAIMANT, "checked_in"),  # 服务照片, at check-out
    ("checked_out", "confirm", OWNER | OFFICE | SYSTEM, "confirmed"),
    ("checked_out", "void", OFFICE, "voided"),
]

WISH_EXPECTED = {(s, a): (roles, nxt) for s, a, roles, nxt in WISH_ROWS}
REFUSED_BY_GUARD = {
    (state, action): OWNER
    for state in ("published", "claimed", "in_service")
    for action in ("claim", "claim_for_unit")
}
"""Roles a row's guard refuses even beside an allowed role: nobody takes their own wish."""
CLAIM_EXPECTED = {(s, a): (roles, nxt) for s, a, roles, nxt in CLAIM_ROWS}
ACTORS = [pytest.param(frozenset({r}), id=r.value) for r in Role] + [
    pytest.param(frozenset(), id="no_role")
]


def names(message: str, word: str) -> bool:
    """Whether the message names ``word`` as a whole word (``admin`` is not in ``unit_admin``)."""
    return re.search(rf"(?<!\w){re.escape(word)}(?!\w)", message) is not None


def assert_refusal_explains(
    refused: NotAllowed | WrongState, action: str, state: str, needed: set[str] | None
) -> None:
    message = str(refused)
    assert names(message, action), message
    assert names(message, state), message
    assert (refused.action, refused.state) == (action, state)
    if isinstance(refused, WrongState):
        assert needed is None
        return
    assert refused.allowed == frozenset(needed)
    for role in needed or ():
        assert names(message, role), f"{message!r} does not name {role}"


def test_the_hand_written_rows_have_no_duplicates() -> None:
    assert len(WISH_EXPECTED) == len(WISH_ROWS)
    assert len(CLAIM_EXPECTED) == len(CLAIM_ROWS)


# Wishes: every state × action × role


@pytest.mark.parametrize("roles", ACTORS)
@pytest.mark.parametrize("action", list(WishAction))
@pytest.mark.parametrize("state", list(WishState))
def test_wish_transition_happens_only_by_a_row_and_an_allowed_role(
    state: WishState, action: WishAction, roles: frozenset[Role]
) -> None:
    row = WISH_EXPECTED.get((state.value, action.value))
    if row is not None and {r.value for r in roles} & row[0]:
        assert decide_wish(state, action, roles) == row[1]
        return
    with pytest.raises(NotAllowed if row else WrongState) as refused:
        decide_wish(state, action, roles)
    assert_refusal_explains(refused.value, action.value, state.value, row[0] if row else None)


@pytest.mark.parametrize(("state", "action", "allowed", "next_state"), WISH_ROWS)
def test_wish_row_admits_an_actor_holding_one_allowed_role_among_others(
    state: str, action: str, allowed: set[str], next_state: str | None
) -> None:
    refused = REFUSED_BY_GUARD.get((state, action), set())
    for role in allowed:
        roles = frozenset(Role(r) for r in {role} | ({r.value for r in Role} - allowed - refused))
        assert decide_wish(WishState(state), WishAction(action), roles) == next_state


@pytest.mark.parametrize(("state", "action", "allowed", "next_state"), WISH_ROWS)
def test_wish_row_refuses_an_actor_holding_every_other_role(
    state: str, action: str, allowed: set[str], next_state: str | None
) -> None:
    others = frozenset(r for r in Role if r.value not in allowed)
    with pytest.raises(NotAllowed) as refused:
        decide_wish(WishState(state), WishAction(action), others)
    assert_refusal_explains(refused.value, action, state, allowed)


@pytest.mark.parametrize("state", ["rejected", "expired", "cancelled", "closed"])
def test_a_finished_wish_allows_no_action_at_all(state: str) -> None:
    everyone = frozenset(Role)
    for action in WishAction:
        with pytest.raises(WrongState):
            decide_wish(WishState(state), action, everyone)


# Claims: every state × action × role


@pytest.mark.parametrize("roles", ACTORS)
@pytest.mark.parametrize("action", list(ClaimAction))
@pytest.mark.parametrize("state", list(ClaimState))
def test_claim_transition_happens_only_by_a_row_and_an_allowed_role(
    state: ClaimState, action: ClaimAction, roles: frozenset[Role]
) -> None:
    row = CLAIM_EXPECTED.get((state.value, action.value))
    if row is not None and {r.value for r in roles} & row[0]:
        assert decide_claim(state, action, roles) == row[1]
        return
    with pytest.raises(NotAllowed if row else WrongState) as refused:
        decide_claim(state, action, roles)
    assert_refusal_explains(refused.value, action.value, state.value, row[0] if row else None)


@pytest.mark.parametrize(("state", "action", "allowed", "next_state"), CLAIM_ROWS)
def test_claim_row_admits_an_actor_holding_one_allowed_role_among_others(
    state: str, action: str, allowed: set[str], next_state: str | None
) -> None:
    for role in allowed:
        roles = frozenset(Role(r) for r in {role} | ({r.value for r in Role} - allowed))
        assert decide_claim(ClaimState(state), ClaimAction(action), roles) == next_state


@pytest.mark.parametrize(("state", "action", "allowed", "next_state"), CLAIM_ROWS)
def test_claim_row_refuses_an_actor_holding_every_other_role(
    state: str, action: str, allowed: set[str], next_state: str | None
) -> None:
    others = frozenset(r for r in Role if r.value not in allowed)
    with pytest.raises(NotAllowed) as refused:
        decide_claim(ClaimState(state), ClaimAction(action), others)
    assert_refusal_explains(refused.value, action, state, allowed)


@pytest.mark.parametrize("state", ["confirmed", "withdrawn", "no_show", "voided", "assigned"])
def test_a_finished_claim_allows_no_action_at_all(state: str) -> None:
    everyone = frozenset(Role)
    for action in ClaimAction:
        with pytest.raises(WrongState):
            decide_claim(ClaimState(state), action, everyone)


def test_not_allowed_is_a_marketplace_error_with_a_stable_code() -> None:
    with pytest.raises(MarketplaceError) as refused:
        decide_wish(WishState.SUBMITTED, WishAction.VERIFY, frozenset({Role.VOLUNTEER}))
    assert refused.value.code == "not_allowed"


def test_not_now_is_a_conflict_apart_from_not_you() -> None:
    """Confirming a confirmed wish is "already done" (409 wrong_state), not "not yours" (403)."""
    with pytest.raises(WrongState) as done:
        decide_wish(WishState.CONFIRMED, WishAction.CONFIRM, frozenset({Role.BENEFICIARY}))
    assert isinstance(done.value, Conflict)
    assert not isinstance(done.value, NotAllowed)
    assert (done.value.code, done.value.subject) == ("wrong_state", "wish")
    with pytest.raises(WrongState) as done:
        decide_claim(ClaimState.CONFIRMED, ClaimAction.CONFIRM, frozenset({Role.STAFF}))
    assert (done.value.code, done.value.subject) == ("wrong_state", "claim")


def test_the_refusal_says_which_roles_the_actor_holds() -> None:
    with pytest.raises(NotAllowed) as refused:
        decide_wish(WishState.SERVED, WishAction.DISPUTE, frozenset({Role.STAFF, Role.GRID_WORKER}))
    assert refused.value.roles == {Role.STAFF, Role.GRID_WORKER}
    assert names(str(refused.value), "grid_worker")


# Where the claim counts put a wish


@pytest.mark.parametrize(
    ("current", "capacity", "places_taken", "serving", "served", "expected"),
    [
        pytest.param("published", 1, 0, 0, 0, "published", id="nobody-yet"),
        pytest.param("published", 2, 1, 0, 0, "published", id="a-place-left"),
        pytest.param("published", 1, 1, 0, 0, "claimed", id="the-only-place-taken"),
        pytest.param("published", 3, 3, 0, 0, "claimed", id="a-unit-took-every-place"),
        pytest.param("claimed", 2, 2, 0, 0, "claimed", id="still-full"),
        pytest.param("claimed", 2, 1, 0, 0, "published", id="a-claimant-withdrew"),
        pytest.param("claimed", 1, 0, 0, 0, "published", id="the-only-claimant-left"),
        pytest.param("in_service", 1, 1, 1, 0, "in_service", id="one-serving"),
        pytest.param("in_service", 2, 2, 1, 1, "in_service", id="one-out-one-serving"),
        pytest.param("in_service", 2, 2, 0, 1, "in_service", id="one-out-one-still-to-come"),
        pytest.param("in_service", 2, 2, 0, 2, "served", id="everyone-checked-out"),
        pytest.param("in_service", 3, 1, 0, 1, "served", id="out-and-nobody-else-coming"),
        pytest.param("in_service", 2, 0, 0, 0, "published", id="everyone-released"),
    ],
)
def test_wish_state_follows_its_claim_counts(
    current: str, capacity: int, places_taken: int, serving: int, served: int, expected: str
) -> None:
    assert wish_state_from_claims(
        WishState(current),
        capacity=capacity,
        places_taken=places_taken,
        serving=serving,
        served=served,
    ) == WishState(expected)


@pytest.mark.parametrize(
    "current",
    ["submitted", "served", "disputed", "confirmed", "closed", "rejected", "expired", "cancelled"],
)
def test_claim_counts_do_not_move_a_wish_outside_claiming_and_service(current: str) -> None:
    for counts in ((1, 0, 0, 0), (1, 1, 0, 0), (2, 2, 1, 1), (1, 1, 0, 1)):
        capacity, places_taken, serving, served = counts
        assert wish_state_from_claims(
            WishState(current),
            capacity=capacity,
            places_taken=places_taken,
            serving=serving,
            served=served,
        ) == WishState(current)


@pytest.mark.parametrize(
    ("places_left", "expected"), [(2, "active"), (1, "active"), (0, "assigned")]
)
def test_a_unit_claim_is_assigned_once_its_last_place_is(places_left: int, expected: str) -> None:
    assert unit_claim_state(places_left) == ClaimState(expected)


# Guards: the rules beside the roles


@pytest.mark.parametrize("action", ["claim", "claim_for_unit"])
@pytest.mark.parametrize("owner", sorted(OWNER))
def test_nobody_takes_their_own_wish(action: str, owner: str) -> None:
    roles = frozenset({Role(owner), Role.VOLUNTEER, Role.PARTY_MEMBER, Role.UNIT_ADMIN})
    with pytest.raises(NotAllowed) as refused:
        decide_wish(WishState.PUBLISHED, WishAction(action), roles)
    assert refused.value.guard == "not_own_wish"
    assert names(str(refused.value), "their own wish")


def test_once_a_place_is_taken_only_the_office_cancels() -> None:
    taken = Facts(places_taken=1)
    for owner in (Role.BENEFICIARY, Role.POSTER):
        with pytest.raises(NotAllowed) as refused:
            decide_wish(WishState.PUBLISHED, WishAction.CANCEL, frozenset({owner}), taken)
        assert refused.value.guard == "office_once_taken"
        assert decide_wish(WishState.PUBLISHED, WishAction.CANCEL, frozenset({owner})) == (
            WishState.CANCELLED
        )
    assert (
        decide_wish(WishState.PUBLISHED, WishAction.CANCEL, frozenset({Role.STAFF}), taken)
        == WishState.CANCELLED
    )


@pytest.mark.parametrize("action", ["claim", "claim_for_unit", "dispatch"])
def test_no_place_is_taken_after_the_window(action: str) -> None:
    roles = frozenset({Role.VOLUNTEER, Role.UNIT_ADMIN, Role.STAFF})
    with pytest.raises(NotAllowed) as refused:
        decide_wish(WishState.PUBLISHED, WishAction(action), roles, Facts(window_over=True))
    assert refused.value.guard == "window_open"


def test_a_unit_is_claimed_for_only_by_its_own_admin() -> None:
    with pytest.raises(NotAllowed) as refused:
        decide_wish(
            WishState.PUBLISHED,
            WishAction.CLAIM_FOR_UNIT,
            frozenset({Role.UNIT_ADMIN}),
            Facts(unit_admin=False),
        )
    assert refused.value.guard == "unit_admin"


def test_what_a_page_may_offer_is_what_the_table_decides() -> None:
    """``wish_actions`` and ``can_wish`` ask the same rows and guards as ``decide_wish``."""
    facts = [Facts(), Facts(places_taken=1), Facts(window_over=True), Facts(unit_admin=False)]
    every = [frozenset({r}) for r in Role] + [frozenset({Role.VOLUNTEER, Role.BENEFICIARY})]
    for state in WishState:
        for roles in every:
            for f in facts:
                offered = wish_actions(state, roles, f)
                for action in WishAction:
                    try:
                        decide_wish(state, action, roles, f)
                        allowed = action is not WishAction.SETTLE
                    except (NotAllowed, WrongState):
                        allowed = False
                    assert (action in offered) == allowed, (state, action, roles, f)
                    if action is not WishAction.SETTLE:
                        assert can_wish(state, action, roles, f) == allowed


def test_every_act_has_a_row_and_every_guard_a_rule() -> None:
    assert set(ACTS) == set(Act)
    for check in GUARDS.values():
        assert check.rule
    used = {g for row in WISH_TABLE.values() for g in row.guards}
    used |= {g for row in CLAIM_TABLE.values() for g in row.guards}
    from marketplace.lifecycle import MATTER_TABLE

    used |= {g for row in MATTER_TABLE.values() for g in row.guards}
    used |= {g for row in CORRECTION_TABLE.values() for g in row.guards}
    used |= {g for gs in ACT_GUARDS.values() for g in gs}
    assert used == set(GUARDS)


def test_office_decides_a_pending_correction_once_and_never_their_own() -> None:
    office, holder = frozenset({Role.STAFF}), frozenset({Role.RECORD_HOLDER})
    for action, to in (
        (CorrectionAction.ACCEPT, CorrectionState.CORRECTED),
        (CorrectionAction.REFUSE, CorrectionState.REFUSED),
    ):
        assert decide_correction(CorrectionState.PENDING, action, office) is to
        assert decide_correction(CorrectionState.PENDING, action, frozenset({Role.ADMIN})) is to
        with pytest.raises(NotAllowed):
            decide_correction(CorrectionState.PENDING, action, holder)
        with pytest.raises(NotAllowed) as own:
            decide_correction(CorrectionState.PENDING, action, office | holder)
        assert own.value.guard == "not_own_record"
        for decided in (CorrectionState.CORRECTED, CorrectionState.REFUSED):
            with pytest.raises(WrongState):
                decide_correction(decided, action, office)
    assert {state for state, _ in CORRECTION_TABLE} == {CorrectionState.PENDING}
