"""``linli sweep retention`` purges deleted members' remaining personal fields after
``LINLI_RETENTION_DAYS`` and prints the counts; ``linli sweep`` runs it with the others."""

from __future__ import annotations

from pathlib import Path

import marketplace as mk
import marketplace_world as world
from service.cli import main
from service.database import open_database
from service.settings import Settings
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
    assert kept.output.splitlines()[0] == "members\t0"
    purged = runner.invoke(main, ["sweep", "retention"], env={"LINLI_RETENTION_DAYS": "1"})
    assert purged.exit_code == 0, purged.output
    lines = dict(line.split("\t") for line in purged.output.splitlines())
    assert (lines["members"], lines["mk_members.home_org_id"]) == ("1", "1")
    everything = runner.invoke(main, ["sweep"], env={"LINLI_RETENTION_DAYS": "1"})
    assert everything.exit_code == 0, everything.output
    assert "retention\thandled=0\tskipped=0" in everything.output.splitlines()
