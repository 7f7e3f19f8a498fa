"""The demo district (幸福区): its org tree, the units paired with it, and its people.

Pure data drawn from one seeded generator: the same seed gives the same ids, names, phone
numbers (11 digits, 13x/15x/18x, unique) and addresses (阳光路8号2栋301室). :mod:`service.demo`
writes it through the libraries. The eight demo accounts (:data:`ACCOUNTS`) are people of the
district like everyone else, with fixed ids and phone numbers.
"""

from __future__ import annotations

import random
from typing import Any

import msgspec

from marketplace import KeyHousehold, Role
from service.demo.words import ELDER_FEMALE, ELDER_MALE, FEMALE, MALE, SKILLS, SURNAMES

PASSWORD = "demo12345"
DISTRICT = "xingfu"  # 幸福区
SEED = 20_261_126


class Account(msgspec.Struct, frozen=True, kw_only=True):
    """A demo account: sign in with ``phone`` and :data:`PASSWORD`."""

    role_label: str  # the role as users say it
    role: Role
    phone: str
    member_id: str
    name: str
    org_id: str  # where the role is held
    description: str


ACCOUNTS = (
    Account(
        role_label="区管理员",
        role=Role.ADMIN,
        phone="13900000001",
        member_id="demo-admin",
        name="周建华",
        org_id="xingfu",
        description="幸福区管理员：全区统计、三率、升级到区里的督办心愿",
    ),
    Account(
        role_label="街道工作人员",
        role=Role.STAFF,
        phone="13900000002",
        member_id="demo-street-staff",
        name="郑丽",
        org_id="heping",
        description="和平街道工作人员：辖区三个社区升级到街道的督办心愿",
    ),
    Account(
        role_label="社区工作人员",
        role=Role.STAFF,
        phone="13900000003",
        member_id="demo-staff",
        name="刘芳",
        org_id="yangguang",
        description="阳光社区工作人员：审核心愿、派单、处理异议、积分超市核销",
    ),
    Account(
        role_label="网格员",
        role=Role.GRID_WORKER,
        phone="13900000004",
        member_id="demo-grid-worker",
        name="孙强",
        org_id="yangguang-g01",
        description="阳光社区第一网格网格员：为网格里的重点家庭代点单",
    ),
    Account(
        role_label="居民",
        role=Role.RESIDENT,
        phone="13900000005",
        member_id="demo-resident",
        name="陈桂兰",
        org_id="yangguang",
        description="阳光社区独居老人：心愿有已办结、待评价、已发布、待审核、已取消",
    ),
    Account(
        role_label="志愿者",
        role=Role.VOLUNTEER,
        phone="13900000006",
        member_id="demo-volunteer",
        name="林晓东",
        org_id="yangguang",
        description="阳光社区志愿者：积分与服务时长、一个进行中的认领、积分超市订单",
    ),
    Account(
        role_label="党员",
        role=Role.PARTY_MEMBER,
        phone="13900000007",
        member_id="demo-party-member",
        name="赵明",
        org_id="u-weijian",
        description="区卫健局在职党员（单位与阳光社区结对）：单位指派的认领",
    ),
    Account(
        role_label="单位管理员",
        role=Role.UNIT_ADMIN,
        phone="13900000008",
        member_id="demo-unit-admin",
        name="吴静",
        org_id="u-weijian",
        description="区卫健局单位管理员：单位接单、指派党员，还有一个名额待指派",
    ),
)
ADMIN, STREET_STAFF, STAFF, GRID_WORKER, RESIDENT, VOLUNTEER, PARTY, UNIT_ADMIN = (
    a.member_id for a in ACCOUNTS
)
HOME = "yangguang"  # 阳光社区: the demo accounts' community
HOME_GRID = "yangguang-g01"
HOME_UNIT = "u-weijian"  # 区卫健局, paired with 阳光社区
RESIDENT_ADDRESS = "阳光路8号2栋301室"

STREETS = (("heping", "和平街道"), ("guangming", "光明街道"))


class Compound(msgspec.Struct, frozen=True):
    name: str
    road: str  # the compound's street address, e.g. 阳光路8号
    buildings: int


class Community(msgspec.Struct, frozen=True):
    id: str
    name: str
    street: str
    grids: int
    compounds: tuple[Compound, ...]
    volunteers: int


C, P = Community, Compound
COMMUNITIES = (
    C("yangguang", "阳光社区", "heping", 22, (
        P("阳光花园", "阳光路8号", 26), P("向阳小区", "向阳街12号", 18),
        P("朝阳新村", "朝阳路66号", 14), P("春晖苑", "春晖路3号", 10),
    ), 35),
    C("xinghe", "星河社区", "heping", 21, (
        P("星河湾", "星河大道188号", 24), P("银河小区", "银河路22号", 16),
        P("星光里", "星光街9号", 12), P("天河苑", "天河路51号", 10),
    ), 32),
    C("jinqiao", "金桥社区", "heping", 20, (
        P("金桥花园", "金桥路99号", 22), P("锦绣家园", "锦绣路16号", 18),
        P("和平里", "和平路7号", 12),
    ), 31),
    C("mingyue", "明月社区", "guangming", 20, (
        P("明月小区", "明月路18号", 20), P("月湖苑", "月湖路5号", 16),
        P("清风雅居", "清风路28号", 14),
    ), 31),
    C("qingquan", "清泉社区", "guangming", 21, (
        P("清泉小区", "清泉路10号", 18), P("翠竹园", "翠竹街6号", 16),
        P("碧水家园", "碧水路77号", 14), P("山泉新村", "山泉路2号", 10),
    ), 31),
    C("taoyuan", "桃园社区", "guangming", 20, (
        P("桃园新村", "桃园路1号", 22), P("李园小区", "李园街15号", 16),
        P("杏林苑", "杏林路33号", 12),
    ), 30),
)  # fmt: skip
COMMUNITY_IDS = tuple(c.id for c in COMMUNITIES)
UNITS = (  # 驻区/县直单位 and the communities each is paired with (结对共建)
    ("u-weijian", "区卫健局", ("yangguang", "mingyue")),
    ("u-sifa", "区司法局", ("yangguang", "qingquan")),
    ("u-jiaoyu", "区教育局", ("xinghe",)),
    ("u-minzheng", "区民政局", ("jinqiao", "taoyuan")),
    ("u-shuiwu", "区税务局", ("xinghe",)),
    ("u-shichang", "区市场监管局", ("jinqiao",)),
    ("u-renyi", "区人民医院", ("mingyue",)),
    ("u-gongdian", "区供电公司", ("qingquan",)),
    ("u-xiaofang", "区消防救援大队", ("taoyuan",)),
    ("u-tushuguan", "区图书馆", ("xinghe", "taoyuan")),
)
UNIT_IDS = tuple(u for u, _, _ in UNITS)

STAFF_PER_COMMUNITY = 3
COMMUNITY_PARTY = 5  # retired party members (社区党员) per community
PARTY_PER_UNIT = 8  # in-service party members (在职党员) per unit
HOUSEHOLDS_PER_GRID = (11, 17)
HOUSEHOLD_SIZES = ((1, 55), (2, 40), (3, 5))  # registered residents per household, weight
KEY_SHARE = 0.035
KEY_TYPES = (
    (KeyHousehold.ELDERLY_ALONE, 45),
    (KeyHousehold.DISABLED, 20),
    (KeyHousehold.SERIOUS_ILLNESS, 15),
    (KeyHousehold.LOW_INCOME, 15),
    (KeyHousehold.LEFT_BEHIND_CHILD, 5),
)
PHONE_PREFIXES = (
    "130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "153",
    "155", "156", "157", "158", "159", "180", "181", "182", "183", "185", "186", "187", "188",
    "189",
)  # fmt: skip


class Person(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    phone: str
    org_id: str  # where their role is held
    role: Role
    home_org_id: str | None = None  # the grid they live in
    home_unit_id: str | None = None
    skills: frozenset[str] = frozenset()
    public_profile: bool = False
    address: str = ""
    key_household: frozenset[KeyHousehold] = frozenset()
    joined_days_ago: int = 365  # before the demo's ninety days began


class Grid(msgspec.Struct, frozen=True):
    id: str
    community: str
    compound_id: str
    compound: Compound
    buildings: range


class Population:
    """Who lives and serves in the district, as :func:`population` draws them."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.people: dict[str, Person] = {}
        self.grids: dict[str, list[Grid]] = {c.id: [] for c in COMMUNITIES}
        self.residents: dict[str, list[str]] = {c.id: [] for c in COMMUNITIES}
        self.key_households: dict[str, list[str]] = {c.id: [] for c in COMMUNITIES}
        self.claimers: dict[str, list[str]] = {c.id: [] for c in COMMUNITIES}  # may claim
        self.unit_party: dict[str, list[str]] = {u: [] for u in UNIT_IDS}  # assignable
        self.unit_admin: dict[str, str] = {}
        self.staff: dict[str, list[str]] = {}  # office of each street and community
        self.grid_worker: dict[str, str] = {}
        self.households = 0
        self._phones = {a.phone for a in ACCOUNTS}
        self._surname_weights = [1 / (n + 6) for n in range(len(SURNAMES))]

    def add(self, member_id: str, org_id: str, role: Role, **fields: Any) -> Person:
        """A person with a role on an org; a demo account keeps its own name and phone."""
        account = next((a for a in ACCOUNTS if a.member_id == member_id), None)
        if account is not None:
            fields.update(name=account.name, phone=account.phone)
        fields.setdefault("name", self.name())
        fields.setdefault("phone", self.phone())
        person = Person(id=member_id, org_id=org_id, role=role, **fields)
        self.people[member_id] = person
        return person

    def surname(self) -> str:
        return self.rng.choices(SURNAMES, self._surname_weights)[0]

    def name(
        self, *, surname: str | None = None, female: bool | None = None, elder: bool = False
    ) -> str:
        rng = self.rng
        female = rng.random() < 0.5 if female is None else female
        if elder:
            given = rng.choice(ELDER_FEMALE if female else ELDER_MALE)
        else:
            chars = FEMALE if female else MALE
            given = "".join(rng.choice(chars) for _ in range(rng.choice((1, 2, 2, 2))))
        return (surname or self.surname()) + given

    def phone(self) -> str:
        while True:
            phone = self.rng.choice(PHONE_PREFIXES) + f"{self.rng.randrange(10**8):08d}"
            if not phone.startswith("1390000") and phone not in self._phones:
                self._phones.add(phone)
                return phone


def population() -> Population:
    """The district's people, the same every time."""
    pop = Population(random.Random(SEED))
    pop.add(ADMIN, DISTRICT, Role.ADMIN)
    pop.add("staff-xingfu-1", DISTRICT, Role.STAFF)
    pop.staff["heping"] = [STREET_STAFF, "staff-heping-2"]
    pop.staff["guangming"] = ["staff-guangming-1", "staff-guangming-2"]
    for street, _ in STREETS:
        for member_id in pop.staff[street]:
            pop.add(member_id, street, Role.STAFF)
    for community in COMMUNITIES:
        _grids(pop, community)
    for community in COMMUNITIES:
        _office(pop, community)
        _households(pop, community)
        _volunteers(pop, community)
    for unit_id, _, paired in UNITS:
        _unit(pop, unit_id, paired)
    return pop


def _grids(pop: Population, community: Community) -> None:
    """The community's grids over its compounds by their size, each a run of buildings."""
    total = sum(c.buildings for c in community.compounds)
    shares = [max(1, round(community.grids * c.buildings / total)) for c in community.compounds]
    shares[0] += community.grids - sum(shares)
    n = 0
    for k, (compound, share) in enumerate(zip(community.compounds, shares, strict=True), 1):
        per = compound.buildings / share
        for j in range(share):
            n += 1
            buildings = range(round(j * per) + 1, round((j + 1) * per) + 1)
            grid = Grid(
                f"{community.id}-g{n:02d}",
                community.id,
                f"{community.id}-p{k}",
                compound,
                buildings,
            )
            pop.grids[community.id].append(grid)


def _office(pop: Population, community: Community) -> None:
    rng, cid, grids = pop.rng, community.id, pop.grids[community.id]
    staff = [STAFF] if cid == HOME else []
    staff += [f"staff-{cid}-{k}" for k in range(len(staff) + 1, STAFF_PER_COMMUNITY + 1)]
    pop.staff[cid] = staff
    for member_id in staff:
        pop.add(
            member_id,
            cid,
            Role.STAFF,
            home_org_id=rng.choice(grids).id,
            joined_days_ago=rng.randint(200, 900),
        )
    for grid in grids:
        worker = GRID_WORKER if grid.id == HOME_GRID else f"grid-{grid.id}"
        pop.grid_worker[grid.id] = worker
        pop.add(
            worker,
            grid.id,
            Role.GRID_WORKER,
            home_org_id=grid.id,
            joined_days_ago=rng.randint(100, 900),
        )


def _households(pop: Population, community: Community) -> None:
    """Households in each grid, one to three registered residents each; a few key households
    (重点家庭), two of them next door to the demo resident."""
    rng, cid = pop.rng, community.id
    sizes, weights = [n for n, _ in HOUSEHOLD_SIZES], [w for _, w in HOUSEHOLD_SIZES]
    kinds, kind_weights = [k for k, _ in KEY_TYPES], [w for _, w in KEY_TYPES]
    n = 0
    for grid in pop.grids[cid]:
        taken: set[str] = set()
        if grid.id == HOME_GRID:
            taken.add(RESIDENT_ADDRESS)
            pop.add(
                RESIDENT,
                cid,
                Role.RESIDENT,
                home_org_id=grid.id,
                address=RESIDENT_ADDRESS,
                key_household=frozenset({KeyHousehold.ELDERLY_ALONE}),
                joined_days_ago=700,
            )
            pop.residents[cid].append(RESIDENT)
            pop.key_households[cid].append(RESIDENT)
            pop.households += 1
        for h in range(rng.randint(*HOUSEHOLDS_PER_GRID)):
            address, floors = "", 18 if grid.compound.buildings >= 20 else 6
            while not address or address in taken:
                building, floor = rng.choice(grid.buildings), rng.randint(1, floors)
                address = f"{grid.compound.road}{building}栋{floor}{rng.randint(1, 4):02d}室"
            taken.add(address)
            key: frozenset[KeyHousehold] = frozenset()
            if rng.random() < KEY_SHARE:
                key = frozenset(rng.choices(kinds, kind_weights, k=rng.choice((1, 1, 2))))
            if grid.id == HOME_GRID and h < 2:  # the grid worker's 代点单 are for them
                key = frozenset({(KeyHousehold.ELDERLY_ALONE, KeyHousehold.DISABLED)[h]})
            size = 1 if KeyHousehold.ELDERLY_ALONE in key else rng.choices(sizes, weights)[0]
            surname, elder = pop.surname(), bool(key) or rng.random() < 0.35
            pop.households += 1
            for k in range(size):  # the head, a spouse, a child
                n += 1
                member_id = f"res-{cid}-{n:04d}"
                name = pop.name(surname=None if k == 1 else surname, elder=elder and k < 2)
                pop.add(
                    member_id,
                    cid,
                    Role.RESIDENT,
                    name=name,
                    home_org_id=grid.id,
                    address=address,
                    key_household=key if k == 0 else frozenset(),
                    joined_days_ago=rng.randint(1, 1200),
                )
                pop.residents[cid].append(member_id)
                if key and k == 0:
                    pop.key_households[cid].append(member_id)


def _volunteers(pop: Population, community: Community) -> None:
    rng, cid, grids = pop.rng, community.id, pop.grids[community.id]
    volunteers = [VOLUNTEER] if cid == HOME else []
    volunteers += [
        f"vol-{cid}-{n:03d}" for n in range(len(volunteers) + 1, community.volunteers + 1)
    ]
    for member_id in volunteers:
        if member_id == VOLUNTEER:
            pop.add(
                VOLUNTEER,
                cid,
                Role.VOLUNTEER,
                home_org_id="yangguang-g03",
                skills=frozenset({"家电维修", "手机教学"}),
                public_profile=True,
                joined_days_ago=420,
            )
            continue
        pop.add(
            member_id,
            cid,
            Role.VOLUNTEER,
            home_org_id=rng.choice(grids).id,
            skills=frozenset(rng.sample(SKILLS, rng.choice((1, 1, 2, 3)))),
            public_profile=rng.random() < 0.6,
            joined_days_ago=rng.randint(10, 1000),
        )
        pop.claimers[cid].append(member_id)
    for n in range(1, COMMUNITY_PARTY + 1):
        member_id = f"pm-{cid}-{n:02d}"
        pop.add(
            member_id,
            cid,
            Role.PARTY_MEMBER,
            name=pop.name(elder=rng.random() < 0.5),
            home_org_id=rng.choice(grids).id,
            skills=frozenset(rng.sample(SKILLS, 1)),
            public_profile=True,
            joined_days_ago=rng.randint(300, 1500),
        )
        pop.claimers[cid].append(member_id)


def _unit(pop: Population, unit_id: str, paired: tuple[str, ...]) -> None:
    rng, key = pop.rng, unit_id.removeprefix("u-")
    admin = UNIT_ADMIN if unit_id == HOME_UNIT else f"uadmin-{key}"
    pop.unit_admin[unit_id] = admin
    home = "yangguang-g05" if admin == UNIT_ADMIN else None  # 吴静 lives in 阳光社区
    pop.add(admin, unit_id, Role.UNIT_ADMIN, home_unit_id=unit_id, home_org_id=home)
    for n in range(1, PARTY_PER_UNIT + 1):
        member_id = PARTY if (unit_id, n) == (HOME_UNIT, 1) else f"pm-{key}-{n:02d}"
        home = rng.choice(pop.grids[rng.choice(paired)]).id
        if member_id == PARTY:
            pop.add(
                PARTY,
                unit_id,
                Role.PARTY_MEMBER,
                home_unit_id=unit_id,
                home_org_id="yangguang-g07",
                skills=frozenset({"医疗常识", "护理"}),
                public_profile=True,
            )
            continue
        pop.add(
            member_id,
            unit_id,
            Role.PARTY_MEMBER,
            home_org_id=home,
            home_unit_id=unit_id,
            skills=frozenset(rng.sample(SKILLS, rng.choice((1, 2)))),
            public_profile=rng.random() < 0.7,
            joined_days_ago=rng.randint(30, 800),
        )
        pop.unit_party[unit_id].append(member_id)
