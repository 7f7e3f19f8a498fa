"""HTTP benchmarks: writes, reads and scale-out, each product endpoint alternating with its
ceiling in the same run (round r runs them in one order, round r+1 in the reverse order)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from bench import machine, servers, wrk
from bench.dataset import Fixtures
from bench.options import Options
from bench.results import Row, median

WRITES = ("claim", "check_out", "redeem")
READS = (
    "wish_list", "recommendations", "recommendations_fresh", "balance", "statistics",
    "statistics_street", "statistics_district",
)  # fmt: skip
BASE_PORT = 18_400
SLOW: dict[str, int] = {}
"""Connections for endpoints that take a second or more a request: with 32, each run would leave
dozens of requests queued in the server for minutes, to be served during the next runs. They
also run for at least ``SLOW_SECONDS``, so that some requests complete."""
SLOW_SECONDS = 15.0


class Offsets:
    """Where each fixture's next unused line is (per database)."""

    def __init__(self) -> None:
        self.next: dict[str, int] = {}

    def take(self, name: str, used: int) -> int:
        first = self.next.get(name, 0)
        self.next[name] = first + used
        return first


def env_for(url: str, secret: str, opts: Options, *, redis: bool) -> dict[str, str]:
    env = {
        "LINLI_DATABASE_URL": url,
        "LINLI_SECRET_KEY": secret,
        "LINLI_RATE_LIMIT_PER_MINUTE": "10000000",  # wrk is one client address
        "LINLI_SWEEP_SECONDS": "0",  # no background sweeps inside a measurement
    }
    if redis:
        env["LINLI_REDIS_URL"] = opts.redis_url  # several processes share their counters
    return env


Runner = Callable[[str, int], wrk.Result]


def _measure(
    opts: Options,
    fixtures: Fixtures,
    offsets: Offsets,
    targets: dict[str, servers.Server],
    say: Callable[[str], None],
) -> dict[str, list[wrk.Result]]:
    """Alternate every named fixture against its server for ``opts.rounds`` rounds."""
    names = list(targets)
    found: dict[str, list[wrk.Result]] = {n: [] for n in names}

    def once(name: str, seconds: float) -> wrk.Result:
        server = targets[name]
        machine.wait_idle([p for s in set(targets.values()) for p in s.pids()])
        first = offsets.next.get(name, 0)
        result = wrk.run(
            server.url,
            fixtures.files[name],
            first=first,
            seconds=max(seconds, SLOW_SECONDS) if name in SLOW and seconds > 1 else seconds,
            connections=min(opts.connections, SLOW.get(name, opts.connections)),
            threads=opts.threads,
        )
        offsets.take(name, result.used)
        return result

    for name in names:  # warm up: imports, caches, pools, JIT-free but first-touch pages
        once(name, 1)
    for r in range(opts.rounds):
        order = names if r % 2 == 0 else names[::-1]
        for name in order:
            result = once(name, opts.seconds)
            found[name].append(result)
            say(
                f"  round {r + 1}/{opts.rounds} {name:16} {result.rps:9.1f} req/s  "
                f"p50 {result.p50_ms:7.1f} ms  p99 {result.p99_ms:7.1f} ms  "
                f"errors {result.errors}  load {machine.load()}"
            )
    return found


def _row(
    group: str,
    name: str,
    ceiling_name: str,
    ceiling: list[wrk.Result],
    product: list[wrk.Result],
    target: str,
    check: Callable[[float | None, float], bool] | None,
) -> Row:
    row = Row(
        group=group,
        name=name,
        unit="req/s",
        ceiling_name=ceiling_name,
        ceiling=median([r.rps for r in ceiling]),
        product=median([r.rps for r in product]),
        p99_ms=median([r.p99_ms for r in product]),
        errors=sum(r.errors for r in product),
        rounds=len(product),
        load=machine.load(),
        target=target,
    )
    if check is not None:
        row.met = check(row.ratio, row.p99_ms or float("nan"))
    return row


def _run_group(
    opts: Options,
    backend: str,
    url: str,
    secret: str,
    fixtures: Fixtures,
    offsets: Offsets,
    workdir: Path,
    say: Callable[[str], None],
    *,
    port: int,
    ceiling: str,
    names: tuple[str, ...],
) -> tuple[dict[str, list[wrk.Result]], servers.Server]:
    """Serve the bare app and Linli side by side and alternate the ceiling with each name."""
    bare = servers.bare(port, 1, workdir / "bare.log", opts.server)
    app = servers.linli(
        env_for(url, secret, opts, redis=backend != "sqlite"),
        port + 1,
        1,
        workdir / f"linli-{backend}.log",
        opts.server,
    )
    bare.start("/bare")
    try:
        app.start("/health/ready")
        targets = {ceiling: bare, **dict.fromkeys(names, app)}
        return _measure(opts, fixtures, offsets, targets, say), app
    finally:
        app.stop()
        bare.stop()


def writes(
    opts: Options,
    backend: str,
    url: str,
    secret: str,
    fixtures: Fixtures,
    offsets: Offsets,
    workdir: Path,
    say: Callable[[str], None],
) -> list[Row]:
    port = BASE_PORT + (0 if backend == "sqlite" else 10)
    found, app = _run_group(opts, backend, url, secret, fixtures, offsets, workdir, say,
                            port=port, ceiling="bare_post", names=WRITES)  # fmt: skip
    label = "SQLite" if backend == "sqlite" else "PostgreSQL"
    rows = []
    for name in WRITES:
        if backend == "sqlite":
            target, check = ">= 35 %, p99 < 50 ms", _at_least(0.35, 50.0)
        else:
            target, check = "", None
        rows.append(
            _row("writes", f"POST {name} ({label})", "bare POST", found["bare_post"],
                 found[name], target, check)
        )  # fmt: skip
    rows.append(_memory(f"service under writes ({label})", app))
    return rows


def reads(
    opts: Options,
    backend: str,
    url: str,
    secret: str,
    fixtures: Fixtures,
    offsets: Offsets,
    workdir: Path,
    say: Callable[[str], None],
) -> list[Row]:
    port = BASE_PORT + (20 if backend == "sqlite" else 30)
    found, app = _run_group(opts, backend, url, secret, fixtures, offsets, workdir, say,
                            port=port, ceiling="bare_get", names=READS)  # fmt: skip
    label = "SQLite" if backend == "sqlite" else "PostgreSQL"
    rows = []
    for name in READS:
        if name == "statistics":  # a community's dashboard
            target, check = ">= 10 %", _at_least(0.10, float("inf"))
        elif name.startswith("statistics_"):  # a street's and a district's
            target, check = "p99 < 50 ms", _at_least(0.0, 50.0)
        elif name == "recommendations":  # issue 14's target
            target, check = ">= 20 %, p99 < 50 ms", _at_least(0.20, 50.0)
        elif name == "recommendations_fresh":  # every list made anew: what a first view costs
            target, check = "(none: shown beside the target's line)", None
        else:
            target, check = ">= 20 %, p99 < 20 ms", _at_least(0.20, 20.0)
        row = _row("reads", f"GET {name} ({label})", "bare GET", found["bare_get"],
                   found[name], target, check)  # fmt: skip
        if name in SLOW:
            row.note = (
                f"{SLOW[name]} connections, {SLOW_SECONDS:g} s runs (at 32 connections the "
                "requests would queue for minutes)"
            )
            if check is not None:
                row.met = False  # not measured at 32 connections: cannot be met
        rows.append(row)
    rows.append(_memory(f"service under reads ({label})", app))
    return rows


def scale_out(
    opts: Options,
    url: str,
    secret: str,
    fixtures: Fixtures,
    offsets: Offsets,
    workdir: Path,
    ceiling: Callable[[int, float], float],
    say: Callable[[str], None],
) -> list[Row]:
    """2 service processes on PostgreSQL (the claim endpoint) against raw asyncpg committed
    one-row writes from as many clients as wrk has connections."""
    app = servers.linli(
        env_for(url, secret, opts, redis=True), BASE_PORT + 41, 2, workdir / "linli-2.log",
        opts.server,
    )  # fmt: skip
    app.start("/health/ready")
    product: list[wrk.Result] = []
    raw: list[float] = []
    try:
        offsets_used = offsets.next.get("claim", 0)
        warm = wrk.run(app.url, fixtures.files["claim"], first=offsets_used, seconds=1,
                       connections=opts.connections, threads=opts.threads)  # fmt: skip
        offsets.take("claim", warm.used)
        ceiling(opts.connections, 1.0)
        for r in range(opts.rounds):
            steps = ("raw", "app") if r % 2 == 0 else ("app", "raw")
            for step in steps:
                machine.wait_idle(app.pids())
                if step == "raw":
                    rate = ceiling(opts.connections, opts.seconds)
                    raw.append(rate)
                    say(f"  round {r + 1}/{opts.rounds} raw asyncpg      {rate:9.1f} writes/s  "
                        f"load {machine.load()}")  # fmt: skip
                else:
                    first = offsets.next.get("claim", 0)
                    result = wrk.run(app.url, fixtures.files["claim"], first=first,
                                     seconds=opts.seconds, connections=opts.connections,
                                     threads=opts.threads)  # fmt: skip
                    offsets.take("claim", result.used)
                    product.append(result)
                    say(f"  round {r + 1}/{opts.rounds} 2 processes claim {result.rps:9.1f} req/s"
                        f"  p99 {result.p99_ms:7.1f} ms  errors {result.errors}  "
                        f"load {machine.load()}")  # fmt: skip
    finally:
        app.stop()
    row = Row(
        group="scaleout",
        name="POST claim, 2 processes (PostgreSQL)",
        unit="req/s",
        ceiling_name=f"raw asyncpg, {opts.connections} clients",
        ceiling=median(raw),
        product=median([p.rps for p in product]),
        p99_ms=median([p.p99_ms for p in product]),
        errors=sum(p.errors for p in product),
        rounds=len(product),
        load=machine.load(),
        target=">= 70 %",
    )
    row.met = row.ratio is not None and row.ratio >= 0.70
    return [row, _memory("service, 2 processes (PostgreSQL)", app)]


def _memory(name: str, server: servers.Server) -> Row:
    peak = server.peak_rss_mib()
    return Row(
        group="memory",
        name=f"peak RSS, {name}",
        unit="MiB",
        product=peak,
        load=machine.load(),
        target="< 200 MB",
        met=peak * 1.048576 < 200,
    )


def _at_least(ratio: float, p99: float) -> Callable[[float | None, float], bool]:
    def check(found: float | None, p99_found: float) -> bool:
        return found is not None and found >= ratio and p99_found < p99

    return check


def run_async(coroutine_factory: Callable[[], object]) -> object:
    return asyncio.run(coroutine_factory())  # type: ignore[arg-type]


def elapsed(start: float) -> str:
    return f"{time.monotonic() - start:.0f} s"
