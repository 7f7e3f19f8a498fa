from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

import service_world
from service.cli import main
from service_world import DemoFile, Service, cli


@pytest.fixture(scope="session")
def demo_file(tmp_path_factory: pytest.TempPathFactory) -> DemoFile:
    path = tmp_path_factory.mktemp("demo") / "template.db"
    runner = cli(path)
    upgraded = runner.invoke(main, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    started = time.perf_counter()
    loaded = runner.invoke(main, ["demo"])
    assert loaded.exit_code == 0, loaded.output
    return DemoFile(path, loaded.stdout, time.perf_counter() - started)


@pytest.fixture
async def svc(backend_ready: str) -> AsyncIterator[Service]:
    async with service_world.running(backend_ready) as running:
        yield running
