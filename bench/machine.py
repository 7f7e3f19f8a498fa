"""The machine a run measures on: CPU, load, versions, and the service's memory (VmHWM)."""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.metadata
import os
import platform
import sqlite3
import time
from pathlib import Path


def load() -> str:
    """The 1/5/15-minute load averages, as printed next to every result."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f}/{five:.2f}/{fifteen:.2f}"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def versions(pg_version: str | None) -> dict[str, str]:
    found = {"Python": platform.python_version(), "SQLite": sqlite3.sqlite_version}
    if pg_version:
        found["PostgreSQL"] = pg_version
    for name in ("litestar", "sqlalchemy", "uvicorn", "psycopg", "asyncpg", "msgspec"):
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    for name in ("uvloop", "httptools", "granian"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found[name] = importlib.metadata.version(name)
    return found


def describe(pg_version: str | None) -> dict[str, str]:
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": str(os.cpu_count()),
        "cpu": cpu_model(),
        "memory": _memory(),
        "load": load(),
        **versions(pg_version),
    }


def _memory() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) // 1024 // 1024} GiB"
    except OSError:
        pass
    return "?"


def status_kib(pid: int, field: str) -> int:
    """A ``/proc/<pid>/status`` field in KiB (VmHWM: peak resident set; VmRSS: now)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def children(pid: int) -> list[int]:
    """Every descendant of ``pid`` (uvicorn's workers are children of its supervisor)."""
    found: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        path = Path(f"/proc/{parent}/task/{parent}/children")
        try:
            kids = [int(p) for p in path.read_text().split()]
        except OSError:
            kids = []
        found += kids
        todo += kids
    return found


def cpu_ticks(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime + stime
        except (OSError, IndexError, ValueError):
            continue
    return total


def wait_idle(pids: list[int], *, limit: float = 90.0, quiet: float = 0.05) -> float:
    """Wait until these processes use (almost) no CPU for half a second: a server still working
    through requests queued by the previous run would otherwise steal from the next one."""
    tick = os.sysconf("SC_CLK_TCK")
    start = time.monotonic()
    calm = 0
    while time.monotonic() - start < limit:
        before = cpu_ticks(pids)
        time.sleep(0.25)
        used = (cpu_ticks(pids) - before) / tick / 0.25
        calm = calm + 1 if used < quiet else 0
        if calm >= 2:
            break
    return time.monotonic() - start
