"""发放重置码 and 用验证码设置密码 through the pages: staff see a member's code once, the member
sets a password with it and is signed in, and every older session of theirs ends; wrong codes,
mismatched passwords and too many tries are refused in Chinese next to the field."""

from __future__ import annotations

import re
from html import unescape

import httpx
import sqlalchemy as sa

import marketplace as mk
import service_world as sw
from pages_world import Site, field_error, flash
from points import Database
from service.tables import sign_in_codes

NEW_PASSWORD = "page-new-password"


def shown_code(page: httpx.Response) -> str:
    found = re.search(r'data-testid="sign-in-code">(\d{4}) (\d{4})<', page.text)
    assert found, "no sign-in code on the page"
    return found.group(1) + found.group(2)


async def redeem(site: Site, phone: str, code: str, password: str = NEW_PASSWORD,
                 again: str | None = None) -> tuple[httpx.AsyncClient, httpx.Response]:  # fmt: skip
    browser = site.browser()
    opened = await browser.get("/login/code")
    assert opened.status_code == 200
    assert "用验证码设置密码" in opened.text
    answer = await browser.post(
        "/login/code",
        data={
            "phone": phone,
            "code": code,
            "password": password,
            "password2": password if again is None else again,
            "_csrf_token": browser.cookies.get("linli_csrf") or "",
        },
    )
    return browser, answer


async def test_staff_issue_a_code_the_member_sets_a_password_and_old_sessions_end(
    site: Site,
) -> None:
    staff = await site.person("staff")
    listed = await staff.get("/staff/members")
    assert "发放重置码" in listed.text
    old = await site.person("res")
    assert (await old.get("/me")).status_code == 200

    issued = await staff.post("/staff/members/code", {"member_id": "res"})
    assert issued.status_code == 200, issued.text
    assert issued.headers["cache-control"] == "no-store"
    assert "res的重置码" in unescape(issued.text)
    assert "有效期至" in issued.text
    assert "30分钟内有效，只能使用一次" in issued.text
    code = shown_code(issued)

    browser, answer = await redeem(site, sw.PHONES["res"], f"{code[:4]} {code[4:]}")
    assert answer.status_code == 303, answer.text
    assert "linli_token" in browser.cookies
    me = await browser.get("/me")
    assert me.status_code == 200
    assert flash(me) == "密码已设置，您已登录"

    # the session from before the new password is over: back to the sign-in page
    ended = await old.get("/me")
    assert ended.status_code == 303
    assert ended.headers["location"].startswith("/login")
    # the new password signs in; the code does not work twice
    login = site.browser()
    await login.get("/login")
    signed = await login.post(
        "/login",
        data={
            "phone": sw.PHONES["res"],
            "password": NEW_PASSWORD,
            "_csrf_token": login.cookies.get("linli_csrf") or "",
        },
    )
    assert signed.status_code == 303
    _, twice = await redeem(site, sw.PHONES["res"], code)
    assert twice.status_code == 410
    assert field_error(twice, "code") == "验证码已使用过，请联系社区工作人员重新发放"


async def test_wrong_codes_and_mismatched_passwords_are_refused_next_to_the_field(
    site: Site,
) -> None:
    staff = await site.person("staff")
    code = shown_code(await staff.post("/staff/members/code", {"member_id": "res2"}))
    wrong = "00000000" if code != "00000000" else "11111111"
    _, mismatch = await redeem(site, sw.PHONES["res2"], code, again="another-password")
    assert mismatch.status_code == 422
    assert field_error(mismatch, "password2") == "两次输入的密码不一致"
    for _ in range(4):  # the mismatch was not a wrong code: five wrong codes are allowed
        _, refused = await redeem(site, sw.PHONES["res2"], wrong)
        assert refused.status_code == 401
        assert field_error(refused, "code") == "手机号或验证码不正确"
        assert f'value="{sw.PHONES["res2"]}"' in refused.text  # what was typed stays
    _, fifth = await redeem(site, sw.PHONES["res2"], wrong)
    assert fifth.status_code == 401
    _, throttled = await redeem(site, sw.PHONES["res2"], code)
    assert throttled.status_code == 429
    assert re.search(r"验证码错误次数过多，请\d+分钟后再试", throttled.text)


async def test_another_communitys_staff_cannot_issue_a_code(site: Site) -> None:
    db: Database = site.svc.app.state.db
    db.write(lambda tx: mk.grant_role(tx, mk.SYSTEM, "outsider", "c2", mk.Role.STAFF))
    other = await site.person("outsider")
    refused = await other.post("/staff/members/code", {"member_id": "res"})
    assert refused.status_code == 404
    assert "sign-in-code" not in refused.text
    volunteer = await site.person("vol1")
    assert (await volunteer.post("/staff/members/code", {"member_id": "res"})).status_code == 404
    assert db.read(lambda tx: tx.execute(sa.select(sign_in_codes)).all()) == []


async def test_a_member_with_no_password_is_given_an_activation_code(site: Site) -> None:
    db: Database = site.svc.app.state.db
    db.write(
        lambda tx: mk.register(
            tx, "staff", "g1", name="新居民", role=mk.Role.RESIDENT, phone="13800000002",
            id="newbie",
        )
    )  # fmt: skip
    staff = await site.person("staff")
    issued = await staff.post("/staff/members/code", {"member_id": "newbie"})
    assert "新居民的激活码" in unescape(issued.text)
    assert "24小时内有效" in issued.text
    browser, answer = await redeem(site, "13800000002", shown_code(issued))
    assert answer.status_code == 303, answer.text
    assert (await browser.get("/me")).status_code == 200


async def test_staff_are_offered_no_code_for_a_peer(site: Site) -> None:
    db: Database = site.svc.app.state.db
    db.write(lambda tx: mk.grant_role(tx, mk.SYSTEM, "vol2", "c1", mk.Role.STAFF))
    staff = await site.person("staff")
    listed = (await staff.get("/staff/members")).text
    offered = re.findall(
        r'action="/staff/members/code".*?name="member_id" value="([^"]+)"', listed, re.S
    )
    assert "vol2" not in offered
    assert "staff" not in offered
    assert {"res", "res2", "vol1"} <= set(offered)
    refused = await staff.post("/staff/members/code", {"member_id": "vol2"})
    assert refused.status_code == 403
    assert "sign-in-code" not in refused.text
