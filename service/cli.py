"""The ``linli`` command line: database migrations, demo data, ledger status and audit."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

import click
import sqlalchemy as sa

import marketplace
import points
from marketplace.schema import wishes
from points.schema import accounts, transfers
from service import demo
from service.settings import Settings

T = TypeVar("T")


def _run(work: Callable[[points.Database], Awaitable[T]]) -> T:
    async def main() -> T:
        db = marketplace.open_database(Settings.from_env().database_url)
        try:
            return await work(db)
        finally:
            await db.dispose()

    return asyncio.run(main())


@click.group()
def main() -> None:
    """Linli (邻里): volunteer points and micro-wishes. Settings come from LINLI_* variables."""


@main.group()
def db() -> None:
    """Database schema (Alembic migrations)."""


@db.command("upgrade")
@click.option("--revision", default="heads", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION."""

    async def work(database: points.Database) -> str | None:
        await database.upgrade(revision)
        return await database.revision()

    click.echo(f"database at revision {_run(work)}")


@main.command("demo")
def load_demo() -> None:
    """Load the demo community (idempotent)."""

    async def work(database: points.Database) -> None:
        async with database.transaction() as tx:
            await demo.load(tx, points.model.utcnow())

    _run(work)
    click.echo(f"demo community {demo.COMMUNITY!r} loaded")


@main.command("status")
def status() -> None:
    """Report the ledger's and the wishes' state per community."""

    async def work(
        database: points.Database,
    ) -> tuple[list[tuple[str, int, int, int | None]], dict[str, dict[str, int]]]:
        async with database.read() as tx:
            pool = accounts.alias("pool")
            query = (
                sa.select(
                    accounts.c.community_id,
                    sa.func.count(sa.distinct(accounts.c.id)),
                    sa.select(sa.func.count())
                    .where(transfers.c.community_id == accounts.c.community_id)
                    .scalar_subquery(),
                    sa.select(pool.c.debits_posted - pool.c.credits_posted)
                    .where(pool.c.community_id == accounts.c.community_id, pool.c.kind == "pool")
                    .scalar_subquery(),
                )
                .group_by(accounts.c.community_id)
                .order_by(accounts.c.community_id)
            )
            ledger = [(r[0], r[1], r[2], r[3]) for r in await tx.execute(query)]
            by_state: dict[str, dict[str, int]] = {}
            counted = sa.select(wishes.c.community_id, wishes.c.state, sa.func.count()).group_by(
                wishes.c.community_id, wishes.c.state
            )
            for community, state, n in await tx.execute(counted):
                by_state.setdefault(community, {})[state] = n
            return ledger, by_state

    rows, by_state = _run(work)
    if not rows:
        click.echo("the ledger is empty")
    for community, n_accounts, n_transfers, issued in rows:
        click.echo(
            f"community {community}: {n_accounts} accounts, {n_transfers} transfers, "
            f"{issued or 0} points issued from the pool"
        )
    for community, states in sorted(by_state.items()):
        listed = ", ".join(f"{n} {state}" for state, n in sorted(states.items()))
        click.echo(f"community {community}: wishes {listed}")


@main.command("audit")
@click.option("--community", default=None, help="Audit one community only.")
def run_audit(community: str | None) -> None:
    """Recompute every account from its transfers; exit 1 when anything disagrees."""

    async def work(database: points.Database) -> list[points.Problem]:
        async with database.read() as tx:
            return await points.audit(tx, community)

    problems = _run(work)
    for problem in problems:
        click.echo(
            f"{problem.code}\t{problem.community_id}\t{problem.subject}\t"
            f"expected={problem.expected} actual={problem.actual}\t{problem.message}"
        )
    click.echo(f"audit: {len(problems)} problem(s)")
    sys.exit(1 if problems else 0)
