"""``linli import members FILE --community ID [--dry-run]`` (花名册导入, issue 15), run as an
operator would, on a SQLite file."""

from __future__ import annotations

import io
from pathlib import Path

import openpyxl
import pytest
import sqlalchemy as sa

import marketplace as mk
import marketplace_world as world
import points
import service_world
from marketplace import OrgKind
from marketplace.schema import members
from service import codes as codes_
from service import rosters
from service.cli import main
from service.database import open_database
from service.settings import Settings

HEADER = "姓名,手机号,网格,楼栋,房号,角色,技能,所属单位,重点家庭类型,同意书编号"


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "linli.db"
    assert service_world.cli(path).invoke(main, ["db", "upgrade"]).exit_code == 0
    db = open_database(
        Settings(database_url=f"sqlite:///{path}", secret_key=service_world.DEMO_SECRET)
    )
    try:
        with db.transaction() as tx:
            world.build(tx)
            mk.create_org(tx, mk.SYSTEM, id="b1", kind=OrgKind.BUILDING, name="1号楼",
                          parent_id="g1", now=world.T0)  # fmt: skip
    finally:
        db.dispose()
    return path


def _count(path: Path) -> int:
    engine = sa.create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            return conn.scalar(sa.select(sa.func.count()).select_from(members)) or 0
    finally:
        engine.dispose()


def _file(tmp_path: Path, *rows: str, encoding: str = "gb18030") -> Path:
    path = tmp_path / "花名册.csv"
    path.write_bytes(("\n".join([HEADER, *rows]) + "\n").encode(encoding))
    return path


def test_import_registers_the_rows_and_names_the_new_members(
    database: Path, tmp_path: Path
) -> None:
    before = _count(database)
    roster = _file(
        tmp_path, "张三,13800000001,第一网格,1号楼,301,志愿者,,,,", "李四,13800000002,,,,,,,,"
    )
    runner = service_world.cli(database)
    dry = runner.invoke(main, ["import", "members", str(roster), "--community", "c1", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "将新登记 2 人" in dry.output
    assert _count(database) == before
    done = runner.invoke(main, ["import", "members", str(roster), "--community", "c1"])
    assert done.exit_code == 0, done.output
    assert _count(database) == before + 2
    new = [line.split("\t") for line in done.output.splitlines() if line.startswith("新成员\t")]
    rows = [(row, name) for _, _, row, name, *_ in new]
    assert rows == [("第 2 行", "张三"), ("第 3 行", "李四")]
    assert "已新登记 2 人" in done.output
    codes = [fields[4].removeprefix("激活码 ") for fields in new]
    assert all(len(code) == 8 and code.isdigit() for code in codes), done.output
    assert "只显示这一次" in done.output
    db = open_database(
        Settings(database_url=f"sqlite:///{database}", secret_key=service_world.DEMO_SECRET)
    )
    try:  # 张三 sets a password with his code, once
        with db.transaction() as tx:
            secret, now = service_world.DEMO_SECRET, points.utcnow()
            used = codes_.redeem(tx, "13800000001", codes[0], "hash", secret=secret, now=now)
            again = codes_.redeem(tx, "13800000001", codes[0], "hash", secret=secret, now=now)
    finally:
        db.dispose()
    assert isinstance(used, codes_.Redeemed)
    assert used.purpose is codes_.Purpose.ACTIVATE
    assert isinstance(again, codes_.Refusal)
    assert again.reason == "used"
    again = runner.invoke(main, ["import", "members", str(roster), "--community", "c1"])
    assert again.exit_code == 0, again.output
    assert "已新登记 0 人，已更新 0 人，2 人无变化" in again.output


def test_a_file_with_problems_writes_nothing_and_lists_them_in_chinese(
    database: Path, tmp_path: Path
) -> None:
    before = _count(database)
    roster = _file(tmp_path, "张三,13800000001,,,,,,,,", "李四,13800000001,第九网格,,,,,,,")
    problems = tmp_path / "问题.xlsx"
    runner = service_world.cli(database)
    result = runner.invoke(
        main,
        ["import", "members", str(roster), "--community", "c1", "--problems", str(problems)],
    )
    assert result.exit_code == 1
    assert "第 3 行 · 手机号：与第 2 行的手机号重复" in result.output
    assert "第 3 行 · 网格：本社区没有名为“第九网格”的网格" in result.output
    assert "未写入任何数据" in result.output
    assert _count(database) == before
    sheet = openpyxl.load_workbook(problems).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("行号", "问题", "姓名")
    assert rows[1][0] == 3
    assert "手机号重复" in str(rows[1][1])
    assert len(rows) == 2


def test_a_file_that_is_no_spreadsheet_is_refused_in_chinese(
    database: Path, tmp_path: Path
) -> None:
    picture = tmp_path / "photo.xlsx"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR")
    result = service_world.cli(database).invoke(
        main, ["import", "members", str(picture), "--community", "c1"]
    )
    assert result.exit_code == 1
    assert "photo.xlsx：不是可以读取的表格文件" in result.output
    unknown = service_world.cli(database).invoke(
        main, ["import", "members", str(_file(tmp_path)), "--community", "nowhere"]
    )
    assert unknown.exit_code == 1
    assert "没有编号为 nowhere 的社区" in unknown.output


def test_the_problems_workbook_keeps_a_formula_as_text() -> None:
    content = (HEADER + '\n=HYPERLINK("http://evil"),13800000001,,,,,,,,\n').encode()
    problem = mk.roster.Problem(row=2, column="姓名", cause=points.Cause("roster_formula"))
    book = openpyxl.load_workbook(io.BytesIO(rosters.problems_workbook(content, [problem])))
    sheet = book.active
    assert sheet is not None
    cell = sheet["C2"]
    assert cell.data_type == "s"
    assert cell.value == '\'=HYPERLINK("http://evil")'
    assert "疑似公式" in str(sheet["B2"].value)


def test_the_template_has_every_column_and_reads_back() -> None:
    content = rosters.template()
    sheet = mk.sheets.read_sheet(content)
    assert sheet.header == tuple(c.header for c in mk.roster.COLUMNS)
    assert sheet.rows[0][1][:2] == ("张三", "13800000000")
