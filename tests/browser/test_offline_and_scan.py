"""Installable and offline, and 扫码报到, in real Chromium at a phone's size.

Offline: the volunteer opens 我的认领 (the service worker keeps the shell and the current claims'
pages), the network goes (``context.set_offline``), the claim's page still opens, 报到 is pressed
and waits on the phone (待发送), the network comes back, and the check-in arrives once, with the
phone's time, marked offline.

扫码: the resident's page shows a QR code; the test reads it in the resident's browser with the
page's own vendored decoder, turns it into a video file (a y4m made from a segno QR) that a second
Chromium uses as its camera (``--use-file-for-fake-video-capture``), and the volunteer's 扫码报到
reads it from that camera and checks in.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import segno
import sqlalchemy as sa
from playwright.sync_api import Browser, Page, Playwright, expect
from sqlalchemy.engine import Connection
from test_browser_story import REFUSED, flash, shot, sign_in

import marketplace as mk
from browser_world import CHROMIUM, COMMUNITY, LAUNCH_ARGS, Server
from marketplace.schema import claims, transitions

WIDTH, HEIGHT = 640, 480


def claimed_wish(server: Server, title: str) -> tuple[str, str]:
    """Stage a wish of 陈奶奶's, open now, verified and claimed by 张伟: (wish id, claim id)."""
    made: dict[str, str] = {}

    def work(conn: Connection) -> None:
        now = dt.datetime.now(dt.UTC)
        wish = mk.post_wish(
            conn,
            "chen",
            community_id=COMMUNITY,
            kind=mk.WishKind.SERVICE,
            category="助老陪护",
            title=title,
            description="",
            org_id="grid1",
            address="阳光路8号2栋301室",
            window_start=now,
            window_end=now + dt.timedelta(hours=2),
            estimated_minutes=60,
            now=now,
        )
        mk.verify(conn, "liu", COMMUNITY, wish.id, now=now)
        claim = mk.claim(conn, "zhang", COMMUNITY, wish.id, now=now)
        made.update(wish=wish.id, claim=claim.id)

    server.run(work)
    return made["wish"], made["claim"]


def stored_claim(server: Server, claim_id: str) -> tuple[Any, int]:
    """The claim's row and how many check-ins were recorded for it."""
    found: dict[str, Any] = {}

    def work(conn: Connection) -> None:
        found["row"] = conn.execute(sa.select(claims).where(claims.c.id == claim_id)).one()
        found["moves"] = conn.scalar(
            sa.select(sa.func.count())
            .select_from(transitions)
            .where(transitions.c.subject_id == claim_id, transitions.c.action == "check_in")
        )

    server.run(work)
    return found["row"], int(found["moves"])


def eventually(page: Page, promise: str, seconds: float = 10) -> None:
    """Wait until the page's ``promise`` (a JavaScript expression) resolves truthy."""
    deadline = time.monotonic() + seconds
    while not page.evaluate(promise):
        assert time.monotonic() < deadline, f"never true: {promise}"
        page.wait_for_timeout(100)


def worker_ready(page: Page) -> None:
    """The service worker is installed and controls the page."""
    eventually(page, "navigator.serviceWorker.getRegistration().then(r => !!(r && r.active))")
    if not page.evaluate("!!navigator.serviceWorker.controller"):
        page.reload()
    assert page.evaluate("!!navigator.serviceWorker.controller")


def test_a_check_in_pressed_offline_is_sent_once_when_the_network_returns(
    browser: Browser, server: Server
) -> None:
    refused = len(REFUSED)  # the policy refusals of this test's pages only
    wish_id, claim_id = claimed_wish(server, "离线报到：帮忙换灯泡")
    code = resident_code(sign_in(browser, server, "chen"), wish_id)
    volunteer = sign_in(browser, server, "zhang")
    volunteer.goto("/claims")
    worker_ready(volunteer)
    volunteer.goto("/claims")  # through the worker: it keeps the current claims' pages
    expect(volunteer.get_by_role("link", name="去报到").first).to_be_visible()
    kept = f"caches.open('linli-pages').then(c => c.match(location.origin + '/wishes/{wish_id}'))"
    eventually(volunteer, kept + ".then(Boolean)")

    volunteer.context.set_offline(True)
    volunteer.goto("/claims")  # 我的认领 itself opens offline
    expect(volunteer.get_by_role("link", name="离线报到：帮忙换灯泡")).to_be_visible()
    volunteer.goto(f"/wishes/{wish_id}")  # never opened directly: kept from 我的认领
    expect(volunteer.get_by_role("heading", name="离线报到：帮忙换灯泡")).to_be_visible()
    volunteer.get_by_label("居民的确认码", exact=False).fill(code)
    volunteer.get_by_role("button", name="报到", exact=True).click()
    expect(volunteer.get_by_test_id("outbox")).to_contain_text("报到 · 离线报到：帮忙换灯泡")
    expect(volunteer.locator("#outbox h2")).to_have_text("待发送（1）")
    shot(volunteer, "volunteer-offline-outbox")
    volunteer.goto("/offline-never-kept")
    expect(volunteer.get_by_role("heading", name="网络不通")).to_be_visible()
    expect(volunteer.locator("#outbox h2")).to_have_text("待发送（1）")  # on every page
    volunteer.goto(f"/wishes/{wish_id}")
    row, moves = stored_claim(server, claim_id)
    assert (row.state, moves) == ("active", 0)  # nothing left the phone

    sent = dt.datetime.now(dt.UTC)
    volunteer.context.set_offline(False)
    volunteer.evaluate("window.dispatchEvent(new Event('online'))")
    expect(volunteer.locator("p.flash", has_text="报到已发送")).to_be_visible()
    expect(volunteer.get_by_text("报到时间")).to_be_visible()
    expect(volunteer.locator("#outbox")).to_be_hidden()
    volunteer.evaluate("window.linliOutbox.flush()")  # a second try sends nothing again
    row, moves = stored_claim(server, claim_id)
    assert (row.state, row.checked_in_offline, moves) == ("checked_in", True, 1)
    assert row.checked_in_at < sent  # the phone's time, not the time it arrived

    volunteer.context.set_offline(True)  # 签退 offline too: it waits, then arrives
    volunteer.get_by_role("button", name="签退（服务完成）").click()
    expect(volunteer.get_by_test_id("outbox")).to_contain_text("签退 · 离线报到：帮忙换灯泡")
    volunteer.context.set_offline(False)
    volunteer.evaluate("window.dispatchEvent(new Event('online'))")
    expect(volunteer.locator("p.flash", has_text="签退已发送")).to_be_visible()
    expect(volunteer.locator("#outbox")).to_be_hidden()
    row, moves = stored_claim(server, claim_id)
    assert (row.state, row.checked_out_offline) == ("checked_out", True)
    assert REFUSED[refused:] == []


def test_a_check_in_that_gets_no_answer_waits_on_the_phone_and_is_sent(
    browser: Browser, server: Server
) -> None:
    """The phone thinks it is online, but the page's request never arrives (a Wi-Fi with no way
    to the service): the check-in waits in 待发送 as if offline, and is sent when it can be."""
    refused = len(REFUSED)
    wish_id, claim_id = claimed_wish(server, "断网报到：帮忙搬花盆")
    code = resident_code(sign_in(browser, server, "chen"), wish_id)
    volunteer = sign_in(browser, server, "zhang")
    # a page a worker controls sends its requests past page.route: this phone has no worker
    volunteer.evaluate("navigator.serviceWorker.getRegistrations()"
                       ".then(rs => Promise.all(rs.map(r => r.unregister())))")  # fmt: skip
    volunteer.context.route("**/sw.js", lambda route: route.abort())
    volunteer.goto(f"/wishes/{wish_id}")
    assert not volunteer.evaluate("!!navigator.serviceWorker.controller")
    volunteer.route(lambda url: "/api/" not in url and url.endswith("/check-in"), _lose)
    volunteer.get_by_label("居民的确认码", exact=False).fill(code)
    volunteer.get_by_role("button", name="报到", exact=True).click()
    expect(volunteer.locator("p.flash", has_text="报到已发送")).to_be_visible(timeout=15_000)
    row, moves = stored_claim(server, claim_id)
    assert (row.state, row.checked_in_offline, moves) == ("checked_in", True, 1)
    assert REFUSED[refused:] == []


def _lose(route: Any) -> None:
    route.abort("internetdisconnected")


def resident_code(resident: Page, wish_id: str) -> str:
    resident.goto(f"/wishes/{wish_id}")
    return resident.get_by_test_id("confirmation-code").inner_text()


READ_QR = """async (img) => {
  await new Promise((ok, bad) => {
    const s = document.createElement('script');
    s.src = '/static/vendor/jsqr-1.4.0/jsQR.js'; s.onload = ok; s.onerror = bad;
    document.head.appendChild(s);
  });
  const c = document.createElement('canvas');
  c.width = img.naturalWidth; c.height = img.naturalHeight;
  const g = c.getContext('2d'); g.fillStyle = '#fff'; g.fillRect(0, 0, c.width, c.height);
  g.drawImage(img, 0, 0);
  const d = g.getImageData(0, 0, c.width, c.height);
  const found = jsQR(d.data, d.width, d.height);
  return found ? found.data : null;
}"""


def y4m(text: str, path: Path) -> None:
    """A few frames of a 640×480 grey video (4:2:0) showing ``text`` as a QR code, as Chromium's
    fake camera reads it."""
    qr = segno.make(text, error="m", micro=False)
    matrix = [list(row) for row in qr.matrix_iter(scale=1, border=4)]
    scale = min(WIDTH, HEIGHT) * 9 // 10 // len(matrix)
    side = scale * len(matrix)
    left, top = (WIDTH - side) // 2, (HEIGHT - side) // 2
    luma = bytearray(b"\xff" * (WIDTH * HEIGHT))
    for y in range(side):
        row = matrix[y // scale]
        line = bytes(0 if row[x // scale] else 255 for x in range(side))
        start = (top + y) * WIDTH + left
        luma[start : start + side] = line
    chroma = b"\x80" * (WIDTH * HEIGHT // 4)
    frame = b"FRAME\n" + bytes(luma) + chroma + chroma
    header = f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F10:1 Ip A1:1 C420jpeg\n".encode()
    path.write_bytes(header + frame * 10)


@pytest.fixture
def camera(playwright: Playwright, tmp_path: Path) -> Iterator[tuple[Browser, Path]]:
    """A Chromium whose camera shows the video file (written by the test before it scans)."""
    video = tmp_path / "camera.y4m"
    y4m("not a check-in code", video)
    args = [
        *LAUNCH_ARGS,
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={video}",
    ]
    chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=args)
    try:
        yield chromium, video
    finally:
        chromium.close()


def test_the_volunteer_scans_the_residents_qr_code_and_is_checked_in(
    browser: Browser, camera: tuple[Browser, Path], server: Server
) -> None:
    refused = len(REFUSED)
    wish_id, claim_id = claimed_wish(server, "扫码报到：陪我散步")
    resident = sign_in(browser, server, "chen")
    resident.goto(f"/wishes/{wish_id}")
    qr = resident.get_by_test_id("checkin-qr")
    expect(qr).to_be_visible()
    assert (qr.get_attribute("src") or "").startswith("data:image/svg+xml")
    expect(resident.get_by_test_id("confirmation-code")).to_be_visible()  # the fallback
    shot(resident, "resident-checkin-qr")
    token = qr.evaluate(READ_QR)
    assert token
    assert token.startswith(f"{COMMUNITY}~{wish_id}~")

    phone, video = camera
    y4m(token, video)
    volunteer = sign_in(phone, server, "zhang")
    volunteer.context.grant_permissions(["camera"])
    volunteer.goto(f"/wishes/{wish_id}")
    volunteer.get_by_role("button", name="扫码报到").click()
    flash(volunteer, "报到成功")
    row, moves = stored_claim(server, claim_id)
    assert (row.state, row.checked_in_offline, moves) == ("checked_in", False, 1)
    assert REFUSED[refused:] == []
