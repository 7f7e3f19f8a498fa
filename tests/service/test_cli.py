"""The linli command line, run as a user would (on SQLite files)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from service.cli import main


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("LINLI_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'linli.db'}")
    return CliRunner()


def test_upgrade_demo_status_and_audit_report_a_healthy_ledger(runner: CliRunner) -> None:
    assert runner.invoke(main, ["db", "upgrade"]).output == "database at revision m0001\n"
    assert runner.invoke(main, ["demo"]).exit_code == 0
    assert runner.invoke(main, ["demo"]).exit_code == 0  # loading twice changes nothing
    status = runner.invoke(main, ["status"])
    assert status.output == (
        "community yangguang: 6 accounts, 5 transfers, 76 points issued from the pool\n"
        "community yangguang: wishes 1 claimed, 1 published, 1 submitted\n"
    )
    audit = runner.invoke(main, ["audit"])
    assert (audit.exit_code, audit.output) == (0, "audit: 0 problem(s)\n")


def test_audit_exits_1_and_names_the_account_when_a_balance_was_tampered_with(
    runner: CliRunner, tmp_path: Path
) -> None:
    runner.invoke(main, ["db", "upgrade"])
    runner.invoke(main, ["demo"])
    with sqlite3.connect(tmp_path / "linli.db") as conn:
        conn.execute(
            "UPDATE points_accounts SET credits_posted = credits_posted + 5 "
            "WHERE id = 'member:m-li'"
        )
    audit = runner.invoke(main, ["audit"])
    assert audit.exit_code == 1
    assert "counter_drift\tyangguang\tmember:m-li" in audit.output


def test_status_of_an_empty_ledger(runner: CliRunner) -> None:
    runner.invoke(main, ["db", "upgrade"])
    assert runner.invoke(main, ["status"]).output == "the ledger is empty\n"
