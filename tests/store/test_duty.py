"""双报到: in-service party members' 报到 records and their home unit's quarterly report, on both
backends.

The world (marketplace_world) has u1 paired with c1, its party member ``party`` and admin
``uadmin``; here ``party2`` (home unit u1) and ``party3`` (home unit u2, paired with c2) join.
The quarter is 2026-Q4 (October to December, China time); "now" is 15 December, so October and
November are over and December is not.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.engine import Connection

import marketplace as mk
import marketplace_world as world
import points
from marketplace import DutyKind, Rate, Role
from marketplace.duty import DUTIES
from marketplace.duty_report import Served, months_of, quarter_of, summarise
from marketplace.model import CHINA
from marketplace.periods import Period

NOW = dt.datetime(2026, 12, 15, 10, 0, tzinfo=CHINA)
H, M = dt.timedelta(hours=1), dt.timedelta(minutes=1)


def at(month: int, day: int, hour: int = 10, minute: int = 0, year: int = 2026) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=CHINA)


def serve(tx: Connection, member: str, wish_id: str, when: dt.datetime, minutes: int) -> None:
    """``member`` serves a wish of res in c1 on ``when``: posted, verified, claimed, served."""
    wish = mk.post_wish(
        tx,
        "res",
        community_id="c1",
        kind=mk.WishKind.SERVICE,
        category="助老陪护",
        title="陪老人散步",
        description="",
        org_id="g1",
        address="幸福路1号3栋",
        window_start=when + H,
        window_end=when + 5 * H,
        estimated_minutes=60,
        id=wish_id,
        now=when - 2 * H,
    )
    mk.verify(tx, "staff", "c1", wish_id, now=when - H)
    claim = mk.claim(tx, member, "c1", wish_id, now=when - H + M)
    mk.check_in(tx, member, "c1", claim.id, code=wish.confirmation_code, now=when + H)
    mk.check_out(tx, member, "c1", claim.id, now=when + H + minutes * M)


def build(db: points.Database) -> None:
    with db.transaction() as tx:
        world.build(tx)
        for member_id, unit in (("party2", "u1"), ("party3", "u2")):
            mk.add_member(tx, id=member_id, name=member_id, home_unit_id=unit, now=world.T0)
            mk.grant_role(tx, mk.SYSTEM, member_id, unit, Role.PARTY_MEMBER, now=world.T0)
        mk.add_member(tx, id="u2admin", name="u2admin", now=world.T0)
        mk.grant_role(tx, mk.SYSTEM, "u2admin", "u2", Role.UNIT_ADMIN, now=world.T0)
        mk.grant_role(tx, mk.SYSTEM, "party", "c1", Role.VOLUNTEER, now=world.T0)
        mk.pair_unit(tx, "admin", "u2", "c2", now=world.T0)
        mk.add_member(tx, id="staff2", name="staff2", now=world.T0)
        mk.grant_role(tx, mk.SYSTEM, "staff2", "c2", Role.STAFF, now=world.T0)
        # party: October by a staff entry, November by a served wish (rated 5); December not yet
        mk.record_duty(tx, "staff", community_id="c1", member_id="party", kind=DutyKind.CHECKIN,
                       at=at(10, 15), now=NOW, id="d1")  # fmt: skip
        serve(tx, "party", "w-nov", at(11, 20), 45)
        mk.confirm(tx, "res", "c1", "w-nov", rating=5, now=at(11, 21))
        mk.record_duty(tx, "staff", community_id="c1", member_id="party", kind=DutyKind.SURVEY,
                       at=at(12, 2), note="楼栋走访", now=NOW)  # fmt: skip
        mk.record_duty(tx, "grid", community_id="c1", member_id="party", kind=DutyKind.PAIRING,
                       at=at(3, 5), now=NOW)  # fmt: skip
        # party2: a 报到 one minute before the quarter, one at its very start... in Q3 and Q4
        mk.record_duty(tx, "staff", community_id="c1", member_id="party2",
                       kind=DutyKind.CHECKIN, at=at(9, 30, 23, 59), now=NOW)  # fmt: skip
        mk.record_duty(tx, "staff", community_id="c1", member_id="party2",
                       kind=DutyKind.CHECKIN, at=at(11, 1, 0, 0), now=NOW)  # fmt: skip
        # party3 (u2) reports to c2
        mk.record_duty(tx, "staff2", community_id="c2", member_id="party3",
                       kind=DutyKind.CHECKIN, at=at(10, 1, 0, 0), now=NOW)  # fmt: skip


def test_a_served_wish_and_a_staff_entry_each_count_as_their_months_report(
    db: points.Database,
) -> None:
    build(db)
    with db.snapshot() as tx:
        report = mk.unit_report(tx, "uadmin", "u1", period="2026-Q4", now=NOW)
    assert (report.unit_id, report.name, report.period) == ("u1", "区卫健局", "2026-Q4")
    assert (report.since, report.until) == (at(10, 1, 0), at(1, 1, 0, year=2027))
    party = {m.member_id: m for m in report.members}["party"]
    assert party.months == {"2026-10": True, "2026-11": True, "2026-12": False}
    assert party.missing == ()  # December is not over yet
    assert not party.behind
    assert (party.minutes, party.wishes, party.rated, party.satisfied) == (45, 1, 1, 1)
    assert party.quarter["survey"] == 1
    assert party.year["pairing"] == 1  # March: this year, not this quarter
    assert party.quarter["pairing"] == 0
    assert party.four_plus_one == ("party_meeting", "talk", "volunteer_day")
    assert (report.minutes, report.wishes) == (45, 1)
    assert report.satisfaction == Rate(numerator=1, denominator=1, percent=100.0)


def test_who_is_behind_counts_the_months_over_without_a_report(db: points.Database) -> None:
    build(db)
    with db.snapshot() as tx:
        q4 = mk.unit_report(tx, "uadmin", "u1", period="2026-Q4", now=NOW)
        q3 = mk.unit_report(tx, "uadmin", "u1", period="2026-Q3", now=NOW)
        later = mk.unit_report(tx, "uadmin", "u1", period="2026-Q4", now=at(1, 2, year=2027))
    party2 = {m.member_id: m for m in q4.members}["party2"]
    # 23:59 on 30 September is Q3's; midnight on 1 November starts November
    assert party2.months == {"2026-10": False, "2026-11": True, "2026-12": False}
    assert party2.missing == ("2026-10",)
    assert q4.behind == ("party2",)
    assert {m.member_id: m.months["2026-09"] for m in q3.members} == {
        "party": False,
        "party2": True,
    }
    assert {m.member_id: m.missing for m in later.members} == {
        "party": ("2026-12",),
        "party2": ("2026-10", "2026-12"),
    }
    assert [m.member_id for m in q4.members] == ["party", "party2"]  # u2's party3 is not here


def test_a_unit_admin_sees_only_their_unit(db: points.Database) -> None:
    build(db)
    with db.snapshot() as tx:
        assert [m.member_id for m in mk.unit_report(tx, "u2admin", "u2", now=NOW).members] == [
            "party3"
        ]
        for actor, unit in (("uadmin", "u2"), ("u2admin", "u1"), ("staff", "u1"),
                            ("party", "u1"), ("uadmin", "c1"), ("uadmin", "nowhere")):  # fmt: skip
            with pytest.raises(mk.NotFound):
                mk.unit_report(tx, actor, unit, now=NOW)
        with pytest.raises(mk.InvalidInput) as refused:
            mk.unit_report(tx, "uadmin", "u1", period="2026-11", now=NOW)
        assert refused.value.reason.code == "quarter_format"


def test_the_street_sees_the_roll_up_of_its_units(db: points.Database) -> None:
    build(db)
    with db.transaction() as tx:
        mk.add_member(tx, id="sstaff", name="街道干部", now=NOW)
        mk.grant_role(tx, mk.SYSTEM, "sstaff", "s1", Role.STAFF, now=NOW)
    with db.snapshot() as tx:
        street = mk.unit_rollup(tx, "sstaff", "s1", period="2026-Q4", now=NOW)
        own = mk.unit_rollup(tx, "staff", "c1", period="2026-Q4", now=NOW)
        for actor, org in (("staff", "s1"), ("uadmin", "s1"), ("staff", "c2")):
            with pytest.raises(mk.NotFound):
                mk.unit_rollup(tx, actor, org, now=NOW)
    lines = {u.unit_id: u for u in street}
    assert set(lines) == {"u1", "u2"}
    u1, u2 = lines["u1"], lines["u2"]
    assert (u1.name, u1.members, u1.minutes, u1.wishes, u1.behind) == ("区卫健局", 2, 45, 1, 1)
    assert (u2.members, u2.minutes, u2.behind) == (1, 0, 1)  # party3: November missing
    assert [u.unit_id for u in own] == ["u1"]


def test_who_may_record_what_is_the_duties_table(db: points.Database) -> None:
    build(db)
    with db.transaction() as tx:
        with pytest.raises(mk.NotAllowed):  # a grid worker records a pairing only
            mk.record_duty(tx, "grid", community_id="c1", member_id="party",
                           kind=DutyKind.CHECKIN, at=at(12, 1), now=NOW)  # fmt: skip
        for actor in ("vol1", "uadmin", "staff2"):  # staff of another community: not here
            with pytest.raises(mk.NotAllowed):
                mk.record_duty(tx, actor, community_id="c1", member_id="party",
                               kind=DutyKind.TALK, at=at(12, 1), now=NOW)  # fmt: skip
        refusals = {
            "member_id": {"member_id": "vol1"},  # no home unit: not an in-service member
            "kind": {"kind": "dance"},
            "at": {"at": NOW + H},
        }
        for field, change in refusals.items():
            args: dict[str, object] = {"member_id": "party", "kind": DutyKind.TALK, "at": at(12, 1)}
            args.update(change)
            with pytest.raises(mk.InvalidInput) as refused:
                mk.record_duty(tx, "staff", community_id="c1", now=NOW, **args)  # type: ignore[arg-type]
            assert refused.value.field == field
        first = mk.record_duty(tx, "staff", community_id="c1", member_id="party",
                               kind=DutyKind.TALK, at=at(12, 1), id="t1", now=NOW)  # fmt: skip
        again = mk.record_duty(tx, "staff", community_id="c1", member_id="party",
                               kind=DutyKind.TALK, at=at(12, 1), id="t1", now=NOW)  # fmt: skip
    assert first == again
    assert first.unit_id == "u1"
    assert all(DUTIES[k].recorders for k in DutyKind)


def test_summarise_is_pure_and_counts_a_wish_served_by_two_claims_once() -> None:
    quarter = quarter_of("2026-Q4", NOW)
    assert [m for m, _ in months_of(quarter)] == ["2026-10", "2026-11", "2026-12"]
    served = [
        Served("p", "c1/w", 30, at(10, 3), 4),
        Served("p", "c1/w", 20, at(10, 4), 4),
        Served("p", "c1/old", 60, at(9, 4), 1),  # Q3: the year's, not the quarter's
    ]
    lines = summarise({"u": "单位"}, [("u", "p", "P")], served, [], quarter, NOW)
    (line,) = lines["u"]
    assert (line.minutes, line.wishes, line.rated, line.satisfied) == (50, 1, 1, 1)
    assert line.missing == ("2026-11",)
    assert summarise({"u": "单位"}, [], [], [], Period(quarter.since, quarter.until), NOW) == {
        "u": ()
    }
