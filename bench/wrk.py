"""wrk, Debian's HTTP load generator (installed by scripts/ensure-wrk), driven by
``lua/requests.lua``: every request comes from a line of a fixture file, so writes carry their
own token, target and a fresh Idempotency-Key."""

from __future__ import annotations

import re
import shutil
import subprocess
import uuid
from pathlib import Path

import msgspec

SCRIPT = Path(__file__).with_name("lua") / "requests.lua"
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


class Result(msgspec.Struct, frozen=True, kw_only=True):
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int  # non-2xx/3xx answers, socket errors and timeouts
    used: int  # fixture lines the run consumed


def available() -> bool:
    return shutil.which("wrk") is not None


def run(
    url: str,
    fixture: str,
    *,
    first: int,
    seconds: float,
    connections: int,
    threads: int,
    timeout: float = 30.0,
) -> Result:
    threads = max(1, min(threads, connections))
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        f"--timeout={int(timeout)}s",
        "--latency",
        "-s",
        str(SCRIPT),
        url,
        "--",
        fixture,
        str(first),
        uuid.uuid4().hex[:12],
        str(threads),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    return parse(done.stdout)


def parse(out: str) -> Result:
    rps = float(_find(r"Requests/sec:\s+([\d.]+)", out) or 0)
    requests = int(_find(r"(\d+) requests in", out) or 0)
    errors = int(_find(r"Non-2xx or 3xx responses: (\d+)", out) or 0)
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if socket:
        errors += sum(int(g) for g in socket.groups())
    done = requests > 0  # wrk prints 0 latencies when nothing completed
    return Result(
        rps=rps,
        p50_ms=_latency("50%", out) if done else float("nan"),
        p99_ms=_latency("99%", out) if done else float("nan"),
        requests=requests,
        errors=errors,
        used=int(_find(r"BENCH_USED (\d+)", out) or requests),
    )


def _find(pattern: str, text: str) -> str | None:
    found = re.search(pattern, text)
    return found.group(1) if found else None


def _latency(label: str, out: str) -> float:
    found = re.search(rf"^\s+{re.escape(label)}\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)
    return float(found.group(1)) * _UNITS[found.group(2)] if found else float("nan")
