"""``linli sweep retention`` purges deleted members' remaining personal fields after
``LINLI_RETENTION_DAYS`` and prints the counts; ``linli sweep`` runs it with the others."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest

import marketplace as mk
import marketplace_world as world
from service.cli import main
from service.database import open_database
from service.settings import Settings
from service.sweeper import sweep_once
from service_world import cli


def test_the_retention_sweep_prints_what_it_purged(tmp_path: Path) -> None:
    path = tmp_path / "linli.db"
    runner = cli(path)
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
    db = open_database(Settings(database_url=f"sqlite:///{path}", secret_key="x"))
    try:
        with db.transaction() as tx:
            world.build(tx)
            mk.anonymise(tx, "vol1", "vol1", now=world.T0)
    finally:
        db.dispose()
    kept = runner.invoke(main, ["sweep", "retention"], env={"LINLI_RETENTION_DAYS": "36500"})
    assert kept.exit_code == 0, kept.output
    assert kept.stdout.splitlines()[0] == "members\t0"
    purged = runner.invoke(main, ["sweep", "retention"], env={"LINLI_RETENTION_DAYS": "1"})
    assert purged.exit_code == 0, purged.output
    lines = dict(line.split("\t") for line in purged.stdout.splitlines())  # not the log
    assert (lines["members"], lines["mk_members.home_org_id"]) == ("1", "1")
    everything = runner.invoke(main, ["sweep"], env={"LINLI_RETENTION_DAYS": "1"})
    assert everything.exit_code == 0, everything.output
    assert "retention\thandled=0\tskipped=0" in everything.output.splitlines()


async def test_the_service_sweep_logs_what_retention_purged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = open_database(Settings(database_url=f"sqlite:///{tmp_path / 'l.db'}", secret_key="x"))
    try:
        db.upgrade()
        with db.transaction() as tx:
            world.build(tx)
            mk.anonymise(tx, "vol1", "vol1", now=world.T0)
        with caplog.at_level(logging.INFO, logger="linli.sweeps"):
            early = await sweep_once(db, now=world.T0 + dt.timedelta(days=29), retention_days=30)
            late = await sweep_once(db, now=world.T0 + dt.timedelta(days=31), retention_days=30)
    finally:
        db.dispose()
    assert [(r.handled, r.error) for r in early if r.name == "retention"] == [(0, None)]
    assert [(r.handled, r.error) for r in late if r.name == "retention"] == [(1, None)]
    purged = [r for r in caplog.records if r.getMessage() == "retention purged"]
    assert len(purged) == 1
    fields = purged[0].fields  # type: ignore[attr-defined]
    assert (fields["members"], fields["rows"]["mk_members.home_org_id"]) == (1, 1)
