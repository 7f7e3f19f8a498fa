"""The record per person and certificates over HTTP (志愿记录与证明): a member's service record
(theirs in full, office sees its community's part), issuing a certificate, its PDF, and the
public verification. The rules are :mod:`marketplace.records`' and
:mod:`marketplace.certificates`'."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import JSONBody, PathParameter, QueryParameter

import marketplace as mk
from service import certificate_pdf
from service.api.common import ANONYMOUS, MEMBER, PUBLIC, Me, Now, Tx, api, problems
from service.api.wishes import Community

MemberId = Annotated[str, PathParameter(max_length=64)]
Number = Annotated[
    str,
    PathParameter(
        max_length=40,
        pattern=r"^\d{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$",  # 2026-7K3M-9QXD (marketplace.certificates)
        description="certificate number",
    ),
]
InCommunity = Annotated[
    str | None,
    QueryParameter(max_length=64, required=False, description="office: its community's part"),
]


class CertificateIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    member_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    since: dt.date | None = None  # served on or after (None: from the first record)
    until: dt.date | None = None  # served on or before (None: the issue date)


class CertificateOut(msgspec.Struct, frozen=True, kw_only=True):
    certificate: mk.certificates.Certificate
    verify_url: str
    pdf: str  # the PDF's path in this API


def _out(request: Request[Any, Any, Any], cert: mk.certificates.Certificate) -> CertificateOut:
    base = request.app.state.settings.public_url
    return CertificateOut(
        certificate=cert,
        verify_url=certificate_pdf.verify_url(base, cert.number),
        pdf=f"/api/v1/certificates/{cert.number}/pdf",
    )


class RecordController(Controller):
    path = "/members/{member_id:str}/service-record"
    tags = ["records 志愿记录与证明"]
    opt = MEMBER

    @get(
        "/",
        responses=problems(404),
        summary="志愿服务记录: a person's record in every community, star level (the person's own;"
        " office: ?community_id= its part)",
    )
    @api.read
    def record(
        self, tx: Tx, me: Me, member_id: MemberId, community_id: InCommunity = None
    ) -> mk.records.ServiceRecord:
        return mk.records.service_record(tx, me.id, member_id, community_id=community_id)


class CertificateController(Controller):
    path = "/"
    tags = ["records 志愿记录与证明"]
    opt = MEMBER

    @post(
        "/communities/{community_id:str}/certificates",
        status_code=201,
        responses=problems(403, 404, 422),
        summary="出具证明: a certificate of the member's records in this community (the member "
        "asks for their own; office issues anyone's); free, never changes the record",
    )
    @api.write
    def issue(
        self,
        request: Request[Any, Any, Any],
        tx: Tx,
        me: Me,
        now: Now,
        community_id: Community,
        data: JSONBody[CertificateIn],
    ) -> CertificateOut:
        made = mk.certificates.issue(
            tx, me.id, community_id, data.member_id, since=data.since, until=data.until, now=now
        )
        return _out(request, made)

    @get(
        "/certificates/{number:str}",
        responses=problems(404),
        summary="A certificate issued before (the member, or office of its community)",
    )
    @api.read
    def certificate(
        self, request: Request[Any, Any, Any], tx: Tx, me: Me, number: Number
    ) -> CertificateOut:
        return _out(request, mk.certificates.certificate(tx, me.id, number))

    @get(
        "/certificates/{number:str}/pdf",
        responses=problems(404, 503),
        media_type="application/pdf",
        summary="The certificate as a PDF (A4, Chinese text embedded, a QR code to /verify)",
    )
    @api.read
    def pdf(
        self, request: Request[Any, Any, Any], tx: Tx, me: Me, number: Number
    ) -> Response[bytes]:
        return certificate_pdf.response(request, tx, mk.certificates.certificate(tx, me.id, number))

    @get(
        "/verify/{number:str}",
        opt=PUBLIC,
        security=ANONYMOUS,
        responses=problems(422),
        summary="查验: genuine and valid, superseded (with the new number) or unknown; the "
        "masked name, hours and issuer only. No sign-in",
    )
    @api.read
    def verify(self, tx: Tx, number: Number) -> mk.certificates.Verification:
        return mk.certificates.verify(tx, number)
