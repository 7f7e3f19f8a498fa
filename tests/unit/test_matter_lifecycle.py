"""The matter table (吹哨事项): every state × action × role, against rows written out by hand."""

from __future__ import annotations

import pytest

from marketplace.errors import NotAllowed, WrongState
from marketplace.lifecycle import (
    Facts,
    MatterAction,
    MatterState,
    Role,
    decide_matter,
    matter_actions,
)

W, R, H = {"whistler"}, {"receiver"}, {"handler"}
ROWS: list[tuple[str, str, set[str], str]] = [
    ("raised", "accept", R, "accepted"),
    ("raised", "explain", R, "done"),
    ("raised", "send_back", R, "returned"),
    ("raised", "escalate", R, "raised"),
    ("accepted", "explain", R, "done"),
    ("accepted", "assign_unit", R, "assigned"),
    ("accepted", "answer", R, "done"),
    ("accepted", "escalate", R, "raised"),
    ("accepted", "note", R, "accepted"),
    ("assigned", "answer", H | R, "done"),
    ("assigned", "note", H | R, "assigned"),
    ("assigned", "send_back", H, "accepted"),
    ("done", "rate", W, "rated"),
]
EXPECTED = {(s, a): (roles, nxt) for s, a, roles, nxt in ROWS}
ACTORS = [pytest.param(frozenset({r}), id=r.value) for r in Role] + [
    pytest.param(frozenset(), id="no_role")
]


@pytest.mark.parametrize("roles", ACTORS)
@pytest.mark.parametrize("action", list(MatterAction))
@pytest.mark.parametrize("state", list(MatterState))
def test_matter_moves_only_by_a_row_and_an_allowed_role(
    state: MatterState, action: MatterAction, roles: frozenset[Role]
) -> None:
    row = EXPECTED.get((state.value, action.value))
    if row is not None and {r.value for r in roles} & row[0]:
        assert decide_matter(state, action, roles) == row[1]
        return
    with pytest.raises(NotAllowed if row else WrongState) as refused:
        decide_matter(state, action, roles)
    assert refused.value.action == action.value
    assert refused.value.state == state.value


def test_the_street_hands_up_but_the_district_has_no_level_above() -> None:
    receiver = frozenset({Role.RECEIVER})
    street, district = Facts(level=1), Facts(level=2)
    assert decide_matter(MatterState.RAISED, MatterAction.ESCALATE, receiver, street) == "raised"
    with pytest.raises(NotAllowed) as refused:
        decide_matter(MatterState.ACCEPTED, MatterAction.ESCALATE, receiver, district)
    assert refused.value.guard == "below_top"
    assert MatterAction.ESCALATE not in matter_actions(MatterState.RAISED, receiver, district)


def test_rating_is_refused_once_the_window_closed() -> None:
    whistler = frozenset({Role.WHISTLER})
    assert decide_matter(MatterState.DONE, MatterAction.RATE, whistler) == "rated"
    with pytest.raises(NotAllowed) as refused:
        decide_matter(MatterState.DONE, MatterAction.RATE, whistler, Facts(rating_open=False))
    assert refused.value.guard == "rating_window"


@pytest.mark.parametrize("state", ["returned", "rated"])
def test_a_finished_matter_allows_nothing(state: str) -> None:
    for action in MatterAction:
        with pytest.raises(WrongState):
            decide_matter(MatterState(state), action, frozenset(Role))


def test_the_hand_written_rows_are_the_table() -> None:
    from marketplace.lifecycle import MATTER_TABLE

    assert {(s.value, a.value) for s, a in MATTER_TABLE} == set(EXPECTED)
