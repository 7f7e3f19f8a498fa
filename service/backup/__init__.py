"""Backups (备份) of the service's database, and restores that prove themselves with the audit.

A backup is the database as it was at one commit, taken while the service keeps writing:

- SQLite: the online backup API copies the file page by page inside one read transaction. WAL
  readers never block the writer, and the held snapshot keeps the copy from restarting when a
  write lands, so it finishes under any load. The copy is one self-contained file (no ``-wal``).
- PostgreSQL: ``pg_dump --format=custom``, which reads every table in one snapshot.

A restore goes into the configured database only when that is absent or holds no rows, unless
forced (SQLite: the copy replaces the file's content; PostgreSQL: ``pg_restore --clean
--if-exists`` drops and recreates the archive's objects, in one transaction). It checks the
copy (``PRAGMA integrity_check`` on SQLite), migrates it to this version's heads when the backup
is older, and runs :func:`points.audit`. The functions block: call them from a thread in async
code.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import msgspec
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.engine import make_url

import points
from points.database import alembic_config
from service.backup import pgdump
from service.database import open_database
from service.settings import Settings

Progress = pgdump.Progress
PAGES_PER_STEP = 256  # SQLite pages copied between progress reports (1 MiB of 4 KiB pages)
T = TypeVar("T")


class BackupError(Exception):
    """A backup or restore cannot go ahead, or failed; the message says why and what to do."""


class Backup(msgspec.Struct, frozen=True, kw_only=True):
    path: Path
    backend: str  # sqlite | postgresql
    revision: str  # the schema revision the copy is at
    size: int  # bytes
    tables: int
    seconds: float


class Restored(msgspec.Struct, frozen=True, kw_only=True):
    path: Path
    backend: str
    target: str  # the database restored into (its URL without the password)
    backup_revision: str  # the revision the backup was at
    revision: str  # the revision after migrating
    problems: list[points.Problem]  # the audit of the restored copy
    seconds: float


def backup(
    settings: Settings,
    path: Path,
    *,
    force: bool = False,
    progress: Progress | None = None,
    pages_per_step: int = PAGES_PER_STEP,
) -> Backup:
    """Copy the configured database to ``path`` (replaced only with ``force``).
    ``pages_per_step``: SQLite pages copied between two progress reports."""
    report = progress or _quiet
    if not path.parent.is_dir():
        raise BackupError(f"no directory {path.parent} to write the backup in")
    if path.exists() and not force:
        raise BackupError(f"{path} exists: choose another name, or give --force to replace it")
    started = time.perf_counter()
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        if _is_sqlite(settings):
            source = _sqlite_path(settings)
            revision, tables = _sqlite_backup(source, partial, report, pages_per_step)
        else:
            revision, tables = _postgresql_backup(settings.database_url, partial, report)
        _sync(partial)
        os.replace(partial, path)
        _sync(path.parent)
    finally:
        partial.unlink(missing_ok=True)
    return Backup(
        path=path,
        backend=_backend(settings),
        revision=revision,
        size=path.stat().st_size,
        tables=tables,
        seconds=time.perf_counter() - started,
    )


def restore(
    settings: Settings, path: Path, *, force: bool = False, progress: Progress | None = None
) -> Restored:
    """Restore ``path`` into the configured database, migrate it and audit it."""
    report = progress or _quiet
    if not path.is_file():
        raise BackupError(f"no backup at {path}")
    started = time.perf_counter()
    database = open_database(settings)  # connects only when migrating and auditing, at the end
    if _is_sqlite(settings):
        revisions = _sqlite_restore(path, _sqlite_path(settings), database, force, report)
    else:
        revisions = _postgresql_restore(path, settings.database_url, database, force, report)
    revision, problems = _upgrade_and_audit(database)
    return Restored(
        path=path,
        backend=_backend(settings),
        target=make_url(settings.database_url).render_as_string(hide_password=True),
        backup_revision=",".join(sorted(revisions)),
        revision=revision,
        problems=problems,
        seconds=time.perf_counter() - started,
    )


# SQLite


def _sqlite_backup(
    source: Path, target: Path, progress: Progress, pages_per_step: int
) -> tuple[str, int]:
    if not source.is_file():
        raise BackupError(f"no database at {source}")
    try:
        with contextlib.closing(_sqlite(source, "rw")) as src:
            src.execute("BEGIN")  # one read transaction for the whole copy: one snapshot
            revisions, tables = _revisions(src), _tables(src)
            if not revisions:
                raise BackupError(f"{source} is not migrated: nothing to back up")
            with contextlib.closing(sqlite3.connect(target, isolation_level=None)) as dst:
                src.backup(dst, pages=pages_per_step, progress=_pages(progress))
                dst.execute("PRAGMA journal_mode=DELETE")  # one file, readable without a -wal
                _require_intact(dst, f"the copy of {source}")
            src.execute("COMMIT")
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"cannot back up {source}: {exc}") from exc
    return ",".join(sorted(revisions)), len(tables)


def _sqlite_restore(
    source: Path, target: Path, database: points.Database, force: bool, progress: Progress
) -> list[str]:
    if target.exists() and target.resolve() == source.resolve():
        raise BackupError(f"{source} is the configured database itself")
    try:
        src = _sqlite(source, "ro")
        _require_intact(src, f"the backup {source}")  # the first read: is it SQLite at all?
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{source} is not a SQLite database: {exc}") from exc
    try:
        revisions = _revisions(src)
        _require_known(revisions, source, database.migrations)
        if not force and (rows := _sqlite_rows(target)):
            raise BackupError(_not_empty(target, rows))
        with contextlib.closing(sqlite3.connect(target, isolation_level=None)) as dst:
            dst.execute("PRAGMA busy_timeout=60000")
            src.backup(dst, pages=PAGES_PER_STEP, progress=_pages(progress))
            dst.execute("PRAGMA journal_mode=WAL")  # as the service runs it
            _require_intact(dst, f"the restored {target}")
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"cannot restore {source}: {exc}") from exc
    finally:
        src.close()
    return revisions


def _sqlite(path: Path, mode: str) -> sqlite3.Connection:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode={mode}", uri=True, isolation_level=None)
    conn.execute("PRAGMA busy_timeout=60000")
    return conn


def _sqlite_rows(path: Path) -> list[str]:
    """The tables of an existing SQLite file that hold rows."""
    if not path.exists() or path.stat().st_size == 0:
        return []
    conn = _sqlite(path, "rw")
    try:
        return [t for t in _tables(conn) if conn.execute(f'SELECT 1 FROM "{t}" LIMIT 1').fetchone()]
    finally:
        conn.close()


def _tables(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "AND name != 'alembic_version' ORDER BY name"
    )
    return [name for (name,) in rows]


def _revisions(conn: sqlite3.Connection) -> list[str]:
    try:
        return [r for (r,) in conn.execute("SELECT version_num FROM alembic_version")]
    except sqlite3.OperationalError:  # no such table
        return []


def _require_intact(conn: sqlite3.Connection, what: str) -> None:
    found = [message for (message,) in conn.execute("PRAGMA integrity_check")]
    if found != ["ok"]:
        raise BackupError(f"{what} fails PRAGMA integrity_check: {'; '.join(found[:10])}")


def _pages(progress: Progress) -> Callable[[int, int, int], None]:
    def report(_status: int, remaining: int, total: int) -> None:
        progress(total - remaining, total)

    return report


# PostgreSQL


def _postgresql_backup(url: str, target: Path, progress: Progress) -> tuple[str, int]:
    try:
        revisions, tables = pgdump.dump(url, target, progress)
    except pgdump.DumpError as exc:
        raise BackupError(str(exc)) from exc
    return ",".join(sorted(revisions)), tables


def _postgresql_restore(
    source: Path, url: str, database: points.Database, force: bool, progress: Progress
) -> list[str]:
    try:
        revisions = pgdump.archive_revisions(source)
        _require_known(revisions, source, database.migrations)
        existing, rows = pgdump.filled_tables(url)
        if rows and not force:
            raise BackupError(_not_empty(make_url(url).database or url, rows))
        pgdump.restore(url, source, clean=bool(existing), progress=progress)
    except pgdump.DumpError as exc:
        raise BackupError(str(exc)) from exc
    return revisions


# Both


def _upgrade_and_audit(database: points.Database) -> tuple[str, list[points.Problem]]:
    try:
        database.upgrade("heads")
        if not database.is_sqlite:  # pg_restore leaves the planner without statistics
            with database.writer.begin() as conn:
                conn.exec_driver_sql("ANALYZE")
        revision = database.revision() or ""
        with database.snapshot() as tx:
            return revision, points.audit(tx)
    finally:
        database.dispose()


def _require_known(revisions: list[str], source: Path, migrations: Sequence[str]) -> None:
    if not revisions:
        raise BackupError(f"{source} is not a Linli backup (it has no alembic_version)")
    script = ScriptDirectory.from_config(alembic_config(None, migrations))
    unknown = []
    for revision in revisions:
        try:
            script.get_revision(revision)
        except CommandError:
            unknown.append(revision)
    if unknown:
        raise BackupError(
            f"{source} is at revision {', '.join(unknown)}, unknown to this version of Linli: "
            "restore it with the version that made it, or a newer one"
        )


def _not_empty(target: Path | str, tables: list[str]) -> str:
    listed = ", ".join(tables[:5]) + (", …" if len(tables) > 5 else "")
    return (
        f"{target} already holds data ({listed}): restore into an empty database, "
        "or give --force to replace everything in it"
    )


def _is_sqlite(settings: Settings) -> bool:
    return make_url(settings.database_url).get_backend_name() == "sqlite"


def _backend(settings: Settings) -> str:
    return "sqlite" if _is_sqlite(settings) else "postgresql"


def _sqlite_path(settings: Settings) -> Path:
    name = make_url(settings.database_url).database
    if not name or name == ":memory:":
        raise BackupError("LINLI_DATABASE_URL names no SQLite file")
    return Path(name)


def _sync(path: Path) -> None:
    """Make a file (or a directory's entries) durable before and after the rename."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _quiet(_done: int, _total: int) -> None:
    return None
