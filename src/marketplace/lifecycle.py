"""Who may do what (状态流转表 and 权限表): the one place the marketplace decides it.

Two kinds of table, both data:

- ``WISH_TABLE`` and ``CLAIM_TABLE`` map ``(state, action)`` to a :class:`Row`: the next state,
  the roles allowed, and the named guards the action must also pass (``GUARDS``: "an owner may
  not claim their own wish", "once a place is taken only the office cancels", …).
- ``ACTS`` maps the actions outside the two state machines (pairing a unit, running the store,
  posting for a resident, …) to the roles allowed.

Roles are org roles held on the subject's place or an ancestor (staff, grid worker, …), a paired
unit's roles, relations to one wish (the beneficiary, the poster, the claimant), or ``system``
for the sweeps. The role sets are defined here once (``OFFICE``, ``CLAIMING``, …).

:func:`decide_wish`, :func:`decide_claim` and :func:`require` are the only places a
:class:`~marketplace.errors.NotAllowed` ("not you": the roles or a guard refuse the actor) or a
:class:`~marketplace.errors.WrongState` ("not now": the table has no such action from this state,
for anyone, e.g. confirming a wish already confirmed) is raised; :func:`can_wish`,
:func:`wish_actions` and :func:`claim_actions` ask the same tables without raising, for pages that
show or hide an action.

A few transitions depend on counts rather than on the action alone (a claim fills the wish only
at capacity; a check-out serves it only when nobody is still serving; a unit's claim is assigned
once its last place is): their next state is ``None`` in the table and
:func:`wish_state_from_claims` or :func:`unit_claim_state` settles it. A wish whose places are all
taken (``claimed``) keeps its claim rows: the table decides who may claim, and the use case then
refuses the count with :class:`~marketplace.errors.CapacityFull`, as it refuses the claim limit.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Literal, NamedTuple, NoReturn, get_args

import msgspec

from marketplace.errors import NotAllowed, WrongState


class Role(enum.StrEnum):
    RESIDENT = "resident"  # 居民
    VOLUNTEER = "volunteer"  # 志愿者
    PARTY_MEMBER = "party_member"  # 党员
    GRID_WORKER = "grid_worker"  # 网格员
    STAFF = "staff"  # 社区工作人员
    UNIT_ADMIN = "unit_admin"  # 单位管理员
    ADMIN = "admin"  # 管理员
    # relations to one wish, not held on an org
    BENEFICIARY = "beneficiary"  # the resident the wish is for
    POSTER = "poster"  # who posted it (the resident, or a grid worker 代点单)
    CLAIMANT = "claimant"  # the member holding the claim
    OFFERER = "offerer"  # the member whose mutual-help offer it is
    RECORD_HOLDER = "record_holder"  # the member an hours record is about (本人)
    SYSTEM = "system"  # background sweeps
    # relations to one matter (吹哨事项), from where the actor's office is
    WHISTLER = "whistler"  # 吹哨方: office of the community that blew the whistle
    RECEIVER = "receiver"  # 报到方: office of the street or district the matter is at (or above)
    HANDLER = "handler"  # 承办单位: the unit or department it was assigned to (转派)


class WishState(enum.StrEnum):
    SUBMITTED = "submitted"  # 待审核
    PUBLISHED = "published"  # 已发布, open for claims
    CLAIMED = "claimed"  # 已认领: every place taken
    IN_SERVICE = "in_service"  # 服务中
    SERVED = "served"  # 待评价
    DISPUTED = "disputed"  # 有异议
    CONFIRMED = "confirmed"  # 已确认
    CLOSED = "closed"  # 已办结
    REJECTED = "rejected"  # 已驳回
    EXPIRED = "expired"  # 已过期
    CANCELLED = "cancelled"  # 已取消


class WishAction(enum.StrEnum):
    VERIFY = "verify"  # 审核通过 (publish)
    REJECT = "reject"
    CANCEL = "cancel"
    CLAIM = "claim"  # 接单: a member takes a place
    CLAIM_FOR_UNIT = "claim_for_unit"  # 单位接单: a paired unit takes places
    DISPATCH = "dispatch"  # 派单: staff assign a member
    WITHDRAW = "withdraw"
    NO_SHOW = "no_show"
    CHECK_IN = "check_in"  # 报到
    CHECK_OUT = "check_out"
    CONFIRM = "confirm"  # 评单
    DISPUTE = "dispute"
    RESOLVE_FOR_VOLUNTEER = "resolve_for_volunteer"
    RESOLVE_AGAINST_VOLUNTEER = "resolve_against_volunteer"
    CLOSE = "close"  # 办结: once the points are posted
    SETTLE = "settle"  # the claims moved the wish (full, freed, serving, served)
    EXPIRE = "expire"
    ESCALATE = "escalate"  # 吹哨: the level rises, the state stays
    ATTACH_PHOTO = "attach_photo"  # 添加照片: the resident's photos of the need; the state stays


class ClaimState(enum.StrEnum):
    ACTIVE = "active"  # 已接单
    CHECKED_IN = "checked_in"  # 已报到
    CHECKED_OUT = "checked_out"  # 已签退
    CONFIRMED = "confirmed"
    WITHDRAWN = "withdrawn"
    NO_SHOW = "no_show"  # 爽约
    VOIDED = "voided"  # a dispute went against the volunteer
    ASSIGNED = "assigned"  # 已分配: a unit's claim whose places are all assigned to its members


class ClaimAction(enum.StrEnum):
    CHECK_IN = "check_in"
    CHECK_OUT = "check_out"
    WITHDRAW = "withdraw"
    NO_SHOW = "no_show"
    CONFIRM = "confirm"
    VOID = "void"
    ASSIGN = "assign"  # a unit admin names a member for the unit's place
    ATTACH_PHOTO = "attach_photo"  # 服务照片: the volunteer's photos at check-out; the state stays


class CorrectionState(enum.StrEnum):
    """A correction request's states (更正申请, 民政部令第67号: the organiser corrects errors a
    volunteer points out)."""

    PENDING = "pending"  # 待处理
    CORRECTED = "corrected"  # 已更正: a reversal and a new entry replaced the record
    REFUSED = "refused"  # 已驳回, with a reason


class CorrectionAction(enum.StrEnum):
    ACCEPT = "accept"  # 更正
    REFUSE = "refuse"  # 驳回


class Act(enum.StrEnum):
    """Actions outside the wish and claim state machines (``ACTS`` says who may take them)."""

    POST_WISH = "post_wish"  # 点单, for oneself
    POST_FOR_RESIDENT = "post_for_resident"  # 代点单
    CHECK_IN_OVERRIDE = "check_in_override"  # 报到 without the resident's code
    CREATE_ROOT = "create_root"  # a district or a unit, when a deployment is set up
    CREATE_ORG = "create_org"  # a place under another
    PAIR_UNIT = "pair_unit"  # 结对共建
    SET_KEY_HOUSEHOLD = "set_key_household"
    SET_COMMUNITY_RULES = "set_community_rules"
    MANAGE_NOTICES = "manage_notices"  # 通知: webhooks, dead letters
    GRANT_OFFICE = "grant_office"  # grant or revoke a staff or admin role
    GRANT_ROLE = "grant_role"  # grant or revoke any other role
    REVOKE_OWN_OFFICE = "revoke_own_office"  # nobody: an office holder cannot lock themself out
    REGISTER = "register"  # one member, or a roster file (花名册导入)
    EDIT_MEMBER = "edit_member"  # a member's grid, building, room, home unit and roles
    LIST_MEMBERS = "list_members"
    ANONYMISE_OTHER = "anonymise_other"
    FIND_RESIDENTS = "find_residents"
    UNIT_MEMBERS = "unit_members"
    PUBLISH_OFFER = "publish_offer"
    SET_OFFER_ACTIVE = "set_offer_active"
    REQUEST_FROM_OFFER = "request_from_offer"
    RANK_CANDIDATES = "rank_candidates"  # 派单候选人
    SEE_ALL_CLAIMS = "see_all_claims"  # every claim on a wish (else one's own)
    SEE_ESCALATIONS = "see_escalations"  # the open wishes at a street's or district's level
    SEE_STATISTICS = "see_statistics"  # 统计: an area's figures and 三率
    ISSUE_SIGN_IN_CODE = "issue_sign_in_code"  # 发放验证码: a one-time code to set a password
    ISSUE_OFFICE_SIGN_IN_CODE = "issue_office_sign_in_code"  # … for a staff member or an admin
    SEE_UNIT_REPORT = "see_unit_report"  # 单位报表: a unit's own 三率, figures and 双报到 report
    ISSUE_PARTNER_KEY = "issue_partner_key"  # 对接平台: a partner system's key (Open311 intake)
    RECORD_DUTY = "record_duty"  # 双报到登记: what an in-service party member did (per kind: duty)
    FIND_WISHES = "find_wishes"  # 找心愿: browse the community's wishes to take or give places
    SET_POLICY = "set_policy"
    RUN_STORE = "run_store"  # 上架, 补货, 下架, 核销, the orders of everyone
    ADJUST = "adjust"  # 调整, 冲正, hours of offline events
    SEE_WALLETS = "see_wallets"  # anyone's wallet, statement, hours and transfers
    AUDIT_COMMUNITY = "audit_community"
    AUDIT = "audit"  # every community (an admin of a district, a root org)
    BLOW_WHISTLE = "blow_whistle"  # 吹哨: a community hands a wish up to its street
    TAKE_UP = "take_up"  # 督办受理: a level takes up a wish the deadline sweep escalated to it
    SEE_MATTERS = "see_matters"  # 吹哨事项: the matters an org must act on (its queue)
    SEE_EVALUATION = "see_evaluation"  # 季度考评: the quarter's figures of each handler
    LOAD_CALENDAR = "load_calendar"  # 工作日历: load a year's official working days
    REQUEST_CORRECTION = "request_correction"  # 申请更正 one's own hours record
    SEE_CORRECTIONS = "see_corrections"  # the community's correction requests (待处理 queue)
    EXPORT = "export"  # 导出: rosters, hours, points, wishes, 三率, records of an area
    RECORD_CONSENT = "record_consent"  # a member's signed consent, recorded by the office
    ISSUE_CERTIFICATE = "issue_certificate"  # 出具志愿服务记录证明 for a member (they may ask too)
    SET_ISSUER = "set_issuer"  # the certificate's issuer: person in charge, handler, contact
    SET_SEAL = "set_seal"  # the seal's image printed on certificates


R = Role
W = WishState
C = ClaimState

OFFICE = frozenset({R.STAFF, R.ADMIN})
"""社区工作人员 and admins (on the place or above)."""
CLAIMING = frozenset({R.VOLUNTEER, R.PARTY_MEMBER})
"""Who takes a place for themself (接单) and may be dispatched (派单)."""
UNIT = frozenset({R.UNIT_ADMIN})
"""Who acts for a paired unit (单位接单, 党员认领)."""
OrgRole = Literal[
    "resident", "volunteer", "party_member", "grid_worker", "staff", "unit_admin", "admin"
]
"""A role held on an org, as a request names it (the rest are relations to one wish)."""
ORG_ROLES = frozenset(Role(name) for name in get_args(OrgRole))
"""The roles a member may be granted on an org."""
OWNER = frozenset({R.BENEFICIARY, R.POSTER})
"""The resident a wish is for, and whoever posted it for them."""
HOLDS_CODE = frozenset({R.BENEFICIARY}) | OFFICE
"""Who holds a wish's confirmation code: the resident, who reads it out at the door, and the
office; not whoever posted it for her (a grid worker's 代点单), nor anyone serving."""
PROXY = frozenset({R.GRID_WORKER, R.STAFF, R.ADMIN})
"""Who posts a wish for a resident who cannot (代点单)."""
MEMBERS = frozenset(
    {R.RESIDENT, R.VOLUNTEER, R.PARTY_MEMBER, R.GRID_WORKER, R.STAFF, R.UNIT_ADMIN, R.ADMIN}
)
"""Every role held on an org (a member of the place in any capacity)."""
SYSTEM = frozenset({R.SYSTEM})

OPEN_WISH_STATES = frozenset({W.SUBMITTED, W.PUBLISHED, W.CLAIMED, W.IN_SERVICE})
ESCALATING_WISH_STATES = OPEN_WISH_STATES | {W.DISPUTED}
"""Wishes someone must act on by a deadline, escalated (吹哨) when it passes: the open ones, and a
dispute staff have not resolved."""
ACTIVE_CLAIM_STATES = frozenset({C.ACTIVE, C.CHECKED_IN, C.CHECKED_OUT})
"""Claims that hold a place on their wish."""
SERVING_CLAIM_STATES = frozenset({C.ACTIVE, C.CHECKED_IN})
"""Claims whose volunteer still has to reach the resident (and may see their contact)."""
PHOTO_WISH_STATES = frozenset(
    {W.SUBMITTED, W.PUBLISHED, W.CLAIMED, W.IN_SERVICE, W.SERVED, W.DISPUTED, W.CONFIRMED}
)
"""Where the resident may still add photos to a wish (添加照片): every state but the finished ones
(closed, rejected, expired, cancelled)."""


class Facts(msgspec.Struct, frozen=True, kw_only=True):
    """What the guards look at besides roles, loaded with the subject (defaults: nothing
    stands in the way)."""

    places_taken: int = 0  # places held on the wish
    window_over: bool = False  # the wish's time window has ended
    unit_admin: bool = True  # the actor administers the unit the action names
    offer_active: bool = True  # the mutual-help offer takes requests
    level: int = 1  # a matter's level (1 street, 2 district)
    rating_open: bool = True  # a done matter's 5 working days to rate have not passed


TOP_LEVEL = 2
"""A matter's highest level: the district (1 is the street)."""
NOTHING = Facts()
"""No fact stands in the way (the table's answer on roles alone)."""
Guard = Callable[[frozenset[Role], Facts], bool]


class Check(NamedTuple):
    """A named guard: ``passes(roles, facts)``, and the rule in words."""

    passes: Guard
    rule: str


GUARDS: dict[str, Check] = {
    "not_own_wish": Check(
        lambda roles, facts: not roles & OWNER, "an owner may not take their own wish"
    ),
    "office_once_taken": Check(
        lambda roles, facts: facts.places_taken == 0 or bool(roles & OFFICE),
        "once a place is taken only the office cancels",
    ),
    "window_open": Check(
        lambda roles, facts: not facts.window_over, "the wish's time window has ended"
    ),
    "unit_admin": Check(
        lambda roles, facts: facts.unit_admin, "only the unit's own admin acts for it"
    ),
    "offer_active": Check(
        lambda roles, facts: facts.offer_active, "the offer is paused and takes no requests"
    ),
    "below_top": Check(
        lambda roles, facts: facts.level < TOP_LEVEL, "the district is the highest level"
    ),
    "rating_window": Check(
        lambda roles, facts: facts.rating_open,
        "a matter is rated within 5 working days after it was done",
    ),
    "not_own_record": Check(
        lambda roles, facts: R.RECORD_HOLDER not in roles,
        "nobody decides a correction of their own record",
    ),
}


class Row(NamedTuple):
    """One row of a lifecycle table: the next state (None: the claim counts decide), the roles
    allowed, and the guards (names in ``GUARDS``) the action must pass too."""

    next: WishState | ClaimState | MatterState | CorrectionState | None
    allowed: frozenset[Role]
    guards: tuple[str, ...] = ()


WISH_TABLE: dict[tuple[WishState, WishAction], Row] = {
    (W.SUBMITTED, WishAction.VERIFY): Row(W.PUBLISHED, OFFICE),
    (W.SUBMITTED, WishAction.REJECT): Row(W.REJECTED, OFFICE),
    (W.SUBMITTED, WishAction.CANCEL): Row(W.CANCELLED, OWNER | OFFICE),
    (W.PUBLISHED, WishAction.CLAIM): Row(None, CLAIMING, ("not_own_wish", "window_open")),
    (W.PUBLISHED, WishAction.CLAIM_FOR_UNIT): Row(
        None, UNIT, ("not_own_wish", "unit_admin", "window_open")
    ),
    (W.PUBLISHED, WishAction.DISPATCH): Row(None, OFFICE, ("window_open",)),
    (W.PUBLISHED, WishAction.WITHDRAW): Row(None, OFFICE | {R.CLAIMANT}),
    (W.PUBLISHED, WishAction.NO_SHOW): Row(None, OFFICE | SYSTEM),
    (W.PUBLISHED, WishAction.CHECK_IN): Row(W.IN_SERVICE, OFFICE | {R.CLAIMANT}),
    (W.PUBLISHED, WishAction.CANCEL): Row(W.CANCELLED, OWNER | OFFICE, ("office_once_taken",)),
    (W.PUBLISHED, WishAction.EXPIRE): Row(W.EXPIRED, SYSTEM),
    (W.CLAIMED, WishAction.CLAIM): Row(None, CLAIMING, ("not_own_wish", "window_open")),
    (W.CLAIMED, WishAction.CLAIM_FOR_UNIT): Row(
        None, UNIT, ("not_own_wish", "unit_admin", "window_open")
    ),
    (W.CLAIMED, WishAction.DISPATCH): Row(None, OFFICE, ("window_open",)),
    (W.CLAIMED, WishAction.WITHDRAW): Row(None, OFFICE | {R.CLAIMANT}),
    (W.CLAIMED, WishAction.NO_SHOW): Row(None, OFFICE | SYSTEM),
    (W.CLAIMED, WishAction.CHECK_IN): Row(W.IN_SERVICE, OFFICE | {R.CLAIMANT}),
    (W.CLAIMED, WishAction.CANCEL): Row(W.CANCELLED, OFFICE),
    # Places left free stay open once service has begun: a wish in service takes claims until it
    # is served (nobody left to serve or to come) or its window ends; the state stays.
    (W.IN_SERVICE, WishAction.CLAIM): Row(W.IN_SERVICE, CLAIMING, ("not_own_wish", "window_open")),
    (W.IN_SERVICE, WishAction.CLAIM_FOR_UNIT): Row(
        W.IN_SERVICE, UNIT, ("not_own_wish", "unit_admin", "window_open")
    ),
    (W.IN_SERVICE, WishAction.DISPATCH): Row(W.IN_SERVICE, OFFICE, ("window_open",)),
    (W.IN_SERVICE, WishAction.CHECK_IN): Row(W.IN_SERVICE, OFFICE | {R.CLAIMANT}),
    (W.IN_SERVICE, WishAction.CHECK_OUT): Row(None, OFFICE | {R.CLAIMANT}),
    (W.IN_SERVICE, WishAction.WITHDRAW): Row(W.IN_SERVICE, OFFICE | {R.CLAIMANT}),
    (W.IN_SERVICE, WishAction.NO_SHOW): Row(W.IN_SERVICE, OFFICE | SYSTEM),
    (W.SERVED, WishAction.CONFIRM): Row(W.CONFIRMED, OWNER | OFFICE | SYSTEM),
    (W.SERVED, WishAction.DISPUTE): Row(W.DISPUTED, OWNER),
    (W.DISPUTED, WishAction.RESOLVE_FOR_VOLUNTEER): Row(W.CONFIRMED, OFFICE),
    (W.CONFIRMED, WishAction.CLOSE): Row(W.CLOSED, SYSTEM),
    (W.DISPUTED, WishAction.RESOLVE_AGAINST_VOLUNTEER): Row(W.CLOSED, OFFICE),
    **{
        (state, WishAction.ESCALATE): Row(state, OFFICE | SYSTEM)
        for state in ESCALATING_WISH_STATES
    },
    **{
        (state, WishAction.SETTLE): Row(None, SYSTEM)
        for state in (W.PUBLISHED, W.CLAIMED, W.IN_SERVICE)
    },
    **{(state, WishAction.ATTACH_PHOTO): Row(state, OWNER) for state in PHOTO_WISH_STATES},
}
"""(state, action) → Row(next state or None when the claim counts decide, roles, guards)."""

CLAIMABLE_WISH_STATES = frozenset(
    state for (state, action) in WISH_TABLE if action is WishAction.CLAIM
) - {W.CLAIMED}
"""Where a free place may be taken (published, and in service while its window lasts), for the
lists and the matching that offer wishes to claim: the states with a claim row, less ``claimed``,
whose places are all taken by definition (its row is there so that a claim on a full wish is
told ``capacity_full``)."""

CLAIM_TABLE: dict[tuple[ClaimState, ClaimAction], Row] = {
    (C.ACTIVE, ClaimAction.CHECK_IN): Row(C.CHECKED_IN, OFFICE | {R.CLAIMANT}),
    (C.ACTIVE, ClaimAction.WITHDRAW): Row(C.WITHDRAWN, OFFICE | {R.CLAIMANT}),
    (C.ACTIVE, ClaimAction.NO_SHOW): Row(C.NO_SHOW, OFFICE | SYSTEM),
    (C.ACTIVE, ClaimAction.ASSIGN): Row(None, UNIT | OFFICE),
    (C.CHECKED_IN, ClaimAction.CHECK_OUT): Row(C.CHECKED_OUT, OFFICE | {R.CLAIMANT}),
    # 服务照片: the volunteer's photos of the work, taken before signing out (the page sends them
    # with the check-out); the state stays
    (C.CHECKED_IN, ClaimAction.ATTACH_PHOTO): Row(C.CHECKED_IN, frozenset({R.CLAIMANT})),
    (C.CHECKED_OUT, ClaimAction.CONFIRM): Row(C.CONFIRMED, OWNER | OFFICE | SYSTEM),
    (C.CHECKED_OUT, ClaimAction.VOID): Row(C.VOIDED, OFFICE),
}
"""(state, action) → Row(next state or None when the places left decide, roles, guards)."""

CORRECTION_TABLE: dict[tuple[CorrectionState, CorrectionAction], Row] = {
    (CorrectionState.PENDING, CorrectionAction.ACCEPT): Row(
        CorrectionState.CORRECTED, OFFICE, ("not_own_record",)
    ),
    (CorrectionState.PENDING, CorrectionAction.REFUSE): Row(
        CorrectionState.REFUSED, OFFICE, ("not_own_record",)
    ),
}
"""(state, action) → Row(next state, roles, guards): who decides a correction request (the
community's office, on the community or above, never on their own record), once; a decided
request takes no second decision."""

ACTS: dict[Act, frozenset[Role]] = {
    Act.POST_WISH: MEMBERS,
    Act.POST_FOR_RESIDENT: PROXY,
    Act.CHECK_IN_OVERRIDE: OFFICE,
    Act.CREATE_ROOT: SYSTEM,
    Act.CREATE_ORG: frozenset({R.ADMIN}) | SYSTEM,
    Act.PAIR_UNIT: OFFICE | SYSTEM,
    Act.SET_KEY_HOUSEHOLD: OFFICE | SYSTEM,
    Act.SET_COMMUNITY_RULES: OFFICE | SYSTEM,
    Act.MANAGE_NOTICES: OFFICE | SYSTEM,
    Act.GRANT_OFFICE: frozenset({R.ADMIN}) | SYSTEM,
    Act.GRANT_ROLE: OFFICE | SYSTEM,
    Act.REVOKE_OWN_OFFICE: frozenset(),
    Act.REGISTER: OFFICE | SYSTEM,
    Act.EDIT_MEMBER: OFFICE | SYSTEM,
    Act.LIST_MEMBERS: OFFICE | SYSTEM,
    Act.ANONYMISE_OTHER: frozenset({R.ADMIN}) | SYSTEM,
    Act.FIND_RESIDENTS: PROXY | SYSTEM,
    Act.UNIT_MEMBERS: UNIT | OFFICE | SYSTEM,
    Act.PUBLISH_OFFER: CLAIMING,
    Act.SET_OFFER_ACTIVE: OFFICE | {R.OFFERER},
    Act.REQUEST_FROM_OFFER: MEMBERS,
    Act.RANK_CANDIDATES: OFFICE,
    Act.SEE_ALL_CLAIMS: OFFICE | OWNER | UNIT,
    Act.SEE_ESCALATIONS: OFFICE,
    Act.SEE_STATISTICS: OFFICE | SYSTEM,
    Act.ISSUE_SIGN_IN_CODE: OFFICE | SYSTEM,
    Act.ISSUE_OFFICE_SIGN_IN_CODE: frozenset({R.ADMIN}) | SYSTEM,  # as granting office
    Act.SEE_UNIT_REPORT: UNIT | SYSTEM,
    Act.ISSUE_PARTNER_KEY: frozenset({R.ADMIN}) | SYSTEM,
    Act.RECORD_DUTY: OFFICE | frozenset({R.GRID_WORKER}) | SYSTEM,
    Act.FIND_WISHES: CLAIMING | UNIT | OFFICE,
    Act.SET_POLICY: OFFICE,
    Act.RUN_STORE: OFFICE,
    Act.ADJUST: OFFICE,
    Act.SEE_WALLETS: OFFICE,
    Act.AUDIT_COMMUNITY: OFFICE,
    Act.EXPORT: OFFICE | SYSTEM,
    Act.RECORD_CONSENT: OFFICE | SYSTEM,
    Act.AUDIT: frozenset({R.ADMIN}),
    Act.BLOW_WHISTLE: frozenset({R.WHISTLER}),
    Act.TAKE_UP: frozenset({R.RECEIVER}),
    Act.SEE_MATTERS: OFFICE | UNIT,
    Act.SEE_EVALUATION: OFFICE,
    Act.LOAD_CALENDAR: frozenset({R.ADMIN}) | SYSTEM,
    Act.REQUEST_CORRECTION: frozenset({R.RECORD_HOLDER}),
    Act.SEE_CORRECTIONS: OFFICE,
    Act.ISSUE_CERTIFICATE: OFFICE | SYSTEM,
    Act.SET_ISSUER: OFFICE,
    Act.SET_SEAL: frozenset({R.ADMIN}),
}
"""Act → the roles that may take it (on the org it concerns, or above)."""

ACT_GUARDS: dict[Act, tuple[str, ...]] = {Act.REQUEST_FROM_OFFER: ("offer_active",)}
"""The guards an act must pass too."""


def decide_wish(
    state: WishState, action: WishAction, roles: frozenset[Role], facts: Facts = NOTHING
) -> WishState | None:
    """The next state (None: the claim counts decide); NotAllowed naming what is missing, or
    WrongState when the table has no such action from this state."""
    row = WISH_TABLE.get((state, action))
    return _decide(row, "wish", action.value, state.value, roles, facts)  # type: ignore[return-value]


def decide_claim(
    state: ClaimState, action: ClaimAction, roles: frozenset[Role], facts: Facts = NOTHING
) -> ClaimState | None:
    """The next state (None: a unit claim's places left decide, :func:`unit_claim_state`);
    NotAllowed naming what is missing, or WrongState when the table has no such action from this
    state."""
    row = CLAIM_TABLE.get((state, action))
    return _decide(row, "claim", action.value, state.value, roles, facts)  # type: ignore[return-value]


def decide_correction(
    state: CorrectionState, action: CorrectionAction, roles: frozenset[Role]
) -> CorrectionState:
    """The request's next state; NotAllowed (not office) or WrongState (decided already)."""
    row = CORRECTION_TABLE.get((state, action))
    return _decide(row, "correction", action.value, state.value, roles, NOTHING)  # type: ignore[return-value]


def can_correct(state: CorrectionState, action: CorrectionAction, roles: frozenset[Role]) -> bool:
    """Whether the table lets these roles decide the request now (what a page may offer)."""
    row = CORRECTION_TABLE.get((state, action))
    return row is not None and _passes(row, roles, NOTHING) is None


def require(
    act: Act, roles: frozenset[Role], *, where: str = "org", facts: Facts = NOTHING
) -> frozenset[Role]:
    """The roles, when they may take ``act``; else NotAllowed (``where``: what it concerns)."""
    row = Row(None, ACTS[act], ACT_GUARDS.get(act, ()))
    _decide(row, where, act.value, where, roles, facts)
    return roles


def require_roles(
    action: str, roles: frozenset[Role], allowed: frozenset[Role], *, where: str = "org"
) -> frozenset[Role]:
    """The roles, when one of them is ``allowed`` by a table kept beside its use case (the kinds
    of 双报到 activity, ``marketplace.duty.DUTIES``); else NotAllowed."""
    _decide(Row(None, allowed), where, action, where, roles, NOTHING)
    return roles


def stale(action: str, state: str, *, subject: str = "wish") -> NoReturn:
    """Refuse an action whose conditional write found the stored state moved on meanwhile
    (someone else acted first): WrongState, from the state it is in now."""
    raise WrongState(subject, action, state)


def can(act: Act, roles: frozenset[Role], facts: Facts = NOTHING) -> bool:
    """Whether the roles may take ``act`` (what a page may offer)."""
    return _passes(Row(None, ACTS[act], ACT_GUARDS.get(act, ())), roles, facts) is None


def can_wish(
    state: WishState, action: WishAction, roles: frozenset[Role], facts: Facts = NOTHING
) -> bool:
    """Whether the table lets these roles take this action now (what a page may offer)."""
    row = WISH_TABLE.get((state, action))
    return row is not None and _passes(row, roles, facts) is None


def wish_actions(
    state: WishState, roles: frozenset[Role], facts: Facts = NOTHING
) -> frozenset[WishAction]:
    """The actions the table lets these roles take on a wish in this state (what a page may
    offer; the operation itself still decides, with the counts and the stored state)."""
    return frozenset(
        action
        for (at, action), row in WISH_TABLE.items()
        if at is state and action is not WishAction.SETTLE and _passes(row, roles, facts) is None
    )


def claim_actions(
    state: ClaimState, roles: frozenset[Role], facts: Facts = NOTHING
) -> frozenset[ClaimAction]:
    """The actions the table lets these roles take on a claim in this state."""
    return frozenset(
        action
        for (at, action), row in CLAIM_TABLE.items()
        if at is state and _passes(row, roles, facts) is None
    )


def claim_action(state: ClaimState, target: ClaimState) -> str:
    """The table's verb for a claim moving from ``state`` to ``target`` (for the record)."""
    for (from_state, action), row in CLAIM_TABLE.items():
        if from_state is state and row.next is target:
            return action.value
    return target.value


def wish_state_from_claims(
    current: WishState, *, capacity: int, places_taken: int, serving: int, served: int
) -> WishState:
    """Where a wish stands after its claims changed.

    ``places_taken``: places held by active, checked-in or checked-out claims (a unit's
    unassigned places included); ``serving``: claims checked in and not out; ``served``: claims
    checked out.
    """
    if current in (W.PUBLISHED, W.CLAIMED):
        return W.CLAIMED if places_taken >= capacity else W.PUBLISHED
    if current is W.IN_SERVICE:
        still_to_come = places_taken - serving - served
        if serving == 0 and still_to_come == 0:
            return W.SERVED if served else W.PUBLISHED
        return W.IN_SERVICE
    return current


def unit_claim_state(places_left: int) -> ClaimState:
    """Where a unit's claim stands after one of its places is assigned to a member: still active
    while it holds places, assigned (its part done, no longer an open claim) once it holds none."""
    return C.ACTIVE if places_left > 0 else C.ASSIGNED


def _passes(row: Row, roles: frozenset[Role], facts: Facts) -> str | None:
    """None when the roles and guards admit the action, else what refuses it ("roles" or the
    failing guard's name)."""
    if not roles & row.allowed:
        return "roles"
    for name in row.guards:
        if not GUARDS[name].passes(roles, facts):
            return name
    return None


def _decide(
    row: Row | None, subject: str, action: str, state: str, roles: frozenset[Role], facts: Facts
) -> WishState | ClaimState | MatterState | CorrectionState | None:
    if row is None:
        raise WrongState(subject, action, state)
    refused = _passes(row, roles, facts)
    if refused == "roles":
        raise NotAllowed(action, state, frozenset(roles), frozenset(row.allowed))
    if refused is not None:
        check = GUARDS[refused]
        raise NotAllowed(
            action, state, frozenset(roles), frozenset(row.allowed), guard=refused, why=check.rule
        )
    return row.next


# Matters (吹哨事项): a community blows the whistle on a wish beyond its powers; the street (then
# the district) takes it in (受理) and sorts it into one of the three lists (三单), assigns it to a
# unit or department (转派), answers it, or sends it back; the community rates who handled it.


class MatterState(enum.StrEnum):
    RAISED = "raised"  # 待受理: at the street or district, not yet taken in
    ACCEPTED = "accepted"  # 办理中: taken in and sorted (即办 or 阶段性)
    ASSIGNED = "assigned"  # 已转派: a unit or department handles it, with a deadline
    DONE = "done"  # 已办结: answered, or explained (谅解); the community may rate it
    RETURNED = "returned"  # 已退回: sent back to the community, with the reason
    RATED = "rated"  # 已评价


class MatterAction(enum.StrEnum):
    ACCEPT = "accept"  # 受理 and sort into 即办 or 阶段性
    EXPLAIN = "explain"  # 谅解: cannot be done now; the explanation the resident gets
    ASSIGN = "assign_unit"  # 转派: to a unit or department, with a deadline in working days
    ANSWER = "answer"  # 答复办结
    SEND_BACK = "send_back"  # 退回, with the reason
    ESCALATE = "escalate"  # 上报: the street hands it up to the district
    NOTE = "note"  # 进展: a progress note, or a milestone done; the state stays
    RATE = "rate"  # 评价: the community rates who handled it


class MatterKind(enum.StrEnum):
    """三单: the list the accepting level sorts a matter into."""

    IMMEDIATE = "immediate"  # 即办清单
    STAGED = "staged"  # 阶段性事项清单: milestones with dates
    UNDERSTOOD = "understood"  # 谅解清单: cannot be done now, explained to the resident


M = MatterState
WHISTLER = frozenset({R.WHISTLER})
RECEIVER = frozenset({R.RECEIVER})
HANDLER = frozenset({R.HANDLER})
OPEN_MATTER_STATES = frozenset({M.RAISED, M.ACCEPTED, M.ASSIGNED})
"""Matters someone must still act on (one per wish at a time)."""

MATTER_TABLE: dict[tuple[MatterState, MatterAction], Row] = {
    (M.RAISED, MatterAction.ACCEPT): Row(M.ACCEPTED, RECEIVER),
    (M.RAISED, MatterAction.EXPLAIN): Row(M.DONE, RECEIVER),
    (M.RAISED, MatterAction.SEND_BACK): Row(M.RETURNED, RECEIVER),
    (M.RAISED, MatterAction.ESCALATE): Row(M.RAISED, RECEIVER, ("below_top",)),
    (M.ACCEPTED, MatterAction.EXPLAIN): Row(M.DONE, RECEIVER),
    (M.ACCEPTED, MatterAction.ASSIGN): Row(M.ASSIGNED, RECEIVER),
    (M.ACCEPTED, MatterAction.ANSWER): Row(M.DONE, RECEIVER),
    (M.ACCEPTED, MatterAction.ESCALATE): Row(M.RAISED, RECEIVER, ("below_top",)),
    (M.ACCEPTED, MatterAction.NOTE): Row(M.ACCEPTED, RECEIVER),
    (M.ASSIGNED, MatterAction.ANSWER): Row(M.DONE, HANDLER | RECEIVER),
    (M.ASSIGNED, MatterAction.NOTE): Row(M.ASSIGNED, HANDLER | RECEIVER),
    # the unit hands it back to the level that assigned it (not its business, say)
    (M.ASSIGNED, MatterAction.SEND_BACK): Row(M.ACCEPTED, HANDLER),
    (M.DONE, MatterAction.RATE): Row(M.RATED, WHISTLER, ("rating_window",)),
}
"""(state, action) → Row(next state, roles, guards) of a matter (吹哨事项)."""


def decide_matter(
    state: MatterState, action: MatterAction, roles: frozenset[Role], facts: Facts = NOTHING
) -> MatterState:
    """The next state; NotAllowed naming what is missing, or WrongState when the table has no
    such action from this state."""
    row = MATTER_TABLE.get((state, action))
    return _decide(row, "matter", action.value, state.value, roles, facts)  # type: ignore[return-value]


def matter_actions(
    state: MatterState, roles: frozenset[Role], facts: Facts = NOTHING
) -> frozenset[MatterAction]:
    """The actions the table lets these roles take on a matter in this state (what a page may
    offer)."""
    return frozenset(
        action
        for (at, action), row in MATTER_TABLE.items()
        if at is state and _passes(row, roles, facts) is None
    )
