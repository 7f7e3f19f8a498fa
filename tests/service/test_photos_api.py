"""Photos over HTTP on SQLite and PostgreSQL: a multipart upload keeps the photo without its GPS
position, a fourth is refused, a file too large or not a photo is refused in Chinese (never a
500), strangers get 404, the images carry their type, nosniff and a private cache, and the
public board never shows a photo."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import threading
import time
import uuid
from typing import Any

import httpx
import pytest
from litestar.datastructures import UploadFile
from PIL import Image

import marketplace as mk
from photo_world import GPS, jpeg_with_gps
from service.api import photos as photos_api
from service_world import Service

BASE = "/api/v1/communities/c1"


async def _published(svc: Service) -> dict[str, Any]:
    start = svc.clock.now + dt.timedelta(hours=1)
    posted = await svc.client.post(
        f"{BASE}/wishes",
        headers=svc.as_("res"),
        json={
            "category": "助老陪护",
            "title": "修一下漏水的水龙头",
            "org_id": "g1",
            "address": "幸福路1号3栋502室",
            "window_start": start.isoformat(),
            "window_end": (start + dt.timedelta(hours=3)).isoformat(),
            "estimated_minutes": 60,
        },
    )
    assert posted.status_code == 201, posted.text
    wish: dict[str, Any] = posted.json()
    verified = await svc.client.post(f"{BASE}/wishes/{wish['id']}/verify", headers=svc.as_("staff"))
    assert verified.status_code == 200, verified.text
    return wish


async def _upload(
    svc: Service, person: str, path: str, *files: bytes, key: str | None = None
) -> httpx.Response:
    headers = svc.as_(person)
    if key:
        headers["Idempotency-Key"] = key
    sent = [("photos", (f"IMG_{n}.jpg", raw, "image/jpeg")) for n, raw in enumerate(files)]
    return await svc.client.post(path, headers=headers, files=sent)


async def test_an_uploaded_photo_is_kept_without_its_gps_position(svc: Service) -> None:
    wish = await _published(svc)
    raw = jpeg_with_gps()
    answer = await _upload(svc, "res", f"{BASE}/wishes/{wish['id']}/photos", raw, key="k1")
    assert answer.status_code == 201, answer.text
    (photo,) = answer.json()["items"]
    assert (photo["claim_id"], photo["uploaded_by"], photo["media_type"]) == (
        None,
        "res",
        "image/jpeg",
    )
    again = await _upload(svc, "res", f"{BASE}/wishes/{wish['id']}/photos", raw, key="k1")
    assert again.json() == answer.json()  # the key replays: one photo, not two
    got = await svc.client.get(photo["url"], headers=svc.as_("res"))
    assert got.status_code == 200
    assert got.headers["content-type"] == "image/jpeg"
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["cache-control"] == "private, no-cache"
    kept = Image.open(io.BytesIO(got.content))
    assert kept.getexif().get_ifd(GPS) == {}
    assert dict(kept.getexif()) == {}
    assert b"LinliPhone" not in got.content
    thumb = await svc.client.get(photo["thumbnail_url"], headers=svc.as_("staff"))
    assert (thumb.status_code, thumb.headers["content-type"]) == (200, "image/webp")
    unchanged = await svc.client.get(
        photo["url"], headers={**svc.as_("res"), "If-None-Match": got.headers["etag"]}
    )
    assert (unchanged.status_code, unchanged.content) == (304, b"")
    listed = await svc.client.get(f"{BASE}/wishes/{wish['id']}/photos", headers=svc.as_("res"))
    assert [p["id"] for p in listed.json()["items"]] == [photo["id"]]


async def test_a_fourth_photo_is_refused(svc: Service) -> None:
    wish = await _published(svc)
    small = jpeg_with_gps((64, 48))
    path = f"{BASE}/wishes/{wish['id']}/photos"
    assert (await _upload(svc, "res", path, small, small, small)).status_code == 201
    fourth = await _upload(svc, "res", path, small)
    assert fourth.status_code == 409
    assert fourth.json()["code"] == "photo_limit_reached"
    assert fourth.json()["detail"] == "照片最多 3 张，已有 3 张，不能再添加"
    listed = await svc.client.get(path, headers=svc.as_("res"))
    assert len(listed.json()["items"]) == 3


async def test_a_file_too_large_or_not_a_photo_is_refused_in_chinese(svc: Service) -> None:
    wish = await _published(svc)
    path = f"{BASE}/wishes/{wish['id']}/photos"
    too_large = await _upload(svc, "res", path, b"\xff\xd8" + bytes(9 * 2**20))
    assert too_large.status_code == 422
    assert (too_large.json()["field"], too_large.json()["detail"]) == (
        "photos",
        "照片：每张不能超过 8 MB",
    )
    not_a_photo = await _upload(svc, "res", path, b"#!/bin/sh\necho hello\n")
    assert not_a_photo.status_code == 422
    assert not_a_photo.json()["detail"] == "照片：须为 JPEG、PNG 或 WebP 格式的照片"
    four = await _upload(svc, "res", path, *[jpeg_with_gps((8, 8))] * 4)
    assert (four.status_code, four.json()["detail"]) == (422, "照片：最多 3 项")
    whole = await _upload(svc, "res", path, bytes(30 * 2**20))  # over the body's limit
    assert whole.status_code == 413
    assert whole.json()["code"] == "body_too_large"
    listed = await svc.client.get(path, headers=svc.as_("res"))
    assert listed.json()["items"] == []  # nothing half-kept


async def test_a_stranger_cannot_fetch_the_photo_and_the_board_never_shows_it(
    svc: Service,
) -> None:
    wish = await _published(svc)
    answer = await _upload(svc, "res", f"{BASE}/wishes/{wish['id']}/photos", jpeg_with_gps())
    (photo,) = answer.json()["items"]
    for stranger in ("vol1", "outsider", "grid"):  # the wish's address is masked to each
        refused = await svc.client.get(photo["url"], headers=svc.as_(stranger))
        assert refused.status_code == 404, stranger
        thumb = await svc.client.get(photo["thumbnail_url"], headers=svc.as_(stranger))
        assert thumb.status_code == 404
        listed = await svc.client.get(
            f"{BASE}/wishes/{wish['id']}/photos", headers=svc.as_(stranger)
        )
        assert listed.status_code in (200, 404)
        assert photo["id"] not in listed.text
    signed_out = await svc.client.get(photo["url"])
    assert signed_out.status_code == 401
    for board in ("/board", "/board/c1"):
        page = await svc.client.get(board)
        assert page.status_code == 200
        assert photo["id"] not in page.text
        assert "/photos/" not in page.text


async def test_a_volunteer_adds_photos_at_check_out_and_not_after(svc: Service) -> None:
    wish = await _published(svc)
    taken = await svc.client.post(
        f"{BASE}/wishes/{wish['id']}/claims", headers=svc.as_("vol1"), json={}
    )
    claim = f"{BASE}/claims/{taken.json()['claim']['id']}"
    early = await _upload(svc, "vol1", f"{claim}/photos", jpeg_with_gps((64, 48)))
    assert early.status_code == 409  # not checked in yet
    svc.clock.advance(hours=1)
    code = {"code": wish["confirmation_code"]}
    assert (
        await svc.client.post(f"{claim}/check-in", headers=svc.as_("vol1"), json=code)
    ).is_success
    other = await _upload(svc, "vol2", f"{claim}/photos", jpeg_with_gps((64, 48)))
    assert other.status_code in (403, 404)
    done = await _upload(svc, "vol1", f"{claim}/photos", *[jpeg_with_gps((64, 48))] * 3)
    assert done.status_code == 201, done.text
    assert {p["claim_id"] for p in done.json()["items"]} == {taken.json()["claim"]["id"]}
    svc.clock.advance(minutes=60)
    headers = {**svc.as_("vol1"), "Idempotency-Key": uuid.uuid4().hex}
    out = await svc.client.post(f"{claim}/check-out", headers=headers, json={})
    assert out.status_code == 200, out.text
    late = await _upload(svc, "vol1", f"{claim}/photos", jpeg_with_gps((64, 48)))
    assert late.status_code == 409
    mine = await svc.client.get(f"{BASE}/wishes/{wish['id']}/photos", headers=svc.as_("res"))
    assert len(mine.json()["items"]) == 3  # the resident sees the work done


async def test_a_photo_part_without_a_file_name_is_taken_as_the_file(svc: Service) -> None:
    """OpenAPI's binary part needs no file name (schemathesis sends none): its bytes are the
    photo, not text to decode (that was a 400 malformed_body)."""
    wish = await _published(svc)
    boundary = "linli-photo-boundary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="photos"\r\n\r\n'.encode()
        + jpeg_with_gps((64, 48))
        + f"\r\n--{boundary}--\r\n".encode()
    )
    answer = await svc.client.post(
        f"{BASE}/wishes/{wish['id']}/photos",
        headers={**svc.as_("res"), "Content-Type": f"multipart/form-data; boundary={boundary}"},
        content=body,
    )
    assert answer.status_code == 201, answer.text
    odd = await svc.client.post(
        f"{BASE}/wishes/{wish['id']}/photos",
        headers={**svc.as_("res"), "Content-Type": f"multipart/form-data; boundary={boundary}"},
        content=f'--{boundary}\r\nContent-Disposition: form-data; name="x"\r\n\r\n\xff'.encode(),
    )
    assert odd.status_code in (400, 422)  # cut short: refused, never a 500


async def test_at_most_two_uploads_are_decoded_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Eight uploads at once: Pillow works on two of them at a time, the others wait."""
    busy, peak, lock = 0, 0, threading.Lock()
    real = mk.picture

    def counted(raw: bytes) -> mk.Picture:
        nonlocal busy, peak
        with lock:
            busy += 1
            peak = max(peak, busy)
        time.sleep(0.05)
        try:
            return real(raw)
        finally:
            with lock:
                busy -= 1

    monkeypatch.setattr(mk, "picture", counted)
    raw = jpeg_with_gps((64, 48))
    files = [
        UploadFile(content_type="image/jpeg", filename="a.jpg", file_data=raw) for _ in range(8)
    ]
    made = await asyncio.gather(*(photos_api.uploaded([f]) for f in files))
    assert all(m.refused is None for m in made)
    assert peak == 2
