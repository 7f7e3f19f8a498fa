"""更正申请 on both backends: a volunteer asks, staff correct (a reversal and a new entry for the
hours and the points, never an edit) or refuse with a reason; both see the history."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TypeVar

import pytest
from sqlalchemy.engine import Connection

import marketplace as mk
import marketplace_world as world
import points
from marketplace import CorrectionState
from marketplace_world import T0

H = dt.timedelta(hours=1)
MIN = dt.timedelta(minutes=1)
START = T0 + 2 * H
LATER = T0 + 24 * H
E = TypeVar("E", bound=BaseException)


def refused(db: points.Database, error: type[E], act: Callable[[Connection], object]) -> E:
    with pytest.raises(error) as caught, db.transaction() as tx:
        act(tx)
    return caught.value


def served(tx: Connection, volunteer: str = "vol1", minutes: int = 60) -> str:
    """A wish served by ``volunteer`` for ``minutes`` and confirmed: its record's reference."""
    wish = world.published(tx)
    made = mk.claim(tx, volunteer, "c1", wish.id, now=T0)
    mk.check_in(tx, volunteer, "c1", made.id, code=wish.confirmation_code, now=START)
    mk.check_out(tx, volunteer, "c1", made.id, now=START + minutes * MIN)
    mk.confirm(tx, "res", "c1", wish.id, rating=5, now=START + 3 * H)
    return f"claim:{made.id}"


def balance(tx: Connection, member: str = "vol1") -> int:
    acct = points.get_account(tx, "c1", points.account_id(points.AccountKind.MEMBER, member))
    return acct.balance


def ask(
    tx: Connection, reference: str, *, field: str = "minutes", proposed: str = "120"
) -> mk.Correction:
    return mk.request_correction(
        tx, "vol1", "c1", reference=reference, field=field, proposed=proposed,
        reason="签退时忘记按，实际服务两小时", now=LATER,
    )  # fmt: skip


def test_an_accepted_correction_reverses_and_replaces_the_hours_and_the_points(
    db: points.Database,
) -> None:
    with db.transaction() as tx:
        world.build(tx)
        reference = served(tx)
        assert (balance(tx), points.hours_summary(tx, "vol1").minutes) == (10, 60)
        asked = ask(tx, reference)
    assert (asked.state, asked.current, asked.proposed) == (CorrectionState.PENDING, "60", "120")
    with db.transaction() as tx:
        done = mk.accept_correction(tx, "staff", "c1", asked.id, note="核实签到表", now=LATER + H)
    assert done.state is CorrectionState.CORRECTED
    assert (done.points_before, done.points_after, done.decided_by) == (10, 20, "staff")
    with db.snapshot() as tx:
        summary = points.hours_summary(tx, "vol1")
        assert (summary.minutes, summary.hours) == (120, "2.0")
        assert balance(tx) == 20
        assert points.audit(tx) == []
        view = mk.correction(tx, "vol1", "c1", asked.id)
        staff_view = mk.correction(tx, "staff", "c1", asked.id)
        reversal = points.get_transfer(tx, "c1", done.points_reversal_id or "")
        award = points.get_transfer(tx, "c1", done.award_id or "")
    # the original, the reversal, the new entry: linked under the original record
    original, back, entry = view.records
    assert (original.reference, original.minutes) == (reference, 60)
    assert (back.minutes, entry.minutes) == (-60, 120)
    assert back.reference.startswith(f"fix:{original.id}:")
    assert entry.reference.startswith(f"fix:{original.id}:")
    assert (back.id, entry.id) == ((done.reversal_ids or ("",))[0], done.entry_id)
    assert (reversal.kind, reversal.amount) == (points.TransferKind.REVERSAL, 10)
    assert (award.kind, award.amount, award.reference) == (
        points.TransferKind.ACCRUAL, 20, f"fix:{reference}:1",
    )  # fmt: skip
    assert [(m.action, m.to_state) for m in view.moves] == [
        ("request", "pending"), ("accept", "corrected"),
    ]  # fmt: skip
    assert staff_view.moves == view.moves
    assert not view.may_decide
    assert not staff_view.may_decide


def test_a_second_correction_replaces_the_first_and_a_day_or_category_can_change(
    db: points.Database,
) -> None:
    with db.transaction() as tx:
        world.build(tx)
        reference = served(tx)
        first = ask(tx, reference)
        mk.accept_correction(tx, "staff", "c1", first.id, now=LATER)
        second = ask(tx, reference, field="served_on", proposed="2026-11-30")
        mk.accept_correction(tx, "staff", "c1", second.id, now=LATER)
        category = next(c for c in mk.DEFAULT_CATEGORIES if c != "助老陪护")
        third = ask(tx, reference, field="category", proposed=category)
        done = mk.accept_correction(tx, "staff", "c1", third.id, now=LATER)
    assert second.current == "2026-12-01"
    with db.snapshot() as tx:
        summary = points.hours_summary(tx, "vol1")
        assert (summary.minutes, summary.by_category) == (120, {category: 120})
        assert balance(tx) == done.points_after == 20
        rows = mk.correction(tx, "vol1", "c1", third.id).records
        assert sum(r.minutes for r in rows) == 120
        assert rows[-1].served_on == dt.date(2026, 11, 30)
        assert points.audit(tx) == []


def test_a_correction_lowering_the_minutes_lowers_the_points(db: points.Database) -> None:
    with db.transaction() as tx:
        world.build(tx)
        reference = served(tx, minutes=120)
        asked = ask(tx, reference, proposed="30")
        mk.accept_correction(tx, "staff", "c1", asked.id, now=LATER)
    with db.snapshot() as tx:
        assert (balance(tx), points.hours_summary(tx, "vol1").minutes) == (5, 30)
        assert points.audit(tx) == []


def test_a_refused_request_needs_a_reason_and_changes_nothing(db: points.Database) -> None:
    with db.transaction() as tx:
        world.build(tx)
        reference = served(tx)
        asked = ask(tx, reference)
    no_reason = refused(
        db,
        mk.InvalidInput,
        lambda tx: mk.refuse_correction(tx, "staff", "c1", asked.id, reason=" "),
    )
    assert no_reason.field == "reason"
    with db.transaction() as tx:
        done = mk.refuse_correction(
            tx, "staff", "c1", asked.id, reason="签到表显示一小时", now=LATER
        )
    assert (done.state, done.decision_reason) == (CorrectionState.REFUSED, "签到表显示一小时")
    with db.snapshot() as tx:
        assert (balance(tx), points.hours_summary(tx, "vol1").minutes) == (10, 60)
        view = mk.correction(tx, "vol1", "c1", asked.id)
    assert [(m.action, m.reason) for m in view.moves][-1] == ("refuse", "签到表显示一小时")
    assert len(view.records) == 1


def test_a_decided_request_takes_no_second_decision(db: points.Database) -> None:
    with db.transaction() as tx:
        world.build(tx)
        asked = ask(tx, served(tx))
        mk.accept_correction(tx, "staff", "c1", asked.id, now=LATER)
    refused(db, mk.WrongState, lambda tx: mk.accept_correction(tx, "staff", "c1", asked.id))
    refused(
        db, mk.WrongState, lambda tx: mk.refuse_correction(tx, "staff", "c1", asked.id, reason="x")
    )
    with db.snapshot() as tx:
        assert balance(tx) == 20
        assert points.audit(tx) == []


def test_only_the_record_holder_asks_and_only_office_decides(db: points.Database) -> None:
    with db.transaction() as tx:
        world.build(tx)
        reference = served(tx)

    def ask_as(actor: str) -> Callable[[Connection], object]:
        return lambda tx: mk.request_correction(
            tx, actor, "c1", reference=reference, field="minutes", proposed="90", reason="多算了"
        )

    refused(db, mk.NotFound, ask_as("vol2"))  # someone else's record: not even that it exists
    refused(db, mk.NotFound, ask_as("outsider"))  # another community's member
    refused(db, mk.NotAllowed, ask_as("staff"))  # office corrects directly, does not ask
    no_reason = refused(
        db,
        mk.InvalidInput,
        lambda tx: mk.request_correction(
            tx, "vol1", "c1", reference=reference, field="minutes", proposed="90", reason=""
        ),
    )
    assert no_reason.field == "reason"
    same = refused(db, mk.InvalidInput, lambda tx: ask(tx, reference, proposed="60"))
    assert same.reason.code == "unchanged"
    with db.transaction() as tx:
        asked = ask(tx, reference)
    refused(db, mk.CorrectionPending, lambda tx: ask(tx, reference, proposed="90"))
    refused(db, mk.NotAllowed, lambda tx: mk.accept_correction(tx, "vol1", "c1", asked.id))
    refused(db, mk.NotFound, lambda tx: mk.accept_correction(tx, "vol2", "c1", asked.id))
    refused(db, mk.NotFound, lambda tx: mk.correction(tx, "vol2", "c1", asked.id))
    with db.snapshot() as tx:
        assert [c.id for c in mk.correction_queue(tx, "staff", "c1").items] == [asked.id]
        assert [c.id for c in mk.my_corrections(tx, "vol1").items] == [asked.id]
        assert mk.my_corrections(tx, "vol2").items == ()
    refused(db, mk.NotAllowed, lambda tx: mk.correction_queue(tx, "vol1", "c1"))


def test_a_correction_the_wallet_cannot_cover_is_refused_whole(db: points.Database) -> None:
    with db.transaction() as tx:
        world.build(tx)
        reference = served(tx, minutes=120)
        points.adjust(
            tx, community_id="c1", member_id="vol1", change=-20, reason="兑换", actor="staff"
        )
        asked = ask(tx, reference, proposed="30")
    refused(
        db, points.InsufficientPoints, lambda tx: mk.accept_correction(tx, "staff", "c1", asked.id)
    )
    with db.snapshot() as tx:
        assert points.hours_summary(tx, "vol1").minutes == 120
        assert (
            mk.correction(tx, "staff", "c1", asked.id).correction.state is CorrectionState.PENDING
        )
        assert points.audit(tx) == []


def test_a_daily_cap_counts_the_members_other_awards_not_this_records(
    db: points.Database,
) -> None:
    with db.transaction() as tx:
        world.build(tx)
        points.set_policy(tx, "c1", points.AccrualPolicy(daily_cap=15), actor="admin", now=T0)
        reference = served(tx)
        done = mk.accept_correction(tx, "staff", "c1", ask(tx, reference).id, now=LATER)
    assert (done.points_before, done.points_after) == (10, 15)  # 20 by the hour, capped at 15
    with db.snapshot() as tx:
        assert balance(tx) == 15
        assert points.audit(tx) == []


def test_propose_reads_the_record_as_it_stands_and_refuses_what_is_not_a_change() -> None:
    original = points.ServiceRecord(
        community_id="c1", id="r1", member_id="vol1", category="助老陪护", minutes=60,
        served_on=dt.date(2026, 12, 1), reference="claim:x", actor="staff", memo="",
        created_at=T0,
    )  # fmt: skip
    standing = points.RecordStanding(
        original=original, parts={("助老陪护", "2026-12-01"): 60}, award=None, template=None,
        accruals=0,
    )  # fmt: skip
    today = dt.date(2026, 12, 7)
    ok = mk.corrections.propose(standing, mk.CorrectionField.SERVED_ON, " 2026-11-30 ",
                                categories=("助老陪护",), today=today)  # fmt: skip
    assert (ok.current, ok.proposed, ok.minutes, ok.served_on) == (
        "2026-12-01", "2026-11-30", 60, dt.date(2026, 11, 30),
    )  # fmt: skip
    for field, value, code in (
        (mk.CorrectionField.MINUTES, "0", "range"),
        (mk.CorrectionField.MINUTES, "1441", "range"),
        (mk.CorrectionField.MINUTES, "sixty", "range"),
        (mk.CorrectionField.MINUTES, "60", "unchanged"),
        (mk.CorrectionField.SERVED_ON, "2026-12-08", "in_future"),
        (mk.CorrectionField.SERVED_ON, "12/01", "date_format"),
        (mk.CorrectionField.CATEGORY, "跳舞", "unknown_category"),
    ):
        with pytest.raises(mk.InvalidInput) as refused:
            mk.corrections.propose(standing, field, value, categories=("助老陪护",), today=today)
        assert (refused.value.field, refused.value.reason.code) == ("proposed", code)


def test_office_never_decides_a_correction_of_their_own_record(db: points.Database) -> None:
    with db.transaction() as tx:
        world.build(tx)
        points.record_service(
            tx, community_id="c1", member_id="staff", category="助老陪护", minutes=60,
            served_on=T0.date(), reference="event:e1:staff", actor="admin", now=T0,
        )  # fmt: skip
        asked = mk.request_correction(
            tx, "staff", "c1", reference="event:e1:staff", field="minutes", proposed="90",
            reason="我也参加了", now=LATER,
        )  # fmt: skip
        assert not mk.correction(tx, "staff", "c1", asked.id).may_decide
        assert mk.correction(tx, "admin", "c1", asked.id).may_decide
    own = refused(db, mk.NotAllowed, lambda tx: mk.accept_correction(tx, "staff", "c1", asked.id))
    assert own.guard == "not_own_record"
    with db.transaction() as tx:
        done = mk.accept_correction(tx, "admin", "c1", asked.id, now=LATER)
    assert done.state is CorrectionState.CORRECTED


def test_an_award_reversed_in_part_by_hand_is_not_corrected_over_it(db: points.Database) -> None:
    with db.transaction() as tx:
        world.build(tx)
        reference = served(tx)
        posted = points.find_by_reference(tx, "c1", points.TransferKind.ACCRUAL, reference)
        assert posted is not None
        mk.wallet.reverse(tx, "staff", "c1", points.derived_id("post", reference[6:]),
                          reason="多记了", amount=4, now=LATER)  # fmt: skip
        asked = ask(tx, reference)
    partly = refused(
        db, points.NotReversible, lambda tx: mk.accept_correction(tx, "staff", "c1", asked.id)
    )
    assert partly.reason.code == "partly_reversed"
    with db.snapshot() as tx:
        assert (balance(tx), points.hours_summary(tx, "vol1").minutes) == (6, 60)
