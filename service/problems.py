"""One table from errors to RFC 9457 problem responses, in Chinese (English on request).

Every error a request can meet ends here: the libraries' errors (each has a stable ``code``),
Litestar's HTTP errors (validation, auth, size, rate limits) and the service's own. The response
is ``application/problem+json`` with ``type``, ``title``, ``status``, ``detail``, ``instance``,
the stable machine ``code`` and the ``request_id``; bad input names the ``field``. An unexpected
error is logged with its traceback and answered with a plain 500: never a stack trace.

``Accept-Language: en`` (or any ``en-*`` first) gives English; anything else Chinese.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

import msgspec
import sqlalchemy as sa
from litestar import Request, Response
from litestar.enums import ScopeType
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    SerializationException,
    ValidationException,
)
from litestar.types import ASGIApp, Message, Receive, Scope, Send

import marketplace as mk
import points
from service import i18n, labels, text

log = logging.getLogger("linli.errors")
MEDIA_TYPE = "application/problem+json"


class FieldError(msgspec.Struct, frozen=True, kw_only=True):
    field: str
    reason: str


class Problem(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """An RFC 9457 problem document (the service's error body)."""

    type: str
    title: str
    status: int
    detail: str
    code: str  # stable, for programs: e.g. capacity_full, insufficient_points
    instance: str = ""
    request_id: str = ""
    field: str | None = None  # the input at fault, for bad input
    errors: tuple[FieldError, ...] = ()
    retry_after: int | None = None


class ServiceError(Exception):
    """An error the service raises itself, with its code, status and both languages."""

    def __init__(
        self,
        status: int,
        code: str,
        zh: str,
        en: str,
        *,
        field: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(en)
        self.status = status
        self.code = code
        self.zh = zh
        self.en = en
        self.field = field
        self.retry_after = retry_after


# code → (status, Chinese title, English title)
TITLES: dict[str, tuple[int, str, str]] = {
    "invalid_input": (422, "输入有误", "Invalid input"),
    "unknown_field": (422, "不允许的字段", "Field not allowed"),
    "malformed_body": (400, "请求格式错误", "Malformed request"),
    "invalid_request": (422, "输入有误", "Invalid request"),
    "invalid_amount": (422, "数额无效", "Invalid amount"),
    "invalid_id": (422, "编号无效", "Invalid id"),
    "invalid_cursor": (422, "分页游标无效", "Invalid cursor"),
    "invalid_policy": (422, "积分规则无效", "Invalid accrual policy"),
    "invalid_activity": (422, "服务记录无效", "Invalid activity"),
    "donation_not_allowed": (422, "不允许此类捐赠", "Donation not allowed"),
    "not_found": (404, "未找到", "Not found"),
    "account_not_found": (404, "未找到积分账户", "Account not found"),
    "transfer_not_found": (404, "未找到积分记录", "Transfer not found"),
    "item_not_found": (404, "未找到商品", "Item not found"),
    "order_not_found": (404, "未找到兑换订单", "Order not found"),
    "no_route": (404, "接口不存在", "No such endpoint"),
    "not_allowed": (403, "无权操作", "Not allowed"),
    "forbidden": (403, "无权访问", "Forbidden"),
    "csrf_failed": (403, "页面已过期", "CSRF check failed"),
    "conflict": (409, "数据冲突", "Conflict"),
    "wrong_state": (409, "当前状态下无法操作", "Not possible in this state"),
    "capacity_full": (409, "名额已满", "Capacity full"),
    "already_claimed": (409, "已认领", "Already claimed"),
    "claim_limit_reached": (409, "认领已达上限", "Claim limit reached"),
    "wrong_code": (409, "确认码不正确", "Wrong confirmation code"),
    "too_far": (409, "报到位置过远", "Too far away"),
    "photo_limit_reached": (409, "照片已达上限", "Photo limit reached"),
    "calendar_year_missing": (409, "缺少该年工作日历", "Calendar year not loaded"),
    "correction_pending": (409, "已有待处理的更正申请", "Correction request pending"),
    "idempotency_mismatch": (409, "编号已被使用", "Id used for another request"),
    "reference_in_use": (409, "已经记过积分", "Already awarded"),
    "pending_not_open": (409, "冻结积分已处理", "Hold already settled"),
    "not_reversible": (409, "无法冲正", "Not reversible"),
    "item_unavailable": (409, "商品暂不可兑换", "Item unavailable"),
    "out_of_stock": (409, "库存不足", "Out of stock"),
    "limit_reached": (409, "超出限兑数量", "Limit reached"),
    "order_not_open": (409, "订单已结束", "Order not open"),
    "refused": (409, "积分操作被拒绝", "Refused"),
    "insufficient_points": (409, "积分不足", "Insufficient points"),
    "max_balance_exceeded": (409, "超出积分上限", "Maximum balance exceeded"),
    "idempotency_in_flight": (409, "请求处理中", "Request in progress"),
    "idempotency_key_reused": (422, "幂等键已用于其他请求", "Idempotency key reused"),
    "invalid_idempotency_key": (400, "幂等键无效", "Invalid Idempotency-Key"),
    "unauthenticated": (401, "请先登录", "Authentication required"),
    "bad_credentials": (401, "登录失败", "Wrong phone number or password"),
    "method_not_allowed": (405, "不支持的请求方法", "Method not allowed"),
    "not_acceptable": (406, "无法提供该格式", "Not acceptable"),
    "body_too_large": (413, "请求内容过大", "Request body too large"),
    "unsupported_media_type": (415, "不支持的内容类型", "Unsupported media type"),
    "rate_limited": (429, "请求过于频繁", "Too many requests"),
    "login_throttled": (429, "登录尝试过多", "Too many sign-in attempts"),
    "code_wrong": (401, "验证码不正确", "Wrong phone number or code"),
    "code_expired": (410, "验证码已过期", "Code expired"),
    "code_used": (410, "验证码已使用", "Code already used"),
    "code_spent": (410, "验证码已失效", "Code spent"),
    "code_throttled": (429, "验证码尝试过多", "Too many wrong codes"),
    "no_phone": (422, "没有手机号", "No phone number"),
    "database_unavailable": (503, "服务暂时不可用", "Service unavailable"),
    "internal": (500, "服务器内部错误", "Internal server error"),
    "http_error": (400, "请求错误", "Bad request"),
}
STATUS_CODES = {
    400: "http_error",
    401: "unauthenticated",
    403: "forbidden",
    404: "no_route",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "body_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    503: "database_unavailable",
}


def english(request: Request[Any, Any, Any]) -> bool:
    first = request.headers.get("accept-language", "").split(",")[0].strip().lower()
    return first.startswith("en")


NOT_PAGES = ("/api/", "/schema", "/static/", "/metrics", "/health")
"""Paths whose answers are for programs (and assets), never a page."""


def wants_page(request: Request[Any, Any, Any]) -> bool:
    """A browser asking for a page: outside the API and the assets, with ``text/html`` in its
    Accept header (a browser's navigation) or htmx's ``HX-Request``. Programs keep their problem
    documents (an API client's ``Accept: */*`` or ``application/json`` names no page)."""
    path = request.url.path
    if path.startswith(NOT_PAGES) or path in ("/api", "/schema"):
        return False
    accept = request.headers.get("accept", "").lower()
    return "text/html" in accept or request.headers.get("hx-request") == "true"


def problem_type(code: str) -> str:
    return f"urn:linli:problem:{code}"


def make(
    code: str,
    zh: str,
    en: str,
    request: Request[Any, Any, Any],
    *,
    status: int | None = None,
    field: str | None = None,
    errors: tuple[FieldError, ...] = (),
    retry_after: int | None = None,
) -> Response[Problem]:
    known, title_zh, title_en = TITLES.get(code, (status or 400, "错误", "Error"))
    status = status or known
    in_english = english(request)
    body = Problem(
        type=problem_type(code),
        title=title_en if in_english else title_zh,
        status=status,
        detail=en if in_english else zh,
        code=code,
        instance=request.url.path,
        request_id=str(request.scope.get("state", {}).get("request_id", "")),
        field=field,
        errors=errors,
        retry_after=retry_after,
    )
    headers = {"Content-Language": "en" if in_english else "zh-CN"}
    if body.request_id:  # errors raised by middleware are sent outside the request context's
        headers["X-Request-ID"] = body.request_id
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return Response(content=body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def handle(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    """The one exception handler of the app (registered for ``Exception``)."""
    if isinstance(exc, mk.MarketplaceError):
        return _marketplace(request, exc)
    if isinstance(exc, points.PointsError):
        return _points(request, exc)
    if isinstance(exc, ServiceError):
        return make(
            exc.code,
            exc.zh,
            exc.en,
            request,
            status=exc.status,
            field=exc.field,
            retry_after=exc.retry_after,
        )
    if isinstance(exc, ValidationException):
        return _validation(request, exc)
    if isinstance(exc, HTTPException):
        return _http(request, exc)
    if isinstance(exc, UnicodeDecodeError):  # a JSON body that is not UTF-8
        return make("malformed_body", "请求内容不是有效的 UTF-8 文本", "body is not UTF-8", request)
    if _unstorable(exc):
        return make(
            "invalid_input",
            "输入含有无法保存的字符（如空字符）",
            "the input has a character that cannot be stored (such as NUL)",
            request,
        )
    if _transient(exc):
        log.warning("transient database error on %s %s: %s", request.method, request.url.path,
                    type(exc).__name__)  # fmt: skip
        return make(
            "database_unavailable",
            "系统繁忙，请稍后重试",
            "the database is busy; retry shortly",
            request,
            retry_after=1,
        )
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return make("internal", "服务器内部错误，请稍后再试", "Internal server error", request)


class Answered:
    """Middleware that answers the errors raised by the middleware inside it (a refused sign-in,
    a failed CSRF check) with the route's own exception handler, as a handler's errors are
    answered: the layers outside it (the metrics, the access log) then see the status the client
    gets, where an error passing through them unanswered looked like a 500."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception as exc:
            if started or scope["type"] != ScopeType.HTTP:
                raise
            request: Request[Any, Any, Any] = scope["litestar_app"].request_class(scope, receive)
            answer = _handler(scope["route_handler"].resolve_exception_handlers(), exc)
            response = answer(request, exc)
            await response.to_asgi_response(app=None, request=request)(scope, receive, send)


def _handler(handlers: Mapping[Any, Any], exc: Exception) -> Any:
    for kind in type(exc).__mro__:
        if kind in handlers:
            return handlers[kind]
    return handle


TRANSIENT_SQLSTATES = frozenset({"40001", "40P01", "55P03", "57P01", "08006", "08003"})
"""serialization failure, deadlock, lock not available, shutdown, lost connection"""


UNSTORABLE_SQLSTATES = frozenset({"22021", "22P05"})
"""character not in repertoire (PostgreSQL keeps no NUL in text), untranslatable character"""


def _unstorable(exc: Exception) -> bool:
    """Text the database refuses to keep: bad input, not a server error."""
    if isinstance(exc, sa.exc.DBAPIError):
        code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
        if code in UNSTORABLE_SQLSTATES:
            return True
        # psycopg 3 refuses a NUL in text itself, before the server sees it (no SQLSTATE)
        return isinstance(exc, sa.exc.DataError) and "NUL (0x00)" in str(exc.orig)
    return False


def _transient(exc: Exception) -> bool:
    """A database error worth retrying: locked, busy, deadlocked, or the connection went away."""
    if isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError | sa.exc.TimeoutError):
        return True
    if isinstance(exc, sa.exc.DBAPIError):
        code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
        return code in TRANSIENT_SQLSTATES or bool(exc.connection_invalidated)
    return False


GUARDS_ZH = {
    "not_own_wish": "不能认领自己的心愿",
    "office_once_taken": "已有人认领，只有社区工作人员可以取消",
    "window_open": "心愿的服务时间已过",
    "unit_admin": "只有本单位的管理员可以代表单位操作",
    "offer_active": "该互助项目已暂停，暂不接受申请",
    "below_top": "区级是最高一级，无法再上报",
    "rating_window": "已超过办结后 5 个工作日的评价期限",
    "not_own_record": "不能处理本人服务记录的更正申请，请由其他工作人员处理",
}
"""What a person reads when a guard of the lifecycle table (marketplace.lifecycle.GUARDS)
refuses them; a test keeps it complete."""


def _marketplace(request: Request[Any, Any, Any], exc: mk.MarketplaceError) -> Response[Problem]:
    if isinstance(exc, mk.InvalidInput):
        zh = f"{i18n.field_zh(exc.field)}：" + "；".join(i18n.cause_zh(r) for r in exc.reasons)
        reason = "; ".join(str(r) for r in exc.reasons) if english(request) else zh
        return make(
            _cursor_or(exc.field, "invalid_input"),
            zh,
            str(exc),
            request,
            field=exc.field,
            errors=(FieldError(field=exc.field, reason=reason),),
        )
    if isinstance(exc, mk.NotFound):
        return make("not_found", f"未找到该{i18n.what_zh(exc.what)}", str(exc), request)
    if isinstance(exc, mk.NotAllowed):
        zh = GUARDS_ZH.get(exc.guard or "", "您无权执行此操作")
        return make("not_allowed", zh, str(exc), request)
    if isinstance(exc, mk.WrongState):
        states = {"claim": labels.CLAIM_STATES, "correction": labels.CORRECTION_STATES}.get(
            exc.subject, labels.WISH_STATES
        )
        state, action = labels.label(states, exc.state), labels.label(labels.ACTIONS, exc.action)
        zh = f"该{i18n.what_zh(exc.subject)}{state}，无法{action}"
        return make("wrong_state", zh, str(exc), request)
    zh = {
        "capacity_full": "名额已满，无法再认领",
        "already_claimed": "您已认领该心愿",
        "claim_limit_reached": "进行中的认领已达上限，请先完成已认领的心愿",
        "wrong_code": "确认码不正确，请向居民核对",
        "too_far": "报到位置离服务地点太远",
        "correction_pending": "该记录已有待处理的更正申请，请等待处理结果",
    }.get(exc.code, "请求与当前数据冲突，请刷新后重试")
    if isinstance(exc, mk.ClaimLimitReached):
        zh = f"进行中的认领已达上限（{exc.limit}个），请先完成已认领的心愿"
    if isinstance(exc, mk.TooFar):
        zh = f"报到位置距服务地点{exc.metres}米，超出允许的{exc.allowed}米"
    if isinstance(exc, mk.CalendarYearMissing):
        zh = f"尚未载入{exc.year}年的法定工作日安排，无法计算期限；请管理员先载入该年日历"
    if isinstance(exc, mk.PhotoLimitReached):
        left = exc.limit - exc.held
        more = f"最多还能添加 {left} 张" if left > 0 else "不能再添加"
        zh = f"照片最多 {exc.limit} 张，已有 {exc.held} 张，{more}"
    return make(exc.code if exc.code in TITLES else "conflict", zh, str(exc), request)


def _points(request: Request[Any, Any, Any], exc: points.PointsError) -> Response[Problem]:
    code = exc.code if exc.code in TITLES else "invalid_request"
    en = str(exc)
    if isinstance(exc, points.InsufficientPoints):
        zh = f"积分不足：可用{exc.available}分，需要{exc.requested}分"
    elif isinstance(exc, points.OutOfStock):
        zh = f"库存不足：剩余{exc.available}件"
    elif isinstance(exc, points.LimitReached):
        zh = f"超出限兑数量：每人每期限{exc.limit}件，已兑{exc.used}件"
    elif isinstance(exc, points.ItemUnavailable):
        zh = i18n.cause_zh(exc.reason)
    elif isinstance(exc, points.NotReversible):
        zh = "无法冲正：" + i18n.cause_zh(exc.reason)
    elif isinstance(exc, points.OrderNotOpen):
        zh = "该订单已结束，无法再操作"
    elif isinstance(exc, points.InvalidPolicy):
        zh = "积分规则无效：" + "；".join(i18n.cause_zh(p) for p in exc.problems)
    elif isinstance(exc, points.InvalidRequest) and exc.field:  # an id, or a field the cause names
        reason = msgspec.structs.replace(exc.reason, field="")
        zh = f"{i18n.field_zh(exc.field)}：{i18n.cause_zh(reason)}"
        return make(_cursor_or(exc.field, code), zh, en, request, field=exc.field)
    elif isinstance(exc, points.NotFound):
        zh = TITLES[code][1]
    elif isinstance(exc, points.InvalidRequest):
        zh = "输入有误：" + i18n.cause_zh(exc.reason)
    else:
        zh = TITLES[code][1]
    return make(code, zh, en, request)


def _cursor_or(field: str | None, code: str) -> str:
    """A cursor the list never gave out is ``invalid_cursor`` on every list, whichever library
    refused it (see service.api.common.read_cursor)."""
    return "invalid_cursor" if field == "cursor" else code


_AT = re.compile(r" - at (?:`key` in )?`\$(?P<path>[^`]*)`")  # a dict's key: the dict
_UNKNOWN = re.compile(r"unknown field `(?P<name>[^`]+)`")
_MISSING = re.compile(r"missing required field `(?P<name>[^`]+)`")
_ITEMS = re.compile(r"^Expected `array` of length (?P<op><=|>=) (?P<n>\d+)$")


def _validation(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Problem]:
    errors: list[FieldError] = []
    chinese: list[str] = []  # the detail in Chinese, a sentence per error
    code = "invalid_input"
    in_english = english(request)
    extra = exc.extra if isinstance(exc.extra, list) else []
    for item in extra:
        if not isinstance(item, dict):
            continue
        message = text.explain(str(item.get("message", "")))  # a query's text, as a body's
        key = _declared(request, str(item.get("key", "") or ""))
        if key.lower() == "idempotency-key":  # checked before anything else, as key_of() does
            return make(
                "invalid_idempotency_key",
                "幂等键须为1到255个可见ASCII字符",
                "Idempotency-Key must be 1 to 255 visible ASCII characters",
                request,
                field="Idempotency-Key",
            )
        field, reason = _describe(message, key)
        if "unknown field" in message:
            code = "unknown_field"
        chinese.append(f"{i18n.field_zh(field)}：{reason}")
        english_reason = _AT.sub("", message) or "does not fit the schema"  # msgspec's own words
        errors.append(FieldError(field=field, reason=english_reason if in_english else reason))
    detail = str(exc.detail or "")
    if not errors and ("malformed" in detail.lower() or "decode" in detail.lower()):
        return make("malformed_body", "请求体不是有效的 JSON", "Malformed JSON body", request)
    if errors and all(e.field == "cursor" for e in errors):
        code = "invalid_cursor"  # its shape is wrong: one code with read_cursor's refusals
    if not errors:
        chinese.append(f"{i18n.field_zh('body')}：不符合要求")
        reason = "does not fit the schema" if in_english else "不符合要求"
        errors.append(FieldError(field="body", reason=reason))
    first = errors[0]
    zh = "；".join(chinese)
    en = "; ".join(str(item.get("message", "")) for item in extra if isinstance(item, dict))
    return make(code, zh, en or detail, request, field=first.field, errors=tuple(errors))


def _declared(request: Request[Any, Any, Any], key: str) -> str:
    """The name a client sends a parameter by (``state``), not the handler's (``states``)."""
    handler = request.scope.get("route_handler")
    signature = getattr(handler, "parsed_fn_signature", None)
    parameter = signature.parameters.get(key) if signature is not None else None
    declared = getattr(parameter, "kwarg_definition", None)
    for alias in ("query", "header", "cookie", "name"):
        if isinstance(name := getattr(declared, alias, None), str) and name:
            return name
    return key


def _describe(message: str, key: str) -> tuple[str, str]:
    """(field, Chinese reason) from a msgspec or Litestar validation message."""
    path = _AT.search(message)
    field = key.removeprefix("data.") if key != "data" else ""
    field = field or (path.group("path").lstrip(".") if path else "") or "body"
    if unknown := _UNKNOWN.search(message):
        name = unknown.group("name")
        return (f"{field}.{name}" if field not in ("", "body") else name), "不允许提交该字段"
    if missing := _MISSING.search(message):
        name = missing.group("name")
        return (f"{field}.{name}" if field not in ("", "body") else name), "必须填写"
    plain = _AT.sub("", message)
    lowered = plain.lower()
    if items := _ITEMS.match(plain):  # a list too long or too short (photos, skills)
        most = items.group("op") == "<="
        return field, f"{'最多' if most else '至少'} {items.group('n')} 项"
    if lowered.startswith("expected"):
        return field, "类型或格式不正确"
    return field, i18n.reason_zh(plain[:1].lower() + plain[1:] if plain else plain)


def _http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Problem]:
    status = exc.status_code
    code = STATUS_CODES.get(status, "http_error")
    detail = str(exc.detail or "")
    if isinstance(exc, NotAuthorizedException):
        return make("unauthenticated", "请先登录，或登录已过期", detail, request)
    if isinstance(exc, PermissionDeniedException):
        if "csrf" in detail.lower():
            return make("csrf_failed", "页面已过期，请刷新后重试", detail, request)
        return make("forbidden", "无权访问", detail, request)
    if isinstance(exc, NotFoundException):
        return make("no_route", "接口不存在", detail, request)
    lowered = detail.lower()
    unreadable = isinstance(exc.__cause__, SerializationException)  # truncated: ``{``
    if status == 400 and (unreadable or any(w in lowered for w in ("json", "malformed", "decode"))):
        return make("malformed_body", "请求体不是有效的 JSON", f"Malformed JSON body: {detail}",
                    request)  # fmt: skip
    retry = None
    if status == 429:
        raw = (exc.headers or {}).get("Retry-After") or (exc.headers or {}).get("retry-after")
        retry = int(raw) if raw and str(raw).isdigit() else 60
    zh = TITLES.get(code, (status, "请求错误", ""))[1]
    answer = make(code, zh, detail or TITLES.get(code, (0, "", "Error"))[2], request,
                  status=status, retry_after=retry)  # fmt: skip
    allow = {k.lower(): v for k, v in (exc.headers or {}).items()}.get("allow")
    if status == 405 and allow:  # RFC 9110 §15.5.6: a 405 lists the methods the target has
        answer.headers["Allow"] = allow
    return answer
