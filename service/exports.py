"""Exports (导出) as the service runs them: from the pages, the API and ``linli export``.

The library plans an export (:func:`marketplace.exports.plan`: the kind, the period, the format,
and whether the actor may) and writes it row by row (:func:`marketplace.exports.run`). Here it
is run off the event loop on a snapshot of its own (a long export must not hold up the reader
lane that answers everyone's pages), into a temporary file on disk, then logged (who, what,
when: ``mk_exports``) and sent in 64 KiB chunks, the file removed once sent. Memory stays flat:
the rows stream from the database into the file, the file streams out to the client.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import tempfile
import threading
from collections.abc import Iterator
from typing import IO
from urllib.parse import quote

from litestar.response import Stream

import marketplace as mk
from marketplace.exports import Exported, Plan
from marketplace.sheet_writer import MEDIA_TYPES
from points import Database
from service import labels

CHUNK = 64 * 1024
AT_ONCE = threading.BoundedSemaphore(2)
"""At most two exports read at once in a process: each holds a connection of the read pool for
its whole run (on SQLite the pool the pages' reader lane takes from too); the others wait."""
WORDS = {
    "roles": labels.ROLES,
    "wish_states": labels.WISH_STATES,
    "kinds": labels.KINDS,
    "urgency": labels.URGENCY,
    "levels": labels.LEVELS,
    "org_kinds": labels.ORG_KINDS,
}
"""The exports' vocabularies (``Column.words``) in Chinese."""
TITLES = {name: kind.title for name, kind in mk.exports.KINDS.items()}
"""Kind → its Chinese name, for the pages."""


def say(words: str, code: str) -> str:
    """A code of an export's cell in Chinese."""
    return labels.label(WORDS.get(words, {}), code)


def write(db: Database, planned: Plan, out: IO[bytes]) -> Exported:
    """Run the planned export into ``out`` on one snapshot (blocking: call it off the loop)."""
    with AT_ONCE, db.snapshot() as tx:
        return mk.exports.run(tx, planned, out, label=say)


def log(db: Database, done: Exported, *, channel: str, now: dt.datetime) -> None:
    db.write(mk.exports.record_export, done, channel=channel, now=now)


async def stream(db: Database, planned: Plan, *, channel: str, now: dt.datetime) -> Stream:
    """The export as a download: written to a temporary file off the loop, logged, then sent
    in chunks; the counts in headers (``X-Linli-Rows``, ``X-Linli-Withheld``)."""
    spool = tempfile.TemporaryFile()  # noqa: SIM115 (closed once sent, see _chunks)
    try:
        done = await asyncio.to_thread(write, db, planned, spool)
        await db.awrite(mk.exports.record_export, done, channel=channel, now=now)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return Stream(
        _chunks(spool),
        media_type=MEDIA_TYPES[planned.format],
        headers={
            "Content-Disposition": disposition(planned.filename),
            "X-Linli-Rows": str(done.rows),
            "X-Linli-Withheld": str(done.withheld),
            "Cache-Control": "no-store",
        },
    )


def _chunks(spool: IO[bytes]) -> Iterator[bytes]:
    try:
        while chunk := spool.read(CHUNK):
            yield chunk
    finally:
        spool.close()


def disposition(filename: str) -> str:
    """``attachment`` with the Chinese file name (RFC 6266) and an ASCII fallback."""
    fallback = "".join(c if (c.isascii() and c.isalnum()) or c in "-_." else "_" for c in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename)}"


def counts(done: Exported) -> str:
    """The one line the command line prints."""
    line = f"{done.rows} row(s) written"
    if done.withheld:
        line += f"; {done.withheld} member(s) left out: no consent to the transfer (未同意，未导出)"
    return line
