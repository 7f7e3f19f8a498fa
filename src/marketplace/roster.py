"""Roster rows (花名册): the columns a community's member list has, and every row checked against
the community before anything is written. Pure: :func:`check` takes the file's rows and a
:class:`Directory` of the community (its grids, buildings, paired units, and the members already
registered under the file's phone numbers) and returns the entries to write and every problem,
each named by its row as Excel shows it (the header is row 1) and its column's Chinese header.

Columns are found by their Chinese header (姓名, 手机号, 网格, 楼栋, 房号, 角色, 技能, 所属单位,
重点家庭类型, 同意书编号, 住址, 可服务时间; :data:`COLUMNS` lists the other spellings taken); others
are ignored. Rows match registered members on their phone number. A cell left empty changes
nothing on an existing member; roles are only added, never taken away by a file.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple, TypeVar

import msgspec

from marketplace.bounds import SKILLS, PersonName, ProfileText, Room, Skill, most
from marketplace.errors import InvalidInput
from marketplace.lifecycle import OFFICE, Role
from marketplace.model import KeyHousehold, Member, Org, OrgKind
from marketplace.sheets import Sheet, dangerous
from points import Cause

ROOM = most(Room)
T = TypeVar("T")
TEXT = most(ProfileText)  # an address, an availability, a consent's number


class Column(NamedTuple):
    key: str
    header: str  # as the template writes it
    aliases: tuple[str, ...]
    required: bool = False


COLUMNS = (
    Column("name", "姓名", ("名字", "成员姓名"), True),
    Column("phone", "手机号", ("手机", "手机号码", "电话", "联系电话"), True),
    Column("grid", "网格", ("所属网格", "网格名称")),
    Column("building", "楼栋", ("楼号", "楼宇")),
    Column("room", "房号", ("门牌号", "室号", "房间号")),
    Column("roles", "角色", ("身份",)),
    Column("skills", "技能", ("特长",)),
    Column("unit", "所属单位", ("单位", "工作单位")),
    Column("key_household", "重点家庭类型", ("重点家庭",)),
    Column("consent", "同意书编号", ("同意书",)),
    Column("address", "住址", ("地址", "家庭住址")),
    Column("availability", "可服务时间", ("服务时间",)),
)
HEADERS = {c.key: c.header for c in COLUMNS}
ROLE_WORDS: dict[str, Role] = {
    "居民": Role.RESIDENT,
    "志愿者": Role.VOLUNTEER,
    "党员": Role.PARTY_MEMBER,
    "在职党员": Role.PARTY_MEMBER,
    "网格员": Role.GRID_WORKER,
    "社区工作人员": Role.STAFF,
    "工作人员": Role.STAFF,
}
"""The roles a roster may give, in its words (a unit's admin is made on the unit's page)."""
KEY_HOUSEHOLD_WORDS: dict[str, KeyHousehold] = {
    "独居老人": KeyHousehold.ELDERLY_ALONE,
    "残疾": KeyHousehold.DISABLED,
    "残疾人": KeyHousehold.DISABLED,
    "大病": KeyHousehold.SERIOUS_ILLNESS,
    "重病": KeyHousehold.SERIOUS_ILLNESS,
    "低保": KeyHousehold.LOW_INCOME,
    "低保户": KeyHousehold.LOW_INCOME,
    "留守儿童": KeyHousehold.LEFT_BEHIND_CHILD,
}
_SEPARATORS = str.maketrans(dict.fromkeys(",，;；/|\u3000 ", "、"))


class Problem(msgspec.Struct, frozen=True, kw_only=True):
    """What is wrong with one cell (or a whole row: ``column`` empty)."""

    row: int  # as Excel numbers it: the header is row 1
    column: str  # the column's Chinese header
    cause: Cause


class Entry(msgspec.Struct, frozen=True, kw_only=True):
    """One row as it will be written: ``None`` or empty means the cell was left empty."""

    row: int
    name: str
    phone: str
    home_org_id: str | None = None
    room: str | None = None
    roles: frozenset[Role] = frozenset()
    skills: frozenset[str] = frozenset()
    home_unit_id: str | None = None
    key_household: frozenset[KeyHousehold] = frozenset()
    consent: str | None = None
    address: str | None = None
    availability: str | None = None


class Known(msgspec.Struct, frozen=True, kw_only=True):
    """A member already registered under a phone of the file."""

    member: Member
    inside: bool  # holds a role in the community, or lives in it
    roles: frozenset[Role] = frozenset()  # held in the community


class Directory(msgspec.Struct, frozen=True, kw_only=True):
    """What rows are checked against: the community's places and paired units, and the members
    registered under the file's phone numbers."""

    community: Org
    places: tuple[Org, ...]  # its grids and buildings (and compounds)
    units: tuple[Org, ...]  # paired with it (结对共建)
    known: Mapping[str, tuple[Known, ...]]  # phone → members registered with it
    may_grant_office: bool = False


def columns_of(header: Sequence[str]) -> dict[str, int]:
    """Column key → its index in the file; InvalidInput naming the required ones missing."""
    found: dict[str, int] = {}
    for index, text in enumerate(header):
        word = text.strip().replace(" ", "").removesuffix("*")
        for column in COLUMNS:
            if word in (column.header, *column.aliases):
                if column.key in found:
                    raise InvalidInput("file", Cause("roster_column_twice", {"column": word}))
                found[column.key] = index
    missing = [c.header for c in COLUMNS if c.required and c.key not in found]
    if missing:
        raise InvalidInput("file", Cause("roster_columns", {"columns": "、".join(missing)}))
    return found


def phones_of(sheet: Sheet) -> set[str]:
    """The well-formed phone numbers in the file (the members to load)."""
    index = columns_of(sheet.header)["phone"]
    return {p for _, cells in sheet.rows if (p := normal_phone(cells[index])) is not None}


def normal_phone(text: str) -> str | None:
    """``138 1234-5678``, ``+86 13812345678`` → ``13812345678``; None when it is no mobile."""
    digits = "".join(c for c in text if c not in " -()（）\u00a0")
    digits = digits.removeprefix("+86").removeprefix("0086")
    return digits if len(digits) == 11 and digits.isdigit() and digits[0] == "1" else None


def check(sheet: Sheet, directory: Directory) -> tuple[tuple[Entry, ...], tuple[Problem, ...]]:
    """Every row read and checked: the entries (of the rows without problems) and the
    problems, in row order. Nothing may be written unless the problems are none."""
    index = columns_of(sheet.header)
    places = _Places(directory)
    entries: list[Entry] = []
    problems: list[Problem] = []
    first_row: dict[str, int] = {}
    for number, cells in sheet.rows:
        cell = {key: cells[i].strip() for key, i in index.items()}
        bad = _Found(number)
        for key, value in cell.items():
            if dangerous(value) and not (key == "phone" and value.startswith("+")):
                bad(key, Cause("roster_formula"))
        if bad.problems:
            problems.extend(bad.problems)
            continue
        name = cell["name"]
        if not name:
            bad("name", Cause("empty"))
        elif len(name) > most(PersonName):
            bad("name", Cause("too_long", {"high": most(PersonName)}))
        phone = normal_phone(cell["phone"])
        if not cell["phone"]:
            bad("phone", Cause("empty"))
        elif phone is None:
            bad("phone", Cause("phone"))
        elif phone in first_row:
            bad("phone", Cause("roster_duplicate_phone", {"first": first_row[phone]}))
        else:
            first_row[phone] = number
            known = directory.known.get(phone, ())
            if len(known) > 1:
                bad("phone", Cause("roster_phone_many"))
            elif known and not known[0].inside:
                bad("phone", Cause("roster_phone_elsewhere"))
        home = places.home(cell.get("grid", ""), cell.get("building", ""), bad)
        unit = places.unit(cell.get("unit", ""), bad)
        roles: frozenset[Role] = _words(
            cell.get("roles", ""), ROLE_WORDS, "roles",
            lambda w: Cause("roster_unknown_role", {"word": w}), bad,
        )  # fmt: skip
        if roles & OFFICE and not directory.may_grant_office:
            bad("roles", Cause("roster_office_role"))
        flags = _words(
            cell.get("key_household", ""), KEY_HOUSEHOLD_WORDS, "key_household",
            lambda w: Cause("roster_unknown_key_household", {"word": w}), bad,
        )  # fmt: skip
        consent = cell.get("consent", "")
        if flags and not consent:
            bad("key_household", Cause("roster_needs_consent"))
        skills = frozenset(
            s for s in cell.get("skills", "").translate(_SEPARATORS).split("、") if s
        )
        if len(skills) > SKILLS or any(len(s) > most(Skill) for s in skills):
            bad("skills", Cause("skills", {"count": SKILLS, "low": 1, "high": most(Skill)}))
        for key, high in (("room", ROOM), ("address", TEXT), ("availability", TEXT),
                          ("consent", TEXT)):  # fmt: skip
            if len(cell.get(key, "")) > high:
                bad(key, Cause("too_long", {"high": high}))
        if bad.problems:
            problems.extend(bad.problems)
            continue
        assert phone is not None
        entries.append(
            Entry(
                row=number,
                name=name,
                phone=phone,
                home_org_id=home,
                room=cell.get("room") or None,
                roles=roles,
                skills=skills,
                home_unit_id=unit,
                key_household=flags,
                consent=consent or None,
                address=cell.get("address") or None,
                availability=cell.get("availability") or None,
            )
        )
    return tuple(entries), tuple(problems)


class _Found:
    """One row's problems, as the checks find them."""

    def __init__(self, row: int) -> None:
        self.row = row
        self.problems: list[Problem] = []

    def __call__(self, key: str, cause: Cause) -> None:
        self.problems.append(Problem(row=self.row, column=HEADERS[key], cause=cause))


_Bad = _Found


def _words(
    text: str, words: Mapping[str, T], key: str, unknown: Callable[[str], Cause], bad: _Bad
) -> frozenset[T]:
    found: set[T] = set()
    for word in (w for w in text.translate(_SEPARATORS).split("、") if w):
        if word in words:
            found.add(words[word])
        else:
            bad(key, unknown(word))
    return frozenset(found)


class _Places:
    """The community's grids, buildings and units, found by name or id."""

    def __init__(self, directory: Directory) -> None:
        self.community = directory.community
        self.grids: dict[str, list[Org]] = {}
        self.buildings: dict[str, list[Org]] = {}
        for org in directory.places:
            into = self.grids if org.kind is OrgKind.GRID else self.buildings
            if org.kind in (OrgKind.GRID, OrgKind.BUILDING):
                into.setdefault(org.name, []).append(org)
                into.setdefault(org.id, []).append(org)
        self.units: dict[str, list[Org]] = {}
        for unit in directory.units:
            self.units.setdefault(unit.name, []).append(unit)
            self.units.setdefault(unit.id, []).append(unit)

    def home(self, grid_name: str, building_name: str, bad: _Bad) -> str | None:
        grid = None
        if grid_name:
            grids = self.grids.get(grid_name, [])
            if len(grids) != 1:
                if grids:
                    bad("grid", Cause("roster_ambiguous", {"word": grid_name}))
                else:
                    bad("grid", Cause("roster_unknown_grid", {"word": grid_name}))
                return None
            grid = grids[0]
        if not building_name:
            return grid.id if grid else None
        buildings = self.buildings.get(building_name, [])
        if grid is not None:
            buildings = [b for b in buildings if b.path.startswith(grid.path)]
        if not buildings:
            if grid:
                bad("building", Cause("roster_building_outside_grid", {"word": building_name}))
            else:
                bad("building", Cause("roster_unknown_building", {"word": building_name}))
            return None
        if len(buildings) > 1:
            bad("building", Cause("roster_ambiguous_building", {"word": building_name}))
            return None
        return buildings[0].id

    def unit(self, name: str, bad: _Bad) -> str | None:
        if not name:
            return None
        units = self.units.get(name, [])
        if len(units) != 1:
            if units:
                bad("unit", Cause("roster_ambiguous", {"word": name}))
            else:
                bad("unit", Cause("roster_unknown_unit", {"word": name}))
            return None
        return units[0].id
