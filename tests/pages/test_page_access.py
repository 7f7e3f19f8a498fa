"""Who may open which page: every GET page × every role, compared as a whole with the table
below (a failing diff names the cell), and the security headers of every answer.

Roles, in their own seat: resident (res, on grid g1), volunteer (vol1, c1), party member (party,
of unit u1 paired with c1), grid worker (grid, g1), unit admin (uadmin, u1), staff (staff, c1),
street staff (staff of street s1, above c1), admin (district d1), and a signed-out visitor.

Cells: ``200`` the page; ``403`` the Chinese 403 page (the roles may not open it, as the
library's tables say: :mod:`service.pages.access`); ``404`` the library hides the object;
``in`` a redirect to the sign-in page; ``me`` a redirect to 我的 asking to switch to a
community's seat (a street or district seat works across communities); ``→`` a redirect to the
seat's first page (``/``).
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import httpx

import marketplace as mk
import points
import service
import service_world as sw
from pages_world import Site
from service import auth
from service.pages import ROUTES
from service.pages.access import PAGES

ROLES = {
    "res": "res",
    "vol": "vol1",
    "party": "party",
    "grid": "grid",
    "unit": "uadmin",
    "staff": "staff",
    "street": "street",
    "admin": "admin",
    "out": None,
}
# fmt: off
TABLE = """
path                           res   vol   party grid  unit  staff street admin out
/                              →     →     →     →     →     →     →      →     in
/me                            200   200   200   200   200   200   200    200   in
/me/record                     200   200   200   200   200   200   200    200   in
/certificates/{certificate}    404   200   404   404   404   200   200    200   in
/wishes/{wish}                 200   200   200   200   200   200   me     me    in
/wishes/new                    200   200   200   200   200   200   me     me    in
/wishes/mine                   200   200   200   200   200   200   me     me    in
/offers                        200   200   200   200   200   200   me     me    in
/offers/{offer}/request        200   200   200   200   200   200   me     me    in
/volunteer                     403   200   200   403   403   403   403    403   in
/claims                        403   200   200   403   403   403   403    403   in
/wishes                        403   200   200   403   200   200   me     me    in
/unit                          403   403   403   403   200   403   403    403   in
/unit/report                   403   403   403   403   200   403   403    403   in
/unit/report.xlsx              403   403   403   403   200   403   403    403   in
/points                        200   200   200   200   200   200   me     me    in
/points/transfers/{transfer}   404   200   404   404   404   200   me     me    in
/points/donate                 200   200   200   200   200   200   me     me    in
/store                         200   200   200   200   200   200   me     me    in
/orders                        200   200   200   200   200   200   me     me    in
/staff                         403   403   403   403   403   200   me     me    in
/staff/verify                  403   403   403   403   403   200   me     me    in
/staff/disputes                403   403   403   403   403   200   me     me    in
/wishes/{wish}/dispatch        403   403   403   403   403   200   me     me    in
/staff/escalations             403   403   403   403   403   200   200    200   in
/proxy                         403   403   403   200   403   200   me     me    in
/staff/events                  403   403   403   403   403   200   me     me    in
/staff/policy                  403   403   403   403   403   200   me     me    in
/staff/members                 403   403   403   403   403   200   me     me    in
/staff/members/{member}        403   403   403   403   403   200   me     me    in
/staff/import                  403   403   403   403   403   200   me     me    in
/staff/import/template.xlsx    403   403   403   403   403   200   200    200   in
/staff/import/{import}         403   403   403   403   403   200   me     me    in
/staff/import/{import}/problems.xlsx 403 403 403 403   403   200   me     me    in
/staff/import/{import}/progress 403  403   403   403   403   286   me     me    in
/staff/store                   403   403   403   403   403   200   me     me    in
/staff/orders                  403   403   403   403   403   200   me     me    in
/dashboard                     403   403   403   403   403   200   200    200   in
/staff/matters                 403   403   403   403   200   200   200    200   in
/matters/{community}/{matter}  404   404   404   404   404   200   200    200   in
/staff/evaluation              403   403   403   403   403   200   200    200   in
/staff/evaluation.xlsx         403   403   403   403   403   200   200    200   in
/staff/evaluation.pdf          403   403   403   403   403   200   200    200   in
/hours                         200   200   200   200   200   200   me     me    in
/corrections/new               404   404   404   404   404   404   me     me    in
/corrections/{correction}      404   200   404   404   404   200   me     me    in
/staff/corrections             403   403   403   403   403   200   me     me    in
/staff/duty                    403   403   403   200   403   200   me     me    in
/staff/units                   403   403   403   403   403   200   200    200   in
/staff/partners                403   403   403   403   403   403   403    200   in
/staff/exports                 403   403   403   403   403   200   200    200   in
/staff/exports/file            403   403   403   403   403   422   422    422   in
/staff/certificates            403   403   403   403   403   200   me     me    in
/messages                      200   200   200   200   200   200   200    200   in
/messages/count                200   200   200   200   200   200   200    200   in
/staff/notices                 403   403   403   403   403   200   me     me    in
/login                         200   200   200   200   200   200   200    200   200
/login/code                    200   200   200   200   200   200   200    200   200
/board                         200   200   200   200   200   200   200    200   200
/board/{community}             200   200   200   200   200   200   200    200   200
/verify/{certificate}          200   200   200   200   200   200   200    200   200
/offline                       200   200   200   200   200   200   200    200   200
/sw.js                         200   200   200   200   200   200   200    200   200
/manifest.webmanifest          200   200   200   200   200   200   200    200   200
"""
# fmt: on
PLACEHOLDER = {
    "{wish_id}": "{wish}",
    "{offer_id}": "{offer}",
    "{transfer_id}": "{transfer}",
    "{community_id}": "{community}",
    "{matter_id}": "{matter}",
    "{import_id}": "{import}",
    "{member_id}": "{member}",
    "{correction_id}": "{correction}",
    "{number}": "{certificate}",
}
BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


def _expected() -> dict[str, dict[str, str]]:
    lines = [line.split() for line in TABLE.strip().splitlines()]
    header, rows = lines[0][1:], lines[1:]
    return {row[0]: dict(zip(header, row[1:], strict=True)) for row in rows}


def _cell(answer: httpx.Response) -> str:
    if answer.status_code != 303:
        return str(answer.status_code)
    location = answer.headers["location"]
    if location.startswith("/login"):
        return "in"
    return "me" if location == "/me" else "→"


def _get_pages() -> set[str]:
    """Every GET page the pages mount, as the table names it."""
    found = set()
    for route in (r for router in ROUTES for r in router.routes):
        if "GET" in getattr(route, "methods", ()):
            path = route.path_format  # as routed: /wishes/{wish_id}
            for routed, placeholder in PLACEHOLDER.items():
                path = path.replace(routed, placeholder)
            found.add(path)
    return found


def _stage(site: Site) -> dict[str, str]:
    """A published wish of res, an offer of vol1, an adjustment for vol1, and a street's staff."""
    now = site.svc.clock.now
    start = now + dt.timedelta(days=1)
    with site.svc.app.state.db.transaction() as tx:
        mk.add_member(tx, id="street", name="街道工作人员", now=now)
        mk.grant_role(tx, mk.SYSTEM, "street", "s1", mk.Role.STAFF, now=now)
        auth.set_credentials(tx, "street", "13800000001", sw.password_hash())
        wish = mk.post_wish(
            tx, "res", community_id="c1", kind=mk.WishKind.SERVICE, category="助老陪护",
            title="陪我去医院复诊", description="", org_id="g1", address="幸福路1号3栋502室",
            window_start=start, window_end=start + dt.timedelta(hours=2),
            estimated_minutes=60, now=now,
        )  # fmt: skip
        mk.verify(tx, "staff", "c1", wish.id, now=now)
        offer = mk.publish_offer(
            tx, "vol1", "c1", category="助老陪护", title="周末陪诊", schedule="周六上午", now=now
        )
        transfer = mk.wallet.adjust(tx, "staff", "c1", "vol1", 10, reason="补录", now=now)
        monday = dt.datetime(2026, 12, 7, 2, tzinfo=dt.UTC)  # a day the calendar package covers
        matter = mk.matters.blow_whistle(
            tx, "staff", "c1", wish.id, reason="需街道协调", now=monday
        )
        roster = "姓名,手机号\n张三,123\n".encode()  # a row with a problem: its list downloads
        kept = mk.uploads.stage(tx, "staff", "c1", "花名册.csv", roster, now=now)
        points.record_service(
            tx, community_id="c1", member_id="vol1", category="助老陪护", minutes=60,
            served_on=now.date(), reference="event:e1:vol1", actor="staff", now=now,
        )  # fmt: skip
        fix = mk.request_correction(
            tx, "vol1", "c1", reference="event:e1:vol1", field="minutes", proposed="90",
            reason="少记了", now=now,
        )  # fmt: skip
        points.record_service(
            tx, community_id="c1", member_id="vol1", category="助老陪护", minutes=60,
            served_on=now.date(), reference="event:access", actor="staff", now=now,
        )  # fmt: skip
        certificate = mk.certificates.issue(tx, "vol1", "c1", "vol1", now=now)
    return {
        "{matter}": matter.id,
        "{correction}": fix.id,
        "{wish}": wish.id,
        "{offer}": offer.id,
        "{transfer}": transfer.id,
        "{community}": "c1",
        "{import}": kept.id,
        "{member}": "res",
        "{certificate}": certificate.number,
    }


async def _visit(site: Site, ids: dict[str, str]) -> dict[str, dict[str, httpx.Response]]:
    answers: dict[str, dict[str, httpx.Response]] = {}
    for role, member in ROLES.items():
        client = site.browser() if member is None else (await site.person(member)).client
        for page in _expected():
            path = page
            for placeholder, value in ids.items():
                path = path.replace(placeholder, value)
            answers.setdefault(page, {})[role] = await client.get(path, headers=BROWSER)
    return answers


def _table(cells: dict[str, dict[str, str]]) -> str:
    header = ["path", *ROLES]
    rows = [header, *([page, *(cells[page][r] for r in ROLES)] for page in cells)]
    return "\n".join(
        " ".join(f"{c:<6}" if n else f"{c:<30}" for n, c in enumerate(row)) for row in rows
    )


async def test_every_page_opens_for_the_roles_the_library_lets_use_it(site: Site) -> None:
    """The whole matrix at once; a 403 is the Chinese page naming who may open it."""
    answers = await _visit(site, _stage(site))
    got = {page: {role: _cell(a) for role, a in row.items()} for page, row in answers.items()}
    assert _table(got) == _table(_expected()), "\n" + _table(got)
    refused = answers["/staff/verify"]["vol"]
    assert '<html lang="zh-CN">' in refused.text
    assert "<h1>无权访问</h1>" in refused.text
    assert "仅对社区工作人员、管理员开放" in refused.text
    assert "陪我去医院复诊" not in refused.text  # nothing of the queue
    policy = answers["/staff/policy"]["res"]
    assert 'action="/staff/policy"' not in policy.text  # no publish form either


def test_the_table_names_every_get_page_the_pages_mount() -> None:
    """A page added without a row fails here (and opens for nobody until it has one)."""
    routed = _get_pages()
    assert routed == set(_expected())
    named = set(PAGES)
    for routed_path, placeholder in PLACEHOLDER.items():
        named = {p.replace(routed_path, placeholder) for p in named}
    public = {
        "/login",
        "/login/code",
        "/board",
        "/board/{community}",
        "/verify/{certificate}",
        "/offline",
        "/sw.js",
        "/manifest.webmanifest",
    }
    assert named == routed - public


STRICT_REFERRERS = {"no-referrer", "same-origin", "strict-origin"}


def _check_headers(answer: httpx.Response) -> None:
    csp = answer.headers.get("content-security-policy", "")
    directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
    script = directives.get("script-src", directives.get("default-src"))
    assert script is not None, csp
    assert "'unsafe-inline'" not in script, csp
    assert "'unsafe-eval'" not in script, csp
    assert directives.get("frame-ancestors") == ["'none'"], csp
    assert directives.get("object-src") == ["'none'"], csp
    assert answer.headers.get("x-content-type-options") == "nosniff"
    assert answer.headers.get("x-frame-options") == "DENY"
    assert answer.headers.get("referrer-policy") in STRICT_REFERRERS


async def test_every_page_answer_carries_the_security_headers(site: Site) -> None:
    """Every cell of the matrix (pages, 403 pages, redirects), the 404 page, and no inline
    script in any page (the policy would block it: the page must not need it)."""
    answers = await _visit(site, _stage(site))
    seen = [a for row in answers.values() for a in row.values()]
    visitor = site.browser()
    seen.append(await visitor.get("/no/such/page", headers=BROWSER))
    for answer in seen:
        _check_headers(answer)
        if answer.text.lstrip().lower().startswith("<!doctype html>"):  # a browser shows it
            assert answer.headers["content-type"].startswith("text/html"), str(answer.url)
        if answer.headers.get("content-type", "").startswith("text/html"):
            scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", answer.text, re.S)
            for attributes, body in scripts:
                inline = "src=" not in attributes and 'type="application/json"' not in attributes
                assert not (inline and body.strip()), (str(answer.url), body[:200])
            assert not re.search(r"\son[a-z]+\s*=", answer.text), str(answer.url)


async def test_a_browser_asking_for_an_unknown_page_gets_the_chinese_404_page(
    site: Site,
) -> None:
    visitor = site.browser()
    page = await visitor.get("/no/such/page", headers=BROWSER)
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert '<html lang="zh-CN">' in page.text
    assert "<h1>页面不存在</h1>" in page.text
    boosted = await visitor.get("/no/such/page", headers={"HX-Request": "true"})
    assert (boosted.status_code, "<h1>页面不存在</h1>" in boosted.text) == (404, True)
    signed_in = (await site.person("res")).client
    assert "<h1>页面不存在</h1>" in (await signed_in.get("/wishez", headers=BROWSER)).text
    # a form's address opened again in the address bar: a page, not a problem document
    again = await signed_in.get("/staff/policy/none", headers=BROWSER)
    assert again.status_code == 404
    refresh = await signed_in.get("/staff/members/grant", headers=BROWSER)
    assert refresh.status_code == 405
    assert "这个网址不能直接打开" in refresh.text


async def test_api_clients_keep_their_problem_documents(site: Site) -> None:
    client = site.browser()
    for path, headers in (
        ("/no/such/page", {}),  # httpx's Accept: */* is a program's
        ("/no/such/page", {"Accept": "application/json"}),
        ("/api/v1/nowhere", BROWSER),  # under the API, even a browser gets the document
        ("/static/nothing.css", BROWSER),
    ):
        answer = await client.get(path, headers=headers)
        assert answer.status_code == 404, path
        assert answer.headers["content-type"].startswith("application/problem+json"), path
        assert answer.json()["code"] == "no_route"
    refused = await client.get("/api/v1/communities/c1/wishes", headers=BROWSER)
    assert refused.headers["content-type"].startswith("application/problem+json")


def _repeated_ids(page: str) -> list[str]:
    ids = re.findall(r'\sid="([^"]+)"', page)
    return sorted({i for i in ids if ids.count(i) > 1})


async def test_no_page_repeats_an_element_id(site: Site) -> None:
    """A label names one input: every page of the matrix, and the wish the office may reject or
    cancel (two forms asking a reason), before and after a refused reason."""
    ids = _stage(site)
    answers = await _visit(site, ids)
    for page, row in answers.items():
        for role, answer in row.items():
            assert _repeated_ids(answer.text) == [], (page, role)
    with site.svc.app.state.db.transaction() as tx:
        start = site.svc.clock.now + dt.timedelta(days=1)
        submitted = mk.post_wish(
            tx, "res", community_id="c1", kind=mk.WishKind.SERVICE, category="助老陪护",
            title="换灯泡", description="", org_id="g1", address="幸福路1号3栋502室",
            window_start=start, window_end=start + dt.timedelta(hours=1),
            estimated_minutes=30, now=site.svc.clock.now,
        )  # fmt: skip
    staff = await site.person("staff")
    page = await staff.get(f"/wishes/{submitted.id}")
    assert page.text.count('name="reason"') >= 2
    assert _repeated_ids(page.text) == []
    refused = await staff.post(f"/wishes/{submitted.id}/reject", {"reason": ""})
    assert refused.status_code == 422
    assert _repeated_ids(refused.text) == []
    assert '<a href="#f-reason">' in refused.text
    assert '<textarea id="f-reason" name="reason"' in refused.text


def test_no_template_styles_an_element_inline() -> None:
    """The pages' Content-Security-Policy (``style-src 'self'``) makes browsers ignore a
    ``style`` attribute, so a rule written there never shows: the 对接平台 key, 43 characters
    drawn 2.2rem wide and letter-spaced, ran 800 px past a phone's screen. Styles go in
    linli.css."""
    templates = Path(service.__file__).with_name("templates")
    styled = [
        f"{page.name}:{n}"
        for page in sorted(templates.glob("*.html"))
        for n, line in enumerate(page.read_text("utf-8").splitlines(), 1)
        if re.search(r"\sstyle=", line)
    ]
    assert styled == []
