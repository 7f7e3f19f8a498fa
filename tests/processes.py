"""Real ``linli serve`` processes for tests: a free loopback port, start-up, readiness, stop, and a
PostgreSQL database of their own (made and dropped by the test that runs them).

Used by the multi-process tests (tests/service/test_processes.py,
tests/reliability/test_races_http.py) and the crash tests (tests/reliability/test_crash.py).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

import marketplace as mk
import service_world as sw
import support
from points import Database
from service.database import MIGRATIONS


def require_postgresql() -> None:
    """Skip without PostgreSQL, unless CI must run it (as conftest's ``backend_ready``)."""
    reason = support.pg_unavailable()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the PostgreSQL tests: {reason}")
        pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def linli() -> str:
    """The ``linli`` command of this environment (its console script runs in-process: the pid
    Popen gives is the Python process that serves and holds the database connections)."""
    found = Path(sys.executable).with_name("linli")
    return str(found) if found.exists() else (shutil.which("linli") or "linli")


def serve(port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """``linli serve`` on 127.0.0.1:``port``, its output appended to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [linli(), "serve", "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT
        )


def wait_ready(base: str, proc: subprocess.Popen[bytes], log: Path, seconds: float = 120) -> None:
    """Until ``GET /health/ready`` answers 200 (the process imports and migrates first)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{base} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base}/health/ready", timeout=2).status_code == 200:
                return
        time.sleep(0.05)
    pytest.fail(f"{base} not ready in {seconds:.0f} s:\n{log.read_text()[-3000:]}")


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    """Terminate (then kill, if need be) the processes still running."""
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def sign_in(base: str, person: str) -> str:
    """A bearer token of a person of service_world, signed in over HTTP."""
    answer = httpx.post(
        f"{base}/api/v1/auth/token",
        json={"phone": sw.PHONES[person], "password": sw.PASSWORD},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def postgresql_url(name: str) -> str:
    """The URL of database ``name`` on the test server."""
    return sa.make_url(support.PG_ADMIN_URL).set(database=name).render_as_string(False)


def create_postgresql(name: str) -> str:
    """An empty database of the caller's own (not migrated); returns its URL."""
    admin = sa.create_engine(support.PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        admin.dispose()
    return postgresql_url(name)


def drop_postgresql(name: str) -> None:
    admin = sa.create_engine(support.PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


@contextlib.contextmanager
def database(url: str) -> Iterator[Database]:
    """The served database, opened beside the processes (a small pool) to check what they did."""
    db = mk.open_database(url, migrations=(MIGRATIONS,), pool_size=2)
    try:
        yield db
    finally:
        db.dispose()


@contextlib.asynccontextmanager
async def clients(
    bases: tuple[str, str], connections: int
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """One HTTP client per serving process."""
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with (
        httpx.AsyncClient(base_url=bases[0], timeout=60, limits=limits) as a,
        httpx.AsyncClient(base_url=bases[1], timeout=60, limits=limits) as b,
    ):
        yield a, b
