"""The record and certificates on the pages: 我的志愿记录 with the person's star level, asking
for a certificate and downloading its PDF (read back: text and QR code), staff issuing one, the
seal, the public verification page, and a correction superseding a certificate."""

from __future__ import annotations

import datetime as dt
import io
import re

import httpx
import pytest
from PIL import Image

import certificate_world as cw
import marketplace as mk
import points
from pages_world import Site, field_error, flash

PUBLIC_URL = "https://linli.example.cn"


def serve(site: Site, member: str, community: str, minutes: int, ref: str, memo: str) -> None:
    with site.svc.app.state.db.transaction() as tx:
        points.record_service(
            tx, community_id=community, member_id=member, category="助老陪护", minutes=minutes,
            served_on=dt.date(2026, 11, 20), reference=ref, actor="staff", memo=memo,
        )  # fmt: skip


def number_in(page: httpx.Response) -> str:
    found = re.search(r"\d{4}-[0-9A-Z]{4}-[0-9A-Z]{4}", flash(page) or page.text)
    assert found, page.text
    return found.group(0)


@pytest.fixture
def public_url(site: Site) -> str:
    settings = site.svc.app.state.settings
    site.svc.app.state.settings = type(settings)(
        **{
            **{f: getattr(settings, f) for f in settings.__struct_fields__},
            "public_url": PUBLIC_URL,
        }
    )
    return PUBLIC_URL


async def test_a_volunteer_asks_for_a_certificate_and_reads_it_back(
    site: Site, public_url: str
) -> None:
    serve(site, "vol1", "c1", 90, "event:a", "重阳节敬老院探访")
    serve(site, "vol1", "c2", 30, "event:b", "月亮社区义诊")
    vol = await site.person("vol1")
    record = await vol.get("/me/record")
    assert record.status_code == 200
    assert 'data-testid="total-hours">2.0<' in record.text  # both communities together
    assert "重阳节敬老院探访" in record.text
    assert "月亮社区义诊" in record.text
    asked = await vol.post("/me/certificates", {"community_id": "c1"})
    assert asked.status_code == 303
    shown = await vol.get("/me/record")
    number = number_in(shown)
    assert "已出具证明" in flash(shown)
    pdf = await vol.get(f"/certificates/{number}.pdf")
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    text = cw.pdf_text(pdf.content)
    assert "志愿服务记录证明" in text
    assert "vol1" in text  # the name (the test world names people by their id)
    assert "1.5 小时" in text  # c1's hours only: c2 certifies its own
    assert number in text
    assert "出具单位：阳光社区" in text
    assert "重阳节敬老院探访" in text
    assert "月亮社区义诊" not in text
    assert cw.pdf_pages(pdf.content) == 1
    assert cw.page_size_mm(pdf.content) == (210, 297)  # A4
    assert cw.embedded_fonts(pdf.content)  # the Chinese font travels inside
    assert cw.qr_codes(pdf.content) == [f"{public_url}/verify/{number}"]
    anyone = site.browser()
    checked = await anyone.get(f"/verify/{number}")
    assert checked.status_code == 200
    assert "有效" in checked.text
    assert "v***" in checked.text
    assert "1.5 小时" in checked.text
    assert "阳光社区" in checked.text
    assert "vol1" not in checked.text  # the masked name only
    assert "重阳节" not in checked.text  # nothing of the content
    unknown = await anyone.get("/verify/2026-0000-0000")
    assert "查无此证" in unknown.text
    others = await (await site.person("vol2")).get(f"/certificates/{number}.pdf")
    assert others.status_code == 404


async def test_a_certificate_prints_the_id_only_with_consent_and_only_its_last_4(
    site: Site, public_url: str
) -> None:
    serve(site, "vol1", "c1", 90, "event:a", "探访")
    vol = await site.person("vol1")
    refused = await vol.post(
        "/me/id-document", {"id_kind": "resident_id", "id_number": "11010519491231002X"}
    )
    assert field_error(refused, "consent") == "须本人单独同意"
    wrong = await vol.post(
        "/me/id-document",
        {"id_kind": "resident_id", "id_number": "110105194912310021", "consent": "on"},
    )
    assert field_error(wrong, "id_number") == "不是有效的证件号码"
    kept = await vol.post(
        "/me/id-document",
        {"id_kind": "resident_id", "id_number": "11010519491231002X", "consent": "on"},
    )
    assert kept.status_code == 303
    page = await vol.get("/me/record")
    assert "*" * 18 in page.text
    assert "002X" not in page.text  # masked everywhere but on the certificate
    await vol.post("/me/certificates", {"community_id": "c1"})
    number = number_in(await vol.get("/me/record"))
    text = cw.pdf_text((await vol.get(f"/certificates/{number}.pdf")).content)
    assert "居民身份证：**************002X" in text
    assert "110105" not in text


async def test_staff_issue_set_the_issuer_and_an_admin_uploads_the_seal(
    site: Site, public_url: str
) -> None:
    serve(site, "vol2", "c1", 125, "event:a", "社区大扫除")
    staff = await site.person("staff")
    page = await staff.get("/staff/certificates")
    assert page.status_code == 200
    assert 'action="/staff/certificates/seal"' not in page.text  # staff: no seal upload
    assert '<option value="vol2">vol2</option>' in page.text  # the volunteers to choose from
    await staff.post(
        "/staff/certificates/issuer",
        {"organisation": "阳光社区居民委员会", "person_in_charge": "王主任", "contact": "010-1234"},
    )
    nothing = await staff.post("/staff/certificates", {"member_id": "vol3"})
    assert nothing.status_code == 422
    assert "这段时间在本社区没有已核实的志愿服务时长，无法出具证明" in nothing.text
    made = await staff.post("/staff/certificates", {"member_id": "vol2"})
    assert made.status_code == 303
    number = number_in(await staff.get("/staff/certificates"))
    before = (await staff.get(f"/certificates/{number}.pdf")).content
    text = cw.pdf_text(before)
    assert "出具单位：阳光社区居民委员会" in text
    assert "负责人：王主任" in text
    assert "经办人：staff" in text  # whoever issued, when no handler is set
    assert "2.1 小时" in text
    assert "（盖章处）" in text  # no seal yet: a box to stamp by hand
    refused = await staff.client.post(
        "/staff/certificates/seal",
        data={"_csrf_token": staff.csrf, "confirmed": "1"},
        files={"seal": ("seal.png", _seal_png(), "image/png")},
    )
    assert refused.status_code == 403
    with site.svc.app.state.db.transaction() as tx:  # an admin of the community itself
        mk.grant_role(tx, mk.SYSTEM, "admin", "c1", mk.Role.ADMIN)
    admin = await site.person("admin")
    seat = await admin.post("/me/seat", {"seat": "admin@c1@c1"})
    assert seat.status_code == 303
    uploaded = await admin.client.post(
        "/staff/certificates/seal",
        data={"_csrf_token": admin.csrf, "confirmed": "1"},
        files={"seal": ("seal.png", _seal_png(), "image/png")},
    )
    assert uploaded.status_code == 303, uploaded.text
    assert uploaded.headers["location"] == "/staff/certificates", uploaded.headers
    after = (await staff.get(f"/certificates/{number}.pdf")).content
    assert "（盖章处）" not in cw.pdf_text(after)
    assert cw.image_count(after) == cw.image_count(before) + 1  # the seal's image


async def test_a_correction_supersedes_the_certificate_on_the_verification_page(
    site: Site, public_url: str
) -> None:
    serve(site, "vol1", "c1", 90, "event:a", "探访")
    vol = await site.person("vol1")
    period = {"community_id": "c1", "since": "2026-11-01", "until": "2026-11-30"}
    await vol.post("/me/certificates", period)
    first = number_in(await vol.get("/me/record"))
    with site.svc.app.state.db.transaction() as tx:
        points.correct_service(tx, community_id="c1", reference="event:a", minutes=30,
                               reason="补记", actor="staff")  # fmt: skip
    anyone = site.browser()
    stale = await anyone.get(f"/verify/{first}")
    assert "已作废" in stale.text
    assert "请联系出具单位重新出具" in stale.text
    await vol.post("/me/certificates", period)
    second = number_in(await vol.get("/me/record"))
    assert second != first
    stale = await anyone.get(f"/verify/{first}")
    assert f'<a href="/verify/{second}">{second}</a>' in stale.text
    fresh = await anyone.get(f"/verify/{second}")
    assert "有效" in fresh.text
    assert "2.0 小时" in fresh.text


async def test_the_board_shows_the_star_level_of_members_who_opted_in(site: Site) -> None:
    for i in range(7):  # 105 hours in c1: one star
        serve(site, "vol1", "c1", 900, f"event:{i}", "长期助老")
    serve(site, "vol2", "c1", 60, "event:x", "助老")
    with site.svc.app.state.db.transaction() as tx:
        mk.set_public_profile(tx, "vol1", True)
        mk.set_public_profile(tx, "vol2", True)
    board = await site.browser().get("/board/c1")
    rows = re.findall(r"<tr><td>(vol\d)</td><td class=\"num\">([\d.]+)</td><td[^>]*>([^<]*)</td>",
                      board.text)  # fmt: skip
    assert rows == [("vol1", "105.0", "★"), ("vol2", "1.0", "—")]
    me = await (await site.person("vol1")).get("/me")
    assert "一星" in me.text


def _seal_png() -> bytes:
    image = Image.new("RGB", (300, 300), (255, 255, 255))
    for x in range(40, 260):
        for y in (40, 41, 258, 259):
            image.putpixel((x, y), (200, 20, 20))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
