"""Photos on the pages: the resident chooses them with the wish form or adds them on the wish page,
a volunteer adds them at check-out, the thumbnails show to whom the address is shown, and a file
that is not a photo shows its reason under the file input and stores nothing."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import httpx
import sqlalchemy as sa

import marketplace as mk
from marketplace.schema import photos, wishes
from pages_world import Person, Site, code_of, field_error, flash
from photo_world import jpeg_with_gps
from service.pages.common import CST


def _wish_form(now: dt.datetime) -> dict[str, str]:
    day = (now.astimezone(CST) + dt.timedelta(days=1)).date().isoformat()
    return {
        "category": "助老陪护",
        "title": "阳台水管漏水",
        "date": day,
        "window_start": "09:00",
        "window_end": "11:00",
        "address": "幸福路1号3栋502室",
        "capacity": "1",
    }


async def _send(
    person: Person, path: str, data: dict[str, str], *files: bytes, confirmed: bool = True
) -> httpx.Response:
    """A multipart form as the browser sends it: the fields, the CSRF field, the chosen files
    (an empty file part when none, as a browser sends an empty file input)."""
    form = {"_csrf_token": person.csrf, **data, **({"confirmed": "1"} if confirmed else {})}
    parts: list[tuple[str, Any]] = [
        ("photos", (f"IMG_{n}.jpg", raw, "image/jpeg")) for n, raw in enumerate(files)
    ] or [("photos", ("", b"", "application/octet-stream"))]
    return await person.client.post(path, data=form, files=parts)


def _count(site: Site, table: sa.Table) -> int:
    with site.svc.app.state.db.snapshot() as conn:
        return int(conn.scalar(sa.select(sa.func.count()).select_from(table)) or 0)


def _thumbnails(page: httpx.Response) -> list[str]:
    return re.findall(r'<img src="([^"]+/thumbnail)"[^>]*data-testid="photo-thumbnail"', page.text)


async def test_a_resident_posts_a_wish_with_a_photo_and_sees_its_thumbnail(site: Site) -> None:
    resident = await site.person("res")
    posted = await _send(resident, "/wishes/new", _wish_form(site.svc.clock.now), jpeg_with_gps())
    assert posted.status_code == 303, posted.text[:1000]
    page = await resident.get(posted.headers["location"])
    assert "心愿已提交" in flash(page)
    (thumbnail,) = _thumbnails(page)
    image = await resident.get(thumbnail)
    assert (image.status_code, image.headers["content-type"]) == (200, "image/webp")
    assert image.headers["x-content-type-options"] == "nosniff"


async def test_a_wish_form_with_a_file_that_is_not_a_photo_stores_nothing(site: Site) -> None:
    resident = await site.person("res")
    before = _count(site, wishes)
    answer = await _send(
        resident, "/wishes/new", _wish_form(site.svc.clock.now), b"MZ\x90\x00 not a photo"
    )
    assert answer.status_code == 422
    assert field_error(answer, "photos") == "须为 JPEG、PNG 或 WebP 格式的照片"
    assert "阳台水管漏水" in answer.text  # what was typed is kept
    assert (_count(site, wishes), _count(site, photos)) == (before, 0)
    without = await _send(resident, "/wishes/new", _wish_form(site.svc.clock.now))
    assert without.status_code == 303  # no photo chosen: the wish alone
    assert _count(site, photos) == 0


async def test_a_resident_attaches_photos_from_the_wish_page_and_not_a_fourth(site: Site) -> None:
    resident = await site.person("res")
    posted = await _send(resident, "/wishes/new", _wish_form(site.svc.clock.now))
    wish_id = posted.headers["location"].rsplit("/", 1)[-1]
    page = await resident.get(f"/wishes/{wish_id}")
    assert f'action="/wishes/{wish_id}/photos" enctype="multipart/form-data"' in page.text
    small = jpeg_with_gps((200, 150))
    added = await _send(resident, f"/wishes/{wish_id}/photos", {}, small, small)
    assert added.status_code == 303, added.text[:1000]
    shown = await resident.get(added.headers["location"])
    assert flash(shown) == "已添加 2 张照片"
    assert len(_thumbnails(shown)) == 2
    assert "还可添加 1 张" in shown.text
    too_many = await _send(resident, f"/wishes/{wish_id}/photos", {}, small, small)
    assert too_many.status_code == 409
    assert "照片最多 3 张，已有 2 张，最多还能添加 1 张" in too_many.text
    empty = await _send(resident, f"/wishes/{wish_id}/photos", {})
    assert (empty.status_code, field_error(empty, "photos")) == (422, "每次可上传 1 到 3 张")
    assert _count(site, photos) == 2


async def test_a_volunteer_adds_photos_at_check_out_and_strangers_see_no_thumbnail(
    site: Site,
) -> None:
    resident, staff, volunteer, other = [
        await site.person(p) for p in ("res", "staff", "vol1", "vol2")
    ]
    posted = await _send(resident, "/wishes/new", _wish_form(site.svc.clock.now), jpeg_with_gps())
    wish_id = posted.headers["location"].rsplit("/", 1)[-1]
    code = code_of(await resident.get(f"/wishes/{wish_id}"))
    await staff.post(f"/wishes/{wish_id}/verify")
    assert _thumbnails(await other.get(f"/wishes/{wish_id}")) == []  # the address is masked
    await volunteer.post(f"/wishes/{wish_id}/claim")
    now = site.svc.clock.now.astimezone(CST)  # to 09:05 tomorrow, China time: the window is open
    opens = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(9, 5), tzinfo=CST)
    site.svc.clock.advance(seconds=(opens - now).total_seconds())
    page = await volunteer.get(f"/wishes/{wish_id}")
    assert len(_thumbnails(page)) == 1  # serving: the resident's photo shows
    claim_id = re.search(r'action="/claims/([^/"]+)/check-in"', page.text)
    assert claim_id
    checked_in = await volunteer.post(f"/claims/{claim_id.group(1)}/check-in", {"code": code})
    assert checked_in.status_code == 303, checked_in.text[:500]
    page = await volunteer.get(f"/wishes/{wish_id}")
    assert f'action="/claims/{claim_id.group(1)}/photos"' in page.text
    done = await _send(volunteer, f"/claims/{claim_id.group(1)}/photos", {}, jpeg_with_gps())
    assert done.status_code == 303, done.text[:500]
    after = await volunteer.get(done.headers["location"])
    assert "已上传 1 张服务照片" in flash(after)
    assert len(_thumbnails(after)) == 2
    with site.svc.app.state.db.snapshot() as conn:
        view = mk.wish_view(conn, "res", "c1", wish_id)
        kept = mk.photos_of(conn, view)
    assert [p.claim_id for p in kept] == [None, claim_id.group(1)]
    assert _thumbnails(await other.get(f"/wishes/{wish_id}")) == []
    for thumbnail in _thumbnails(after):
        assert (await other.get(thumbnail)).status_code == 404
    board = await site.browser().get("/board/c1")
    assert "/photos/" not in board.text


async def test_a_signed_in_browser_uploads_through_the_api_with_a_key(site: Site) -> None:
    """The session cookie signs the API in too: the CSRF check reads the multipart form first,
    and the Idempotency-Key's fingerprint then reads the same body again."""
    resident = await site.person("res")
    posted = await _send(resident, "/wishes/new", _wish_form(site.svc.clock.now))
    wish_id = posted.headers["location"].rsplit("/", 1)[-1]
    path = f"/api/v1/communities/c1/wishes/{wish_id}/photos"
    headers = {"X-CSRFToken": resident.csrf, "Idempotency-Key": "browser-1"}
    sent = [("photos", ("a.jpg", jpeg_with_gps((64, 48)), "image/jpeg"))]
    first = await resident.client.post(path, headers=headers, files=sent)
    assert first.status_code == 201, first.text[:500]
    again = await resident.client.post(path, headers=headers, files=sent)
    assert again.json() == first.json()
    assert again.headers.get("idempotent-replayed") == "true"
    assert _count(site, photos) == 1


async def test_a_body_over_the_upload_limit_answers_a_chinese_page(site: Site) -> None:
    resident = await site.person("res")
    posted = await _send(resident, "/wishes/new", _wish_form(site.svc.clock.now))
    wish_id = posted.headers["location"].rsplit("/", 1)[-1]
    huge = await _send(resident, f"/wishes/{wish_id}/photos", {}, bytes(26 * 2**20))
    assert huge.status_code == 413
    assert huge.headers["content-type"].startswith("text/html")
    assert "请求内容过大" in huge.text
    assert _count(site, photos) == 0
