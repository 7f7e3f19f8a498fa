"""The record per person (志愿服务记录) and certificates (志愿服务记录证明) at library level: the
record across communities, the person's star level, issuing (only the recording community
certifies), verification and supersession by a correction, the ID document kept with consent."""

from __future__ import annotations

import datetime as dt

import msgspec
import pytest
from sqlalchemy.engine import Connection

import marketplace as mk
import marketplace_world as world
import points
from marketplace_world import T0

ID_NUMBER = "11010519491231002X"  # a resident ID with a valid check digit (GB 11643)


def serve(tx: Connection, volunteer: str, minutes: int, *, day: int = 0, rating: int = 5) -> str:
    """A wish in c1 served by ``volunteer`` for ``minutes`` and confirmed; the claim's id."""
    at = T0 + dt.timedelta(days=day)
    wish = world.post(tx, start=at + dt.timedelta(hours=2))
    wish = mk.verify(tx, "staff", "c1", wish.id, now=at)
    claim = mk.claim(tx, volunteer, "c1", wish.id, now=at + dt.timedelta(minutes=5))
    start = at + dt.timedelta(hours=2)
    mk.check_in(tx, volunteer, "c1", claim.id, code=wish.confirmation_code, now=start)
    mk.check_out(tx, volunteer, "c1", claim.id, now=start + dt.timedelta(minutes=minutes))
    mk.confirm(tx, "res", "c1", wish.id, rating=rating, now=start + dt.timedelta(hours=3))
    return claim.id


def event(tx: Connection, member: str, community: str, minutes: int, reference: str) -> None:
    points.record_service(
        tx,
        community_id=community,
        member_id=member,
        category="环境整治",
        minutes=minutes,
        served_on=dt.date(2026, 12, 3),
        reference=reference,
        actor="staff",
        memo="社区大扫除",
        now=T0,
    )


def test_the_record_of_a_person_spans_every_community_they_served_in(db: points.Database) -> None:
    with db.transaction() as tx:
        world.build(tx)
        serve(tx, "vol1", 90)
        event(tx, "vol1", "c2", 120, "event:e1")
    with db.snapshot() as tx:
        mine = mk.records.service_record(tx, "vol1", "vol1")
        seen_by_c1 = mk.records.service_record(tx, "staff", "vol1", community_id="c1")
        with pytest.raises(mk.NotFound):
            mk.records.service_record(tx, "staff", "vol1")  # not the whole person
        with pytest.raises(mk.NotFound):
            mk.records.service_record(tx, "vol2", "vol1", community_id="c1")
    assert (mine.minutes, mine.hours) == (210, "3.5")
    assert [(c.name, c.minutes) for c in mine.communities] == [("月亮社区", 120), ("阳光社区", 90)]
    by_org = {e.organiser: e for e in mine.entries}
    wish = by_org["阳光社区"]
    assert (wish.activity, wish.place, wish.category) == ("陪老人去医院", "第一网格", "助老陪护")
    assert (wish.minutes, wish.hours, wish.evaluation) == (90, "1.5", 5)
    assert wish.served_on == dt.date(2026, 12, 1)
    assert wish.wish_id is not None
    event_entry = by_org["月亮社区"]
    assert (event_entry.activity, event_entry.place, event_entry.recorder) == (
        "社区大扫除",
        "月亮社区",
        "staff",
    )
    assert "幸福路" not in str(mine)  # the address never: the place is the org
    assert [e.organiser for e in seen_by_c1.entries] == ["阳光社区"]
    assert seen_by_c1.minutes == 90


def test_the_star_level_counts_the_hours_of_every_community(db: points.Database) -> None:
    with db.transaction() as tx:
        world.build(tx)
        for i in range(4):  # 60 hours in c1, 50 in c2: one star only together
            event(tx, "vol1", "c1", 15 * 60, f"event:c1-{i}")
        for i in range(5):
            event(tx, "vol1", "c2", 10 * 60, f"event:c2-{i}")
        mk.set_public_profile(tx, "vol1", True)
    with db.snapshot() as tx:
        record = mk.records.service_record(tx, "vol1", "vol1")
        in_c1 = mk.wallet.hours(tx, "vol1", "c1", "vol1")
        board = mk.board.public_board(tx, "c1")
    assert (record.star_level, record.star_name, record.next_star_hours) == (1, "一星", 300)
    assert (in_c1.minutes, in_c1.star_level) == (3600, 1)  # 60 h here, the person's star
    assert [(h.name, h.hours, h.star_level) for h in board.honour_roll] == [("vol1", "60.0", 1)]


def test_a_certificate_covers_one_community_and_verifies(db: points.Database) -> None:
    with db.transaction() as tx:
        world.build(tx)
        serve(tx, "vol1", 90)
        event(tx, "vol1", "c2", 120, "event:e1")
        mk.issuers.set_issuer(
            tx, "staff", "c1", person_in_charge="王主任", handler="李经办", contact="010-1234"
        )
        mk.identity.record(tx, "vol1", "vol1", kind=mk.identity.IdKind.RESIDENT_ID,
                           number=ID_NUMBER, consent=True, now=T0)  # fmt: skip
        mine = mk.certificates.issue(tx, "vol1", "c1", "vol1", now=T0 + dt.timedelta(days=3))
        other = mk.certificates.issue(tx, "staff", "c1", "vol1", now=T0 + dt.timedelta(days=3))
        with pytest.raises(mk.NotAllowed):  # c2's volunteer is no office of c1
            mk.certificates.issue(tx, "outsider", "c1", "vol1", now=T0)
    assert mine.number != other.number
    assert mk.certificates.NUMBER.match(mine.number)
    assert (mine.name, mine.minutes, mine.hours, mine.records) == ("vol1", 90, "1.5", 1)
    assert (mine.id_kind, mine.id_masked) == (mk.identity.IdKind.RESIDENT_ID, "*" * 14 + "002X")
    assert mine.body.organisation == "阳光社区"  # the community's name unless set
    assert (mine.body.person_in_charge, mine.body.handler, mine.body.contact) == (
        "王主任",
        "李经办",
        "010-1234",
    )
    assert [(line.category, line.hours) for line in mine.body.lines] == [("助老陪护", "1.5")]
    assert [a.title for a in mine.body.activities] == ["陪老人去医院"]
    assert mine.period_to == dt.date(2026, 12, 4)
    with db.snapshot() as tx:
        checked = mk.certificates.verify(tx, mine.number)
        unknown = mk.certificates.verify(tx, "2026-0000-0000")
        junk = mk.certificates.verify(tx, "../../etc")
        again = mk.certificates.certificate(tx, "vol1", mine.number)
        with pytest.raises(mk.NotFound):
            mk.certificates.certificate(tx, "vol2", mine.number)
        listed = mk.certificates.issued(tx, "vol1", member_id="vol1")
        hours = points.hours_summary(tx, "vol1")
    assert checked.status is mk.certificates.Status.VALID
    assert (checked.masked_name, checked.hours, checked.issuer) == ("v***", "1.5", "阳光社区")
    assert "vol1" not in str(checked)
    assert ID_NUMBER[-4:] not in str(checked)
    assert unknown.status is junk.status is mk.certificates.Status.UNKNOWN
    assert again == mine
    assert {c.number for c in listed} == {mine.number, other.number}
    assert hours.minutes == 210  # issuing never changes the record


def test_a_correction_supersedes_the_certificate_and_names_the_new_one(
    db: points.Database,
) -> None:
    since, until = dt.date(2026, 12, 1), dt.date(2026, 12, 31)
    with db.transaction() as tx:
        world.build(tx)
        claim_id = serve(tx, "vol1", 90)
        first = mk.certificates.issue(tx, "vol1", "c1", "vol1", since=since, until=until, now=T0)
        other_period = mk.certificates.issue(tx, "vol1", "c1", "vol1", since=since, now=T0)
    with db.transaction() as tx:
        points.correct_service(tx, community_id="c1", reference=f"claim:{claim_id}",
                               minutes=-30, reason="签退时间有误", actor="staff")  # fmt: skip
    with db.snapshot() as tx:
        stale = mk.certificates.verify(tx, first.number)
    assert (stale.status, stale.superseded_by) == (mk.certificates.Status.SUPERSEDED, None)
    with db.transaction() as tx:
        later = T0 + dt.timedelta(days=1)
        second = mk.certificates.issue(tx, "vol1", "c1", "vol1", since=since, until=until,
                                       now=later)  # fmt: skip
    with db.snapshot() as tx:
        stale = mk.certificates.verify(tx, first.number)
        fresh = mk.certificates.verify(tx, second.number)
        elsewhere = mk.certificates.verify(tx, other_period.number)
    assert (second.minutes, second.hours) == (60, "1.0")
    assert (stale.status, stale.superseded_by) == (mk.certificates.Status.SUPERSEDED, second.number)
    assert (fresh.status, fresh.superseded_by) == (mk.certificates.Status.VALID, None)
    assert elsewhere.superseded_by is None  # another period: not its successor


def test_no_certificate_for_a_period_without_service(db: points.Database) -> None:
    with db.transaction() as tx:
        world.build(tx)
        serve(tx, "vol1", 90)
        with pytest.raises(mk.InvalidInput) as empty:
            mk.certificates.issue(tx, "vol1", "c1", "vol1", until=dt.date(2026, 11, 30), now=T0)
        with pytest.raises(mk.InvalidInput) as reversed_period:
            mk.certificates.issue(tx, "vol1", "c1", "vol1", since=dt.date(2026, 12, 9),
                                  until=dt.date(2026, 12, 1), now=T0)  # fmt: skip
        with pytest.raises(mk.InvalidInput):  # c2 recorded nothing of vol1: c1 certifies it
            mk.certificates.issue(tx, "vol1", "c2", "vol1", now=T0)
    assert empty.value.field == "period"
    assert reversed_period.value.field == "since"


def test_the_id_document_needs_consent_is_masked_and_goes_with_deletion(
    db: points.Database,
) -> None:
    kind = mk.identity.IdKind.RESIDENT_ID
    with db.transaction() as tx:
        world.build(tx)
        with pytest.raises(mk.InvalidInput):
            mk.identity.record(tx, "vol1", "vol1", kind=kind, number=ID_NUMBER, consent=False)
        with pytest.raises(mk.InvalidInput):  # a wrong check digit
            mk.identity.record(tx, "vol1", "vol1", kind=kind, number="110105194912310021",
                               consent=True)  # fmt: skip
        with pytest.raises(mk.NotFound):  # nobody records another's
            mk.identity.record(tx, "staff", "vol1", kind=kind, number=ID_NUMBER, consent=True)
        kept = mk.identity.record(tx, "vol1", "vol1", kind=kind, number=ID_NUMBER.lower(),
                                  consent=True, now=T0)  # fmt: skip
        exported = mk.export_member(tx, "vol1", "vol1", now=T0)
    assert kept.masked == "*" * 18
    assert kept.consent.purpose == mk.identity.PURPOSE
    assert exported.id_document == kept
    assert "002" not in msgspec.json.encode(exported).decode()  # no digit leaves, masked
    with db.transaction() as tx:
        mk.anonymise(tx, "vol1", "vol1", now=T0)
    with db.snapshot() as tx:
        assert mk.identity.document(tx, "vol1", "vol1") is None
        assert mk.identity.printed(tx, "vol1") is None


def test_only_an_admin_uploads_the_seal(db: points.Database) -> None:
    import io

    from PIL import Image

    raw = io.BytesIO()
    Image.new("RGB", (800, 800), (255, 255, 255)).save(raw, format="PNG")
    with db.transaction() as tx:
        world.build(tx)
        with pytest.raises(mk.NotAllowed):
            mk.issuers.set_seal(tx, "staff", "c1", raw.getvalue())
        with pytest.raises(mk.InvalidInput):
            mk.issuers.set_seal(tx, "admin", "c1", b"not an image")
        done = mk.issuers.set_seal(tx, "admin", "c1", raw.getvalue(), now=T0)
        seal = mk.issuers.seal_image(tx, "c1")
    assert done.has_seal
    assert seal is not None
    with Image.open(io.BytesIO(seal)) as image:
        assert image.format == "PNG"
        assert max(image.size) == 600
        assert image.getpixel((10, 10))[3] == 0  # paper white is transparent
