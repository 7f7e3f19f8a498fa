"""The ``linli`` command line: serve, migrations, the first admin, demo data, sweeps, audit
(with ``--chain``, the ledger's hash chains and the heads to hand to an outside party), exports
(``linli export KIND``: XLSX or CSV, logged as the system's).

Settings come from LINLI_* variables (docs/operations.md). ``linli serve`` migrates the database
first, then serves the app with uvicorn.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO, TypeVar

import click
import sqlalchemy as sa

import marketplace as mk
import points
from marketplace.schema import wishes
from points.schema import accounts, transfers
from service import auth, backup, certificate_pdf, cjk_font, codes, demo, exports, i18n, rosters
from service.database import open_database
from service.dispatcher import client_for, dispatch_once
from service.problems import ServiceError
from service.settings import Settings, SettingsError
from service.sweeper import retention, sweep_once

T = TypeVar("T")
CST = dt.timezone(dt.timedelta(hours=8), "CST")  # times for people, as the pages show them


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


def _run(work: Callable[[points.Database], T]) -> T:
    db = open_database(_settings())
    try:
        return work(db)
    finally:
        db.dispose()


@click.group()
def main() -> None:
    """Linli (邻里): volunteer points and micro-wishes. Settings come from LINLI_* variables."""


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
def serve(host: str, port: int, workers: int) -> None:
    """Migrate the database, then serve the web service."""
    import uvicorn

    revision = _run(_upgrade)
    click.echo(f"database at revision {revision}; serving on http://{host}:{port}")
    uvicorn.run(
        "service.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        proxy_headers=False,
        # With --workers, uvicorn kills a worker that leaves a health-check ping unanswered for
        # this long (its default, 5 s). A worker starting (imports, the app) or serving on a
        # machine whose cores are all busy missed it, and the kill dropped its requests in flight
        # (the two-process race tests under load); a hung worker is still replaced.
        timeout_worker_healthcheck=30,
    )


def _upgrade(database: points.Database) -> str | None:
    database.upgrade("heads")
    return database.revision()


@main.group()
def db() -> None:
    """Database schema (Alembic migrations)."""


@db.command("upgrade")
@click.option("--revision", default="heads", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION."""

    def work(database: points.Database) -> str | None:
        database.upgrade(revision)
        return database.revision()

    click.echo(f"database at revision {_run(work)}")


@main.group()
def admin() -> None:
    """Administrators."""


@admin.command("create")
@click.option("--org", "org_id", required=True, help="The district (区/县) the admin runs.")
@click.option("--org-name", default=None, help="Name of the district, when it is new.")
@click.option("--name", required=True, help="The admin's name.")
@click.option("--phone", required=True, help="11-digit mobile number to sign in with.")
@click.option(
    "--password",
    envvar="LINLI_ADMIN_PASSWORD",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="Asked for when not given (or set LINLI_ADMIN_PASSWORD).",
)
def admin_create(org_id: str, org_name: str | None, name: str, phone: str, password: str) -> None:
    """Create an admin of a district (the district too, when it does not exist yet)."""
    try:
        hashed = auth.password_hash(password)
    except ServiceError as exc:
        raise click.ClickException(exc.en) from None

    def work(database: points.Database) -> str:
        database.upgrade("heads")
        with database.transaction() as tx:
            try:
                org = mk.get_org(tx, org_id)
            except mk.NotFound:
                if not org_name:
                    raise click.ClickException(
                        f"org {org_id!r} does not exist: give --org-name"
                    ) from None
                org = mk.create_org(
                    tx, mk.SYSTEM, id=org_id, kind=mk.OrgKind.DISTRICT, name=org_name
                )
            member = mk.add_member(tx, id=points.new_id(), name=name, phone=phone)
            mk.grant_role(tx, mk.SYSTEM, member.id, org.id, mk.Role.ADMIN)
            auth.set_credentials(tx, member.id, phone, hashed)
            return member.id

    try:
        member_id = _run(work)
    except (mk.MarketplaceError, points.PointsError, ServiceError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"admin {member_id} of {org_id} created; sign in with {phone}")


@main.group()
def calendar() -> None:
    """The official working-day calendar (工作日历) that deadlines count in."""


@calendar.command("load")
@click.argument("file", type=click.File("r", encoding="utf-8"))
@click.option(
    "--source",
    required=True,
    help="Where the days come from, e.g. the State Council's notice (国办发明电〔2026〕N号).",
)
def calendar_load(file: TextIO, source: str) -> None:
    """Load a year's official days from FILE: one day a line, ``2027-10-01,休,国庆节`` (a day
    off) or ``2027-09-26,班,国庆节调休`` (a weekend day worked); ``#`` starts a comment. The
    days replace whatever was loaded for that year."""
    text = file.read()

    def work(database: points.Database) -> mk.calendars.LoadedYear:
        with database.transaction() as tx:
            days = mk.calendars.parse_days(text)
            return mk.calendars.load_year(tx, mk.SYSTEM, days, source=source, now=points.utcnow())

    try:
        loaded = _run(work)
    except mk.MarketplaceError as exc:
        raise click.ClickException(str(exc)) from None
    rest = sum(1 for d in loaded.days if not d.workday)
    click.echo(
        f"calendar {loaded.year} loaded: {rest} days off (休), "
        f"{len(loaded.days) - rest} weekend days worked (班)"
    )


@calendar.command("show")
def calendar_show() -> None:
    """Which years deadlines can be counted in."""

    def work(database: points.Database) -> mk.calendars.Coverage:
        with database.snapshot() as tx:
            return mk.calendars.coverage(tx)

    found = _run(work)
    loaded = ", ".join(str(y) for y in found.loaded) or "none"
    click.echo(
        f"package chinesecalendar: {found.package_from}-{found.package_until}; loaded: {loaded}"
    )


@main.group()
def open311() -> None:
    """Open311 GeoReport v2 intake (/open311/v2/): partner systems and their keys."""


@open311.command("key")
@click.option("--org", "org_id", required=True, help="The community (社区) the partner posts to.")
@click.option("--name", required=True, help="The partner system's name (e.g. 智慧长乐).")
def open311_key(org_id: str, name: str) -> None:
    """Issue an api_key to a partner system; the key is printed this once (stored hashed)."""

    def work(database: points.Database) -> tuple[mk.intake.Partner, str]:
        database.upgrade("heads")
        with database.transaction() as tx:
            return mk.intake.issue_key(tx, mk.SYSTEM, community_id=org_id, name=name)

    try:
        partner, key = _run(work)
    except (mk.MarketplaceError, points.PointsError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"partner {partner.id} ({partner.name}) of {partner.community_id}")
    click.echo(f"api_key: {key}")
    click.echo("Keep it now: it is stored hashed and cannot be shown again.")


@open311.command("revoke")
@click.option("--org", "org_id", required=True, help="The community (社区) the partner posts to.")
@click.argument("partner_id")
def open311_revoke(org_id: str, partner_id: str) -> None:
    """Revoke a partner system's api_key (停用): it stops working at once; its wishes stay."""

    def work(database: points.Database) -> mk.intake.Partner:
        database.upgrade("heads")
        with database.transaction() as tx:
            return mk.intake.revoke_key(tx, mk.SYSTEM, org_id, partner_id)

    try:
        partner = _run(work)
    except (mk.MarketplaceError, points.PointsError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"partner {partner.id} ({partner.name}) of {partner.community_id}: revoked")


@main.command("demo")
def load_demo() -> None:
    """Load the demo district (idempotent): orgs, people, wishes in every state, a store."""

    def work(database: points.Database) -> demo.Loaded:
        database.upgrade("heads")
        with click.progressbar(length=demo.STEPS, label="demo data", file=sys.stderr) as bar:
            return demo.load(database, progress=bar.update)

    loaded = _run(work)
    click.echo(loaded.summary())


@main.group()
def code() -> None:
    """One-time sign-in codes (一次性验证码)."""


@code.command("issue")
@click.option("--community", "community_id", required=True, help="The members' community.")
@click.option(
    "--member", "member_ids", required=True, multiple=True, help="A member id (repeat for more)."
)
@click.option(
    "--purpose",
    type=click.Choice([p.value for p in codes.Purpose]),
    default=None,
    help="activate (no password yet) or reset; left out, whichever fits each member.",
)
def code_issue(community_id: str, member_ids: tuple[str, ...], purpose: str | None) -> None:
    """Issue a one-time code for each member and print it (shown once; only a hash is kept).
    One line a member: id, name, phone, purpose, code, expiry (China time)."""
    settings = _settings()

    def work(database: points.Database) -> tuple[codes.IssuedCode, ...]:
        return database.write(
            codes.issue_codes,
            mk.SYSTEM,
            community_id,
            list(member_ids),
            secret=settings.secret_key,
            lifetimes=codes.Lifetimes.of(settings),
            now=points.utcnow(),
            purpose=codes.Purpose(purpose) if purpose else None,
            address="cli",
        )

    try:
        issued = _run(work)
    except (mk.MarketplaceError, points.PointsError) as exc:
        raise click.ClickException(str(exc)) from None
    except ServiceError as exc:
        raise click.ClickException(exc.zh) from None
    for one in issued:
        until = one.expires_at.astimezone(CST).strftime("%Y-%m-%d %H:%M")
        click.echo(
            f"{one.member_id}\t{one.name}\t{one.phone}\t{one.purpose.value}\t{one.code}\t{until}"
        )


@main.command("certificate")
@click.option("--community", "community_id", required=True, help="the community that recorded it")
@click.option("--member", "member_id", required=True, help="the volunteer's member id")
@click.option("--from", "since", type=click.DateTime(["%Y-%m-%d"]), help="served on or after")
@click.option("--to", "until", type=click.DateTime(["%Y-%m-%d"]), help="served on or before")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
def certificate(
    community_id: str,
    member_id: str,
    since: dt.datetime | None,
    until: dt.datetime | None,
    output: Path,
) -> None:
    """出具志愿服务记录证明: issue a certificate (as the system, logged) and write its PDF;
    prints the number and the verification address (LINLI_PUBLIC_URL)."""
    settings = _settings()
    try:
        cjk_font.font(settings.certificate_font)  # before issuing: a PDF is sure
    except cjk_font.FontMissing as exc:
        raise click.ClickException(str(exc)) from None

    def work(database: points.Database) -> tuple[mk.certificates.Certificate, bytes | None]:
        with database.transaction() as tx:
            made = mk.certificates.issue(
                tx,
                mk.SYSTEM,
                community_id,
                member_id,
                since=since.date() if since else None,
                until=until.date() if until else None,
            )
            seal = mk.issuers.seal_image(tx, community_id) if made.has_seal else None
        return made, seal

    try:
        made, seal = _run(work)
    except (mk.MarketplaceError, points.PointsError) as exc:
        raise click.ClickException(str(exc)) from None
    url = certificate_pdf.verify_url(settings.public_url, made.number)
    pdf = certificate_pdf.render(
        made, verify=url, seal=seal, font_setting=settings.certificate_font
    )
    output.write_bytes(pdf)
    click.echo(f"certificate {made.number}  {made.hours} hours  written to {output}")
    click.echo(f"verify at {url}")


@main.group("sweep", invoke_without_command=True)
@click.pass_context
def sweep(context: click.Context) -> None:
    """Run every background sweep once (escalation, auto-accept, no-shows, expiries, …);
    ``linli sweep retention`` runs the retention purge alone."""
    if context.invoked_subcommand is not None:
        return
    days = _settings().retention_days

    def work(database: points.Database) -> list[str]:
        reports = asyncio.run(sweep_once(database, retention_days=days))
        return [
            f"{r.name}\thandled={r.handled}\tskipped={r.skipped}"
            + (f"\terror={r.error}" if r.error else "")
            for r in reports
        ]

    for line in _run(work):
        click.echo(line)


@sweep.command("retention")
def sweep_retention() -> None:
    """保存期限: purge the remaining personal fields of members deleted LINLI_RETENTION_DAYS ago
    or more; print how many members and rows per column."""
    days = _settings().retention_days

    def work(database: points.Database) -> mk.retention.RetentionReport:
        return database.write(retention, points.utcnow(), days)

    report = _run(work)
    click.echo(f"members\t{report.members}")
    for column, rows in sorted(report.rows.items()):
        click.echo(f"{column}\t{rows}")


@main.command("status")
def status() -> None:
    """Report the ledger's and the wishes' state per community."""

    def work(
        database: points.Database,
    ) -> tuple[list[tuple[str, int, int, int | None]], dict[str, dict[str, int]]]:
        with database.snapshot() as tx:
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
            ledger = [(r[0], r[1], r[2], r[3]) for r in tx.execute(query)]
            by_state: dict[str, dict[str, int]] = {}
            counted = sa.select(wishes.c.community_id, wishes.c.state, sa.func.count()).group_by(
                wishes.c.community_id, wishes.c.state
            )
            for community, state, n in tx.execute(counted):
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
@click.option(
    "--chain",
    is_flag=True,
    help="Also seal new transfers, verify each community's hash chain and print its head "
    "(the line to hand to an outside party).",
)
@click.option(
    "--heads",
    "heads_file",
    type=click.File("r", encoding="utf-8"),
    default=None,
    help="Heads printed by an earlier `audit --chain` (its `chain …` lines): check the chain "
    "still passes through them. Implies --chain.",
)
def run_audit(community: str | None, chain: bool, heads_file: TextIO | None) -> None:
    """Recompute every account from its transfers; exit 1 when anything disagrees."""
    expected = _read_heads(heads_file) if heads_file is not None else None
    chain = chain or expected is not None

    def work(
        database: points.Database,
    ) -> tuple[list[points.Problem], points.ChainReport | None, int]:
        sealed = 0
        while chain:
            with database.transaction() as tx:
                batch = points.seal(tx, community, limit=10_000)
            sealed += batch
            if not batch:
                break
        with database.snapshot() as tx:
            problems = points.audit(tx, community)
            report = points.verify_chain(tx, community, expected_heads=expected) if chain else None
        return problems, report, sealed

    problems, report, sealed = _run(work)
    if report is not None:
        problems += report.problems
    for problem in problems:
        click.echo(
            f"{problem.code}\t{problem.community_id}\t{problem.subject}\t"
            f"expected={problem.expected} actual={problem.actual}\t{problem.message}"
        )
    if report is not None:
        for head in report.heads:
            click.echo(f"chain {head.community_id} seq={head.seq} head={head.hash}")
        click.echo(
            f"chain: {len(report.heads)} communities, {sealed} transfer(s) sealed now, "
            f"{report.unsealed} unsealed"
            + (f", checked against {len(expected)} head(s) handed out" if expected else "")
        )
    click.echo(f"audit: {len(problems)} problem(s)")
    sys.exit(1 if problems else 0)


_HEAD_LINE = re.compile(r"chain (\S+) seq=(\d+) head=([0-9a-f]{64})")


def _read_heads(lines: TextIO) -> dict[str, tuple[int, str]]:
    """The ``chain <community> seq=<n> head=<hex>`` lines of a file (other lines are ignored,
    so the whole output of an earlier audit can be kept and given back)."""
    heads: dict[str, tuple[int, str]] = {}
    for line in lines:
        found = _HEAD_LINE.fullmatch(line.strip())
        if found:
            heads[found[1]] = (int(found[2]), found[3])
    if not heads:
        raise click.ClickException("no `chain <community> seq=<n> head=<hex>` line in --heads")
    return heads


@main.group("import")
def import_() -> None:
    """Import data from files (花名册)."""


@import_.command("members")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--community", "community_id", required=True, help="The community (社区) id.")
@click.option("--dry-run", is_flag=True, help="Check every row and report; write nothing.")
@click.option(
    "--problems",
    "problems_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="When rows have problems, write them to this XLSX (the rows with a 问题 column).",
)
def import_members(
    file: Path, community_id: str, dry_run: bool, problems_path: Path | None
) -> None:
    """Import a roster (XLSX or CSV, Chinese headers): every row is checked first; a file with
    a problem writes nothing. Rows match members on their phone; new members have no password
    (give them one-time sign-in codes). Exit 1 when a row has a problem."""
    content = file.read_bytes()

    def work(database: points.Database) -> mk.RosterReport:
        with _progress("导入" if not dry_run else "检查") as bar:
            if dry_run:
                with database.snapshot() as tx:
                    return mk.check_roster(tx, mk.SYSTEM, community_id, content, progress=bar)
            with database.transaction() as tx:
                found = mk.import_roster(tx, mk.SYSTEM, community_id, content, progress=bar)
                if found.created and not found.problems:  # in the import's transaction
                    issued.extend(
                        codes.issue_codes(
                            tx,
                            mk.SYSTEM,
                            community_id,
                            [made.member_id for made in found.created],
                            secret=settings.secret_key,
                            lifetimes=codes.Lifetimes.of(settings),
                            now=points.utcnow(),
                            purpose=codes.Purpose.ACTIVATE,
                            address="cli",
                        )
                    )
                return found

    settings = _settings()
    issued: list[codes.IssuedCode] = []
    try:
        report = _run(work)
    except mk.InvalidInput as exc:
        raise click.ClickException(f"{file.name}：{rosters.file_problem(exc)}") from None
    except mk.NotFound:
        raise click.ClickException(f"没有编号为 {community_id} 的社区") from None
    except (mk.MarketplaceError, points.PointsError) as exc:  # nothing written: one transaction
        raise click.ClickException(f"未导入：{exc}") from None
    except ServiceError as exc:  # a new member's code could not be issued: nothing written
        raise click.ClickException(f"未导入：{exc.zh}") from None
    for problem in report.problems:
        click.echo(rosters.problem_text(problem))
    if report.problems:
        if problems_path is not None:
            problems_path.write_bytes(rosters.problems_workbook(content, report.problems))
            click.echo(f"问题清单已写入 {problems_path}")
        click.echo(f"共 {len(report.problems)} 个问题，未写入任何数据；请修改后重新导入")
        sys.exit(1)
    code_of = {one.member_id: one for one in issued}
    for made in report.created:
        shown = f"新成员\t{made.member_id}\t第 {made.row} 行\t{made.name}"
        if made.member_id in code_of:
            one = code_of[made.member_id]
            until = one.expires_at.astimezone(CST).strftime("%Y-%m-%d %H:%M")
            shown += f"\t激活码 {one.code}\t有效期至 {until}"
        click.echo(shown)
    for line in report.updated:
        fields = "、".join(i18n.field_zh(c.field) for c in line.changes)
        click.echo(f"更新\t{line.member_id}\t第 {line.row} 行\t{line.name}\t{fields}")
    verb = "将" if dry_run else "已"
    click.echo(
        f"{report.rows} 行：{verb}新登记 {len(report.created)} 人，{verb}更新 "
        f"{len(report.updated)} 人，{report.unchanged} 人无变化"
        + ("（试运行，未写入）" if dry_run else "")
    )
    if issued:
        click.echo(
            "新成员尚未设置密码：请把各自的激活码当面或电话告知本人（只显示这一次），"
            "在登录页“用验证码设置密码”中使用"
        )


@main.command("export")
@click.argument("kind", type=click.Choice(list(mk.exports.KINDS)))
@click.option(
    "--community",
    "org_id",
    required=True,
    help="The community (or street, district) whose data to export.",
)
@click.option(
    "--period",
    required=True,
    help="2026, 2026-Q3, 2026-11, 30d, or a range FROM..TO (2026-01-05..2026-03-31, "
    "2026-01..2026-03), in China time.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice([f.value for f in mk.sheet_writer.Format]),
    default="xlsx",
    show_default=True,
)
@click.option(
    "-o", "--output", "path", required=True, type=click.Path(dir_okay=False, path_type=Path)
)
def run_export(kind: str, org_id: str, period: str, fmt: str, path: Path) -> None:
    """Export KIND of an area for a period: members (花名册), hours (时长), points (积分),
    wishes (心愿), rates (三率), days (每日统计), volunteers and records (全国志愿服务信息系统,
    only members who consented to the transfer; the others are counted)."""
    now = points.utcnow()

    def work(database: points.Database) -> mk.exports.Exported:
        with database.snapshot() as tx:
            planned = mk.exports.plan(tx, mk.SYSTEM, org_id, kind, period, fmt, now=now)
        partial = path.with_name(path.name + ".partial")
        try:
            with partial.open("wb") as out:
                done = exports.write(database, planned, out)
            partial.replace(path)
        finally:
            partial.unlink(missing_ok=True)
        exports.log(database, done, channel="cli", now=now)
        return done

    try:
        done = _run(work)
    except mk.InvalidInput as exc:
        reason = f"{i18n.field_zh(exc.field)}{i18n.cause_zh(exc.reason)} ({exc})"
        if exc.field == "period":
            raise click.BadParameter(reason, param_hint="'--period'") from None
        raise click.ClickException(reason) from None
    except mk.NotFound:
        raise click.ClickException(f"no community, street or district {org_id!r}") from None
    except OSError as exc:
        raise click.ClickException(f"cannot write {path}: {exc.strerror or exc}") from None
    click.echo(f"{path}: {exports.counts(done)}")


@main.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace PATH when it exists.")
def run_backup(path: Path, force: bool) -> None:
    """Copy the database to PATH while the service runs (SQLite's backup API; pg_dump)."""
    try:
        with _progress("backup") as bar:
            made = backup.backup(_settings(), path, force=force, progress=bar)
    except backup.BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"backup of the {made.backend} database at revision {made.revision} written to "
        f"{made.path}: {made.size} bytes, {made.tables} tables, {made.seconds:.2f} s"
    )


@main.command("restore")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace a database that already holds data.")
def run_restore(path: Path, force: bool) -> None:
    """Restore a backup into the (empty) database, migrate it and audit it; exit 1 on drift."""
    try:
        with _progress("restore") as bar:
            done = backup.restore(_settings(), path, force=force, progress=bar)
    except backup.BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"restored {done.path} into {done.target} in {done.seconds:.2f} s: revision "
        f"{done.backup_revision}"
        + ("" if done.revision == done.backup_revision else f", migrated to {done.revision}")
    )
    for problem in done.problems:
        click.echo(
            f"{problem.code}\t{problem.community_id}\t{problem.subject}\t"
            f"expected={problem.expected} actual={problem.actual}\t{problem.message}"
        )
    click.echo(f"audit: {len(done.problems)} problem(s)")
    sys.exit(1 if done.problems else 0)


@contextlib.contextmanager
def _progress(label: str) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr, made when the work first reports its total."""
    with contextlib.ExitStack() as stack:
        bars: list[Any] = []

        def update(done: int, total: int) -> None:
            if not bars:
                bars.append(
                    stack.enter_context(
                        click.progressbar(length=max(total, 1), label=label, file=sys.stderr)
                    )
                )
            bar = bars[0]
            bar.length = max(total, 1)
            bar.update(done - bar.pos)

        yield update


@main.group()
def outbox() -> None:
    """通知: the outbox's dispatcher and its dead letters."""


@outbox.command("dispatch")
@click.option("--once", is_flag=True, help="One round (fan out, send what is due), then exit.")
def outbox_dispatch(once: bool) -> None:
    """Send the outbox's messages to webhooks and SMS (safe beside `linli serve` and other
    dispatchers); without --once, every LINLI_OUTBOX_SECONDS until stopped."""
    settings = _settings()

    def work(database: points.Database) -> None:
        async def rounds() -> None:
            async with client_for(settings) as client:
                while True:
                    done = await dispatch_once(database, settings, client)
                    click.echo(
                        f"fanned={done.fanned}\tsent={done.sent}\tfailed={done.failed}"
                        f"\tdead={done.dead}"
                    )
                    if once:
                        return
                    await asyncio.sleep(max(settings.outbox_seconds, 1.0))

        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(rounds())

    _run(work)


@outbox.command("dead")
@click.option("--community", required=True, help="The community's org id.")
def outbox_dead(community: str) -> None:
    """List the community's dead deliveries (死信)."""
    found = _run(lambda database: _read(database, mk.dead_letters, mk.SYSTEM, community))
    for d in found:
        click.echo(f"{d.id}\t{d.type}\t{d.channel}\tattempts={d.attempts}\t{d.last_error or ''}")
    click.echo(f"{len(found)} dead")


@outbox.command("retry")
@click.option("--community", required=True, help="The community's org id.")
@click.argument("delivery_ids", nargs=-1)
def outbox_retry(community: str, delivery_ids: tuple[str, ...]) -> None:
    """Send dead deliveries again (all of the community's when no id is given)."""

    def work(database: points.Database) -> int:
        with database.transaction() as tx:
            return mk.retry(tx, mk.SYSTEM, community, list(delivery_ids) or None)

    click.echo(f"{_run(work)} to send again")


@main.group()
def webhook() -> None:
    """通知: a community's webhooks (signed JSON POSTs of its events; docs/api.md)."""


@webhook.command("add")
@click.option("--community", required=True, help="The community's org id.")
@click.option("--url", required=True, help="Where to POST the events (http:// or https://).")
@click.option("--secret", required=True, help="The HMAC key (16 to 200 characters).")
@click.option("--own-system", is_flag=True, help="The community's own system: may see phones.")
def webhook_add(community: str, url: str, secret: str, own_system: bool) -> None:
    """Register a webhook for every event of the community."""

    def work(database: points.Database) -> mk.Webhook:
        with database.transaction() as tx:
            return mk.add_webhook(tx, mk.SYSTEM, community, url, secret, own_system=own_system)

    try:
        hook = _run(work)
    except mk.MarketplaceError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"webhook {hook.id} → {hook.url}")


@webhook.command("list")
@click.option("--community", required=True, help="The community's org id.")
def webhook_list(community: str) -> None:
    """List the community's webhooks."""
    for hook in _run(lambda database: _read(database, mk.list_webhooks, mk.SYSTEM, community)):
        flags = "active" if hook.active else "removed"
        flags += " own-system" if hook.own_system else ""
        click.echo(f"{hook.id}\t{hook.url}\t{flags}")


@webhook.command("remove")
@click.option("--community", required=True, help="The community's org id.")
@click.argument("webhook_id")
def webhook_remove(community: str, webhook_id: str) -> None:
    """Stop a webhook (what it had still to receive is dropped)."""

    def work(database: points.Database) -> None:
        with database.transaction() as tx:
            mk.remove_webhook(tx, mk.SYSTEM, community, webhook_id)

    try:
        _run(work)
    except mk.MarketplaceError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"webhook {webhook_id} removed")


def _read(database: points.Database, fn: Callable[..., T], *args: Any) -> T:
    with database.snapshot() as tx:
        return fn(tx, *args)
