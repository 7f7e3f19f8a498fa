"""``linli webhook add|list|remove`` and ``linli outbox dispatch --once|dead|retry`` on a SQLite
file with the test district, delivering to a receiver on loopback."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from outbox_world import Receiver

import marketplace as mk
import marketplace_world as world
import service_world
from marketplace.schema import deliveries
from points import Database
from service.cli import main


def _db(path: Path) -> Database:
    return mk.open_database(f"sqlite:///{path}")


def test_webhooks_from_the_command_line_receive_the_events(tmp_path: Path) -> None:
    path = tmp_path / "linli.db"
    runner = service_world.cli(path)
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
    db = _db(path)
    with db.transaction() as tx:
        world.build(tx)
    with Receiver() as hook:
        bad = runner.invoke(main, ["webhook", "add", "--community", "c1", "--url", "ftp://x",
                                   "--secret", "s" * 20])  # fmt: skip
        assert bad.exit_code == 1
        assert "http://" in bad.output
        added = runner.invoke(main, ["webhook", "add", "--community", "c1", "--url", hook.url,
                                     "--secret", "s" * 20])  # fmt: skip
        assert added.exit_code == 0, added.output
        hook_id = added.output.split()[1]
        listed = runner.invoke(main, ["webhook", "list", "--community", "c1"])
        assert f"{hook_id}\t{hook.url}\tactive" in listed.output
        with db.transaction() as tx:
            world.published(tx)
        sent = runner.invoke(main, ["outbox", "dispatch", "--once"])
        assert sent.exit_code == 0, sent.output
        assert "fanned=1\tsent=1\tfailed=0\tdead=0" in sent.output
        assert [r.json()["type"] for r in hook.received] == ["wish.verified"]
    with db.transaction() as tx:
        tx.execute(deliveries.update().values(state="dead", attempts=8, last_error="HTTP 500"))
    dead = runner.invoke(main, ["outbox", "dead", "--community", "c1"])
    assert "wish.verified\twebhook\tattempts=8\tHTTP 500" in dead.output
    assert (
        runner.invoke(main, ["outbox", "retry", "--community", "c1"]).output == "1 to send again\n"
    )
    with db.snapshot() as tx:
        assert tx.scalar(sa.select(deliveries.c.state)) == "pending"
    removed = runner.invoke(main, ["webhook", "remove", "--community", "c1", hook_id])
    assert removed.exit_code == 0, removed.output
    with db.snapshot() as tx:
        assert tx.scalar(sa.select(deliveries.c.state)) == "dead"  # dropped with its hook
    db.dispose()
