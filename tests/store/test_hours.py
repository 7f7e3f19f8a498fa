"""The hours record (志愿服务时长): written once per reference, corrected with a reason, summed
into totals per category and a star level."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

import points

C = "c1"
NOW = dt.datetime(2026, 3, 1, 2, 0, tzinfo=dt.UTC)
DAY = dt.date(2026, 3, 1)


async def record(
    tx: AsyncConnection,
    reference: str,
    minutes: int,
    *,
    member: str = "m1",
    category: str = "助老",
    community: str = C,
    served_on: dt.date = DAY,
) -> points.ServiceRecord:
    return await points.record_service(
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


async def assert_healthy(db: points.Database) -> None:
    async with db.read() as tx:
        assert await points.audit(tx) == []


async def test_recording_service_keeps_minutes_category_and_day(db: points.Database) -> None:
    async with db.transaction() as tx:
        kept = await record(tx, "claim:1", 90)

    assert (kept.member_id, kept.category, kept.minutes, kept.served_on) == ("m1", "助老", 90, DAY)
    assert kept.reference == "claim:1"
    assert kept.actor == "staff1"
    assert kept.created_at == NOW
    async with db.read() as tx:
        summary = await points.hours_summary(tx, "m1")
    assert summary.minutes == 90
    assert summary.hours == "1.5"
    await assert_healthy(db)


async def test_recording_the_same_reference_twice_returns_the_first_record(
    db: points.Database,
) -> None:
    async with db.transaction() as tx:
        first = await record(tx, "claim:1", 90)
    async with db.transaction() as tx:
        again = await record(tx, "claim:1", 90)

    assert again == first
    async with db.read() as tx:
        assert (await points.hours_summary(tx, "m1")).minutes == 90
    await assert_healthy(db)


async def test_same_reference_with_different_minutes_is_an_idempotency_mismatch(
    db: points.Database,
) -> None:
    async with db.transaction() as tx:
        await record(tx, "claim:1", 90)

    with pytest.raises(points.IdempotencyMismatch) as caught:
        async with db.transaction() as tx:
            await record(tx, "claim:1", 120)

    assert caught.value.transfer_id == "claim:1"
    assert "minutes" in caught.value.fields
    async with db.read() as tx:
        assert (await points.hours_summary(tx, "m1")).minutes == 90
    await assert_healthy(db)


async def test_same_reference_in_another_community_is_a_separate_record(
    db: points.Database,
) -> None:
    async with db.transaction() as tx:
        await record(tx, "claim:1", 90)
        await record(tx, "claim:1", 30, community="c2")

    async with db.read() as tx:
        assert (await points.hours_summary(tx, "m1")).minutes == 120
    await assert_healthy(db)


@pytest.mark.parametrize("minutes", [0, -5, 1441, True, 1.5])
async def test_minutes_outside_one_to_1440_are_refused(db: points.Database, minutes: int) -> None:
    with pytest.raises(points.InvalidRequest):
        async with db.transaction() as tx:
            await record(tx, "claim:1", minutes)

    async with db.read() as tx:
        assert (await points.hours_summary(tx, "m1")).minutes == 0
    await assert_healthy(db)


async def test_a_whole_day_of_1440_minutes_is_the_most_one_record_holds(
    db: points.Database,
) -> None:
    async with db.transaction() as tx:
        kept = await record(tx, "claim:1", 1440)

    assert kept.minutes == 1440
    await assert_healthy(db)


async def test_an_empty_category_is_refused(db: points.Database) -> None:
    with pytest.raises(points.InvalidRequest):
        async with db.transaction() as tx:
            await record(tx, "claim:1", 60, category="  ")
    await assert_healthy(db)


async def test_a_correction_adds_signed_minutes_to_the_record(db: points.Database) -> None:
    async with db.transaction() as tx:
        original = await record(tx, "claim:1", 90)
    async with db.transaction() as tx:
        less = await points.correct_service(
            tx,
            community_id=C,
            reference="claim:1",
            minutes=-30,
            reason="签退时间录错",
            actor="staff2",
            now=NOW,
        )
    async with db.transaction() as tx:
        more = await points.correct_service(
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
    async with db.read() as tx:
        summary = await points.hours_summary(tx, "m1")
    assert summary.minutes == 90 - 30 + 15
    assert summary.by_category == {"助老": 75}
    await assert_healthy(db)


@pytest.mark.parametrize("reason", ["", "   "])
async def test_a_correction_needs_a_reason(db: points.Database, reason: str) -> None:
    async with db.transaction() as tx:
        await record(tx, "claim:1", 90)

    with pytest.raises(points.InvalidRequest):
        async with db.transaction() as tx:
            await points.correct_service(
                tx,
                community_id=C,
                reference="claim:1",
                minutes=-30,
                reason=reason,
                actor="staff2",
                now=NOW,
            )

    async with db.read() as tx:
        assert (await points.hours_summary(tx, "m1")).minutes == 90
    await assert_healthy(db)


@pytest.mark.parametrize("minutes", [0, True])
async def test_a_correction_of_no_minutes_is_refused(db: points.Database, minutes: int) -> None:
    async with db.transaction() as tx:
        await record(tx, "claim:1", 90)

    with pytest.raises(points.InvalidRequest):
        async with db.transaction() as tx:
            await points.correct_service(
                tx,
                community_id=C,
                reference="claim:1",
                minutes=minutes,
                reason="x",
                actor="staff2",
                now=NOW,
            )
    await assert_healthy(db)


async def test_a_correction_never_takes_a_record_below_zero(db: points.Database) -> None:
    async with db.transaction() as tx:
        await record(tx, "claim:1", 90)
        await record(tx, "claim:2", 600)
        await points.correct_service(
            tx,
            community_id=C,
            reference="claim:1",
            minutes=-60,
            reason="多报了一小时",
            actor="staff2",
            now=NOW,
        )

    # 30 minutes are left on claim:1; the member's other record does not count.
    with pytest.raises(points.InvalidRequest, match="30 minutes"):
        async with db.transaction() as tx:
            await points.correct_service(
                tx,
                community_id=C,
                reference="claim:1",
                minutes=-31,
                reason="再扣",
                actor="staff2",
                now=NOW,
            )
    async with db.transaction() as tx:
        await points.correct_service(
            tx,
            community_id=C,
            reference="claim:1",
            minutes=-30,
            reason="全部作废",
            actor="staff2",
            now=NOW,
        )

    async with db.read() as tx:
        summary = await points.hours_summary(tx, "m1")
    assert summary.minutes == 600
    await assert_healthy(db)


async def test_correcting_an_unknown_reference_is_not_found(db: points.Database) -> None:
    with pytest.raises(points.NotFound):
        async with db.transaction() as tx:
            await points.correct_service(
                tx,
                community_id=C,
                reference="claim:404",
                minutes=10,
                reason="x",
                actor="staff2",
                now=NOW,
            )
    await assert_healthy(db)


async def test_summary_totals_per_category_across_communities_or_within_one(
    db: points.Database,
) -> None:
    async with db.transaction() as tx:
        await record(tx, "claim:1", 90, category="助老")
        await record(tx, "claim:2", 45, category="环保")
        await record(tx, "claim:3", 60, category="助老", community="c2")
        await record(tx, "claim:4", 500, member="m2")

    async with db.read() as tx:
        everywhere = await points.hours_summary(tx, "m1")
        in_c1 = await points.hours_summary(tx, "m1", community_id=C)
        in_c2 = await points.hours_summary(tx, "m1", community_id="c2")
        nobody = await points.hours_summary(tx, "m9")

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
    await assert_healthy(db)


async def test_a_category_corrected_to_zero_leaves_the_summary(db: points.Database) -> None:
    async with db.transaction() as tx:
        await record(tx, "claim:1", 90, category="助老")
        await record(tx, "claim:2", 45, category="环保")
        await points.correct_service(
            tx,
            community_id=C,
            reference="claim:2",
            minutes=-45,
            reason="重复登记",
            actor="staff2",
            now=NOW,
        )

    async with db.read() as tx:
        summary = await points.hours_summary(tx, "m1")
    assert summary.by_category == {"助老": 90}
    await assert_healthy(db)


async def test_star_level_reaches_one_star_at_exactly_100_hours(db: points.Database) -> None:
    async with db.transaction() as tx:
        for n in range(4):
            await record(tx, f"claim:{n}", 1440, served_on=DAY + dt.timedelta(days=n))
        await record(tx, "claim:4", 239, served_on=DAY + dt.timedelta(days=4))

    async with db.read() as tx:
        below = await points.hours_summary(tx, "m1")
    async with db.transaction() as tx:
        await points.correct_service(
            tx,
            community_id=C,
            reference="claim:4",
            minutes=1,
            reason="补录1分钟",
            actor="staff2",
            now=NOW,
        )
    async with db.read() as tx:
        at = await points.hours_summary(tx, "m1")
        custom = await points.hours_summary(tx, "m1", thresholds_hours=(10, 50, 100, 200))

    assert (below.minutes, below.hours, below.star_level) == (5999, "100.0", 0)
    assert (at.minutes, at.hours, at.star_level) == (6000, "100.0", 1)
    assert custom.star_level == 3
    await assert_healthy(db)


async def test_a_correction_cannot_itself_be_corrected_to_push_a_record_below_zero(
    db: points.Database,
) -> None:
    async with db.transaction() as tx:
        await record(tx, "claim:1", 90)
        fix = await points.correct_service(
            tx,
            community_id=C,
            reference="claim:1",
            minutes=50,
            reason="补录",
            actor="staff2",
            now=NOW,
        )

    # Corrections are made to the original record; a correction's own reference is refused.
    with pytest.raises(points.InvalidRequest):
        async with db.transaction() as tx:
            await points.correct_service(
                tx,
                community_id=C,
                reference=fix.reference,
                minutes=-50,
                reason="撤销补录",
                actor="staff2",
                now=NOW,
            )
    async with db.transaction() as tx:
        await points.correct_service(
            tx,
            community_id=C,
            reference="claim:1",
            minutes=-50,
            reason="撤销补录",
            actor="staff2",
            now=NOW,
        )
    with pytest.raises(points.InvalidRequest):
        async with db.transaction() as tx:
            await points.correct_service(
                tx,
                community_id=C,
                reference="claim:1",
                minutes=-91,
                reason="全部作废",
                actor="staff2",
                now=NOW,
            )

    async with db.read() as tx:
        assert (await points.hours_summary(tx, "m1")).minutes == 90
    await assert_healthy(db)


async def test_concurrent_corrections_of_one_record_all_count(db: points.Database) -> None:
    async with db.transaction() as tx:
        await record(tx, "claim:1", 90)

    async def less(n: int) -> points.ServiceRecord:
        async with db.transaction() as tx:
            return await points.correct_service(
                tx,
                community_id=C,
                reference="claim:1",
                minutes=-20,
                reason=f"扣减{n}",
                actor="staff2",
                now=NOW,
            )

    fixes = await asyncio.gather(less(1), less(2), less(3))

    assert len({fix.id for fix in fixes}) == 3
    async with db.read() as tx:
        assert (await points.hours_summary(tx, "m1")).minutes == 30
    await assert_healthy(db)


async def test_concurrent_corrections_never_take_a_record_below_zero(db: points.Database) -> None:
    async with db.transaction() as tx:
        await record(tx, "claim:1", 90)

    async def less() -> points.ServiceRecord:
        async with db.transaction() as tx:
            return await points.correct_service(
                tx,
                community_id=C,
                reference="claim:1",
                minutes=-60,
                reason="扣减",
                actor="staff2",
                now=NOW,
            )

    results = await asyncio.gather(less(), less(), return_exceptions=True)

    assert sum(isinstance(r, points.InvalidRequest) for r in results) == 1
    async with db.read() as tx:
        assert (await points.hours_summary(tx, "m1")).minutes == 30
    await assert_healthy(db)


async def test_references_starting_fix_are_kept_for_corrections(db: points.Database) -> None:
    with pytest.raises(points.InvalidRequest):
        async with db.transaction() as tx:
            await record(tx, "fix:claim:1", 60)
    await assert_healthy(db)
