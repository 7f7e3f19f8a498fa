"""The linli command line, run as a user would (on SQLite files), and the demo district it loads.

Loading the demo takes a while, so the module loads it once (``linli db upgrade``, ``linli demo``)
into a template file; each test works on a copy.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

import marketplace as mk
import points
import service_world
import support
from marketplace import WishState
from marketplace.schema import transitions
from marketplace.schema import wishes as wish_rows
from service import demo
from service.app import create_app
from service.cli import main
from service.database import open_database
from service.settings import Settings


def _runner(database: Path) -> CliRunner:
    return service_world.cli(database)


@pytest.fixture
def database(demo_file: service_world.DemoFile, tmp_path: Path) -> Path:
    copy = tmp_path / "linli.db"
    support.copy_sqlite(demo_file.path, copy)
    return copy


@pytest.fixture
def db(database: Path) -> Iterator[points.Database]:
    opened = open_database(
        Settings(database_url=f"sqlite:///{database}", secret_key=service_world.DEMO_SECRET)
    )
    try:
        yield opened
    finally:
        opened.dispose()


def test_upgrade_prints_the_revision_it_reached(tmp_path: Path) -> None:
    runner = _runner(tmp_path / "linli.db")
    first = runner.invoke(main, ["db", "upgrade"])
    assert re.fullmatch(r"database at revision \w+(,\w+)*\n", first.output), first.output
    assert "s0002" in first.output
    assert runner.invoke(main, ["db", "upgrade"]).output == first.output


def test_demo_prints_what_it_loaded_and_loading_again_changes_nothing(
    demo_file: service_world.DemoFile, database: Path
) -> None:
    lines = demo_file.output.splitlines()
    assert lines[0] == (
        "demo district xingfu: 2 streets, 6 communities, 21 compounds, 124 grids, 10 paired units"
    )
    assert lines[-1].startswith("loaded in ")
    again = _runner(database).invoke(main, ["demo"])
    assert again.exit_code == 0, again.output
    assert again.stdout.splitlines() == [*lines[:-1], "already loaded: nothing changed"]


def test_status_reports_the_ledger_and_the_wishes_of_every_community(database: Path) -> None:
    status = _runner(database).invoke(main, ["status"])
    assert status.exit_code == 0, status.output
    for community in ("yangguang", "xinghe", "jinqiao", "mingyue", "qingquan", "taoyuan"):
        assert re.search(
            rf"^community {community}: \d+ accounts, \d+ transfers, [1-9]\d* points issued",
            status.output,
            re.M,
        ), status.output
        assert re.search(rf"^community {community}: wishes .*\d+ closed", status.output, re.M)


def test_audit_of_the_demo_finds_no_problem(database: Path) -> None:
    audit = _runner(database).invoke(main, ["audit"])
    assert (audit.exit_code, audit.output) == (0, "audit: 0 problem(s)\n")


def test_audit_exits_1_and_names_the_account_when_a_balance_was_tampered_with(
    database: Path,
) -> None:
    with sqlite3.connect(database) as conn:
        conn.execute(
            "UPDATE points_accounts SET credits_posted = credits_posted + 5 "
            "WHERE community_id = 'yangguang' AND id = 'member:demo-volunteer'"
        )
    audit = _runner(database).invoke(main, ["audit"])
    assert audit.exit_code == 1
    assert "counter_drift\tyangguang\tmember:demo-volunteer" in audit.output


def test_status_of_an_empty_ledger(tmp_path: Path) -> None:
    runner = _runner(tmp_path / "linli.db")
    runner.invoke(main, ["db", "upgrade"])
    assert runner.invoke(main, ["status"]).output == "the ledger is empty\n"


def test_the_demo_district_has_the_shape_it_promises(db: points.Database) -> None:
    counted = demo.load(db)
    assert not counted.fresh
    assert (counted.streets, counted.communities, counted.grids) == (2, 6, 124)
    assert (counted.units, counted.accounts) == (10, len(demo.ACCOUNTS))
    assert counted.volunteers >= 300
    assert counted.residents >= 2000
    assert counted.households >= 1500
    assert counted.key_households > 0
    assert counted.wishes == 600
    # Every state a wish rests in. A confirmation closes the wish in the same step (the points
    # are posted at once), so "confirmed" shows in the record of the closed ones instead.
    assert set(counted.states) == {s.value for s in WishState} - {WishState.CONFIRMED.value}
    assert counted.escalated.get(1, 0) > 0
    assert counted.escalated.get(2, 0) > 0
    assert counted.ratings > 0
    assert counted.satisfied / counted.ratings > 0.8
    assert counted.points_issued > 0
    assert counted.points_spent > 0
    assert counted.minutes_served > 0
    assert {"fulfilled", "reserved", "cancelled"} <= set(counted.orders)
    with db.snapshot() as conn:
        categories = set(conn.scalars(sa.select(wish_rows.c.category).distinct()))
        confirmed = conn.scalar(
            sa.select(sa.func.count()).where(transitions.c.to_state == WishState.CONFIRMED.value)
        )
        assert points.audit(conn) == []
        offers = mk.list_offers(conn, "demo-staff", "yangguang")
    assert categories == set(mk.DEFAULT_CATEGORIES)
    assert confirmed
    assert confirmed >= counted.states["closed"] - 20
    assert (counted.offers, len(offers.items)) == (12, 2)


async def _sign_in(client: httpx.AsyncClient, account: demo.Account) -> dict[str, str]:
    answer = await client.post(
        "/api/v1/auth/token", json={"phone": account.phone, "password": demo.PASSWORD}
    )
    assert answer.status_code == 200, (account.role_label, answer.text)
    assert answer.json()["member_id"] == account.member_id
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


async def test_every_demo_account_signs_in_and_sees_its_part(db: points.Database) -> None:
    app = create_app(service_world.settings(db.url, secret_key=service_world.DEMO_SECRET), db=db)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://linli.test") as client:
        heads = {a.role_label: await _sign_in(client, a) for a in demo.ACCOUNTS}
        api = "/api/v1"
        yangguang = f"{api}/communities/yangguang"

        async def get(who: str, url: str, **params: Any) -> Any:
            answer = await client.get(url, headers=heads[who], params=params)
            assert answer.status_code == 200, (who, url, answer.text)
            return answer.json()

        def items(body: Any) -> list[Any]:
            found: list[Any] = body["items"]
            return found

        me = await get("网格员", f"{api}/me")
        assert [(g["org_id"], g["role"]) for g in me["roles"]] == [("yangguang-g01", "grid_worker")]

        district = items(await get("区管理员", f"{api}/orgs/xingfu/escalations", limit=200))
        assert district
        assert all(w["level"] == 2 for w in district)
        street = items(await get("街道工作人员", f"{api}/orgs/heping/escalations", limit=200))
        assert street
        assert all(w["level"] >= 1 for w in street)
        assert {w["community_id"] for w in street} <= {"yangguang", "xinghe", "jinqiao"}

        queue = items(await get("社区工作人员", f"{yangguang}/wishes", state="submitted"))
        assert queue
        assert {w["state"] for w in queue} == {"submitted"}
        assert "客厅灯不亮了" in {w["title"] for w in queue}
        every = items(await get("社区工作人员", f"{yangguang}/wishes", limit=200))
        proxied = [w for w in every if w["posted_by"] == "demo-grid-worker"]
        assert proxied
        assert all(w["beneficiary_id"] != "demo-grid-worker" for w in proxied)
        for wish in proxied:  # 代点单: the grid worker follows the wishes they posted
            await get("网格员", f"{yangguang}/wishes/{wish['id']}")

        mine = [
            w
            for w in items(await get("居民", f"{yangguang}/wishes", limit=200))
            if w["beneficiary_id"] == "demo-resident"
        ]
        assert {"closed", "served", "published", "submitted", "cancelled"} <= {
            w["state"] for w in mine
        }
        assert [w["confirmation_code"] is not None for w in mine if w["state"] == "served"] == [
            True
        ]

        wallet = await get("志愿者", f"{yangguang}/members/demo-volunteer/wallet")
        assert wallet["balance"] > 0
        assert wallet["held"] == 50
        assert wallet["incoming"] > 0
        hours = await get("志愿者", f"{yangguang}/members/demo-volunteer/hours")
        assert hours["minutes"] > 0
        claims = items(await get("志愿者", f"{yangguang}/claims"))
        assert {"active", "checked_out", "confirmed"} <= {c["state"] for c in claims}
        orders = items(await get("志愿者", f"{yangguang}/orders", member_id="demo-volunteer"))
        assert {o["status"] for o in orders} == {"fulfilled", "reserved"}
        assert items(await get("志愿者", f"{yangguang}/orders", member_id="me")) == orders

        assigned = items(await get("党员", f"{yangguang}/claims"))
        assert {"active", "confirmed"} <= {c["state"] for c in assigned}
        assert {c["unit_id"] for c in assigned} == {"u-weijian"}

        claimed = items(await get("单位管理员", f"{yangguang}/wishes", state="claimed"))
        moving = next(w for w in claimed if w["title"] == "帮独居老人搬运家具")
        lines = await get("单位管理员", f"{yangguang}/wishes/{moving['id']}/claims")
        assert lines["next_cursor"] is None
        unassigned = [x["claim"] for x in lines["items"] if x["claim"]["member_id"] is None]
        assert [(c["unit_id"], c["places"]) for c in unassigned] == [("u-weijian", 1)]
