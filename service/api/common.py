"""What every controller shares: the request's transaction and actor, policies, bounds, paging.

Each handler declares its access policy in ``opt["policy"]`` (``PUBLIC``: no sign-in;
``MEMBER``: a signed-in member, and the library decides per object), and the app's guard refuses
any handler without one (deny by default; a test lists every route and checks it has one).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import msgspec
from litestar import Request
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin  # not public
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Schema
from litestar.params import HeaderParameter, QueryParameter
from litestar.typing import FieldDefinition
from sqlalchemy.ext.asyncio import AsyncConnection

import marketplace as mk
from service.auth import Actor
from service.problems import Problem
from service.uow import TX

Tx = NamedDependency[AsyncConnection]  # the request's transaction (service.uow)
Me = NamedDependency[Actor]  # the signed-in member
Now = NamedDependency[dt.datetime]  # the app's clock

PUBLIC = {"policy": "public", "exclude_from_auth": True}
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
    QueryParameter(description="`next_cursor` of the page before", max_length=200, required=False),
]
Limit = Annotated[int, QueryParameter(ge=1, le=200, description="page size, at most 200")]
IdempotencyKey = Annotated[
    str | None,
    HeaderParameter(
        name="Idempotency-Key",
        required=False,
        max_length=255,
        description="Replays the stored response when sent again within 24 h (see docs/api.md)",
    ),
]


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


class StrictStructs(StructSchemaPlugin):
    """OpenAPI: a Struct that refuses unknown fields says so (``additionalProperties: false``);
    Litestar's own plugin leaves it out, and clients would take extra fields to be allowed."""

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: Any) -> Schema:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        info = msgspec.inspect.type_info(field_definition.type_)
        if isinstance(info, msgspec.inspect.StructType) and info.forbid_unknown_fields:
            schema.additional_properties = False
        return schema


def tx(request: Request[Any, Any, Any]) -> AsyncConnection:
    """The request's transaction, opened by the unit of work (service.uow)."""
    conn: AsyncConnection = request.scope["state"][TX]
    return conn


def actor(request: Request[Any, Any, Any]) -> Actor:
    user = request.scope.get("user")
    if not isinstance(user, Actor):
        raise NotAuthorizedException("sign in first")
    return user


def policy_guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """Deny by default: a handler must state who may call it."""
    policy = handler.opt.get("policy")
    if policy not in POLICIES:
        raise PermissionDeniedException("this endpoint has no access policy")
    if policy == "member" and not isinstance(connection.scope.get("user"), Actor):
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
    every = {400, 401, 413, 422, 429, 500, 503}
    return {
        status: ResponseSpec(
            data_container=Problem,
            media_type="application/problem+json",
            description=DESCRIPTIONS.get(status, "problem"),
            generate_examples=False,
        )
        for status in sorted(every | set(statuses))
    }
