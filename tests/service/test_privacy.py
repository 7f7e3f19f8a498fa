"""Privacy over HTTP (个人信息保护, DESIGN.md section 8, :mod:`marketplace.privacy`).

The resident ``res`` gets a phone number and key-household types (with the consent recorded); her
wish then goes through every claim state, and each person of the world fetches every response
that can carry her data. Each answer is checked field by field against the table below, and its
whole text is scanned for the raw phone, the full address, the types, the consent and the
confirmation code wherever the table does not allow them. Then the member's rights: the honour
roll shows only who opted in, a member downloads their own data, and deletion anonymises the
person while the ledger and the hours record stay; and nothing personal reaches the logs.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, NamedTuple

import httpx
import pytest
import sqlalchemy as sa
from litestar import get

import marketplace as mk
import points
import service_world as sw
from marketplace.schema import members
from points import Database
from service_world import Service

Json = dict[str, Any]

PHONE = "13812341234"
MASKED_PHONE = "138****1234"
ADDRESS = "幸福路1号3栋502室"
BUILDING = "幸福路1号3栋"
FLAGS = ["elderly_alone", "serious_illness"]  # sorted, as the API lists them
PURPOSE = "上门探访与优先帮扶"
WISHES = "/api/v1/communities/c1/wishes"
CLAIMS = "/api/v1/communities/c1/claims"
KEY_HOUSEHOLD = "/api/v1/communities/c1/members/res/key-household"


class Seen(NamedTuple):
    """What one viewer sees of the resident on her wish."""

    phone: str | None
    address: str
    flags: list[str] | None  # None: not shown to this viewer
    code: bool  # the confirmation code is shown


OWN = Seen(PHONE, ADDRESS, FLAGS, code=True)  # the resident herself; the community's staff
OFFICE = Seen(PHONE, ADDRESS, None, code=True)  # office above the community: no sensitive types
SERVING = Seen(PHONE, ADDRESS, FLAGS, code=False)  # holds an active or checked-in claim
MASKED = Seen(MASKED_PHONE, BUILDING, None, code=False)  # anyone else with a role in c1
HIDDEN = None  # no role in c1: the wish does not exist for them (404)

VIEWERS = ("res", "staff", "grid", "admin", "vol1", "vol2", "party", "outsider")
# Her wish (GET one, the list, the escalation queue), by the state of vol1's claim on it.
ON_THE_WISH: dict[str, tuple[Seen | None, ...]] = {
    #               res  staff grid    admin   vol1     vol2    party   outsider
    "published":   (OWN, OWN, MASKED, OFFICE, MASKED,  MASKED, MASKED, HIDDEN),
    "claimed":     (OWN, OWN, MASKED, OFFICE, SERVING, MASKED, MASKED, HIDDEN),
    "withdrawn":   (OWN, OWN, MASKED, OFFICE, MASKED,  MASKED, MASKED, HIDDEN),
    "checked_in":  (OWN, OWN, MASKED, OFFICE, SERVING, MASKED, MASKED, HIDDEN),
    "checked_out": (OWN, OWN, MASKED, OFFICE, MASKED,  MASKED, MASKED, HIDDEN),
    "confirmed":   (OWN, OWN, MASKED, OFFICE, MASKED,  MASKED, MASKED, HIDDEN),
}  # fmt: skip
WISH_STATE = {
    "published": "published",
    "claimed": "claimed",
    "withdrawn": "published",
    "checked_in": "in_service",
    "checked_out": "served",
    "confirmed": "closed",
}
QUEUED = frozenset({"published", "claimed", "withdrawn", "checked_in"})  # open, with a deadline
WHOLE_LOOK = frozenset({"published", "checked_in", "confirmed"})  # also the responses about her
# that no claim state changes (her record, member lists, statistics, claims, recommendations)
# Her member record (GET /members/res): (phone, key-household types); None: 404. Whatever the
# state of the wish: serving her gives a volunteer her wish's contact, never her record.
ON_THE_RECORD: dict[str, tuple[str, list[str] | None] | None] = {
    "res": (PHONE, FLAGS),
    "staff": (PHONE, FLAGS),
    "admin": (PHONE, None),
}
# The member lists of her community and grid (GET /orgs/{c1,g1}/members): office only.
IN_THE_LISTS: dict[str, tuple[str, list[str] | None] | None] = {
    "staff": (PHONE, FLAGS),
    "admin": (PHONE, None),
}
OFFICE_VIEWERS = frozenset({"staff", "admin"})
# Community-wide lists (its wishes, my claims there, recommendations): roles on the community or
# above, or on a paired unit, open them. Whether a role inside it (res, grid: on the grid) does is
# access, not privacy: here they may be refused, but whatever they are shown is checked.
COMMUNITY_WIDE = frozenset({"staff", "admin", "vol1", "vol2", "party"})
INSIDE = frozenset({"res", "grid"})


def give_phone(svc: Service, member_id: str, phone: str) -> None:
    """No endpoint changes a registered member's phone: the test writes it as registration does."""
    db: Database = svc.app.state.db
    with db.transaction() as tx:
        tx.execute(members.update().where(members.c.id == member_id).values(phone=phone))


async def record_key_household(svc: Service) -> Json:
    answer = await svc.client.put(
        KEY_HOUSEHOLD, headers=svc.as_("staff"), json={"flags": FLAGS, "purpose": PURPOSE}
    )
    assert answer.status_code == 200, answer.text
    body: Json = answer.json()
    return body


async def post_wish(
    svc: Service,
    *,
    actor: str = "res",
    capacity: int = 1,
    beneficiary: str | None = None,
    address: str = ADDRESS,
) -> tuple[str, str]:
    """A published wish (posted, verified by staff): its id and confirmation code."""
    start = svc.clock.now + dt.timedelta(hours=1)
    body: Json = {
        "category": "助老陪护",
        "title": "陪我去医院复诊",
        "org_id": "g1",
        "address": address,
        "window_start": start.isoformat(),
        "window_end": (start + dt.timedelta(hours=4)).isoformat(),
        "estimated_minutes": 90,
        "capacity": capacity,
    }
    if beneficiary is not None:
        body |= {"beneficiary_id": beneficiary, "proxy_note": "电话征得本人同意"}
    posted = await svc.client.post(WISHES, headers=svc.as_(actor), json=body)
    assert posted.status_code == 201, posted.text
    wish = posted.json()
    verified = await svc.client.post(f"{WISHES}/{wish['id']}/verify", headers=svc.as_("staff"))
    assert verified.status_code == 200, verified.text
    return wish["id"], verified.json()["confirmation_code"]  # the office's copy


async def claim(svc: Service, person: str, wish_id: str) -> str:
    made = await svc.client.post(f"{WISHES}/{wish_id}/claims", headers=svc.as_(person), json={})
    assert made.status_code == 201, made.text
    claim_id: str = made.json()["claim"]["id"]
    return claim_id


async def claim_step(svc: Service, person: str, claim_id: str, step: str, **body: Any) -> Json:
    done = await svc.client.post(f"{CLAIMS}/{claim_id}/{step}", headers=svc.as_(person), json=body)
    assert done.status_code == 200, done.text
    answer: Json = done.json()
    return answer


async def confirm(svc: Service, wish_id: str, resident: str = "res") -> None:
    done = await svc.client.post(
        f"{WISHES}/{wish_id}/confirm", headers=svc.as_(resident), json={"rating": 5}
    )
    assert done.status_code == 200, done.text


async def serve(svc: Service, wish_id: str, code: str, *volunteers: str) -> None:
    """Each volunteer claims, checks in with the code and out 90 minutes later; then confirm."""
    claims = [await claim(svc, v, wish_id) for v in volunteers]
    svc.clock.advance(hours=1)
    for v, c in zip(volunteers, claims, strict=True):
        await claim_step(svc, v, c, "check-in", code=code)
    svc.clock.advance(minutes=90)
    for v, c in zip(volunteers, claims, strict=True):
        await claim_step(svc, v, c, "check-out")
    wish = await svc.client.get(f"{WISHES}/{wish_id}", headers=svc.as_("staff"))
    await confirm(svc, wish_id, wish.json()["beneficiary_id"])


def period(svc: Service) -> dict[str, str]:
    return {"period": "7d"}  # the last 7 days, today included


def text_of(answer: httpx.Response) -> str:
    """The body as text, and again with any escaped characters decoded."""
    try:
        decoded = json.dumps(answer.json(), ensure_ascii=False)
    except ValueError:
        decoded = ""
    return answer.text + "\n" + decoded


class Scan:
    """Every response seen, with the resident's data it may carry; then the no-leak check."""

    def __init__(self, code: str) -> None:
        self.secrets = {
            "phone": PHONE,
            "address": ADDRESS,
            **{f"type {flag}": flag for flag in FLAGS},
            "consent": PURPOSE,
            "code": code,
        }
        self.seen: list[tuple[str, str, httpx.Response, frozenset[str]]] = []

    def add(self, who: str, state: str, answer: httpx.Response, allowed: frozenset[str]) -> None:
        self.seen.append((who, state, answer, allowed))

    def check(self) -> None:
        leaks = [
            f"{state}: {who} got the {name} from {answer.request.method} {answer.request.url.path}"
            for who, state, answer, allowed in self.seen
            for name, secret in self.secrets.items()
            if name not in allowed and secret in text_of(answer)
        ]
        assert leaks == []


def on_wish(seen: Seen | None) -> frozenset[str]:
    """The names of the secrets a response about her wish may carry for this viewer."""
    if seen is None:
        return frozenset()
    names = {f"type {flag}" for flag in seen.flags or ()}
    names |= {"phone"} if seen.phone == PHONE else set()
    names |= {"address"} if seen.address == ADDRESS else set()
    names |= {"code"} if seen.code else set()
    return frozenset(names)


def on_record(shown: tuple[str, list[str] | None] | None) -> frozenset[str]:
    """The same for her member record: the phone, and the types with their consent."""
    if shown is None:
        return frozenset()
    phone, flags = shown
    names = {"phone"} if phone == PHONE else set()
    names |= {f"type {flag}" for flag in flags or ()} | ({"consent"} if flags else set())
    return frozenset(names)


def check_wish(wish: Json, seen: Seen, code: str, where: str) -> None:
    contact = wish["contact"]
    got = Seen(
        contact["phone"],
        contact["address"],
        contact["key_household"],
        code=wish["confirmation_code"] is not None,
    )
    assert got == seen, where
    assert wish["address"] == seen.address, where
    assert contact["masked"] is (seen.phone != PHONE), where
    assert wish["confirmation_code"] == (code if seen.code else None), where


def check_member(member: Json, expected: tuple[str, list[str] | None], where: str) -> None:
    phone, flags = expected
    assert (member["phone"], member["key_household"]) == (phone, flags), where
    consent = member["key_household_consent"]
    if flags is None:
        assert consent is None, where
    else:
        assert (consent["recorded_by"], consent["purpose"]) == ("staff", PURPOSE), where


async def look(svc: Service, wish_id: str, code: str, state: str, scan: Scan) -> None:
    """Every response of every viewer that can carry the resident's data, checked and kept."""
    c = svc.client
    for who, seen in zip(VIEWERS, ON_THE_WISH[state], strict=True):
        h = svc.as_(who)
        where = f"{state}/{who}"
        wish_allowed = on_wish(seen)

        one = await c.get(f"{WISHES}/{wish_id}", headers=h)
        listed = await c.get(WISHES, headers=h)
        if seen is None:
            assert one.status_code == 404, where
        else:
            assert one.json()["state"] == WISH_STATE[state], where
            check_wish(one.json(), seen, code, where + " GET wish")
        if who in COMMUNITY_WIDE or (who in INSIDE and listed.status_code == 200):
            assert seen is not None
            [item] = [w for w in listed.json()["items"] if w["id"] == wish_id]
            check_wish(item, seen, code, where + " list")
        else:
            assert listed.status_code == 404, where
        scan.add(who, state, one, wish_allowed)
        scan.add(who, state, listed, wish_allowed)

        queue = await c.get("/api/v1/orgs/c1/escalations", headers=h)
        if who in OFFICE_VIEWERS:
            queued = [w for w in queue.json()["items"] if w["id"] == wish_id]
            assert len(queued) == (1 if state in QUEUED else 0), where
            for w in queued:
                assert seen is not None
                check_wish(w, seen, code, where + " escalations")
        else:
            assert queue.status_code == 404, where
        scan.add(who, state, queue, wish_allowed)

        for path in (f"{WISHES}/{wish_id}/claims", f"{WISHES}/{wish_id}/history"):
            answer = await c.get(path, headers=h)
            assert answer.status_code == (404 if seen is None else 200), where + path
            scan.add(who, state, answer, frozenset())

        if state in WHOLE_LOOK:  # what cannot change with the claim: before, during, after
            record = await c.get("/api/v1/members/res", headers=h)
            expected = ON_THE_RECORD.get(who)
            if expected is None:
                assert record.status_code == 404, where
            else:
                check_member(record.json(), expected, where + " record")
            scan.add(who, state, record, on_record(expected))

            for org in ("c1", "g1"):
                listing = await c.get(f"/api/v1/orgs/{org}/members", headers=h)
                in_list = IN_THE_LISTS.get(who)
                if in_list is None:
                    assert listing.status_code == 404, where
                else:
                    [line] = [m for m in listing.json()["items"] if m["id"] == "res"]
                    check_member(line, in_list, f"{where} /orgs/{org}/members")
                scan.add(who, state, listing, on_record(in_list))

            statistics = await c.get("/api/v1/orgs/c1/statistics", headers=h, params=period(svc))
            assert statistics.status_code == (200 if who in OFFICE_VIEWERS else 404), where
            scan.add(who, state, statistics, frozenset())

            expected_status = {200, 404} if who in INSIDE else {200 if seen else 404}
            for path in (CLAIMS, "/api/v1/communities/c1/recommendations"):
                answer = await c.get(path, headers=h)
                assert answer.status_code in expected_status, where + path
                scan.add(who, state, answer, frozenset())

        export = await c.get("/api/v1/me/export", headers=h)
        assert export.status_code == 200, where
        assert "confirmation_code" not in export.text, where
        own = frozenset(scan.secrets) - {"code"} if who == "res" else frozenset()
        scan.add(who, state, export, own)


async def test_key_household_types_are_stored_only_with_a_recorded_consent(svc: Service) -> None:
    c, staff = svc.client, svc.as_("staff")

    async def stored() -> tuple[Any, Any]:
        record = (await c.get("/api/v1/members/res", headers=staff)).json()
        return record["key_household"], record["key_household_consent"]

    without = await c.put(KEY_HOUSEHOLD, headers=staff, json={"flags": FLAGS})
    assert (without.status_code, without.json()["field"]) == (422, "purpose")
    blank = await c.put(KEY_HOUSEHOLD, headers=staff, json={"flags": FLAGS, "purpose": ""})
    assert blank.status_code == 422
    for stranger in ("grid", "vol1", "res2", "outsider"):  # only office records a consent
        refused = await c.put(
            KEY_HOUSEHOLD, headers=svc.as_(stranger), json={"flags": FLAGS, "purpose": PURPOSE}
        )
        assert refused.status_code == 404, stranger
    db: Database = svc.app.state.db
    types = frozenset(mk.KeyHousehold(f) for f in FLAGS)
    # the library itself refuses types without a purpose
    with db.transaction() as tx, pytest.raises(mk.InvalidInput):
        mk.set_key_household(tx, "staff", "res", "c1", types, purpose="")
    assert await stored() == ([], None)  # nothing was stored by any of those

    recorded = await record_key_household(svc)
    consent = {
        "recorded_by": "staff",
        "recorded_at": svc.clock.now,
        "purpose": PURPOSE,
        "reference": "",
    }  # 同意书编号: none given here (a roster gives one)
    assert recorded["key_household"] == FLAGS
    got = recorded["key_household_consent"]
    assert {**got, "recorded_at": dt.datetime.fromisoformat(got["recorded_at"])} == consent
    assert await stored() == (FLAGS, got)  # who, when and for what, kept with the types
    by_admin = (await c.get("/api/v1/members/res", headers=svc.as_("admin"))).json()
    assert (by_admin["key_household"], by_admin["key_household_consent"]) == (None, None)

    another_tenant = await c.put(
        "/api/v1/communities/c1/members/outsider/key-household",
        headers=staff,
        json={"flags": FLAGS, "purpose": PURPOSE},
    )
    assert another_tenant.status_code == 404

    withdrawn = await c.put(KEY_HOUSEHOLD, headers=staff, json={"flags": [], "purpose": "撤回同意"})
    assert withdrawn.status_code == 200, withdrawn.text
    assert await stored() == ([], None)  # consent withdrawn: the types go with it


async def test_resident_data_in_every_response_follows_the_policy_per_role_and_claim_state(
    svc: Service,
) -> None:
    give_phone(svc, "res", PHONE)
    await record_key_household(svc)
    wish_id, code = await post_wish(svc)
    scan = Scan(code)
    await look(svc, wish_id, code, "published", scan)

    first = await claim(svc, "vol1", wish_id)
    await look(svc, wish_id, code, "claimed", scan)
    svc.clock.advance(minutes=5)
    await claim_step(svc, "vol1", first, "withdraw", reason="临时有事")
    await look(svc, wish_id, code, "withdrawn", scan)

    svc.clock.advance(minutes=5)
    second = await claim(svc, "vol1", wish_id)
    svc.clock.advance(hours=1)
    await claim_step(svc, "vol1", second, "check-in", code=code)  # heard at the door
    await look(svc, wish_id, code, "checked_in", scan)
    svc.clock.advance(minutes=90)
    await claim_step(svc, "vol1", second, "check-out")
    await look(svc, wish_id, code, "checked_out", scan)
    await confirm(svc, wish_id)
    await look(svc, wish_id, code, "confirmed", scan)
    scan.check()


async def test_honour_roll_names_only_members_who_opted_in(svc: Service) -> None:
    wish_id, code = await post_wish(svc, capacity=2)
    await serve(svc, wish_id, code, "vol1", "vol2")

    async def top() -> list[tuple[str, str, int]]:
        answer = await svc.client.get(
            "/api/v1/orgs/c1/statistics", headers=svc.as_("staff"), params=period(svc)
        )
        assert answer.status_code == 200, answer.text
        shown = [(v["member_id"], v["name"], v["minutes"]) for v in answer.json()["top_volunteers"]]
        for hidden in {"vol1", "vol2"} - {member_id for member_id, _, _ in shown}:
            assert hidden not in answer.text  # a count and a masked id, never who
        return shown

    assert await top() == [("v***1", "志愿者", 90), ("v***2", "志愿者", 90)]

    opted = await svc.client.put(
        "/api/v1/me/profile", headers=svc.as_("vol1"), json={"public_profile": True}
    )
    assert (opted.status_code, opted.json()["public_profile"]) == (200, True)
    assert await top() == [("vol1", "vol1", 90), ("v***2", "志愿者", 90)]

    out = await svc.client.put(
        "/api/v1/me/profile", headers=svc.as_("vol1"), json={"public_profile": False}
    )
    assert out.status_code == 200
    assert await top() == [("v***1", "志愿者", 90), ("v***2", "志愿者", 90)]


async def test_a_grid_worker_posting_for_her_never_holds_her_confirmation_code(
    svc: Service,
) -> None:
    """代点单: the code is what she reads out at the door, so only she and the office hold it."""
    body: Json = {
        "category": "助老陪护", "title": "陪我去医院复诊", "org_id": "g1",
        "address": ADDRESS, "beneficiary_id": "res", "proxy_note": "电话征得本人同意",
        "estimated_minutes": 90,
        "window_start": (svc.clock.now + dt.timedelta(hours=1)).isoformat(),
        "window_end": (svc.clock.now + dt.timedelta(hours=5)).isoformat(),
    }  # fmt: skip
    posted = await svc.client.post(WISHES, headers=svc.as_("grid"), json=body)
    assert posted.status_code == 201, posted.text
    assert posted.json()["confirmation_code"] is None
    wish = f"{WISHES}/{posted.json()['id']}"
    code = {}
    for who in ("grid", "res", "staff"):
        seen = await svc.client.get(wish, headers=svc.as_(who))
        code[who] = seen.json()["confirmation_code"]
    assert code["grid"] is None
    assert code["res"] == code["staff"]
    assert len(code["res"]) == 6


async def test_assigning_on_someone_elses_claim_is_refused_before_telling_its_kind(
    svc: Service,
) -> None:
    wish_id, _ = await post_wish(svc)
    claim_id = await claim(svc, "vol1", wish_id)  # a member's claim, not a unit's
    assign = f"{CLAIMS}/{claim_id}/assign"
    asked = await svc.client.post(assign, headers=svc.as_("res"), json={"member_id": "party"})
    assert (asked.status_code, asked.json()["code"]) == (403, "not_allowed"), asked.text
    assert "单位" not in asked.json()["detail"]
    office = await svc.client.post(assign, headers=svc.as_("staff"), json={"member_id": "party"})
    assert (office.status_code, office.json()["field"]) == (422, "unit_claim_id")


async def test_a_member_downloads_their_own_data_and_nobody_elses(svc: Service) -> None:
    give_phone(svc, "res", PHONE)
    await record_key_household(svc)
    served, served_code = await post_wish(svc)
    await serve(svc, served, served_code, "vol1")
    other, other_code = await post_wish(svc, actor="res2", address="幸福路1号5栋101室")
    await claim(svc, "vol2", other)
    proxied, proxied_code = await post_wish(svc, actor="grid", beneficiary="res")
    codes = (served_code, other_code, proxied_code)

    async def export(person: str) -> Json:
        answer = await svc.client.get("/api/v1/me/export", headers=svc.as_(person))
        assert answer.status_code == 200, answer.text
        disposition = answer.headers["content-disposition"]
        assert disposition == f'attachment; filename="linli-{person}.json"'
        assert "confirmation_code" not in answer.text
        for code in codes:
            assert f'"{code}"' not in answer.text
        body: Json = answer.json()
        assert body["member"]["id"] == person
        return body

    mine = await export("vol1")
    assert [c["wish_id"] for c in mine["claims"]] == [served]
    assert {c["member_id"] for c in mine["claims"]} == {"vol1"}
    assert mine["wishes"] == []
    assert {(t["kind"], t["amount"]) for t in mine["transfers"]} == {("accrual", 15)}
    assert [a["owner_id"] for a in mine["accounts"]] == ["vol1"]
    assert [(r["member_id"], r["minutes"]) for r in mine["service_records"]] == [("vol1", 90)]
    assert {t["actor_id"] for t in mine["transitions"]} == {"vol1"}
    text = json.dumps(mine, ensure_ascii=False)
    for theirs in (PHONE, ADDRESS, *FLAGS, PURPOSE, other, "vol2", "res2"):
        assert theirs not in text

    hers = await export("res")
    assert (hers["member"]["phone"], sorted(hers["member"]["key_household"])) == (PHONE, FLAGS)
    assert hers["member"]["key_household_consent"]["purpose"] == PURPOSE
    assert sorted(w["id"] for w in hers["wishes"]) == sorted([served, proxied])
    assert {w["address"] for w in hers["wishes"]} == {ADDRESS}
    assert (hers["claims"], hers["accounts"], hers["service_records"]) == ([], [], [])

    neighbour = await export("res2")
    assert [w["id"] for w in neighbour["wishes"]] == [other]
    assert PHONE not in json.dumps(neighbour, ensure_ascii=False)

    # 代点单: the grid worker posted for her; his copy keeps what he did, not her exact address
    poster = await export("grid")
    assert [(w["id"], w["beneficiary_id"]) for w in poster["wishes"]] == [(proxied, "res")]
    assert [w["address"] for w in poster["wishes"]] == [BUILDING]
    for hers_only in (ADDRESS, PHONE, *FLAGS, PURPOSE):
        assert hers_only not in json.dumps(poster, ensure_ascii=False)


async def test_deletion_anonymises_the_person_and_keeps_the_ledger_and_hours(svc: Service) -> None:
    c, staff = svc.client, svc.as_("staff")
    give_phone(svc, "res", PHONE)
    give_phone(svc, "vol1", "13698765432")
    await record_key_household(svc)
    wish_id, code = await post_wish(svc)
    await serve(svc, wish_id, code, "vol1")
    wallet_url = "/api/v1/communities/c1/members/vol1/wallet"
    hours_url = "/api/v1/communities/c1/members/vol1/hours"
    statement_url = "/api/v1/communities/c1/members/vol1/statement"
    before = [(await c.get(u, headers=staff)).json() for u in (wallet_url, hours_url)]
    entries = (await c.get(statement_url, headers=staff)).json()["items"]
    assert (before[0]["balance"], before[1]["minutes"]) == (15, 90)

    for person in ("vol1", "res"):
        old_token = svc.as_(person)
        gone = await c.post("/api/v1/me/deletion", headers=old_token)
        assert gone.status_code == 200, gone.text
        body = gone.json()
        assert (body["id"], body["name"], body["phone"]) == (person, "已注销用户", None)
        assert (body["key_household"], body["key_household_consent"]) == ([], None)
        assert (body["skills"], body["roles"], body["public_profile"]) == ([], [], False)
        again = await c.get("/api/v1/me", headers=old_token)
        assert (again.status_code, again.json()["code"]) == (401, "unauthenticated")
        sign_in = await c.post(
            "/api/v1/auth/token", json={"phone": sw.PHONES[person], "password": sw.PASSWORD}
        )
        assert (sign_in.status_code, sign_in.json()["code"]) == (401, "bad_credentials")

    # the ledger and the hours record stay, under the same (now anonymous) id
    after = [(await c.get(u, headers=staff)).json() for u in (wallet_url, hours_url)]
    assert after == before
    assert (await c.get(statement_url, headers=staff)).json()["items"] == entries
    audit = await c.get("/api/v1/audit", headers=staff, params={"community_id": "c1"})
    assert (audit.status_code, audit.json()["problems"]) == (200, [])
    db: Database = svc.app.state.db
    with db.snapshot() as conn:
        assert points.audit(conn) == []

    # her wish keeps its record, without her: name, phone, address and types are gone
    wish = (await c.get(f"{WISHES}/{wish_id}", headers=staff)).json()
    assert wish["state"] == "closed"
    assert (wish["beneficiary_id"], wish["contact"]["name"]) == ("res", "已注销用户")
    assert (wish["contact"]["phone"], wish["contact"]["key_household"]) == (None, [])
    assert ADDRESS not in wish["address"]
    record = await c.get("/api/v1/members/res", headers=staff)
    views = [wish, record.json()]
    views += [(await c.get(f"/api/v1/orgs/{o}/members", headers=staff)).json() for o in ("c1",)]
    views.append((await c.get("/api/v1/me/export", headers=staff)).json())
    text = json.dumps(views, ensure_ascii=False)
    for trace in (PHONE, "13698765432", ADDRESS, *FLAGS, PURPOSE):
        assert trace not in text
    history = (await c.get(f"{WISHES}/{wish_id}/history", headers=staff)).json()["items"]
    assert "vol1" in {h["actor_id"] for h in history}  # the record of who did what stays


@get("/test/failing-insert", opt={"policy": "public", "exclude_from_auth": True, "tx": "none"})
async def failing_insert() -> None:
    """A write that fails in the database, with her data among the statement's parameters."""
    raise sa.exc.IntegrityError(
        "INSERT INTO mk_members (id, name, phone) VALUES ($1, $2, $3)",
        ("res", "res", PHONE),
        Exception("duplicate key value violates unique constraint"),
    )


async def test_logs_never_carry_phones_passwords_addresses_or_types(
    backend_ready: str, capfd: pytest.CaptureFixture[str]
) -> None:
    async with sw.running(backend_ready, access_log=True, log_level="INFO") as svc:
        c = svc.client
        with sw.service_log() as log:
            give_phone(svc, "res", PHONE)
            signed = await c.post(
                "/api/v1/auth/token", json={"phone": sw.PHONES["res"], "password": sw.PASSWORD}
            )
            assert signed.status_code == 200
            res = {"Authorization": f"Bearer {signed.json()['access_token']}"}
            wrong = await c.post(
                "/api/v1/auth/session",
                json={"phone": sw.PHONES["res"], "password": "not-" + sw.PASSWORD},
            )
            assert wrong.status_code == 401
            malformed = await c.post(
                "/api/v1/auth/token", json={"phone": PHONE + "0", "password": sw.PASSWORD}
            )
            assert malformed.status_code == 422
            await record_key_household(svc)
            wish_id, _ = await post_wish(svc)
            for url in ("/api/v1/me", f"{WISHES}/{wish_id}", "/api/v1/me/export"):
                assert (await c.get(url, headers=res)).status_code == 200
            refused = await c.put(KEY_HOUSEHOLD, headers=svc.as_("vol1"), json={"flags": FLAGS})
            assert refused.status_code == 422
            svc.app.register(failing_insert)  # an unexpected database error is logged in full
            failed = await c.get("/test/failing-insert")
            assert (failed.status_code, failed.json()["code"]) == (500, "internal")
    written = "\n".join(log.lines) + "\n" + capfd.readouterr().err
    access = [json.loads(line) for line in log.lines if '"linli.access"' in line]
    [error] = [json.loads(line)["error"] for line in log.lines if '"linli.errors"' in line]
    assert "IntegrityError" in error  # the error is still there to debug, without her data
    assert "INSERT INTO mk_members" in error
    assert {"/api/v1/auth/token", f"{WISHES}/{wish_id}"} <= {a["path"] for a in access}
    assert "res" in {a["member"] for a in access}  # members are named by id only
    for secret in (PHONE, sw.PHONES["res"], sw.PASSWORD, ADDRESS, BUILDING, *FLAGS, PURPOSE):
        assert secret not in written
