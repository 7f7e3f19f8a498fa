"""通知 outbox on both backends: events written with what caused them, the message centre, timed
events written once, and the deliveries' claim, retry, dead letter and fan-out rules."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

import marketplace as mk
import marketplace_world as world
import points
from marketplace import notices
from marketplace.schema import deliveries, outbox
from marketplace_world import T0

H = dt.timedelta(hours=1)
SECRET = "s" * 32


def told(db: points.Database, member: str) -> list[tuple[str, dict[str, object]]]:
    with db.snapshot() as tx:
        return [(m.type, m.data) for m in reversed(mk.inbox(tx, member))]


def test_verifying_tells_the_resident_in_the_same_transaction(db: points.Database) -> None:
    with db.transaction() as tx:
        world.build(tx)
        wish = world.post(tx)

    def failing() -> None:
        with db.transaction() as tx:
            mk.verify(tx, "staff", "c1", wish.id, now=T0)
            raise RuntimeError("the request fails after the verification")

    with pytest.raises(RuntimeError):
        failing()
    assert told(db, "res") == []  # rolled back: nobody was told
    with db.transaction() as tx:
        mk.verify(tx, "staff", "c1", wish.id, now=T0)
    assert told(db, "res") == [("wish.verified", {"wish_id": wish.id, "title": wish.title})]
    with db.snapshot() as tx:
        assert mk.unread(tx, "res") == 1
        assert mk.unread(tx, "staff") == 0


def test_a_rejection_carries_its_reason(db: points.Database) -> None:
    with db.transaction() as tx:
        world.build(tx)
        wish = world.post(tx)
        mk.reject(tx, "staff", "c1", wish.id, reason="不在服务范围", now=T0)
    assert told(db, "res") == [
        ("wish.rejected", {"wish_id": wish.id, "title": wish.title, "reason": "不在服务范围"})
    ]


def test_the_story_tells_each_person_their_part(db: points.Database) -> None:
    with db.transaction() as tx:
        world.build(tx)
        wish = world.published(tx)
        claim = mk.dispatch(tx, "staff", "c1", wish.id, "vol1", now=T0)
        code = mk.get_wish(tx, "staff", "c1", wish.id).confirmation_code
        mk.check_in(tx, "vol1", "c1", claim.id, code=code, now=T0 + 2 * H)
        mk.check_out(tx, "vol1", "c1", claim.id, now=T0 + 4 * H)
        mk.confirm(tx, "res", "c1", wish.id, rating=5, now=T0 + 5 * H)
    assert [t for t, _ in told(db, "res")] == [
        "wish.verified", "wish.claimed", "service.started", "wish.served"]  # fmt: skip
    assert [t for t, _ in told(db, "vol1")] == ["wish.dispatched", "points.awarded"]
    with db.snapshot() as tx:
        kept = tx.execute(sa.select(outbox.c.data)).scalars().all()
    for data in kept:  # nothing sensitive: no address, no description, no phone
        assert set(data) <= notices.SAFE_DATA, data


def test_an_overdue_wish_tells_the_office_of_the_level_holding_it(db: points.Database) -> None:
    with db.transaction() as tx:
        world.build(tx)
        mk.add_member(tx, id="streetstaff", name="街道", home_org_id=None, now=T0)
        mk.grant_role(tx, mk.SYSTEM, "streetstaff", "s1", mk.Role.STAFF, now=T0)
        wish = world.post(tx, start=T0 + 10 * 24 * H)
    with db.transaction() as tx:
        mk.escalate_due(tx, now=T0 + 24 * H)  # level 0 → 1: the street
    assert [t for t, _ in told(db, "streetstaff")] == ["escalation.overdue"]
    assert told(db, "admin") == []
    assert told(db, "staff") == []
    with db.transaction() as tx:
        mk.escalate_due(tx, now=T0 + 48 * H)  # 1 → 2: the district
    assert told(db, "admin") == [
        ("escalation.overdue", {"wish_id": wish.id, "title": wish.title, "level": 2})
    ]


def test_reminders_and_forgotten_check_outs_are_written_once(db: points.Database) -> None:
    with db.transaction() as tx:
        world.build(tx)
        early = world.published(tx, start=T0 + 20 * H)
        soon = world.published(tx, start=T0 + 90 * dt.timedelta(minutes=1))
        mk.claim(tx, "vol1", "c1", early.id, now=T0)
        served = mk.claim(tx, "vol2", "c1", soon.id, now=T0)
    for _ in range(2):
        with db.transaction() as tx:
            mk.notify_due(tx, now=T0)
    assert [(t, d["when"]) for t, d in told(db, "vol1")] == [("service.reminder", "明天")]
    assert [(t, d["when"]) for t, d in told(db, "vol2")] == [("service.reminder", "2小时后")]
    with db.transaction() as tx:
        code = mk.get_wish(tx, "staff", "c1", soon.id).confirmation_code
        mk.check_in(tx, "vol2", "c1", served.id, code=code, now=T0 + 2 * H)
    for _ in range(2):
        with db.transaction() as tx:
            mk.notify_due(tx, now=T0 + 6 * H)
    assert [t for t, _ in told(db, "vol2")] == ["service.reminder", "checkout.forgotten"]


def test_emit_is_one_statement_and_a_key_writes_once(db: points.Database) -> None:
    with db.transaction() as tx:
        world.build(tx)
    seen: list[str] = []
    sa.event.listen(db.writer, "before_cursor_execute", lambda *a: seen.append(a[2]))
    with db.transaction() as tx:
        mk.emit(tx, "c1", "redemption.ready", {"quantity": 1, "phone": "13800000000"},
                to=["res", "res2"], key="order:o1", now=T0)  # fmt: skip
        mk.emit(tx, "c1", "redemption.ready", {"quantity": 1}, to=["res"], key="order:o1")
    assert len([s for s in seen if "mk_outbox" in s]) == 2
    assert told(db, "res") == [("redemption.ready", {"quantity": 1})]  # the phone dropped
    with pytest.raises(mk.InvalidInput), db.transaction() as tx:
        mk.emit(tx, "c1", "no.such.event", {})


def test_the_message_centre_marks_read_only_ones_own(db: points.Database) -> None:
    with db.transaction() as tx:
        world.build(tx)
        for n in range(3):
            ready = {"quantity": n, "points": 10 * n}
            mk.emit(tx, "c1", "redemption.ready", ready, to=["res"], now=T0)
        mk.emit(tx, "c1", "redemption.ready", {"quantity": 9, "points": 9}, to=["res2"], now=T0)
    with db.snapshot() as tx:
        first, *rest = mk.inbox(tx, "res")
        others = mk.inbox(tx, "res2")
    assert first.text == "兑换的物品已备好（2 件，20 积分），请到社区领取"
    with db.transaction() as tx:
        assert mk.mark_read(tx, "res", [first.id, others[0].id]) == 1
    with db.snapshot() as tx:
        assert mk.unread(tx, "res") == 2
        assert mk.unread(tx, "res2") == 1
        page = mk.inbox(tx, "res", limit=1, before=first.id)
    assert [m.id for m in page] == [rest[0].id]
    with db.transaction() as tx:
        assert mk.mark_read(tx, "res") == 2
    with db.snapshot() as tx:
        assert mk.unread(tx, "res") == 0


def webhook_world(db: points.Database) -> mk.Webhook:
    with db.transaction() as tx:
        world.build(tx)
        return mk.add_webhook(tx, "staff", "c1", "http://127.0.0.1:9/hook", SECRET, now=T0)


def test_fan_out_claim_retry_and_dead_letter(db: points.Database) -> None:
    hook = webhook_world(db)
    with db.transaction() as tx:
        mk.emit(tx, "c1", "redemption.ready", {"quantity": 1}, to=["res"], now=T0)
        mk.emit(tx, "c2", "redemption.ready", {"quantity": 2}, to=["outsider"], now=T0)
    with db.transaction() as tx:
        assert mk.fan_out(tx, now=T0) == 2
        assert mk.fan_out(tx, now=T0) == 0  # each message fanned out once
    lease = dt.timedelta(seconds=60)
    with db.transaction() as tx:
        (first,) = mk.claim_due(tx, now=T0, lease=lease)  # c2 has no webhook
    assert (first.url, first.secret, first.attempts, first.phone) == (hook.url, SECRET, 1, None)
    with db.transaction() as tx:
        assert mk.claim_due(tx, now=T0 + 59 * dt.timedelta(seconds=1), lease=lease) == []
    with db.transaction() as tx:  # the lease ended (a dispatcher died): the same delivery again
        (again,) = mk.claim_due(tx, now=T0 + lease, lease=lease)
    assert (again.id, again.attempts) == (first.id, 2)
    now = T0 + lease
    for attempt in range(2, 5):
        with db.transaction() as tx:
            failed = mk.Outcome(community_id="c1", id=first.id, attempts=attempt, error="HTTP 500")
            dead = mk.settle(tx, [failed], now=now, max_attempts=4)
        assert dead == (1 if attempt == 4 else 0)
        if attempt == 4:
            break
        wait = notices.backoff(attempt)
        with db.transaction() as tx:
            assert mk.claim_due(tx, now=now + wait - dt.timedelta(seconds=1)) == []
            (retried,) = mk.claim_due(tx, now=now + wait)
        assert retried.id == first.id
        now += wait
    with db.snapshot() as tx:
        (letter,) = mk.dead_letters(tx, "staff", "c1")
        with pytest.raises(mk.NotAllowed):
            mk.dead_letters(tx, "res", "c1")
    assert (letter.id, letter.attempts, letter.last_error) == (first.id, 4, "HTTP 500")
    with db.transaction() as tx:
        assert mk.claim_due(tx, now=now + 10 * H) == []
        assert mk.retry(tx, "staff", "c1", [letter.id], now=now) == 1
        (back,) = mk.claim_due(tx, now=now)
        mk.settle(tx, [mk.Outcome(community_id="c1", id=back.id, attempts=1)], now=now)
    with db.snapshot() as tx:
        states = tx.execute(sa.select(deliveries.c.state)).scalars().all()
    assert states == ["sent"]


def test_opt_outs_spare_all_but_critical_messages_and_sms_waits_for_quiet_hours(
    db: points.Database,
) -> None:
    webhook_world(db)
    with db.transaction() as tx:
        tx.execute(sa.text("UPDATE mk_members SET phone = '13800000001' WHERE id = 'vol1'"))
        mk.set_notice_prefs(tx, "vol1", mk.NoticePrefs(sms=False, webhook=False), now=T0)
        night = dt.datetime(2026, 12, 1, 15, 30, tzinfo=dt.UTC)  # 23:30 in China
        mk.emit(tx, "c1", "points.expiring", {"amount": 5}, to=["vol1"], now=night)
        mk.emit(tx, "c1", "checkout.forgotten", {"title": "t"}, to=["vol1"], now=night)
    with db.transaction() as tx:
        mk.fan_out(tx, now=night, sms_types={"points.expiring", "checkout.forgotten"})
    with db.snapshot() as tx:
        rows = tx.execute(
            sa.select(outbox.c.type, deliveries.c.channel, deliveries.c.next_at).join(
                outbox, outbox.c.id == deliveries.c.message_id
            ).order_by(deliveries.c.channel)
        ).all()  # fmt: skip
    morning = dt.datetime(2026, 12, 1, 23, 0, tzinfo=dt.UTC)  # 07:00 in China
    assert [tuple(r) for r in rows] == [
        ("checkout.forgotten", "sms", morning),  # critical: no opt-out, but quiet hours hold
        ("checkout.forgotten", "webhook", night),
    ]


def test_quiet_hours_and_backoff() -> None:
    at = dt.datetime(2026, 12, 1, 14, 0, tzinfo=dt.UTC)  # 22:00 China
    assert notices.after_quiet(at, 22 * 60, 7 * 60) == at + 9 * H
    assert notices.after_quiet(at - H, 22 * 60, 7 * 60) == at - H  # 21:00: goes now
    assert notices.after_quiet(at + 3 * H, 22 * 60, 7 * 60) == at + 9 * H  # 01:00
    assert notices.after_quiet(at, 0, 0) == at
    assert notices.after_quiet(at, 13 * 60, 23 * 60) == at + H  # a window not over midnight
    assert [notices.backoff(n).total_seconds() for n in (1, 2, 3)] == [10, 20, 40]
    assert notices.backoff(30).total_seconds() == 3600


def test_a_deleted_member_s_messages_and_settings_go_with_what_was_to_send(
    db: points.Database,
) -> None:
    webhook_world(db)
    with db.transaction() as tx:
        mk.set_notice_prefs(tx, "res", mk.NoticePrefs(sms=False), now=T0)
        mk.emit(tx, "c1", "reports.ready", {"period": "2026-Q4"}, to=["res", "res2"], now=T0)
        mk.fan_out(tx, now=T0)
        copy = mk.export_member(tx, "res", "res", now=T0)  # 个人信息副本: her messages too
        assert [m["type"] for m in copy.messages] == ["reports.ready"]
        assert copy.notice_settings is not None
        assert copy.notice_settings["sms_off"] is True
        mk.anonymise(tx, "res", "res", now=T0)
    with db.snapshot() as tx:
        assert mk.inbox(tx, "res") == []
        assert mk.notice_prefs_of(tx, "res") == mk.NoticePrefs()
        assert len(mk.inbox(tx, "res2")) == 1
    with db.transaction() as tx:
        assert len(mk.claim_due(tx, now=T0)) == 1  # res2's delivery only


def test_a_quarter_s_reports_are_announced_to_each_office_once(db: points.Database) -> None:
    with db.transaction() as tx:
        world.build(tx)
    new_year = dt.datetime(2026, 12, 31, 17, 0, tzinfo=dt.UTC)  # 2027-01-01 01:00 in China
    for moment in (new_year - 2 * H, new_year, new_year + 24 * H, new_year + 72 * H):
        with db.transaction() as tx:
            mk.notify_due(tx, now=moment)
    assert told(db, "staff") == [("reports.ready", {"period": "2026-Q4"})]
    assert told(db, "res") == []
