"""The web pages, in-process over SQLite: each renders for its people, signed-out visitors go to
the sign-in page, bad input shows the Chinese reason next to the field and stores nothing, CSRF
is required, no page loads anything from another site, and every handler states its policy."""

from __future__ import annotations

import datetime as dt
import re
from html import unescape
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

import marketplace as mk
import service_world as sw
from marketplace.schema import wishes
from pages_world import Person, Site, code_of, field_error, flash
from service.app import create_app
from service.pages import (
    board,
    dashboard,
    messages,
    office,
    offline,
    points,
    resident,
    session,
    staff,
    stock,
    volunteer,
    wish,
)
from service.pages.common import CST, PAGE

MODULES = (
    board, dashboard, messages, office, offline, points, resident, session, staff, stock,
    volunteer, wish,
)  # fmt: skip
PUBLIC_PAGES = ("/login", "/board", "/sw.js", "/manifest.webmanifest", "/offline")

TOMORROW = "2099-01-01"


def _wish_form(now: dt.datetime, **overrides: str) -> dict[str, str]:
    day = (now.astimezone(CST) + dt.timedelta(days=1)).date().isoformat()
    return {
        "category": "助老陪护",
        "title": "陪我去医院复诊",
        "date": day,
        "window_start": "09:00",
        "window_end": "11:00",
        "address": "幸福路1号3栋502室",
        "capacity": "1",
        **overrides,
    }


def _count_wishes(site: Site) -> int:
    with site.svc.app.state.db.snapshot() as conn:
        return int(conn.scalar(sa.select(sa.func.count()).select_from(wishes)) or 0)


def _claim_id(page: httpx.Response) -> str:
    found = re.search(r'action="/claims/([^/"]+)/check-(?:in|out)"', page.text)
    assert found, "no check-in or check-out form"
    return found.group(1)


def _ids(page: httpx.Response, pattern: str) -> list[str]:
    return re.findall(pattern, page.text)


async def _post_wish(site: Site, resident: Person) -> str:
    posted = await resident.post("/wishes/new", _wish_form(site.svc.clock.now), confirmed=False)
    assert posted.status_code == 303, posted.text
    return posted.headers["location"].rsplit("/", 1)[-1]


# --- the story, page by page -------------------------------------------------------------


async def test_the_whole_story_through_the_pages(site: Site) -> None:
    resident, staff, volunteer = [
        await site.person(p, sign_in=True) for p in ("res", "staff", "vol1")
    ]
    wish_id = await _post_wish(site, resident)
    mine = await resident.get(f"/wishes/{wish_id}")
    assert "心愿已提交，等待社区审核" in flash(mine)
    code = code_of(mine)
    assert "待审核" in mine.text

    queue = await staff.get("/staff/verify")
    assert "陪我去医院复诊" in queue.text
    verified = await staff.post(f"/wishes/{wish_id}/verify")
    assert verified.status_code == 303

    recommended = await volunteer.get("/volunteer")
    assert f"/wishes/{wish_id}" in recommended.text
    before = await volunteer.get(f"/wishes/{wish_id}")
    assert "幸福路1号3栋" in before.text
    assert "502室" not in before.text
    assert 'data-testid="confirmation-code"' not in before.text  # heard at the door
    claimed = await volunteer.post(f"/wishes/{wish_id}/claim")
    assert claimed.status_code == 303
    during = await volunteer.get(f"/wishes/{wish_id}")
    assert "认领成功" in flash(during)
    assert "幸福路1号3栋502室" in during.text  # serving: the full address
    claim_id = _claim_id(during)

    start = dt.datetime.fromisoformat(f"{_wish_form(site.svc.clock.now)['date']}T09:00+08:00")
    site.svc.clock.now = start.astimezone(dt.UTC)
    wrong = "000000" if code != "000000" else "111111"
    refused = await volunteer.post(f"/claims/{claim_id}/check-in", {"code": wrong})
    assert refused.status_code == 409
    assert "确认码不正确" in refused.text
    checked_in = await volunteer.post(f"/claims/{claim_id}/check-in", {"code": code})
    assert checked_in.status_code == 303
    site.svc.clock.advance(minutes=90)
    checked_out = await volunteer.post(f"/claims/{claim_id}/check-out")
    assert checked_out.status_code == 303
    assert "90 分钟" in flash(await volunteer.get(f"/wishes/{wish_id}"))

    rated = await resident.post(f"/wishes/{wish_id}/confirm", {"rating": "5", "comment": "谢谢"})
    assert rated.status_code == 303
    closed = await resident.get(f"/wishes/{wish_id}")
    assert "已办结" in closed.text
    assert "★★★★★" in closed.text

    wallet = await volunteer.get("/points")
    assert re.search(r'data-testid="available">15<', wallet.text)
    transfer = _ids(wallet, r'href="/points/transfers/([^"]+)"')[0]
    breakdown = await volunteer.get(f"/points/transfers/{transfer}")
    assert "积分是怎么算的" in breakdown.text

    added = await staff.post(
        "/staff/store/items", {"name": "大米 5kg", "cost": "10", "stock": "3", "kind": "goods"}
    )
    assert added.status_code == 303
    store = await volunteer.get("/store")
    item_id = _ids(store, r'action="/store/([^/"]+)/redeem"')[0]
    redeemed = await volunteer.post(f"/store/{item_id}/redeem", {"quantity": "1"})
    assert (redeemed.status_code, redeemed.headers["location"]) == (303, "/orders")
    orders = await volunteer.get("/orders")
    assert "兑换成功" in flash(orders)
    assert "待领取" in orders.text

    office = await staff.get("/staff/orders")
    order_id = _ids(office, r'action="/orders/([^/"]+)/fulfil"')[0]
    fulfilled = await staff.post(f"/orders/{order_id}/fulfil")
    assert fulfilled.status_code == 303
    assert "已领取" in (await volunteer.get("/orders")).text

    board = await staff.get("/dashboard?period=30")
    assert re.search(r'data-testid="completed">1<', board.text)
    assert 'id="chart-data"' in board.text
    local = site.svc.clock.now.astimezone(CST)
    quarter = f"{local.year}-Q{(local.month - 1) // 3 + 1}"
    for calendar in (f"{local.year}-{local.month:02d}", quarter, f"{local.year}"):
        board = await staff.get(f"/dashboard?period={calendar}")
        assert re.search(r'data-testid="completed">1<', board.text), calendar
        assert f'<option value="{calendar}" selected>' in board.text
    earlier = await staff.get(f"/dashboard?period={local.year - 1}-Q1")
    assert re.search(r'data-testid="completed">0<', earlier.text)


async def test_a_dashboard_view_costs_a_few_statements_whatever_the_period(site: Site) -> None:
    """The statistics, 三率 and the lines over time from the day rollups: one view sends about
    a dozen statements (it called the statistics up to 13 times, each a scan, before them)."""
    staff = await site.person("staff")
    db = site.svc.app.state.db
    sent: list[str] = []

    def keep(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        if not re.match(r"\s*(BEGIN|SAVEPOINT|RELEASE|COMMIT|ROLLBACK)\b", statement, re.I):
            sent.append(statement)

    counts = {}
    for period in ("7", "30", "365", "2026"):
        await staff.get(f"/dashboard?period={period}")  # warm
        for engine in {db.writer, db.reader}:
            sa.event.listen(engine, "before_cursor_execute", keep)
        try:
            board = await staff.get(f"/dashboard?period={period}")
        finally:
            for engine in {db.writer, db.reader}:
                sa.event.remove(engine, "before_cursor_execute", keep)
        assert board.status_code == 200
        counts[period], last, sent[:] = len(sent), list(sent), []
    print(f"\n[dashboard] statements per view: {counts}")
    for statement in last:
        print("   ", " ".join(statement.split())[:140])
    assert max(counts.values()) <= 12, counts  # 11 + the page access check (seat_roles)
    assert len(set(counts.values())) == 1, counts  # a year costs what a week does


@pytest.mark.parametrize("period", ["2026-13", "2026-Q5", "0", "abc", "400"])
async def test_a_badly_named_dashboard_period_is_refused_in_chinese(
    site: Site, period: str
) -> None:
    staff = await site.person("staff")
    board = await staff.get(f"/dashboard?period={period}")
    assert board.status_code == 422
    assert "统计期间须为年（2026）、季度（2026-Q3）、月（2026-11）" in board.text
    assert 'aria-invalid="true"' in board.text
    assert 'data-testid="posted"' not in board.text


# --- every page renders for its people ---------------------------------------------------

PAGES = {
    "res": ["/", "/wishes/mine", "/wishes/new", "/offers", "/me", "/store", "/points"],
    "vol1": ["/volunteer", "/wishes", "/wishes?state=all&q=医院", "/claims", "/points", "/store",
             "/orders", "/points/donate", "/offers", "/me"],
    "staff": ["/staff", "/staff/verify", "/staff/disputes", "/staff/escalations", "/proxy",
              "/proxy?q=res", "/staff/orders", "/staff/store", "/staff/events", "/staff/policy",
              "/staff/members", "/dashboard", "/dashboard?period=365", "/wishes", "/me"],
    "grid": ["/proxy", "/proxy?q=res", "/wishes/mine", "/me"],
    "uadmin": ["/unit", "/wishes", "/me"],
    "admin": ["/dashboard", "/staff/escalations", "/me"],
}  # fmt: skip


async def test_a_form_passes_the_csrf_check_by_its_field_beside_a_stale_header(
    site: Site,
) -> None:
    """A boosted form sends the header drawn with the first page and the field drawn with the
    form: either one that matches this session's token will do; neither, and it is refused."""
    resident = await site.person("res")
    client = resident.client
    form = {**_wish_form(site.svc.clock.now), "_csrf_token": resident.csrf}
    stale = {"X-CSRFToken": "stale.0000"}
    posted = await client.post("/wishes/new", data=form, headers=stale)
    assert posted.status_code == 303, posted.text
    forged = await client.post("/wishes/new", data={**form, "_csrf_token": "x.1"}, headers=stale)
    assert forged.status_code == 403
    assert _count_wishes(site) == 1


@pytest.mark.parametrize("person", sorted(PAGES))
async def test_every_page_renders_for_its_people(site: Site, person: str) -> None:
    resident = await site.person("res")
    wish_id = await _post_wish(site, resident)
    who = await site.person(person)
    paths = [*PAGES[person], f"/wishes/{wish_id}"] if person in ("res", "staff") else PAGES[person]
    for path in paths:
        page = await who.get(path, follow_redirects=True)
        assert page.status_code == 200, (path, page.text[:2000])
        assert '<html lang="zh-CN">' in page.text
        assert re.search(r"[\u4e00-\u9fff]", page.text)


async def test_the_public_board_needs_no_sign_in(site: Site) -> None:
    visitor = site.browser()
    index = await visitor.get("/board")
    assert index.status_code == 200
    assert "/board/c1" in index.text
    board = await visitor.get("/board/c1")
    assert board.status_code == 200
    assert "光荣榜" in board.text
    assert (await visitor.get("/board/nowhere")).status_code == 404


async def test_signed_out_visitors_are_sent_to_the_sign_in_page(site: Site) -> None:
    visitor = site.browser()
    for path in ("/", "/wishes/mine", "/staff/verify", "/dashboard", "/points"):
        answer = await visitor.get(path)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/login?next=")
    api = await visitor.get("/api/v1/me")
    assert api.status_code == 401  # the API still answers with a problem
    assert api.headers["content-type"].startswith("application/problem+json")


async def test_sign_in_with_a_wrong_password_says_so_next_to_the_field(site: Site) -> None:
    client = site.browser()
    await client.get("/login")
    token = client.cookies.get("linli_csrf") or ""
    wrong = await client.post(
        "/login", data={"phone": sw.PHONES["res"], "password": "nope", "_csrf_token": token}
    )
    assert wrong.status_code == 401
    assert field_error(wrong, "password") == "手机号或密码不正确"
    bad_phone = await client.post(
        "/login", data={"phone": "123", "password": "x", "_csrf_token": token}
    )
    assert (bad_phone.status_code, field_error(bad_phone, "phone")) == (422, "格式不正确")
    assert "linli_token" not in client.cookies


async def test_sign_out_ends_the_session(site: Site) -> None:
    resident = await site.person("res")
    out = await resident.post("/logout", confirmed=False)
    assert (out.status_code, out.headers["location"]) == (303, "/login")
    assert (await resident.get("/wishes/mine")).status_code == 303


# --- bad input: the reason next to the field, nothing stored ----------------------------


@pytest.mark.parametrize(
    ("overrides", "field", "reason"),
    [
        ({"title": ""}, "title", "必须填写"),
        ({"title": "长" * 101}, "title", "最多 100 个字"),
        ({"capacity": "0"}, "capacity", "不能小于 1"),
        ({"capacity": "两个"}, "capacity", "须为整数"),
        ({"window_end": "08:00"}, "window_end", "必须晚于开始时间"),
        ({"category": "不存在的类别"}, "category", "必须是本社区设定的类别之一"),
        ({"date": TOMORROW.replace("2099", "2000")}, "window_end", "必须晚于当前时间"),
        ({"estimated_minutes": "0"}, "estimated_minutes", "不能小于 1"),  # under 更多选项
    ],
)
async def test_a_bad_wish_form_shows_the_reason_next_to_the_field_and_stores_nothing(
    site: Site, overrides: dict[str, str], field: str, reason: str
) -> None:
    resident = await site.person("res")
    before = _count_wishes(site)
    answer = await resident.post(
        "/wishes/new", _wish_form(site.svc.clock.now, **overrides), confirmed=False
    )
    assert answer.status_code == 422, answer.text[:500]
    assert field_error(answer, field) == reason
    assert 'aria-invalid="true"' in answer.text
    more_open = '<details class="more" open><summary>更多选项' in answer.text
    assert more_open == (field == "estimated_minutes")  # the folded options open on their errors
    assert _count_wishes(site) == before
    if field != "title":  # what was typed is kept
        assert "陪我去医院复诊" in answer.text


async def test_a_refused_check_in_changes_nothing(site: Site) -> None:
    resident, staff, volunteer = [await site.person(p) for p in ("res", "staff", "vol1")]
    wish_id = await _post_wish(site, resident)
    await staff.post(f"/wishes/{wish_id}/verify")
    await volunteer.post(f"/wishes/{wish_id}/claim")
    claim_id = _claim_id(await volunteer.get(f"/wishes/{wish_id}"))
    bad = await volunteer.post(f"/claims/{claim_id}/check-in", {"code": "12ab"})
    assert (bad.status_code, field_error(bad, "code")) == (422, "格式不正确")
    with site.svc.app.state.db.snapshot() as conn:
        claim = mk.load_claim(conn, "c1", claim_id)
    assert claim.state is mk.ClaimState.ACTIVE


async def test_checking_in_too_early_says_why_on_the_wish_page(site: Site) -> None:
    """The library's reason names no field of the form (the time): it is the form's own reason,
    said at the top and beside the 报到 button, at the wish page's own address."""
    resident, staff, volunteer = [await site.person(p) for p in ("res", "staff", "vol1")]
    wish_id = await _post_wish(site, resident)
    await staff.post(f"/wishes/{wish_id}/verify")
    await volunteer.post(f"/wishes/{wish_id}/claim")
    claim_id = _claim_id(await volunteer.get(f"/wishes/{wish_id}"))
    code = code_of(await resident.get(f"/wishes/{wish_id}"))
    early = await volunteer.post(f"/claims/{claim_id}/check-in", {"code": code})
    assert early.status_code == 422
    assert flash(early) == "报到最早在约定时间前2小时开始"
    assert field_error(early, "_form") == "报到最早在约定时间前2小时开始"  # beside the button
    assert early.headers["hx-replace-url"] == f"/wishes/{wish_id}"
    again = await volunteer.get(early.headers["hx-replace-url"])
    assert again.status_code == 200
    assert "我的认领" in again.text


def _key(page: httpx.Response, action: str) -> str:
    """The idempotency key drawn with the form that posts to ``action``."""
    form = page.text[page.text.index(f'action="{action}"') :]
    found = re.search(r'name="_idem" value="([^"]+)"', form[: form.index("</form>")])
    assert found, f"no idempotency key in the form of {action}"
    return found.group(1)


async def _earn(site: Site, staff: Person, member: str, minutes: int) -> None:
    day = (site.svc.clock.now.astimezone(CST) - dt.timedelta(days=1)).date().isoformat()
    form = {"event_id": f"e-{member}-{minutes}", "title": "社区清扫", "category": "助老陪护",
            "date": day, "time": "09:00", f"minutes:{member}": str(minutes)}  # fmt: skip
    assert (await staff.post("/staff/events", form)).status_code == 303


async def test_a_form_sent_twice_makes_one_order_one_donation_one_claim(site_on: Site) -> None:
    """A double tap, a refresh or a retry sends the drawn form again with its key: the second
    answers as the first did (the same redirect, the same message) and changes nothing."""
    site = site_on
    resident, staff, volunteer = [await site.person(p) for p in ("res", "staff", "vol1")]
    await _earn(site, staff, "vol1", 450)  # 75 points
    await staff.post("/staff/store/items", {"name": "大米", "cost": "10", "stock": "9"})
    store = await volunteer.get("/store")
    item_id = _ids(store, r'action="/store/([^/"]+)/redeem"')[0]
    redeem = {"quantity": "1", "_idem": _key(store, f"/store/{item_id}/redeem")}
    first = await volunteer.post(f"/store/{item_id}/redeem", redeem)
    again = await volunteer.post(f"/store/{item_id}/redeem", redeem)
    assert (first.status_code, again.status_code) == (303, 303)
    assert again.headers["location"] == first.headers["location"] == "/orders"
    assert again.headers["idempotent-replayed"] == "true"
    assert "兑换成功" in flash(await volunteer.get("/orders"))

    donate_page = await volunteer.get("/points/donate")
    donation = {"amount": "5", "_idem": _key(donate_page, "/points/donate")}
    for _ in range(2):
        assert (await volunteer.post("/points/donate", donation)).status_code == 303

    wish_id = await _post_wish(site, resident)
    await staff.post(f"/wishes/{wish_id}/verify")
    wish_page = await volunteer.get(f"/wishes/{wish_id}")
    claim = {"_idem": _key(wish_page, f"/wishes/{wish_id}/claim")}
    for _ in range(2):
        answer = await volunteer.post(f"/wishes/{wish_id}/claim", claim)
        assert (answer.status_code, answer.headers["location"]) == (303, f"/wishes/{wish_id}")

    with site.svc.app.state.db.snapshot() as conn:
        orders = mk.wallet.orders(conn, "vol1", "c1", member_id="vol1").items
        wallet = mk.wallet.wallet(conn, "vol1", "c1", "vol1")
        claims = mk.member_claims(conn, "vol1", "c1").items
    assert len(orders) == 1
    assert wallet.available == 75 - 10 - 5  # one order, one donation
    assert [c.wish_id for c in claims] == [wish_id]


async def test_a_form_asked_first_without_javascript_acts_once_from_two_questions(
    site: Site,
) -> None:
    """Without JavaScript a double tap asks twice; both questions carry the form's own key, so
    answering both makes one order."""
    staff, volunteer = await site.person("staff"), await site.person("vol1")
    await _earn(site, staff, "vol1", 120)
    await staff.post("/staff/store/items", {"name": "大米", "cost": "10", "stock": "9"})
    store = await volunteer.get("/store")
    item_id = _ids(store, r'action="/store/([^/"]+)/redeem"')[0]
    form = {"quantity": "1", "_idem": _key(store, f"/store/{item_id}/redeem")}
    asked = [await volunteer.post(f"/store/{item_id}/redeem", form, confirmed=False)]
    asked.append(await volunteer.post(f"/store/{item_id}/redeem", form, confirmed=False))
    for question in asked:
        assert question.status_code == 200
        assert question.headers["hx-push-url"] == "false"
        key = _key(question, f"/store/{item_id}/redeem")
        assert key == form["_idem"]
        assert (
            await volunteer.post(f"/store/{item_id}/redeem", {**form, "_idem": key})
        ).status_code == 303
    with site.svc.app.state.db.snapshot() as conn:
        assert len(mk.wallet.orders(conn, "vol1", "c1", member_id="vol1").items) == 1


async def test_a_refused_form_answers_as_its_own_page_at_that_page_s_address(site: Site) -> None:
    """Every refused form shows the page it is on again (or the page saying why), and names
    that page's address for the browser's address bar (``HX-Replace-Url``): a refresh there is
    a Chinese page, never the form's POST address (which answers no GET)."""
    staff, volunteer = await site.person("staff"), await site.person("vol1")
    await _earn(site, staff, "vol1", 120)  # 20 points
    await staff.post("/staff/store/items", {"name": "大米", "cost": "50", "stock": "9"})
    item_id = _ids(await volunteer.get("/store"), r'action="/store/([^/"]+)/redeem"')[0]
    refusals = [
        (volunteer, "/wishes/new", {**_wish_form(site.svc.clock.now), "title": ""}, "/wishes/new"),
        (volunteer, f"/store/{item_id}/redeem", {"quantity": "1"}, "/store"),
        (volunteer, "/points/donate", {"amount": "999"}, "/points/donate"),
        (volunteer, "/orders/nothing/cancel", {}, "/orders"),
        (staff, "/staff/policy", {"points_per_hour": "-1"}, "/staff/policy"),
        (staff, "/staff/members/grant", {"member_id": "", "role": "volunteer"}, "/staff/members"),
        (staff, f"/staff/store/items/{item_id}/restock", {"change": "-100"}, "/staff/store"),
        (staff, "/orders/nothing/fulfil", {}, "/staff/orders"),
    ]
    for who, action, form, page in refusals:
        answer = await who.post(action, form)
        assert 400 <= answer.status_code < 500, (action, answer.status_code)
        assert answer.headers["hx-replace-url"] == page, action
        assert '<p class="flash error" role="alert">' in answer.text, action  # says why
        shown = await who.get(page)
        assert shown.status_code == 200, page
        assert '<html lang="zh-CN">' in shown.text
    assert (await volunteer.get("/points/donate")).status_code == 200
    with site.svc.app.state.db.snapshot() as conn:
        assert mk.wallet.wallet(conn, "vol1", "c1", "vol1").available == 20  # nothing kept


# --- asking once, CSRF ---------------------------------------------------------------------


async def test_an_action_without_javascript_asks_first_and_changes_nothing(site: Site) -> None:
    resident, staff = await site.person("res"), await site.person("staff")
    wish_id = await _post_wish(site, resident)
    asked = await staff.post(f"/wishes/{wish_id}/verify", confirmed=False)
    assert asked.status_code == 200
    assert "确定审核通过" in asked.text
    assert 'name="confirmed" value="1"' in asked.text
    with site.svc.app.state.db.snapshot() as conn:
        wish = mk.load_wish(conn, "c1", wish_id)
    assert wish.state is mk.WishState.SUBMITTED
    page = await staff.get(f"/wishes/{wish_id}")
    assert 'hx-confirm="确定审核通过、发布这个心愿吗？"' in page.text


async def test_a_form_without_the_csrf_token_is_refused(site: Site) -> None:
    resident = await site.person("res")
    before = _count_wishes(site)
    form = {**_wish_form(site.svc.clock.now), "confirmed": "1"}
    missing = await resident.client.post("/wishes/new", data=form)
    assert missing.status_code == 403
    assert "页面已过期" in missing.text
    forged = await resident.client.post("/wishes/new", data={**form, "_csrf_token": "x" * 128})
    assert forged.status_code == 403
    assert forged.headers["hx-push-url"] == "false"  # the address bar keeps the form's page
    header = await resident.client.post(
        "/wishes/new", data=form, headers={"X-CSRFToken": resident.csrf}
    )
    assert header.status_code == 303  # htmx sends it as a header
    assert _count_wishes(site) == before + 1


async def test_the_sign_in_form_needs_the_csrf_token_too(site: Site) -> None:
    client = site.browser()
    answer = await client.post("/login", data={"phone": sw.PHONES["res"], "password": sw.PASSWORD})
    assert answer.status_code == 403
    assert "linli_token" not in client.cookies


# --- privacy, seats, elder mode ----------------------------------------------------------


async def test_elder_mode_is_remembered_for_the_member(site: Site) -> None:
    resident = await site.person("res")
    assert '<body class=""' in (await resident.get("/me")).text
    on = await resident.post("/me/elder", {"on": "1", "next": "/me"}, confirmed=False)
    assert on.status_code == 303
    again = await site.person("res")  # another browser, the same member
    page = await again.get("/wishes/mine")
    assert '<body class="elder"' in page.text


async def test_grid_worker_posts_for_a_resident_with_a_consent_note(site: Site) -> None:
    grid = await site.person("grid")
    found = await grid.get("/proxy?q=res2")
    assert "res2" in found.text
    assert "/wishes/new?for=res2" in found.text
    form = {
        **_wish_form(site.svc.clock.now),
        "beneficiary_id": "res2",
        "org_id": "g1",
        "beneficiary_name": "res2",
    }
    missing = await grid.post("/wishes/new", form, confirmed=False)
    assert (missing.status_code, field_error(missing, "proxy_note")) == (
        422,
        "代点单须注明居民同意的方式",
    )
    made = await grid.post("/wishes/new", {**form, "proxy_note": "电话确认同意"}, confirmed=False)
    assert made.status_code == 303
    with site.svc.app.state.db.snapshot() as conn:
        page = mk.member_wishes(conn, "res2", "c1")
    assert [w.posted_by for w in page.items] == ["grid"]


async def test_the_public_board_names_only_members_who_opted_in(site: Site) -> None:
    with site.svc.app.state.db.transaction() as conn:
        for member, minutes in (("vol1", 120), ("vol2", 60)):
            mk.wallet.record_event(
                conn, "staff", "c1", event_id=f"e-{member}", category="助老陪护",
                title="敬老院探访", started_at=site.svc.clock.now - dt.timedelta(hours=3),
                attendance=(mk.EventHours(member_id=member, minutes=minutes),),
            )  # fmt: skip
        mk.set_public_profile(conn, "vol2", True)
    board = await site.browser().get("/board/c1")
    assert "vol2" in board.text
    assert "vol1" not in board.text
    assert "另有 1 位志愿者" in board.text


# --- no other site, every handler with a policy ------------------------------------------


async def test_no_page_loads_anything_from_another_site(site: Site) -> None:
    seen: list[str] = []
    for person, paths in PAGES.items():
        who = await site.person(person)
        for path in paths:
            seen.append((await who.get(path, follow_redirects=True)).text)
    seen += [(await site.browser().get(p)).text for p in ("/login", "/board", "/board/c1")]
    for static in ("/static/linli.css", "/static/linli-charts.js", "/static/offline.js",
                   "/static/scan.js", "/sw.js", "/manifest.webmanifest"):  # fmt: skip
        seen.append((await site.browser().get(static)).text)
    for text in seen:
        assert not re.search(r"""(?:src|href|url)\s*[=(]\s*["']?(?:https?:)?//""", text), text[:300]
        assert "http://" not in text
        assert "https://" not in text


def test_every_page_handler_states_its_own_policy(tmp_path: Path) -> None:
    handlers = [h for module in MODULES for h in module.ROUTES]
    assert len(handlers) > 40
    for handler in handlers:
        assert handler.opt.get("policy") in ("public", "member"), handler.paths
        if handler.opt["policy"] == "public":
            assert handler.opt.get("exclude_from_auth") is True
            assert all(p.startswith(PUBLIC_PAGES) for p in handler.paths), handler.paths
    app = create_app(sw.settings(f"sqlite:///{tmp_path}/pages.db"))
    mounted = {p for route in app.routes for p in [route.path] if not p.startswith("/api")}
    assert {p for h in handlers for p in h.paths} <= mounted


async def test_lists_go_page_by_page(site: Site) -> None:
    start = site.svc.clock.now + dt.timedelta(days=1)
    with site.svc.app.state.db.transaction() as conn:
        for n in range(PAGE + 1):
            mk.post_wish(
                conn, "res", community_id="c1", kind=mk.WishKind.SERVICE, category="代办跑腿",
                title=f"心愿{n:02d}", description="", org_id="g1", address="幸福路1号3栋",
                window_start=start, window_end=start + dt.timedelta(hours=1),
                estimated_minutes=30, now=site.svc.clock.now,
            )  # fmt: skip
    resident = await site.person("res")
    first = await resident.get("/wishes/mine")
    assert first.text.count('<li class="card">') == PAGE
    (more,) = re.findall(r'href="(/wishes/mine\?cursor=[^"]+)"', first.text)
    second = await resident.get(unescape(more))
    assert second.text.count('<li class="card">') == 1
    assert "心愿00" in second.text
    assert "下一页" not in second.text


# --- the office's and the unit's actions ---------------------------------------------------


async def test_staff_reject_dispatch_and_resolve_a_dispute(site: Site) -> None:
    resident, staff = await site.person("res"), await site.person("staff")
    rejected = await _post_wish(site, resident)
    empty = await staff.post(f"/wishes/{rejected}/reject", {"reason": ""})
    assert (empty.status_code, field_error(empty, "reason")) == (422, "必须填写")
    # shown: the folded 驳回 box opens, and only it says so (取消心愿 has a reason field too)
    assert '<details class="ask" open><summary>驳回' in empty.text
    assert '<details class="ask"><summary>取消心愿' in empty.text
    assert empty.text.count('id="reason-error"') == 1
    said = await staff.post(f"/wishes/{rejected}/reject", {"reason": "请补充具体时间"})
    assert said.status_code == 303
    page = await resident.get(f"/wishes/{rejected}")
    assert "已驳回" in page.text
    assert "请补充具体时间" in page.text

    wish_id = await _post_wish(site, resident)
    await staff.post(f"/wishes/{wish_id}/verify")
    ranked = await staff.get(f"/wishes/{wish_id}/dispatch")
    assert ranked.status_code == 200
    assert "派给 TA" in ranked.text
    dispatched = await staff.post(f"/wishes/{wish_id}/dispatch", {"member_id": "vol2"})
    assert dispatched.status_code == 303
    volunteer = await site.person("vol2")
    serving = await volunteer.get(f"/wishes/{wish_id}")
    claim_id = _claim_id(serving)
    code = code_of(await resident.get(f"/wishes/{wish_id}"))
    day = _wish_form(site.svc.clock.now)["date"]
    site.svc.clock.now = dt.datetime.fromisoformat(f"{day}T09:00+08:00").astimezone(dt.UTC)
    await volunteer.post(f"/claims/{claim_id}/check-in", {"code": code})
    site.svc.clock.advance(minutes=60)
    await volunteer.post(f"/claims/{claim_id}/check-out")
    disputed = await resident.post(f"/wishes/{wish_id}/dispute", {"reason": "没有来"})
    assert disputed.status_code == 303
    assert "有异议" in (await staff.get("/staff/disputes")).text
    resolved = await staff.post(
        f"/wishes/{wish_id}/resolve", {"for_volunteer": "false", "reason": "核实未到场"}
    )
    assert resolved.status_code == 303
    assert "已办结" in (await resident.get(f"/wishes/{wish_id}")).text
    assert re.search(r'data-testid="available">0<', (await volunteer.get("/points")).text)


async def test_office_runs_the_store_events_policy_and_roles(site: Site) -> None:
    staff = await site.person("staff")
    volunteer = await site.person("vol1")
    added = await staff.post("/staff/store/items", {"name": "", "cost": "0"})
    assert added.status_code == 422
    assert field_error(added, "name") == "必须填写"
    assert field_error(added, "cost") == "不能小于 1"
    await staff.post("/staff/store/items", {"name": "洗衣液", "cost": "5", "stock": "1"})
    store = await staff.get("/staff/store")
    item_id = _ids(store, r'action="/staff/store/items/([^/"]+)/restock"')[0]
    assert (
        await staff.post(f"/staff/store/items/{item_id}/restock", {"change": "4"})
    ).status_code == 303
    assert "库存 5 件" in (await staff.get("/staff/store")).text
    off = await staff.post(f"/staff/store/items/{item_id}/active", {"active": "0"})
    assert off.status_code == 303
    assert "洗衣液" not in (await volunteer.get("/store")).text

    events = await staff.get("/staff/events")
    assert 'name="minutes:vol1"' in events.text
    form = {"event_id": "e-1", "title": "敬老院探访", "category": "助老陪护",
            "date": (site.svc.clock.now.astimezone(CST) - dt.timedelta(days=1)).date().isoformat(),
            "time": "09:00", "minutes:vol1": "120", "minutes:vol2": "60"}  # fmt: skip
    bad = await staff.post("/staff/events", {**form, "minutes:vol2": "两小时"})
    assert (bad.status_code, field_error(bad, "minutes:vol2")) == (422, "须为整数")
    recorded = await staff.post("/staff/events", form)
    assert recorded.status_code == 303
    assert "已为 2 人录入时长，共发放 30 积分" in flash(await staff.get("/staff/events"))
    assert re.search(r'data-testid="available">20<', (await volunteer.get("/points")).text)

    policy = await staff.get("/staff/policy")
    assert "第 0 版" in policy.text
    refused = await staff.post("/staff/policy", {"points_per_hour": "-1"})
    assert (refused.status_code, field_error(refused, "points_per_hour")) == (422, "不能小于 0")
    saved = await staff.post("/staff/policy", {"points_per_hour": "12", "donations": "any"})
    assert saved.status_code == 303
    assert "每小时 <strong>12</strong> 积分" in (await staff.get("/staff/policy")).text

    blank = await staff.post("/staff/members/grant", {"member_id": "", "role": "volunteer"})
    assert (blank.status_code, field_error(blank, "member_id")) == (422, "必须填写")
    assert '<details class="more" open><summary>授予角色' in blank.text  # shown, not folded
    assert '<a href="#f-member_id">请修改标红的内容（1 处）：必须填写</a>' in blank.text  # on top
    assert 'id="f-member_id" name="member_id" type="text" value="" required autofocus' in blank.text
    assert '<details class="more"><summary>登记新成员' in blank.text
    granted = await staff.post("/staff/members/grant", {"member_id": "res", "role": "volunteer"})
    assert granted.status_code == 303
    with site.svc.app.state.db.snapshot() as conn:
        seats = mk.seats(conn, "res")
    assert {s.role for s in seats} == {mk.Role.RESIDENT, mk.Role.VOLUNTEER}
    revoked = await staff.post(
        "/staff/members/revoke", {"member_id": "res", "role": "volunteer", "org_id": "c1"}
    )
    assert revoked.status_code == 303
    made = await staff.post(
        "/staff/members/new",
        {"name": "新居民", "role": "resident", "phone": "13912345678", "password": "secret-123"},
    )
    assert made.status_code == 303
    assert "新居民" in (await staff.get("/staff/members")).text


async def test_a_refused_redemption_shows_the_balance_as_stored(site: Site) -> None:
    """The ledger holds the points before it counts the member's orders against the limit; the
    store page shown with the refusal is made after the rollback, so it shows the points the
    member still has, not the ones the refused attempt held for a moment."""
    staff = await site.person("staff")
    volunteer = await site.person("vol1")
    day = (site.svc.clock.now.astimezone(CST) - dt.timedelta(days=1)).date().isoformat()
    form = {"event_id": "e-limit", "title": "社区清扫", "category": "助老陪护", "date": day,
            "time": "09:00", "minutes:vol1": "120"}  # fmt: skip
    assert (await staff.post("/staff/events", form)).status_code == 303
    added = await staff.post(
        "/staff/store/items",
        {"name": "牙膏", "cost": "5", "stock": "10", "per_member_limit": "1", "kind": "goods"},
    )
    assert added.status_code == 303
    store = await volunteer.get("/store")
    before = int(re.findall(r'data-testid="available">(\d+)<', store.text)[0])
    item_id = _ids(store, r'action="/store/([^/"]+)/redeem"')[0]
    first = await volunteer.post(f"/store/{item_id}/redeem", {"quantity": "1"})
    assert first.status_code == 303
    again = await volunteer.post(f"/store/{item_id}/redeem", {"quantity": "1"})
    assert again.status_code == 409
    assert "限兑" in again.text
    shown = int(re.findall(r'data-testid="available">(\d+)<', again.text)[0])
    assert shown == before - 5  # the first order's hold only


async def test_a_unit_admin_claims_for_the_unit_and_names_a_party_member(site: Site) -> None:
    resident, staff = await site.person("res"), await site.person("staff")
    wish_id = await _post_wish(site, resident)
    await staff.post(f"/wishes/{wish_id}/verify")
    unit = await site.person("uadmin")
    assert "陪我去医院复诊" in (await unit.get("/unit")).text
    claimed = await unit.post(f"/wishes/{wish_id}/unit-claim", {"unit_id": "u1", "places": "1"})
    assert claimed.status_code == 303
    page = await unit.get(f"/wishes/{wish_id}")
    unit_claim = _ids(page, r'action="/claims/([^/"]+)/assign"')[0]
    assert '<option value="party">' in page.text
    assigned = await unit.post(f"/claims/{unit_claim}/assign", {"member_id": "party"})
    assert assigned.status_code == 303
    party = await site.person("party")
    assert "check-in" in (await party.get(f"/wishes/{wish_id}")).text


async def test_a_district_admin_views_a_community_s_wish_without_acting_on_it(site: Site) -> None:
    wish_id = await _post_wish(site, await site.person("res"))
    admin = await site.person("admin")
    page = await admin.get(f"/wishes/{wish_id}?c=c1")
    assert page.status_code == 200
    assert "督办查看" in page.text
    assert "/verify" not in page.text
    assert (await admin.get(f"/wishes/{wish_id}")).headers["location"] == "/me"


async def test_at_the_claim_limit_the_recommendations_page_says_why_it_is_empty(
    site: Site,
) -> None:
    """Holding as many open claims as the community allows, a volunteer is recommended nothing:
    the page says so and why, instead of an empty list."""
    volunteer = await site.person("vol1")
    now = site.svc.clock.now
    start = now + dt.timedelta(days=1)
    with site.svc.app.state.db.transaction() as tx:
        for n in range(4):
            wish = mk.post_wish(
                tx, "res", community_id="c1", kind=mk.WishKind.SERVICE, category="助老陪护",
                title=f"陪我散步{n}", description="", org_id="g1", address="幸福路1号",
                window_start=start, window_end=start + dt.timedelta(hours=2),
                estimated_minutes=60, now=now,
            )  # fmt: skip
            mk.verify(tx, "staff", "c1", wish.id, now=now)
            if n < 2:
                mk.claim(tx, "vol1", "c1", wish.id, now=now)
    below = await volunteer.get("/volunteer")
    assert below.status_code == 200
    assert 'data-testid="claim-limit"' not in below.text
    assert "陪我散步3" in below.text
    with site.svc.app.state.db.transaction() as tx:
        mk.claim(tx, "vol1", "c1", wish.id, now=now)  # the third: the limit
    full = await volunteer.get("/volunteer")
    assert full.status_code == 200
    assert 'data-testid="claim-limit"' in full.text
    assert "您进行中的认领已有 3 个，达到社区的上限（3 个）" in full.text
    assert "陪我散步" not in full.text
