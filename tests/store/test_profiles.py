"""Profiles (个人资料, issue 15) on both backends: a member edits their own address, skills and
availability; the office edits where they live, their home unit and roles; every change is
logged (who, when, old → new) and shown only to whom the member is shown."""

from __future__ import annotations

import pytest

import marketplace as mk
import marketplace_world as world
import points
from marketplace import OrgKind, Role
from marketplace_world import T0


@pytest.fixture
def db(db: points.Database) -> points.Database:
    with db.transaction() as tx:
        world.build(tx)
        mk.create_org(tx, mk.SYSTEM, id="b1", kind=OrgKind.BUILDING, name="1号楼",
                      parent_id="g1", now=T0)  # fmt: skip
    return db


def test_a_member_edits_their_own_details_and_each_change_is_logged(db: points.Database) -> None:
    given = {"address": "阳光路8号1号楼301室", "skills": frozenset({"理发"}),
             "availability": "每周六上午"}  # fmt: skip
    with db.transaction() as tx:
        mk.edit_profile(tx, "vol1", now=T0, **given)  # type: ignore[arg-type]
        again = mk.edit_profile(tx, "vol1", now=T0, **given)  # type: ignore[arg-type]
    assert (again.address, again.availability) == ("阳光路8号1号楼301室", "每周六上午")
    with db.snapshot() as tx:
        log = mk.profile_history(tx, "vol1", "vol1")
    got = {(c.field, str(c.old), str(c.new), c.actor_id, c.source) for c in log}
    assert got == {
        ("address", "None", "阳光路8号1号楼301室", "vol1", "profile"),
        ("skills", "['家电维修']", "['理发']", "vol1", "profile"),
        ("availability", "None", "每周六上午", "vol1", "profile"),
    }  # the same values again: nothing more logged


def test_staff_set_where_a_member_lives_their_unit_and_roles(db: points.Database) -> None:
    with db.transaction() as tx:
        member = mk.edit_member(
            tx, "staff", "c1", "res", home_org_id="b1", room="502", home_unit_id="u1",
            roles_held=frozenset({Role.RESIDENT, Role.VOLUNTEER}), now=T0,
        )  # fmt: skip
    assert (member.home_org_id, member.room, member.home_unit_id) == ("b1", "502", "u1")
    with db.snapshot() as tx:
        held = {(g.org_id, g.role) for g in mk.grants_of(tx, "res")}
        log = {c.field: (c.old, c.new) for c in mk.profile_history(tx, "staff", "res")}
    assert held == {("g1", Role.RESIDENT), ("c1", Role.VOLUNTEER)}
    assert log == {
        "home_org_id": ("g1", "b1"),
        "room": (None, "502"),
        "home_unit_id": (None, "u1"),
        "roles": (["resident"], ["resident", "volunteer"]),
    }
    with db.transaction() as tx:  # a role taken away goes from every place in the community
        mk.edit_member(tx, "staff", "c1", "res", home_org_id="b1", room="502", home_unit_id="u1",
                       roles_held=frozenset({Role.VOLUNTEER}), now=T0)  # fmt: skip
    with db.snapshot() as tx:
        assert {(g.org_id, g.role) for g in mk.grants_of(tx, "res")} == {("c1", Role.VOLUNTEER)}


def test_the_office_edits_only_members_of_its_community_with_places_of_it(
    db: points.Database,
) -> None:
    def edit(actor: str, member: str, **given: object) -> None:
        fields: dict[str, object] = {"home_org_id": None, "room": None, "home_unit_id": None,
                                     "roles_held": frozenset({Role.VOLUNTEER})}  # fmt: skip
        with db.transaction() as tx:
            mk.edit_member(tx, actor, "c1", member, now=T0, **{**fields, **given})  # type: ignore[arg-type]

    with pytest.raises(mk.NotAllowed):
        edit("vol1", "vol2")
    with pytest.raises(mk.NotFound):
        edit("staff", "outsider")  # a member of c2
    with pytest.raises(mk.InvalidInput) as outside:
        edit("staff", "vol2", home_org_id="c2")
    assert outside.value.field == "home_org_id"
    with pytest.raises(mk.InvalidInput) as unit:
        edit("staff", "vol2", home_unit_id="u2")  # not paired with c1
    assert unit.value.field == "home_unit_id"
    with pytest.raises(mk.NotAllowed):
        edit("staff", "vol2", roles_held=frozenset({Role.STAFF}))  # staff need an admin
    edit("admin", "vol2", roles_held=frozenset({Role.STAFF}))


def test_the_log_shows_only_to_the_member_and_the_office(db: points.Database) -> None:
    with db.transaction() as tx:
        mk.edit_profile(tx, "res", address="幸福路1号", skills=frozenset(), availability=None,
                        now=T0)  # fmt: skip
    with db.snapshot() as tx:
        assert [c.field for c in mk.profile_history(tx, "staff", "res")] == ["address"]
        with pytest.raises(mk.NotFound):
            mk.profile_history(tx, "vol1", "res")


def test_a_members_own_data_holds_their_profiles_log(db: points.Database) -> None:
    with db.transaction() as tx:
        mk.edit_profile(tx, "vol1", address="幸福路1号", skills=frozenset(), availability="周六",
                        now=T0)  # fmt: skip
    with db.snapshot() as tx:
        mine = mk.export_member(tx, "vol1", "vol1", now=T0)
    assert {c["field"]: c["new"] for c in mine.profile_changes} == {
        "address": "幸福路1号",
        "skills": [],
        "availability": "周六",
    }
    assert mine.member.address == "幸福路1号"
