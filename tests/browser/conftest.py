"""Fixtures of the browser tests: the real service in a subprocess, and Chromium."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from browser_world import ARTIFACTS, CHROMIUM, LAUNCH_ARGS, Server, build_world
from service.database import open_database
from service.settings import Settings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    work = tmp_path_factory.mktemp("linli-browser")
    database_url = f"sqlite:///{work / 'linli.db'}"
    env = {
        **os.environ,
        "LINLI_DATABASE_URL": database_url,
        "LINLI_SECRET_KEY": "browser-test-secret-" + "x" * 40,
        "LINLI_SWEEP_SECONDS": "0",
        "LINLI_LOG_LEVEL": "WARNING",
        "LINLI_ACCESS_LOG": "0",
        "LINLI_RATE_LIMIT_PER_MINUTE": "100000",
    }
    linli = str(Path(sys.executable).parent / "linli")
    subprocess.run([linli, "db", "upgrade"], cwd=work, env=env, check=True, capture_output=True)
    db = open_database(Settings(database_url=database_url, secret_key="x"))
    try:
        build_world(db)
    finally:
        db.dispose()
    port = _free_port()
    log = (work / "server.log").open("wb")
    process = subprocess.Popen(
        [linli, "serve", "--port", str(port)], cwd=work, env=env, stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health/ready", timeout=2) as answer:
                if answer.status == 200:
                    break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError((work / "server.log").read_text()) from None
            time.sleep(0.2)
    try:
        yield Server(url, database_url, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture(scope="module")
def playwright() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/ensure-browser", pytrace=False)
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Any) -> Iterator[Any]:
    chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
    try:
        yield chromium
    finally:
        chromium.close()
