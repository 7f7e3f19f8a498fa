"""``linli audit --chain``: the heads it prints, handed back with ``--heads``, catch what the chain
alone cannot, a deleted tail. On a SQLite file, tampered with as an insider would, with sqlite3.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import points
import service_world
from points import AccountKind, TransferKind
from service.cli import main
from service.database import open_database
from service.settings import Settings

HEAD = re.compile(r"^chain (\S+) seq=(\d+) head=([0-9a-f]{64})$", re.M)


def _accruals(database: Path, community: str, n: int) -> None:
    db = open_database(Settings(database_url=f"sqlite:///{database}", secret_key="k" * 40))
    try:
        with db.transaction() as tx:
            points.open_community(tx, community)
            points.open_account(tx, community, AccountKind.MEMBER, "ann")
        for i in range(n):
            with db.transaction() as tx:
                points.transfer(
                    tx,
                    community_id=community,
                    debit_account_id=f"pool:{community}",
                    credit_account_id="member:ann",
                    amount=10 + i,
                    kind=TransferKind.ACCRUAL,
                )
    finally:
        db.dispose()


def _erase_newest(database: Path, community: str, k: int) -> None:
    """A careful insider: the newest ``k`` accruals go with their entries and lots, the two
    accounts' counters and versions are put back, the chain head is rewound. Books balance."""
    with sqlite3.connect(database) as conn:
        newest = conn.execute(
            "SELECT id, debit_account_id, credit_account_id, amount FROM points_transfers "
            "WHERE community_id = ? ORDER BY chain_seq DESC LIMIT ?",
            (community, k),
        ).fetchall()
        for transfer_id, debit, credit, amount in newest:
            for table, column in (("points_entries", "transfer_id"), ("points_lots", "id"),
                                  ("points_transfers", "id")):  # fmt: skip
                conn.execute(
                    f"DELETE FROM {table} WHERE community_id = ? AND {column} = ?",
                    (community, transfer_id),
                )
            for account, counter in ((debit, "debits_posted"), (credit, "credits_posted")):
                conn.execute(
                    f"UPDATE points_accounts SET {counter} = {counter} - ?, version = version - 1 "
                    "WHERE community_id = ? AND id = ?",
                    (amount, community, account),
                )
        conn.execute(
            "UPDATE points_chain_heads SET (seq, hash) = (SELECT chain_seq, chain_hash "
            "FROM points_transfers WHERE community_id = ? ORDER BY chain_seq DESC LIMIT 1) "
            "WHERE community_id = ?",
            (community, community),
        )


def test_audit_chain_prints_the_heads_and_the_heads_handed_back_catch_a_deleted_tail(
    tmp_path: Path,
) -> None:
    database = tmp_path / "linli.db"
    runner = service_world.cli(database)
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
    _accruals(database, "c1", 5)
    _accruals(database, "c2", 3)

    def audit(*args: str) -> tuple[int, str, dict[str, tuple[int, str]]]:
        result = runner.invoke(main, ["audit", *args])
        heads = {c: (int(seq), h) for c, seq, h in HEAD.findall(result.output)}
        return result.exit_code, result.output, heads

    def keep(output: str, name: str) -> str:
        path = tmp_path / name
        path.write_text(output, encoding="utf-8")
        return str(path)

    code, first, heads = audit("--chain")
    assert code == 0, first
    assert {c: seq for c, (seq, _) in heads.items()} == {"c1": 5, "c2": 3}
    assert first.splitlines()[-2:] == [
        "chain: 2 communities, 8 transfer(s) sealed now, 0 unsealed",
        "audit: 0 problem(s)",
    ]
    monday = keep(first, "monday.txt")  # the whole output: only its `chain …` lines count

    _accruals(database, "c1", 2)  # the chain grows past Monday's head: that is no problem
    code, second, grown = audit("--heads", monday)
    assert code == 0, second
    assert grown["c1"][0] == 7
    assert grown["c2"] == heads["c2"]
    assert "checked against 2 head(s) handed out" in second
    tuesday = keep(second, "tuesday.txt")

    _erase_newest(database, "c1", 2)
    assert audit() == (0, "audit: 0 problem(s)\n", {})  # the books balance
    code, alone, rewound = audit("--chain")  # and the chain alone verifies
    assert (code, rewound["c1"]) == (0, heads["c1"]), alone
    code, caught, _ = audit("--chain", "--heads", tuesday)
    assert code == 1
    assert "chain_truncated\tc1\tchain\texpected=7 actual=5\t" in caught
    assert caught.splitlines()[-1] == "audit: 1 problem(s)"
    assert audit("--heads", monday)[0] == 0  # an older head cannot see what came after it

    with sqlite3.connect(database) as conn:
        conn.execute(
            "UPDATE points_transfers SET memo = '改' WHERE community_id = 'c1' AND chain_seq = 2"
        )
    code, edited, _ = audit("--chain")
    assert code == 1
    assert re.search(r"^chain_hash_mismatch\tc1\t\w+\t.*\t#2: ", edited, re.M), edited
    assert audit()[0] == 0  # a memo is nothing the balances show


def test_audit_heads_needs_a_file_with_head_lines(tmp_path: Path) -> None:
    runner = service_world.cli(tmp_path / "linli.db")
    runner.invoke(main, ["db", "upgrade"])
    empty = tmp_path / "heads.txt"
    empty.write_text("audit: 0 problem(s)\n", encoding="utf-8")
    result = runner.invoke(main, ["audit", "--heads", str(empty)])
    assert result.exit_code == 1
    assert "no `chain <community> seq=<n> head=<hex>` line in --heads" in result.output
