"""Who may open which page (页面权限): each page names the library's question, asked once.

A page shows what its people may do, so it opens for the roles the library's tables let do it:
``PAGES`` maps every signed-in page (its path as routed) to an :class:`~marketplace.Act` of
``marketplace.ACTS``, or a ``(state, action)`` of the wish lifecycle table (the verification
queue opens for whoever may verify a submitted wish), or ``None`` (any signed-in member: the
library decides what they see, as for one wish or one's own wallet). No role set is written
here; the roles asked about are the ones the member holds where their current seat acts
(:func:`marketplace.seat_roles`), as the table reads them. A signed-in page missing from
``PAGES`` opens for nobody (deny by default; a test holds the table complete).

A page the roles may not open answers the Chinese 403 page (:class:`Refused`), naming who may.
"""

from __future__ import annotations

from sqlalchemy.engine import Connection

import marketplace as mk
from marketplace import Act, Role, WishAction, WishState
from service import labels

Permit = Act | tuple[WishState, WishAction] | None
"""An act of ``ACTS``, a ``(state, action)`` of ``WISH_TABLE``, or None (any member)."""

VERIFY = (WishState.SUBMITTED, WishAction.VERIFY)
PAGES: dict[str, Permit] = {
    "/": None,
    "/me": None,
    "/me/record": None,  # one's own service record and certificates
    "/certificates/{number}": None,  # the certificate's PDF: the library decides (member, office)
    "/wishes/{wish_id}": None,  # wish_view decides (404 where they may not see it)
    "/wishes/new": Act.POST_WISH,
    "/wishes/mine": Act.POST_WISH,
    "/offers": Act.REQUEST_FROM_OFFER,
    "/offers/{offer_id}/request": Act.REQUEST_FROM_OFFER,
    "/volunteer": (WishState.PUBLISHED, WishAction.CLAIM),
    "/claims": (WishState.PUBLISHED, WishAction.CLAIM),
    "/wishes": Act.FIND_WISHES,
    "/unit": (WishState.PUBLISHED, WishAction.CLAIM_FOR_UNIT),
    "/points": None,  # one's own wallet
    "/points/transfers/{transfer_id}": None,
    "/points/donate": None,
    "/store": None,
    "/orders": None,
    "/staff": VERIFY,  # the office's workbench
    "/staff/verify": VERIFY,
    "/staff/disputes": (WishState.DISPUTED, WishAction.RESOLVE_FOR_VOLUNTEER),
    "/wishes/{wish_id}/dispatch": Act.RANK_CANDIDATES,
    "/staff/escalations": Act.SEE_ESCALATIONS,
    "/proxy": Act.FIND_RESIDENTS,
    "/staff/events": Act.ADJUST,
    "/staff/policy": Act.SET_POLICY,
    "/staff/members": Act.LIST_MEMBERS,
    "/staff/members/{member_id}": Act.EDIT_MEMBER,  # 成员资料
    "/staff/import": Act.REGISTER,  # 导入花名册
    "/staff/import/template.xlsx": Act.REGISTER,
    "/staff/import/{import_id}": Act.REGISTER,
    "/staff/import/{import_id}/problems.xlsx": Act.REGISTER,
    "/staff/import/{import_id}/progress": Act.REGISTER,
    "/staff/store": Act.RUN_STORE,
    "/staff/orders": Act.RUN_STORE,
    "/dashboard": Act.SEE_STATISTICS,
    "/staff/matters": Act.SEE_MATTERS,  # 吹哨事项: a level's or unit's queue, a community's own
    "/matters/{community_id}/{matter_id}": None,  # matter_roles decides (404 for strangers)
    "/staff/evaluation": Act.SEE_EVALUATION,
    "/staff/evaluation.xlsx": Act.SEE_EVALUATION,
    "/staff/evaluation.pdf": Act.SEE_EVALUATION,
    "/hours": None,  # one's own hours records
    "/corrections/new": None,  # the library decides: one's own record (404 otherwise)
    "/corrections/{correction_id}": None,  # the requester or office (404 otherwise)
    "/staff/corrections": Act.SEE_CORRECTIONS,
    "/staff/duty": Act.RECORD_DUTY,  # 双报到登记
    "/staff/partners": Act.ISSUE_PARTNER_KEY,  # 对接平台: Open311 keys
    "/staff/units": Act.SEE_STATISTICS,  # 结对单位双报到 (a street's roll-up)
    "/unit/report": Act.SEE_UNIT_REPORT,  # 单位季度报表 (双报到)
    "/unit/report.xlsx": Act.SEE_UNIT_REPORT,
    "/staff/exports": Act.EXPORT,
    "/staff/exports/file": Act.EXPORT,
    "/staff/certificates": Act.ISSUE_CERTIFICATE,
    "/messages": None,  # one's own messages, from every community
    "/messages/count": None,
    "/staff/notices": Act.MANAGE_NOTICES,
}


class Refused(Exception):
    """The member's roles where they act may not open this page."""

    def __init__(self, path: str, allowed: frozenset[Role]) -> None:
        super().__init__(f"{path}: not for these roles")
        self.allowed = allowed

    @property
    def message(self) -> str:
        """Who may open it, in Chinese."""
        who = [labels.label(labels.ROLES, r) for r in Role if r in self.allowed & mk.ORG_ROLES]
        if not who:
            return "您当前的身份无权打开这个页面"
        return f"这个页面仅对{'、'.join(who)}开放；您当前的身份无权打开"


def allowed(permit: Permit) -> frozenset[Role]:
    """The roles the permit admits (the library's table row)."""
    if permit is None:
        return mk.ORG_ROLES
    if isinstance(permit, Act):
        return mk.ACTS[permit]
    return mk.WISH_TABLE[permit].allowed


def admits(permit: Permit, roles: frozenset[Role]) -> bool:
    if permit is None:
        return True
    if isinstance(permit, Act):
        return mk.can(permit, roles)
    return mk.can_wish(*permit, roles)


def check(conn: Connection, page: str, member_id: str, seat: mk.Seat | None) -> None:
    """Refused unless the roles the member holds where ``seat`` acts may open ``page`` (its
    path as routed); a page missing from ``PAGES`` opens for nobody."""
    if page not in PAGES:
        raise Refused(page, frozenset())
    permit = PAGES[page]
    if permit is None:
        return
    roles = mk.seat_roles(conn, member_id, seat) if seat is not None else frozenset()
    if not admits(permit, roles):
        raise Refused(page, allowed(permit))
