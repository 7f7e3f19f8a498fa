from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import settings

import support
from points import Database

settings.register_profile("ci", max_examples=60, deadline=None, derandomize=True)
settings.register_profile("dev", max_examples=40, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        metafunc.parametrize(
            "backend",
            [
                pytest.param("sqlite"),
                pytest.param("postgresql", marks=pytest.mark.postgresql),
            ],
        )


@pytest.fixture
def backend_ready(backend: str) -> str:
    """The backend name, once its database server is known to be there."""
    if backend == "postgresql":
        reason = support.pg_unavailable()
        if reason:
            if os.environ.get("CI") == "true":
                pytest.fail(f"CI must run the PostgreSQL tests: {reason}")
            pytest.skip(reason)
    return backend


@pytest.fixture
def db(backend_ready: str) -> Iterator[Database]:
    database = support.open_database(backend_ready)
    try:
        yield database
    finally:
        database.dispose()


@pytest.fixture(scope="session", autouse=True)
def _drop_test_database() -> Iterator[None]:
    yield
    support.drop_postgresql()
