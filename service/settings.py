"""Service settings, read from the environment (LINLI_*); docs/operations.md lists every one.

``create_app(settings)`` takes a :class:`Settings`; tests build their own instead of patching
globals. :meth:`Settings.from_env` is what the command line uses.
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

import msgspec

DEFAULT_DATABASE_URL = "sqlite:///linli.db"
SECRET_FILE = "linli.secret"


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    database_url: str = DEFAULT_DATABASE_URL
    secret_key: str = ""  # signs tokens and CSRF cookies; from_env makes and keeps one
    redis_url: str | None = None  # shared rate-limit counters and login throttle
    token_minutes: int = 480  # bearer and cookie tokens live a working day
    issuer: str = "linli"
    audience: str = "linli-api"
    rate_limit_per_minute: int = 1200  # per client address, all endpoints
    open311_per_minute: int = 60  # Open311 requests posted per partner key
    login_attempts: int = 5  # failed sign-ins per phone per window
    login_attempts_per_address: int = 30  # failed sign-ins per client address per window
    login_window_seconds: int = 900
    code_activate_hours: int = 24  # a one-time code for a member with no password yet
    code_reset_minutes: int = 30  # a one-time code to reset a forgotten password
    code_attempts: int = 5  # wrong codes per phone per window (the login window)
    code_attempts_per_address: int = 30  # wrong codes per client address per window
    max_body_bytes: int = 1_048_576
    sweep_seconds: float = 60.0  # background sweeps every so often; 0 turns them off
    recommend_seconds: int = 10  # 为你推荐 lists kept this long (marketplace.Kept); 0: none
    statistics_seconds: int = 10  # an area's figures of a period kept this long; 0: none
    idempotency_hours: int = 24
    retention_days: int = 180  # a deleted member's remaining personal fields are purged after
    cookie_secure: bool = False  # set on HTTPS deployments
    pool_size: int = 10  # PostgreSQL connections per process
    db_threads: int = 4  # PostgreSQL: threads running the requests' units (docs/operations.md)
    log_level: str = "INFO"
    access_log: bool = True
    public_url: str = (
        "http://127.0.0.1:8000"  # where /verify/{number} is reached (certificates' QR)
    )
    certificate_font: str = ""  # a TrueType CJK font to embed ("": the first of Debian's found)
    # 通知: the outbox's dispatcher (service.dispatcher) and the SMS gateway (service.channels)
    outbox_seconds: float = 2.0  # the dispatcher inside `linli serve` looks this often; 0: off
    outbox_attempts: int = 8  # attempts before a delivery is dead (死信)
    outbox_backoff_seconds: int = 10  # the first retry's wait, doubled each attempt (≤ 1 hour)
    outbox_lease_seconds: int = 60  # a claimed delivery is another dispatcher's again after this
    outbox_batch: int = 500  # deliveries claimed at once
    outbox_concurrency: int = 32  # requests in flight at once per dispatcher
    outbox_timeout_seconds: float = 5.0  # per webhook or SMS request
    sms_url: str | None = None  # the SMS gateway; unset: no SMS
    sms_sign_name: str = ""  # 短信签名
    sms_templates: dict[str, str] = {}  # event type → template code (LINLI_SMS_TEMPLATES)
    sms_key_id: str = ""
    sms_key_secret: str = ""

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, cwd: Path | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        secret = env.get("LINLI_SECRET_KEY") or _stored_secret(cwd or Path.cwd())
        return cls(
            database_url=env.get("LINLI_DATABASE_URL", DEFAULT_DATABASE_URL),
            secret_key=secret,
            redis_url=env.get("LINLI_REDIS_URL") or None,
            token_minutes=_int(env, "LINLI_TOKEN_MINUTES", 480, 1, 60 * 24 * 30),
            rate_limit_per_minute=_int(env, "LINLI_RATE_LIMIT_PER_MINUTE", 1200, 1, 10**7),
            open311_per_minute=_int(env, "LINLI_OPEN311_PER_MINUTE", 60, 1, 10**6),
            login_attempts=_int(env, "LINLI_LOGIN_ATTEMPTS", 5, 1, 1000),
            login_attempts_per_address=_int(env, "LINLI_LOGIN_ATTEMPTS_PER_ADDRESS", 30, 1, 10**5),
            login_window_seconds=_int(env, "LINLI_LOGIN_WINDOW_SECONDS", 900, 1, 86400),
            code_activate_hours=_int(env, "LINLI_CODE_ACTIVATE_HOURS", 24, 1, 24 * 30),
            code_reset_minutes=_int(env, "LINLI_CODE_RESET_MINUTES", 30, 1, 24 * 60),
            code_attempts=_int(env, "LINLI_CODE_ATTEMPTS", 5, 1, 1000),
            code_attempts_per_address=_int(env, "LINLI_CODE_ATTEMPTS_PER_ADDRESS", 30, 1, 10**5),
            max_body_bytes=_int(env, "LINLI_MAX_BODY_BYTES", 1_048_576, 1024, 100 * 2**20),
            sweep_seconds=float(_int(env, "LINLI_SWEEP_SECONDS", 60, 0, 86400)),
            recommend_seconds=_int(env, "LINLI_RECOMMEND_SECONDS", 10, 0, 300),
            statistics_seconds=_int(env, "LINLI_STATISTICS_SECONDS", 10, 0, 3600),
            idempotency_hours=_int(env, "LINLI_IDEMPOTENCY_HOURS", 24, 1, 24 * 30),
            retention_days=_int(env, "LINLI_RETENTION_DAYS", 180, 1, 36_500),
            cookie_secure=env.get("LINLI_COOKIE_SECURE", "").lower() in ("1", "true", "yes"),
            pool_size=_int(env, "LINLI_POOL_SIZE", 10, 1, 500),
            db_threads=_int(env, "LINLI_DB_THREADS", 4, 1, 64),
            log_level=env.get("LINLI_LOG_LEVEL", "INFO").upper(),
            access_log=env.get("LINLI_ACCESS_LOG", "1").lower() not in ("0", "false", "no"),
            public_url=_url(env.get("LINLI_PUBLIC_URL", "") or "http://127.0.0.1:8000"),
            certificate_font=env.get("LINLI_CERTIFICATE_FONT", ""),
            outbox_seconds=float(_int(env, "LINLI_OUTBOX_SECONDS", 2, 0, 3600)),
            outbox_attempts=_int(env, "LINLI_OUTBOX_ATTEMPTS", 8, 1, 100),
            outbox_backoff_seconds=_int(env, "LINLI_OUTBOX_BACKOFF_SECONDS", 10, 0, 3600),
            outbox_lease_seconds=_int(env, "LINLI_OUTBOX_LEASE_SECONDS", 60, 1, 3600),
            outbox_batch=_int(env, "LINLI_OUTBOX_BATCH", 500, 1, 10_000),
            outbox_concurrency=_int(env, "LINLI_OUTBOX_CONCURRENCY", 32, 1, 1000),
            outbox_timeout_seconds=float(_int(env, "LINLI_OUTBOX_TIMEOUT_SECONDS", 5, 1, 120)),
            sms_url=env.get("LINLI_SMS_URL") or None,
            sms_sign_name=env.get("LINLI_SMS_SIGN_NAME", ""),
            sms_templates=_templates(env.get("LINLI_SMS_TEMPLATES", "")),
            sms_key_id=env.get("LINLI_SMS_KEY_ID", ""),
            sms_key_secret=env.get("LINLI_SMS_KEY_SECRET", ""),
        )


def _url(value: str) -> str:
    if not value.startswith(("http://", "https://")) or " " in value:
        raise SettingsError(f"LINLI_PUBLIC_URL must be an http(s) address, got {value!r}")
    return value.rstrip("/")


def _int(env: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low} and {high}, got {value}")
    return value


def _templates(raw: str) -> dict[str, str]:
    """``wish.dispatched=SMS_1001,service.reminder=SMS_1002``: an SMS template code per event."""
    found = {}
    for part in raw.split(","):
        if not part.strip():
            continue
        event, sep, code = part.partition("=")
        if not sep or not event.strip() or not code.strip():
            raise SettingsError(f"LINLI_SMS_TEMPLATES: {part!r} is not event=template_code")
        found[event.strip()] = code.strip()
    return found


def _stored_secret(cwd: Path) -> str:
    """The key kept in ./linli.secret, made (readable by the owner only) on first run."""
    path = cwd / SECRET_FILE
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    key = secrets.token_urlsafe(48)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        for _ in range(100):
            kept = path.read_text(encoding="utf-8").strip()
            if kept:
                return kept
            time.sleep(0.01)
        raise SettingsError(f"{path} is empty; remove it or set LINLI_SECRET_KEY") from None
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write(key + "\n")
    return key
