"""Awards through the stored policy: versions, accrual with its breakdown, caps by community-local
day and month, pending accrual, donations, adjustments, and expiry of points oldest first."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from sqlalchemy.engine import Connection

import points
import support
from points import AccrualPolicy, Activity, DonationRule, Phase, TransferKind

C = "c1"
NOW = dt.datetime(2026, 3, 1, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai
WALLET = "member:m1"
POOL = f"pool:{C}"
SINK = f"expiry:{C}"


def activity(
    minutes: int = 60,
    *,
    started_at: dt.datetime = NOW,
    category: str = "助老",
    key_household: bool = False,
) -> Activity:
    return Activity(
        minutes=minutes, category=category, started_at=started_at, key_household=key_household
    )


def accrue(
    tx: Connection,
    reference: str,
    minutes: int = 60,
    *,
    member: str = "m1",
    started_at: dt.datetime = NOW,
    pending: bool = False,
    now: dt.datetime = NOW,
) -> points.Award:
    return points.accrue(
        tx,
        community_id=C,
        member_id=member,
        activity=activity(minutes, started_at=started_at),
        reference=reference,
        pending=pending,
        actor="staff1",
        now=now,
    )


def use_policy(db: points.Database, policy: AccrualPolicy) -> int:
    with db.transaction() as tx:
        return points.set_policy(tx, C, policy, actor="admin", now=NOW)


def account(db: points.Database, acct_id: str) -> points.Account:
    with db.snapshot() as tx:
        return points.get_account(tx, C, acct_id)


def assert_healthy(db: points.Database) -> None:
    with db.snapshot() as tx:
        assert points.audit(tx) == []


# The stored policy


def test_a_community_without_a_stored_policy_uses_the_default_as_version_zero(
    db: points.Database,
) -> None:
    with db.snapshot() as tx:
        assert points.current_policy(tx, C) == (0, AccrualPolicy())


def test_each_stored_policy_gets_the_next_version_and_the_newest_is_current(
    db: points.Database,
) -> None:
    first = AccrualPolicy(points_per_hour=20)
    second = AccrualPolicy(
        points_per_hour=12,
        category_multipliers={"助老": 150},
        holidays=frozenset({dt.date(2026, 10, 1)}),
        donations=DonationRule.ANY,
        expiry_days=None,
    )

    assert use_policy(db, first) == 1
    assert use_policy(db, second) == 2
    with db.transaction() as tx:
        assert points.set_policy(tx, "c2", first, actor="admin", now=NOW) == 1

    with db.snapshot() as tx:
        assert points.current_policy(tx, C) == (2, second)
        assert points.current_policy(tx, "c2") == (1, first)
    assert_healthy(db)


def test_an_invalid_policy_is_refused_with_every_problem_and_nothing_is_stored(
    db: points.Database,
) -> None:
    bad = AccrualPolicy(points_per_hour=-1, rounding_step=0, daily_cap=0)

    with pytest.raises(points.InvalidPolicy) as caught:
        use_policy(db, bad)

    problems = caught.value.problems
    assert [(p.code, p.field) for p in problems] == [
        ("range", "points_per_hour"),
        ("range", "rounding_step"),
        ("range", "daily_cap"),
    ]
    with db.snapshot() as tx:
        assert points.current_policy(tx, C) == (0, AccrualPolicy())
    assert_healthy(db)


# Accrual


def test_accrual_records_the_policy_version_and_the_breakdown(db: points.Database) -> None:
    version = use_policy(db, AccrualPolicy(category_multipliers={"助老": 150}))

    with db.transaction() as tx:
        award = accrue(tx, "claim:1", 90)

    assert award.policy_version == version == 1
    assert award.accrual.points == 22  # 90 min × 10/h = 15, × 1.5 = 22.5, rounded down
    assert [s.code for s in award.accrual.steps] == ["base", "category", "rounding"]
    t = award.transfer
    assert t is not None
    assert (t.debit_account_id, t.credit_account_id, t.amount) == (POOL, WALLET, 22)
    assert (t.kind, t.phase, t.reference, t.actor) == (
        TransferKind.ACCRUAL,
        Phase.POSTED,
        "claim:1",
        "staff1",
    )
    assert t.value_date == "2026-03-01"
    assert t.detail["policy_version"] == 1
    assert t.detail["accrual"]["points"] == 22
    assert [s["code"] for s in t.detail["accrual"]["steps"]] == ["base", "category", "rounding"]
    assert t.detail["activity"]["minutes"] == 90
    assert (account(db, WALLET)).balance == 22
    assert (account(db, POOL)).balance == -22
    with db.snapshot() as tx:
        stored = points.get_transfer(tx, C, t.id)
    assert stored.detail == t.detail
    assert_healthy(db)


def test_accruing_twice_under_one_reference_returns_the_first_award_after_a_policy_change(
    db: points.Database,
) -> None:
    with db.transaction() as tx:
        first = accrue(tx, "claim:1", 60)
    use_policy(db, AccrualPolicy(points_per_hour=100))

    with db.transaction() as tx:
        again = accrue(tx, "claim:1", 60, now=NOW + dt.timedelta(hours=1))

    assert again == first
    assert again.policy_version == 0
    assert again.accrual.points == 10
    assert (account(db, WALLET)).balance == 10
    assert_healthy(db)


def test_a_pending_accrual_holds_points_until_posted(db: points.Database) -> None:
    with db.transaction() as tx:
        award = accrue(tx, "claim:1", 60, pending=True)
    assert award.transfer is not None
    assert award.transfer.phase is Phase.PENDING

    held = account(db, WALLET)
    assert (held.balance, held.available, held.credits_pending) == (0, 0, 10)

    with db.transaction() as tx:
        posted = points.post_pending(tx, C, award.transfer.id, actor="staff1", now=NOW)
        assert points.pending_state(tx, C, award.transfer.id) is points.PendingState.POSTED
    assert (posted.phase, posted.amount) == (Phase.POST, 10)
    after = account(db, WALLET)
    assert (after.balance, after.available, after.credits_pending) == (10, 10, 0)
    assert_healthy(db)


def test_a_voided_pending_accrual_gives_nothing(db: points.Database) -> None:
    with db.transaction() as tx:
        award = accrue(tx, "claim:1", 60, pending=True)
    assert award.transfer is not None

    with db.transaction() as tx:
        points.void_pending(tx, C, award.transfer.id, memo="争议成立", now=NOW)

    after = account(db, WALLET)
    assert (after.balance, after.available, after.credits_pending) == (0, 0, 0)
    with pytest.raises(points.PendingNotOpen), db.transaction() as tx:
        points.post_pending(tx, C, award.transfer.id, now=NOW)
    assert_healthy(db)


def test_daily_cap_counts_earlier_accruals_of_the_same_community_local_day(
    db: points.Database,
) -> None:
    use_policy(db, AccrualPolicy(daily_cap=30))
    evening_utc = dt.datetime(2026, 3, 1, 17, 0, tzinfo=dt.UTC)  # 2026-03-02 01:00 in Shanghai

    with db.transaction() as tx:
        night = accrue(tx, "claim:1", 120, started_at=evening_utc)
        morning = accrue(
            tx, "claim:2", 120, started_at=dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)
        )
        day_before = accrue(
            tx, "claim:3", 120, started_at=dt.datetime(2026, 3, 1, 15, 0, tzinfo=dt.UTC)
        )

    assert night.transfer is not None
    assert night.transfer.value_date == "2026-03-02"
    assert night.accrual.points == 20
    assert morning.accrual.points == 10
    assert morning.accrual.steps[-1].code == "daily_cap"
    assert "已得20分" in morning.accrual.steps[-1].detail
    assert day_before.transfer is not None
    assert day_before.transfer.value_date == "2026-03-01"
    assert day_before.accrual.points == 20
    assert (account(db, WALLET)).balance == 50
    assert_healthy(db)


def test_a_member_at_the_daily_cap_gets_a_zero_point_award(db: points.Database) -> None:
    use_policy(db, AccrualPolicy(daily_cap=10))
    with db.transaction() as tx:
        accrue(tx, "claim:1", 60)
        capped = accrue(tx, "claim:2", 60, started_at=NOW + dt.timedelta(hours=2))
        other_member = accrue(tx, "claim:3", 60, member="m2")

    assert capped.transfer is None
    assert capped.accrual.points == 0
    assert capped.accrual.steps[-1].code == "daily_cap"
    assert other_member.accrual.points == 10
    assert (account(db, WALLET)).balance == 10
    assert_healthy(db)


def test_monthly_cap_counts_earlier_accruals_of_the_same_community_local_month(
    db: points.Database,
) -> None:
    use_policy(db, AccrualPolicy(monthly_cap=25))

    with db.transaction() as tx:
        first = accrue(tx, "claim:1", 120, started_at=dt.datetime(2026, 3, 1, tzinfo=dt.UTC))
        # 2026-03-31T17:00Z is 1 April in Shanghai: a new month.
        april = accrue(
            tx, "claim:2", 120, started_at=dt.datetime(2026, 3, 31, 17, 0, tzinfo=dt.UTC)
        )
        late_march = accrue(
            tx, "claim:3", 120, started_at=dt.datetime(2026, 3, 31, 15, 0, tzinfo=dt.UTC)
        )

    assert first.accrual.points == 20
    assert april.accrual.points == 20
    assert late_march.accrual.points == 5
    assert late_march.accrual.steps[-1].code == "monthly_cap"
    assert (account(db, WALLET)).balance == 45
    assert_healthy(db)


def test_caps_count_open_holds_but_not_voided_ones(db: points.Database) -> None:
    use_policy(db, AccrualPolicy(daily_cap=30))
    with db.transaction() as tx:
        voided = accrue(tx, "claim:1", 120, pending=True)
        assert voided.transfer is not None
        points.void_pending(tx, C, voided.transfer.id, now=NOW)
        held = accrue(tx, "claim:2", 120, pending=True)
        last = accrue(tx, "claim:3", 120)

    assert held.accrual.points == 20  # the voided 20 points do not count
    assert last.accrual.points == 10  # the open hold of 20 does
    assert_healthy(db)


def test_night_and_holiday_bonuses_use_community_local_time(db: points.Database) -> None:
    use_policy(
        db,
        AccrualPolicy(
            night_bonus_percent=50,
            holiday_bonus_percent=100,
            holidays=frozenset({dt.date(2026, 3, 2)}),
        ),
    )

    with db.transaction() as tx:
        # 15:00Z is 23:00 on 1 March in Shanghai: at night, not a holiday.
        night = accrue(tx, "claim:1", 60, started_at=dt.datetime(2026, 3, 1, 15, 0, tzinfo=dt.UTC))
        # 02:00Z on 2 March is 10:00 in Shanghai: a holiday morning.
        holiday = accrue(tx, "claim:2", 60, started_at=dt.datetime(2026, 3, 2, 2, 0, tzinfo=dt.UTC))

    assert [s.code for s in night.accrual.steps] == ["base", "night"]
    assert night.accrual.points == 15
    assert [s.code for s in holiday.accrual.steps] == ["base", "holiday"]
    assert holiday.accrual.points == 20
    assert_healthy(db)


def test_a_zero_point_award_makes_no_transfer(db: points.Database) -> None:
    use_policy(db, AccrualPolicy(min_minutes=30))

    with db.transaction() as tx:
        award = accrue(tx, "claim:1", 20)

    assert award.transfer is None
    assert award.accrual.points == 0
    assert award.accrual.minutes_counted == 20
    assert [s.code for s in award.accrual.steps] == ["below_minimum"]
    assert award.policy_version == 1
    with db.snapshot() as tx:
        assert points.find_by_reference(tx, C, TransferKind.ACCRUAL, "claim:1") is None
    assert (account(db, WALLET)).balance == 0
    assert_healthy(db)


# Donations


@pytest.mark.parametrize(
    ("rule", "to_member", "allowed"),
    [
        (DonationRule.NONE, None, False),
        (DonationRule.NONE, "m2", False),
        (DonationRule.POOL, None, True),
        (DonationRule.POOL, "m2", False),
        (DonationRule.ANY, None, True),
        (DonationRule.ANY, "m2", True),
    ],
)
def test_donations_follow_the_policy_rule(
    db: points.Database, rule: DonationRule, to_member: str | None, allowed: bool
) -> None:
    use_policy(db, AccrualPolicy(donations=rule))
    with db.transaction() as tx:
        accrue(tx, "claim:1", 60)

    def give() -> points.Transfer:
        with db.transaction() as tx:
            return points.donate(
                tx, community_id=C, from_member="m1", to_member=to_member, amount=4, now=NOW
            )

    if not allowed:
        with pytest.raises(points.DonationNotAllowed) as caught:
            give()
        assert caught.value.rule == rule.value
        assert (account(db, WALLET)).balance == 10
    else:
        gift = give()
        target = POOL if to_member is None else f"member:{to_member}"
        assert (gift.kind, gift.debit_account_id, gift.credit_account_id, gift.amount) == (
            TransferKind.DONATION,
            WALLET,
            target,
            4,
        )
        assert (account(db, WALLET)).balance == 6
        if to_member is not None:
            assert (account(db, target)).balance == 4
    assert_healthy(db)


def test_a_donation_beyond_the_available_points_is_refused(db: points.Database) -> None:
    with db.transaction() as tx:
        accrue(tx, "claim:1", 60)

    with pytest.raises(points.InsufficientPoints), db.transaction() as tx:
        points.donate(tx, community_id=C, from_member="m1", amount=11, now=NOW)

    assert (account(db, WALLET)).balance == 10
    assert_healthy(db)


# Adjustments


def test_an_adjustment_adds_or_takes_points_with_its_reason(db: points.Database) -> None:
    with db.transaction() as tx:
        plus = points.adjust(
            tx,
            community_id=C,
            member_id="m1",
            change=30,
            reason="补发活动积分",
            actor="staff1",
            now=NOW,
        )
        minus = points.adjust(
            tx,
            community_id=C,
            member_id="m1",
            change=-12,
            reason="重复发放",
            actor="staff1",
            now=NOW,
        )

    assert (plus.kind, plus.debit_account_id, plus.credit_account_id, plus.amount) == (
        TransferKind.ADJUSTMENT,
        POOL,
        WALLET,
        30,
    )
    assert plus.memo == "补发活动积分"
    assert plus.expires_at == NOW + dt.timedelta(days=365)
    assert (minus.debit_account_id, minus.credit_account_id, minus.amount) == (WALLET, POOL, 12)
    assert minus.memo == "重复发放"
    assert (account(db, WALLET)).balance == 18
    assert (account(db, POOL)).balance == -18
    assert_healthy(db)


@pytest.mark.parametrize("reason", ["", "  "])
def test_an_adjustment_needs_a_reason(db: points.Database, reason: str) -> None:
    with pytest.raises(points.InvalidRequest), db.transaction() as tx:
        points.adjust(
            tx,
            community_id=C,
            member_id="m1",
            change=5,
            reason=reason,
            actor="staff1",
            now=NOW,
        )
    assert_healthy(db)


@pytest.mark.parametrize("change", [0, True, 1.5])
def test_an_adjustment_must_change_a_whole_number_of_points(
    db: points.Database, change: int
) -> None:
    with pytest.raises(points.InvalidRequest), db.transaction() as tx:
        points.adjust(
            tx,
            community_id=C,
            member_id="m1",
            change=change,
            reason="x",
            actor="staff1",
            now=NOW,
        )
    assert_healthy(db)


def test_a_negative_adjustment_cannot_overdraw_the_member(db: points.Database) -> None:
    with db.transaction() as tx:
        accrue(tx, "claim:1", 60)

    with pytest.raises(points.InsufficientPoints) as caught, db.transaction() as tx:
        points.adjust(
            tx,
            community_id=C,
            member_id="m1",
            change=-11,
            reason="扣回",
            actor="staff1",
            now=NOW,
        )

    assert (caught.value.available, caught.value.requested) == (10, 11)
    assert (account(db, WALLET)).balance == 10
    assert_healthy(db)


# Expiry


def test_awarded_points_carry_the_expiry_of_the_policy_in_force(
    db: points.Database,
) -> None:
    with db.transaction() as tx:
        by_default = accrue(tx, "claim:1", 60)
    use_policy(db, AccrualPolicy(expiry_days=30))
    with db.transaction() as tx:
        short = accrue(tx, "claim:2", 60)
    use_policy(db, AccrualPolicy(expiry_days=None))
    with db.transaction() as tx:
        forever = accrue(tx, "claim:3", 60)

    assert by_default.transfer is not None
    assert by_default.transfer.expires_at == NOW + dt.timedelta(days=365)
    assert short.transfer is not None
    assert short.transfer.expires_at == NOW + dt.timedelta(days=30)
    assert forever.transfer is not None
    assert forever.transfer.expires_at is None
    assert_healthy(db)


def two_awards(db: points.Database) -> tuple[points.Transfer, points.Transfer]:
    """100 points expiring in 30 days, then 100 expiring in 60 days."""
    use_policy(db, AccrualPolicy(points_per_hour=100, expiry_days=30))
    with db.transaction() as tx:
        soon = accrue(tx, "claim:1", 60)
    use_policy(db, AccrualPolicy(points_per_hour=100, expiry_days=60))
    with db.transaction() as tx:
        late = accrue(tx, "claim:2", 60)
    assert soon.transfer is not None
    assert late.transfer is not None
    return soon.transfer, late.transfer


def test_spending_uses_the_soonest_expiring_points_first(db: points.Database) -> None:
    soon, late = two_awards(db)
    with db.transaction() as tx:
        points.adjust(
            tx,
            community_id=C,
            member_id="m1",
            change=-60,
            reason="兑换线下礼品",
            actor="staff1",
            now=NOW,
        )

    with db.transaction() as tx:
        expired = points.expire_points(tx, now=NOW + dt.timedelta(days=30))

    assert [(t.debit_account_id, t.credit_account_id, t.amount) for t in expired] == [
        (WALLET, SINK, 40)
    ]
    assert expired[0].kind is TransferKind.EXPIRY
    assert (account(db, WALLET)).balance == 100
    assert (account(db, SINK)).balance == 40
    with db.snapshot() as tx:
        left = points.expiring_soon(
            tx, C, member_id="m1", days=3650, now=NOW + dt.timedelta(days=30)
        )
    assert [(lot.lot_id, lot.remaining) for lot in left] == [(late.id, 100)]
    assert soon.id != late.id
    assert_healthy(db)


def test_expiring_points_twice_changes_nothing_the_second_time(db: points.Database) -> None:
    two_awards(db)
    too_early = NOW + dt.timedelta(days=30) - dt.timedelta(seconds=1)

    with db.transaction() as tx:
        assert points.expire_points(tx, now=too_early) == []
    with db.transaction() as tx:
        first = points.expire_points(tx, now=NOW + dt.timedelta(days=61))
    with db.transaction() as tx:
        second = points.expire_points(tx, now=NOW + dt.timedelta(days=61))

    assert sorted(t.amount for t in first) == [100, 100]
    assert second == []
    wallet = account(db, WALLET)
    assert (wallet.balance, wallet.available) == (0, 0)
    assert (account(db, SINK)).balance == 200
    assert_healthy(db)


def test_expiring_soon_lists_points_expiring_within_the_days_soonest_first(
    db: points.Database,
) -> None:
    soon, late = two_awards(db)
    with db.transaction() as tx:
        accrue(tx, "claim:3", 60, member="m2")

    with db.snapshot() as tx:
        within_week = points.expiring_soon(tx, C, days=7, now=NOW)
        within_month = points.expiring_soon(tx, C, member_id="m1", days=30, now=NOW)
        everything = points.expiring_soon(tx, C, days=90, now=NOW)
        elsewhere = points.expiring_soon(tx, "c2", days=90, now=NOW)

    assert within_week == []
    assert [
        (lot.account_id, lot.lot_id, lot.remaining, lot.expires_at) for lot in within_month
    ] == [(WALLET, soon.id, 100, NOW + dt.timedelta(days=30))]
    assert everything[0].lot_id == soon.id
    assert sorted((lot.account_id, lot.remaining, lot.expires_at) for lot in everything) == [
        (WALLET, 100, NOW + dt.timedelta(days=30)),
        (WALLET, 100, NOW + dt.timedelta(days=60)),
        ("member:m2", 100, NOW + dt.timedelta(days=60)),
    ]
    assert late.id in {lot.lot_id for lot in everything}
    assert elsewhere == []
    with pytest.raises(points.InvalidRequest), db.snapshot() as tx:
        points.expiring_soon(tx, C, days=-1, now=NOW)
    assert_healthy(db)


def test_a_voided_redemption_gives_points_back_to_the_lots_they_came_from(
    db: points.Database,
) -> None:
    soon, late = two_awards(db)
    with db.transaction() as tx:
        item = points.add_item(
            tx, community_id=C, name="理发券", cost=150, kind=points.ItemKind.SERVICE, now=NOW
        )
        order = points.redeem(tx, community_id=C, member_id="m1", item_id=item.id, now=NOW)
    with db.snapshot() as tx:
        assert points.expiring_soon(tx, C, days=90, now=NOW) == [
            points.ExpiringLot(
                account_id=WALLET, lot_id=late.id, remaining=50, expires_at=late.expires_at
            )
        ]
    # Points earned while the order is open must not receive what the order gives back.
    use_policy(db, AccrualPolicy(points_per_hour=100, expiry_days=90))
    with db.transaction() as tx:
        accrue(tx, "claim:3", 60)

    with db.transaction() as tx:
        points.cancel(tx, C, order.id, actor="m1", now=NOW)
    with db.snapshot() as tx:
        lots_after = points.expiring_soon(tx, C, days=90, now=NOW)
    assert [lot.remaining for lot in lots_after] == [100, 100, 100]
    with db.transaction() as tx:
        expired = points.expire_points(tx, now=NOW + dt.timedelta(days=30))

    assert [(t.amount, t.reference) for t in expired] == [(100, f"lot:{soon.id}:0")]
    assert (account(db, WALLET)).balance == 200
    assert_healthy(db)


def test_a_pending_accrual_past_its_timeout_can_no_longer_be_posted(
    db: points.Database,
) -> None:
    with db.transaction() as tx:
        award = points.accrue(
            tx,
            community_id=C,
            member_id="m1",
            activity=activity(60),
            reference="claim:1",
            pending=True,
            timeout=dt.timedelta(days=7),
            now=NOW,
        )
    assert award.transfer is not None
    assert award.transfer.timeout_at == NOW + dt.timedelta(days=7)

    with pytest.raises(points.PendingNotOpen), db.transaction() as tx:
        points.post_pending(tx, C, award.transfer.id, now=NOW + dt.timedelta(days=7))
    with db.transaction() as tx:
        voided = points.void_timed_out(tx, now=NOW + dt.timedelta(days=7))

    assert [t.pending_id for t in voided] == [award.transfer.id]
    wallet = account(db, WALLET)
    assert (wallet.balance, wallet.credits_pending) == (0, 0)
    assert_healthy(db)


def test_concurrent_accruals_of_one_member_respect_the_daily_cap(
    db: points.Database,
) -> None:
    use_policy(db, AccrualPolicy(daily_cap=30))
    with db.transaction() as tx:
        accrue(tx, "claim:0", 6)  # 1 point; the wallet exists before the race

    def one(n: int) -> Callable[[Connection], points.Award]:
        return lambda tx: accrue(tx, f"claim:{n}", 120, started_at=NOW + dt.timedelta(hours=n))

    awards = support.concurrently(db, [one(n) for n in range(1, 4)])

    assert sorted(a.accrual.points for a in awards) == [0, 9, 20]
    assert (account(db, WALLET)).balance == 30
    assert_healthy(db)


def test_a_voided_hold_gives_points_back_to_expired_lots_which_the_next_sweep_expires(
    db: points.Database,
) -> None:
    soon, late = two_awards(db)
    with db.transaction() as tx:
        item = points.add_item(
            tx, community_id=C, name="理发券", cost=150, kind=points.ItemKind.SERVICE, now=NOW
        )
        order = points.redeem(tx, community_id=C, member_id="m1", item_id=item.id, now=NOW)
    day_30 = NOW + dt.timedelta(days=30)

    with db.transaction() as tx:
        assert points.expire_points(tx, now=day_30) == []  # all 100 are held by the order
    with db.transaction() as tx:
        points.cancel(tx, C, order.id, actor="m1", now=day_30)
    with db.transaction() as tx:
        expired = points.expire_points(tx, now=day_30)

    assert [(t.amount, t.reference) for t in expired] == [(100, f"lot:{soon.id}:0")]
    wallet = account(db, WALLET)
    assert (wallet.balance, wallet.available) == (100, 100)
    with db.snapshot() as tx:
        left = points.expiring_soon(tx, C, days=3650, now=day_30)
    assert [(lot.lot_id, lot.remaining) for lot in left] == [(late.id, 100)]
    assert_healthy(db)


def test_concurrent_accruals_under_one_reference_award_once_and_return_the_same_award(
    db: points.Database,
) -> None:
    with db.transaction() as tx:
        accrue(tx, "claim:0", 6)  # the wallet exists before the race

    def one(tx: Connection) -> points.Award:
        return accrue(tx, "claim:1", 60)

    first, second = support.concurrently(db, [one, one])

    assert first == second
    assert (account(db, WALLET)).balance == 11
    assert_healthy(db)
