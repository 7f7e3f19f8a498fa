"""对接平台 (Open311 partners): an admin of a community issues a partner system its api_key.

停用 revokes a key: it stops working at once (:func:`marketplace.intake.revoke_key`).

The key is drawn when the page is drawn and shown there, with a signature (an HMAC under the
service's secret) so that the form can only issue a key this service drew; issuing stores its
hash (:func:`marketplace.intake.issue_key`). Nothing after keeps the key: not the redirect, not
the form's idempotency record (which keeps a digest of the body), not the database. The command
``linli open311 key`` does the same from a shell.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, post
from litestar.params import Parameter, QueryParameter
from litestar.response import Template

import marketplace as mk
from service.api.common import MEMBER, Now, Title, Tx
from service.pages.common import See, Viewer, done, handle, page, render
from service.pages.forms import Fields, Form, Invalid

CommunityId = Annotated[str, QueryParameter(max_length=64)]
PartnerId = Annotated[str, Parameter(max_length=64)]
REVOKE_QUESTION = (
    "确定停用这个平台的密钥吗？停用后它提交的诉求将被拒绝，无法恢复，需要时请重新发放。"
)


class PartnerForm(Fields, frozen=True, kw_only=True):
    community: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}$")]
    name: Title
    key: Annotated[str, msgspec.Meta(max_length=100)]
    sig: Annotated[str, msgspec.Meta(max_length=100)]


def _sign(request: Request[Any, Any, Any], key: str) -> str:
    secret = hashlib.sha256(
        b"linli open311 key\x00" + request.app.state.settings.secret_key.encode()
    )
    return hmac.new(secret.digest(), key.encode(), hashlib.sha256).hexdigest()


def _page(request: Request[Any, Any, Any], tx: Tx, viewer: Viewer, community: str) -> Template:
    community = community or viewer.community_id or ""
    partners: tuple[mk.intake.Partner, ...] = ()
    errors: dict[str, str] = {}
    if community:
        try:
            partners = mk.intake.partners_of(tx, viewer.id, community)
        except (mk.NotFound, mk.NotAllowed):
            errors["community"] = "没有这个社区，或您不是它的管理员"
    key = mk.intake.draw_key()
    return render(
        request,
        "partners.html",
        viewer,
        community=community,
        partners=partners,
        key=key,
        sig=_sign(request, key),
        lookup_errors=errors,
    )


@get("/staff/partners", opt=MEMBER)
@page.read
def partners_page(
    request: Request[Any, Any, Any], tx: Tx, viewer: See, community: CommunityId = ""
) -> Template:
    return _page(request, tx, viewer, community)


@post("/staff/partners", opt=MEMBER)
@page.write
def issue(request: Request[Any, Any, Any], tx: Tx, viewer: See, form: Form) -> Response[Any]:
    def do() -> Response[Any]:
        data = form.parse(PartnerForm)
        if not hmac.compare_digest(data.sig, _sign(request, data.key)):
            raise Invalid({"key": "密钥不是本页生成的，请刷新页面后重试"})
        partner, key = mk.intake.issue_key(
            tx, viewer.id, community_id=data.community, name=data.name, key=data.key
        )
        return done(
            f"/staff/partners?community={partner.community_id}",
            f"已为{partner.name}发放密钥（…{key[-4:]}），请确认已交给对方",
        )

    community = form.values.get("community", "")
    return handle(request, viewer, form, do, back="/staff/partners",
                  show=lambda tx: _page(request, tx, viewer, community))  # fmt: skip


@post("/staff/partners/{partner_id:str}/revoke", opt=MEMBER)
@page.write
def revoke(
    request: Request[Any, Any, Any],
    tx: Tx,
    now: Now,
    viewer: See,
    form: Form,
    partner_id: PartnerId,
) -> Response[Any]:
    """停用: the partner's key stops working at once (a leaked key, a platform no longer used)."""
    community = form.values.get("community", "")

    def do() -> Response[Any]:
        partner = mk.intake.revoke_key(tx, viewer.id, community, partner_id, now=now)
        return done(
            f"/staff/partners?community={partner.community_id}",
            f"已停用{partner.name}的密钥，它提交的诉求将被拒绝",
        )

    return handle(request, viewer, form, do, back=f"/staff/partners?community={community}",
                  ask=REVOKE_QUESTION)  # fmt: skip


ROUTES = [partners_page, issue, revoke]
