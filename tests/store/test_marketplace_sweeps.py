"""The background sweeps on both backends, driven by an explicit ``now`` (nothing sleeps):
escalation (吹哨报到), auto-accept, no-show release and expiry."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.engine import Connection

import marketplace as mk
import marketplace_world as world
import points
from marketplace import ClaimState, WishState
from marketplace.schema import member_load
from marketplace_world import T0
from points.schema import service_records

H = dt.timedelta(hours=1)
SEC = dt.timedelta(seconds=1)
DAY = dt.timedelta(days=1)
START = T0 + 2 * H  # world.post's window: START to START + 3 h
END = START + 3 * H
LATER = T0 + 10 * DAY  # a window far enough away that only deadlines matter


def escalate(db: points.Database, now: dt.datetime) -> tuple[str, ...]:
    with db.transaction() as tx:
        result = mk.escalate_due(tx, now=now)
    assert result.skipped == 0
    return result.handled


def wish_at(db: points.Database, wish_id: str) -> mk.Wish:
    with db.snapshot() as tx:
        return mk.get_wish(tx, "staff", "c1", wish_id)


def escalations(db: points.Database, wish_id: str) -> list[tuple[str, str, str]]:
    with db.snapshot() as tx:
        steps = mk.history(tx, "c1", wish_id)
    return [(s.actor_id, s.to_state, s.reason) for s in steps if s.action == "escalate"]


def wallet(tx: Connection, member_id: str) -> tuple[int, int]:
    acct = points.get_account(tx, "c1", points.account_id(points.AccountKind.MEMBER, member_id))
    return acct.balance, acct.credits_pending


# --- escalation ----------------------------------------------------------------------------


def test_an_unverified_wish_escalates_to_the_street_then_the_district(
    db: points.Database,
) -> None:
    with db.transaction() as tx:
        world.build(tx)
        wish = world.post(tx, start=LATER)
    due = T0 + 24 * H  # the default verify_hours
    assert wish.deadline_at == due
    assert escalate(db, due - SEC) == ()
    assert (wish_at(db, wish.id)).level == 0
    assert escalate(db, due) == (wish.id,)
    after = wish_at(db, wish.id)
    assert (after.state, after.level, after.deadline_at) == (WishState.SUBMITTED, 1, due + 24 * H)
    assert escalate(db, due) == ()  # the same clock again: nothing more to do
    assert escalate(db, due + 24 * H - SEC) == ()
    assert escalate(db, due + 24 * H) == (wish.id,)
    after = wish_at(db, wish.id)
    assert (after.level, after.deadline_at) == (2, due + 48 * H)
    assert escalate(db, due + 48 * H) == (wish.id,)  # still missed: recorded again
    after = wish_at(db, wish.id)
    assert (after.state, after.level, after.deadline_at) == (WishState.SUBMITTED, 2, due + 72 * H)
    assert escalations(db, wish.id) == [
        ("system", "submitted", "level 0 → 1"),
        ("system", "submitted", "level 1 → 2"),
        ("system", "submitted", "level 2 → 2"),
    ]
    with db.snapshot() as tx:
        up = mk.list_wishes(tx, "staff", "c1", escalated=True)
        down = mk.list_wishes(tx, "staff", "c1", escalated=False)
    assert ([w.id for w in up.items], down.items) == ([wish.id], ())


def test_a_published_wish_escalates_on_the_claim_deadline(db: points.Database) -> None:
    rules = mk.CommunityRules(deadlines=mk.Deadlines(verify_hours=24, claim_hours=6))
    with db.transaction() as tx:
        world.build(tx)
        mk.set_community_rules(tx, "staff", "c1", rules)
        wish = world.post(tx, start=LATER)
        wish = mk.verify(tx, "staff", "c1", wish.id, now=T0 + H)
    due = T0 + 7 * H
    assert wish.deadline_at == due
    assert escalate(db, due - SEC) == ()
    assert escalate(db, due) == (wish.id,)
    after = wish_at(db, wish.id)
    assert (after.state, after.level, after.deadline_at) == (WishState.PUBLISHED, 1, due + 6 * H)
    # escalated, it can still be claimed as usual
    with db.transaction() as tx:
        made = mk.claim(tx, "vol1", "c1", wish.id, now=due + H)
    assert made.state is ClaimState.ACTIVE
    assert (wish_at(db, wish.id)).state is WishState.CLAIMED


def test_a_wish_claimed_in_time_is_not_escalated_for_want_of_a_claim(
    db: points.Database,
) -> None:
    with db.transaction() as tx:
        world.build(tx)
        wish = world.published(tx, start=LATER)  # claim deadline T0 + 48 h
        mk.claim(tx, "vol1", "c1", wish.id, now=T0 + H)
    claimed = wish_at(db, wish.id)
    # the completion deadline runs now, and not before the service window has ended
    assert claimed.deadline_at == max(T0 + H + 168 * H, wish.window_end)
    assert claimed.deadline_at == wish.window_end  # the window is ten days out
    assert escalate(db, T0 + 48 * H) == ()
    assert (wish_at(db, wish.id)).level == 0


def test_category_deadlines_override_the_community_deadlines(
    db: points.Database,
) -> None:
    rules = mk.CommunityRules(category_deadlines={"家电维修": mk.Deadlines(verify_hours=2)})
    with db.transaction() as tx:
        world.build(tx)
        mk.set_community_rules(tx, "staff", "c1", rules)
        repair = world.post(tx, category="家电维修", start=LATER)
        visit = world.post(tx, category="助老陪护", start=LATER)
    assert (repair.deadline_at, visit.deadline_at) == (T0 + 2 * H, T0 + 24 * H)
    assert escalate(db, T0 + 2 * H - SEC) == ()
    assert escalate(db, T0 + 2 * H) == (repair.id,)
    assert (wish_at(db, repair.id)).deadline_at == T0 + 4 * H
    with db.snapshot() as tx:
        up = mk.list_wishes(tx, "staff", "c1", escalated=True)
        down = mk.list_wishes(tx, "staff", "c1", escalated=False)
        street_view = mk.list_wishes(tx, "admin", "c1", escalated=True)
    assert [w.id for w in up.items] == [repair.id]
    assert [w.id for w in down.items] == [visit.id]
    assert [w.id for w in street_view.items] == [repair.id]


def test_an_unresolved_dispute_escalates_like_a_verification_until_staff_resolve_it(
    db: points.Database,
) -> None:
    with db.transaction() as tx:
        world.build(tx)
        wish = world.published(tx)
        made = mk.claim(tx, "vol1", "c1", wish.id, now=T0)
        mk.check_in(tx, "vol1", "c1", made.id, code=wish.confirmation_code, now=START)
        mk.check_out(tx, "vol1", "c1", made.id, now=START + H)
        disputed = mk.dispute(tx, "res", "c1", wish.id, reason="服务不完整", now=START + 2 * H)
    due = START + 2 * H + 24 * H  # staff's turn: the default verify_hours
    assert (disputed.state, disputed.level, disputed.deadline_at) == (WishState.DISPUTED, 0, due)
    assert escalate(db, due - SEC) == ()
    assert escalate(db, due) == (wish.id,)
    after = wish_at(db, wish.id)
    assert (after.state, after.level, after.deadline_at) == (WishState.DISPUTED, 1, due + 24 * H)
    assert escalations(db, wish.id) == [("system", "disputed", "level 0 → 1")]
    with db.snapshot() as tx:  # the street's staff see it on their queue
        street = mk.escalation_queue(tx, "admin", "s1")
        assert [w.id for w in street.items] == [wish.id]
    with db.transaction() as tx:
        resolved = mk.resolve(tx, "staff", "c1", wish.id, for_volunteer=True, reason="已核实",
                              now=due + H)  # fmt: skip
        assert (resolved.state, resolved.deadline_at) == (WishState.CLOSED, None)
    assert escalate(db, due + 48 * H) == ()
    with db.snapshot() as tx:
        assert (mk.escalation_queue(tx, "admin", "s1")).items == ()
        assert wallet(tx, "vol1") == (10, 0)
        assert points.audit(tx) == []


# --- auto-accept ---------------------------------------------------------------------------


def test_a_served_wish_nobody_confirms_is_accepted_by_the_system(
    db: points.Database,
) -> None:
    with db.transaction() as tx:
        world.build(tx)
        wish = world.published(tx)
        disputed = world.published(tx, actor="res2")
        claims = {}
        for w, vol in ((wish, "vol1"), (disputed, "vol2")):
            claims[vol] = made = mk.claim(tx, vol, "c1", w.id, now=T0)
            mk.check_in(tx, vol, "c1", made.id, code=w.confirmation_code, now=START)
            mk.check_out(tx, vol, "c1", made.id, now=START + H)
        mk.dispute(tx, "res2", "c1", disputed.id, reason="服务不完整", now=START + 2 * H)
    served = wish_at(db, wish.id)
    due = START + H + 7 * DAY  # the default auto_accept_days
    assert (served.state, served.served_at, served.deadline_at) == (
        WishState.SERVED,
        START + H,
        due,
    )
    with db.transaction() as tx:
        assert (mk.auto_accept_due(tx, now=due - SEC)).handled == ()
        assert wallet(tx, "vol1") == (0, 10)
    with db.transaction() as tx:
        assert (mk.auto_accept_due(tx, now=due)).handled == (wish.id,)
    with db.transaction() as tx:
        assert (mk.auto_accept_due(tx, now=due)).handled == ()
        assert (mk.auto_accept_due(tx, now=due + 30 * DAY)).handled == ()
    closed = wish_at(db, wish.id)
    assert (closed.state, closed.closed_at, closed.rating) == (WishState.CLOSED, due, None)
    with db.snapshot() as tx:
        steps = mk.history(tx, "c1", wish.id)
        assert [(s.action, s.actor_id) for s in steps[-2:]] == [
            ("confirm", "system"),
            ("close", "system"),
        ]
        assert (mk.load_claim(tx, "c1", claims["vol1"].id)).state is ClaimState.CONFIRMED
        assert wallet(tx, "vol1") == (10, 0)
        assert (points.hours_summary(tx, "vol1", community_id="c1")).minutes == 60
        recorded = tx.scalar(
            sa.select(service_records.c.created_at).where(
                service_records.c.reference == f"claim:{claims['vol1'].id}"
            )
        )
        assert recorded == due  # the sweep's clock, not the wall clock
        # the disputed wish waits for staff, however long
        assert (mk.get_wish(tx, "staff", "c1", disputed.id)).state is WishState.DISPUTED
        assert wallet(tx, "vol2") == (0, 10)
        assert points.audit(tx) == []


# --- no-shows and expiry -------------------------------------------------------------------


def member_load_of(tx: Connection, member_id: str) -> tuple[int, int]:
    row = (
        tx.execute(
            sa.select(member_load.c.open_claims, member_load.c.no_shows).where(
                member_load.c.community_id == "c1", member_load.c.member_id == member_id
            )
        )
    ).one()
    return int(row.open_claims), int(row.no_shows)


def test_a_claim_not_checked_in_by_the_end_of_the_window_is_released(
    db: points.Database,
) -> None:
    with db.transaction() as tx:
        world.build(tx)
        wish = world.published(tx)
        made = mk.claim(tx, "vol1", "c1", wish.id, now=T0)
        assert member_load_of(tx, "vol1") == (1, 0)
    with db.transaction() as tx:
        assert (mk.release_no_shows(tx, now=END - SEC)).handled == ()
    with db.transaction() as tx:
        assert (mk.release_no_shows(tx, now=END)).handled == (made.id,)
    with db.transaction() as tx:
        assert (mk.release_no_shows(tx, now=END)).handled == ()
    with db.snapshot() as tx:
        released = mk.load_claim(tx, "c1", made.id)
        after = mk.get_wish(tx, "staff", "c1", wish.id)
        steps = mk.history(tx, "c1", made.id)
        assert member_load_of(tx, "vol1") == (0, 1)
    assert (released.state, released.closed_at) == (ClaimState.NO_SHOW, END)
    assert (after.state, after.places_taken) == (WishState.PUBLISHED, 0)
    assert after.deadline_at == END + 48 * H  # a place is free: the claim clock again
    assert (steps[-1].actor_id, steps[-1].to_state) == ("system", "no_show")


def test_a_no_show_beside_a_volunteer_in_service_leaves_the_service_going(
    db: points.Database,
) -> None:
    with db.transaction() as tx:
        world.build(tx)
        wish = world.published(tx, capacity=2)
        came = mk.claim(tx, "vol1", "c1", wish.id, now=T0)
        missed = mk.claim(tx, "vol2", "c1", wish.id, now=T0)
        mk.check_in(tx, "vol1", "c1", came.id, code=wish.confirmation_code, now=START)
    with db.transaction() as tx:
        assert (mk.release_no_shows(tx, now=END)).handled == (missed.id,)
        after = mk.get_wish(tx, "staff", "c1", wish.id)
        assert (after.state, after.places_taken) == (WishState.IN_SERVICE, 1)
        assert (mk.load_claim(tx, "c1", came.id)).state is ClaimState.CHECKED_IN
        assert (mk.expire_wishes(tx, now=END)).handled == ()
        mk.check_out(tx, "vol1", "c1", came.id, now=END + H)
        assert (mk.get_wish(tx, "staff", "c1", wish.id)).state is WishState.SERVED
        assert member_load_of(tx, "vol2") == (0, 1)
        mk.confirm(tx, "res", "c1", wish.id, rating=5, now=END + 2 * H)
    with db.snapshot() as tx:
        assert wallet(tx, "vol1") == (40, 0)  # 4 h at 10 points an hour
        assert points.audit(tx) == []


def test_a_published_wish_nobody_claimed_expires_after_its_window(
    db: points.Database,
) -> None:
    with db.transaction() as tx:
        world.build(tx)
        lonely = world.published(tx)
        taken = world.published(tx)
        mk.claim(tx, "vol1", "c1", taken.id, now=T0)
        waiting = world.post(tx)  # never verified: escalation handles it, not expiry
    with db.transaction() as tx:
        assert (mk.expire_wishes(tx, now=END - SEC)).handled == ()
    with db.transaction() as tx:
        assert (mk.expire_wishes(tx, now=END)).handled == (lonely.id,)
    with db.transaction() as tx:
        assert (mk.expire_wishes(tx, now=END)).handled == ()
    expired = wish_at(db, lonely.id)
    assert (expired.state, expired.closed_at, expired.deadline_at) == (
        WishState.EXPIRED,
        END,
        None,
    )
    assert (wish_at(db, taken.id)).state is WishState.CLAIMED
    assert (wish_at(db, waiting.id)).state is WishState.SUBMITTED
    # an expired wish is closed to claims and to escalation
    assert lonely.id not in escalate(db, END + 100 * DAY)


def test_a_wish_released_by_a_no_show_then_expires(db: points.Database) -> None:
    with db.transaction() as tx:
        world.build(tx)
        wish = world.published(tx)
        mk.claim(tx, "vol1", "c1", wish.id, now=T0)
    with db.transaction() as tx:
        mk.release_no_shows(tx, now=END)
        assert (mk.expire_wishes(tx, now=END)).handled == (wish.id,)
    assert (wish_at(db, wish.id)).state is WishState.EXPIRED


def test_a_units_places_never_assigned_are_released_at_the_end_of_the_window(
    db: points.Database,
) -> None:
    with db.transaction() as tx:
        world.build(tx)
        wish = world.published(tx, capacity=2)
        unit_claim = mk.claim_for_unit(tx, "uadmin", "c1", wish.id, "u1", places=2, now=T0)
        named = mk.assign(tx, "uadmin", "c1", unit_claim.id, "party", now=T0)
        mk.check_in(tx, "party", "c1", named.id, code=wish.confirmation_code, now=START)
        mk.check_out(tx, "party", "c1", named.id, now=START + H)
        # one place is still the unit's to fill: the service is not over
        assert (mk.get_wish(tx, "staff", "c1", wish.id)).state is WishState.IN_SERVICE
    with db.transaction() as tx:
        assert (mk.release_no_shows(tx, now=END - SEC)).handled == ()
    with db.transaction() as tx:
        assert (mk.release_no_shows(tx, now=END)).handled == (unit_claim.id,)
        assert (mk.release_no_shows(tx, now=END)).handled == ()
        after = mk.get_wish(tx, "staff", "c1", wish.id)
        assert (after.state, after.places_taken) == (WishState.SERVED, 1)
        assert (mk.load_claim(tx, "c1", unit_claim.id)).state is ClaimState.NO_SHOW
        mk.confirm(tx, "res", "c1", wish.id, rating=5, now=END + H)
    with db.snapshot() as tx:
        assert wallet(tx, "party") == (10, 0)
        assert points.audit(tx) == []


def test_a_unit_claim_fully_assigned_is_not_a_no_show(db: points.Database) -> None:
    with db.transaction() as tx:
        world.build(tx)
        wish = world.published(tx)
        unit_claim = mk.claim_for_unit(tx, "uadmin", "c1", wish.id, "u1", places=1, now=T0)
        named = mk.assign(tx, "uadmin", "c1", unit_claim.id, "party", now=T0)
    with db.transaction() as tx:
        assert (mk.release_no_shows(tx, now=END)).handled == (named.id,)
        assert (mk.load_claim(tx, "c1", unit_claim.id)).state is ClaimState.ASSIGNED
        after = mk.get_wish(tx, "staff", "c1", wish.id)
        assert (after.state, after.places_taken) == (WishState.PUBLISHED, 0)
        assert member_load_of(tx, "party") == (0, 1)
