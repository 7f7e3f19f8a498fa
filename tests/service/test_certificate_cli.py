"""``linli certificate``: issue a certificate from the command line and write its PDF; the
number and the verification address are printed, the PDF reads back."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import certificate_world as cw
import marketplace_world as world
import points
import service_world
from service.cli import main
from service.database import open_database
from service.settings import Settings


def test_the_certificate_command_writes_the_pdf_and_prints_its_number(tmp_path: Path) -> None:
    database = tmp_path / "linli.db"
    runner = service_world.cli(database)
    runner.env["LINLI_PUBLIC_URL"] = "https://linli.example.cn/"
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
    db = open_database(
        Settings(database_url=f"sqlite:///{database}", secret_key=service_world.DEMO_SECRET)
    )
    try:
        with db.transaction() as tx:
            world.build(tx)
            for day, minutes in ((3, 120), (20, 45)):
                points.record_service(
                    tx, community_id="c1", member_id="vol1", category="助老陪护",
                    minutes=minutes, served_on=dt.date(2026, 11, day), reference=f"event:{day}",
                    actor="staff", memo="探访",
                )  # fmt: skip
    finally:
        db.dispose()
    out = tmp_path / "cert.pdf"
    args = ["certificate", "--community", "c1", "--member", "vol1"]
    made = runner.invoke(main, [*args, "--from", "2026-11-10", "--to", "2026-11-30", "-o", out])
    assert made.exit_code == 0, made.output
    found = re.search(r"certificate (\d{4}-\w{4}-\w{4})  0\.8 hours", made.output)
    assert found, made.output
    number = found.group(1)
    url = f"https://linli.example.cn/verify/{number}"
    assert f"verify at {url}\n" in made.output
    text = cw.pdf_text(out.read_bytes())
    assert number in text
    assert "0.8 小时" in text
    assert "出具单位：阳光社区" in text
    assert cw.qr_codes(out.read_bytes()) == [url]
    nothing = runner.invoke(main, [*args, "--to", "2026-10-31", "-o", tmp_path / "none.pdf"])
    assert nothing.exit_code == 1
    assert "no verified minutes" in nothing.output
    assert not (tmp_path / "none.pdf").exists()
    missing = runner.invoke(main, [*args, "-o", out], env={"LINLI_CERTIFICATE_FONT": "/nope.ttf"})
    assert missing.exit_code == 1
    assert "no file /nope.ttf" in missing.output
