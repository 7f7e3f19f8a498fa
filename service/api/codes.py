"""One-time sign-in codes over HTTP (一次性验证码, :mod:`service.codes`).

Staff of a community issue a code for one member
(``POST /communities/{community_id}/members/{member_id}/sign-in-code``) or for a list
(``POST /communities/{community_id}/sign-in-codes``); the member sets a password with it
(``POST /auth/code``, no sign-in), which answers a bearer token as a sign-in does. The codes are
in the answer once: under an Idempotency-Key the answer is kept without them (a replay shows
``code: ""``; issue again for a new one).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, post
from litestar.params import JSONBody
from litestar.serialization import encode_json
from sqlalchemy.engine import Connection

from points import Database
from service import auth, codes, idempotency, uow
from service.api.common import (
    ANONYMOUS,
    MEMBER,
    PUBLIC,
    Id,
    Input,
    Me,
    Moment,
    Now,
    Password,
    Phone,
    Tx,
    problems,
)
from service.api.people import MemberId
from service.api.session import TokenOut, token_out
from service.api.wishes import Community

CodeText = Annotated[str, msgspec.Meta(min_length=1, max_length=32, pattern=r"^[\d\s-]+$")]
PurposeIn = Literal["activate", "reset"] | msgspec.UnsetType  # left out: whichever fits


class CodeIn(Input, frozen=True, kw_only=True):
    purpose: PurposeIn = msgspec.UNSET  # left out: activate one with no password, else reset


class CodesIn(Input, frozen=True, kw_only=True):
    member_ids: Annotated[list[Id], msgspec.Meta(min_length=1, max_length=10_000)]
    purpose: PurposeIn = msgspec.UNSET


class CodeOut(msgspec.Struct, frozen=True, kw_only=True):
    member_id: str
    name: str
    phone: str
    purpose: str  # activate | reset
    code: str  # eight digits, shown once ("" in a replay)
    expires_at: Moment


class CodesOut(msgspec.Struct, frozen=True, kw_only=True):
    items: tuple[CodeOut, ...]


class RedeemIn(Input, frozen=True, kw_only=True):
    phone: Phone
    code: CodeText
    password: Password  # the new password


class ShownOnce(idempotency.HeaderKeys):
    """The API's keys, keeping the answer without its codes: a replay never shows a code."""

    def keep(
        self,
        conn: Connection,
        claim: idempotency.Claim,
        request: Request[Any, Any, Any],
        result: Any,
    ) -> Response[bytes]:
        status: int = request.route_handler.status_code or 201
        hidden = (
            CodesOut(items=tuple(_hidden(i) for i in result.items))
            if isinstance(result, CodesOut)
            else _hidden(result)
        )
        idempotency.keep(conn, claim, status, "application/json", encode_json(hidden))
        return Response(
            content=encode_json(result), status_code=status, media_type="application/json"
        )


def _hidden(out: CodeOut) -> CodeOut:
    return msgspec.structs.replace(out, code="")


shown_once = uow.Units(keys=ShownOnce())


def _out(issued: codes.IssuedCode) -> CodeOut:
    return CodeOut(
        member_id=issued.member_id,
        name=issued.name,
        phone=issued.phone,
        purpose=issued.purpose.value,
        code=issued.code,
        expires_at=issued.expires_at,
    )


def _issue(
    request: Request[Any, Any, Any],
    tx: Connection,
    actor: str,
    community_id: str,
    member_ids: list[str],
    purpose: str | None,
    now: Any,
) -> tuple[codes.IssuedCode, ...]:
    settings = request.app.state.settings
    return codes.issue_codes(
        tx,
        actor,
        community_id,
        member_ids,
        secret=settings.secret_key,
        lifetimes=codes.Lifetimes.of(settings),
        now=now,
        purpose=codes.Purpose(purpose) if purpose else None,
        address=request.client.host if request.client else None,
    )


class SignInCodeController(Controller):
    path = "/communities/{community_id:str}"
    tags = ["auth 登录"]
    opt = MEMBER

    @post(
        "/members/{member_id:str}/sign-in-code",
        status_code=201,
        responses=problems(403, 404, 409),
        summary="发放验证码: a one-time code for a member to set a password (community office)",
    )
    @shown_once.write
    def issue(
        self,
        request: Request[Any, Any, Any],
        tx: Tx,
        me: Me,
        now: Now,
        community_id: Community,
        member_id: MemberId,
        data: JSONBody[CodeIn],
    ) -> CodeOut:
        purpose = None if data.purpose is msgspec.UNSET else data.purpose
        (issued,) = _issue(request, tx, me.id, community_id, [member_id], purpose, now)
        return _out(issued)

    @post(
        "/sign-in-codes",
        status_code=201,
        responses=problems(403, 404, 409),
        summary="批量发放验证码: one-time codes for a list of members (e.g. just imported)",
    )
    @shown_once.write
    def issue_many(
        self,
        request: Request[Any, Any, Any],
        tx: Tx,
        me: Me,
        now: Now,
        community_id: Community,
        data: JSONBody[CodesIn],
    ) -> CodesOut:
        purpose = None if data.purpose is msgspec.UNSET else data.purpose
        issued = _issue(request, tx, me.id, community_id, data.member_ids, purpose, now)
        return CodesOut(items=tuple(_out(i) for i in issued))


async def redeem_code(
    request: Request[Any, Any, Any], phone: str, code: str, password: str
) -> TokenOut:
    """Set a password with a one-time code, under the codes' throttle; a token for the member
    (older tokens stop working). Shared by the API and the page 用验证码设置密码."""
    state = request.app.state
    auth.check_password(password)
    throttle: auth.Throttle = state.code_throttle
    address = request.client.host if request.client else "unknown"
    db: Database = state.db
    async with throttle.attempt(phone, address):
        hashed = await auth.hash_password(password)
        outcome = await db.awrite(
            codes.redeem, phone, code, hashed, secret=state.settings.secret_key,
            now=state.clock(), address=address,
        )  # fmt: skip
        if isinstance(outcome, codes.Refusal):
            await throttle.failed(phone, address)
            raise outcome.error()
        await throttle.succeeded(phone)
    return token_out(request, outcome.member_id, outcome.token_version)


class RedeemController(Controller):
    path = "/auth"
    tags = ["auth 登录"]
    opt = MEMBER

    @post(
        "/code",
        opt=PUBLIC,
        security=ANONYMOUS,
        status_code=200,
        responses=problems(401, 409, 410),
        summary="用验证码设置密码: set a password with a one-time code; a bearer token",
    )
    async def redeem(self, request: Request[Any, Any, Any], data: JSONBody[RedeemIn]) -> TokenOut:
        return await redeem_code(request, data.phone, data.code, data.password)
