"""``python -m bench``: build the data set on each backend, run the benchmark groups, print the
table and write it to docs/performance.md. ``python -m bench -h`` lists the options."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import shutil
import sys
import time
from pathlib import Path

import msgspec
import sqlalchemy as sa

from bench import (
    certificates,
    dataset,
    exports,
    http,
    invariants,
    library,
    machine,
    matching,
    outbox,
    report,
    roster,
    wrk,
)
from bench.options import Options, parse
from bench.results import Row
from points import utcnow
from points.database import sync_url
from service.database import open_database
from service.settings import Settings


def say(text: str) -> None:
    print(text, flush=True)


def _pg_version(url: str) -> str | None:
    engine = sa.create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            return str(conn.scalar(sa.text("SHOW server_version")))
    except (OSError, sa.exc.SQLAlchemyError):
        return None
    finally:
        engine.dispose()


def _fresh_pg(admin_url: str, name: str) -> str:
    engine = sa.create_engine(sync_url(admin_url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        engine.dispose()
    url = sa.make_url(sync_url(admin_url)).set(database=name)
    return url.render_as_string(hide_password=False)


def _fresh_sqlite(workdir: Path) -> Path:
    for old in workdir.glob("bench.db*"):
        old.unlink()
    return (workdir / "bench.db").resolve()


def _database(
    opts: Options, backend: str, workdir: Path, secret: str, pg_name: str
) -> tuple[str, Settings]:
    """A migrated database with the data set, checked against the invariants."""
    if backend == "sqlite":
        url = f"sqlite:///{_fresh_sqlite(workdir)}"
    else:
        url = _fresh_pg(opts.pg_url, pg_name)
    settings = Settings(database_url=url, secret_key=secret)
    db = open_database(settings)
    try:
        db.upgrade()
        start = time.monotonic()
        dataset.build(db, settings, opts.seed, opts)
        problems = invariants.check(db)
        if problems:
            raise SystemExit("the data set breaks invariants:\n" + "\n".join(problems[:20]))
        say(f"  data set ready in {time.monotonic() - start:.0f} s; invariants hold")
    finally:
        db.dispose()
    return url, settings


def _in_process(opts: Options, url: str, backend: str) -> list[Row]:
    rows: list[Row] = []
    db = open_database(Settings(database_url=url, secret_key="x"))
    try:
        if "library" in opts.groups:
            say(f"library ({backend})")
            # asyncio clients (db.awrite) against the raw drivers' ceilings (asyncpg on PostgreSQL)
            rows += asyncio.run(library.run(opts, db, backend, say))
        if "matching" in opts.groups:
            say(f"matching ({backend})")
            rows += matching.run(opts, db, backend, say)
        if "roster" in opts.groups:
            say(f"roster import ({backend})")
            rows += roster.run(opts, db, backend, say)
    finally:
        db.dispose()
    return rows


def _certificates(
    opts: Options, backend: str, workdir: Path, secret: str, pg_name: str
) -> list[Row]:
    """Issue 16's group, on a database of its own (one community, 1,000 volunteers)."""
    if backend == "sqlite":
        path = (workdir / "certificates.db").resolve()
        path.unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    else:
        url = _fresh_pg(opts.pg_url, pg_name)
    db = open_database(Settings(database_url=url, secret_key=secret))
    try:
        db.upgrade()
        say(f"certificates ({backend})")
        certificates.prepare(db)
        return certificates.run(opts, db, backend, say)
    finally:
        db.dispose()


def _check_after(url: str) -> list[str]:
    db = open_database(Settings(database_url=url, secret_key="x"))
    try:
        return invariants.check(db)
    finally:
        db.dispose()


def main(argv: list[str] | None = None) -> int:
    opts = parse(argv)
    if not wrk.available() and {"writes", "reads", "scaleout"} & set(opts.groups):
        say("wrk is missing: run scripts/ensure-wrk (Debian's package)")
        return 2
    began = time.monotonic()
    workdir = Path(opts.workdir)
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    pg_version = _pg_version(opts.pg_url) if "postgresql" in opts.backends else None
    if "postgresql" in opts.backends and pg_version is None:
        say(f"PostgreSQL unreachable at {opts.pg_url}: its benchmarks are skipped")
        opts = msgspec.structs.replace(opts, backends=("sqlite",))
    about = machine.describe(pg_version)
    say(f"machine: {about['cpus']} × {about['cpu']}, load {about['load']}")
    secret = secrets.token_urlsafe(48)
    # One database per work folder: two runs side by side must not drop each other's.
    pg_name = "linli_bench_" + hashlib.sha1(str(workdir.resolve()).encode()).hexdigest()[:8]
    rows: list[Row] = []
    for backend in opts.backends:
        if "exports" in opts.groups:  # a data set of its own, in a database of its own
            say(f"exports ({backend})")
            if backend == "sqlite":
                (workdir / "exports").mkdir(exist_ok=True)
                url = f"sqlite:///{(workdir / 'exports' / 'exports.db').resolve()}"
            else:
                url = _fresh_pg(opts.pg_url, pg_name + "_exports")
            rows += exports.run(opts, backend, url, workdir, say)
            if set(opts.groups) == {"exports"}:
                continue
        if "certificates" in opts.groups:
            rows += _certificates(opts, backend, workdir, secret, pg_name + "_cert")
        if set(opts.groups) == {"certificates"}:
            continue  # its own small database: no big data set to build
        if "outbox" in opts.groups:  # a database of its own: it needs none of the data set
            say(f"outbox ({backend})")
            if backend == "sqlite":
                own = f"sqlite:///{(workdir / 'outbox.db').resolve()}"
            else:
                own = _fresh_pg(opts.pg_url, pg_name + "_outbox")
            rows += outbox.run(opts, own, backend, say)
            if set(opts.groups) == {"outbox"}:
                continue
        say(f"data set ({backend})")
        url, settings = _database(opts, backend, workdir, secret, pg_name)
        fixtures = dataset.fixtures(
            workdir / f"fixtures-{backend}", settings, opts.members, utcnow()
        )
        offsets = http.Offsets()
        if "writes" in opts.groups:
            say(f"HTTP writes ({backend})")
            rows += http.writes(opts, backend, url, secret, fixtures, offsets, workdir, say)
        if "reads" in opts.groups:
            say(f"HTTP reads ({backend})")
            rows += http.reads(opts, backend, url, secret, fixtures, offsets, workdir, say)
        if "scaleout" in opts.groups and backend == "postgresql":
            say("scale-out (postgresql)")

            def ceiling(clients: int, seconds: float, url: str = url) -> float:
                return asyncio.run(library.raw_writes(url, clients, seconds))

            rows += http.scale_out(opts, url, secret, fixtures, offsets, workdir, ceiling, say)
        rows += _in_process(opts, url, backend)
        problems = _check_after(url)
        say(f"  after the benchmarks ({backend}): {len(problems)} invariant problem(s)")
        for problem in problems[:20]:
            say(f"    {problem}")
        if problems:
            return 1
    about["load_end"] = machine.load()
    minutes, seconds = divmod(int(time.monotonic() - began), 60)
    runtime = f"{minutes} min {seconds} s"
    options = (
        f"{opts.rounds} rounds of {opts.seconds:g} s, wrk -t{opts.threads} -c{opts.connections}, "
        f"server {opts.server}, backends {', '.join(opts.backends)}"
    )
    text = report.section(rows, about, options, runtime)
    say("")
    say(text)
    if opts.write_docs and set(opts.groups) == set(Options().groups):
        report.write_docs(Path(opts.docs), text)
        say(f"\nwritten to {opts.docs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
