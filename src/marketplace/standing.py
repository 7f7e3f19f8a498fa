"""A member's standing (身份): every role they hold, where, and which communities their units pair
with — loaded in one statement, then asked any number of questions without the database.

Orgs keep their path from the root, so "a role on this place or an ancestor" is a prefix test on
the paths held. A unit's admins and party members act in the communities the unit is paired with
(结对共建). The sweeps act as ``system``, which holds the ``system`` role everywhere.

:func:`standing` loads it on its own; the hot use cases load it inside their own statement with
:func:`holds_of` (a subquery to join) and :func:`from_rows`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from marketplace.lifecycle import OFFICE, Role
from marketplace.model import Org
from marketplace.schema import orgs, pairings, roles

SYSTEM_ACTOR = "system"
UNIT_ROLES = frozenset({Role.UNIT_ADMIN, Role.PARTY_MEMBER})
"""What a unit's role counts for in the communities the unit is paired with."""


class Hold(msgspec.Struct, frozen=True, kw_only=True):
    """One role on one org, and the communities that org (a unit) is paired with."""

    role: Role
    org_id: str
    path: str
    community_id: str | None
    paired: frozenset[str] = frozenset()


class Standing(msgspec.Struct, frozen=True, kw_only=True):
    member_id: str
    holds: tuple[Hold, ...] = ()

    @property
    def system(self) -> bool:
        return self.member_id == SYSTEM_ACTOR

    def on(self, path: str, community_id: str | None = None) -> frozenset[Role]:
        """Roles on the org at ``path`` or an ancestor, plus a paired unit's roles when
        ``community_id`` is given (the community the place belongs to)."""
        if self.system:
            return frozenset({Role.SYSTEM})
        held = {h.role for h in self.holds if path.startswith(h.path)}
        if community_id is not None:
            held |= {
                h.role for h in self.holds if community_id in h.paired and h.role in UNIT_ROLES
            }
        return frozenset(held)

    def inside(self, community_id: str) -> frozenset[Role]:
        """Roles on the community itself or an org inside it (a grid's resident)."""
        return frozenset(h.role for h in self.holds if h.community_id == community_id)

    def office_of(self, community_id: str) -> bool:
        """Staff or admin of the community itself or an org inside it."""
        return bool(self.inside(community_id) & OFFICE)

    def units(self, role: Role) -> frozenset[str]:
        """The units (orgs with no community) where the member holds ``role``."""
        return frozenset(h.org_id for h in self.holds if h.role is role)


def standing(conn: Connection, member_id: str) -> Standing:
    """The member's standing, in one statement."""
    if member_id == SYSTEM_ACTOR:
        return Standing(member_id=member_id)
    rows = conn.execute(_STANDING, {"member": member_id})
    return from_rows(member_id, (r._mapping for r in rows))


def standings(conn: Connection, member_ids: Iterable[str]) -> dict[str, Standing]:
    """Several members' standings, in one statement."""
    ids = sorted(set(member_ids))
    rows: dict[str, list[Any]] = {m: [] for m in ids}
    if ids:
        for row in conn.execute(_STANDINGS, {"members": ids}):
            rows[row.member_id].append(row._mapping)
    return {m: from_rows(m, found) for m, found in rows.items()}


def holds_of(member_id: str | sa.ColumnElement[str]) -> sa.Subquery:
    """The member's holds as a subquery (columns ``hold_role``, ``hold_org``, ``hold_path``,
    ``hold_community``, ``hold_paired``), one row per role and paired community: a use case joins
    it to its own statement to load the actor's standing with its subject."""
    return _holds(roles.c.member_id == member_id).subquery("holds")


def _holds(which: sa.ColumnElement[bool]) -> sa.Select[Any]:
    return (
        sa.select(
            roles.c.role.label("hold_role"),
            roles.c.org_id.label("hold_org"),
            orgs.c.path.label("hold_path"),
            orgs.c.community_id.label("hold_community"),
            pairings.c.community_id.label("hold_paired"),
        )
        .select_from(
            roles.join(orgs, orgs.c.id == roles.c.org_id).outerjoin(
                pairings, pairings.c.unit_id == roles.c.org_id
            )
        )
        .where(which)
    )


def from_rows(member_id: str, rows: Iterable[Any]) -> Standing:
    """A standing from rows carrying the :func:`holds_of` columns (a row whose ``hold_role`` is
    None, from an outer join, holds nothing)."""
    if member_id == SYSTEM_ACTOR:
        return Standing(member_id=member_id)
    found: dict[tuple[str, str], tuple[str, str | None, set[str]]] = {}
    for row in rows:
        role = row["hold_role"]
        if role is None:
            continue
        key = (role, row["hold_org"])
        _, _, paired = found.setdefault(key, (row["hold_path"], row["hold_community"], set()))
        if row["hold_paired"] is not None:
            paired.add(row["hold_paired"])
    return Standing(
        member_id=member_id,
        holds=tuple(
            Hold(
                role=Role(role),
                org_id=org_id,
                path=path,
                community_id=community_id,
                paired=frozenset(paired),
            )
            for (role, org_id), (path, community_id, paired) in sorted(found.items())
        ),
    )


def standing_at(conn: Connection, member_id: str, org_id: str) -> tuple[Org | None, Standing]:
    """An org (None: no such org) and the member's standing, in one statement."""
    rows = [r._asdict() for r in conn.execute(_AT, {"member": member_id, "org": org_id})]
    if not rows:
        return None, standing(conn, member_id)
    first = rows[0]
    org = msgspec.convert({str(c.name): first[c.name] for c in orgs.c}, Org, strict=False)
    return org, from_rows(member_id, rows)


def _standing_at() -> Any:
    held = holds_of(sa.bindparam("member"))
    return (
        sa.select(*orgs.c, *held.c)
        .select_from(orgs.outerjoin(held, sa.true()))
        .where(orgs.c.id == sa.bindparam("org"))
    )


_STANDING = sa.select(*holds_of(sa.bindparam("member")).c)
_STANDINGS = _holds(roles.c.member_id.in_(sa.bindparam("members", expanding=True))).add_columns(
    roles.c.member_id
)
_AT = _standing_at()
