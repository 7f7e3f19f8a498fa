"""What every controller shares: the units of work, policies, bounds, paging.

Each handler declares its access policy in ``opt["policy"]`` (``PUBLIC``: no sign-in;
``MEMBER``: a signed-in member, and the library decides per object), and the app's guard refuses
any handler without one (deny by default; a test lists every route and checks it has one).
Input is taken only as the OpenAPI document says, strictly (:func:`strict_input`).

A handler is a plain function decorated ``@api.read`` or ``@api.write`` (:mod:`service.uow`): it
runs as the request's one unit of work and takes by name ``tx`` (the unit's connection), ``me``
(the signed-in member) and ``now`` (the app's clock).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
from typing import Annotated, Any

import msgspec
from litestar import Request
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin  # not public
from litestar.connection import ASGIConnection
from litestar.exceptions import (
    NotAuthorizedException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Schema, SecurityRequirement
from litestar.params import QueryParameter
from litestar.typing import FieldDefinition
from sqlalchemy.engine import Connection

import marketplace as mk
from service import uow
from service.auth import Actor, Signed
from service.problems import Problem, ServiceError

api = uow.api  # @api.read, @api.write
Tx = Connection  # the request's unit of work
Me = Actor  # the signed-in member
Now = dt.datetime  # the app's clock

PUBLIC = {"policy": "public", "exclude_from_auth": True}
ANONYMOUS: list[SecurityRequirement] = [{}]
"""OpenAPI ``security`` of a PUBLIC operation: no sign-in needed (the document's default is the
bearer token, and an operation's own list replaces it)."""
MEMBER = {"policy": "member"}
POLICIES = frozenset({"public", "member"})

Id = Annotated[
    str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@-]*$")
]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
ShortText = Annotated[str, msgspec.Meta(max_length=200)]
Reason = Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
LongText = Annotated[str, msgspec.Meta(max_length=2000)]
Moment = Annotated[dt.datetime, msgspec.Meta(tz=True)]
Points = Annotated[int, msgspec.Meta(ge=1, le=1_000_000_000)]
Minutes = Annotated[int, msgspec.Meta(ge=1, le=1440)]
Phone = Annotated[str, msgspec.Meta(pattern=r"^1\d{10}$")]
Password = Annotated[str, msgspec.Meta(min_length=8, max_length=128)]

Cursor = Annotated[
    str | None,
    QueryParameter(
        description="`next_cursor` of the page before",
        max_length=400,
        pattern=r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$",  # what the lists give out (issue_cursor)
        required=False,
    ),
]
Limit = Annotated[int, QueryParameter(ge=1, le=200, description="page size, at most 200")]


def issue_cursor(listing: str, after: str | None) -> str | None:
    """The ``next_cursor`` a list gives out: the library's cursor (``after``), sealed with a
    check of the list's name, so that :func:`read_cursor` knows a cursor this list issued from
    one it never did (typed, truncated, or another list's). The check is not a secret: a forged
    cursor still meets the library's own checks, refused with the same code."""
    if after is None:
        return None
    body = base64.urlsafe_b64encode(after.encode()).decode().rstrip("=")
    return f"{body}.{_seal(listing, after)}"


def read_cursor(listing: str, cursor: str | None) -> str | None:
    """The library's cursor inside a ``cursor`` that ``listing`` gave out (None: the first
    page); any other cursor is refused, on every list alike (422 ``invalid_cursor``)."""
    if cursor is None:
        return None
    body, _, seal = cursor.partition(".")
    try:
        after = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        after = None
    if after is None or not hmac.compare_digest(seal, _seal(listing, after)):
        raise ServiceError(422, "invalid_cursor", INVALID_CURSOR_ZH, INVALID_CURSOR_EN,
                           field="cursor")  # fmt: skip
    return after


INVALID_CURSOR_ZH = "不是本列表给出的分页游标"
INVALID_CURSOR_EN = "cursor: is not a cursor this list gave out"


def _seal(listing: str, after: str) -> str:
    digest = hashlib.sha256(f"linli-cursor\0{listing}\0{after}".encode()).digest()
    return base64.urlsafe_b64encode(digest[:9]).decode()


EARLIEST = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(9000, 1, 1, tzinfo=dt.UTC)
OUT_OF_RANGE = "must be a time between the years 1900 and 9000"


def in_range(value: dt.datetime) -> bool:
    """A time someone means and the database can keep (near the years 1 and 9999 the conversion
    to UTC overflows). A time without a zone passes: the library refuses it with its reason."""
    return value.tzinfo is None or EARLIEST <= value < LATEST


def check_moment(name: str, value: dt.datetime | None) -> None:
    """A query parameter's time, checked like a body's (:class:`Input`)."""
    if value is not None and not in_range(value):
        raise mk.InvalidInput(name, OUT_OF_RANGE)


class Input(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base of every request body: unknown fields are refused (no mass assignment), and every
    date and time must be :func:`in_range`."""

    def __post_init__(self) -> None:
        for name in self.__struct_fields__:
            value = getattr(self, name)
            if isinstance(value, dt.datetime) and not in_range(value):
                raise ValueError(f"{OUT_OF_RANGE} - at `$.{name}`")  # msgspec's form: the field


ZERO_BOUNDS = {
    "ge": "minimum",
    "le": "maximum",
    "gt": "exclusive_minimum",
    "lt": "exclusive_maximum",
}


class StrictStructs(StructSchemaPlugin):
    """OpenAPI: a Struct that refuses unknown fields says so (``additionalProperties: false``);
    Litestar's own plugin leaves it out, and clients would take extra fields to be allowed. And a
    bound of 0 on an optional number (``stock``: ``ge=0``) is kept: Litestar tests a bound's
    truth before copying it, and 0 is false."""

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: Any) -> Schema:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        info = msgspec.inspect.type_info(field_definition.type_)
        if isinstance(info, msgspec.inspect.StructType):
            if info.forbid_unknown_fields:
                schema.additional_properties = False
            for field in info.fields:
                _keep_zero_bounds((schema.properties or {}).get(field.encode_name), field.type)
        return schema


def _keep_zero_bounds(schema: Any, kind: msgspec.inspect.Type) -> None:
    if not isinstance(schema, Schema):
        return
    members = kind.types if isinstance(kind, msgspec.inspect.UnionType) else (kind,)
    for member in members:
        for bound, key in ZERO_BOUNDS.items():
            if getattr(member, bound, None) == 0 and getattr(schema, key) is None:
                setattr(schema, key, 0)


JSON = re.compile(r"^application/(?:[\w.-]+\+)?json$")
TIMES = (dt.datetime, dt.datetime | None)


async def strict_input(request: Request[Any, Any, Any]) -> None:
    """Before every API handler: what it takes is what the OpenAPI document says, strictly.

    Litestar converts input laxly (query strings need it), so without this a JSON body sent as
    text/plain or as a form would be taken (a browser may send those across sites without
    asking), ``"5"`` would count as an integer, ``2.0`` as an integer and ``0`` as a boolean in
    a body, and ``until=0`` as 1970 in a query. Here a body must say it is JSON (else 415) and
    fit its type in msgspec's strict mode, and a time in the query must be an RFC 3339 time (else
    422); what passes converts to the same values Litestar then makes of it. Malformed JSON is
    left to Litestar's own answer (400)."""
    parameters = request.route_handler.parsed_fn_signature.parameters
    for name, field in parameters.items():
        raw = request.query_params.get(name) if field.annotation in TIMES else None
        if raw is not None:
            try:
                msgspec.convert(raw, dt.datetime, strict=True)
            except msgspec.ValidationError as exc:
                raise ValidationException(
                    detail="Validation failed", extra=[{"message": str(exc), "key": name}]
                ) from exc
    data = parameters.get("data")
    if data is None:
        return
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    body = await request.body()
    if not body and not media:
        return  # no body at all: Litestar refuses the missing data itself
    if not JSON.fullmatch(media):
        raise ServiceError(
            415,
            "unsupported_media_type",
            "请求内容须为 JSON（Content-Type: application/json）",
            "the body must be JSON (Content-Type: application/json)",
            field="Content-Type",
        )
    try:
        msgspec.json.decode(body, type=data.annotation, strict=True)
    except msgspec.ValidationError as exc:
        raise ValidationException(
            detail="Validation failed", extra=[{"message": str(exc), "key": "data"}]
        ) from exc
    except msgspec.DecodeError:
        return


async def policy_guard(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """Deny by default: a handler must state who may call it. (A coroutine: a plain function
    would be run on a thread of the pool for every request.)"""
    policy = handler.opt.get("policy")
    if policy not in POLICIES:
        raise PermissionDeniedException("this endpoint has no access policy")
    if policy == "member" and not isinstance(connection.scope.get("user"), Signed):
        raise NotAuthorizedException("sign in first")


DESCRIPTIONS = {
    400: "malformed request or Idempotency-Key",
    401: "not signed in, or the token is invalid or expired",
    403: "the lifecycle table does not let this member do this now",
    404: "no such object for this member (also another community's)",
    405: "method not allowed",
    409: "conflict with the stored state (capacity, stock, points, in-flight key)",
    413: "request body too large",
    415: "unsupported media type",
    422: "invalid input (a field, an unknown field, or a reused Idempotency-Key)",
    429: "rate limited",
    500: "internal error (logged; no details)",
    503: "database unavailable",
}


def problems(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI: the problem responses a handler may give (plus the ones every handler may)."""
    every = {400, 401, 413, 415, 422, 429, 500, 503}
    return {
        status: ResponseSpec(
            data_container=Problem,
            media_type="application/problem+json",
            description=DESCRIPTIONS.get(status, "problem"),
            generate_examples=False,
        )
        for status in sorted(every | set(statuses))
    }
