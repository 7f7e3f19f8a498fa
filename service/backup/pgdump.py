"""PostgreSQL backups (service.backup.pgdump): ``pg_dump --format=custom`` and ``pg_restore``.

The tools run as subprocesses, found on ``PATH``, and connect with the host, port, user, password
and database of ``LINLI_DATABASE_URL`` (arguments, and ``PGPASSWORD`` in their environment, never
on the command line). Both run with ``--verbose``; each table they dump or load moves the progress
on by one. ``pg_dump`` reads every table in one snapshot; ``pg_restore`` loads in one transaction,
so a failed restore leaves the database as it was. A missing tool, a ``pg_dump`` older than the
server (it refuses to dump a newer server) or an unreachable database stops with a
:class:`DumpError` that says what to do.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, make_url

from points.database import sync_url

Progress = Callable[[int, int], None]
"""Called with (done, total) as work advances."""

SSL_MODES = {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}
_VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+)")
_DUMPING = re.compile(r'^pg_dump: dumping contents of table "')
_LOADING = re.compile(r'^pg_restore: processing data for table "')
T = TypeVar("T")


class DumpError(Exception):
    """A tool is missing, too old or failed, or the database is out of reach: the message says
    which and what to do."""


def tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise DumpError(
            f"{name} not found on PATH: install PostgreSQL's client tools, of the server's "
            "major version or newer (Debian: apt-get install postgresql-client-<version>)"
        )
    return found


def major_version(binary: str) -> int:
    """The major version a tool reports (``pg_dump (PostgreSQL) 15.20`` → 15)."""
    answer = subprocess.run([binary, "--version"], capture_output=True, text=True, check=False)
    found = _VERSION.search(answer.stdout)
    if answer.returncode != 0 or found is None:
        raise DumpError(f"{binary} --version gave no version: {answer.stdout or answer.stderr}")
    return int(found.group(1))


def require_dump_for(server_major: int) -> str:
    """``pg_dump`` of ``server_major`` or newer: an older one cannot dump the server."""
    binary = tool("pg_dump")
    own = major_version(binary)
    if own < server_major:
        raise DumpError(
            f"{binary} is version {own} but the server runs PostgreSQL {server_major}: "
            f"install pg_dump {server_major} or newer (Debian: postgresql-client-{server_major}) "
            "and put it first on PATH"
        )
    return binary


def connection(url: str | URL) -> tuple[list[str], dict[str, str]]:
    """The tools' connection arguments and environment for a SQLAlchemy URL."""
    parsed = make_url(url)
    host = parsed.host or _query(parsed, "host")
    args = ["--no-password"]  # never prompt: fail instead (cron has no terminal)
    if host:
        args += ["--host", host]
    if parsed.port:
        args += ["--port", str(parsed.port)]
    if parsed.username:
        args += ["--username", parsed.username]
    env = {**os.environ, "PGAPPNAME": "linli-backup"}
    if parsed.password is not None:
        env["PGPASSWORD"] = str(parsed.password)
    ssl = _query(parsed, "sslmode") or _query(parsed, "ssl")
    if ssl in SSL_MODES:
        env["PGSSLMODE"] = ssl
    return args, env


def dump(url: str, target: Path, progress: Progress) -> tuple[list[str], int]:
    """The whole database into ``target``: its revisions (read back from the archive, which
    proves it readable) and how many tables it holds."""
    major, revisions, tables = _reach(url, _source)
    if not revisions:
        raise DumpError("the database is not migrated: nothing to back up")
    binary = require_dump_for(major)
    args, env = connection(url)
    database = make_url(url).database or ""
    command = [binary, *args, "--format=custom", "--verbose", "--file", str(target), database]
    _run(command, env, _DUMPING, tables, progress)
    return archive_revisions(target), tables


def archive_tables(path: Path) -> int:
    """How many tables' data an archive holds (and proof that pg_restore can read it)."""
    listing = _capture([tool("pg_restore"), "--list", str(path)], f"{path} is not readable")
    return sum(1 for line in listing.splitlines() if " TABLE DATA " in line)


def archive_revisions(path: Path) -> list[str]:
    """The Alembic revisions stored in an archive's ``alembic_version`` table."""
    command = [
        tool("pg_restore"), "--data-only", "--table=alembic_version", "--file=-", str(path),
    ]  # fmt: skip
    script = _capture(command, f"{path} is not a pg_dump archive")
    lines = iter(script.splitlines())
    for line in lines:
        if line.startswith("COPY ") and "alembic_version" in line:
            return [row for row in iter(lines.__next__, "\\.") if row]
    return []


def filled_tables(url: str) -> tuple[list[str], list[str]]:
    """A restore target's tables, and those of them holding rows."""
    return _reach(url, _target)


def restore(url: str, source: Path, *, clean: bool, progress: Progress) -> None:
    """``pg_restore`` an archive into the database of ``url``, in one transaction: a failure
    leaves the database as it was. ``clean`` drops the archive's objects first."""
    tables = archive_tables(source)
    args, env = connection(url)
    database = make_url(url).database or ""
    options = ["--single-transaction", "--exit-on-error", "--no-owner", "--no-privileges"]
    if clean:
        options += ["--clean", "--if-exists"]
    command = [tool("pg_restore"), *args, *options, "--verbose", "--dbname", database, str(source)]
    _run(command, env, _LOADING, tables, progress)


def _source(url: str) -> tuple[int, list[str], int]:
    """The server's major version, the database's revisions and how many tables it has."""
    engine = sa.create_engine(url, pool_size=1)
    try:
        with engine.connect() as conn:
            number = int(conn.scalar(sa.text("SHOW server_version_num")) or 0)
            revisions = _revisions(conn)
            tables = conn.scalar(
                sa.text(
                    "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', "
                    "'information_schema') AND n.nspname NOT LIKE 'pg_toast%'"
                )
            )
    finally:
        engine.dispose()
    return number // 10000, revisions, int(tables or 0)


def _target(url: str) -> tuple[list[str], list[str]]:
    """The target's tables, and those of them that hold rows."""
    engine = sa.create_engine(url, pool_size=1)
    try:
        with engine.connect() as conn:
            names = sa.inspect(conn).get_table_names()
            rows = [
                name
                for name in names
                if name != "alembic_version"
                and conn.scalar(sa.select(sa.literal(1)).select_from(sa.table(name)).limit(1))
            ]
    finally:
        engine.dispose()
    return names, rows


def _revisions(conn: Connection) -> list[str]:
    if not sa.inspect(conn).has_table("alembic_version"):
        return []
    return list((conn.execute(sa.text("SELECT version_num FROM alembic_version"))).scalars())


def _reach(url: str, work: Callable[[str], T]) -> T:
    """``work(url)`` on the database, its connection errors said plainly."""
    try:
        return work(sync_url(url))
    except (OSError, sa.exc.SQLAlchemyError) as exc:
        shown = make_url(url).render_as_string(hide_password=True)
        raise DumpError(f"cannot use the database {shown}: {str(exc).splitlines()[0]}") from exc


def _query(url: URL, name: str) -> str | None:
    value = url.query.get(name)
    if isinstance(value, tuple):
        value = value[-1] if value else None
    return value


def _capture(command: Sequence[str], what: str) -> str:
    answer = subprocess.run(command, capture_output=True, text=True, check=False)
    if answer.returncode != 0:
        raise DumpError(f"{what}: {answer.stderr.strip()[-2000:]}")
    return answer.stdout


def _run(
    command: Sequence[str],
    env: dict[str, str],
    step: re.Pattern[str],
    total: int,
    progress: Progress,
) -> None:
    """Run a tool, moving ``progress`` on each ``step`` line of its verbose output; its other
    lines are kept for the error message."""
    done, kept = 0, []
    progress(0, total)
    with subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stderr is not None
        for line in proc.stderr:
            if step.match(line):
                done += 1
                progress(min(done, total), total)
            elif "error" in line.lower() or not line.startswith(("pg_dump: ", "pg_restore: ")):
                kept.append(line.rstrip())
    if proc.returncode != 0:
        details = "\n".join(kept[-20:]) or f"exit status {proc.returncode}"
        raise DumpError(f"{Path(command[0]).name} failed:\n{details}")
    progress(total, total)
