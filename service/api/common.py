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
from typing import Annotated, Any, ClassVar, NamedTuple

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
from litestar.openapi.spec import OpenAPIFormat, OpenAPIType, Schema, SecurityRequirement
from litestar.params import QueryParameter
from litestar.plugins import OpenAPISchemaPlugin
from litestar.typing import FieldDefinition
from sqlalchemy.engine import Connection

import marketplace as mk
import points
from marketplace import bounds
from service import uow
from service.auth import Actor, Signed
from service.problems import Problem, ServiceError
from service.text import LINE, explain, text

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

ID = r"^[A-Za-z0-9][A-Za-z0-9._:@-]*$"
Id = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=ID)]
QueryId = Annotated[
    str | None, QueryParameter(min_length=1, max_length=64, pattern=ID, required=False)
]
"""An id in the query string, bounded as in a body."""
QueryCategory = Annotated[
    str | None, QueryParameter(min_length=1, max_length=32, pattern=LINE, required=False)
]
"""A category name in the query string: free text (:mod:`service.text`), as in a body."""
# The fields of request bodies and of the web forms: the library's bounds (marketplace.bounds),
# with the service's free-text rule (service.text) on every text.
Name = Annotated[bounds.Title, text()]  # an item's, an org's name
Title = Annotated[bounds.Title, text()]
PersonName = Annotated[bounds.PersonName, text()]
Address = Annotated[bounds.Address, text()]
Schedule = Annotated[bounds.Schedule, text()]
Memo = Annotated[bounds.Memo, text()]
Reason = Annotated[bounds.Reason, text(lines=True)]
Note = Annotated[bounds.Note, text(lines=True)]
LongText = Annotated[bounds.Description, text(lines=True)]
Capacity = bounds.Capacity
Urgency = bounds.Urgency
Rating = bounds.Rating
Room = Annotated[bounds.Room, text()]
ProfileText = Annotated[bounds.ProfileText, text()]
Skill = Annotated[bounds.Skill, text()]
Skills = Annotated[list[Skill], msgspec.Meta(max_length=bounds.SKILLS)]
Moment = Annotated[dt.datetime, msgspec.Meta(tz=True)]
Points = Annotated[int, msgspec.Meta(ge=1, le=points.MAX_AMOUNT)]
Stock = Annotated[int, msgspec.Meta(ge=0, le=points.MAX_AMOUNT)]
Quantity = Annotated[int, msgspec.Meta(ge=1, le=1000)]  # one order's items (the store's bound)
Minutes = bounds.Minutes
NONZERO = msgspec.Meta(extra_json_schema={"not": {"const": 0}})
"""A signed change that must not be 0 (the library refuses 0; the OpenAPI document says so)."""
Change = Annotated[int, msgspec.Meta(ge=-points.MAX_AMOUNT, le=points.MAX_AMOUNT), NONZERO]
"""A signed change of points or stock."""
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


EARLIEST, LATEST = 1900, 9000
OUT_OF_RANGE = points.Cause("years", {"low": EARLIEST, "high": LATEST})
YEARS = r"^(?:19|[2-8][0-9])[0-9][0-9]-"
"""A time's year as written, 1900 to 8999: the pattern the OpenAPI document gives every time."""


def in_range(value: dt.datetime) -> bool:
    """A time someone means and the database can keep (near the years 1 and 9999 the conversion
    to UTC overflows), judged by the year as written (:data:`YEARS`, what the OpenAPI document
    can say). A time without a zone passes: the library refuses it with its reason."""
    return value.tzinfo is None or EARLIEST <= value.year < LATEST


def check_moment(name: str, value: dt.datetime | None) -> None:
    """A query parameter's time, checked like a body's (:class:`Input`)."""
    if value is not None and not in_range(value):
        raise mk.InvalidInput(name, OUT_OF_RANGE)


class Need(NamedTuple):
    """A field a body must give (not null) when another field is given (not null), or when it
    has ``value`` (its default counts when it is left out): one JSON Schema ``if``/``then``."""

    field: str
    when: str
    value: str | None = None  # None: whenever ``when`` is given
    reason: str = points.CAUSES["empty"]  # English, as msgspec's messages are (i18n reads it)

    def holds(self, body: msgspec.Struct) -> bool:
        given = getattr(body, self.when)
        return given is not None if self.value is None else given == self.value


class Input(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base of every request body: unknown fields are refused (no mass assignment), every date
    and time must be :func:`in_range`, and each of ``needs`` holds (``Need("phone",
    when="password")``: no password without a phone); the OpenAPI document says so too
    (:class:`StrictStructs`)."""

    needs: ClassVar[tuple[Need, ...]] = ()

    def __post_init__(self) -> None:
        for name in self.__struct_fields__:
            value = getattr(self, name)
            if isinstance(value, dt.datetime) and not in_range(value):
                raise ValueError(f"{OUT_OF_RANGE} - at `$.{name}`")  # msgspec's form: the field
        for need in self.needs:
            if need.holds(self) and getattr(self, need.field) is None:
                raise ValueError(f"{need.reason} - at `$.{need.field}`")


BOUNDS = {
    "ge": "minimum",
    "le": "maximum",
    "gt": "exclusive_minimum",
    "lt": "exclusive_maximum",
    "min_length": "min_length",
    "max_length": "max_length",
    "pattern": "pattern",
}
ITEMS = {"min_length": "min_items", "max_length": "max_items"}
PAIRS = {"min_length": "min_properties", "max_length": "max_properties"}
SEQUENCES = (
    msgspec.inspect.ListType,
    msgspec.inspect.SetType,
    msgspec.inspect.FrozenSetType,
    msgspec.inspect.VarTupleType,
)


class StrictStructs(StructSchemaPlugin):
    """OpenAPI: a Struct's schema says all that msgspec checks. Litestar's own plugin leaves out
    that a Struct refuses unknown fields (``additionalProperties: false``), a bound of 0 (it
    tests a bound's truth before copying it), and every bound of what a list or a dict holds (a
    skill's length, a multiplier's range, a category name's length); here they are put back, from
    the same Struct types msgspec validates with. And it says a set's items are unique, which
    msgspec does not check (it keeps a repeated value once): that is taken out."""

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: Any) -> Schema:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        info = msgspec.inspect.type_info(field_definition.type_)
        if isinstance(info, msgspec.inspect.StructType):
            if info.forbid_unknown_fields:
                schema.additional_properties = False
            for field in info.fields:
                _constrain((schema.properties or {}).get(field.encode_name), field.type)
            needs: tuple[Need, ...] = getattr(info.cls, "needs", ())
            conditions = [_condition(need, info) for need in needs]
            if len(conditions) == 1:
                schema.schema_if, schema.then = conditions[0]
            elif conditions:
                schema.all_of = [Schema(schema_if=when, then=then) for when, then in conditions]
        return schema


def _condition(need: Need, info: msgspec.inspect.StructType) -> tuple[Schema, Schema]:
    """JSON Schema ``if`` and ``then`` of a :class:`Need`."""
    if need.value is None:
        return _present(need.when), _present(need.field)
    default = next(f.default for f in info.fields if f.encode_name == need.when)
    when = Schema(properties={need.when: Schema(const=need.value)})
    if default != need.value:  # left out, ``when`` is its default: the need holds only if equal
        when.required = [need.when]
    return when, _present(need.field)


def _present(name: str) -> Schema:
    """JSON Schema: the field is given, and not null."""
    return Schema(
        required=[name], properties={name: Schema(schema_not=Schema(type=OpenAPIType.NULL))}
    )


def _constrain(schema: Any, kind: msgspec.inspect.Type) -> None:
    """Copy msgspec's constraints of ``kind`` onto Litestar's ``schema`` of it, recursively."""
    if not isinstance(schema, Schema):
        return  # a $ref: the Struct's own schema carries its constraints
    if isinstance(kind, msgspec.inspect.Metadata):
        if (kind.extra_json_schema or {}).get("not") == {"const": 0}:  # NONZERO
            schema.schema_not = Schema(const=0)
        kind = kind.type
    if isinstance(kind, msgspec.inspect.UnionType):
        members = [m for m in kind.types if not isinstance(m, msgspec.inspect.NoneType)]
        if len(members) == 1:  # Litestar puts an optional value's constraints on the oneOf
            _constrain(schema, members[0])
        return
    if isinstance(kind, msgspec.inspect.DateTimeType):
        schema.pattern = YEARS
    if isinstance(kind, SEQUENCES):
        _copy(schema, kind, ITEMS)
        if isinstance(kind, msgspec.inspect.SetType | msgspec.inspect.FrozenSetType):
            schema.unique_items = None  # a set takes a value twice and keeps it once
        if isinstance(kind.item_type, msgspec.inspect.StrType):  # Litestar: oneOf[string, {}]
            schema.items = Schema(type=OpenAPIType.STRING)
        _constrain(schema.items, kind.item_type)
    elif isinstance(kind, msgspec.inspect.DictType):
        _copy(schema, kind, PAIRS)
        _constrain(schema.additional_properties, kind.value_type)
        names = Schema(type=OpenAPIType.STRING)
        _constrain(names, kind.key_type)
        if names.min_length or names.max_length or names.pattern:
            schema.property_names = names
    else:
        _copy(schema, kind, BOUNDS)


def _copy(schema: Schema, kind: msgspec.inspect.Type, names: dict[str, str]) -> None:
    for bound, key in names.items():
        value = getattr(kind, bound, None)
        if value is not None and getattr(schema, key) is None:
            setattr(schema, key, value)


class Moments(OpenAPISchemaPlugin):
    """OpenAPI: a time (a body's, a query's) is RFC 3339 in the years 1900 to 8999 (:data:`YEARS`;
    :func:`in_range` holds the server to it)."""

    def is_plugin_supported_field(self, field_definition: FieldDefinition) -> bool:
        return field_definition.annotation is dt.datetime

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: Any) -> Schema:
        return Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.DATE_TIME, pattern=YEARS)


JSON = re.compile(r"^application/(?:[\w.-]+\+)?json$")
TIMES = (dt.datetime, dt.datetime | None)


async def strict_input(request: Request[Any, Any, Any]) -> None:
    """Before every API handler: what it takes is what the OpenAPI document says, strictly.

    Litestar converts input laxly (query strings need it), so without this a JSON body sent as
    text/plain or as a form would be taken (a browser may send those across sites without
    asking), ``"5"`` would count as an integer and ``0`` as a boolean in a body, and
    ``until=0`` as 1970 in a query. Here a body must say it is JSON (else 415) and fit its type
    in msgspec's strict mode, and a time in the query must be an RFC 3339 time (else 422); what
    passes converts to the same values Litestar then makes of it. One leniency, as JSON Schema
    has it: a whole number written with a point (``37.0``) is an integer. Malformed JSON is
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
        try:
            raw = msgspec.json.decode(body)
        except msgspec.DecodeError:  # "7" and then bytes that are not JSON: malformed after all
            return
        _times_in_range(raw, data.annotation)
        try:  # 37.0 is an integer to JSON Schema: a whole number with a point is taken as one
            msgspec.convert(_whole(raw), data.annotation, strict=True)
        except msgspec.ValidationError:
            raise ValidationException(
                detail="Validation failed", extra=[{"message": explain(str(exc)), "key": "data"}]
            ) from exc
    except msgspec.DecodeError:
        return


def _times_in_range(raw: Any, annotation: Any) -> None:
    """A refused body's time outside the years the document gives (:data:`YEARS`) is named as
    the fault, as msgspec names a field it cannot decode: msgspec tells missing fields first, and
    :class:`Input`'s own check of the range only runs after them."""
    if not isinstance(raw, dict):
        return
    if not (isinstance(annotation, type) and issubclass(annotation, msgspec.Struct)):
        return
    info = msgspec.inspect.type_info(annotation)
    assert isinstance(info, msgspec.inspect.StructType)
    for field in info.fields:
        kind = field.type
        kinds = kind.types if isinstance(kind, msgspec.inspect.UnionType) else (kind,)
        is_time = any(isinstance(k, msgspec.inspect.DateTimeType) for k in kinds)
        value = raw.get(field.encode_name)
        if is_time and isinstance(value, str) and not re.match(YEARS, value):
            message = f"{OUT_OF_RANGE} - at `$.{field.encode_name}`"
            raise ValidationException(
                detail="Validation failed", extra=[{"message": message, "key": "data"}]
            )


def _whole(value: Any) -> Any:
    """``value`` with every whole float (``37.0``) an int (a float field takes an int too)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_whole(v) for v in value]
    if isinstance(value, dict):
        return {k: _whole(v) for k, v in value.items()}
    return value


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
    410: "gone: a one-time code expired, used or spent",
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
