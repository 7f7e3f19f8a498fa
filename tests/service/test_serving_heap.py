"""A serving process leaves its start-up heap out of full garbage collections (gc.freeze): a
full collection over it stalled every request for 110–160 ms, several times in five seconds
under load (docs/performance.md). Tests build apps with ``create_app``, which must not freeze
(each test's app would be kept)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

import support
from service.app import app_from_env, create_app
from service.settings import Settings


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # whatever a test froze goes back to the collector


def test_the_served_app_leaves_its_start_up_heap_out_of_full_collections(
    unfrozen: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LINLI_DATABASE_URL", support.fresh_url("sqlite", service=True))
    monkeypatch.setenv("LINLI_SECRET_KEY", "s" * 40)
    app = app_from_env()
    try:
        assert gc.get_freeze_count() > 10_000  # the modules, the app and its routes, at least
    finally:
        app.state.db.dispose()


def test_an_app_built_by_create_app_freezes_nothing(unfrozen: None) -> None:
    settings = Settings(database_url=support.fresh_url("sqlite", service=True), secret_key="s" * 40)
    app = create_app(settings)
    try:
        assert gc.get_freeze_count() == 0
    finally:
        app.state.db.dispose()
