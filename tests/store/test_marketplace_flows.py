"""Marketplace flows on both backends: check-in rules, minutes, withdrawal, capacity, disputes,
unit claims, dispatch, goods wishes, offers, ratings, claim limits and key households."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TypeVar

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

import marketplace as mk
import marketplace_world as world
import points
from marketplace import ClaimState, WishState
from marketplace.schema import member_load
from marketplace_world import T0

H = dt.timedelta(hours=1)
MIN = dt.timedelta(minutes=1)
START = T0 + 2 * H  # world.post's window: START to START + 3 h
HOME = mk.Point(lat=39.9042, lng=116.4074)

E = TypeVar("E", bound=BaseException)


def refused(db: points.Database, error: type[E], act: Callable[[Connection], object]) -> E:
    """``act`` raises ``error`` in a transaction of its own, which is rolled back."""
    with pytest.raises(error) as caught, db.transaction() as tx:
        act(tx)
    return caught.value


def wallet(tx: Connection, member_id: str) -> tuple[int, int]:
    """(posted balance, pending credits) of a member's wallet in c1."""
    try:
        acct = points.get_account(tx, "c1", points.account_id(points.AccountKind.MEMBER, member_id))
    except points.AccountNotFound:
        return 0, 0
    return acct.balance, acct.credits_pending


def served_minutes(tx: Connection, member_id: str) -> int:
    return (points.hours_summary(tx, member_id, community_id="c1")).minutes


def serve(
    tx: Connection,
    actor: str,
    claim_id: str,
    wish: mk.Wish,
    *,
    start: dt.datetime = START,
    minutes: int = 60,
) -> mk.Claim:
    mk.check_in(tx, actor, "c1", claim_id, code=wish.confirmation_code, now=start)
    return mk.check_out(tx, actor, "c1", claim_id, now=start + minutes * MIN)


def open_claims(tx: Connection, member_id: str) -> int:
    found = tx.scalar(
        sa.select(member_load.c.open_claims).where(
            member_load.c.community_id == "c1", member_load.c.member_id == member_id
        )
    )
    return int(found or 0)


def assert_audit_clean(db: points.Database) -> None:
    with db.snapshot() as tx:
        assert points.audit(tx) == []


def post_goods(tx: Connection, id: str) -> mk.Wish:
    wish = mk.post_wish(
        tx,
        "res",
        community_id="c1",
        kind=mk.WishKind.GOODS,
        category="物资捐赠",
        title="需要一台旧轮椅",
        description="腿脚不便",
        org_id="g1",
        address="幸福路1号3栋",
        window_start=START,
        window_end=START + 3 * H,
        estimated_minutes=30,
        id=id,
        now=T0,
    )
    return mk.verify(tx, "staff", "c1", wish.id, now=T0)


# --- check-in ------------------------------------------------------------------------------


def test_check_in_needs_the_code_or_a_staff_override_with_a_reason(
    db: points.Database,
) -> None:
    with db.transaction() as tx:
        world.build(tx)
        wish = world.published(tx, capacity=2)
        first = mk.claim(tx, "vol1", "c1", wish.id, now=T0)
        second = mk.claim(tx, "vol2", "c1", wish.id, now=T0)
    wrong = "x" + wish.confirmation_code
    refused(
        db, mk.WrongCode, lambda tx: mk.check_in(tx, "vol1", "c1", first.id, code=wrong, now=START)
    )
    refused(db, mk.WrongCode, lambda tx: mk.check_in(tx, "vol1", "c1", first.id, now=START))
    refused(
        db,
        mk.NotAllowed,
        lambda tx: mk.check_in(tx, "vol1", "c1", first.id, override_reason="忘带手机", now=START),
    )
    refused(
        db,
        mk.InvalidInput,
        lambda tx: mk.check_in(tx, "staff", "c1", first.id, override_reason=" ", now=START),
    )
    with db.transaction() as tx:
        by_code = mk.check_in(tx, "vol2", "c1", second.id, code=wish.confirmation_code, now=START)
        by_staff = mk.check_in(
            tx, "staff", "c1", first.id, override_reason="老人记不清验证码", now=START
        )
        steps = mk.history(tx, "c1", first.id)
    assert (by_code.state, by_code.override_by) == (ClaimState.CHECKED_IN, None)
    assert (by_staff.state, by_staff.override_by) == (ClaimState.CHECKED_IN, "staff")
    assert by_staff.checked_in_at == START
    last = steps[-1]
    assert (last.to_state, last.actor_id, last.reason) == (
        "checked_in",
        "staff",
        "老人记不清验证码",
    )


def test_check_in_location_must_be_within_the_community_distance(
    db: points.Database,
) -> None:
    with db.transaction() as tx:
        world.build(tx)
        mk.set_community_rules(tx, "staff", "c1", mk.CommunityRules(checkin_distance_m=500))
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
            window_start=START,
            window_end=START + 3 * H,
            estimated_minutes=60,
            location=HOME,
            now=T0,
        )
        wish = mk.verify(tx, "staff", "c1", wish.id, now=T0)
        made = mk.claim(tx, "vol1", "c1", wish.id, now=T0)
    far = mk.Point(lat=HOME.lat + 0.01, lng=HOME.lng)  # about 1.1 km north
    near = mk.Point(lat=HOME.lat + 0.004, lng=HOME.lng)  # about 445 m
    assert 1100 < mk.distance_m(HOME, far) < 1125
    assert 400 < mk.distance_m(HOME, near) < 500
    code = wish.confirmation_code
    error = refused(
        db,
        mk.TooFar,
        lambda tx: mk.check_in(tx, "vol1", "c1", made.id, code=code, location=far, now=START),
    )
    assert (error.allowed, error.metres) == (500, mk.distance_m(HOME, far))
    with db.transaction() as tx:
        done = mk.check_in(tx, "vol1", "c1", made.id, code=code, location=near, now=START)
    assert done.state is ClaimState.CHECKED_IN


def test_check_in_opens_two_hours_before_the_window(db: points.Database) -> None:
    start = T0 + 6 * H
    with db.transaction() as tx:
        world.build(tx)
        wish = world.published(tx, start=start)
        made = mk.claim(tx, "vol1", "c1", wish.id, now=T0)
    code = wish.confirmation_code
    too_early = start - 2 * H - MIN
    refused(
        db,
        mk.InvalidInput,
        lambda tx: mk.check_in(tx, "vol1", "c1", made.id, code=code, now=too_early),
    )
    with db.transaction() as tx:
        done = mk.check_in(tx, "vol1", "c1", made.id, code=code, now=start - 2 * H)
        assert (mk.get_wish(tx, "res", "c1", wish.id)).state is WishState.IN_SERVICE
    assert done.checked_in_at == start - 2 * H


def test_check_in_and_out_pressed_offline_keep_the_phones_time_and_say_so(
    db: points.Database,
) -> None:
    with db.transaction() as tx:
        world.build(tx)
        wish = world.published(tx)
        made = mk.claim(tx, "vol1", "c1", wish.id, now=T0)
    code = wish.confirmation_code
    sent = START + 2 * H  # the network came back two hours after the check-in was pressed
    refused(  # before the claim: the phone's clock is wrong
        db,
        mk.InvalidInput,
        lambda tx: mk.check_in(tx, "vol1", "c1", made.id, code=code, offline_at=T0 - MIN, now=sent),
    )
    with db.transaction() as tx:
        done = mk.check_in(tx, "vol1", "c1", made.id, code=code, offline_at=START, now=sent)
        assert (done.checked_in_at, done.checked_in_offline) == (START, True)
        out = mk.check_out(tx, "vol1", "c1", made.id, offline_at=START + 90 * MIN, now=sent)
    assert (out.checked_out_at, out.checked_out_offline) == (START + 90 * MIN, True)
    assert out.minutes == 90
    with db.snapshot() as tx:
        assert mk.load_claim(tx, "c1", made.id).checked_in_offline
        assert wallet(tx, "vol1") == (0, 15)  # 90 minutes, pending the resident's confirmation


def test_a_check_out_pressed_offline_is_not_before_its_check_in(db: points.Database) -> None:
    with db.transaction() as tx:
        world.build(tx)
        wish = world.published(tx)
        made = mk.claim(tx, "vol1", "c1", wish.id, now=T0)
        done = mk.check_in(tx, "vol1", "c1", made.id, code=wish.confirmation_code, now=START)
    assert not done.checked_in_offline
    early = refused(
        db,
        mk.InvalidInput,
        lambda tx: mk.check_out(tx, "vol1", "c1", made.id, offline_at=START - MIN, now=START + H),
    )
    assert early.reason.code == "offline_time_early"


def test_a_check_in_token_the_service_vouches_for_names_the_wish(db: points.Database) -> None:
    with db.transaction() as tx:
        world.build(tx)
        wish = world.published(tx)
        other = world.published(tx)
        made = mk.claim(tx, "vol1", "c1", wish.id, now=T0)
    refused(
        db,
        mk.WrongCode,
        lambda tx: mk.check_in(tx, "vol1", "c1", made.id, token_wish=other.id, now=START),
    )
    with db.transaction() as tx:
        done = mk.check_in(tx, "vol1", "c1", made.id, token_wish=wish.id, now=START)
    assert done.state is ClaimState.CHECKED_IN


# --- minutes and points ------------------------------------------------------------------


def test_minutes_served_are_bounded_by_the_policy_maximum(db: points.Database) -> None:
    with db.transaction() as tx:
        world.build(tx)
        points.set_policy(
            tx, "c1", points.AccrualPolicy(max_minutes_per_activity=60), actor="admin", now=T0
        )
        wish = world.published(tx)
        made = mk.claim(tx, "vol1", "c1", wish.id, now=T0)
        out = serve(tx, "vol1", made.id, wish, minutes=90)
        assert (out.checked_out_at, out.minutes) == (START + 90 * MIN, 60)
        assert wallet(tx, "vol1") == (0, 10)  # 60 min at 10 points an hour, pending
        mk.confirm(tx, "res", "c1", wish.id, rating=4, now=START + 3 * H)
    with db.snapshot() as tx:
        assert wallet(tx, "vol1") == (10, 0)
        assert served_minutes(tx, "vol1") == 60
        assert points.audit(tx) == []


def test_withdraw_frees_the_place_before_check_in_only(db: points.Database) -> None:
    with db.transaction() as tx:
        world.build(tx)
        wish = world.published(tx)
        made = mk.claim(tx, "vol1", "c1", wish.id, now=T0)
        wish = mk.get_wish(tx, "res", "c1", wish.id)
        assert (wish.state, wish.places_taken) == (WishState.CLAIMED, 1)
        assert open_claims(tx, "vol1") == 1
        gone = mk.withdraw(tx, "vol1", "c1", made.id, reason="临时有事", now=T0 + H)
        assert gone.state is ClaimState.WITHDRAWN
        wish = mk.get_wish(tx, "res", "c1", wish.id)
        assert (wish.state, wish.places_taken) == (WishState.PUBLISHED, 0)
        assert open_claims(tx, "vol1") == 0
        again = mk.claim(tx, "vol2", "c1", wish.id, now=T0 + H)
        mk.check_in(tx, "vol2", "c1", again.id, code=wish.confirmation_code, now=START)
    refused(db, mk.WrongState, lambda tx: mk.withdraw(tx, "vol2", "c1", again.id, now=START + MIN))
    with db.snapshot() as tx:
        wish = mk.get_wish(tx, "res", "c1", wish.id)
        assert (wish.state, wish.places_taken) == (WishState.IN_SERVICE, 1)
        assert (mk.load_claim(tx, "c1", again.id)).state is ClaimState.CHECKED_IN


def test_a_wish_for_three_is_served_only_when_all_three_checked_out(
    db: points.Database,
) -> None:
    helpers = ("vol1", "vol2", "vol3")
    with db.transaction() as tx:
        world.build(tx)
        wish = world.published(tx, capacity=3)
        made = {}
        for n, vol in enumerate(helpers):
            made[vol] = mk.claim(tx, vol, "c1", wish.id, now=T0 + n * MIN)
            expected = WishState.CLAIMED if n == 2 else WishState.PUBLISHED
            assert (mk.get_wish(tx, "res", "c1", wish.id)).state is expected
        refused_in(tx, mk.CapacityFull, lambda: mk.claim(tx, "vol4", "c1", wish.id, now=T0))
        for vol in helpers:
            mk.check_in(tx, vol, "c1", made[vol].id, code=wish.confirmation_code, now=START)
            assert (mk.get_wish(tx, "res", "c1", wish.id)).state is WishState.IN_SERVICE
        for n, vol in enumerate(helpers):
            mk.check_out(tx, vol, "c1", made[vol].id, now=START + (60 + n * 30) * MIN)
            expected = WishState.SERVED if n == 2 else WishState.IN_SERVICE
            assert (mk.get_wish(tx, "res", "c1", wish.id)).state is expected
        closed = mk.confirm(tx, "res", "c1", wish.id, rating=5, now=START + 4 * H)
        assert closed.state is WishState.CLOSED
    with db.snapshot() as tx:
        assert [served_minutes(tx, v) for v in helpers] == [60, 90, 120]
        assert [wallet(tx, v) for v in helpers] == [(10, 0), (15, 0), (20, 0)]
        assert points.audit(tx) == []


def refused_in(tx: Connection, error: type[E], act: Callable[[], object]) -> E:
    """``act`` raises ``error`` before writing anything (so the transaction may go on)."""
    with pytest.raises(error) as caught, tx.begin_nested():
        act()
    return caught.value


# --- disputes ------------------------------------------------------------------------------


def test_a_dispute_against_the_volunteer_voids_the_accrual(db: points.Database) -> None:
    with db.transaction() as tx:
        world.build(tx)
        wish = world.published(tx)
        made = mk.claim(tx, "vol1", "c1", wish.id, now=T0)
        serve(tx, "vol1", made.id, wish, minutes=60)
        assert wallet(tx, "vol1") == (0, 10)
        disputed = mk.dispute(tx, "res", "c1", wish.id, reason="没有来", now=START + 2 * H)
        assert disputed.state is WishState.DISPUTED
    refused(
        db,
        mk.NotAllowed,
        lambda tx: mk.resolve(tx, "vol1", "c1", wish.id, for_volunteer=True, reason="我来了"),
    )
    with db.transaction() as tx:
        closed = mk.resolve(
            tx, "staff", "c1", wish.id, for_volunteer=False, reason="核实未服务", now=START + 5 * H
        )
        assert closed.state is WishState.CLOSED
        assert (mk.load_claim(tx, "c1", made.id)).state is ClaimState.VOIDED
    with db.snapshot() as tx:
        assert wallet(tx, "vol1") == (0, 0)
        assert served_minutes(tx, "vol1") == 0
        assert points.audit(tx) == []


def test_a_dispute_resolved_for_the_volunteer_posts_the_accrual(
    db: points.Database,
) -> None:
    with db.transaction() as tx:
        world.build(tx)
        wish = world.published(tx)
        made = mk.claim(tx, "vol1", "c1", wish.id, now=T0)
        serve(tx, "vol1", made.id, wish, minutes=60)
        mk.dispute(tx, "res", "c1", wish.id, reason="来晚了", now=START + 2 * H)
        closed = mk.resolve(
            tx, "staff", "c1", wish.id, for_volunteer=True, reason="已按时服务", now=START + 5 * H
        )
        assert closed.state is WishState.CLOSED
        assert (mk.load_claim(tx, "c1", made.id)).state is ClaimState.CONFIRMED
    with db.snapshot() as tx:
        assert wallet(tx, "vol1") == (10, 0)
        assert served_minutes(tx, "vol1") == 60
        assert points.audit(tx) == []


# --- places left free once service has begun ----------------------------------------------


def test_free_places_stay_claimable_while_the_wish_is_in_service(db: points.Database) -> None:
    with db.transaction() as tx:
        world.build(tx)
        wish = world.published(tx, capacity=4)
        first = mk.claim(tx, "vol1", "c1", wish.id, now=T0)
        mk.check_in(tx, "vol1", "c1", first.id, code=wish.confirmation_code, now=START)
        assert (mk.get_wish(tx, "res", "c1", wish.id)).state is WishState.IN_SERVICE
        # a volunteer, a unit and staff's dispatch each take a free place; the wish stays in service
        second = mk.claim(tx, "vol2", "c1", wish.id, now=START + 10 * MIN)
        unit_claim = mk.claim_for_unit(tx, "uadmin", "c1", wish.id, "u1", now=START + 10 * MIN)
        sent = mk.dispatch(tx, "staff", "c1", wish.id, "vol3", now=START + 10 * MIN)
        assert (second.state, unit_claim.places, sent.member_id) == (ClaimState.ACTIVE, 1, "vol3")
        now_in = mk.get_wish(tx, "res", "c1", wish.id)
        assert (now_in.state, now_in.places_taken) == (WishState.IN_SERVICE, 4)
    # every place taken: the next is refused for capacity, the wish still in service
    refused(db, mk.CapacityFull, lambda tx: mk.claim(tx, "vol4", "c1", wish.id, now=START))
    with db.transaction() as tx:
        mk.withdraw(tx, "staff", "c1", sent.id, reason="改派", now=START + 20 * MIN)
        assert (mk.get_wish(tx, "res", "c1", wish.id)).places_taken == 3
    # the window over: the free place is no longer offered
    over = START + 3 * H
    caught = refused(db, mk.NotAllowed, lambda tx: mk.claim(tx, "vol4", "c1", wish.id, now=over))
    assert caught.guard == "window_open"
    with db.transaction() as tx:
        late = mk.claim(tx, "vol4", "c1", wish.id, now=START + H)
        for c in (second, late):
            mk.check_in(tx, c.member_id or "", "c1", c.id, code=wish.confirmation_code,
                        now=START + H)  # fmt: skip
        mk.withdraw(tx, "uadmin", "c1", unit_claim.id, reason="人手不足", now=START + H)
        for c in (first, second, late):
            mk.check_out(tx, c.member_id or "", "c1", c.id, now=START + 2 * H)
        served = mk.get_wish(tx, "res", "c1", wish.id)
        assert (served.state, served.places_taken) == (WishState.SERVED, 3)
    # served: the place left free is closed with the service
    refused(db, mk.WrongState, lambda tx: mk.claim(tx, "vol5", "c1", wish.id, now=START + 2 * H))
    with db.snapshot() as tx:
        assert open_claims(tx, "vol4") == 0
        assert points.audit(tx) == []


# --- units and dispatch --------------------------------------------------------------------


def test_a_unit_claims_places_and_assigns_its_member(db: points.Database) -> None:
    with db.transaction() as tx:
        world.build(tx)
        wish = world.published(tx, capacity=2)
        unit_claim = mk.claim_for_unit(tx, "uadmin", "c1", wish.id, "u1", places=2, now=T0)
        assert (unit_claim.member_id, unit_claim.unit_id, unit_claim.places) == (None, "u1", 2)
        wish = mk.get_wish(tx, "res", "c1", wish.id)
        assert (wish.state, wish.places_taken) == (WishState.CLAIMED, 2)
    refused(db, mk.InvalidInput, lambda tx: mk.assign(tx, "uadmin", "c1", unit_claim.id, "vol1"))
    refused(db, mk.NotAllowed, lambda tx: mk.assign(tx, "vol1", "c1", unit_claim.id, "party"))
    with db.transaction() as tx:
        named = mk.assign(tx, "uadmin", "c1", unit_claim.id, "party", now=T0 + H)
        assert (named.member_id, named.unit_id, named.parent_id) == ("party", "u1", unit_claim.id)
        assert (mk.load_claim(tx, "c1", unit_claim.id)).places == 1
        # the unit gives its second place back: the wish opens again for one more
        mk.withdraw(tx, "uadmin", "c1", unit_claim.id, reason="人手不足", now=T0 + H)
        wish = mk.get_wish(tx, "res", "c1", wish.id)
        assert (wish.state, wish.places_taken) == (WishState.PUBLISHED, 1)
        out = serve(tx, "party", named.id, wish, minutes=120)
        assert out.minutes == 120
        assert (mk.get_wish(tx, "res", "c1", wish.id)).state is WishState.SERVED
        mk.confirm(tx, "res", "c1", wish.id, rating=5, now=START + 3 * H)
    with db.snapshot() as tx:
        assert wallet(tx, "party") == (20, 0)
        assert served_minutes(tx, "party") == 120
        assert points.audit(tx) == []


def test_a_fully_assigned_unit_claim_is_assigned_and_no_longer_open(
    db: points.Database,
) -> None:
    with db.transaction() as tx:
        world.build(tx)
        mk.add_member(tx, id="party2", name="party2", home_unit_id="u1", now=T0)
        mk.grant_role(tx, mk.SYSTEM, "party2", "u1", mk.Role.PARTY_MEMBER, now=T0)
        wish = world.published(tx, capacity=2)
        unit_claim = mk.claim_for_unit(tx, "uadmin", "c1", wish.id, "u1", places=2, now=T0)
        first = mk.assign(tx, "uadmin", "c1", unit_claim.id, "party", now=T0 + H)
        half = mk.load_claim(tx, "c1", unit_claim.id)
        assert (half.state, half.places, half.closed_at) == (ClaimState.ACTIVE, 1, None)
        last = mk.assign(tx, "uadmin", "c1", unit_claim.id, "party2", now=T0 + 2 * H)
        done = mk.load_claim(tx, "c1", unit_claim.id)
        assert (done.state, done.places, done.closed_at) == (ClaimState.ASSIGNED, 0, T0 + 2 * H)
        steps = [(s.action, s.from_state, s.to_state) for s in mk.history(tx, "c1", unit_claim.id)]
        assert ("assign", "active", "assigned") in steps
        wish_now = mk.get_wish(tx, "res", "c1", wish.id)
        assert (wish_now.state, wish_now.places_taken) == (WishState.CLAIMED, 2)
    # nothing is left to give back, assign or release
    refused(db, mk.WrongState, lambda tx: mk.withdraw(tx, "uadmin", "c1", unit_claim.id))
    refused(db, mk.WrongState, lambda tx: mk.assign(tx, "uadmin", "c1", unit_claim.id, "party"))
    with db.transaction() as tx:
        # the members' own claims carry the service on: a place one gives back goes to the wish
        mk.withdraw(tx, "party2", "c1", last.id, reason="临时有事", now=T0 + 2 * H)
        assert (mk.load_claim(tx, "c1", unit_claim.id)).state is ClaimState.ASSIGNED
        assert (mk.get_wish(tx, "res", "c1", wish.id)).state is WishState.PUBLISHED
        swept = mk.release_no_shows(tx, now=START + 4 * H)
        assert swept.handled == (first.id,)  # the member's claim, not the unit's
        assert (mk.load_claim(tx, "c1", unit_claim.id)).state is ClaimState.ASSIGNED
    assert_audit_clean(db)


def test_staff_dispatch_a_volunteer(db: points.Database) -> None:
    with db.transaction() as tx:
        world.build(tx)
        wish = world.published(tx)
    refused(db, mk.NotAllowed, lambda tx: mk.dispatch(tx, "vol1", "c1", wish.id, "vol2"))
    refused(db, mk.InvalidInput, lambda tx: mk.dispatch(tx, "staff", "c1", wish.id, "res2"))
    refused(db, mk.InvalidInput, lambda tx: mk.dispatch(tx, "staff", "c1", wish.id, "res"))
    with db.transaction() as tx:
        sent = mk.dispatch(tx, "staff", "c1", wish.id, "vol2", now=T0 + MIN)
        assert (sent.member_id, sent.state) == ("vol2", ClaimState.ACTIVE)
        assert (mk.get_wish(tx, "res", "c1", wish.id)).state is WishState.CLAIMED
        steps = mk.history(tx, "c1", sent.id)
        assert [(s.action, s.actor_id) for s in steps] == [("dispatch", "staff")]
        serve(tx, "vol2", sent.id, wish, minutes=30)
        mk.confirm(tx, "res", "c1", wish.id, now=START + 3 * H)
    with db.snapshot() as tx:
        assert wallet(tx, "vol2") == (5, 0)
        assert points.audit(tx) == []


# --- goods wishes --------------------------------------------------------------------------


def test_a_goods_wish_records_no_hours_and_pays_only_the_goods_points(
    db: points.Database,
) -> None:
    with db.transaction() as tx:
        world.build(tx)
        plain = post_goods(tx, "goods-1")
        made = mk.claim(tx, "vol1", "c1", plain.id, now=T0)
        out = serve(tx, "vol1", made.id, plain, minutes=20)
        assert (out.state, out.award_id) == (ClaimState.CHECKED_OUT, None)
        closed = mk.confirm(tx, "res", "c1", plain.id, rating=5, now=START + H)
        assert closed.state is WishState.CLOSED
        assert wallet(tx, "vol1") == (0, 0)
        assert served_minutes(tx, "vol1") == 0
    with db.transaction() as tx:
        mk.set_community_rules(tx, "staff", "c1", mk.CommunityRules(goods_points=5))
        paid = post_goods(tx, "goods-2")
        made = mk.claim(tx, "vol2", "c1", paid.id, now=T0)
        serve(tx, "vol2", made.id, paid, minutes=20)
        mk.confirm(tx, "res", "c1", paid.id, rating=5, now=START + H)
    with db.snapshot() as tx:
        assert wallet(tx, "vol2") == (5, 0)
        assert served_minutes(tx, "vol2") == 0
        assert points.audit(tx) == []


# --- offers --------------------------------------------------------------------------------


def request(tx: Connection, offer_id: str) -> tuple[mk.Wish, mk.Claim | None]:
    return mk.request_from_offer(
        tx,
        "res",
        "c1",
        offer_id,
        org_id="g1",
        address="幸福路1号3栋",
        description="孩子四年级数学",
        window_start=T0 + 24 * H,
        window_end=T0 + 26 * H,
        estimated_minutes=90,
        now=T0,
    )


def test_a_request_from_an_offer_waits_for_staff_then_is_claimed_by_the_offerer(
    db: points.Database,
) -> None:
    with db.transaction() as tx:
        world.build(tx)
        offer = mk.publish_offer(
            tx, "vol1", "c1", category="托幼辅导", title="作业辅导", schedule="周二、周四晚"
        )
        assert (offer.member_id, offer.capacity_per_week, offer.active) == ("vol1", 1, True)
        wish, made = request(tx, offer.id)
        assert (wish.state, wish.offer_id, made) == (WishState.SUBMITTED, offer.id, None)
    refused(
        db,
        mk.NotAllowed,
        lambda tx: mk.publish_offer(tx, "res", "c1", category="托幼辅导", title="t", schedule="s"),
    )
    refused(db, mk.NotAllowed, lambda tx: mk.claim_for_offer(tx, "vol1", "c1", wish.id))
    with db.transaction() as tx:
        wish, made = mk.claim_for_offer(tx, "staff", "c1", wish.id, now=T0 + H)
    assert (wish.state, wish.places_taken) == (WishState.CLAIMED, 1)
    assert wish.deadline_at == T0 + H + 168 * H  # claimed: the completion clock runs
    assert (made.member_id, made.state) == ("vol1", ClaimState.ACTIVE)


def test_offers_without_verification_are_claimed_at_once_within_weekly_capacity(
    db: points.Database,
) -> None:
    with db.transaction() as tx:
        world.build(tx)
        mk.set_community_rules(tx, "staff", "c1", mk.CommunityRules(offers_need_verification=False))
        offer = mk.publish_offer(
            tx,
            "vol1",
            "c1",
            category="托幼辅导",
            title="作业辅导",
            schedule="周二、周四晚",
            capacity_per_week=2,
        )
        for _ in range(2):
            wish, made = request(tx, offer.id)
            assert (wish.state, wish.places_taken) == (WishState.CLAIMED, 1)
            assert wish.deadline_at == T0 + 168 * H  # claimed: the completion clock runs
            assert made is not None
            assert (made.member_id, made.wish_id) == ("vol1", wish.id)
    error = refused(db, mk.CapacityFull, lambda tx: request(tx, offer.id))
    assert error.capacity == 2
    refused(
        db,
        mk.InvalidInput,
        lambda tx: mk.publish_offer(
            tx, "vol2", "c1", category="托幼辅导", title="t", schedule="s", capacity_per_week=0
        ),
    )


# --- ratings, limits, key households -------------------------------------------------------


def test_ratings_are_whole_numbers_from_one_to_five(db: points.Database) -> None:
    with db.transaction() as tx:
        world.build(tx)
        wish = world.published(tx)
        made = mk.claim(tx, "vol1", "c1", wish.id, now=T0)
        serve(tx, "vol1", made.id, wish, minutes=60)
    for bad in (0, 6, True, 4.5):
        refused(
            db,
            mk.InvalidInput,
            lambda tx, bad=bad: mk.confirm(tx, "res", "c1", wish.id, rating=bad),
        )
    refused(db, mk.NotAllowed, lambda tx: mk.confirm(tx, "vol1", "c1", wish.id, rating=5))
    with db.transaction() as tx:
        closed = mk.confirm(tx, "res", "c1", wish.id, rating=1, comment="一般")
    assert (closed.rating, closed.rating_comment) == (1, "一般")
    assert_audit_clean(db)


def test_a_member_may_hold_only_the_communitys_number_of_open_claims(
    db: points.Database,
) -> None:
    with db.transaction() as tx:
        world.build(tx)
        mk.set_community_rules(tx, "staff", "c1", mk.CommunityRules(claim_limit=2))
        wishes = [world.published(tx, id=f"w{n}") for n in range(3)]
        held = [mk.claim(tx, "vol1", "c1", w.id, now=T0) for w in wishes[:2]]
    error = refused(
        db, mk.ClaimLimitReached, lambda tx: mk.claim(tx, "vol1", "c1", wishes[2].id, now=T0)
    )
    assert error.limit == 2
    with db.transaction() as tx:
        third = mk.get_wish(tx, "res", "c1", wishes[2].id)
        assert (third.state, third.places_taken) == (WishState.PUBLISHED, 0)
        # a finished service frees a slot, as does a withdrawal
        serve(tx, "vol1", held[0].id, wishes[0], minutes=30)
        assert open_claims(tx, "vol1") == 1
        taken = mk.claim(tx, "vol1", "c1", wishes[2].id, now=START + H)
        assert taken.state is ClaimState.ACTIVE
        assert open_claims(tx, "vol1") == 2


def test_only_staff_record_a_key_household_with_consent(db: points.Database) -> None:
    flags = frozenset({mk.KeyHousehold.ELDERLY_ALONE})
    with db.transaction() as tx:
        world.build(tx)
    for actor in ("vol1", "grid", "res"):
        refused(
            db,
            mk.NotAllowed,
            lambda tx, actor=actor: mk.set_key_household(
                tx, actor, "res", "c1", flags, purpose="优先派单"
            ),
        )
    refused(
        db,
        mk.InvalidInput,
        lambda tx: mk.set_key_household(tx, "staff", "res", "c1", flags, purpose=""),
    )
    with db.transaction() as tx:
        member = mk.set_key_household(
            tx, "staff", "res", "c1", flags, purpose="独居老人优先服务", now=T0
        )
    assert member.key_household == flags
    assert member.key_household_consent == mk.Consent(
        recorded_by="staff", recorded_at=T0, purpose="独居老人优先服务"
    )
    with db.transaction() as tx:
        cleared = mk.set_key_household(
            tx, "staff", "res", "c1", frozenset(), purpose="本人撤回同意", now=T0 + H
        )
    assert (cleared.key_household, cleared.key_household_consent) == (frozenset(), None)


def test_service_for_a_key_household_earns_the_policy_bonus(db: points.Database) -> None:
    with db.transaction() as tx:
        world.build(tx)
        points.set_policy(
            tx, "c1", points.AccrualPolicy(key_household_bonus_percent=50), actor="admin", now=T0
        )
        mk.set_key_household(
            tx, "staff", "res", "c1", frozenset({mk.KeyHousehold.DISABLED}), purpose="优先服务"
        )
        key = world.published(tx, actor="res")
        other = world.published(tx, actor="res2")
        key_claim = mk.claim(tx, "vol1", "c1", key.id, now=T0)
        other_claim = mk.claim(tx, "vol2", "c1", other.id, now=T0)
        out = serve(tx, "vol1", key_claim.id, key, minutes=60)
        serve(tx, "vol2", other_claim.id, other, minutes=60)
        assert wallet(tx, "vol1") == (0, 15)
        assert wallet(tx, "vol2") == (0, 10)
        assert out.award_id is not None
        award = points.get_transfer(tx, "c1", out.award_id)
        codes = [step["code"] for step in award.detail["accrual"]["steps"]]
        assert codes == ["base", "key_household"]
        mk.confirm(tx, "res", "c1", key.id, now=START + 2 * H)
        mk.confirm(tx, "res2", "c1", other.id, now=START + 2 * H)
    with db.snapshot() as tx:
        assert wallet(tx, "vol1") == (15, 0)
        assert wallet(tx, "vol2") == (10, 0)
        assert points.audit(tx) == []
