"""One-time sign-in codes (一次性验证码): set a password without knowing one.

One mechanism for two needs: a member registered without a password (the roster import makes
them so) **activates** their account, and a member who forgot theirs **resets** it. Staff of the
member's community issue the code (who may is the library's table: ``Act.ISSUE_SIGN_IN_CODE``,
and ``Act.ISSUE_OFFICE_SIGN_IN_CODE`` for a staff member's or an admin's code, asked by
:func:`marketplace.members_in_care`), for one member or for a list at once
(:func:`issue_codes`); the answer holds each code once and it is never stored: the table keeps
an HMAC-SHA256 of it under the service's secret key, so a copy of the database alone does not
reveal or test a code. A code is eight digits, lives ``LINLI_CODE_ACTIVATE_HOURS`` (24 h) or
``LINLI_CODE_RESET_MINUTES`` (30 min), and works once; a newer code for the member replaces it.

The member signs in with their phone number and the code, and sets a new password
(:func:`redeem`): the credential's ``token_version`` rises, so every older token stops working.
Wrong codes are counted per phone number and per client address in the app's store (429
``code_throttled``, as the sign-in's throttle) and on the code itself, which is spent after
:data:`SPENT_AFTER` wrong tries. Every issue, use and refusal of a known member's code is a row
of ``svc_sign_in_code_events`` (who, when, for whom, from where; never the code).

The use cases are load → decide → write on the caller's connection; argon2 hashing of the new
password happens before the unit (:func:`service.auth.hash_password`).
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

import marketplace as mk
from points import new_id, sqltypes
from service import auth
from service.problems import ServiceError
from service.settings import Settings
from service.tables import credentials, sign_in_code_events, sign_in_codes

DIGITS = 8
CODE = re.compile(rf"^\d{{{DIGITS}}}$")
SPENT_AFTER = 10
"""Wrong tries after which a code is spent, whatever the throttle's window (a process without a
shared store still stops a guesser)."""


class Purpose(enum.StrEnum):
    ACTIVATE = "activate"  # 激活: the member has no password yet
    RESET = "reset"  # 重置: the member forgot theirs


class Lifetimes(msgspec.Struct, frozen=True, kw_only=True):
    """How long a code of each purpose lives."""

    activate: dt.timedelta
    reset: dt.timedelta

    @classmethod
    def of(cls, settings: Settings) -> Lifetimes:
        return cls(
            activate=dt.timedelta(hours=settings.code_activate_hours),
            reset=dt.timedelta(minutes=settings.code_reset_minutes),
        )

    def of_purpose(self, purpose: Purpose) -> dt.timedelta:
        return self.activate if purpose is Purpose.ACTIVATE else self.reset


class IssuedCode(msgspec.Struct, frozen=True, kw_only=True):
    """A code as issued: shown once to the staff who asked, never stored."""

    member_id: str
    name: str
    phone: str  # the number the member signs in with
    purpose: Purpose
    code: str
    expires_at: dt.datetime


class Redeemed(msgspec.Struct, frozen=True, kw_only=True):
    """A code that worked: the member's password is set, at the credential's new version."""

    member_id: str
    purpose: Purpose
    token_version: int


class Refusal(msgspec.Struct, frozen=True, kw_only=True):
    """Why a code did not work: ``wrong`` (no code of this phone matches), ``expired``,
    ``used``, ``spent`` (too many wrong tries). Returned, not raised, so the unit keeps the
    count and the log; :meth:`error` is the answer."""

    reason: str

    def error(self) -> ServiceError:
        zh, en, status = REFUSALS[self.reason]
        return ServiceError(status, f"code_{self.reason}", zh, en, field="code")


REFUSALS = {
    "wrong": ("手机号或验证码不正确", "wrong phone number or code", 401),
    "expired": ("验证码已过期，请联系社区工作人员重新发放", "the code has expired", 410),
    "used": ("验证码已使用过，请联系社区工作人员重新发放", "the code was already used", 410),
    "spent": ("验证码错误次数过多已失效，请联系社区工作人员重新发放", "too many wrong tries", 410),
}


def code_hash(secret: str, member_id: str, code: str) -> str:
    """HMAC-SHA256 of a member's code under the service's key (what the table keeps)."""
    message = f"linli-sign-in-code\0{member_id}\0{code}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def normalise(code: str) -> str:
    """The code as typed, without spaces and dashes (it is shown as ``1234 5678``)."""
    return re.sub(r"[\s-]", "", code)


def issue_codes(
    conn: Connection,
    actor: str,
    community_id: str,
    member_ids: Sequence[str],
    *,
    secret: str,
    lifetimes: Lifetimes,
    now: dt.datetime,
    purpose: Purpose | None = None,
    address: str | None = None,
) -> tuple[IssuedCode, ...]:
    """A one-time code for each member (the order asked), issued by ``actor`` for
    ``community_id``: for the roster import's new members, the staff's button, the CLI.

    ``purpose`` None: activate a member with no password yet, reset one who has one; a purpose
    given must fit each member (409 otherwise). A member outside the community, or an actor who
    is not its office, is NotFound; a code for a staff member or an admin needs an admin (as
    granting office does: NotAllowed for their peers); a member with no phone number (or one
    another member signs in with) is refused: nothing is issued unless every member gets a code.
    Each code replaces the member's code before; each issue is logged. About eight statements
    for a few members, 1.3 s for 10,000 on SQLite."""
    members = mk.members_in_care(
        conn,
        actor,
        community_id,
        member_ids,
        mk.Act.ISSUE_SIGN_IN_CODE,
        office_act=mk.Act.ISSUE_OFFICE_SIGN_IN_CODE,
    )
    if not members:
        return ()
    ids = [m.id for m in members]
    held: dict[str, str] = {}
    for chunk in _chunks(ids):
        c = credentials.c
        held.update(
            conn.execute(sa.select(c.member_id, c.phone).where(c.member_id.in_(chunk))).all()
        )
    phones = {m.id: held.get(m.id) or m.phone for m in members}
    _check_phones(conn, members, phones)
    issued = []
    for member in members:
        wanted = Purpose.RESET if member.id in held else Purpose.ACTIVATE
        if purpose is not None and purpose is not wanted:
            raise _wrong_purpose(member, purpose)
        code = f"{secrets.randbelow(10**DIGITS):0{DIGITS}d}"
        issued.append(
            IssuedCode(
                member_id=member.id,
                name=member.name,
                phone=phones[member.id] or "",
                purpose=wanted,
                code=code,
                expires_at=now + lifetimes.of_purpose(wanted),
            )
        )
    rows = [
        {
            "member_id": i.member_id,
            "community_id": community_id,
            "purpose": i.purpose.value,
            "phone": i.phone,
            "code_hash": code_hash(secret, i.member_id, i.code),
            "issued_by": actor,
            "issued_at": now,
            "expires_at": i.expires_at,
            "used_at": None,
            "failures": 0,
        }
        for i in issued
    ]
    insert = sqltypes.upsert(conn, sign_in_codes)
    replaced = {c: insert.excluded[c] for c in rows[0] if c != "member_id"}
    conn.execute(insert.on_conflict_do_update(index_elements=["member_id"], set_=replaced), rows)
    _log(conn, [(i.member_id, i.purpose, "issued", None) for i in issued],
         community_id, actor, address, now)  # fmt: skip
    return tuple(issued)


def issue_code(
    conn: Connection,
    actor: str,
    community_id: str,
    member_id: str,
    *,
    secret: str,
    lifetimes: Lifetimes,
    now: dt.datetime,
    purpose: Purpose | None = None,
    address: str | None = None,
) -> IssuedCode:
    """:func:`issue_codes` for one member."""
    (issued,) = issue_codes(
        conn, actor, community_id, [member_id], secret=secret, lifetimes=lifetimes, now=now,
        purpose=purpose, address=address,
    )  # fmt: skip
    return issued


def _check_phones(
    conn: Connection, members: Sequence[mk.Member], phones: dict[str, str | None]
) -> None:
    for member in members:
        if not phones[member.id]:
            raise ServiceError(
                422,
                "no_phone",
                f"{member.name}没有登记手机号，无法发放验证码",
                f"member {member.id} has no phone number to sign in with",
                field="member_id",
            )
    wanted = sorted({p for p in phones.values() if p})
    taken: dict[str, str] = {}
    for chunk in _chunks(wanted):
        c = credentials.c
        taken.update(conn.execute(sa.select(c.phone, c.member_id).where(c.phone.in_(chunk))).all())
    for member in members:
        phone = phones[member.id]
        if phone in taken and taken[phone] != member.id:
            raise ServiceError(
                409,
                "conflict",
                f"{member.name}的手机号已被其他成员用于登录",
                f"member {member.id}'s phone number signs in another member",
                field="member_id",
            )


def without_password(conn: Connection, member_ids: Sequence[str]) -> list[str]:
    """Those of ``member_ids`` (in their order) who have set no password yet: whom an
    activation code is for (the roster import's new members, some of whom may have set one)."""
    having: set[str] = set()
    for chunk in _chunks(member_ids):
        having.update(
            conn.scalars(
                sa.select(credentials.c.member_id).where(credentials.c.member_id.in_(chunk))
            )
        )
    return [m for m in member_ids if m not in having]


def _chunks(values: Sequence[str], size: int = 1000) -> list[Sequence[str]]:
    """``values`` in pieces, each a statement's worth of parameters."""
    return [values[start : start + size] for start in range(0, len(values), size)]


def _wrong_purpose(member: mk.Member, purpose: Purpose) -> ServiceError:
    if purpose is Purpose.ACTIVATE:
        zh, en = f"{member.name}已设置密码，请发放重置码", "the member has a password: reset"
    else:
        zh, en = f"{member.name}尚未设置密码，请发放激活码", "the member has no password: activate"
    return ServiceError(409, "conflict", zh, en, field="purpose")


def redeem(
    conn: Connection,
    phone: str,
    code: str,
    password_hash: str,
    *,
    secret: str,
    now: dt.datetime,
    address: str | None = None,
) -> Redeemed | Refusal:
    """Set the password of the member whose live code for ``phone`` is ``code`` (the password
    hashed beforehand by :func:`service.auth.hash_password`); every older token stops working.
    A refusal is returned with the count and the log written: commit the unit, then answer
    :meth:`Refusal.error`."""
    code = normalise(code)
    c = sign_in_codes.c
    rows = conn.execute(sa.select(sign_in_codes).where(c.phone == phone)).all()
    digests = {r.member_id: code_hash(secret, r.member_id, code) for r in rows}
    row = next((r for r in rows if hmac.compare_digest(r.code_hash, digests[r.member_id])), None)
    if row is None:
        live = [r for r in rows if r.used_at is None and r.expires_at > now]
        if live:
            conn.execute(
                sign_in_codes.update()
                .where(c.member_id.in_([r.member_id for r in live]))
                .values(failures=c.failures + 1)
            )
            for r in live:
                _log(conn, [(r.member_id, Purpose(r.purpose), "refused", "wrong")],
                     r.community_id, None, address, now)  # fmt: skip
        return Refusal(reason="wrong")
    purpose = Purpose(row.purpose)
    reason = _refusal(row, now)
    if reason is not None:
        _log(conn, [(row.member_id, purpose, "refused", reason)], row.community_id, None,
             address, now)  # fmt: skip
        return Refusal(reason=reason)
    auth.set_credentials(conn, row.member_id, row.phone, password_hash, now=now)
    conn.execute(sign_in_codes.update().where(c.member_id == row.member_id).values(used_at=now))
    _log(conn, [(row.member_id, purpose, "used", None)], row.community_id, row.member_id,
         address, now)  # fmt: skip
    version = conn.scalar(
        sa.select(credentials.c.token_version).where(credentials.c.member_id == row.member_id)
    )
    return Redeemed(member_id=row.member_id, purpose=purpose, token_version=int(version or 0))


def _refusal(row: sa.Row[tuple[object, ...]], now: dt.datetime) -> str | None:
    """Why a matching code may not be used now (None: it may)."""
    if row.used_at is not None:
        return "used"
    if row.failures >= SPENT_AFTER:
        return "spent"
    if row.expires_at <= now:
        return "expired"
    return None


class Event(msgspec.Struct, frozen=True, kw_only=True):
    """One line of the codes' log (never the code)."""

    member_id: str
    community_id: str
    event: str  # issued | used | refused
    purpose: Purpose
    reason: str | None
    actor: str | None
    address: str | None
    at: dt.datetime


def events(conn: Connection, member_id: str) -> tuple[Event, ...]:
    """A member's codes as logged, oldest first."""
    e = sign_in_code_events.c
    rows = conn.execute(
        sa.select(
            e.member_id, e.community_id, e.event, e.purpose, e.reason, e.actor, e.address, e.at
        )
        .where(e.member_id == member_id)
        .order_by(e.at, e.id)
    )
    return tuple(Event(**{**r._asdict(), "purpose": Purpose(r.purpose)}) for r in rows)


def _log(
    conn: Connection,
    lines: Sequence[tuple[str, Purpose, str, str | None]],
    community_id: str,
    actor: str | None,
    address: str | None,
    now: dt.datetime,
) -> None:
    sqltypes.insert_many(
        conn,
        sign_in_code_events,
        [
            {
                "id": new_id(),
                "member_id": member_id,
                "community_id": community_id,
                "event": event,
                "purpose": purpose.value,
                "reason": reason,
                "actor": actor,
                "address": address[:64] if address else None,
                "at": now,
            }
            for member_id, purpose, event, reason in lines
        ],
    )
