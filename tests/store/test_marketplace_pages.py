"""What the web pages needed from the libraries: seats, 我的心愿, the actions the table offers,
finding residents for 代点单, a unit's members, membership through a place inside a community,
the honour roll by hours, and the public board (nothing personal leaves it)."""

from __future__ import annotations

import datetime as dt

import msgspec
import pytest
from sqlalchemy.engine import Connection

import marketplace as mk
import marketplace_world as world
import points
from marketplace import ClaimAction, ClaimState, Role, WishAction, WishState
from marketplace_world import T0


def test_the_actions_offered_are_the_table_s_for_those_roles() -> None:
    office = frozenset({Role.STAFF})
    owner = frozenset({Role.BENEFICIARY})
    assert mk.wish_actions(WishState.SUBMITTED, office) >= {WishAction.VERIFY, WishAction.REJECT}
    photo = WishAction.ATTACH_PHOTO
    assert mk.wish_actions(WishState.SUBMITTED, owner) == {WishAction.CANCEL, photo}
    assert mk.wish_actions(WishState.SERVED, owner) == {
        WishAction.CONFIRM,
        WishAction.DISPUTE,
        photo,
    }
    assert WishAction.CLAIM in mk.wish_actions(WishState.PUBLISHED, frozenset({Role.VOLUNTEER}))
    assert mk.wish_actions(WishState.CLOSED, office) == frozenset()
    assert WishAction.SETTLE not in mk.wish_actions(WishState.PUBLISHED, frozenset({Role.SYSTEM}))
    claimant = frozenset({Role.CLAIMANT})
    assert mk.claim_actions(ClaimState.ACTIVE, claimant) == {
        ClaimAction.CHECK_IN,
        ClaimAction.WITHDRAW,
    }
    assert mk.claim_actions(ClaimState.CHECKED_IN, claimant) == {
        ClaimAction.CHECK_OUT,
        ClaimAction.ATTACH_PHOTO,
    }
    for state in WishState:  # every offer is a row the table would accept
        for action in mk.wish_actions(state, office | owner):
            mk.decide_wish(state, action, office | owner)


def test_seats_name_each_role_and_the_community_it_acts_in(db: points.Database) -> None:
    with db.transaction() as tx:
        world.build(tx)
        mk.grant_role(tx, mk.SYSTEM, "res", "c2", Role.VOLUNTEER, now=T0)
        res = mk.seats(tx, "res")
        party = mk.seats(tx, "party")
        admin = mk.seats(tx, "admin")
    assert [(s.role, s.org_id, s.community_id) for s in res] == [
        (Role.RESIDENT, "g1", "c1"),
        (Role.VOLUNTEER, "c2", "c2"),
    ]
    assert res[0].community_name == "阳光社区"
    assert res[0].key == "resident@g1@c1"
    assert [(s.role, s.org_id, s.community_id) for s in party] == [
        (Role.PARTY_MEMBER, "u1", "c1")  # a unit acts in the communities it is paired with
    ]
    assert [(s.role, s.org_kind, s.community_id) for s in admin] == [
        (Role.ADMIN, mk.OrgKind.DISTRICT, None)
    ]


def test_my_wishes_are_the_ones_i_posted_or_that_are_for_me(db: points.Database) -> None:
    with db.transaction() as tx:
        world.build(tx)
        mine = world.post(tx, actor="res")
        other = world.post(tx, actor="res2")
        proxied = mk.post_wish(
            tx, "grid", community_id="c1", kind=mk.WishKind.SERVICE, category="代办跑腿",
            title="帮忙取药", description="", org_id="g1", address="幸福路1号3栋",
            window_start=T0 + dt.timedelta(hours=2), window_end=T0 + dt.timedelta(hours=4),
            estimated_minutes=30, beneficiary_id="res", proxy_note="电话确认", now=T0,
        )  # fmt: skip
        res = mk.member_wishes(tx, "res", "c1")
        grid = mk.member_wishes(tx, "grid", "c1")
        first = mk.member_wishes(tx, "res", "c1", limit=1)
        rest = mk.member_wishes(tx, "res", "c1", cursor=first.next_cursor, limit=1)
        submitted = mk.member_wishes(tx, "res", "c1", states=frozenset({WishState.CLOSED}))
    assert {w.id for w in res.items} == {mine.id, proxied.id}
    assert other.id not in {w.id for w in res.items}
    assert [w.id for w in grid.items] == [proxied.id]
    assert [w.id for w in first.items + rest.items] == [w.id for w in res.items]
    assert submitted.items == ()


def test_a_resident_of_a_grid_is_a_member_of_its_community_but_not_its_office(
    db: points.Database,
) -> None:
    with db.transaction() as tx:
        world.build(tx)
        _, held = mk.wallet.community_roles(tx, "res", "c1")
        offers = mk.list_offers(tx, "res", "c1")
        store = mk.wallet.catalog(tx, "res", "c1")
        with pytest.raises(mk.NotFound):
            mk.wallet.community_roles(tx, "res", "c2")  # another tenant
        mk.grant_role(tx, "admin", "grid", "g1", Role.STAFF, now=T0)  # office on a grid
        _, grid_held = mk.wallet.community_roles(tx, "grid", "c1")
        with pytest.raises(mk.NotAllowed):
            mk.wallet.add_item(tx, "grid", "c1", name="米", cost=1, stock=1)
    assert held == {Role.RESIDENT}
    assert (offers.items, store.items) == ((), ())
    assert Role.STAFF not in grid_held


def test_residents_are_found_for_proxy_posting_with_masked_phones(
    db: points.Database,
) -> None:
    with db.transaction() as tx:
        world.build(tx)
        mk.add_member(tx, id="lao", name="老王", phone="13800001234", now=T0)
        mk.grant_role(tx, mk.SYSTEM, "lao", "g1", Role.RESIDENT, now=T0)
        mk.set_key_household(
            tx, "staff", "lao", "c1", frozenset({mk.KeyHousehold.ELDERLY_ALONE}), purpose="帮扶"
        )
        by_name = mk.find_residents(tx, "grid", "g1", text="老王")
        by_phone = mk.find_residents(tx, "staff", "c1", text="1234")
        everyone = mk.find_residents(tx, "grid", "g1")
        with pytest.raises(mk.NotAllowed):
            mk.find_residents(tx, "vol1", "c1", text="老王")
    (found,) = by_name
    assert (found.member.id, found.member.phone, found.org_id) == ("lao", "138****1234", "g1")
    assert found.member.key_household == frozenset()  # never the sensitive flags
    assert found.member.key_household_consent is None
    assert [r.member.id for r in by_phone] == ["lao"]
    assert {r.member.id for r in everyone} == {"lao", "res", "res2"}


def test_a_unit_admin_sees_the_unit_s_members_only(db: points.Database) -> None:
    with db.transaction() as tx:
        world.build(tx)
        members = mk.unit_members(tx, "uadmin", "u1")
        with pytest.raises(mk.NotAllowed):
            mk.unit_members(tx, "vol1", "u1")
        with pytest.raises(mk.InvalidInput):
            mk.unit_members(tx, "uadmin", "c1")
    assert [m.id for m in members] == ["party"]


def _served(tx: Connection, resident: str, volunteer: str, minutes: int) -> mk.Wish:
    wish = world.published(tx, actor=resident)
    claim = mk.claim(tx, volunteer, "c1", wish.id, now=T0)
    start = T0 + dt.timedelta(hours=2)
    mk.check_in(tx, volunteer, "c1", claim.id, code=wish.confirmation_code, now=start)
    end = start + dt.timedelta(minutes=minutes)
    mk.check_out(tx, volunteer, "c1", claim.id, now=end)
    return mk.confirm(tx, resident, "c1", wish.id, rating=5, now=end)


def test_the_honour_roll_ranks_members_by_verified_hours(db: points.Database) -> None:
    with db.transaction() as tx:
        world.build(tx)
        _served(tx, "res", "vol1", 60)
        _served(tx, "res", "vol2", 120)
        top = points.top_hours(tx, "c1")
        one = points.top_hours(tx, "c1", limit=1)
        elsewhere = points.top_hours(tx, "c2")
    assert [(t.member_id, t.minutes, t.hours) for t in top] == [
        ("vol2", 120, "2.0"),
        ("vol1", 60, "1.0"),
    ]
    assert [t.member_id for t in one] == ["vol2"]
    assert elsewhere == ()


def test_the_public_board_shows_nothing_personal(db: points.Database) -> None:
    with db.transaction() as tx:
        world.build(tx)
        mk.set_public_profile(tx, "vol2", True)
        done = _served(tx, "res", "vol1", 60)
        _served(tx, "res2", "vol2", 90)
        world.published(tx)  # open: not on the board
        mk.wallet.add_item(tx, "staff", "c1", name="大米", cost=10, stock=3)
        board = mk.board.public_board(tx, "c1")
        communities = mk.board.public_communities(tx)
        with pytest.raises(mk.NotFound):
            mk.board.public_board(tx, "g1")
        with pytest.raises(mk.NotFound):
            mk.board.public_board(tx, "nowhere")
    assert board.fulfilled_total == 2
    assert {w.title for w in board.fulfilled} == {done.title}
    assert [(h.name, h.minutes) for h in board.honour_roll] == [("vol2", 90)]
    assert board.others == 1  # vol1 did not opt in: counted, never named
    assert [(s.name, s.stock) for s in board.store] == [("大米", 3)]
    text = msgspec.json.encode(board).decode()
    for personal in ("res", "vol1", "幸福路", done.confirmation_code, "beneficiary"):
        assert personal not in text, personal
    assert [c.id for c in communities.items] == ["c1", "c2"]


def test_the_wish_list_searches_titles_and_descriptions(db: points.Database) -> None:
    with db.transaction() as tx:
        world.build(tx)
        first = world.post(tx)  # 陪老人去医院 / 周二上午复诊
        found = mk.list_wishes(tx, "vol1", "c1", text="医院")
        by_description = mk.list_wishes(tx, "vol1", "c1", text="复诊")
        none = mk.list_wishes(tx, "vol1", "c1", text="100%")
        with pytest.raises(mk.InvalidInput):
            mk.list_wishes(tx, "vol1", "c1", text="长" * 51)
    assert [w.id for w in found.items] == [first.id]
    assert [w.id for w in by_description.items] == [first.id]
    assert none.items == ()
