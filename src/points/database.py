"""Where the ledger lives: engines, durable settings, units of work, group commit, migrations.

The caller owns the transaction; library calls take a SQLAlchemy :class:`~sqlalchemy.engine.
Connection` and never commit. A *unit of work* is a plain function ``fn(conn, *args)`` that loads,
decides and writes; :meth:`Database.write` runs it in one write transaction and returns what it
returned (or raises what it raised, with nothing of it written), :meth:`Database.read` runs it on
one consistent snapshot. :meth:`Database.awrite` and :meth:`Database.aread` are the same for
asyncio code: the unit runs off the event loop in one hop.

SQLite (a file; WAL, ``synchronous=FULL``, foreign keys on). One writer thread owns the write
connection. It takes every unit queued since its last commit, runs them in one ``BEGIN
IMMEDIATE`` transaction, each inside a savepoint of its own (a unit that raises is rolled back
alone and its caller gets the error), commits once (one fsync for the group) and only then answers
each caller: an acknowledged write is a durable one. Reads for asyncio callers run on one reader
thread that takes the reads waiting together into one snapshot; :meth:`Database.read` and
:meth:`Database.snapshot` use a small pool of reader connections in the caller's thread.
:meth:`Database.transaction` lends the write connection to a ``with`` block for scripts and tests
(it waits while a group is running).

PostgreSQL (psycopg 3). Each write unit runs in a transaction of its own on a pooled
connection; the asyncio facade queues it for a few threads (``threads``). Correctness comes from
the row locks the conditional ``UPDATE``\\ s take. Reads for asyncio callers take the same lane
as on SQLite: one thread, the reads waiting together in one ``REPEATABLE READ`` snapshot.

Refusals are durable (TigerBeetle's rule): when a unit raises :class:`~points.errors.Refused` (or
an exception caused by one), everything the unit did is rolled back and the refusal alone is
recorded, so a retry under that transfer id is refused again.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import importlib.resources
import os
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Concatenate, ParamSpec, TypeVar

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url

from points.errors import Refused
from points.model import RefusedTransfer
from points.schema import refused_transfers, transfers
from points.sqltypes import insert_ignoring_conflicts

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA foreign_keys=ON",
    # Only scripts and a second process wait on the file lock (the writer thread is the one
    # writer of this process); a backup or a second `linli` command may hold it for a while.
    "PRAGMA busy_timeout=60000",
    # Pages kept in the connection's own cache (64 MiB, not SQLite's default 2 MiB): a district's
    # indexes stay in memory instead of being read through the OS on every statement.
    "PRAGMA cache_size=-65536",
)
MIGRATIONS = "points:migrations"
MAX_GROUP = 256
"""Most units one group commit takes (more wait for the next group)."""

P = ParamSpec("P")
T = TypeVar("T")
Unit = Callable[Concatenate[Connection, P], T]


class Database:
    """A ledger database: ``sqlite:///path.db`` or ``postgresql+psycopg://…``.

    The async drivers' spellings (``sqlite+aiosqlite://``, ``postgresql+asyncpg://``) are taken
    too and mean the same database: units run on the sync drivers (docs/architecture.md says why).
    """

    def __init__(
        self,
        url: str,
        *,
        read_pool_size: int = 4,
        read_threads: int | None = None,
        pool_size: int = 10,
        threads: int = 4,
        max_group: int = MAX_GROUP,
        echo: bool = False,
        migrations: Sequence[str] = (),
    ) -> None:
        """``migrations``: further Alembic version directories to apply with the ledger's (a
        library that keeps its own tables beside the ledger, such as the marketplace).

        SQLite: ``read_pool_size`` reader connections (for :meth:`snapshot` and :meth:`read` in
        any thread), and ``read_threads`` threads running :meth:`aread`'s units, each taking the
        units waiting together in one snapshot. One thread by default: every statement hands
        the GIL over twice, and four reader threads contending for it with the event loop cost a
        wish-list request 7.3 ms of CPU against 4.0 ms with one (docs/performance.md).
        PostgreSQL: ``pool_size`` connections; ``read_threads`` reader lanes as on SQLite (a
        batch of reads costs one BEGIN and one COMMIT and wakes the loop once). Two by default:
        in process, 32 concurrent requests, GET balance / statistics / recommendations ran at
        991–1,108 / 656–698 / 113–121 req/s on one lane, 1,099 / 788 / 166 on two and 825–930 /
        695–719 / 173–183 on four (the server's own time overlaps on more lanes, the GIL
        hand-overs cost more); on the four threads before, balance took 1.2–1.9 ms of CPU
        against 0.73–0.88 ms on one or two lanes. ``threads`` threads run :meth:`awrite`'s
        units, each in a transaction of its own. Four by default: measured
        on a 2-core machine with the server beside it (in process, 32 concurrent requests,
        medians of 3), claims ran at 384 / 415 / 394 req/s on 2 / 4 / 10 threads and balance
        reads at 838 / 729 / 648: each further thread costs CPU in GIL hand-overs, fewer overlap
        fewer commits. With the server across a network, more threads overlap its round trips.
        """
        self.url = sync_url(url)
        self.migrations = tuple(migrations)
        parsed = make_url(self.url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        self._writer_thread: _Writer | None = None
        self._readers: list[_Reader] = []
        self._calls: _Calls | None = None
        if self.is_sqlite:
            if parsed.database in (None, "", ":memory:"):
                raise ValueError(
                    "an in-memory SQLite database is private to one connection; use a file"
                )
            self.writer = _sqlite_engine(self.url, 1, "BEGIN IMMEDIATE", echo)
            self.reader = _sqlite_engine(self.url, read_pool_size, "BEGIN", echo)
            self._writer_thread = _Writer(self.writer, max_group)
            self._readers = [
                _Reader(self.reader, max_group, f"linli-reader-{i}")
                for i in range(read_threads or 1)
            ]
        else:
            self.writer = sa.create_engine(
                self.url, pool_size=pool_size, max_overflow=pool_size, echo=echo
            )
            self.reader = self.writer
            self._calls = _Calls(self.writer, 1, "linli-db", threads=threads)
            self._readers = [
                _Reader(self.reader, max_group, f"linli-reader-{i}")
                for i in range(read_threads or 2)
            ]

    # --- units of work ---------------------------------------------------------------------

    def write(self, fn: Unit[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn(conn, *args, **kwargs)`` in a write transaction; its result once committed."""
        if self._writer_thread is not None:
            return self._writer_thread.run(fn, *args, **kwargs)
        with self.transaction() as conn:
            return fn(conn, *args, **kwargs)

    def read(self, fn: Unit[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn(conn, *args, **kwargs)`` on one consistent snapshot."""
        with self.snapshot() as conn:
            return fn(conn, *args, **kwargs)

    async def awrite(self, fn: Unit[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """:meth:`write` for asyncio code: the unit runs off the event loop, in one hop."""
        if self._writer_thread is not None:
            return await self._writer_thread.submit(fn, *args, **kwargs)
        assert self._calls is not None
        return await self._calls.submit(self.write, fn, *args, **kwargs)

    async def aread(self, fn: Unit[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """:meth:`read` for asyncio code: the unit runs on a reader thread, in one hop."""
        if self._readers:
            lane = min(self._readers, key=lambda r: r.queue.qsize())
            return await lane.submit(fn, *args, **kwargs)
        assert self._calls is not None
        return await self._calls.submit(self.read, fn, *args, **kwargs)

    # --- transactions for scripts ----------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One write transaction around a ``with`` block: commit on success, roll back on error
        (a refusal is then recorded on its own, see the module doc). On SQLite it borrows the
        writer's connection, so it waits while a group commits; don't call :meth:`write` inside.
        """
        if self._writer_thread is not None and self._writer_thread.is_current():
            raise RuntimeError("a unit of work cannot open another transaction; use its conn")
        try:
            with self.writer.begin() as conn:
                yield conn
        except Exception as exc:
            refusal = refusal_of(exc)
            if refusal is None:
                raise
            with self.writer.begin() as conn:
                record_refusal(conn, refusal)
            raise

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[Connection]:
        """A read-only transaction over one consistent snapshot."""
        with self.reader.connect() as conn:
            if not self.is_sqlite:
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn

    def record_refusal(self, refusal: RefusedTransfer) -> None:
        """Keep a refused transfer's id refused. Safe to call twice."""
        self.write(record_refusal, refusal)

    # --- schema and settings ---------------------------------------------------------------

    def upgrade(self, revision: str = "heads") -> None:
        """Apply the Alembic migrations up to ``revision`` (all heads by default)."""
        with self.writer.begin() as conn:
            _alembic(conn, "upgrade", revision, self.migrations)

    def downgrade(self, revision: str) -> None:
        with self.writer.begin() as conn:
            _alembic(conn, "downgrade", revision, self.migrations)

    def revision(self) -> str | None:
        """The schema revision the database is at (None: not migrated)."""
        with self.writer.begin() as conn:
            return _current_revision(conn)

    def pragmas(self, conn: Connection | None = None) -> dict[str, Any]:
        """The durability settings a live connection really runs with: ``conn`` (any connection,
        e.g. one of the read pool's), or else the write connection of this database's.

        SQLite: ``journal_mode``, ``synchronous`` (2 is FULL), ``foreign_keys``, ``busy_timeout``
        (per connection, set when it opens). PostgreSQL: ``synchronous_commit`` and ``fsync``."""
        if conn is not None:
            return _pragmas(conn)
        with self.writer.connect() as writer:
            return _pragmas(writer)

    def dispose(self) -> None:
        """Finish the queued units, stop the writer thread and close every connection."""
        if self._writer_thread is not None:
            self._writer_thread.stop()
        for reader in self._readers:
            reader.stop()
        if self._calls is not None:
            self._calls.stop()
        self.writer.dispose()
        if self.reader is not self.writer:
            self.reader.dispose()


def sync_url(url: str) -> str:
    """The URL on the driver the units run on (the async drivers' spellings map to it)."""
    parsed = make_url(url)
    backend, driver = parsed.get_backend_name(), parsed.get_driver_name()
    if backend == "sqlite" and driver != "pysqlite":
        parsed = parsed.set(drivername="sqlite")
    elif backend == "postgresql" and driver != "psycopg":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def refusal_of(exc: BaseException) -> RefusedTransfer | None:
    """The ledger refusal behind an exception (itself, or what caused it), if any."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, Refused):
            return current.refusal
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def record_refusal(conn: Connection, refusal: RefusedTransfer) -> None:
    """Record a refusal in the caller's transaction (for callers not using :class:`Database`).

    A transfer that meanwhile succeeded under the same id wins: then nothing is recorded.
    """
    done = conn.scalar(
        sa.select(sa.literal(1)).where(
            transfers.c.community_id == refusal.community_id, transfers.c.id == refusal.id
        )
    )
    if done:
        return
    conn.execute(
        insert_ignoring_conflicts(conn, refused_transfers).values(
            community_id=refusal.community_id,
            id=refusal.id,
            debit_account_id=refusal.debit_account_id,
            credit_account_id=refusal.credit_account_id,
            amount=refusal.amount,
            kind=refusal.kind.value,
            phase=refusal.phase.value,
            pending_id=refusal.pending_id,
            reference=refusal.reference,
            reason=refusal.reason,
            available=refusal.available,
            created_at=refusal.created_at,
        )
    )


# --- the SQLite writer: one thread, group commit ------------------------------------------------


class _Job:
    """One queued unit and how to answer its caller."""

    __slots__ = ("answer", "args", "fn", "kwargs", "outcome")

    def __init__(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        answer: asyncio.Future[Any] | concurrent.futures.Future[Any],
    ) -> None:
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.answer = answer
        self.outcome: tuple[bool, Any] = (False, RuntimeError("the unit did not run"))


_STOP = object()


class _Lane:
    """Threads taking queued units in groups (all that are waiting, up to ``max_group``) and
    answering each caller once its group is done: one thread owning one SQLite connection's
    work, or (max_group 1) a few threads sharing one queue of units, each unit on a connection
    of the pool."""

    def __init__(self, engine: Engine, max_group: int, name: str, threads: int = 1) -> None:
        self.engine = engine
        self.max_group = max_group
        self.queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.threads = [
            threading.Thread(target=self._loop, name=f"{name}-{i}" if threads > 1 else name,
                             daemon=True)
            for i in range(threads)
        ]  # fmt: skip
        for thread in self.threads:
            thread.start()

    def is_current(self) -> bool:
        return threading.current_thread() in self.threads

    def submit(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> asyncio.Future[T]:
        answer: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self.queue.put(_Job(fn, args, kwargs, answer))
        return answer

    def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if self.is_current():
            raise RuntimeError("a unit of work cannot queue another; call it with its conn")
        answer: concurrent.futures.Future[T] = concurrent.futures.Future()
        self.queue.put(_Job(fn, args, kwargs, answer))
        return answer.result()

    def stop(self) -> None:
        alive = [t for t in self.threads if t.is_alive()]
        for _ in alive:
            self.queue.put(_STOP)
        for thread in alive:
            thread.join()

    def _loop(self) -> None:
        while True:
            first = self.queue.get()
            if first is _STOP:
                return
            group = [first]
            stop = False
            while len(group) < self.max_group:
                try:
                    job = self.queue.get_nowait()
                except queue.Empty:
                    break
                if job is _STOP:
                    stop = True
                    break
                group.append(job)
            self._run(group)
            _answer(group)
            if stop:
                return

    def _run(self, group: list[_Job]) -> None:
        raise NotImplementedError


class _Writer(_Lane):
    """SQLite's write connection: each group of units in one transaction, committed once."""

    def __init__(self, engine: Engine, max_group: int) -> None:
        super().__init__(engine, max_group, "linli-writer")

    def _run(self, group: list[_Job]) -> None:
        try:
            with self.engine.begin() as conn:
                for job in group:
                    _run_in_savepoint(conn, job)
        except Exception as exc:
            # The group's transaction failed as a whole (its commit, or a unit that broke the
            # transaction itself): nothing of it is durable. Each unit runs again on its own, so
            # one bad unit cannot fail the others; a second failure is that unit's answer.
            if len(group) == 1:
                group[0].outcome = (False, exc)
                return
            for job in group:
                try:
                    with self.engine.begin() as conn:
                        _run_in_savepoint(conn, job)
                except Exception as again:
                    job.outcome = (False, again)


class _Calls(_Lane):
    """Units on PostgreSQL: each in a transaction of its own (``Database.write``/``read``), on
    a few threads sharing one queue."""

    def _run(self, group: list[_Job]) -> None:
        for job in group:
            try:
                job.outcome = (True, job.fn(*job.args, **job.kwargs))
            except Exception as exc:
                job.outcome = (False, exc)


class _Reader(_Lane):
    """A reader connection for asyncio callers: the units waiting together read one snapshot,
    taken after each of them was asked for (so each sees every write answered before it was
    asked), and are answered with one wake-up of the event loop. On PostgreSQL the snapshot is a
    ``REPEATABLE READ`` transaction (as :meth:`Database.snapshot`'s); a statement that fails
    there aborts it, so the units after the one that failed read a new one."""

    def _run(self, group: list[_Job]) -> None:
        left = group
        while left:
            left = self._snapshot(left)

    def _snapshot(self, jobs: list[_Job]) -> list[_Job]:
        """Run ``jobs`` on one snapshot; those left to run on another."""
        try:
            with self.engine.connect() as conn:
                if conn.dialect.name == "postgresql":
                    conn = conn.execution_options(isolation_level="REPEATABLE READ")
                with conn.begin() as snapshot:
                    for n, job in enumerate(jobs):
                        try:
                            job.outcome = (True, job.fn(conn, *job.args, **job.kwargs))
                        except Exception as exc:
                            job.outcome = (False, exc)
                            if _aborted(conn):
                                snapshot.rollback()
                                return jobs[n + 1 :]
        except Exception as exc:  # the snapshot itself failed (the file or the server went away)
            for job in jobs:
                if job.outcome[0]:
                    job.outcome = (False, exc)
        return []


def _aborted(conn: Connection) -> bool:
    """Whether the connection's PostgreSQL transaction failed (it takes no more statements)."""
    if conn.dialect.name != "postgresql":
        return False
    info = getattr(conn.connection.driver_connection, "info", None)
    status = getattr(info, "transaction_status", None)
    return getattr(status, "name", "") == "INERROR"


def _run_in_savepoint(conn: Connection, job: _Job) -> None:
    # SQLite's own SAVEPOINT statements, sent as they are: SQLAlchemy's begin_nested compiles
    # its savepoint statements anew each time (≈ 60 µs a unit). A unit that breaks the
    # transaction under them makes RELEASE fail, which fails the group (see _Writer._run).
    conn.exec_driver_sql("SAVEPOINT unit")
    try:
        result = job.fn(conn, *job.args, **job.kwargs)
    except Exception as exc:
        conn.exec_driver_sql("ROLLBACK TO unit")
        conn.exec_driver_sql("RELEASE unit")
        refusal = refusal_of(exc)
        if refusal is not None:
            record_refusal(conn, refusal)
        job.outcome = (False, exc)
        return
    conn.exec_driver_sql("RELEASE unit")
    job.outcome = (True, result)


def _answer(group: list[_Job]) -> None:
    """Answer each caller, once the group has committed (asyncio callers: one wake-up a loop)."""
    loops: dict[asyncio.AbstractEventLoop, list[_Job]] = {}
    for job in group:
        if isinstance(job.answer, asyncio.Future):
            loops.setdefault(job.answer.get_loop(), []).append(job)
        else:
            _settle(job)
    for loop, jobs in loops.items():
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody waits
            loop.call_soon_threadsafe(_settle_all, jobs)


def _settle_all(jobs: list[_Job]) -> None:
    for job in jobs:
        _settle(job)


def _settle(job: _Job) -> None:
    answer = job.answer
    if answer.done():  # cancelled: the caller went away (the write stands, like a sent request)
        return
    ok, value = job.outcome
    if ok:
        answer.set_result(value)
    else:
        answer.set_exception(value)


# --- engines, settings and migrations ----------------------------------------------------------


def _pragmas(conn: Connection) -> dict[str, Any]:
    names: tuple[str, ...]
    if conn.dialect.name == "sqlite":
        verb, names = "PRAGMA", ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
    else:
        verb, names = "SHOW", ("synchronous_commit", "fsync")
    return {n: conn.exec_driver_sql(f"{verb} {n}").scalar() for n in names}


def _sqlite_engine(url: str, size: int, begin: str, echo: bool) -> Engine:
    engine = sa.create_engine(
        url,
        pool_size=size,
        max_overflow=0,
        pool_timeout=60,
        echo=echo,
        connect_args={"check_same_thread": False},  # the pool hands connections across threads
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql(begin)

    return engine


def alembic_config(connection: Connection | None = None, migrations: Sequence[str] = ()) -> Config:
    config = Config()
    config.set_main_option("script_location", MIGRATIONS)
    ours = str(importlib.resources.files("points") / "migrations" / "versions")
    config.set_main_option("version_locations", os.pathsep.join((ours, *migrations)))
    config.set_main_option("path_separator", "os")
    config.attributes["connection"] = connection
    return config


def _alembic(connection: Connection, action: str, revision: str, migrations: Sequence[str]) -> None:
    getattr(command, action)(alembic_config(connection, migrations), revision)


def _current_revision(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    heads = MigrationContext.configure(connection).get_current_heads()
    return ",".join(sorted(heads)) or None
