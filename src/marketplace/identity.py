"""A member's ID document (证件类型与号码), kept only with their consent, for certificates.

民发〔2015〕149号 puts the volunteer's ID type and number on a 志愿服务记录证明. An ID number is
personal information the service does not otherwise need, so it is kept only when the member
records it themself with a separate consent (单独同意: who, when, for what), apart from the member
row (it never travels with a :class:`~marketplace.Member`). It is shown masked everywhere
(:func:`masked`: no digit at all); only a certificate prints it, masked but the last 4
(:func:`printed`). The member may remove it at any time; deletion of the member removes it.
"""

from __future__ import annotations

import datetime as dt
import enum
import re

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from marketplace.errors import InvalidInput, NotFound
from marketplace.model import Consent
from marketplace.orgs import get_member
from marketplace.schema import id_documents
from points import Cause, utcnow

PURPOSE = "出具志愿服务记录证明"
_RESIDENT_ID = re.compile(r"^\d{17}[\dX]$")
_OTHER = re.compile(r"^[A-Z0-9]{5,20}$")
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


class IdKind(enum.StrEnum):
    """证件类型 (the national volunteer system's list)."""

    RESIDENT_ID = "resident_id"  # 居民身份证
    PASSPORT = "passport"  # 护照
    HK_MACAO_PERMIT = "hk_macao_permit"  # 港澳居民来往内地通行证
    TAIWAN_PERMIT = "taiwan_permit"  # 台湾居民来往大陆通行证
    RESIDENCE_PERMIT = "residence_permit"  # 港澳台居民居住证
    FOREIGN_PERMANENT = "foreign_permanent"  # 外国人永久居留身份证


class IdDocument(msgspec.Struct, frozen=True, kw_only=True):
    """The document as shown: ``masked`` hides every character."""

    kind: IdKind
    masked: str
    consent: Consent


class Printed(msgspec.Struct, frozen=True, kw_only=True):
    """The document as a certificate prints it: all but the last 4 masked."""

    kind: IdKind
    masked: str


def check_number(kind: IdKind, number: str) -> str:
    """The number, upper case and without spaces, if it is one of its kind (pure); a resident
    ID's check digit (GB 11643) must match."""
    text = re.sub(r"\s+", "", number or "").upper()
    if kind is IdKind.RESIDENT_ID:
        if not _RESIDENT_ID.match(text):
            raise InvalidInput("id_number", Cause("id_number"))
        total = sum(int(d) * w for d, w in zip(text[:17], _WEIGHTS, strict=True))
        if _CHECK[total % 11] != text[17]:
            raise InvalidInput("id_number", Cause("id_number"))
    elif not _OTHER.match(text):
        raise InvalidInput("id_number", Cause("id_number"))
    return text


def masked(number: str) -> str:
    """Every character hidden: the pages show that one is recorded, never any digit."""
    return "*" * len(number)


def masked_but_last_4(number: str) -> str:
    return "*" * max(0, len(number) - 4) + number[-4:]


def record(
    conn: Connection,
    actor: str,
    member_id: str,
    *,
    kind: IdKind,
    number: str,
    consent: bool,
    now: dt.datetime | None = None,
) -> IdDocument:
    """The member records their own document, consenting to its keeping for certificates."""
    if actor != member_id:
        raise NotFound("member", member_id)
    get_member(conn, member_id)
    try:
        kind = IdKind(kind)
    except ValueError:
        raise InvalidInput("id_kind", Cause("id_kind")) from None
    text = check_number(kind, number)
    if not consent:
        raise InvalidInput("consent", Cause("consent_required"))
    now = now or utcnow()
    given = Consent(recorded_by=actor, recorded_at=now, purpose=PURPOSE)
    values = {
        "kind": kind.value,
        "number": text,
        "consent": msgspec.to_builtins(given),
        "recorded_at": now,
    }
    done = conn.execute(
        id_documents.update().where(id_documents.c.member_id == member_id).values(**values)
    )
    if done.rowcount == 0:
        conn.execute(id_documents.insert().values(member_id=member_id, **values))
    return IdDocument(kind=kind, masked=masked(text), consent=given)


def remove(conn: Connection, actor: str, member_id: str) -> None:
    """The member withdraws the consent: the document is deleted (nothing to do if none)."""
    if actor != member_id:
        raise NotFound("member", member_id)
    erase(conn, member_id)


def erase(conn: Connection, member_id: str) -> None:
    """Delete the document (the member's deletion, :func:`marketplace.anonymise`)."""
    conn.execute(id_documents.delete().where(id_documents.c.member_id == member_id))


def document(conn: Connection, actor: str, member_id: str) -> IdDocument | None:
    """The member's own document, masked (None: none recorded)."""
    if actor != member_id:
        raise NotFound("member", member_id)
    row = conn.execute(sa.select(id_documents).where(id_documents.c.member_id == member_id)).first()
    if row is None:
        return None
    return IdDocument(
        kind=IdKind(row.kind),
        masked=masked(row.number),
        consent=msgspec.convert(row.consent, Consent),
    )


def printed(conn: Connection, member_id: str) -> Printed | None:
    """What a certificate prints (the caller has decided the certificate may be printed)."""
    row = conn.execute(
        sa.select(id_documents.c.kind, id_documents.c.number).where(
            id_documents.c.member_id == member_id
        )
    ).first()
    if row is None:
        return None
    return Printed(kind=IdKind(row.kind), masked=masked_but_last_4(row.number))


def printed_of(conn: Connection, member_ids: list[str]) -> dict[str, Printed]:
    """:func:`printed` for several members at once (a list of certificates: one statement)."""
    if not member_ids:
        return {}
    rows = conn.execute(
        sa.select(id_documents.c.member_id, id_documents.c.kind, id_documents.c.number).where(
            id_documents.c.member_id.in_(member_ids)
        )
    )
    return {
        member_id: Printed(kind=IdKind(kind), masked=masked_but_last_4(number))
        for member_id, kind, number in rows.all()
    }
