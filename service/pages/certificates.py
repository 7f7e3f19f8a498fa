"""The service record and certificates on the pages (志愿记录与证明).

- ``/me/record`` (我的志愿记录): the member's record in every community, the star level, their ID
  document (kept only with consent, shown masked), a form to ask a community for a certificate,
  and the certificates issued to them, each a PDF to download.
- ``/staff/certificates`` (出具证明): office issues a certificate for a member, sets what the
  certificate prints about the issuer; an admin uploads the seal's image.
- ``/certificates/{number}.pdf``: the PDF, for the member or office of its community.
- ``/verify/{number}`` (查验), public: genuine and valid or not, the masked name, hours, issuer.

Every rule is :mod:`marketplace.certificates`'; the PDF is :mod:`service.certificate_pdf`'s.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.params import PathParameter
from litestar.response import Template
from sqlalchemy.engine import Connection

import marketplace as mk
from marketplace import bounds
from service import certificate_pdf
from service.api.common import MEMBER, PUBLIC, Now, Tx
from service.pages.common import See, Viewer, done, handle, page, render
from service.pages.forms import Fields, Form, Invalid

Day = Annotated[str, msgspec.Meta(pattern=r"^\d{4}-\d{2}-\d{2}$")]
Number = Annotated[str, PathParameter(max_length=40)]
SEAL_BYTES = 3 * 2**20  # the form's body: the image (the library takes 2 MB) and the fields


class RequestForm(Fields, frozen=True, kw_only=True):
    community_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    since: Day | None = None
    until: Day | None = None


class IssueForm(Fields, frozen=True, kw_only=True):
    member_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    since: Day | None = None
    until: Day | None = None


class IdForm(Fields, frozen=True, kw_only=True):
    id_kind: Literal[
        "resident_id",
        "passport",
        "hk_macao_permit",
        "taiwan_permit",
        "residence_permit",
        "foreign_permanent",
    ]
    id_number: Annotated[str, msgspec.Meta(min_length=5, max_length=32)]
    consent: bool = False


class IssuerForm(Fields, frozen=True, kw_only=True):
    organisation: bounds.IssuerName = ""
    person_in_charge: bounds.Signatory = ""
    handler: bounds.Signatory = ""
    contact: bounds.Signatory = ""


def _day(text: str | None, field: str) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise Invalid({field: "日期格式不正确"}) from None


# --- the member's record --------------------------------------------------------------------


def _record_page(request: Request[Any, Any, Any], tx: Connection, viewer: Viewer) -> Template:
    record = mk.records.service_record(tx, viewer.id, viewer.id, limit=50)
    document = mk.identity.document(tx, viewer.id, viewer.id)
    issued = mk.certificates.issued(tx, viewer.id, member_id=viewer.id)
    return render(
        request,
        "record.html",
        viewer,
        record=record,
        document=document,
        issued=issued,
        choices=[(c.community_id, c.name) for c in record.communities],
        values={"community_id": record.communities[0].community_id} if record.communities else {},
    )


@get("/me/record", opt=MEMBER)
@page.read
def my_record(request: Request[Any, Any, Any], tx: Tx, viewer: See) -> Template:
    """我的志愿记录: the record everywhere, the star level, certificates."""
    return _record_page(request, tx, viewer)


@post("/me/certificates", opt=MEMBER)
@page.write
def request_certificate(
    request: Request[Any, Any, Any], tx: Tx, now: Now, viewer: See, form: Form
) -> Response[Any]:
    """申请证明: the member asks a community they served in for a certificate (free)."""

    def do() -> Response[Any]:
        data = form.parse(RequestForm)
        made = mk.certificates.issue(
            tx,
            viewer.id,
            data.community_id,
            viewer.id,
            since=_day(data.since, "since"),
            until=_day(data.until, "until"),
            now=now,
        )
        return done("/me/record", f"已出具证明 {made.number}（{made.hours} 小时），请在下方下载")

    return handle(
        request,
        viewer,
        form,
        do,
        back="/me/record",
        show=lambda tx: _record_page(request, tx, viewer),
    )


@post("/me/id-document", opt=MEMBER)
@page.write
def record_id(
    request: Request[Any, Any, Any], tx: Tx, now: Now, viewer: See, form: Form
) -> Response[Any]:
    """登记证件: kept only with the member's consent, for certificates."""

    def do() -> Response[Any]:
        data = form.parse(IdForm)
        mk.identity.record(
            tx,
            viewer.id,
            viewer.id,
            kind=mk.identity.IdKind(data.id_kind),
            number=data.id_number,
            consent=data.consent,
            now=now,
        )
        return done("/me/record", "已登记证件，证明上只显示号码末4位")

    return handle(
        request,
        viewer,
        form,
        do,
        back="/me/record",
        show=lambda tx: _record_page(request, tx, viewer),
    )


@post("/me/id-document/removal", opt=MEMBER)
@page.write
def remove_id(request: Request[Any, Any, Any], tx: Tx, viewer: See, form: Form) -> Response[Any]:
    def do() -> Response[Any]:
        mk.identity.remove(tx, viewer.id, viewer.id)
        return done("/me/record", "已删除证件信息")

    return handle(request, viewer, form, do, ask="确定删除登记的证件吗？", back="/me/record")


# --- the PDF and the public verification ----------------------------------------------------


@get("/certificates/{number:str}", opt=MEMBER)
@page.read
def certificate_file(
    request: Request[Any, Any, Any], tx: Tx, viewer: See, number: Number
) -> Response[bytes]:
    """证明 PDF (``/certificates/{number}.pdf``)."""
    cert = mk.certificates.certificate(tx, viewer.id, number.removesuffix(".pdf"))
    return certificate_pdf.response(request, tx, cert)


@get("/verify/{number:str}", opt=PUBLIC)
@page.read
def verify(request: Request[Any, Any, Any], tx: Tx, number: Number) -> Template:
    """查验证明: anyone, signed in or not (the QR code on the certificate leads here)."""
    found = mk.certificates.verify(tx, number)
    response = render(request, "verify.html", found=found, status=200)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


# --- office ---------------------------------------------------------------------------------


def _office_page(request: Request[Any, Any, Any], tx: Connection, viewer: Viewer) -> Template:
    community_id = viewer.community()
    issued = mk.certificates.issued(tx, viewer.id, community_id=community_id)
    issuer = mk.issuers.issuer_of(tx, community_id)
    roles = mk.seat_roles(tx, viewer.id, viewer.seat) if viewer.seat else frozenset()
    listed = mk.list_members(tx, viewer.id, community_id, limit=200)  # the form's suggestions
    people = [
        line.member for line in listed.items if any(g.role in mk.CLAIMING for g in line.grants)
    ]
    return render(
        request,
        "certificates_staff.html",
        viewer,
        issued=issued[:50],
        people=people,
        issuer=issuer,
        may_seal=mk.can(mk.Act.SET_SEAL, roles),
        values={
            "organisation": issuer.organisation,
            "person_in_charge": issuer.person_in_charge,
            "handler": issuer.handler,
            "contact": issuer.contact,
        },
    )


@get("/staff/certificates", opt=MEMBER)
@page.read
def office(request: Request[Any, Any, Any], tx: Tx, viewer: See) -> Template:
    """出具证明: issue for a member; who issues; the seal."""
    return _office_page(request, tx, viewer)


@post("/staff/certificates", opt=MEMBER)
@page.write
def issue(
    request: Request[Any, Any, Any], tx: Tx, now: Now, viewer: See, form: Form
) -> Response[Any]:
    def do() -> Response[Any]:
        data = form.parse(IssueForm)
        made = mk.certificates.issue(
            tx,
            viewer.id,
            viewer.community(),
            data.member_id,
            since=_day(data.since, "since"),
            until=_day(data.until, "until"),
            now=now,
        )
        return done("/staff/certificates", f"已为 {made.name} 出具证明 {made.number}")

    return handle(
        request,
        viewer,
        form,
        do,
        back="/staff/certificates",
        show=lambda tx: _office_page(request, tx, viewer),
    )


@post("/staff/certificates/issuer", opt=MEMBER)
@page.write
def set_issuer(
    request: Request[Any, Any, Any], tx: Tx, now: Now, viewer: See, form: Form
) -> Response[Any]:
    def do() -> Response[Any]:
        data = form.parse(IssuerForm)
        mk.issuers.set_issuer(
            tx,
            viewer.id,
            viewer.community(),
            organisation=data.organisation,
            person_in_charge=data.person_in_charge,
            handler=data.handler,
            contact=data.contact,
            now=now,
        )
        return done("/staff/certificates", "已保存出具单位信息")

    return handle(
        request,
        viewer,
        form,
        do,
        back="/staff/certificates",
        show=lambda tx: _office_page(request, tx, viewer),
    )


async def _seal_file(request: Request[Any, Any, Any], _given: dict[str, Any]) -> bytes | None:
    """The image chosen in the seal form (None: none chosen, or 'remove' ticked)."""
    form = await request.form()
    chosen = form.get("seal")
    if isinstance(chosen, UploadFile) and chosen.filename:
        return await chosen.read()
    return None


@post("/staff/certificates/seal", opt=MEMBER, request_max_body_size=SEAL_BYTES)
@page.write_after(seal=_seal_file)
def upload_seal(
    request: Request[Any, Any, Any],
    tx: Tx,
    now: Now,
    viewer: See,
    form: Form,
    seal: bytes | None,
) -> Response[Any]:
    """公章图片: an admin uploads it (or removes it: the box stamped by hand)."""

    def do() -> Response[Any]:
        if seal is None and form.get("remove") != "1":
            raise Invalid({"seal": "请选择公章图片"})
        mk.issuers.set_seal(tx, viewer.id, viewer.community(), seal, now=now)
        return done("/staff/certificates", "已更新公章图片" if seal else "已删除公章图片")

    return handle(
        request,
        viewer,
        form,
        do,
        back="/staff/certificates",
        show=lambda tx: _office_page(request, tx, viewer),
    )


ROUTES = [
    my_record,
    request_certificate,
    record_id,
    remove_id,
    certificate_file,
    verify,
    office,
    issue,
    set_issuer,
    upload_seal,
]
