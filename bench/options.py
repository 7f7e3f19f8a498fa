"""What a ``make bench`` run does: rounds, durations, sizes, backends (``python -m bench -h``)."""

from __future__ import annotations

import argparse
import os

import msgspec

GROUPS = (
    "writes",
    "reads",
    "library",
    "matching",
    "scaleout",
    "roster",
    "exports",
    "certificates",
    "outbox",
)


class Options(msgspec.Struct, frozen=True, kw_only=True):
    rounds: int = 3  # alternating rounds per benchmark; medians over them
    seconds: float = 5.0  # one wrk run (or one timed library run)
    connections: int = 32
    threads: int = 2  # wrk threads
    backends: tuple[str, ...] = ("sqlite", "postgresql")
    groups: tuple[str, ...] = GROUPS
    seed: int = 20261123
    wishes: int = 100_000  # open wishes in the big community (reads, recommendations)
    members: int = 10_000  # volunteers who may claim there
    dispatch_wishes: int = 10_000  # published wishes for auto-dispatch
    accrual_records: int = 100_000  # service records of a month (batch accrual)
    roster_rows: int = 10_000  # members in the roster file imported (花名册导入)
    samples: int = 100  # in-process recommendation calls (p50/p99; a few ms each)
    export_rows: int = 100_000  # members and hours records exported (peak RSS < 200 MB)
    pg_url: str = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"  # asyncpg:// too
    redis_url: str = "redis://127.0.0.1:6379/0"
    workdir: str = ".bench"
    docs: str = "docs/performance.md"
    write_docs: bool = True
    server: str = "uvicorn"  # or "granian" (when installed)


def parse(argv: list[str] | None = None) -> Options:
    d = Options()
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--rounds", type=int, default=d.rounds)
    p.add_argument("--seconds", type=float, default=d.seconds)
    p.add_argument("--connections", type=int, default=d.connections)
    p.add_argument("--threads", type=int, default=d.threads)
    p.add_argument("--backends", default=",".join(d.backends), help="sqlite,postgresql")
    p.add_argument("--only", default=",".join(d.groups), help=",".join(GROUPS))
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--wishes", type=int, default=d.wishes)
    p.add_argument("--members", type=int, default=d.members)
    p.add_argument("--dispatch-wishes", type=int, default=d.dispatch_wishes)
    p.add_argument("--accrual-records", type=int, default=d.accrual_records)
    p.add_argument("--roster-rows", type=int, default=d.roster_rows)
    p.add_argument("--samples", type=int, default=d.samples)
    p.add_argument("--export-rows", type=int, default=d.export_rows)
    p.add_argument("--pg-url", default=os.environ.get("LINLI_BENCH_PG_URL", d.pg_url))
    p.add_argument("--redis-url", default=os.environ.get("LINLI_BENCH_REDIS_URL", d.redis_url))
    p.add_argument("--workdir", default=d.workdir)
    p.add_argument("--server", default=d.server, choices=("uvicorn", "granian"))
    p.add_argument("--no-docs", action="store_true", help="print only; leave docs/ alone")
    a = p.parse_args(argv)
    groups = tuple(g for g in a.only.split(",") if g)
    unknown = set(groups) - set(GROUPS)
    if unknown:
        p.error(f"unknown groups: {', '.join(sorted(unknown))}")
    return Options(
        rounds=a.rounds,
        seconds=a.seconds,
        connections=a.connections,
        threads=a.threads,
        backends=tuple(b for b in a.backends.split(",") if b),
        groups=groups,
        seed=a.seed,
        wishes=a.wishes,
        members=a.members,
        dispatch_wishes=a.dispatch_wishes,
        accrual_records=a.accrual_records,
        roster_rows=a.roster_rows,
        samples=a.samples,
        export_rows=a.export_rows,
        pg_url=a.pg_url,
        redis_url=a.redis_url,
        workdir=a.workdir,
        server=a.server,
        write_docs=not a.no_docs,
    )
