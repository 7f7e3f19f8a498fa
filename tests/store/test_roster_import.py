"""Roster import (花名册导入, issue 15) on both backends: CSV in every encoding Excel writes, XLSX,
every row checked before anything is written, re-import idempotent, an updated file's changes
logged, bad files refused, anonymisation clearing the new personal fields."""

from __future__ import annotations

import concurrent.futures
import contextlib
import datetime as dt
import io
import threading
import zipfile

import openpyxl
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

import marketplace as mk
import marketplace_world as world
import points
from marketplace import OrgKind, Role
from marketplace.imports import check_roster, import_roster
from marketplace.schema import member_changes, members, roles
from marketplace_world import T0

HEADER = "姓名,手机号,网格,楼栋,房号,角色,技能,所属单位,重点家庭类型,同意书编号"
ROWS = [
    "张三,13800000001,第一网格,1号楼,301,志愿者,维修、理发,区卫健局,,",
    "李四,138 0000 0002,第一网格,,,居民,,,独居老人,TY-2026-001",
    "王五,13800000003,,,,党员,,区卫健局,,",
]


def csv_bytes(*rows: str, header: str = HEADER, encoding: str = "utf-8") -> bytes:
    return ("\r\n".join([header, *rows]) + "\r\n").encode(encoding)


def xlsx_bytes(*rows: list[object], header: list[str] | None = None) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(header or HEADER.split(","))
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@pytest.fixture
def db(db: points.Database) -> points.Database:
    with db.transaction() as tx:
        world.build(tx)
        sys = mk.SYSTEM
        mk.create_org(tx, sys, id="b1", kind=OrgKind.BUILDING, name="1号楼", parent_id="g1", now=T0)
        mk.create_org(tx, sys, id="g2", kind=OrgKind.GRID, name="第二网格", parent_id="p1", now=T0)
        mk.create_org(tx, sys, id="b2", kind=OrgKind.BUILDING, name="1号楼", parent_id="g2", now=T0)
        mk.add_member(tx, id="far", name="远方", phone="13900000009", now=T0)
        mk.grant_role(tx, sys, "far", "c2", Role.VOLUNTEER, now=T0)
    return db


def run(db: points.Database, content: bytes, *, actor: str = "staff") -> mk.RosterReport:
    with db.transaction() as tx:
        return import_roster(tx, actor, "c1", content, now=T0)


def by_phone(tx: Connection, phone: str) -> mk.Member:
    row = tx.execute(sa.select(members.c.id).where(members.c.phone == phone)).one()
    return mk.get_member(tx, row.id)


def changes(tx: Connection) -> int:
    return tx.scalar(sa.select(sa.func.count()).select_from(member_changes)) or 0


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_a_csv_in_each_encoding_excel_writes_registers_every_row(
    db: points.Database, encoding: str
) -> None:
    report = run(db, csv_bytes(*ROWS, encoding=encoding))
    assert report.problems == ()
    assert report.written
    assert len(report.created) == 3
    assert [c.row for c in report.created] == [2, 3, 4]
    with db.snapshot() as tx:
        zhang = by_phone(tx, "13800000001")
        assert (zhang.name, zhang.home_org_id, zhang.room) == ("张三", "b1", "301")
        assert zhang.skills == {"维修", "理发"}
        assert zhang.home_unit_id == "u1"
        li = by_phone(tx, "13800000002")
        assert li.home_org_id == "g1"
        assert li.key_household == {mk.KeyHousehold.ELDERLY_ALONE}
        assert li.key_household_consent is not None
        assert li.key_household_consent.reference == "TY-2026-001"
        assert li.key_household_consent.recorded_by == "staff"
        wang = by_phone(tx, "13800000003")
        assert wang.home_org_id == "c1"
        held = {
            (r.member_id, r.org_id, r.role)
            for r in tx.execute(sa.select(roles).where(roles.c.member_id.in_(
                [zhang.id, li.id, wang.id])))
        }  # fmt: skip
        assert held == {
            (zhang.id, "c1", "volunteer"),
            (li.id, "c1", "resident"),
            (wang.id, "c1", "party_member"),
        }
        assert set(report.new_member_ids) == {zhang.id, li.id, wang.id}


def test_an_xlsx_with_numbers_typed_as_numbers_is_read(db: points.Database) -> None:
    content = xlsx_bytes(
        ["赵六", 13800000004, "第一网格", "1号楼", 502, "志愿者", "", "", "", ""],
        [None] * 10,  # an empty line is skipped, its number kept
        ["钱七", 13800000005, "", "", "", "", "", "", "", ""],
    )
    report = run(db, content)
    assert report.problems == ()
    assert [c.row for c in report.created] == [2, 4]
    with db.snapshot() as tx:
        assert by_phone(tx, "13800000004").room == "502"
        assert by_phone(tx, "13800000005").name == "钱七"


def test_every_problem_is_listed_by_row_and_column_and_nothing_is_written(
    db: points.Database,
) -> None:
    content = csv_bytes(
        "好人,13800000011,第一网格,1号楼,101,志愿者,,,,",  # fine, yet not written
        "重复,13800000011,,,,,,,,",  # the same phone as row 2
        "坏号,1234,,,,,,,,",
        "远人,13900000009,,,,,,,,",  # a member of another community
        "无网,13800000012,第九网格,,,,,,,",
        "无楼,13800000013,,1号楼,,,,,,",  # two grids have one
        "无位,13800000014,,,,,,区税务局,,",  # not paired
        "敏感,13800000015,,,,,,,残疾,",  # no consent
        '=HYPERLINK("http://x"),13800000016,,,,,,,,',
        "官,13800000017,,,,社区工作人员,,,,",  # staff may not make staff
        "怪,13800000018,,,,神仙,,,外星人,X",
        ",13800000019,,,,,,,,",
    )
    report = run(db, content)
    assert not report.written
    assert report.created == ()
    found = [(p.row, p.column, p.cause.code) for p in report.problems]
    assert found == [
        (3, "手机号", "roster_duplicate_phone"),
        (4, "手机号", "phone"),
        (5, "手机号", "roster_phone_elsewhere"),
        (6, "网格", "roster_unknown_grid"),
        (7, "楼栋", "roster_ambiguous_building"),
        (8, "所属单位", "roster_unknown_unit"),
        (9, "重点家庭类型", "roster_needs_consent"),
        (10, "姓名", "roster_formula"),
        (11, "角色", "roster_office_role"),
        (12, "角色", "roster_unknown_role"),
        (12, "重点家庭类型", "roster_unknown_key_household"),
        (13, "姓名", "empty"),
    ]
    assert report.problems[0].cause.params == {"first": 2}
    with db.snapshot() as tx:
        assert tx.scalar(sa.select(members.c.id).where(members.c.phone == "13800000011")) is None
        assert changes(tx) == 0


def test_an_admin_may_import_staff(db: points.Database) -> None:
    report = run(db, csv_bytes("官,13800000017,,,,社区工作人员,,,,"), actor="admin")
    assert report.written
    assert report.problems == ()


def test_the_same_file_again_changes_nothing(db: points.Database) -> None:
    first = run(db, csv_bytes(*ROWS))
    with db.snapshot() as tx:
        logged = changes(tx)
        before = sorted(tx.execute(sa.select(members)).all())
    again = run(db, csv_bytes(*ROWS))
    assert again.created == ()
    assert again.updated == ()
    assert again.unchanged == 3
    assert again.written
    assert first.written
    with db.snapshot() as tx:
        assert changes(tx) == logged
        assert sorted(tx.execute(sa.select(members)).all()) == before


def test_an_updated_file_updates_profiles_and_logs_each_change(db: points.Database) -> None:
    run(db, csv_bytes(*ROWS))
    updated = [
        "张三丰,13800000001,第二网格,1号楼,302,志愿者、党员,维修,区卫健局,,",
        ROWS[1],
        ROWS[2],
    ]
    report = run(db, csv_bytes(*updated))
    assert report.unchanged == 2
    assert report.created == ()
    (line,) = report.updated
    assert line.row == 2
    got = {c.field: (c.old, c.new) for c in line.changes}
    assert got == {
        "name": ("张三", "张三丰"),
        "home_org_id": ("b1", "b2"),
        "room": ("301", "302"),
        "skills": (["理发", "维修"], ["维修"]),
        "roles": (["volunteer"], ["party_member", "volunteer"]),
    }
    with db.snapshot() as tx:
        zhang = by_phone(tx, "13800000001")
        assert (zhang.name, zhang.home_org_id, zhang.room) == ("张三丰", "b2", "302")
        log = mk.profile_history(tx, "staff", zhang.id)
        assert {c.field for c in log if c.source == "import"} >= set(got)
        assert all(c.actor_id == "staff" for c in log)


def test_a_row_naming_the_grid_keeps_a_member_in_their_building_of_it(
    db: points.Database,
) -> None:
    run(db, csv_bytes(ROWS[0]))  # 张三 lives in 1号楼 of 第一网格
    again = run(db, csv_bytes("张三,13800000001,第一网格,,301,志愿者,维修、理发,区卫健局,,"))
    assert again.updated == ()
    moved = run(db, csv_bytes("张三,13800000001,第二网格,,301,志愿者,维修、理发,区卫健局,,"))
    assert [(c.field, c.old, c.new) for c in moved.updated[0].changes] == [
        ("home_org_id", "b1", "g2")
    ]


def test_a_dry_run_writes_nothing_and_reports_the_same(db: points.Database) -> None:
    with db.transaction() as tx:
        report = check_roster(tx, "staff", "c1", csv_bytes(*ROWS), now=T0)
    assert len(report.created) == 3
    assert not report.written
    with db.snapshot() as tx:
        assert changes(tx) == 0


def test_progress_is_told_as_rows_are_written(db: points.Database) -> None:
    told: list[tuple[int, int]] = []
    rows = [f"人{n},138{n:08d},,,,,,,," for n in range(1, 1202)]
    with db.transaction() as tx:
        import_roster(tx, "staff", "c1", csv_bytes(*rows), now=T0,
                      progress=lambda d, t: told.append((d, t)))  # fmt: skip
    assert told[0] == (0, 1201)
    assert told[-1] == (1201, 1201)
    assert [d for d, _ in told][1:] == [500, 1000, 1201]


def test_only_the_office_of_the_community_imports(db: points.Database) -> None:
    for actor in ("res", "vol1", "outsider"):
        with pytest.raises(mk.NotAllowed), db.transaction() as tx:
            import_roster(tx, actor, "c1", csv_bytes(*ROWS), now=T0)


def _encrypted() -> bytes:
    # an OLE container as Office writes a workbook with a password: the magic, then the
    # stream directory naming EncryptedPackage
    return (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 200 + "EncryptedPackage".encode("utf-16-le")
    )


def _zip_without_workbook() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("hello.txt", "hi")
    return out.getvalue()


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"", "sheet_empty"),
        (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", "sheet_unreadable"),
        (_encrypted(), "sheet_encrypted"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "sheet_xls"),
        (_zip_without_workbook(), "sheet_unreadable"),
        (b"PK\x03\x04garbage", "sheet_unreadable"),
        (b"x" * (mk.sheets.MAX_BYTES + 1), "sheet_too_large"),
        ("名字,电话号码\n张三,1\n".encode(), "roster_columns"),
        ("姓名,手机号\n".encode() + b"\xff\x80,1\n", "sheet_encoding"),
    ],
)
def test_a_bad_file_is_refused_with_its_reason(
    db: points.Database, content: bytes, code: str
) -> None:
    with pytest.raises(mk.InvalidInput) as caught, db.transaction() as tx:
        import_roster(tx, "staff", "c1", content, now=T0)
    assert caught.value.field == "file"
    assert caught.value.reason.code == code


def test_anonymising_clears_the_new_personal_fields_and_the_logged_values(
    db: points.Database,
) -> None:
    run(db, csv_bytes(*ROWS))
    run(db, csv_bytes("张三丰,13800000001,,,302,,,,,", header=HEADER))
    with db.transaction() as tx:
        zhang = by_phone(tx, "13800000001")
        mk.edit_profile(tx, zhang.id, address="阳光路8号", skills=frozenset({"维修"}),
                        availability="周六上午", now=T0)  # fmt: skip
        mk.anonymise(tx, zhang.id, zhang.id, now=T0)
    with db.snapshot() as tx:
        gone = mk.get_member(tx, zhang.id)
        assert (gone.room, gone.address, gone.availability) == (None, None, None)
        values = tx.execute(
            sa.select(member_changes.c.old, member_changes.c.new).where(
                member_changes.c.member_id == zhang.id
            )
        ).all()
        assert values
        assert all(old is None and new is None for old, new in values)


def test_a_kept_file_imports_once_and_keeps_no_names_of_its_own(db: points.Database) -> None:
    with db.transaction() as tx:
        kept = mk.uploads.stage(tx, "staff", "c1", "花名册.csv", csv_bytes(*ROWS), now=T0)
    assert kept.state == "checked"
    with pytest.raises(mk.NotFound), db.snapshot() as tx:
        mk.uploads.staged(tx, "vol1", "c1", kept.id)  # only the office of the community
    with db.transaction() as tx:
        done = mk.uploads.import_staged(tx, "staff", "c1", kept.id, now=T0)
        again = mk.uploads.import_staged(tx, "staff", "c1", kept.id, now=T0)
    assert len(done.created) == 3
    assert [c.member_id for c in again.created] == [c.member_id for c in done.created]
    with db.snapshot() as tx:
        assert mk.uploads.staged_content(tx, "staff", "c1", kept.id) == b""
        raw = tx.execute(sa.select(mk.schema.roster_imports.c.result)).scalar_one()
        shown = mk.uploads.staged(tx, "staff", "c1", kept.id)
    assert "张三" not in str(raw)
    assert "13800000001" not in str(raw)
    assert [c.name for c in shown.result.created] == ["张三", "李四", "王五"]  # read from members


@pytest.mark.parametrize("how", ["dropped by staff", "unconfirmed for a day"])
def test_a_file_not_imported_goes_with_the_names_of_its_report(
    db: points.Database, how: str
) -> None:
    """A checked file staff drop, or nobody confirms within a day (the ``roster_files`` sweep),
    keeps no file and no name, phone or cell of it: only ids and row numbers."""
    with db.transaction() as tx:
        kept = mk.uploads.stage(tx, "staff", "c1", "花名册.csv", csv_bytes(*ROWS), now=T0)
        late = mk.uploads.stage(
            tx, "staff", "c1", "b.csv", csv_bytes(ROWS[0]), now=T0 + dt.timedelta(hours=1)
        )
    day = T0 + mk.uploads.KEEP_UNCONFIRMED
    with db.transaction() as tx:
        if how == "dropped by staff":
            mk.uploads.drop_staged(tx, "staff", "c1", kept.id, now=T0)
        else:
            assert mk.uploads.drop_unconfirmed(tx, now=day - dt.timedelta(seconds=1)) == 0
            assert mk.uploads.drop_unconfirmed(tx, now=day) == 1  # the later file waits on
            assert mk.uploads.drop_unconfirmed(tx, now=day) == 0
    with db.snapshot() as tx:
        shown = mk.uploads.staged(tx, "staff", "c1", kept.id)
        raw = tx.execute(
            sa.select(mk.schema.roster_imports.c.result).where(
                mk.schema.roster_imports.c.id == kept.id
            )
        ).scalar_one()
        waiting = mk.uploads.staged(tx, "staff", "c1", late.id)
        assert mk.uploads.staged_content(tx, "staff", "c1", kept.id) == b""
    assert shown.state == "dropped"
    assert waiting.state == "checked"
    assert shown.result is not None
    assert len(shown.result.created) == 3  # the rows it would have made, by number
    assert shown.result.sample == ()
    for personal in ("张三", "13800000001", "维修"):
        assert personal not in str(raw)
    with pytest.raises(mk.InvalidInput) as refused, db.transaction() as tx:
        mk.uploads.import_staged(tx, "staff", "c1", kept.id, now=day)
    assert refused.value.reason.code == "roster_dropped"


def test_a_formula_in_a_workbook_cell_is_refused_not_evaluated(db: points.Database) -> None:
    content = xlsx_bytes(['=HYPERLINK("http://evil.example","张三")', 13800000001, *[""] * 8])
    report = run(db, content)
    assert [(p.row, p.column, p.cause.code) for p in report.problems] == [
        (2, "姓名", "roster_formula")
    ]
    assert not report.written


def test_two_imports_at_once_register_a_new_phone_once(db: points.Database) -> None:
    """Two staff import files naming the same new phones at the same moment. Without turns,
    on PostgreSQL each would read the phones as unknown before the other wrote, and both would
    register them: the first import's progress waits (up to a second) for the second to reach
    the same point, which only happens when nothing makes it wait its turn."""
    rows = [f"新人{n},137{n:08},第一网格,,,居民,,,," for n in range(40)]
    content = csv_bytes(*rows)
    met = threading.Barrier(2, timeout=1.0)

    def together(done: int, total: int) -> None:
        if done == 0:
            with contextlib.suppress(threading.BrokenBarrierError):
                met.wait()

    def one(_: int) -> mk.RosterReport:
        return db.write(import_roster, "staff", "c1", content, progress=together, now=T0)

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        reports = list(pool.map(one, range(2)))
    assert sorted(len(r.created) for r in reports) == [0, 40]
    assert sorted(r.unchanged for r in reports) == [0, 40]
    with db.snapshot() as tx:
        found = tx.execute(
            sa.select(members.c.phone, sa.func.count())
            .where(members.c.phone.like("137%"))
            .group_by(members.c.phone)
        ).all()
    assert len(found) == 40
    assert {n for _, n in found} == {1}
