"""One-time sign-in codes over HTTP (一次性验证码): staff issue, the member sets a password.

A code works once, for its time, for the phone it was issued to; afterwards every older token
of the member is refused. Wrong codes are counted (429 ``code_throttled``), another community's
staff are refused, the code is never stored (only its keyed hash, and never in an idempotency
key's kept answer), and every issue, use and refusal is logged.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

import marketplace as mk
import service_world as sw
import support
from points import Database
from service import codes
from service.cli import main
from service.database import open_database
from service.settings import Settings
from service.tables import idempotency_keys, sign_in_code_events, sign_in_codes
from service_world import Service

ME = "/api/v1/me"
TOKEN = "/api/v1/auth/token"
REDEEM = "/api/v1/auth/code"
NEW_PASSWORD = "a-new-password-1"
NEWBIE_PHONE = "13800000001"


def issue_path(member: str, community: str = "c1") -> str:
    return f"/api/v1/communities/{community}/members/{member}/sign-in-code"


def refused(answer: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = answer.json()
    assert body["code"] == code, body
    return body


def add_newbie(svc: Service) -> None:
    """A member registered with a phone and no password (as the roster import makes them)."""
    db: Database = svc.app.state.db
    db.write(
        lambda tx: mk.register(
            tx, "staff", "g1", name="新居民", role=mk.Role.RESIDENT, phone=NEWBIE_PHONE,
            id="newbie",
        )
    )  # fmt: skip


async def issue(svc: Service, member: str, *, by: str = "staff", **body: Any) -> dict[str, Any]:
    answer = await svc.client.post(issue_path(member), json=body, headers=svc.as_(by))
    assert answer.status_code == 201, answer.text
    issued: dict[str, Any] = answer.json()
    return issued


async def redeem(
    svc: Service, phone: str, code: str, password: str = NEW_PASSWORD
) -> httpx.Response:
    return await svc.client.post(REDEEM, json={"phone": phone, "code": code, "password": password})


def stored(svc: Service, table: sa.Table) -> list[Any]:
    db: Database = svc.app.state.db
    return db.read(lambda tx: tx.execute(sa.select(table)).all())


async def test_a_reset_code_sets_the_password_and_every_older_token_stops(svc: Service) -> None:
    old = svc.as_("res")
    assert (await svc.client.get(ME, headers=old)).status_code == 200
    issued = await issue(svc, "res")
    assert issued["purpose"] == "reset"
    assert issued["phone"] == sw.PHONES["res"]
    assert len(issued["code"]) == 8
    assert issued["code"].isdigit()
    expires = dt.datetime.fromisoformat(issued["expires_at"])
    assert expires == svc.clock.now + dt.timedelta(minutes=30)

    typed = f"{issued['code'][:4]} {issued['code'][4:]}"  # as shown: two groups of four
    answer = await redeem(svc, sw.PHONES["res"], typed)
    assert answer.status_code == 200, answer.text
    token = answer.json()["access_token"]
    assert answer.json()["member_id"] == "res"

    refused(await svc.client.get(ME, headers=old), 401, "unauthenticated")
    mine = await svc.client.get(ME, headers={"Authorization": f"Bearer {token}"})
    assert mine.status_code == 200
    signed = await svc.client.post(
        TOKEN, json={"phone": sw.PHONES["res"], "password": NEW_PASSWORD}
    )
    assert signed.status_code == 200
    again = refused(await redeem(svc, sw.PHONES["res"], issued["code"]), 410, "code_used")
    assert again["detail"] == "验证码已使用过，请联系社区工作人员重新发放"


async def test_a_member_without_a_password_activates_with_a_day_long_code(svc: Service) -> None:
    add_newbie(svc)
    refused(await svc.client.post(TOKEN, json={"phone": NEWBIE_PHONE, "password": "x" * 8}),
            401, "bad_credentials")  # fmt: skip
    issued = await issue(svc, "newbie")
    assert issued["purpose"] == "activate"
    assert dt.datetime.fromisoformat(issued["expires_at"]) == svc.clock.now + dt.timedelta(hours=24)
    refused(await svc.client.post(issue_path("newbie"), json={"purpose": "reset"},
                                  headers=svc.as_("staff")), 409, "conflict")  # fmt: skip
    svc.clock.advance(hours=23)
    answer = await redeem(svc, NEWBIE_PHONE, issued["code"])
    assert answer.status_code == 200, answer.text
    signed = await svc.client.post(TOKEN, json={"phone": NEWBIE_PHONE, "password": NEW_PASSWORD})
    assert signed.status_code == 200
    assert signed.json()["member_id"] == "newbie"


async def test_wrong_and_expired_codes_are_refused_in_chinese(svc: Service) -> None:
    issued = await issue(svc, "res2")
    wrong = "0" * 8 if issued["code"] != "0" * 8 else "1" * 8
    body = refused(await redeem(svc, sw.PHONES["res2"], wrong), 401, "code_wrong")
    assert body["detail"] == "手机号或验证码不正确"
    refused(await redeem(svc, "13700000000", issued["code"]), 401, "code_wrong")  # another phone
    svc.clock.advance(minutes=31)
    body = refused(await redeem(svc, sw.PHONES["res2"], issued["code"]), 410, "code_expired")
    assert "过期" in body["detail"]
    # the password stayed as it was
    signed = await svc.client.post(
        TOKEN, json={"phone": sw.PHONES["res2"], "password": sw.PASSWORD}
    )
    assert signed.status_code == 200
    short = await redeem(svc, sw.PHONES["res2"], issued["code"], password="short")
    assert short.status_code == 400 or short.status_code == 422


async def test_wrong_codes_are_throttled_per_phone_with_a_chinese_429(svc: Service) -> None:
    issued = await issue(svc, "vol2")
    wrong = "0" * 8 if issued["code"] != "0" * 8 else "1" * 8
    for _ in range(5):
        refused(await redeem(svc, sw.PHONES["vol2"], wrong), 401, "code_wrong")
    body = refused(await redeem(svc, sw.PHONES["vol2"], issued["code"]), 429, "code_throttled")
    assert body["detail"].startswith("验证码错误次数过多，请")
    assert body["detail"].endswith("分钟后再试")
    throttled = await redeem(svc, sw.PHONES["vol2"], issued["code"])
    assert int(throttled.headers["retry-after"]) > 0
    # the sign-in's own count is apart: the member still signs in with the old password
    signed = await svc.client.post(
        TOKEN, json={"phone": sw.PHONES["vol2"], "password": sw.PASSWORD}
    )
    assert signed.status_code == 200


async def test_only_the_members_community_office_may_issue(svc: Service) -> None:
    db: Database = svc.app.state.db
    db.write(lambda tx: mk.grant_role(tx, mk.SYSTEM, "outsider", "c2", mk.Role.STAFF))
    # c2's staff: not for c1's member, nor through their own community
    refused(await svc.client.post(issue_path("res"), json={}, headers=svc.as_("outsider")),
            404, "not_found")  # fmt: skip
    refused(await svc.client.post(issue_path("res", "c2"), json={}, headers=svc.as_("outsider")),
            404, "not_found")  # fmt: skip
    # a volunteer and a grid worker of c1 are not its office
    for person in ("vol1", "grid"):
        refused(await svc.client.post(issue_path("res"), json={}, headers=svc.as_(person)),
                404, "not_found")  # fmt: skip
    # the district's admin is office above the community
    assert (await issue(svc, "res", by="admin"))["purpose"] == "reset"
    assert stored(svc, sign_in_codes)[0].issued_by == "admin"


async def test_codes_are_stored_hashed_and_never_kept_under_an_idempotency_key(
    svc: Service,
) -> None:
    headers = {**svc.as_("staff"), "Idempotency-Key": "codes-1"}
    body = {"member_ids": ["res", "res2", "vol1"]}
    answer = await svc.client.post(
        "/api/v1/communities/c1/sign-in-codes", json=body, headers=headers
    )
    assert answer.status_code == 201, answer.text
    items = answer.json()["items"]
    assert [i["member_id"] for i in items] == ["res", "res2", "vol1"]
    shown = {i["code"] for i in items}
    assert len(shown) == 3
    assert all(len(c) == 8 for c in shown)
    replay = await svc.client.post(
        "/api/v1/communities/c1/sign-in-codes", json=body, headers=headers
    )
    assert replay.status_code == 201
    assert replay.headers["idempotent-replayed"] == "true"
    assert [i["code"] for i in replay.json()["items"]] == ["", "", ""]

    rows = stored(svc, sign_in_codes)
    secret = svc.app.state.settings.secret_key
    by_member = {r.member_id: r for r in rows}
    for item in items:
        row = by_member[item["member_id"]]
        assert row.code_hash == codes.code_hash(secret, item["member_id"], item["code"])
        assert item["code"] not in row.code_hash
    everything = repr(stored(svc, sign_in_codes) + stored(svc, sign_in_code_events)
                      + stored(svc, idempotency_keys))  # fmt: skip
    assert not any(code in everything for code in shown)


async def test_a_list_with_a_member_of_another_community_issues_nothing(svc: Service) -> None:
    body = {"member_ids": ["res", "outsider"]}
    answer = await svc.client.post("/api/v1/communities/c1/sign-in-codes", json=body,
                                   headers=svc.as_("staff"))  # fmt: skip
    refused(answer, 404, "not_found")
    assert stored(svc, sign_in_codes) == []
    assert stored(svc, sign_in_code_events) == []


async def test_every_issue_use_and_refusal_is_logged_without_the_code(svc: Service) -> None:
    issued = await issue(svc, "res")
    wrong = "0" * 8 if issued["code"] != "0" * 8 else "1" * 8
    refused(await redeem(svc, sw.PHONES["res"], wrong), 401, "code_wrong")
    assert (await redeem(svc, sw.PHONES["res"], issued["code"])).status_code == 200
    db: Database = svc.app.state.db
    log = db.read(codes.events, "res")
    assert [(e.event, e.reason, e.actor, e.purpose.value) for e in log] == [
        ("issued", None, "staff", "reset"),
        ("refused", "wrong", None, "reset"),
        ("used", None, "res", "reset"),
    ]
    assert all(e.community_id == "c1" and e.at == svc.clock.now for e in log)
    assert all(e.address for e in log)


def test_a_code_is_spent_after_ten_wrong_tries() -> None:
    db = support.open_database("sqlite", service=True)
    try:
        sw.build(db)
        now = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
        lifetimes = codes.Lifetimes(activate=dt.timedelta(hours=1), reset=dt.timedelta(hours=1))
        issued = db.write(codes.issue_code, "staff", "c1", "res", secret="k", lifetimes=lifetimes,
                          now=now)  # fmt: skip
        wrong = "0" * 8 if issued.code != "0" * 8 else "1" * 8
        for _ in range(codes.SPENT_AFTER):
            assert db.write(codes.redeem, issued.phone, wrong, "h", secret="k", now=now) == (
                codes.Refusal(reason="wrong")
            )
        outcome = db.write(codes.redeem, issued.phone, issued.code, "h", secret="k", now=now)
        assert outcome == codes.Refusal(reason="spent")
    finally:
        db.dispose()


def test_the_command_line_prints_codes_that_set_a_password(tmp_path: Path) -> None:
    path = tmp_path / "linli.db"
    support.copy_sqlite(support.sqlite_template(service=True), path)
    db = open_database(Settings(database_url=f"sqlite:///{path}", secret_key=sw.DEMO_SECRET))
    try:
        sw.build(db)
        runner = sw.cli(path)
        args = ["code", "issue", "--community", "c1", "--member", "res", "--member", "res2"]
        printed = runner.invoke(main, args)
        assert printed.exit_code == 0, printed.output
        lines = [line.split("\t") for line in printed.output.splitlines()]
        assert [(m, p, purpose) for m, _, p, purpose, _, _ in lines] == [
            ("res", sw.PHONES["res"], "reset"),
            ("res2", sw.PHONES["res2"], "reset"),
        ]
        code = lines[0][4]
        outcome = db.write(
            codes.redeem, sw.PHONES["res"], code, "argon2-hash", secret=sw.DEMO_SECRET,
            now=dt.datetime.now(dt.UTC),
        )  # fmt: skip
        assert isinstance(outcome, codes.Redeemed)
        assert outcome.member_id == "res"
        assert [e.actor for e in db.read(codes.events, "res")] == [mk.SYSTEM, "res"]

        refused = runner.invoke(
            main, ["code", "issue", "--community", "c1", "--member", "outsider"]
        )
        assert refused.exit_code == 1
        assert "outsider" in refused.output
        wrong = runner.invoke(
            main, ["code", "issue", "--community", "c1", "--member", "res", "--purpose", "activate"]
        )
        assert wrong.exit_code == 1
        assert "已设置密码，请发放重置码" in wrong.output
    finally:
        db.dispose()


async def test_a_deleted_account_keeps_no_code_and_its_log_no_address(svc: Service) -> None:
    issued = await issue(svc, "res")
    gone = await svc.client.post("/api/v1/me/deletion", headers=svc.as_("res"))
    assert gone.status_code == 200, gone.text
    refused(await redeem(svc, sw.PHONES["res"], issued["code"]), 401, "code_wrong")
    assert stored(svc, sign_in_codes) == []
    db: Database = svc.app.state.db
    log = db.read(codes.events, "res")
    assert [(e.event, e.actor, e.address) for e in log] == [("issued", "staff", None)]


async def test_a_member_without_a_usable_phone_gets_no_code(svc: Service) -> None:
    db: Database = svc.app.state.db
    db.write(
        lambda tx: [
            mk.register(tx, "staff", "g1", name="无手机", role=mk.Role.RESIDENT, id="nophone"),
            mk.register(tx, "staff", "g1", name="同号", role=mk.Role.RESIDENT, id="samephone",
                        phone=sw.PHONES["res"]),
        ]
    )  # fmt: skip
    staff = svc.as_("staff")
    body = refused(await svc.client.post(issue_path("nophone"), json={}, headers=staff),
                   422, "no_phone")  # fmt: skip
    assert body["detail"] == "无手机没有登记手机号，无法发放验证码"
    body = refused(await svc.client.post(issue_path("samephone"), json={}, headers=staff),
                   409, "conflict")  # fmt: skip
    assert body["detail"] == "同号的手机号已被其他成员用于登录"
    assert stored(svc, sign_in_codes) == []


async def test_a_staff_members_code_needs_an_admin_not_a_peer(svc: Service) -> None:
    db: Database = svc.app.state.db
    db.write(lambda tx: mk.grant_role(tx, mk.SYSTEM, "vol2", "c1", mk.Role.STAFF))
    peer = await svc.client.post(issue_path("vol2"), json={}, headers=svc.as_("staff"))
    refused(peer, 403, "not_allowed")
    many = {"member_ids": ["res", "vol2"]}
    refused(await svc.client.post("/api/v1/communities/c1/sign-in-codes", json=many,
                                  headers=svc.as_("staff")), 403, "not_allowed")  # fmt: skip
    assert stored(svc, sign_in_codes) == []
    assert (await issue(svc, "vol2", by="admin"))["member_id"] == "vol2"
