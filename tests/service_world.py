"""The marketplace test district (marketplace_world) behind the real service, signed in.

Every person of the world gets a phone number and the password ``PASSWORD`` (hashed once per
test session), and a bearer token minted by the app's own JWT auth. ``Clock`` is the app's "now":
tests move it instead of waiting (a check-out 90 minutes after the check-in).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
from argon2 import PasswordHasher
from click.testing import CliRunner
from litestar import Litestar

import marketplace_world as world
import support
from points import Database, utcnow
from service import auth
from service.app import create_app
from service.observability import JsonFormatter
from service.settings import Settings

PASSWORD = "linli-test-password"
_HASH: str | None = None
PEOPLE = (
    "admin", "staff", "grid", "res", "res2", "uadmin", "party", "outsider",
    *world.VOLUNTEERS,
)  # fmt: skip
PHONES = {person: f"139{n:08d}" for n, person in enumerate(PEOPLE, start=1)}


def password_hash() -> str:
    """An argon2id hash of PASSWORD with the cheapest parameters: verifying reads the parameters
    from the hash, so sign-ins in tests cost a millisecond instead of a tenth of a second."""
    global _HASH
    if _HASH is None:
        _HASH = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
    return _HASH


class Clock:
    """A clock the test moves; starts at the real time (tokens expire by the real one)."""

    def __init__(self) -> None:
        self.now = utcnow().replace(microsecond=0)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> dt.datetime:
        self.now += dt.timedelta(**delta)
        return self.now


def settings(backend_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": backend_url,
        "secret_key": "test-secret-" + "x" * 40,
        "sweep_seconds": 0,
        "outbox_seconds": 0,
        "access_log": False,
        "log_level": "WARNING",
        "rate_limit_per_minute": 100_000,
    }
    values.update(overrides)
    return Settings(**values)


def build(db: Database) -> None:
    """The marketplace world, with credentials for everyone in it."""
    with db.transaction() as tx:
        world.build(tx)
        for person, phone in PHONES.items():
            auth.set_credentials(tx, person, phone, password_hash())


class Service:
    """A running app over one test database, with a token for each person."""

    def __init__(self, app: Litestar, client: httpx.AsyncClient, clock: Clock) -> None:
        self.app = app
        self.client = client
        self.clock = clock

    def token(self, person: str) -> str:
        return auth.issue_token(self.app.state.jwt, self.app.state.settings, person, 0)

    def as_(self, person: str) -> dict[str, str]:
        """Headers of a request made by ``person``."""
        return {"Authorization": f"Bearer {self.token(person)}"}


@asynccontextmanager
async def running(backend: str, **overrides: Any) -> AsyncIterator[Service]:
    db = support.open_database(backend, service=True)
    try:
        build(db)
        clock = Clock()
        app = create_app(settings(db.url, **overrides), db=db, clock=clock)
        # The app's lifespan only starts the sweeper, which these tests run by hand.
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://linli.test") as client:
            yield Service(app, client, clock)
    finally:
        db.dispose()


class Lines(logging.Handler):
    """The service's log lines as they would be written (JSON, one a line)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def access(self) -> list[dict[str, Any]]:
        """The access lines, parsed."""
        return [json.loads(line) for line in self.lines if '"linli.access"' in line]


@contextmanager
def service_log() -> Iterator[Lines]:
    lines = Lines()
    logger = logging.getLogger("linli")
    logger.addHandler(lines)
    try:
        yield lines
    finally:
        logger.removeHandler(lines)


DEMO_SECRET = "demo-test-secret-" + "s" * 40


class DemoFile:
    """The demo district loaded once per test session by the command line (``linli db
    upgrade``, ``linli demo``): the file, what ``linli demo`` printed, how long it took. Tests
    work on copies (``support.copy_sqlite``)."""

    def __init__(self, path: Path, output: str, seconds: float) -> None:
        self.path, self.output, self.seconds = path, output, seconds


def cli(database: Path) -> CliRunner:
    return CliRunner(
        env={
            "LINLI_DATABASE_URL": f"sqlite:///{database}",
            "LINLI_SECRET_KEY": DEMO_SECRET,
        }
    )
