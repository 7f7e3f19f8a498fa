"""``linli export KIND``: the file written, the counts printed, the export logged, and bad input
refused with a message and an exit code (never a traceback)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import openpyxl
import pytest
import sqlalchemy as sa

import marketplace as mk
import marketplace_world as world
import points
import service_world
from marketplace_world import T0
from service.cli import main


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "linli.db"
    assert service_world.cli(path).invoke(main, ["db", "upgrade"]).exit_code == 0
    db = points.Database(f"sqlite:///{path}")
    try:
        with db.transaction() as tx:
            world.build(tx)
            for member in ("vol1", "vol2"):
                points.record_service(
                    tx,
                    community_id="c1",
                    member_id=member,
                    category="文体活动",
                    minutes=90,
                    served_on=T0.date(),
                    reference=f"event:e1:{member}",
                    actor="staff",
                    memo="社区运动会",
                    now=T0,
                )
            mk.record_consent(tx, "vol1", "vol1", given=True, now=T0)
    finally:
        db.dispose()
    return path


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_export_writes_the_file_and_prints_the_counts(
    database: Path, tmp_path: Path, fmt: str
) -> None:
    out = tmp_path / f"members.{fmt}"
    args = ["export", "members", "--community", "c1", "--period", "2026-Q4", "--format", fmt]
    done = service_world.cli(database).invoke(main, [*args, "-o", str(out)])
    assert done.exit_code == 0, done.output
    assert done.output.startswith(f"{out}: ")
    if fmt == "xlsx":
        sheet = openpyxl.load_workbook(out).worksheets[0]
        rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    else:
        rows = list(csv.reader(io.StringIO(out.read_text("utf-8-sig"))))
    assert rows[0][:2] == ["成员编号", "姓名"]
    roles = {r[0]: r[6] for r in rows[1:]}
    assert roles["staff"] == "社区工作人员"  # said in Chinese
    assert f"{len(rows) - 1} row(s) written" in done.output


def test_records_leave_out_and_count_members_without_consent(
    database: Path, tmp_path: Path
) -> None:
    out = tmp_path / "records.csv"
    args = ["export", "records", "--community", "c1", "--period", "2026", "--format", "csv"]
    done = service_world.cli(database).invoke(main, [*args, "-o", str(out)])
    assert done.exit_code == 0, done.output
    assert "1 row(s) written; 1 member(s) left out" in done.output
    rows = list(csv.reader(io.StringIO(out.read_text("utf-8-sig"))))
    assert [r[3] for r in rows[1:]] == ["vol1"]
    engine = sa.create_engine(f"sqlite:///{database}")
    with engine.connect() as conn:
        logged = conn.execute(mk.exports.exports.select()).mappings().one()
    engine.dispose()
    assert (logged["actor_id"], logged["kind"], logged["channel"], logged["withheld"]) == (
        mk.SYSTEM,
        "records",
        "cli",
        1,
    )


@pytest.mark.parametrize(
    ("args", "code", "said"),
    [
        (["export", "salaries", "--community", "c1", "--period", "2026"], 2, "salaries"),
        (["export", "members", "--community", "c1", "--period", "2026-13"], 2, "--period"),
        (["export", "members", "--community", "c1", "--period", "2026-03..2026-01"], 2, "开始"),
        (["export", "members", "--community", "nowhere", "--period", "2026"], 1, "nowhere"),
        (["export", "members", "--community", "c1", "--period", "2026", "--format", "pdf"], 2, ""),
        (["export", "members", "--community", "g1", "--period", "2026"], 1, "统计"),
    ],
)
def test_bad_input_is_refused_with_a_message_and_an_exit_code(
    database: Path, tmp_path: Path, args: list[str], code: int, said: str
) -> None:
    out = tmp_path / "x.xlsx"
    done = service_world.cli(database).invoke(main, [*args, "-o", str(out)])
    assert done.exit_code == code, done.output
    assert done.exception is None or isinstance(done.exception, SystemExit)
    assert said in done.output
    assert not out.exists()
