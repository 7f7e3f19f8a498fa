"""The demo accounts land where docs/quickstart.md says: every one in 阳光社区 (yangguang), or
above it for the district admin and the street's staff, in the seat the pages start them in."""

from __future__ import annotations

from pathlib import Path

import marketplace as mk
import service_world
import support
from service.database import open_database
from service.demo import ACCOUNTS
from service.pages.common import first_seat
from service.settings import Settings

ABOVE = {"demo-admin": None, "demo-street-staff": None}


def test_every_demo_account_starts_in_the_community_the_quickstart_names(
    demo_file: service_world.DemoFile, tmp_path: Path
) -> None:
    copy = tmp_path / "linli.db"
    support.copy_sqlite(demo_file.path, copy)
    settings = Settings(database_url=f"sqlite:///{copy}", secret_key=service_world.DEMO_SECRET)
    db = open_database(settings)
    try:
        with db.snapshot() as conn:
            landed = {
                a.member_id: first_seat(
                    conn, mk.get_member(conn, a.member_id), mk.seats(conn, a.member_id)
                )
                for a in ACCOUNTS
            }
    finally:
        db.dispose()
    where = {member: seat.community_id if seat else "-" for member, seat in landed.items()}
    expected = {a.member_id: ABOVE.get(a.member_id, "yangguang") for a in ACCOUNTS}
    assert where == expected
    assert {a.member_id for a in ACCOUNTS} >= set(ABOVE)
    quickstart = (Path(__file__).parents[2] / "docs" / "quickstart.md").read_text("utf-8")
    assert "All of them are\nin 阳光社区" in quickstart
