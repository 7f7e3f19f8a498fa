"""Idempotency-Key (幂等键) on every unsafe API request, kept inside the request's own unit of work.

(RFC draft "The Idempotency-Key HTTP Header Field"), scoped by member:

- the key is taken by the unit's first write (:func:`take`) and the response is stored with it
  before the unit ends (:func:`keep`): the effect and its key commit together or not at all;
- the same key again with the same method, path and body replays the stored response
  (``Idempotent-Replayed: true``); with a different request it is refused (422);
- two requests with one key at once: on SQLite the writer runs them one after the other, so the
  second replays the first; on PostgreSQL the second waits on the first's key row, then replays;
- only successful responses are kept (an error rolls its unit back, key included, so a retry
  runs again);
- keys expire after ``LINLI_IDEMPOTENCY_HOURS`` (24 h): an expired key is taken over, and the
  sweep deletes the rest.

The header is declared once, here (:data:`IdempotencyKey`); :mod:`service.uow` gives it to every
handler that writes. Where a request brings its key and how its answer is kept is a
:class:`Keys`: the API's is the header and the JSON answer (:data:`HEADER_KEYS`); the web pages'
is a field of the drawn form and the redirect that answers it (:mod:`service.pages.common`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from typing import Annotated, Any, Protocol

import msgspec
import sqlalchemy as sa
from litestar import Request, Response
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import HeaderParameter
from litestar.serialization import encode_json
from sqlalchemy.engine import Connection

from points import sqltypes, utcnow
from service.auth import Signed, is_current, signed_in
from service.problems import ServiceError
from service.tables import idempotency_keys as keys

HEADER = "idempotency-key"
KEY = re.compile(r"^[\x21-\x7e]{1,255}$")

IdempotencyKey = Annotated[
    str | None,
    HeaderParameter(
        name="Idempotency-Key",
        required=False,
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",  # visible ASCII (KEY)
        description="Replays the stored response when sent again within 24 h (see docs/api.md)",
    ),
]
"""The header every unsafe API operation takes (added by :mod:`service.uow`)."""


class Stored(msgspec.Struct, frozen=True, kw_only=True):
    """The response kept under a key (``status`` 0: its request has not finished)."""

    fingerprint: str
    status: int
    media_type: str
    body: str


class Claim(msgspec.Struct, frozen=True, kw_only=True):
    """A key a request brings: who, which key, what request it names and until when."""

    member_id: str
    version: int  # the credential version of the request's token
    key: str
    fingerprint: str
    now: dt.datetime
    expires_at: dt.datetime


def key_of(request: Request[Any, Any, Any]) -> str | None:
    """The request's Idempotency-Key, checked (400 when it is not 1-255 visible ASCII)."""
    text = request.headers.get(HEADER)
    return None if text is None else checked(text, "Idempotency-Key")


def checked(text: str, field: str) -> str:
    """``text`` as a key (400 when it is not 1-255 visible ASCII)."""
    if not KEY.fullmatch(text):
        raise ServiceError(
            400,
            "invalid_idempotency_key",
            "幂等键须为1到255个可见ASCII字符",
            "Idempotency-Key must be 1 to 255 visible ASCII characters",
            field=field,
        )
    return text


def claim(signed: Signed, key: str, fingerprint: str, now: dt.datetime, hours: int) -> Claim:
    """The key ``signed`` brings for the request ``fingerprint`` names, until ``hours`` on."""
    return Claim(
        member_id=signed.id,
        version=signed.version,
        key=key,
        fingerprint=fingerprint,
        now=now,
        expires_at=now + dt.timedelta(hours=hours),
    )


def fingerprint(request: Request[Any, Any, Any], body: bytes) -> str:
    """What the request asks, as a digest: its method, path, query and ``body``."""
    digest = hashlib.sha256()
    digest.update(request.method.encode())
    digest.update(b"\n" + request.scope["path"].encode() + b"?" + request.scope["query_string"])
    digest.update(b"\n" + body)
    return digest.hexdigest()


async def claim_of(
    request: Request[Any, Any, Any], signed: Signed, now: dt.datetime, hours: int
) -> Claim | None:
    """What the unit of work needs to take the request's key (None: it brings none)."""
    key = key_of(request)
    if key is None:
        return None
    return claim(signed, key, fingerprint(request, await _content(request)), now, hours)


class Keys(Protocol):
    """Where a request brings its key, and how its answer is kept under it and replayed."""

    header: bool  # the key is the Idempotency-Key header (declared on every unsafe operation)

    async def claim(
        self, request: Request[Any, Any, Any], signed: Signed, now: dt.datetime, hours: int
    ) -> Claim | None:
        """The key the request brings (None: none)."""

    def keep(
        self, conn: Connection, claim: Claim, request: Request[Any, Any, Any], result: Any
    ) -> Response[Any]:
        """Keep the handler's answer under the key (the unit's last statement); the answer."""

    def replay(self, stored: Stored, claim: Claim) -> Response[Any]:
        """The answer kept under the key, again (or why not)."""


class HeaderKeys:
    """The API's keys: the Idempotency-Key header; the JSON answer is kept and replayed."""

    header = True

    async def claim(
        self, request: Request[Any, Any, Any], signed: Signed, now: dt.datetime, hours: int
    ) -> Claim | None:
        return await claim_of(request, signed, now, hours)

    def keep(
        self, conn: Connection, claim: Claim, request: Request[Any, Any, Any], result: Any
    ) -> Response[bytes]:
        """The handler's answer as the bytes kept under the key (and sent: the same bytes)."""
        status: int = request.route_handler.status_code or 201
        if isinstance(result, Response):
            status, result = result.status_code or status, result.content
        body = b"" if status == 204 else encode_json(result)
        media_type = "application/json"
        keep(conn, claim, status, media_type, body)
        return Response(content=body, status_code=status, media_type=media_type)

    def replay(self, stored: Stored, claim: Claim) -> Response[bytes]:
        return replay(stored, claim)


HEADER_KEYS = HeaderKeys()


async def _content(request: Request[Any, Any, Any]) -> bytes:
    """What the body says: a multipart form's parts in order (names, file names, types, bytes),
    whatever boundary the client drew this time (a browser draws a new one for each send);
    any other body as sent."""
    if request.content_type[0] != RequestEncodingType.MULTI_PART:
        return await request.body()
    parts = hashlib.sha256()
    for name, value in (await request.form()).multi_items():
        if isinstance(value, UploadFile):
            content = await value.read()
            await value.seek(0)
            parts.update(f"{name}\0{value.filename}\0{value.content_type}\0".encode())
            parts.update(hashlib.sha256(content).digest())
        else:
            parts.update(f"{name}\0{value}\0".encode())
    return parts.digest()


def take(conn: Connection, claim: Claim) -> Stored | None:
    """The request's sign-in check and its key, in one statement: the key is taken (an expired
    one taken over) only while the token's credential version is the current one. None: signed
    in, and the key is this request's now, go on. Else the token is checked on its own (401 when
    revoked) and what is stored under the key is returned (:func:`replay` it)."""
    taken = conn.execute(
        _take(conn),
        {
            "v_member_id": claim.member_id,
            "v_key": claim.key,
            "v_fingerprint": claim.fingerprint,
            "v_status_code": 0,
            "v_media_type": "",
            "v_body": "",
            "v_created_at": claim.now,
            "v_expires_at": claim.expires_at,
            "now": claim.now,
            "version": claim.version,
        },
    ).first()
    if taken is not None:
        return None
    signed_in(conn, Signed(id=claim.member_id, version=claim.version))
    row = conn.execute(
        sa.select(keys.c.fingerprint, keys.c.status_code, keys.c.media_type, keys.c.body).where(
            keys.c.member_id == claim.member_id, keys.c.key == claim.key
        )
    ).one()
    return Stored(
        fingerprint=row.fingerprint,
        status=int(row.status_code),
        media_type=row.media_type,
        body=row.body,
    )


def keep(conn: Connection, claim: Claim, status: int, media_type: str, body: bytes) -> None:
    """Store the response under the key (the unit's last statement)."""
    conn.execute(
        _KEEP,
        {
            "the_member": claim.member_id,
            "the_key": claim.key,
            "status": status,
            "media": media_type,
            "response": body.decode(),
        },
    )


def replay(stored: Stored, claim: Claim) -> Response[bytes]:
    """The stored response again, or why not."""
    check_replay(stored, claim)
    return Response(
        content=stored.body.encode(),
        status_code=stored.status,
        media_type=stored.media_type,
        headers={"Idempotent-Replayed": "true"},
    )


def check_replay(stored: Stored, claim: Claim) -> None:
    """Refuse to replay what is stored under the key for another request, or not yet done."""
    if stored.fingerprint != claim.fingerprint:
        raise ServiceError(
            422,
            "idempotency_key_reused",
            "该幂等键已用于另一个不同的请求",
            "this Idempotency-Key was used for a different request",
            field="Idempotency-Key",
        )
    if stored.status == 0:  # not finished: cannot happen after a commit, kept for safety
        raise ServiceError(
            409,
            "idempotency_in_flight",
            "相同的请求正在处理中，请稍后重试",
            "a request with this Idempotency-Key is still in progress; retry later",
            retry_after=1,
        )


def sweep_keys(conn: Connection, *, now: dt.datetime | None = None, limit: int = 5000) -> int:
    """Delete expired idempotency keys (a sweep); returns how many went."""
    doomed = (
        sa.select(keys.c.member_id, keys.c.key)
        .where(keys.c.expires_at <= (now or utcnow()))
        .limit(limit)
    )
    gone = conn.execute(keys.delete().where(sa.tuple_(keys.c.member_id, keys.c.key).in_(doomed)))
    return int(gone.rowcount or 0)


@sqltypes.per_dialect
def _take(dialect: str) -> Any:
    """``INSERT … SELECT … WHERE EXISTS (the credential at this version) ON CONFLICT DO UPDATE …
    WHERE expired RETURNING``, built once per dialect."""
    names = ("member_id", "key", "fingerprint", "status_code", "media_type", "body",
             "created_at", "expires_at")  # fmt: skip
    current = sa.exists().where(is_current(sa.bindparam("v_member_id"), sa.bindparam("version")))
    values = sa.select(*(sa.bindparam(f"v_{n}", type_=keys.c[n].type) for n in names)).where(
        current
    )
    insert = sqltypes.dialect_insert(dialect, keys)
    fresh = {n: getattr(insert.excluded, n) for n in names[2:]}
    return (
        insert.from_select(list(names), values)
        .on_conflict_do_update(
            index_elements=[keys.c.member_id, keys.c.key],
            set_=fresh,
            where=keys.c.expires_at <= sa.bindparam("now", type_=keys.c.expires_at.type),
        )
        .returning(keys.c.key)
    )


_KEEP = (
    keys.update()
    .where(keys.c.member_id == sa.bindparam("the_member"), keys.c.key == sa.bindparam("the_key"))
    .values(
        status_code=sa.bindparam("status"),
        media_type=sa.bindparam("media"),
        body=sa.bindparam("response"),
    )
)
