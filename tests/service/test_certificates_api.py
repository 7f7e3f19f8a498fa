"""The record and certificates over HTTP: the person's record, office's part of it, issuing,
the PDF read back, and the public verification (no sign-in, nothing personal but a masked name)."""

from __future__ import annotations

import datetime as dt

import certificate_world as cw
import points
from service_world import Service


def _served(svc: Service) -> None:
    with svc.app.state.db.transaction() as tx:
        for community, minutes in (("c1", 90), ("c2", 45)):
            points.record_service(
                tx, community_id=community, member_id="vol1", category="助老陪护",
                minutes=minutes, served_on=dt.date(2026, 11, 3), reference="event:1",
                actor="staff", memo="探访",
            )  # fmt: skip


async def test_the_record_a_certificate_its_pdf_and_the_public_verification(svc: Service) -> None:
    _served(svc)
    api = svc.client
    mine = await api.get("/api/v1/members/vol1/service-record", headers=svc.as_("vol1"))
    assert mine.status_code == 200
    assert (mine.json()["minutes"], mine.json()["hours"]) == (135, "2.3")
    part = await api.get(
        "/api/v1/members/vol1/service-record?community_id=c1", headers=svc.as_("staff")
    )
    assert [e["organiser"] for e in part.json()["entries"]] == ["阳光社区"]
    whole = await api.get("/api/v1/members/vol1/service-record", headers=svc.as_("staff"))
    assert whole.status_code == 404  # office sees its own community's part only
    made = await api.post(
        "/api/v1/communities/c1/certificates",
        json={"member_id": "vol1", "until": "2026-11-30"},
        headers=svc.as_("vol1"),
    )
    assert made.status_code == 201, made.text
    number = made.json()["certificate"]["number"]
    assert made.json()["certificate"]["hours"] == "1.5"
    assert made.json()["verify_url"] == f"http://127.0.0.1:8000/verify/{number}"
    reversed_period = await api.post(
        "/api/v1/communities/c1/certificates",
        json={"member_id": "vol1", "since": "2026-12-01", "until": "2026-11-30"},
        headers=svc.as_("vol1"),
    )
    assert (reversed_period.status_code, reversed_period.json()["field"]) == (422, "since")
    stranger = await api.post(
        "/api/v1/communities/c1/certificates", json={"member_id": "vol1"},
        headers=svc.as_("outsider"),
    )  # fmt: skip
    assert stranger.status_code == 403
    pdf = await api.get(made.json()["pdf"], headers=svc.as_("staff"))
    assert pdf.headers["content-type"] == "application/pdf"
    assert number in cw.pdf_text(pdf.content)
    assert (await api.get(made.json()["pdf"], headers=svc.as_("vol2"))).status_code == 404
    checked = await api.get(f"/api/v1/verify/{number}")  # no token
    assert checked.status_code == 200
    assert checked.json() == {
        "number": number,
        "status": "valid",
        "masked_name": "v***",
        "hours": "1.5",
        "issuer": "阳光社区",
        "issued_on": checked.json()["issued_on"],
        "period_from": None,
        "period_to": "2026-11-30",
        "superseded_by": None,
    }
    unknown = await api.get("/api/v1/verify/2026-0000-0000")  # well formed, never issued
    assert unknown.json()["status"] == "unknown"
    malformed = await api.get("/api/v1/verify/nothing")
    assert malformed.status_code == 422  # not a certificate number at all
