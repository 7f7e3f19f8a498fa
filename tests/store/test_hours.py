"""The hours record (志愿服务时长): written once per reference, corrected with a reason, summed
into totals per category and a star level."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from sqlalchemy.engine import Connection

import points
import support

C = "c1"
NOW = dt.datetime(2026, 3, 1, 2, 0, tzinfo=dt.UTC)
DAY = dt.date(2026, 3, 1)


def record(
    tx: Connection,
    reference: str,
    minutes: int,
    *,
    member: str = "m1",
    category: str = "助老",
    community: str = C,
    served_on: dt.date = DAY,
) -> points.ServiceRecord:
    return points.record_service(
        tx,
        community_id=community,
        member_id=member,
        category=category,
        minutes=minutes,
        served_on=served_on,
        reference=reference,
        actor="staff1",
        now=NOW,
    )


def assert_healthy(db: points.Database) -> None:
    with db.snapshot() as tx:
        assert points.audit(tx) == []


def test_recording_service_keeps_minutes_category_and_day(db: points.Database) -> None:
    with db.transaction() as tx:
        kept = record(tx, "claim:1", 90)

    assert (kept.member_id, kept.category, kept.minutes, kept.served_on) == ("m1", "助老", 90, DAY)
    assert kept.reference == "claim:1"
    assert kept.actor == "staff1"
    assert kept.created_at == NOW
    with db.snapshot() as tx:
        summary = points.hours_summary(tx, "m1")
    assert summary.minutes == 90
    assert summary.hours == "1.5"
    assert_healthy(db)


def test_recording_the_same_reference_twice_returns_the_first_record(
    db: points.Database,
) -> None:
    with db.transaction() as tx:
        first = record(tx, "claim:1", 90)
    with db.transaction() as tx:
        again = record(tx, "claim:1", 90)

    assert again == first
    with db.snapshot() as tx:
        assert (points.hours_summary(tx, "m1")).minutes == 90
    assert_healthy(db)


def test_same_reference_with_different_minutes_is_an_idempotency_mismatch(
    db: points.Database,
) -> None:
    with db.transaction() as tx:
        record(tx, "claim:1", 90)

    with pytest.raises(points.IdempotencyMismatch) as caught, db.transaction() as tx:
        record(tx, "claim:1", 120)

    assert caught.value.transfer_id == "claim:1"
    assert "minutes" in caught.value.fields
    with db.snapshot() as tx:
        assert (points.hours_summary(tx, "m1")).minutes == 90
    assert_healthy(db)


def test_same_reference_in_another_community_is_a_separate_record(
    db: points.Database,
) -> None:
    with db.transaction() as tx:
        record(tx, "claim:1", 90)
        record(tx, "claim:1", 30, community="c2")

    with db.snapshot() as tx:
        assert (points.hours_summary(tx, "m1")).minutes == 120
    assert_healthy(db)


@pytest.mark.parametrize("minutes", [0, -5, 1441, True, 1.5])
def test_minutes_outside_one_to_1440_are_refused(db: points.Database, minutes: int) -> None:
    with pytest.raises(points.InvalidRequest), db.transaction() as tx:
        record(tx, "claim:1", minutes)

    with db.snapshot() as tx:
        assert (points.hours_summary(tx, "m1")).minutes == 0
    assert_healthy(db)


def test_a_whole_day_of_1440_minutes_is_the_most_one_record_holds(
    db: points.Database,
) -> None:
    with db.transaction() as tx:
        kept = record(tx, "claim:1", 1440)

    assert kept.minutes == 1440
    assert_healthy(db)


def test_an_empty_category_is_refused(db: points.Database) -> None:
    with pytest.raises(points.InvalidRequest), db.transaction() as tx:
        record(tx, "claim:1", 60, category="  ")
    assert_healthy(db)


def test_a_correction_adds_signed_minutes_to_the_record(db: points.Database) -> None:
    with db.transaction() as tx:
        original = record(tx, "claim:1", 90)
    with db.transaction() as tx:
        less = points.correct_service(
            tx,
            community_id=C,
            reference="claim:1",
            minutes=-30,
            reason="签退时间录错",
            actor="staff2",
            now=NOW,
        )
    with db.transaction() as tx:
        more = points.correct_service(
            tx,
            community_id=C,
            reference="claim:1",
            minutes=15,
            reason="补录准备时间",
            actor="staff2",
            now=NOW,
        )

    assert less.minutes == -30
    assert less.memo == "签退时间录错"
    assert (less.member_id, less.category, less.served_on) == ("m1", "助老", DAY)
    assert more.minutes == 15
    assert less.reference != more.reference != original.reference
    with db.snapshot() as tx:
        summary = points.hours_summary(tx, "m1")
    assert summary.minutes == 90 - 30 + 15
    assert summary.by_category == {"助老": 75}
    assert_healthy(db)


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_correction_needs_a_reason(db: points.Database, reason: str) -> None:
    with db.transaction() as tx:
        record(tx, "claim:1", 90)

    with pytest.raises(points.InvalidRequest), db.transaction() as tx:
        points.correct_service(
            tx,
            community_id=C,
            reference="claim:1",
            minutes=-30,
            reason=reason,
            actor="staff2",
            now=NOW,
        )

    with db.snapshot() as tx:
        assert (points.hours_summary(tx, "m1")).minutes == 90
    assert_healthy(db)


@pytest.mark.parametrize("minutes", [0, True])
def test_a_correction_of_no_minutes_is_refused(db: points.Database, minutes: int) -> None:
    with db.transaction() as tx:
        record(tx, "claim:1", 90)

    with pytest.raises(points.InvalidRequest), db.transaction() as tx:
        points.correct_service(
            tx,
            community_id=C,
            reference="claim:1",
            minutes=minutes,
            reason="x",
            actor="staff2",
            now=NOW,
        )
    assert_healthy(db)


def test_a_correction_never_takes_a_record_below_zero(db: points.Database) -> None:
    with db.transaction() as tx:
        record(tx, "claim:1", 90)
        record(tx, "claim:2", 600)
        points.correct_service(
            tx,
            community_id=C,
            reference="claim:1",
            minutes=-60,
            reason="多报了一小时",
            actor="staff2",
            now=NOW,
        )

    # 30 minutes are left on claim:1; the member's other record does not count.
    with pytest.raises(points.InvalidRequest, match="30 minutes"), db.transaction() as tx:
        points.correct_service(
            tx,
            community_id=C,
            reference="claim:1",
            minutes=-31,
            reason="再扣",
            actor="staff2",
            now=NOW,
        )
    with db.transaction() as tx:
        points.correct_service(
            tx,
            community_id=C,
            reference="claim:1",
            minutes=-30,
            reason="全部作废",
            actor="staff2",
            now=NOW,
        )

    with db.snapshot() as tx:
        summary = points.hours_summary(tx, "m1")
    assert summary.minutes == 600
    assert_healthy(db)


def test_correcting_an_unknown_reference_is_not_found(db: points.Database) -> None:
    with pytest.raises(points.NotFound), db.transaction() as tx:
        points.correct_service(
            tx,
            community_id=C,
            reference="claim:404",
            minutes=10,
            reason="x",
            actor="staff2",
            now=NOW,
        )
    assert_healthy(db)


def test_summary_totals_per_category_across_communities_or_within_one(
    db: points.Database,
) -> None:
    with db.transaction() as tx:
        record(tx, "claim:1", 90, category="助老")
        record(tx, "claim:2", 45, category="环保")
        record(tx, "claim:3", 60, category="助老", community="c2")
        record(tx, "claim:4", 500, member="m2")

    with db.snapshot() as tx:
        everywhere = points.hours_summary(tx, "m1")
        in_c1 = points.hours_summary(tx, "m1", community_id=C)
        in_c2 = points.hours_summary(tx, "m1", community_id="c2")
        nobody = points.hours_summary(tx, "m9")

    assert everywhere.by_category == {"助老": 150, "环保": 45}
    assert everywhere.minutes == 195
    assert everywhere.hours == "3.3"  # 3.25 h rounds half up
    assert in_c1.by_category == {"助老": 90, "环保": 45}
    assert in_c1.minutes == 135
    assert in_c2.by_category == {"助老": 60}
    assert (nobody.minutes, nobody.hours, nobody.star_level, nobody.by_category) == (
        0,
        "0.0",
        0,
        {},
    )
    assert_healthy(db)


def test_a_category_corrected_to_zero_leaves_the_summary(db: points.Database) -> None:
    with db.transaction() as tx:
        record(tx, "claim:1", 90, category="助老")
        record(tx, "claim:2", 45, category="环保")
        points.correct_service(
            tx,
            community_id=C,
            reference="claim:2",
            minutes=-45,
            reason="重复登记",
            actor="staff2",
            now=NOW,
        )

    with db.snapshot() as tx:
        summary = points.hours_summary(tx, "m1")
    assert summary.by_category == {"助老": 90}
    assert_healthy(db)


def test_star_level_reaches_one_star_at_exactly_100_hours(db: points.Database) -> None:
    with db.transaction() as tx:
        for n in range(4):
            record(tx, f"claim:{n}", 1440, served_on=DAY + dt.timedelta(days=n))
        record(tx, "claim:4", 239, served_on=DAY + dt.timedelta(days=4))

    with db.snapshot() as tx:
        below = points.hours_summary(tx, "m1")
    with db.transaction() as tx:
        points.correct_service(
            tx,
            community_id=C,
            reference="claim:4",
            minutes=1,
            reason="补录1分钟",
            actor="staff2",
            now=NOW,
        )
    with db.snapshot() as tx:
        at = points.hours_summary(tx, "m1")
        custom = points.hours_summary(tx, "m1", thresholds_hours=(10, 50, 100, 200))

    assert (below.minutes, below.hours, below.star_level) == (5999, "100.0", 0)
    assert (at.minutes, at.hours, at.star_level) == (6000, "100.0", 1)
    assert custom.star_level == 3
    assert_healthy(db)


def test_a_correction_cannot_itself_be_corrected_to_push_a_record_below_zero(
    db: points.Database,
) -> None:
    with db.transaction() as tx:
        record(tx, "claim:1", 90)
        fix = points.correct_service(
            tx,
            community_id=C,
            reference="claim:1",
            minutes=50,
            reason="补录",
            actor="staff2",
            now=NOW,
        )

    # Corrections are made to the original record; a correction's own reference is refused.
    with pytest.raises(points.InvalidRequest), db.transaction() as tx:
        points.correct_service(
            tx,
            community_id=C,
            reference=fix.reference,
            minutes=-50,
            reason="撤销补录",
            actor="staff2",
            now=NOW,
        )
    with db.transaction() as tx:
        points.correct_service(
            tx,
            community_id=C,
            reference="claim:1",
            minutes=-50,
            reason="撤销补录",
            actor="staff2",
            now=NOW,
        )
    with pytest.raises(points.InvalidRequest), db.transaction() as tx:
        points.correct_service(
            tx,
            community_id=C,
            reference="claim:1",
            minutes=-91,
            reason="全部作废",
            actor="staff2",
            now=NOW,
        )

    with db.snapshot() as tx:
        assert (points.hours_summary(tx, "m1")).minutes == 90
    assert_healthy(db)


def test_concurrent_corrections_of_one_record_all_count(db: points.Database) -> None:
    with db.transaction() as tx:
        record(tx, "claim:1", 90)

    def less(n: int) -> Callable[[Connection], points.ServiceRecord]:
        return lambda tx: points.correct_service(
            tx,
            community_id=C,
            reference="claim:1",
            minutes=-20,
            reason=f"扣减{n}",
            actor="staff2",
            now=NOW,
        )

    fixes = support.concurrently(db, [less(1), less(2), less(3)])

    assert len({fix.id for fix in fixes}) == 3
    with db.snapshot() as tx:
        assert (points.hours_summary(tx, "m1")).minutes == 30
    assert_healthy(db)


def test_concurrent_corrections_never_take_a_record_below_zero(db: points.Database) -> None:
    with db.transaction() as tx:
        record(tx, "claim:1", 90)

    def less(tx: Connection) -> points.ServiceRecord:
        return points.correct_service(
            tx,
            community_id=C,
            reference="claim:1",
            minutes=-60,
            reason="扣减",
            actor="staff2",
            now=NOW,
        )

    results = support.concurrently(db, [less, less], return_exceptions=True)

    assert sum(isinstance(r, points.InvalidRequest) for r in results) == 1
    with db.snapshot() as tx:
        assert (points.hours_summary(tx, "m1")).minutes == 30
    assert_healthy(db)


def test_references_starting_fix_are_kept_for_corrections(db: points.Database) -> None:
    with pytest.raises(points.InvalidRequest), db.transaction() as tx:
        record(tx, "fix:claim:1", 60)
    assert_healthy(db)
