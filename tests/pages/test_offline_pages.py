"""Installable and offline, and 扫码报到, on the pages: the manifest and the service worker are
served from the root with the headers a browser needs, under the pages' strict policy; the
resident's page shows the check-in QR code; the volunteer's form checks in with the code's token
and sends the phone's place, which the community's distance rule judges."""

from __future__ import annotations

import datetime as dt
import json
import re

import marketplace as mk
from pages_world import Site, field_error, flash
from service import scan

H = dt.timedelta(hours=1)
HOME = mk.Point(lat=39.9042, lng=116.4074)


async def test_the_worker_and_the_manifest_are_served_from_the_root(site: Site) -> None:
    visitor = site.browser()  # signed out: a phone installs the app before signing in
    worker = await visitor.get("/sw.js")
    assert worker.status_code == 200
    assert worker.headers["content-type"].startswith("text/javascript")
    assert worker.headers["service-worker-allowed"] == "/"
    assert worker.headers["cache-control"] == "no-cache"
    policy = worker.headers["content-security-policy"]
    assert "worker-src 'self'" in policy
    assert "manifest-src 'self'" in policy
    assert "script-src 'self';" in policy  # still no inline script
    assert 'addEventListener("fetch"' in worker.text
    listed = re.findall(r'"(/[^"]*)"', worker.text.split("var SHELL = [", 1)[1].split("]")[0])
    for path in listed:  # everything the worker keeps for offline use is there to keep
        assert (await visitor.get(path)).status_code == 200, path

    manifest = await visitor.get("/manifest.webmanifest")
    assert manifest.headers["content-type"].startswith("application/manifest+json")
    app = json.loads(manifest.text)
    assert (app["short_name"], app["start_url"], app["display"]) == ("邻里", "/", "standalone")
    for icon in app["icons"]:
        assert (await visitor.get(icon["src"])).status_code == 200
    login = await visitor.get("/login")
    assert '<link rel="manifest" href="/manifest.webmanifest">' in login.text
    assert '<script src="/static/offline.js" defer></script>' in login.text
    offline = await visitor.get("/offline")
    assert (offline.status_code, "网络不通" in offline.text) == (200, True)


def _wish(site: Site, *, location: mk.Point | None = None) -> tuple[mk.Wish, str]:
    """A published wish of res's open now, claimed by vol1 through the library."""
    now = site.svc.clock.now
    with site.svc.app.state.db.transaction() as tx:
        wish = mk.post_wish(
            tx,
            "res",
            community_id="c1",
            kind=mk.WishKind.SERVICE,
            category="助老陪护",
            title="陪老人散步",
            description="",
            org_id="g1",
            address="幸福路1号3栋",
            window_start=now + H,
            window_end=now + 3 * H,
            estimated_minutes=60,
            location=location,
            now=now,
        )
        wish = mk.verify(tx, "staff", "c1", wish.id, now=now)
        made = mk.claim(tx, "vol1", "c1", wish.id, now=now)
    return wish, made.id


def _state(site: Site, claim_id: str) -> mk.ClaimState:
    with site.svc.app.state.db.snapshot() as conn:
        return mk.load_claim(conn, "c1", claim_id).state


async def test_the_volunteer_checks_in_with_the_token_of_the_residents_qr_code(
    site: Site,
) -> None:
    wish, claim_id = _wish(site)
    resident, volunteer = await site.person("res"), await site.person("vol1")
    shown = await resident.get(f"/wishes/{wish.id}")
    assert re.search(r'<img class="qr" src="data:image/svg\+xml[^"]+" alt="报到二维码"', shown.text)
    seen = await volunteer.get(f"/wishes/{wish.id}")
    assert 'data-testid="checkin-qr"' not in seen.text  # the resident's to show
    assert 'data-community="c1"' in seen.text  # where offline.js finds the claim's community

    secret = site.svc.app.state.settings.secret_key
    old = scan.issue(secret, "c1", wish.id, site.svc.clock.now - scan.TTL - dt.timedelta(seconds=1))
    expired = await volunteer.post(f"/claims/{claim_id}/check-in", {"token": old})
    assert expired.status_code == 422
    assert field_error(expired, "token") == "已过期，请居民刷新页面后再扫"
    assert _state(site, claim_id) is mk.ClaimState.ACTIVE

    token = scan.issue(secret, "c1", wish.id, site.svc.clock.now)
    done = await volunteer.post(f"/claims/{claim_id}/check-in", {"token": token})
    assert done.status_code == 303, done.text
    assert "报到成功" in flash(await volunteer.get(done.headers["location"]))
    assert _state(site, claim_id) is mk.ClaimState.CHECKED_IN


async def test_the_check_in_form_sends_the_phones_place(site: Site) -> None:
    wish, claim_id = _wish(site, location=HOME)
    volunteer = await site.person("vol1")
    far = {"code": wish.confirmation_code, "lat": str(HOME.lat + 0.02), "lng": str(HOME.lng)}
    refused = await volunteer.post(f"/claims/{claim_id}/check-in", far)
    assert refused.status_code == 409
    assert flash(refused) == "报到位置距服务地点2224米，超出允许的1000米"
    assert _state(site, claim_id) is mk.ClaimState.ACTIVE
    near = {**far, "lat": str(HOME.lat + 0.001)}
    done = await volunteer.post(f"/claims/{claim_id}/check-in", near)
    assert done.status_code == 303, done.text
    assert _state(site, claim_id) is mk.ClaimState.CHECKED_IN
