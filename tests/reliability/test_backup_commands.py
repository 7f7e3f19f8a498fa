"""``linli backup`` and ``linli restore`` at their edges: SQLite's copy is one snapshot however
many writes land between its steps; an older backup is migrated on restore; a newer one, a file
that is no backup, an existing backup file and a missing or old ``pg_dump`` are refused with a
message that says what to do; a restore replaces data only when forced. (Backups under load:
test_backup.py.)
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import marketplace as mk
import marketplace_world as world
import points
import processes
import support
from photo_world import jpeg_with_gps
from service import backup
from service.cli import main
from service.settings import Settings

SECRET = "backup-commands-" + "k" * 40


def _linli(url: str, *args: str, path: str | None = None) -> Result:
    env = {"LINLI_DATABASE_URL": url, "LINLI_SECRET_KEY": SECRET}
    if path is not None:
        env["PATH"] = path
    return CliRunner(env=env).invoke(main, list(args))


@pytest.fixture
def empty_url(backend_ready: str, tmp_path: Path) -> Iterator[str]:
    """An empty database (not migrated) of the backend, dropped afterwards."""
    if backend_ready == "sqlite":
        yield f"sqlite:///{tmp_path / f'{uuid.uuid4().hex}.db'}"
    else:
        yield from _postgresql_database()


@pytest.fixture
def pg_url() -> Iterator[str]:
    processes.require_postgresql()
    yield from _postgresql_database()


def _postgresql_database() -> Iterator[str]:
    name = f"linli_bk_{uuid.uuid4().hex[:10]}"
    url = processes.create_postgresql(name)
    try:
        yield url
    finally:
        processes.drop_postgresql(name)


def test_a_sqlite_copy_is_one_snapshot_while_writes_land_between_its_steps(
    tmp_path: Path,
) -> None:
    live = tmp_path / "live.db"
    shutil.copyfile(support.sqlite_template(service=True), live)
    writer = sqlite3.connect(live, isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    _keys(writer, "before", 400)  # ≈ 1 MiB: many steps of 16 pages
    steps: list[tuple[int, int]] = []

    def between_steps(done: int, total: int) -> None:
        steps.append((done, total))
        _keys(writer, f"during-{len(steps)}", 1)  # committed while the copy is half made

    settings = Settings(database_url=f"sqlite:///{live}")
    made = backup.backup(settings, tmp_path / "copy.db", progress=between_steps, pages_per_step=16)
    _keys(writer, "after", 1)
    writer.close()
    copy = sqlite3.connect(made.path)
    in_copy = dict(
        copy.execute("SELECT substr(key, 1, 6), count(*) FROM svc_idempotency_keys GROUP BY 1")
    )
    journal = copy.execute("PRAGMA journal_mode").fetchone()[0]
    copy.close()
    total = steps[-1][1]
    assert len(steps) >= 20  # page by page, with writes between the steps
    assert len(steps) == -(-total // 16)  # and never restarted by them
    assert [done for done, _ in steps] == [min(16 * n, total) for n in range(1, len(steps) + 1)]
    assert in_copy == {"before": 400}  # the database as it was when the copy began
    assert journal == "delete"  # one self-contained file
    assert not Path(f"{made.path}-wal").exists()
    print(f"[backup] sqlite steps={len(steps)} pages={total} writes_between_steps={len(steps)}")


def _keys(conn: sqlite3.Connection, prefix: str, n: int) -> None:
    conn.executemany(
        "INSERT INTO svc_idempotency_keys VALUES (?, ?, 'f', 201, 'application/json', ?, "
        "'2026-11-26T00:00:00.000000Z', '2026-11-27T00:00:00.000000Z')",
        [("vol1", f"{prefix}-{uuid.uuid4().hex}", "x" * 2000) for _ in range(n)],
    )


def test_an_older_backup_is_migrated_to_the_heads_on_restore(
    backend_ready: str, empty_url: str, tmp_path: Path
) -> None:
    db = points.Database(empty_url)  # a database of the ledger's first revision
    try:
        db.upgrade("0001")
        with db.transaction() as tx:
            points.open_community(tx, "c1")
    finally:
        db.dispose()
    copy = tmp_path / "old.backup"
    made = _linli(empty_url, "backup", str(copy))
    assert made.exit_code == 0, made.output
    assert "at revision 0001 " in made.output
    target = _second(backend_ready, empty_url, tmp_path)
    try:
        restored = _linli(target, "restore", str(copy))
    finally:
        _drop(backend_ready, target)
    assert restored.exit_code == 0, restored.output
    assert "revision 0001, migrated to " in restored.output
    assert "audit: 0 problem(s)" in restored.output


def test_a_backup_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    newer = tmp_path / "newer.db"
    shutil.copyfile(support.sqlite_template(service=True), newer)
    with sqlite3.connect(newer) as conn:
        conn.execute("DELETE FROM alembic_version")
        conn.execute("INSERT INTO alembic_version VALUES ('z9999')")
    target = tmp_path / "target.db"
    refused = _linli(f"sqlite:///{target}", "restore", str(newer))
    assert refused.exit_code == 1
    assert "revision z9999, unknown to this version of Linli" in refused.output
    assert not target.exists()


def test_a_file_that_is_no_backup_is_refused(empty_url: str, tmp_path: Path) -> None:
    junk = tmp_path / "junk.backup"
    junk.write_bytes(os.urandom(8192))
    refused = _linli(empty_url, "restore", str(junk))
    assert refused.exit_code == 1
    assert "not a SQLite database" in refused.output or "not a pg_dump archive" in refused.output


def test_a_restore_never_replaces_data_unless_forced(
    backend_ready: str, empty_url: str, tmp_path: Path
) -> None:
    admin = ["--org", "d1", "--org-name", "幸福区", "--name", "王主任", "--phone", "13800000000"]
    made = _linli(empty_url, "admin", "create", *admin, "--password", "a-password")
    assert made.exit_code == 0, made.output
    copy = tmp_path / "first.backup"
    assert _linli(empty_url, "backup", str(copy)).exit_code == 0
    target = _second(backend_ready, empty_url, tmp_path)
    try:
        first = _linli(target, "restore", str(copy))
        again = _linli(target, "restore", str(copy))
        forced = _linli(target, "restore", "--force", str(copy))
        status = _linli(target, "status")
    finally:
        _drop(backend_ready, target)
    assert first.exit_code == 0, first.output
    assert again.exit_code == 1
    assert "already holds data (mk_members" in again.output
    assert "give --force to replace everything in it" in again.output
    assert forced.exit_code == 0, forced.output
    assert "audit: 0 problem(s)" in forced.output
    assert status.exit_code == 0, status.output


def test_a_wish_s_photos_are_in_the_backup_and_come_back_whole(
    backend_ready: str, empty_url: str, tmp_path: Path
) -> None:
    """Photos live in the database (docs/architecture.md, "Photos"): the backup holds them with
    no step of its own, and the restored photo is the same bytes."""
    assert _linli(empty_url, "db", "upgrade").exit_code == 0
    db = mk.open_database(empty_url)
    try:
        with db.transaction() as tx:
            world.build(tx)
            wish = world.published(tx)
            picture = mk.picture(jpeg_with_gps((320, 240)))
            (photo,) = mk.attach_to_wish(tx, "res", "c1", wish.id, [picture], now=world.T0)
    finally:
        db.dispose()
    copy = tmp_path / "photos.backup"
    assert _linli(empty_url, "backup", str(copy)).exit_code == 0
    target = _second(backend_ready, empty_url, tmp_path)
    try:
        restored = _linli(target, "restore", str(copy))
        assert restored.exit_code == 0, restored.output
        again = mk.open_database(target)
        try:
            with again.snapshot() as conn:
                found = mk.photo_file(conn, "res", "c1", wish.id, photo.id)
                thumb = mk.photo_file(conn, "res", "c1", wish.id, photo.id, thumbnail=True)
        finally:
            again.dispose()
    finally:
        _drop(backend_ready, target)
    assert (found.content, thumb.content) == (picture.content, picture.thumbnail)


def test_a_backup_never_overwrites_a_file_unless_forced(empty_url: str, tmp_path: Path) -> None:
    assert _linli(empty_url, "db", "upgrade").exit_code == 0
    kept = tmp_path / "kept.backup"
    kept.write_text("last week's backup")
    refused = _linli(empty_url, "backup", str(kept))
    assert refused.exit_code == 1
    assert "exists" in refused.output
    assert kept.read_text() == "last week's backup"
    forced = _linli(empty_url, "backup", "--force", str(kept))
    assert forced.exit_code == 0, forced.output
    assert kept.stat().st_size > 1000
    assert not list(tmp_path.glob(".kept.backup.*"))  # no partial file left behind


@pytest.mark.postgresql
def test_a_missing_or_older_pg_dump_is_named(pg_url: str, tmp_path: Path) -> None:
    assert _linli(pg_url, "db", "upgrade").exit_code == 0
    nothing = tmp_path / "empty-bin"
    nothing.mkdir()
    missing = _linli(pg_url, "backup", str(tmp_path / "a.dump"), path=str(nothing))
    old = tmp_path / "old-bin"
    old.mkdir()
    fake = old / "pg_dump"
    fake.write_text("#!/bin/sh\necho 'pg_dump (PostgreSQL) 11.22'\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    older = _linli(pg_url, "backup", str(tmp_path / "b.dump"), path=str(old))
    assert missing.exit_code == 1
    assert "pg_dump not found on PATH" in missing.output
    assert older.exit_code == 1
    assert "is version 11 but the server runs PostgreSQL 15" in older.output
    assert not list(tmp_path.glob("*.dump"))


def _second(backend: str, url: str, tmp_path: Path) -> str:
    """Another empty database beside ``url``'s."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'restored.db'}"
    return processes.create_postgresql(f"linli_bk_{uuid.uuid4().hex[:10]}")


def _drop(backend: str, url: str) -> None:
    if backend == "postgresql":
        name = url.rsplit("/", 1)[-1]
        processes.drop_postgresql(name)
