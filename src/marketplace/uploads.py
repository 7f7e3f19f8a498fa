"""Roster files kept between their preview and their import (花名册上传): the pages check an
uploaded file at once (:func:`stage`) and keep it, with its report, so that the confirmation need
not send the file again (:func:`import_staged`: checked again, then imported). The file is
emptied once imported or dropped; the kept report then holds ids and row numbers, no names,
phones or values (those live in the members' rows, which a deletion erases).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from marketplace import lifecycle
from marketplace.errors import InvalidInput, NotFound
from marketplace.imports import CHUNK, Progress, Report, check_roster, import_roster, quiet
from marketplace.lifecycle import Act
from marketplace.orgs import check_id, get_org, roles_on
from marketplace.profiles import Change
from marketplace.schema import members, roster_imports
from points import Cause, new_id, sqltypes, utcnow


class Staged(msgspec.Struct, frozen=True, kw_only=True):
    community_id: str
    id: str
    actor_id: str
    filename: str
    rows: int
    problems: int
    state: str  # checked, imported, dropped
    result: Report | None
    created_at: dt.datetime
    finished_at: dt.datetime | None


def stage(
    conn: Connection,
    actor: str,
    community_id: str,
    filename: str,
    content: bytes,
    *,
    progress: Progress = quiet,
    now: dt.datetime | None = None,
) -> Staged:
    """Check the file and keep it (with its report) for :func:`import_staged`. A file with
    problems is kept too, so that its problems can be downloaded."""
    now = now or utcnow()
    report = check_roster(conn, actor, community_id, content, progress=progress, now=now)
    import_id = new_id()
    report = msgspec.structs.replace(report, import_id=import_id)
    conn.execute(
        roster_imports.insert().values(
            community_id=community_id,
            id=import_id,
            actor_id=actor,
            filename=filename[:200] or "roster",
            content=content,
            rows=report.rows,
            problems=len(report.problems),
            state="checked",
            result=msgspec.to_builtins(report),
            created_at=now,
            finished_at=None,
        )
    )
    return staged(conn, actor, community_id, import_id)


def staged(conn: Connection, actor: str, community_id: str, import_id: str) -> Staged:
    """A kept file's state and report, for the office of its community (else NotFound)."""
    row = _staged_row(conn, actor, community_id, import_id)
    result = msgspec.convert(row.result, Report) if row.result is not None else None
    if result is not None and row.state == "imported":
        result = _named(conn, result)
    return Staged(
        community_id=row.community_id,
        id=row.id,
        actor_id=row.actor_id,
        filename=row.filename,
        rows=row.rows,
        problems=row.problems,
        state=row.state,
        result=result,
        created_at=sqltypes.to_struct(row, _Times).created_at,
        finished_at=sqltypes.to_struct(row, _Times).finished_at,
    )


class _Times(msgspec.Struct, frozen=True, kw_only=True):
    created_at: dt.datetime
    finished_at: dt.datetime | None


def staged_content(conn: Connection, actor: str, community_id: str, import_id: str) -> bytes:
    """The kept file (empty once imported or dropped)."""
    return bytes(_staged_row(conn, actor, community_id, import_id).content)


def _staged_row(
    conn: Connection, actor: str, community_id: str, import_id: str, *, lock: bool = False
) -> Any:
    check_id("import_id", import_id)
    community = get_org(conn, community_id)
    if not lifecycle.can(Act.REGISTER, roles_on(conn, actor, community.path)):
        raise NotFound("import", import_id)
    query = sa.select(roster_imports).where(
        roster_imports.c.community_id == community_id, roster_imports.c.id == import_id
    )
    row = conn.execute(query.with_for_update() if lock else query).first()
    if row is None:
        raise NotFound("import", import_id)
    return row


def import_staged(
    conn: Connection,
    actor: str,
    community_id: str,
    import_id: str,
    *,
    progress: Progress = quiet,
    now: dt.datetime | None = None,
) -> Report:
    """Import a kept file (checked again: the community may have changed since the preview).
    Once imported, the file is emptied and the report kept; importing it again answers the
    same report."""
    now = now or utcnow()
    row = _staged_row(conn, actor, community_id, import_id, lock=True)
    if row.state == "imported":  # sent twice: the kept report (ids, no names)
        return msgspec.convert(row.result, Report)
    if row.state != "checked":
        raise InvalidInput("import_id", Cause("roster_dropped"))
    report = import_roster(
        conn, actor, community_id, bytes(row.content), progress=progress, now=now,
        import_id=import_id,
    )  # fmt: skip
    conn.execute(
        roster_imports.update()
        .where(roster_imports.c.community_id == community_id, roster_imports.c.id == import_id)
        .values(
            state="imported" if report.written else "checked",
            content=b"" if report.written else row.content,
            problems=len(report.problems),
            result=_kept(report) if report.written else msgspec.to_builtins(report),
            finished_at=now if report.written else None,
        )
    )
    return report


def drop_staged(
    conn: Connection, actor: str, community_id: str, import_id: str, now: dt.datetime | None = None
) -> None:
    """Forget a kept file that will not be imported: the file goes, and its report keeps ids
    and row numbers only (as an imported one's)."""
    row = _staged_row(conn, actor, community_id, import_id)
    if row.state == "checked":
        _drop(conn, row, now or utcnow())


KEEP_UNCONFIRMED = dt.timedelta(hours=24)
"""How long a checked file waits for its import (确认导入) before the ``roster_files`` sweep drops
it: a file of names and phones nobody confirmed is not kept."""
SWEEP_BATCH = 100


def drop_unconfirmed(conn: Connection, *, now: dt.datetime | None = None) -> int:
    """Drop the files checked :data:`KEEP_UNCONFIRMED` ago or more and never imported or dropped
    (up to ``SWEEP_BATCH`` a call): each as :func:`drop_staged` drops one. How many."""
    now = now or utcnow()
    due = conn.execute(
        sa.select(roster_imports)
        .where(
            roster_imports.c.state == "checked",
            roster_imports.c.created_at <= now - KEEP_UNCONFIRMED,
        )
        .order_by(roster_imports.c.created_at)
        .limit(SWEEP_BATCH)
    ).all()
    return sum(_drop(conn, row, now) for row in due)


def _drop(conn: Connection, row: Any, now: dt.datetime) -> int:
    """Empty a checked file and its report's personal fields (a conditional update: a file
    imported or dropped meanwhile stays as it is). 1 if dropped."""
    result = msgspec.convert(row.result, Report) if row.result is not None else None
    done = conn.execute(
        roster_imports.update()
        .where(
            roster_imports.c.community_id == row.community_id,
            roster_imports.c.id == row.id,
            roster_imports.c.state == "checked",
        )
        .values(
            state="dropped",
            content=b"",
            result=_kept(result) if result is not None else None,
            finished_at=now,
        )
    )
    return done.rowcount


def _named(conn: Connection, report: Report) -> Report:
    """A kept report with the members' names as they are now (已注销用户 after a deletion)."""
    ids = sorted({c.member_id for c in report.created} | {u.member_id for u in report.updated})
    names: dict[str, str] = {}
    for start in range(0, len(ids), CHUNK):
        rows = conn.execute(
            sa.select(members.c.id, members.c.name).where(
                members.c.id.in_(ids[start : start + CHUNK])
            )
        )
        names.update((r.id, r.name) for r in rows)
    return msgspec.structs.replace(
        report,
        created=tuple(
            msgspec.structs.replace(c, name=names.get(c.member_id, "")) for c in report.created
        ),
        updated=tuple(
            msgspec.structs.replace(u, name=names.get(u.member_id, "")) for u in report.updated
        ),
    )


def _kept(report: Report) -> dict[str, Any]:
    """An import's report as kept once it is done: ids and row numbers, no names, phones or
    values (those live in the members' rows, which a deletion erases)."""
    bare = msgspec.structs.replace(
        report,
        sample=(),
        created=tuple(msgspec.structs.replace(c, name="", phone="") for c in report.created),
        updated=tuple(
            msgspec.structs.replace(
                u, name="", changes=tuple(Change(field=c.field, old=None, new=None)
                                          for c in u.changes)
            )
            for u in report.updated
        ),
    )  # fmt: skip
    return msgspec.to_builtins(bare)  # type: ignore[no-any-return]
