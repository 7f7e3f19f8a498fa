"""The notices of 吹哨报到 and 更正申请 on both backends: each move tells exactly one person, in
its own transaction, with nothing personal of anyone else in the data."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

import marketplace as mk
import marketplace_world as world
import points
from marketplace import MatterKind, Role, notices
from marketplace.schema import outbox
from marketplace_world import T0

H = dt.timedelta(hours=1)
LATER = T0 + dt.timedelta(days=20)
REASON = "楼道积水，需住建部门处理"


def sent(db: points.Database, type_: str) -> list[tuple[str | None, dict[str, Any]]]:
    """Every notice of ``type_`` written: to whom, with what data."""
    with db.snapshot() as tx:
        rows = tx.execute(
            sa.select(outbox.c.member_id, outbox.c.data)
            .where(outbox.c.type == type_)
            .order_by(outbox.c.created_at, outbox.c.id)
        ).all()
    for _, data in rows:  # nothing a notice may not carry, nothing of the wish's person
        assert set(data) <= notices.SAFE_DATA, data
        for private in ("幸福路1号3栋", "周二上午复诊", REASON):  # address, description
            assert private not in repr(data)
    return [(m, dict(d)) for m, d in rows]


def whistled(tx: Connection) -> tuple[mk.Wish, mk.matters.Matter]:
    world.build(tx)
    for member, org, role in (("sstaff", "s1", Role.STAFF), ("dstaff", "d1", Role.STAFF)):
        mk.add_member(tx, id=member, name=member, now=T0)
        mk.grant_role(tx, mk.SYSTEM, member, org, role, now=T0)
    wish = world.post(tx, start=LATER)
    return wish, mk.matters.blow_whistle(tx, "staff", "c1", wish.id, reason=REASON, now=T0)


def test_accepting_a_matter_tells_the_resident_once_and_a_rollback_tells_nobody(
    db: points.Database,
) -> None:
    with db.transaction() as tx:
        wish, matter = whistled(tx)

    def failing() -> None:
        with db.transaction() as tx:
            mk.matters.accept(tx, "sstaff", "c1", matter.id, kind=MatterKind.IMMEDIATE, now=T0)
            raise RuntimeError("the request fails after the move")

    with pytest.raises(RuntimeError):
        failing()
    assert sent(db, "matter.accepted") == []
    with db.transaction() as tx:
        mk.matters.accept(tx, "sstaff", "c1", matter.id, kind=MatterKind.IMMEDIATE, now=T0)
    about = {"wish_id": wish.id, "title": wish.title, "matter_id": matter.id}
    assert sent(db, "matter.accepted") == [("res", {**about, "kind": "immediate", "by": "街道"})]
    with db.snapshot() as tx:
        assert [m.text for m in mk.inbox(tx, "res", limit=1)] == [
            "您反映的「陪老人去医院」已由街道受理，正在办理"
        ]


def test_an_understood_matter_tells_the_resident_the_explanation(db: points.Database) -> None:
    with db.transaction() as tx:
        wish, matter = whistled(tx)
        mk.matters.escalate(tx, "sstaff", "c1", matter.id, reason="需区级协调", now=T0)
        mk.matters.explain(tx, "dstaff", "c1", matter.id, explanation="明年纳入改造计划", now=T0)
    assert sent(db, "matter.understood") == [
        ("res", {"wish_id": wish.id, "title": wish.title, "matter_id": matter.id,
                 "explanation": "明年纳入改造计划"})
    ]  # fmt: skip
    assert sent(db, "matter.returned") == []
    with db.snapshot() as tx:
        assert mk.inbox(tx, "res", limit=1)[0].text == (
            "您反映的「陪老人去医院」暂时无法解决，说明：明年纳入改造计划"
        )


def test_an_answered_matter_tells_the_resident_the_answer(db: points.Database) -> None:
    with db.transaction() as tx:
        wish, matter = whistled(tx)
        mk.matters.accept(tx, "sstaff", "c1", matter.id, kind=MatterKind.IMMEDIATE, now=T0)
        mk.matters.assign(tx, "sstaff", "c1", matter.id, unit_id="u1", days=3, now=T0)
        mk.matters.answer(tx, "uadmin", "c1", matter.id, text="已疏通排水", now=T0 + H)
    assert sent(db, "matter.answered") == [
        ("res", {"wish_id": wish.id, "title": wish.title, "matter_id": matter.id,
                 "answer": "已疏通排水"})
    ]  # fmt: skip
    with db.snapshot() as tx:
        assert mk.inbox(tx, "res", limit=1)[0].text == "您反映的「陪老人去医院」已办结：已疏通排水"


def test_a_matter_sent_back_tells_the_office_that_has_it_again(db: points.Database) -> None:
    with db.transaction() as tx:
        wish, matter = whistled(tx)
        mk.matters.send_back(tx, "sstaff", "c1", matter.id, reason="社区可自行解决", now=T0)
    about = {"wish_id": wish.id, "title": wish.title, "matter_id": matter.id}
    # the community that blew the whistle; not the resident, not the street that sent it
    assert sent(db, "matter.returned") == [("staff", {**about, "reason": "社区可自行解决"})]
    with db.snapshot() as tx:
        assert mk.inbox(tx, "staff", limit=1)[0].text == (
            "吹哨事项「陪老人去医院」被退回：社区可自行解决"
        )
    with db.transaction() as tx:  # blown again; a unit hands it back to the street
        again = mk.matters.blow_whistle(tx, "staff", "c1", wish.id, reason=REASON, now=T0 + H)
        mk.matters.accept(tx, "sstaff", "c1", again.id, kind=MatterKind.IMMEDIATE, now=T0 + H)
        mk.matters.assign(tx, "sstaff", "c1", again.id, unit_id="u1", days=3, now=T0 + H)
        mk.matters.send_back(tx, "uadmin", "c1", again.id, reason="非本单位职责", now=T0 + 2 * H)
    assert sent(db, "matter.returned")[1:] == [
        ("sstaff", {**about, "matter_id": again.id, "reason": "非本单位职责"})
    ]


def served(tx: Connection) -> tuple[str, str]:
    """A wish vol1 served for an hour, confirmed, and her request to correct it: the wish's id
    and the request's."""
    wish = world.published(tx)
    made = mk.claim(tx, "vol1", "c1", wish.id, now=T0)
    mk.check_in(tx, "vol1", "c1", made.id, code=wish.confirmation_code, now=T0 + 2 * H)
    mk.check_out(tx, "vol1", "c1", made.id, now=T0 + 3 * H)
    mk.confirm(tx, "res", "c1", wish.id, rating=5, now=T0 + 5 * H)
    asked = mk.request_correction(
        tx, "vol1", "c1", reference=f"claim:{made.id}", field="minutes", proposed="120",
        reason="签退时忘记按，实际服务两小时", now=T0 + 24 * H,
    )  # fmt: skip
    return wish.id, asked.id


def test_an_accepted_correction_tells_the_volunteer(db: points.Database) -> None:
    with db.transaction() as tx:
        world.build(tx)
        wish_id, asked = served(tx)
    assert sent(db, "correction.accepted") == []  # asking tells her nothing
    with db.transaction() as tx:
        mk.accept_correction(tx, "staff", "c1", asked, note="核实签到表", now=T0 + 25 * H)
    assert sent(db, "correction.accepted") == [
        ("vol1", {"correction_id": asked, "wish_id": wish_id})
    ]
    with db.snapshot() as tx:
        assert mk.inbox(tx, "vol1", limit=1)[0].text == "您的服务记录更正申请已通过，记录已更正"


def test_a_refused_correction_tells_the_volunteer_why(db: points.Database) -> None:
    with db.transaction() as tx:
        world.build(tx)
        wish_id, asked = served(tx)
        mk.refuse_correction(tx, "staff", "c1", asked, reason="签到表显示一小时", now=T0 + 25 * H)
    assert sent(db, "correction.refused") == [
        ("vol1", {"correction_id": asked, "wish_id": wish_id, "reason": "签到表显示一小时"})
    ]
    assert sent(db, "correction.accepted") == []
    with db.snapshot() as tx:
        assert mk.inbox(tx, "vol1", limit=1)[0].text == (
            "您的服务记录更正申请未通过：签到表显示一小时"
        )


def test_no_notice_may_carry_a_code() -> None:
    """Account codes (and a wish's confirmation code) are shown once and never travel."""
    assert not [k for k in notices.SAFE_DATA if "code" in k]
    assert not [t for t, e in notices.EVENTS.items() if "code" in e.text or "code" in t]
