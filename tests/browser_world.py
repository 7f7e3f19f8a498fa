"""Browser tests: the real service (``linli serve``) on a fresh SQLite file, driven by Playwright
in Debian's Chromium at a phone's size (375×667). ``scripts/ensure-browser`` installs Chromium
and a CJK font; these tests never download a browser.

The world is small and built through the libraries before the service starts: a district, a
street, 阳光社区 with one grid, a resident, a staff member, a volunteer, and one item in the
points store. Screenshots of the main pages go to ``tests/browser/artifacts/``.
"""

from __future__ import annotations

import datetime as dt
import subprocess
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.engine import Connection

import marketplace as mk
from marketplace import OrgKind, Role
from marketplace.schema import claims
from points import Database
from service import auth
from service.database import open_database
from service.settings import Settings

ARTIFACTS = Path(__file__).resolve().parent / "browser" / "artifacts"
CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 375, "height": 667}
PASSWORD = "demo12345"
PEOPLE = {  # id: (name, phone, org, role)
    "chen": ("陈奶奶", "13900000005", "grid1", Role.RESIDENT),
    "liu": ("刘主任", "13900000003", "yangguang", Role.STAFF),
    "zhang": ("张伟", "13900000006", "yangguang", Role.VOLUNTEER),
}
COMMUNITY = "yangguang"
ITEM = "item-rice"


class Server:
    def __init__(self, url: str, database_url: str, process: subprocess.Popen[bytes]) -> None:
        self.url = url
        self.database_url = database_url
        self.process = process

    def run(self, work: Callable[[Connection], object]) -> None:
        """Run ``work(conn)`` in one transaction on the service's database (staging)."""
        db = open_database(Settings(database_url=self.database_url, secret_key="x"))
        try:
            with db.transaction() as conn:
                work(conn)
        finally:
            db.dispose()

    def backdate_check_in(self, minutes: int) -> None:
        """Stage the data: the volunteer checked in ``minutes`` ago (service time is real time)."""

        def work(conn: Connection) -> None:
            when = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=minutes)
            done = conn.execute(
                claims.update()
                .where(claims.c.community_id == COMMUNITY, claims.c.state == "checked_in")
                .values(checked_in_at=when)
            )
            assert done.rowcount == 1

        self.run(work)


def build_world(db: Database) -> None:
    hashed = auth.HASHER.hash(PASSWORD)
    sys_ = mk.SYSTEM
    with db.transaction() as tx:
        mk.create_org(tx, sys_, id="xingfu", kind=OrgKind.DISTRICT, name="幸福区")
        mk.create_org(
            tx, sys_, id="heping", kind=OrgKind.STREET, name="和平街道", parent_id="xingfu"
        )
        mk.create_org(
            tx, sys_, id=COMMUNITY, kind=OrgKind.COMMUNITY, name="阳光社区", parent_id="heping"
        )
        mk.create_org(tx, sys_, id="grid1", kind=OrgKind.GRID, name="第一网格", parent_id=COMMUNITY)
        for member_id, (name, phone, org_id, role) in PEOPLE.items():
            mk.add_member(
                tx,
                id=member_id,
                name=name,
                phone=phone,
                home_org_id="grid1",
                public_profile=member_id == "zhang",
            )
            mk.grant_role(tx, sys_, member_id, org_id, role)
            auth.set_credentials(tx, member_id, phone, hashed)
        mk.wallet.add_item(
            tx, "liu", COMMUNITY, name="大米 5kg", cost=10, stock=20, per_member_limit=2
        )
