"""Importing a roster (花名册导入): a community's member list from an XLSX or CSV file.

Load → decide → write, as every use case: :func:`check_roster` reads the file
(:mod:`marketplace.sheets`), loads what its rows are checked against (the community's places and
units, the members registered under its phones: a statement per 500 phones), checks every row
(:func:`marketplace.roster.check`, pure) and plans each: a new member, an update (the fields that
differ, logged old → new as every profile change, :mod:`marketplace.profiles`), or nothing.
:func:`import_roster` writes the plan in the caller's transaction, in bulk, only when no row has
a problem: a bad row never half-writes a file. Rows match members on their phone number, so the
same file imported again changes nothing.

Imported members have no password: nobody's password is in a file. :class:`Report` names the
new members (row, id, name, phone), so that the service can give each a one-time sign-in code.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from marketplace import lifecycle, profiles
from marketplace.errors import NotFound
from marketplace.lifecycle import Act, Role
from marketplace.model import Consent, Member, Org, OrgKind
from marketplace.orgs import get_org, require
from marketplace.profiles import Change
from marketplace.roster import Directory, Entry, Known, Problem, check, phones_of
from marketplace.schema import members, orgs, pairings, roles, wishes
from marketplace.sheets import Sheet, read_sheet
from points import new_id, sqltypes, utcnow

Progress = Callable[[int, int], None]
"""Told (rows done, rows in all) as a long file is checked, then written."""
CHUNK = 500
SAMPLE = 10
CONSENT_PURPOSE = "花名册导入"
ROSTER_LOCK = 0x4C494E4C49_01  # PostgreSQL's advisory lock key of roster imports ("LINLI", 1)


class Created(msgspec.Struct, frozen=True, kw_only=True):
    row: int
    member_id: str
    name: str
    phone: str


class Updated(msgspec.Struct, frozen=True, kw_only=True):
    row: int
    member_id: str
    name: str
    changes: tuple[Change, ...]


class Report(msgspec.Struct, frozen=True, kw_only=True):
    """What a roster file holds and does: its problems (then nothing is written), or the members
    it registers, updates, and leaves as they are."""

    community_id: str
    rows: int
    header: tuple[str, ...]
    sample: tuple[tuple[int, tuple[str, ...]], ...]  # the first rows, as in the file
    problems: tuple[Problem, ...] = ()
    created: tuple[Created, ...] = ()
    updated: tuple[Updated, ...] = ()
    unchanged: int = 0
    written: bool = False
    import_id: str | None = None

    @property
    def new_member_ids(self) -> tuple[str, ...]:
        """The members this import registered (each to be given a one-time sign-in code)."""
        return tuple(c.member_id for c in self.created)


class _Plan(msgspec.Struct, frozen=True, kw_only=True):
    entry: Entry
    before: Member | None
    after: Member
    roles: frozenset[Role]  # to grant
    changes: tuple[Change, ...]


def quiet(done: int, total: int) -> None:
    return None


def check_roster(
    conn: Connection,
    actor: str,
    community_id: str,
    content: bytes,
    *,
    progress: Progress = quiet,
    now: dt.datetime | None = None,
) -> Report:
    """What importing the file would do, writing nothing (``--dry-run``, the page's preview)."""
    report, _ = _decide(conn, actor, community_id, content, progress, now or utcnow())
    return report


def import_roster(
    conn: Connection,
    actor: str,
    community_id: str,
    content: bytes,
    *,
    progress: Progress = quiet,
    now: dt.datetime | None = None,
    import_id: str | None = None,
) -> Report:
    """Import the file: when no row has a problem, every row is written in the caller's
    transaction; else nothing, and the report lists the problems. Imports take turns (on
    PostgreSQL a transaction-scoped advisory lock, on SQLite the one writer): each decides on
    the members the ones before it registered, so two files naming one new phone register it
    once."""
    now = now or utcnow()
    if conn.dialect.name == "postgresql":
        conn.execute(_TAKE_TURNS)
    report, plans = _decide(conn, actor, community_id, content, progress, now)
    if report.problems:
        return report
    _write(conn, actor, community_id, plans, progress, now, import_id)
    return msgspec.structs.replace(report, written=True, import_id=import_id)


_TAKE_TURNS = sa.select(sa.func.pg_advisory_xact_lock(ROSTER_LOCK))
"""Held until the import's transaction ends. Phones are matched across communities
(``roster_phone_elsewhere``), so imports take turns district-wide: they are rare, and a turn
is the length of one import."""


def _decide(
    conn: Connection,
    actor: str,
    community_id: str,
    content: bytes,
    progress: Progress,
    now: dt.datetime,
) -> tuple[Report, list[_Plan]]:
    community = get_org(conn, community_id)
    if community.kind is not OrgKind.COMMUNITY:
        raise NotFound("community", community_id)
    held = require(conn, actor, community.path, Act.REGISTER)
    sheet = read_sheet(content)
    report = Report(
        community_id=community_id,
        rows=len(sheet.rows),
        header=sheet.header,
        sample=sheet.rows[:SAMPLE],
    )
    directory = _directory(conn, community, sheet, lifecycle.can(Act.GRANT_OFFICE, held))
    progress(0, len(sheet.rows))
    entries, problems = check(sheet, directory)
    if problems:
        return msgspec.structs.replace(report, problems=problems), []
    paths = {o.id: o.path for o in directory.places}
    plans = [_plan(e, directory, community, actor, now, paths) for e in entries]
    created = tuple(
        Created(row=p.entry.row, member_id=p.after.id, name=p.after.name, phone=p.entry.phone)
        for p in plans
        if p.before is None
    )
    updated = tuple(
        Updated(row=p.entry.row, member_id=p.after.id, name=p.after.name, changes=p.changes)
        for p in plans
        if p.before is not None and p.changes
    )
    unchanged = len(plans) - len(created) - len(updated)
    return msgspec.structs.replace(report, created=created, updated=updated, unchanged=unchanged), [
        p for p in plans if p.before is None or p.changes
    ]


def _directory(conn: Connection, community: Org, sheet: Sheet, office: bool) -> Directory:
    places = tuple(
        sqltypes.to_struct(r, Org)
        for r in conn.execute(
            sa.select(orgs).where(
                orgs.c.community_id == community.id,
                orgs.c.kind.in_([OrgKind.GRID.value, OrgKind.BUILDING.value]),
            )
        )
    )
    units = tuple(
        sqltypes.to_struct(r, Org)
        for r in conn.execute(
            sa.select(orgs)
            .join(pairings, pairings.c.unit_id == orgs.c.id)
            .where(pairings.c.community_id == community.id)
        )
    )
    known: dict[str, list[Known]] = {}
    phones = sorted(phones_of(sheet))
    for start in range(0, len(phones), CHUNK):
        chunk = phones[start : start + CHUNK]
        found = [
            sqltypes.to_struct(r, Member)
            for r in conn.execute(sa.select(members).where(members.c.phone.in_(chunk)))
        ]
        held = _roles_in(conn, community.id, [m.id for m in found])
        homes = _homes(conn, community.id, {m.home_org_id for m in found if m.home_org_id})
        for member in found:
            inside = member.id in held or member.home_org_id in homes
            assert member.phone is not None
            known.setdefault(member.phone, []).append(
                Known(member=member, inside=inside, roles=frozenset(held.get(member.id, ())))
            )
    return Directory(
        community=community,
        places=places,
        units=units,
        known={k: tuple(v) for k, v in known.items()},
        may_grant_office=office,
    )


def _roles_in(conn: Connection, community_id: str, ids: list[str]) -> dict[str, set[Role]]:
    found: dict[str, set[Role]] = {}
    if not ids:
        return found
    rows = conn.execute(
        sa.select(roles.c.member_id, roles.c.role)
        .join(orgs, orgs.c.id == roles.c.org_id)
        .where(roles.c.member_id.in_(ids), orgs.c.community_id == community_id)
    )
    for member_id, role in rows:
        found.setdefault(member_id, set()).add(Role(role))
    return found


def _homes(conn: Connection, community_id: str, ids: Iterable[str]) -> set[str]:
    wanted = sorted(ids)
    if not wanted:
        return set()
    rows = conn.execute(
        sa.select(orgs.c.id).where(orgs.c.id.in_(wanted), orgs.c.community_id == community_id)
    )
    return {r for (r,) in rows}


def _plan(
    entry: Entry,
    directory: Directory,
    community: Org,
    actor: str,
    now: dt.datetime,
    paths: dict[str, str],
) -> _Plan:
    """What one checked row does (pure). ``paths``: the community's grids' and buildings' paths
    (a member living in a building of the grid a row names stays in that building)."""
    known = directory.known.get(entry.phone, ())
    consent = (
        Consent(recorded_by=actor, recorded_at=now, purpose=CONSENT_PURPOSE,
                reference=entry.consent or "")
        if entry.key_household else None
    )  # fmt: skip
    if not known:
        member = Member(
            id=new_id(),
            name=entry.name,
            phone=entry.phone,
            home_org_id=entry.home_org_id or community.id,
            home_unit_id=entry.home_unit_id,
            skills=entry.skills,
            key_household=entry.key_household,
            key_household_consent=consent,
            created_at=now,
            room=entry.room,
            address=entry.address,
            availability=entry.availability,
        )
        return _Plan(entry=entry, before=None, after=member, roles=entry.roles or
                     frozenset({Role.RESIDENT}), changes=())  # fmt: skip
    before = known[0].member
    home = before.home_org_id
    inside = home is not None and paths.get(home, "").startswith(
        paths.get(entry.home_org_id or "", "\0")
    )
    if entry.home_org_id is not None and not inside:
        home = entry.home_org_id
    after = msgspec.structs.replace(
        before,
        name=entry.name,
        home_org_id=home,
        room=entry.room or before.room,
        home_unit_id=entry.home_unit_id or before.home_unit_id,
        skills=entry.skills or before.skills,
        key_household=entry.key_household or before.key_household,
        address=entry.address or before.address,
        availability=entry.availability or before.availability,
    )
    if entry.key_household and entry.key_household != before.key_household:
        after = msgspec.structs.replace(after, key_household_consent=consent)
    new_roles = entry.roles - known[0].roles
    changes = profiles.diff(before, after) + profiles.role_change(
        known[0].roles, known[0].roles | new_roles
    )
    return _Plan(entry=entry, before=before, after=after, roles=new_roles, changes=changes)


def _write(
    conn: Connection,
    actor: str,
    community_id: str,
    plans: list[_Plan],
    progress: Progress,
    now: dt.datetime,
    import_id: str | None,
) -> None:
    total = len(plans)
    done = 0
    for start in range(0, total, CHUNK):
        chunk = plans[start : start + CHUNK]
        new = [p.after for p in chunk if p.before is None]
        sqltypes.insert_many(conn, members, [_row(m) for m in new])
        for plan in chunk:
            if plan.before is not None:
                m = plan.after
                conn.execute(
                    members.update().where(members.c.id == m.id).values(**_row(m, update=True))
                )
                if m.key_household != plan.before.key_household:
                    conn.execute(
                        wishes.update()
                        .where(wishes.c.beneficiary_id == m.id)
                        .values(key_household=bool(m.key_household))
                    )
        grants = [
            {
                "org_id": _role_org(p, community_id, role),
                "member_id": p.after.id,
                "role": role.value,
                "granted_by": actor,
                "granted_at": now,
            }
            for p in chunk
            for role in sorted(p.roles)
        ]
        sqltypes.insert_many(conn, roles, grants)
        logged: list[dict[str, Any]] = []
        for plan in chunk:
            changes = plan.changes or (Change(field="registered", old=None, new=plan.entry.row),)
            logged.extend(
                profiles.change_rows(
                    plan.after.id, changes, actor=actor, community_id=community_id,
                    source="import", now=now, import_id=import_id,
                )
            )  # fmt: skip
        profiles.log(conn, logged)
        done += len(chunk)
        progress(done, total)


def _role_org(plan: _Plan, community_id: str, role: Role) -> str:
    """Roles are held on the community (a grid worker on the grid they live in, when given)."""
    if role is Role.GRID_WORKER and plan.entry.home_org_id is not None:
        return plan.entry.home_org_id
    return community_id


def _row(m: Member, *, update: bool = False) -> dict[str, Any]:
    row: dict[str, Any] = {
        "name": m.name,
        "home_org_id": m.home_org_id,
        "home_unit_id": m.home_unit_id,
        "skills": sorted(m.skills),
        "key_household": sorted(k.value for k in m.key_household),
        "key_household_consent": msgspec.to_builtins(m.key_household_consent),
        "room": m.room,
        "address": m.address,
        "availability": m.availability,
    }
    if not update:
        row.update(id=m.id, phone=m.phone, public_profile=False, created_at=m.created_at)
    return row
