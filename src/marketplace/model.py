"""Marketplace values: orgs, members, wishes (微心愿), claims, offers, and the transition record.

All are frozen msgspec Structs. Coordinates are WGS-84 degrees; distances are whole metres.
Minutes are integers. Times are timezone-aware UTC datetimes.
"""

from __future__ import annotations

import datetime as dt
import enum

import msgspec

from marketplace.lifecycle import ClaimState, Role, WishState

CHINA = dt.timezone(dt.timedelta(hours=8), "CST")
"""Community-local time: days of service are China Standard Time (no daylight saving)."""

DEFAULT_CATEGORIES = (
    "代办跑腿",
    "助老陪护",
    "托幼辅导",
    "家电维修",
    "法律咨询",
    "心理疏导",
    "物资捐赠",
    "文体活动",
)


class OrgKind(enum.StrEnum):
    DISTRICT = "district"  # 区/县
    STREET = "street"  # 街道/镇
    COMMUNITY = "community"  # 社区: the tenant boundary
    COMPOUND = "compound"  # 小区
    GRID = "grid"  # 网格
    BUILDING = "building"  # 楼栋
    UNIT = "unit"  # 驻区/县直单位, paired with communities


ORG_LEVELS = (
    OrgKind.DISTRICT,
    OrgKind.STREET,
    OrgKind.COMMUNITY,
    OrgKind.COMPOUND,
    OrgKind.GRID,
    OrgKind.BUILDING,
)


class WishKind(enum.StrEnum):
    SERVICE = "service"  # needs volunteer time
    GOODS = "goods"  # a donated item


class Urgency(enum.IntEnum):
    LOW = 1
    NORMAL = 2
    HIGH = 3
    URGENT = 4


class KeyHousehold(enum.StrEnum):
    """重点家庭 types: sensitive personal information, stored only with consent."""

    ELDERLY_ALONE = "elderly_alone"  # 独居老人
    DISABLED = "disabled"  # 残疾
    SERIOUS_ILLNESS = "serious_illness"  # 大病
    LOW_INCOME = "low_income"  # 低保
    LEFT_BEHIND_CHILD = "left_behind_child"  # 留守儿童


class Point(msgspec.Struct, frozen=True, kw_only=True):
    lat: float
    lng: float


class Org(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    kind: OrgKind
    name: str
    parent_id: str | None
    community_id: str | None  # the community it belongs to (itself for a community)
    path: str  # "/district/street/community/…/": ancestors by prefix
    created_at: dt.datetime


class Consent(msgspec.Struct, frozen=True, kw_only=True):
    """A separately recorded consent (单独同意) to keep sensitive information."""

    recorded_by: str
    recorded_at: dt.datetime
    purpose: str
    reference: str = ""  # 同意书编号: the signed form's number, when there is one


class Member(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    phone: str | None = None
    home_org_id: str | None = None  # where they live (a grid or building)
    home_unit_id: str | None = None  # in-service party members' unit (在职党员)
    skills: frozenset[str] = frozenset()
    key_household: frozenset[KeyHousehold] = frozenset()
    key_household_consent: Consent | None = None
    public_profile: bool = False  # opted in to the public board / honour roll
    created_at: dt.datetime
    room: str | None = None  # 房号, in the home building
    address: str | None = None  # 住址, in the member's words
    availability: str | None = None  # 可服务时间 (每周六上午)


class RoleGrant(msgspec.Struct, frozen=True, kw_only=True):
    member_id: str
    org_id: str
    role: Role


class Wish(msgspec.Struct, frozen=True, kw_only=True):
    community_id: str
    id: str
    kind: WishKind
    category: str
    title: str
    description: str
    org_id: str  # where: the community or a grid/building in it
    address: str
    location: Point | None
    window_start: dt.datetime
    window_end: dt.datetime
    capacity: int
    estimated_minutes: int
    urgency: Urgency
    skills: frozenset[str]
    beneficiary_id: str
    posted_by: str
    proxy_note: str | None  # 代点单: how the resident's consent was obtained
    offer_id: str | None
    state: WishState
    level: int  # escalation level: 0 community, 1 street, 2 district
    deadline_at: dt.datetime | None
    places_taken: int
    confirmation_code: str
    rating: int | None
    rating_comment: str | None
    created_at: dt.datetime
    published_at: dt.datetime | None
    first_claimed_at: dt.datetime | None
    served_at: dt.datetime | None
    closed_at: dt.datetime | None


class Claim(msgspec.Struct, frozen=True, kw_only=True):
    community_id: str
    id: str
    wish_id: str
    member_id: str | None  # None: a unit's claim whose places are not yet assigned
    unit_id: str | None
    places: int  # 1 for a member; a unit's unassigned places
    parent_id: str | None  # the unit claim a member was assigned from
    state: ClaimState
    checked_in_at: dt.datetime | None
    checked_out_at: dt.datetime | None
    checked_in_offline: bool = False  # 离线报到: the phone's time, sent later
    checked_out_offline: bool = False  # 离线签退
    minutes: int | None
    override_by: str | None  # staff who checked in without the resident's code
    award_id: str | None  # the accrual transfer
    created_at: dt.datetime
    closed_at: dt.datetime | None


class Transition(msgspec.Struct, frozen=True, kw_only=True):
    """One recorded change (留痕): who, when, from, to, why."""

    community_id: str
    subject: str  # "wish" or "claim"
    subject_id: str
    action: str
    from_state: str
    to_state: str
    actor_id: str
    roles: tuple[str, ...]
    reason: str
    at: dt.datetime


class Offer(msgspec.Struct, frozen=True, kw_only=True):
    """A standing mutual-help offer (互助项目), e.g. tutoring Tue/Thu evenings."""

    community_id: str
    id: str
    member_id: str
    category: str
    title: str
    schedule: str
    capacity_per_week: int
    active: bool
    created_at: dt.datetime
