from __future__ import annotations

import fcntl
import os
import time
from collections.abc import AsyncIterator

import pytest

import service_world
from service.cli import main
from service_world import DemoFile, Service, cli


@pytest.fixture(scope="session")
def demo_file(tmp_path_factory: pytest.TempPathFactory) -> DemoFile:
    """Loaded once per test run: with several test processes (pytest-xdist) the first one loads
    it under a file lock in their shared temporary directory and the others wait for it."""
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):  # one of several test processes
        shared = shared.parent
    path, printed = shared / "demo-template.db", shared / "demo-template.txt"
    with (shared / "demo-template.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not printed.exists():
            runner = cli(path)
            upgraded = runner.invoke(main, ["db", "upgrade"])
            assert upgraded.exit_code == 0, upgraded.output
            started = time.perf_counter()
            loaded = runner.invoke(main, ["demo"])
            assert loaded.exit_code == 0, loaded.output
            printed.write_text(f"{time.perf_counter() - started}\n{loaded.stdout}", "utf-8")
    seconds, output = printed.read_text("utf-8").split("\n", 1)
    return DemoFile(path, output, float(seconds))


@pytest.fixture
async def svc(backend_ready: str) -> AsyncIterator[Service]:
    async with service_world.running(backend_ready) as running:
        yield running
