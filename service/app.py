"""The composition root: ``create_app(settings)`` builds the whole service and nothing else does.

Outermost first: request id and access log (around the whole app, routing included) →
Prometheus metrics → the middleware's errors answered (problems.Answered) → authentication
(Litestar's JWT, bearer header or else session cookie; the token alone) → rate limit → CSRF for
cookie-signed requests (bound to the session) → the handler, which runs the request's one unit
of work (service.uow: the token's database check, the Idempotency-Key, the library calls).
Every error becomes a problem response (service.problems); every handler states its access
policy.
"""

from __future__ import annotations

import datetime as dt
import gc
import importlib.resources
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, Router
from litestar.config.app import AppConfig
from litestar.datastructures import State
from litestar.middleware import DefineMiddleware
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController
from litestar.static_files import create_static_files_router
from litestar.stores.base import Store
from litestar.stores.memory import MemoryStore
from litestar.stores.redis import RedisStore

import marketplace as mk
from points import Database, utcnow
from service import auth, open311, pages, problems, ratelimit
from service.api import (
    boards,
    claims,
    codes,
    duty,
    notices,
    offers,
    people,
    photos,
    session,
    wishes,
)
from service.api import certificates as certificates_api
from service.api import corrections as corrections_api
from service.api import matters as matters_api
from service.api import points as points_api
from service.api.common import PUBLIC, Moments, StrictStructs, policy_guard, strict_input
from service.csrf import SessionCSRF
from service.database import open_database
from service.dispatcher import Dispatcher
from service.headers import SecurityHeaders
from service.observability import RequestContext, configure_logging
from service.settings import Settings
from service.sweeper import Sweeper

STATIC = importlib.resources.files("service") / "static"
SWAGGER = "/static/vendor/swagger-ui-5.35.0"
API_ROUTES = [
    session.AuthController,
    codes.RedeemController,
    codes.SignInCodeController,
    people.OrgController,
    people.CommunityController,
    people.MemberController,
    people.MeController,
    wishes.WishController,
    claims.ClaimController,
    photos.PhotoController,
    offers.OfferController,
    points_api.PointsController,
    points_api.StoreController,
    corrections_api.CorrectionController,
    boards.MatchingController,
    boards.BoardController,
    boards.ExportController,
    boards.AuditController,
    *matters_api.ROUTES,
    duty.DutyController,
    duty.UnitReportController,
    certificates_api.RecordController,
    certificates_api.CertificateController,
    notices.MessagesController,
    notices.NoticesController,
]


class Metrics(PrometheusController):
    path = "/metrics"
    include_in_schema = False
    opt = PUBLIC


def _stores(settings: Settings) -> dict[str, Store]:
    if settings.redis_url:
        root = RedisStore.with_client(url=settings.redis_url, namespace="linli")
        return {
            "rate_limit": root.with_namespace("rate"),
            "login": root.with_namespace("login"),
            "codes": root.with_namespace("codes"),
        }
    return {"rate_limit": MemoryStore(), "login": MemoryStore(), "codes": MemoryStore()}


def _outside_authentication(metrics: PrometheusConfig) -> Callable[[AppConfig], AppConfig]:
    """Put the metrics outside authentication, with the errors of the middleware between them
    answered (problems.Answered), so a 401 or a failed CSRF check counts with its own status."""

    def insert(config: AppConfig) -> AppConfig:
        config.middleware[0:0] = [metrics.middleware, problems.Answered]
        return config

    return insert


def create_app(
    settings: Settings,
    *,
    db: Database | None = None,
    clock: Callable[[], dt.datetime] = utcnow,
) -> Litestar:
    """The service. ``db``: an already open database (else one is opened from the settings and
    closed with the app); ``clock``: what "now" is for every library call (tests move it)."""
    if not settings.secret_key:
        raise ValueError("settings.secret_key is empty: set LINLI_SECRET_KEY or use from_env()")
    configure_logging(settings.log_level)
    database = db or open_database(settings)
    jwt = auth.jwt_auth(settings)
    stores = _stores(settings)
    sweeper = Sweeper(
        database, settings.sweep_seconds, clock, retention_days=settings.retention_days
    )
    dispatcher = Dispatcher(database, settings, clock)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        sweeper.start()
        dispatcher.start()
        try:
            yield
        finally:
            await dispatcher.stop()
            await sweeper.stop()
            if db is None:
                database.dispose()

    api = Router(
        path="/api/v1",
        route_handlers=API_ROUTES,
        before_request=strict_input,
    )
    rate_limit = RateLimitConfig(
        rate_limit=("minute", settings.rate_limit_per_minute),
        exclude=["^/health", "^/metrics", "^/static"],
        store="rate_limit",
    )
    metrics = PrometheusConfig(app_name="linli", group_path=True, exclude=["^/metrics", "^/static"])
    state: dict[str, Any] = {
        "db": database,
        "settings": settings,
        "jwt": jwt,
        "throttle": auth.Throttle(stores["login"], settings),
        "code_throttle": auth.Throttle(
            stores["codes"],
            settings,
            limits=(settings.code_attempts, settings.code_attempts_per_address),
            refusal=("code_throttled", "验证码错误次数过多", "one-time codes"),
        ),
        "sweeper": sweeper,
        "kept_lists": mk.Kept[list[mk.Match]](settings.recommend_seconds),
        "kept_statistics": mk.Kept[mk.Statistics](settings.statistics_seconds),
        "kept_dashboards": mk.Kept[mk.Dashboard](settings.statistics_seconds),
        "dispatcher": dispatcher,
        "clock": clock,
    }
    app = Litestar(
        route_handlers=[
            api,
            session.HealthController,
            Metrics,
            *pages.ROUTES,
            *open311.ROUTES,
            create_static_files_router(
                path="/static",
                directories=[str(STATIC)],
                opt=PUBLIC,
                include_in_schema=False,
            ),
        ],
        middleware=[
            ratelimit.middleware(rate_limit),
            DefineMiddleware(
                SessionCSRF, secret=settings.secret_key, secure=settings.cookie_secure
            ),
        ],
        on_app_init=[jwt.on_app_init, _outside_authentication(metrics)],
        guards=[policy_guard],
        plugins=[StrictStructs(), Moments()],
        exception_handlers={Exception: pages.common.any_error},
        template_config=pages.template_config(),
        stores=stores,
        state=State(state),
        lifespan=[lifespan],
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="Linli 邻里 API",
            version="1",
            description=(
                "Micro-wishes (微心愿) and volunteer points (志愿积分) for urban communities. "
                "Errors are RFC 9457 problem documents with a stable `code`; unsafe requests "
                "take an `Idempotency-Key`. See docs/api.md."
            ),
            openapi_router=Router(
                path="/schema",
                route_handlers=[],
                opt=PUBLIC,
                include_in_schema=False,  # the document and its viewer are not API operations
            ),
            render_plugins=[
                SwaggerRenderPlugin(
                    js_url=f"{SWAGGER}/swagger-ui-bundle.js",
                    css_url=f"{SWAGGER}/swagger-ui.css",
                    standalone_preset_js_url=f"{SWAGGER}/swagger-ui-standalone-preset.js",
                    favicon=f"<link rel='icon' href='{SWAGGER}/favicon-32x32.png'>",
                    path="/",
                )
            ],
            components=Components(
                security_schemes={
                    "BearerToken": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT")
                }
            ),
        ),
        debug=False,
        logging_config=None,  # logs are ours (service.observability); the root logger stays as is
    )
    # The request id, the access log and the security headers wrap everything, Litestar's own
    # answers included (an unknown path's 404, a 405): each line has the status the client got.
    everything = SecurityHeaders(app.asgi_handler)
    app.asgi_handler = RequestContext(everything, log_access=settings.access_log)
    return app


def settle_the_heap() -> None:
    """Leave what a serving process built to start (modules, the app, its routes, SQLAlchemy's
    tables and statements: ≈ 200,000 objects) out of the garbage collector's full collections
    (``gc.freeze``). A full collection walks every object it tracks while the event loop and the
    database lanes wait: under `make bench`'s reads, 110–160 ms several times in five seconds,
    which was the whole of the reads' p99 (GET balance p50 25 ms, p99 135–163 ms at 32
    connections; 39–43 ms once frozen). Frozen objects are still freed by reference counting;
    cycles among them would be kept, so only the serving process does it, once, when it is built
    (tests build an app per test and must not keep each one)."""
    gc.collect()
    gc.freeze()


def app_from_env() -> Litestar:
    """The app as ``linli serve`` runs it (uvicorn's factory: one per worker process), its
    start-up heap left out of full collections (:func:`settle_the_heap`)."""
    app = create_app(Settings.from_env())
    settle_the_heap()
    return app
