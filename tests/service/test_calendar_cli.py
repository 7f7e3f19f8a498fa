"""``linli calendar load FILE`` and ``linli calendar show``: an admin loads a year the calendar
package does not cover; a bad file is refused with the line at fault, and nothing is loaded."""

from __future__ import annotations

from pathlib import Path

import service_world
from service.cli import main


def test_a_year_loads_from_a_file_and_shows_as_covered(tmp_path: Path) -> None:
    runner = service_world.cli(tmp_path / "linli.db")
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
    shown = runner.invoke(main, ["calendar", "show"])
    assert shown.output == "package chinesecalendar: 2004-2026; loaded: none\n", shown.output
    bad = tmp_path / "bad.txt"
    bad.write_text("2027-01-01,休,元旦\n2027-02-07,上班\n", encoding="utf-8")
    refused = runner.invoke(main, ["calendar", "load", str(bad), "--source", "通知"])
    assert refused.exit_code == 1
    assert "line 2" in refused.output
    days = tmp_path / "2027.txt"
    days.write_text(
        "# 国务院办公厅关于2027年部分节假日安排的通知\n"
        "2027-01-01,休,元旦\n2027-02-06,休,春节\n2027-02-20,班,春节调休\n",
        encoding="utf-8",
    )
    loaded = runner.invoke(main, ["calendar", "load", str(days), "--source", "国办发明电"])
    assert loaded.exit_code == 0, loaded.output
    assert loaded.output == "calendar 2027 loaded: 2 days off (休), 1 weekend days worked (班)\n"
    shown = runner.invoke(main, ["calendar", "show"])
    assert shown.output == "package chinesecalendar: 2004-2026; loaded: 2027\n"
