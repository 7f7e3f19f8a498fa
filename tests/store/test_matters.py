"""吹哨报到 on demand, on both backends: a community blows the whistle, the street or district
takes the matter in, sorts it into 三单, assigns it, answers it; the community rates it within 5
working days; deadlines count working days on the official calendar."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.engine import Connection

import marketplace as mk
import marketplace_world as world
import points
from marketplace import MatterKind, MatterState, Role
from marketplace.calendars import parse_days
from marketplace.matters import MilestoneIn
from marketplace.workdays import CHINA
from marketplace_world import T0  # Tuesday 1 December 2026, 09:00 China

LATER = T0 + dt.timedelta(days=20)


def china(day: int, hour: int = 10, month: int = 12, year: int = 2026) -> dt.datetime:
    return dt.datetime(year, month, day, hour, tzinfo=CHINA).astimezone(dt.UTC)


def end_of(day: int, month: int = 12) -> dt.datetime:
    """24:00 China at the end of that day."""
    return dt.datetime(2026, month, day, tzinfo=CHINA) + dt.timedelta(days=1)


def setup(tx: Connection) -> mk.Wish:
    world.build(tx)
    sys = mk.SYSTEM
    for member, org, role in (
        ("sstaff", "s1", Role.STAFF),
        ("dstaff", "d1", Role.STAFF),
        ("c2staff", "c2", Role.STAFF),
        ("u2admin", "u2", Role.UNIT_ADMIN),
    ):
        mk.add_member(tx, id=member, name=member, now=T0)
        mk.grant_role(tx, sys, member, org, role, now=T0)
    return world.post(tx, start=LATER)


def whistle(tx: Connection, wish: mk.Wish, now: dt.datetime = T0) -> mk.matters.Matter:
    return mk.matters.blow_whistle(
        tx, "staff", "c1", wish.id, reason="楼道积水，需住建部门处理", now=now
    )


def moves(tx: Connection, matter_id: str) -> list[tuple[str, str, str, str]]:
    return [
        (t.action, t.from_state, t.to_state, t.actor_id)
        for t in mk.history(tx, "c1", matter_id)
        if t.subject == "matter"
    ]


def test_whistle_accept_assign_answer_rate_each_step_recorded(db: points.Database) -> None:
    with db.transaction() as tx:
        wish = setup(tx)
        matter = whistle(tx, wish)
        assert (matter.state, matter.level, matter.org_id, matter.handler_id) == (
            "raised",
            1,
            "s1",
            "s1",
        )
        assert matter.respond_by == end_of(2)  # 1 working day after Tuesday
        accepted = mk.matters.accept(
            tx, "sstaff", "c1", matter.id, kind=MatterKind.IMMEDIATE, now=T0
        )
        assert accepted.kind is MatterKind.IMMEDIATE
        assert accepted.deadline_at == end_of(4)  # 即办: 3 working days after Tuesday
        assert accepted.responded_at == T0
        assigned = mk.matters.assign(
            tx, "sstaff", "c1", matter.id, unit_id="u1", days=2, now=china(3)
        )
        assert (assigned.state, assigned.handler_id, assigned.deadline_at) == (
            "assigned",
            "u1",
            end_of(7),  # Thursday + 2 working days = Monday 7 December
        )
        assert assigned.responded_at is None  # the unit has not responded yet
        noted = mk.matters.note(tx, "uadmin", "c1", matter.id, text="已派人查看", now=china(3, 15))
        assert noted.responded_at == china(3, 15)
        done = mk.matters.answer(tx, "uadmin", "c1", matter.id, text="已疏通排水", now=china(4))
        assert (done.state, done.on_time) == ("done", True)
        rated = mk.matters.rate(tx, "staff", "c1", matter.id, satisfaction=5, now=china(7))
        assert (rated.state, rated.satisfaction) == ("rated", 5)
        assert moves(tx, matter.id) == [
            ("raise", "new", "raised", "staff"),
            ("accept", "raised", "accepted", "sstaff"),
            ("assign_unit", "accepted", "assigned", "sstaff"),
            ("note", "assigned", "assigned", "uadmin"),
            ("answer", "assigned", "done", "uadmin"),
            ("rate", "done", "rated", "staff"),
        ]


def test_who_may_move_a_matter_follows_role_and_level(db: points.Database) -> None:
    with db.transaction() as tx:
        wish = setup(tx)
        for outsider in ("vol1", "sstaff", "res", "c2staff"):
            with pytest.raises((mk.NotAllowed, mk.NotFound)):
                mk.matters.blow_whistle(tx, outsider, "c1", wish.id, reason="x", now=T0)
        matter = whistle(tx, wish)
        # the community blew it: it may not take it in itself; other tenants learn nothing
        with pytest.raises(mk.NotAllowed):
            mk.matters.accept(tx, "staff", "c1", matter.id, kind=MatterKind.IMMEDIATE, now=T0)
        for stranger in ("c2staff", "vol1", "uadmin"):
            with pytest.raises(mk.NotFound):
                mk.matters.accept(tx, stranger, "c1", matter.id, kind="immediate", now=T0)  # type: ignore[arg-type]
        # a second whistle on the same wish while one is open is refused
        with pytest.raises(mk.InvalidInput):
            whistle(tx, wish)
        mk.matters.accept(tx, "sstaff", "c1", matter.id, kind=MatterKind.IMMEDIATE, now=T0)
        mk.matters.assign(tx, "sstaff", "c1", matter.id, unit_id="u1", days=3, now=T0)
        with pytest.raises(mk.NotFound):  # another unit's admin
            mk.matters.answer(tx, "u2admin", "c1", matter.id, text="x", now=T0)
        with pytest.raises(mk.NotAllowed):  # the whistler does not answer its own whistle
            mk.matters.answer(tx, "staff", "c1", matter.id, text="x", now=T0)
        with pytest.raises(mk.WrongState):  # rating before it is done
            mk.matters.rate(tx, "staff", "c1", matter.id, satisfaction=4, now=T0)
        # the unit hands it back to the street, which has it again
        back = mk.matters.send_back(tx, "uadmin", "c1", matter.id, reason="非本单位职责", now=T0)
        assert (back.state, back.handler_id, back.unit_id) == ("accepted", "s1", None)


def test_the_street_hands_up_the_district_sorts_it_staged_and_the_board_shows_no_person(
    db: points.Database,
) -> None:
    with db.transaction() as tx:
        wish = setup(tx)
        matter = whistle(tx, wish)
        up = mk.matters.escalate(tx, "sstaff", "c1", matter.id, reason="需区级协调", now=T0)
        assert (up.state, up.level, up.org_id) == ("raised", 2, "d1")
        with pytest.raises(mk.NotFound):  # the street no longer receives it
            mk.matters.accept(tx, "sstaff", "c1", matter.id, kind=MatterKind.IMMEDIATE, now=T0)
        with pytest.raises(mk.NotAllowed) as top:
            mk.matters.escalate(tx, "dstaff", "c1", matter.id, reason="x", now=T0)
        assert top.value.guard == "below_top"
        with pytest.raises(mk.InvalidInput):  # a staged matter needs dated milestones
            mk.matters.accept(tx, "dstaff", "c1", matter.id, kind=MatterKind.STAGED, now=T0)
        steps = [
            MilestoneIn(title="现场勘查", due_on=dt.date(2026, 12, 10)),
            MilestoneIn(title="完成改造", due_on=dt.date(2026, 12, 30)),
        ]
        staged = mk.matters.accept(
            tx, "dstaff", "c1", matter.id, kind=MatterKind.STAGED, steps=steps, now=T0
        )
        assert staged.deadline_at == end_of(30)
        mk.matters.note(tx, "dstaff", "c1", matter.id, text="已勘查", milestone=1, now=china(9))
        board = mk.matter_lists.board_matters(tx, "c1")
        assert len(board) == 1
        line = board[0]
        assert (line.kind, line.level, line.state, line.handler) == (
            "staged",
            2,
            "accepted",
            "幸福区",
        )
        assert line.due_on == dt.date(2026, 12, 30)
        assert [(s.title, s.due_on, s.done) for s in line.milestones] == [
            ("现场勘查", dt.date(2026, 12, 10), True),
            ("完成改造", dt.date(2026, 12, 30), False),
        ]
        shown = repr(board)
        for private in (wish.title, wish.address, "res", "需区级协调", "楼道积水", "已勘查"):
            assert private not in shown


def test_understood_matters_record_the_explanation_and_are_done(db: points.Database) -> None:
    with db.transaction() as tx:
        wish = setup(tx)
        matter = whistle(tx, wish)
        done = mk.matters.explain(
            tx, "sstaff", "c1", matter.id, explanation="明年纳入改造计划", now=T0
        )
        assert (done.state, done.kind, done.explanation) == (
            "done",
            "understood",
            "明年纳入改造计划",
        )
        assert mk.matter_lists.board_matters(tx, "c1")[0].kind is MatterKind.UNDERSTOOD
        # sent back: the community may blow the whistle again
        wish2 = world.post(tx, start=LATER)
        second = whistle(tx, wish2)
        back = mk.matters.send_back(tx, "sstaff", "c1", second.id, reason="社区可自行解决", now=T0)
        assert back.state is MatterState.RETURNED
        assert whistle(tx, wish2).state is MatterState.RAISED


def test_the_queue_lists_soonest_due_first_and_marks_the_overdue(db: points.Database) -> None:
    with db.transaction() as tx:
        wish = setup(tx)
        first = whistle(tx, wish, now=T0)  # respond by Wednesday 24:00
        wish2 = world.post(tx, start=LATER)
        second = whistle(tx, wish2, now=china(3))  # respond by Friday 24:00
        queue = mk.matter_lists.matter_queue(tx, "sstaff", "s1", now=china(4))
        assert [(q.matter.id, q.overdue) for q in queue] == [(first.id, True), (second.id, False)]
        assert queue[0].community == "阳光社区"
        with pytest.raises(mk.NotFound):  # a community's staff do not see the street's queue
            mk.matter_lists.matter_queue(tx, "staff", "s1", now=T0)
        mk.matters.accept(tx, "sstaff", "c1", second.id, kind=MatterKind.IMMEDIATE, now=china(3))
        mk.matters.assign(tx, "sstaff", "c1", second.id, unit_id="u1", days=1, now=china(3))
        unit_queue = mk.matter_lists.matter_queue(tx, "uadmin", "u1", now=china(4))
        assert [q.matter.id for q in unit_queue] == [second.id]


@pytest.mark.parametrize(("rated_on", "allowed"), [(8, True), (9, False)])
def test_rating_is_open_for_5_working_days_after_done(
    db: points.Database, rated_on: int, allowed: bool
) -> None:
    # done on Tuesday 1 December: the 5th working day after is Tuesday 8 December
    with db.transaction() as tx:
        wish = setup(tx)
        matter = whistle(tx, wish)
        mk.matters.explain(tx, "sstaff", "c1", matter.id, explanation="暂无法办理", now=T0)
        when = china(rated_on, 23)
        if allowed:
            assert (
                mk.matters.rate(tx, "staff", "c1", matter.id, satisfaction=3, now=when).state
                == "rated"
            )
        else:
            with pytest.raises(mk.NotAllowed) as refused:
                mk.matters.rate(tx, "staff", "c1", matter.id, satisfaction=3, now=when)
            assert refused.value.guard == "rating_window"


def test_a_year_the_calendar_does_not_cover_is_refused_until_an_admin_loads_it(
    db: points.Database,
) -> None:
    new_year_eve = china(31, 10)  # Thursday 31 December 2026: responding runs into 2027
    with db.transaction() as tx:
        wish = setup(tx)
    with db.transaction() as tx, pytest.raises(mk.CalendarYearMissing):
        whistle(tx, wish, now=new_year_eve)
    days = parse_days("2027-01-01,休,元旦\n2027-01-02,休,元旦\n")
    with db.transaction() as tx:
        with pytest.raises(mk.NotAllowed):
            mk.calendars.load_year(tx, "sstaff", days, source="国办发明电", now=T0)
        loaded = mk.calendars.load_year(tx, "admin", days, source="国办发明电", now=T0)
        assert loaded.year == 2027
        assert mk.calendars.coverage(tx).loaded == (2027,)
        matter = whistle(tx, wish, now=new_year_eve)
    # Friday 1 January off: the 1st working day after Thursday is Monday 4 January 2027
    assert matter.respond_by == dt.datetime(2027, 1, 5, tzinfo=CHINA)


def test_quarterly_figures_match_a_hand_computed_quarter(db: points.Database) -> None:
    """Four matters of Q4 2026 in 和平街道 (s1), worked out by hand:

    A  street, 即办, accepted at once, answered Wed, rated 5     responded ✓ done ✓ on time ✓
    B  assigned to u1 for 1 working day (Wed 24:00); the unit first acts Thu and answers Thu;
       rated 3                                                 u1: responded ✗ done ✓ late
    C  street, left untaken until Fri, then 谅解                responded ✗ done ✓ late
    D  street, sent back at once                               responded ✓ not done

    s1: received 3, responded 2/3 = 66.7 %, resolved 2/3 = 66.7 %, on time 1/2 = 50.0 %,
        satisfied 1/1 = 100.0 %, mean 5.0
    u1: received 1, responded 0/1 = 0.0 %, resolved 1/1 = 100.0 %, on time 0/1 = 0.0 %,
        satisfied 0/1 = 0.0 %, mean 3.0
    """
    m = mk.matters
    with db.transaction() as tx:
        wish = setup(tx)
        a, b, c, d = [whistle(tx, w) for w in (wish, *(world.post(tx, start=LATER) for _ in "bcd"))]
        m.accept(tx, "sstaff", "c1", a.id, kind=MatterKind.IMMEDIATE, now=T0)
        m.answer(tx, "sstaff", "c1", a.id, text="已处理", now=china(2))
        m.rate(tx, "staff", "c1", a.id, satisfaction=5, now=china(3))
        m.accept(tx, "sstaff", "c1", b.id, kind=MatterKind.IMMEDIATE, now=T0)
        m.assign(tx, "sstaff", "c1", b.id, unit_id="u1", days=1, now=T0)
        m.note(tx, "uadmin", "c1", b.id, text="收到", now=china(3))
        m.answer(tx, "uadmin", "c1", b.id, text="已处理", now=china(3, 16))
        m.rate(tx, "staff", "c1", b.id, satisfaction=3, now=china(4))
        m.explain(tx, "sstaff", "c1", c.id, explanation="暂无法办理", now=china(4))
        m.send_back(tx, "sstaff", "c1", d.id, reason="社区自行处理", now=T0)
        with pytest.raises(mk.NotAllowed):  # a community's staff do not see the area's figures
            mk.evaluation.quarterly(tx, "staff", "s1", period="2026-Q4", now=china(7))
        result = mk.evaluation.quarterly(tx, "sstaff", "s1", period="2026-Q4", now=china(7))
        earlier = mk.evaluation.quarterly(tx, "sstaff", "s1", period="2026-Q3", now=china(7))
    figures = {
        h.org_id: (
            h.received,
            h.responded.percent,
            h.resolved.percent,
            h.on_time.percent,
            h.satisfied.percent,
            h.mean_rating,
        )
        for h in result.handlers
    }
    assert figures == {
        "s1": (3, 66.7, 66.7, 50.0, 100.0, 5.0),
        "u1": (1, 0.0, 100.0, 0.0, 0.0, 3.0),
    }
    assert earlier.handlers == ()


def test_a_wish_the_sweep_escalated_is_taken_up_by_the_street(db: points.Database) -> None:
    with db.transaction() as tx:
        wish = setup(tx)  # submitted: 24 hours to verify
        with pytest.raises(mk.InvalidInput):  # not escalated: the community's own
            mk.matters.take_up(tx, "sstaff", "c1", wish.id, now=T0)
        mk.escalate_due(tx, now=T0 + dt.timedelta(hours=25))  # level 1: the street's
        with pytest.raises(mk.NotAllowed):  # the community's staff do not take it up
            mk.matters.take_up(tx, "staff", "c1", wish.id, now=china(2, 12))
        matter = mk.matters.take_up(tx, "sstaff", "c1", wish.id, now=china(2, 12))
        assert (matter.state, matter.level, matter.org_id) == ("raised", 1, "s1")
        assert mk.escalation_levels(matter.reason) == (0, 1)
        mk.matters.accept(tx, "sstaff", "c1", matter.id, kind=MatterKind.IMMEDIATE, now=china(2))
        assert moves(tx, matter.id)[0] == ("take_up", "new", "raised", "sstaff")
