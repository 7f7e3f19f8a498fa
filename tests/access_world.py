"""Objects for the access tests: every kind of object, at the stage an endpoint acts on, owned
by each member, by another member of c1, and by someone of c2 (another tenant).

The service test world (service_world) gets a second tenant's people (a resident and staff of
c2 月亮社区), a second unit (u2, paired with both communities, with its admin and a party member)
and an outside district (d2, with its admin). Objects are made through the libraries' public
calls, as their users would make them, in the past of the app's clock: a wish's window opened
two hours ago, so check-in, check-out and confirmation over HTTP happen now.
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

import marketplace as mk
import service_world as sw
from marketplace import OrgKind, Role, WishKind
from marketplace.schema import metadata as marketplace_tables
from points.schema import metadata as points_tables
from service import auth

C1, C2 = "c1", "c2"
PLACE = {C1: "g1", C2: "c2"}  # where wishes are placed
OFFICE = {C1: "staff", C2: "moon-staff"}  # who verifies, adjusts and stocks the store
CLAIMANT = {C1: "vol2", C2: "outsider"}  # who serves the wishes staged past "published"
RESIDENT = {C1: "res2", C2: "moon-res"}  # whose wishes a claim object is on
ADDRESS = {C1: "幸福路1号3栋502室", C2: "月亮路9号2栋301室"}
UNIT_ADMIN = {"u1": "uadmin", "u2": "u2admin"}
UNIT_MEMBER = {"u1": "party", "u2": "party2"}
NEWCOMERS = {  # member → (org, role, home org, home unit, name)
    "moon-res": ("c2", Role.RESIDENT, "c2", None, "月亮居民"),
    "moon-staff": ("c2", Role.STAFF, None, None, "月亮社工"),
    "u2admin": ("u2", Role.UNIT_ADMIN, None, None, "税务局管理员"),
    "party2": ("u2", Role.PARTY_MEMBER, None, "u2", "税务局党员"),
    "admin2": ("d2", Role.ADMIN, None, None, "平安区管理员"),
}
CATEGORY = "助老陪护"
WISH_STAGES = ("submitted", "published", "read", "open", "served", "disputed")
CLAIM_STAGES = ("active", "checked_in", "unit")


class Obj(NamedTuple):
    """A staged object, as a request addresses it."""

    community: str
    params: dict[str, str]  # path parameters
    code: str = ""  # the wish's confirmation code (check-in)
    member: str = ""  # the member a request body names (dispatch, assign)
    ids: tuple[str, ...] = ()  # ids of what was made (what another tenant must never see)


def extend(tx: Connection, now: dt.datetime) -> None:
    """The second tenant's people, the second unit and the outside district."""
    sys = mk.SYSTEM
    mk.create_org(tx, sys, id="d2", kind=OrgKind.DISTRICT, name="平安区", now=now)
    for n, (member, (org, role, home, unit, name)) in enumerate(NEWCOMERS.items(), start=1):
        mk.add_member(tx, id=member, name=name, home_org_id=home, home_unit_id=unit, now=now)
        mk.grant_role(tx, sys, member, org, role, now=now)
        auth.set_credentials(tx, member, f"137{n:08d}", sw.password_hash())
    mk.pair_unit(tx, "staff", "u2", C1, now=now)
    mk.pair_unit(tx, "moon-staff", "u2", C2, now=now)
    for community in (C1, C2):  # room for the many claims the tests stage
        rules = mk.CommunityRules(claim_limit=100)
        mk.set_community_rules(tx, OFFICE[community], community, rules, now=now)


class Stager:
    """Makes objects in one transaction, at ``start`` (three hours before the app's "now")."""

    def __init__(self, tx: Connection, now: dt.datetime) -> None:
        self.tx = tx
        self.now = now
        self.start = now - dt.timedelta(hours=3)
        self.serial = itertools.count(1)
        self.items: dict[str, str] = {}

    def _id(self, community: str, what: str) -> str:
        return f"{community}-{what}-{next(self.serial)}"

    def wish(self, owner: str, community: str, stage: str, capacity: int = 1) -> Obj:
        """A wish ``owner`` posted for themself, brought to ``stage`` (see WISH_STAGES)."""
        t = self.start
        capacity = 2 if stage == "read" else capacity
        wish = mk.post_wish(
            self.tx,
            owner,
            community_id=community,
            kind=WishKind.SERVICE,
            category=CATEGORY,
            title="陪老人去医院",
            description="周二上午复诊",
            org_id=PLACE[community],
            address=ADDRESS[community],
            window_start=t + dt.timedelta(hours=1),
            window_end=t + dt.timedelta(hours=4),
            estimated_minutes=60,
            capacity=capacity,
            id=self._id(community, "wish"),
            now=t,
        )
        ids = [wish.id]
        if stage != "submitted":
            mk.verify(self.tx, OFFICE[community], community, wish.id, now=t)
        if stage in ("read", "served", "disputed"):
            claimant = CLAIMANT[community]
            made = mk.claim(self.tx, claimant, community, wish.id, now=t)
            ids.append(made.id)
            if stage != "read":
                code = wish.confirmation_code
                at = t + dt.timedelta(hours=1)
                mk.check_in(self.tx, claimant, community, made.id, code=code, now=at)
                at += dt.timedelta(minutes=90)
                mk.check_out(self.tx, claimant, community, made.id, now=at)
        if stage == "disputed":
            at = t + dt.timedelta(hours=2)
            mk.dispute(self.tx, owner, community, wish.id, reason="没有陪到医院", now=at)
        member = "vol3" if community == C1 else "outsider"  # whom staff dispatch
        params = {"community_id": community, "wish_id": wish.id}
        return Obj(community, params, wish.confirmation_code, member, tuple(ids))

    def claim(self, owner: str, community: str, stage: str) -> Obj:
        """``owner``'s claim (a unit's when ``owner`` administers one) at ``stage``."""
        t = self.start
        places = 2 if stage == "unit" else 1
        wish = self.wish(RESIDENT[community], community, "open", capacity=places)
        wish_id = wish.params["wish_id"]
        unit = next((u for u, admin in UNIT_ADMIN.items() if admin == owner), None)
        if unit is not None:
            made = mk.claim_for_unit(self.tx, owner, community, wish_id, unit, places=places, now=t)
            member = UNIT_MEMBER[unit]
        else:
            made = mk.claim(self.tx, owner, community, wish_id, now=t)
            member = UNIT_MEMBER["u2"]  # what a body naming a unit's member would name
            if stage == "checked_in":
                at = t + dt.timedelta(hours=1)
                mk.check_in(self.tx, owner, community, made.id, code=wish.code, now=at)
        params = {"community_id": community, "claim_id": made.id}
        return Obj(community, params, wish.code, member, (*wish.ids, made.id))

    def transfer(self, owner: str, community: str) -> Obj:
        """Points an office adjustment gave ``owner``."""
        made = mk.wallet.adjust(
            self.tx,
            OFFICE[community],
            community,
            owner,
            100,
            reason="志愿活动补录",
            id=self._id(community, "transfer"),
            now=self.start,
        )
        params = {"community_id": community, "transfer_id": made.id}
        return Obj(community, params, ids=(made.id,))

    def item(self, community: str) -> Obj:
        made = mk.wallet.add_item(
            self.tx, OFFICE[community], community, name="大米", cost=10, stock=100, now=self.start
        )
        params = {"community_id": community, "item_id": made.id}
        return Obj(community, params, ids=(made.id,))

    def order(self, owner: str, community: str) -> Obj:
        """An open order of ``owner`` (reserved, neither fulfilled nor cancelled)."""
        points = self.transfer(owner, community)
        if community not in self.items:
            self.items[community] = (self.item(community)).params["item_id"]
        made = mk.wallet.redeem(
            self.tx,
            owner,
            community,
            self.items[community],
            id=self._id(community, "order"),
            now=self.start,
        )
        params = {"community_id": community, "order_id": made.id}
        return Obj(community, params, ids=(*points.ids, made.id))

    def offer(self, owner: str, community: str) -> Obj:
        made = mk.publish_offer(
            self.tx,
            owner,
            community,
            category=CATEGORY,
            title="周末陪诊",
            schedule="周六上午",
            capacity_per_week=100,
            now=self.start,
        )
        params = {"community_id": community, "offer_id": made.id}
        return Obj(community, params, ids=(made.id,))


def rows(tx: Connection) -> dict[str, list[tuple[object, ...]]]:
    """Every row of the libraries' tables, sorted: what a refused request must leave as it was."""
    found = {}
    for table in (*marketplace_tables.sorted_tables, *points_tables.sorted_tables):
        got = (tx.execute(sa.select(table))).all()
        found[table.name] = sorted((tuple(r) for r in got), key=repr)
    return found
