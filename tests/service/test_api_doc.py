"""docs/api.md runs for real: its ``sh`` examples, in order, in one bash session, against
``linli serve`` on a fresh SQLite file with the demo district loaded.

Each ``sh`` block's standard output is compared with the fenced block right after it:

- ``json``: every key and value the (abridged) document shows must be in the real output and
  equal; the string ``"…"`` matches any value, ``"…"`` as the last item of a list matches any
  further items (zero or more), and a ``"…": "…"`` member of an object stands for other keys;
- ``text``: the output, stripped, must equal the block's text;
- no fenced block before the next ``sh`` block: the output is not checked (set-up steps).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import support
from service.problems import TITLES
from service_world import DemoFile

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "api.md"
LINLI = Path(sys.executable).with_name("linli")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
BASE_LINE = re.compile(r"^export BASE=\S+$", re.MULTILINE)
ANY = "…"


class Example:
    def __init__(self, number: int, script: str, kind: str | None, expected: str | None) -> None:
        self.number = number
        self.script = script
        self.kind = kind  # "json", "text" or None (not checked)
        self.expected = expected


def examples(markdown: str) -> list[Example]:
    """The ``sh`` blocks in order, each with the ``json``/``text`` block that follows it."""
    found: list[Example] = []
    for language, body in FENCE.findall(markdown):
        if language == "sh":
            found.append(Example(len(found) + 1, body, None, None))
        elif language in ("json", "text") and found and found[-1].kind is None:
            found[-1].kind, found[-1].expected = language, body
    return found


def matches(documented: Any, real: Any, where: str = "$") -> list[str]:
    """Where ``real`` differs from the abridged ``documented`` value (empty: it matches)."""
    if documented == ANY:
        return []
    if isinstance(documented, dict):
        if not isinstance(real, dict):
            return [f"{where}: expected an object, got {real!r}"]
        wrong = []
        for key, value in documented.items():
            if key == ANY:  # "…": "…" stands for the keys left out
                continue
            if key not in real:
                wrong.append(f"{where}.{key}: missing")
            else:
                wrong += matches(value, real[key], f"{where}.{key}")
        return wrong
    if isinstance(documented, list):
        if not isinstance(real, list):
            return [f"{where}: expected a list, got {real!r}"]
        open_ended = bool(documented) and documented[-1] == ANY
        shown = documented[:-1] if open_ended else documented
        if len(real) < len(shown) or (not open_ended and len(real) != len(shown)):
            return [f"{where}: expected {len(shown)} items, got {len(real)}: {real!r}"]
        wrong = []
        for n, value in enumerate(shown):
            wrong += matches(value, real[n], f"{where}[{n}]")
        return wrong
    if documented != real or type(documented) is not type(real):
        return [f"{where}: documented {documented!r}, got {real!r}"]
    return []


def test_abridged_matching_rules() -> None:
    real = {"a": 1, "b": [1, 2, 3], "c": {"d": "x", "e": None}, "f": True}
    assert matches({"a": 1, "b": [1, ANY], "c": {"d": ANY}}, real) == []
    assert matches({"b": [1, 2, 3, ANY]}, real) == []
    assert matches({"c": {"d": "x", ANY: ANY}}, real) == []
    assert matches({"b": [1, 2]}, real) == ["$.b: expected 2 items, got 3: [1, 2, 3]"]
    assert matches({"c": {"e": ANY, "g": 1}}, real) == ["$.c.g: missing"]
    assert matches({"f": 1}, real) == ["$.f: documented 1, got True"]


def test_the_guide_lists_every_problem_code_with_its_status() -> None:
    rows = dict(re.findall(r"^\| `(\w+)` \| (\d{3}) \|", GUIDE.read_text(encoding="utf-8"), re.M))
    assert {code: str(status) for code, (status, _, _) in TITLES.items()} == rows


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _ready(base: str, server: subprocess.Popen[bytes], log: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"linli serve exited with {server.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{base}/health/ready", timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    pytest.fail(f"linli serve was not ready within {seconds} s:\n{log.read_text()}")


def _tools() -> None:
    """The examples are curl commands whose answers jq picks apart; CI must have both."""
    missing = [tool for tool in ("curl", "jq") if shutil.which(tool) is None]
    if missing:
        reason = f"the API guide's examples need {' and '.join(missing)}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}: CI must run them")
        pytest.skip(reason)


def _settings(database: Path) -> dict[str, str]:
    return {
        **os.environ,
        "LINLI_DATABASE_URL": f"sqlite:///{database}",
        "LINLI_SECRET_KEY": "api-doc-test-" + "k" * 40,
        "LINLI_SWEEP_SECONDS": "0",
        "LINLI_REDIS_URL": "",
    }


@pytest.fixture
def demo_server(tmp_path: Path, demo_file: DemoFile) -> Iterator[str]:
    """``linli serve`` on a free loopback port over a copy of the session's demo district."""
    _tools()
    database = tmp_path / "linli.db"
    support.copy_sqlite(demo_file.path, database)
    env = _settings(database)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [str(LINLI), "serve", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _ready(base, server, log)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _script(found: list[Example], base: str, outputs: Path) -> str:
    """One bash session: each example's stdout goes to its own file, a marker to stderr."""
    lines = ["set -euo pipefail"]
    for example in found:
        body = BASE_LINE.sub(f"export BASE={base}", example.script)
        lines += [
            f"echo '>>> example {example.number}' >&2",
            "{",
            body.rstrip("\n"),
            f"}} > {outputs / str(example.number)}",
        ]
    return "\n".join(lines) + "\n"


def test_every_example_of_the_api_guide_gives_the_documented_answer(
    demo_server: str, tmp_path: Path
) -> None:
    found = examples(GUIDE.read_text(encoding="utf-8"))
    assert len(found) >= 20, "the guide's examples were not found"
    assert BASE_LINE.search(found[0].script), "the first example must export BASE"
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    work = tmp_path / "session"
    work.mkdir()
    run = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", _script(found, demo_server, outputs)],
        cwd=work,
        env={**os.environ, "LC_ALL": "C.UTF-8"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    failed = [line for line in run.stderr.splitlines() if line.startswith(">>> example")]
    assert run.returncode == 0, (
        f"the session stopped in {failed[-1] if failed else 'the set-up'} "
        f"(exit {run.returncode}):\n{run.stderr}"
    )
    problems = []
    for example in found:
        if example.kind is None or example.expected is None:
            continue
        output = (outputs / str(example.number)).read_text(encoding="utf-8")
        if example.kind == "text":
            if output.strip() != example.expected.strip():
                problems.append(
                    f"example {example.number}: expected\n{example.expected}got\n{output}"
                )
            continue
        try:
            real = json.loads(output)
        except json.JSONDecodeError:
            problems.append(f"example {example.number}: not JSON:\n{output}")
            continue
        wrong = matches(json.loads(example.expected), real)
        if wrong:
            problems.append(f"example {example.number}:\n  " + "\n  ".join(wrong))
    assert not problems, "\n".join(problems)
