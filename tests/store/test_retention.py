"""保存期限 on both backends: a deleted member's remaining personal fields are purged once the
retention period has passed, never before; the records stay; a second run purges nothing."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.engine import Connection

import marketplace as mk
import marketplace_world as world
import points
from marketplace.retention import ERASED, PURGES
from marketplace.schema import corrections, members, offers, transitions, wishes
from marketplace_world import T0

DAY = dt.timedelta(days=1)
PERIOD = 30 * DAY


def stage(tx: Connection) -> str:
    """vol1 with an offer, a record and a correction request; res with a wish; both deleted."""
    world.build(tx)
    wish = world.published(tx)
    mk.publish_offer(tx, "vol1", "c1", category="助老陪护", title="周末陪诊", schedule="周六上午",
                     now=T0)  # fmt: skip
    points.record_service(
        tx, community_id="c1", member_id="vol1", category="助老陪护", minutes=60,
        served_on=T0.date(), reference="event:e1:vol1", actor="staff", now=T0,
    )  # fmt: skip
    mk.request_correction(tx, "vol1", "c1", reference="event:e1:vol1", field="minutes",
                          proposed="90", reason="我住在3栋502，那天服务了一个半小时",
                          now=T0)  # fmt: skip
    mk.anonymise(tx, "vol1", "vol1", now=T0)
    mk.anonymise(tx, "res", "res", now=T0)
    return wish.id


def test_nothing_is_purged_before_the_period_then_everything_once(db: points.Database) -> None:
    with db.transaction() as tx:
        wish_id = stage(tx)
        before = tx.scalar(sa.select(sa.func.count()).select_from(transitions))
    with db.transaction() as tx:
        early = mk.retention.purge_due(tx, retention=PERIOD, now=T0 + PERIOD - DAY)
    assert (early.members, early.rows) == (0, {})
    with db.transaction() as tx:
        done = mk.retention.purge_due(tx, retention=PERIOD, now=T0 + PERIOD + DAY)
    assert done.members == 2
    assert set(done.rows) == {rule.name for rule in PURGES}
    assert done.rows["mk_members.home_org_id"] == 2
    assert done.rows["mk_wishes.title"] == 1
    assert done.rows["mk_offers.title"] == done.rows["mk_offers.schedule"] == 1
    assert done.rows["mk_corrections.reason"] == 1
    assert done.rows["mk_transitions.reason"] >= 1  # her request's reason, recorded
    with db.snapshot() as tx:
        vol = tx.execute(sa.select(members).where(members.c.id == "vol1")).one()
        assert (vol.home_org_id, vol.purged_at is not None) == (None, True)
        assert tx.scalar(sa.select(wishes.c.title).where(wishes.c.id == wish_id)) == ERASED
        assert tx.scalar(sa.select(offers.c.schedule)) == ERASED
        assert tx.scalar(sa.select(corrections.c.reason)) == ERASED
        spoken = tx.scalars(
            sa.select(transitions.c.reason).where(transitions.c.actor_id.in_(["vol1", "res"]))
        ).all()
        assert set(spoken) <= {""}
        # the records stay, tied to the anonymised id
        assert tx.scalar(sa.select(sa.func.count()).select_from(transitions)) == before
        assert points.hours_summary(tx, "vol1").minutes == 60
        assert tx.scalar(sa.select(corrections.c.member_id)) == "vol1"
        # someone never deleted keeps everything
        staff = tx.execute(sa.select(members).where(members.c.id == "vol2")).one()
        assert (staff.home_org_id, staff.anonymised_at) == ("g1", None)
        assert points.audit(tx) == []
    with db.transaction() as tx:
        again = mk.retention.purge_due(tx, retention=PERIOD, now=T0 + 2 * PERIOD)
    assert (again.members, again.rows) == (0, {})


def test_a_member_deleted_twice_keeps_the_first_deletion_time(db: points.Database) -> None:
    with db.transaction() as tx:
        stage(tx)
        mk.anonymise(tx, "vol1", "vol1", now=T0 + PERIOD)
    with db.transaction() as tx:
        done = mk.retention.purge_due(tx, retention=PERIOD, now=T0 + PERIOD + DAY)
    assert done.members == 2


def test_members_deleted_before_the_upgrade_are_stamped_by_it(db: points.Database) -> None:
    with db.transaction() as tx:
        world.build(tx)
    db.downgrade("m0006")
    try:
        with db.transaction() as tx:
            tx.execute(sa.text("UPDATE mk_members SET name = '已注销用户' WHERE id = 'vol1'"))
    finally:
        db.upgrade()
    with db.snapshot() as tx:
        stamped = dict(tx.execute(sa.select(members.c.id, members.c.anonymised_at)).all())
    assert stamped["vol1"] is not None
    assert stamped["vol2"] is None
