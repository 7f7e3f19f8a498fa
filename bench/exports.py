"""Exports (issue 15): 100,000 rows in XLSX and CSV stay under 200 MB of resident memory.

A data set of its own, written in bulk: one community with ``--export-rows`` members (each a
volunteer, half of them consenting to the national transfer) and as many hours records in one
month. Each export then runs in a fresh Python process (``python -m bench.exports child …``),
which reports its peak resident set size (``VmHWM``: the high-water mark, imports included)
and its time; the figure is that peak, the target < 200 MB.
"""

from __future__ import annotations

import datetime as dt
import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench import machine
from bench.options import Options
from bench.results import Row

PERIOD = "2026-11"
KINDS = (("members", "xlsx"), ("members", "csv"), ("hours", "xlsx"), ("records", "xlsx"),
         ("records", "csv"))  # fmt: skip
TARGET_MB = 200
CHUNK = 5_000


def build(url: str, rows: int) -> None:
    """One street, one community, ``rows`` volunteers and one hours record each (in bulk)."""
    import marketplace as mk
    import points
    from marketplace.schema import consents, members, roles
    from points.schema import service_records

    db = mk.open_database(url)
    try:
        db.upgrade()
        t0 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
        with db.transaction() as tx:
            mk.create_org(tx, mk.SYSTEM, id="xd", kind=mk.OrgKind.DISTRICT, name="导出区", now=t0)
            mk.create_org(tx, mk.SYSTEM, id="xc", kind=mk.OrgKind.COMMUNITY, name="导出社区",
                          parent_id="xd", now=t0)  # fmt: skip
        for start in range(0, rows, CHUNK):
            ids = [f"x{n:07d}" for n in range(start, min(rows, start + CHUNK))]
            with db.transaction() as tx:
                tx.execute(members.insert(), [
                    {"id": i, "name": f"志愿者{i[1:]}", "phone": f"139{i[1:]:0>8}"[:11],
                     "home_org_id": "xc", "home_unit_id": None, "skills": ["陪护", "维修"],
                     "key_household": [], "key_household_consent": None,
                     "public_profile": False, "created_at": t0} for i in ids])  # fmt: skip
                tx.execute(roles.insert(), [
                    {"org_id": "xc", "member_id": i, "role": "volunteer", "granted_by": "system",
                     "granted_at": t0} for i in ids])  # fmt: skip
                tx.execute(service_records.insert(), [
                    {"community_id": "xc", "id": points.new_id(), "member_id": i,
                     "category": "助老陪护", "minutes": 60 + n % 90,
                     "served_on": f"2026-11-{1 + n % 28:02d}", "reference": f"event:b:{i}",
                     "actor": "system", "memo": "社区活动", "created_at": t0}
                    for n, i in enumerate(ids)])  # fmt: skip
                tx.execute(consents.insert(), [
                    {"member_id": i, "purpose": mk.NATIONAL_REGISTRY, "seq": 1, "given": True,
                     "recorded_by": i, "note": "", "recorded_at": t0}
                    for n, i in enumerate(ids) if n % 2 == 0])  # fmt: skip
    finally:
        db.dispose()


def child(url: str, kind: str, fmt: str, out: str) -> None:
    """One export in this process; prints its figures as JSON."""
    import marketplace as mk

    db = mk.open_database(url)
    try:
        before = peak_mb()
        start = time.perf_counter()
        with db.snapshot() as tx, open(out, "wb") as file:
            plan = mk.exports.plan(tx, mk.SYSTEM, "xc", kind, PERIOD, fmt, now=time_now())
            done = mk.exports.run(tx, plan, file)
        seconds = time.perf_counter() - start
        peak = peak_mb()
    finally:
        db.dispose()
    print(json.dumps({"rows": done.rows, "withheld": done.withheld, "seconds": seconds,
                      "before_mb": before, "peak_mb": peak,
                      "bytes": Path(out).stat().st_size}))  # fmt: skip


def peak_mb() -> float:
    """This process's peak resident set (VmHWM: its own, since exec; ``getrusage``'s maximum
    starts from the parent's at fork on Linux, so it would report the parent's peak)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def time_now() -> dt.datetime:
    return dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def run(
    opts: Options, backend: str, url: str, workdir: Path, say: Callable[[str], None]
) -> list[Row]:
    label = "SQLite" if backend == "sqlite" else "PostgreSQL"
    started = time.monotonic()
    build(url, opts.export_rows)
    say(f"  {opts.export_rows:,} members and records written in {time.monotonic() - started:.0f} s")
    rows = []
    for kind, fmt in KINDS:
        out = workdir / f"export-{backend}-{kind}.{fmt}"
        answer = subprocess.run(
            [sys.executable, "-m", "bench.exports", "child", url, kind, fmt, str(out)],
            check=True,
            capture_output=True,
            text=True,
        )
        got = json.loads(answer.stdout.strip().splitlines()[-1])
        say(f"  {kind} {fmt}: {got['rows']:,} rows in {got['seconds']:.1f} s, peak RSS "
            f"{got['peak_mb']:.0f} MB (before the export {got['before_mb']:.0f} MB), "
            f"{got['bytes'] / 1e6:.1f} MB file")  # fmt: skip
        rows.append(
            Row(
                group="exports",
                name=f"export {kind} {fmt}, peak RSS ({label})",
                unit="MiB",
                product=got["peak_mb"],
                rounds=1,
                load=machine.load(),
                target=f"< {TARGET_MB} MB",
                met=got["peak_mb"] < TARGET_MB,
                note=f"{got['rows']:,} rows ({got['withheld']:,} members withheld) in "
                f"{got['seconds']:.1f} s; {got['before_mb']:.0f} MiB before the export; file "
                f"{got['bytes'] / 1e6:.1f} MB",
            )
        )
    return rows


def standalone(argv: list[str]) -> int:
    """``python -m bench.exports [ROWS] [sqlite|postgresql]``: this benchmark alone."""
    from bench import __main__ as bench_main
    from bench.options import parse

    rows_wanted = int(argv[0]) if argv else 100_000
    backend = argv[1] if len(argv) > 1 else "sqlite"
    opts = parse([f"--export-rows={rows_wanted}", "--only=exports", f"--backends={backend}"])
    workdir = Path(opts.workdir) / "exports"
    workdir.mkdir(parents=True, exist_ok=True)
    if backend == "sqlite":
        for old in workdir.glob("exports.db*"):
            old.unlink()
        url = f"sqlite:///{(workdir / 'exports.db').resolve()}"
    else:
        url = bench_main._fresh_pg(opts.pg_url, "linli_bench_exports")
    say = bench_main.say
    say(f"machine load {machine.load()}")
    for row in run(opts, backend, url, workdir, say):
        say(f"{row.name}: {row.product:.0f} {row.unit} ({'met' if row.met else 'NOT MET'})")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        child(*sys.argv[2:6])
    else:
        sys.exit(standalone(sys.argv[1:]))
