"""Column types and statements that mean the same thing on SQLite (STRICT tables) and PostgreSQL.

Public so that libraries keeping their tables beside the ledger (the marketplace) build them the
same way: ``from points import sqltypes``.

SQLite STRICT tables accept only INTEGER, REAL, TEXT, BLOB and ANY, so each portable type here
names the SQLite spelling explicitly. Timestamps are stored as UTC: ``timestamptz`` on PostgreSQL
and a fixed-width ISO-8601 text on SQLite (fixed width, so text order is time order). JSON is
stored as text encoded by msgspec on both, which keeps the two backends alike.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import msgspec
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Dialect

UTC = dt.UTC

Int64 = sa.BigInteger().with_variant(sqlite.INTEGER(), "sqlite")
"""A 64-bit integer (BIGINT / INTEGER)."""


def Text(length: int | None = None) -> sa.types.TypeEngine[str]:
    """A bounded string: VARCHAR(n) on PostgreSQL, TEXT on SQLite (Python checks the bound)."""
    base: sa.types.TypeEngine[str] = sa.String(length) if length else sa.Text()
    return base.with_variant(sqlite.TEXT(), "sqlite")


class Flag(sa.types.TypeDecorator[bool]):
    """A boolean: BOOLEAN on PostgreSQL, INTEGER 0/1 on SQLite."""

    impl = sa.Boolean
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sqlite.INTEGER())
        return dialect.type_descriptor(sa.Boolean())

    def process_bind_param(self, value: bool | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return int(value) if dialect.name == "sqlite" else bool(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> bool | None:
        return None if value is None else bool(value)


_SQLITE_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


class Timestamp(sa.types.TypeDecorator[dt.datetime]):
    """An aware UTC timestamp: TIMESTAMPTZ on PostgreSQL, fixed-width ISO text on SQLite."""

    impl = sa.DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sqlite.TEXT())
        return dialect.type_descriptor(postgresql.TIMESTAMP(timezone=True))

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        value = value.astimezone(UTC)
        if dialect.name != "sqlite":
            return value
        # _SQLITE_FORMAT, spelled the fast way: fixed width, microseconds always
        return value.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # _SQLITE_FORMAT; fromisoformat reads it (and is C)
            return dt.datetime.fromisoformat(value)
        assert isinstance(value, dt.datetime)
        return value.astimezone(UTC)


class Json(sa.types.TypeDecorator[Any]):
    """A JSON document stored as text (msgspec encodes and decodes it)."""

    impl = sa.Text
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sqlite.TEXT())
        return dialect.type_descriptor(sa.Text())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        return None if value is None else msgspec.json.encode(value).decode()

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        return None if value is None else msgspec.json.decode(value)


def insert_ignoring_conflicts(conn: Connection, table: sa.Table) -> Any:
    """``INSERT … ON CONFLICT DO NOTHING`` in the connection's dialect."""
    return upsert(conn, table).on_conflict_do_nothing()


def insert_many(conn: Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """``INSERT`` many rows (dicts with the same keys) through the driver: the columns' types
    convert the values column by column (a value the same as the row before's, or a time equal
    to it, as a batch's timestamps are, once) and the rows go to the driver as tuples: SQLite's
    ``executemany``, PostgreSQL's ``COPY``. For bulk writes (:func:`points.accrue_many`):
    ``conn.execute(table.insert(), rows)`` spends most of its time on SQLAlchemy's per-row
    parameter handling, and psycopg's ``executemany`` on a round of the protocol per row.

    Fewer than :data:`FEW` rows (one request's moves, say) go through that ordinary statement:
    there the per-row cost is small, and the statement is counted as every other one is."""
    if not rows:
        return
    if len(rows) < FEW:
        conn.execute(table.insert(), rows)
        return
    names = tuple(rows[0])
    sql, converters = _bulk_insert(conn.dialect, table, names)
    columns = []
    for name, convert in zip(names, converters, strict=True):
        values = [row[name] for row in rows]
        columns.append(values if convert is None else _converted(values, convert))
    if conn.dialect.name != "postgresql":
        conn.exec_driver_sql(sql, list(zip(*columns, strict=True)))
        return
    # PostgreSQL: COPY (psycopg), in the transaction; it checks every constraint an INSERT does.
    driver: Any = conn.connection.driver_connection
    copy_sql = sql.partition(" VALUES ")[0].replace("INSERT INTO", "COPY", 1) + " FROM STDIN"
    failure = conn.dialect.loaded_dbapi.Error
    try:
        with driver.cursor() as cursor, cursor.copy(copy_sql) as copy:
            for row in zip(*columns, strict=True):
                copy.write_row(row)
    except failure as exc:  # as SQLAlchemy raises it for a statement (IntegrityError, …)
        raise sa.exc.DBAPIError.instance(
            copy_sql, None, exc, failure, dialect=conn.dialect
        ) from exc


FEW = 50
"""Below this many rows :func:`insert_many` sends an ordinary ``INSERT``."""


def _converted(values: list[Any], convert: Callable[[Any], Any]) -> list[Any]:
    done: list[Any] = []
    last: Any = done  # no value is this list
    converted = None
    for value in values:
        if value is not last and not (type(value) is type(last) is dt.datetime and value == last):
            last, converted = value, convert(value)  # (an equal time is the same instant)
        done.append(converted)
    return done


def _bulk_insert(
    dialect: Dialect, table: sa.Table, names: tuple[str, ...]
) -> tuple[str, list[Any]]:
    key = (dialect.name, table.name, names)
    found = _BULK.get(key)
    if found is None:
        quote = dialect.identifier_preparer.quote
        marks = {"qmark": "?", "format": "%s", "pyformat": "%s", "numeric_dollar": "${}"}
        mark = marks[dialect.paramstyle]
        sql = "INSERT INTO {} ({}) VALUES ({})".format(
            quote(table.name),
            ", ".join(quote(name) for name in names),
            ", ".join(mark.format(i + 1) for i in range(len(names))),
        )
        types = (table.c[name].type.dialect_impl(dialect) for name in names)
        converters = [kind.bind_processor(dialect) for kind in types]
        found = _BULK[key] = (sql, converters)
    return found


_BULK: dict[tuple[str, str, tuple[str, ...]], tuple[str, list[Any]]] = {}


_B = TypeVar("_B")


def per_dialect(build: Callable[[str], _B]) -> Callable[[Connection], _B]:
    """A statement built once per dialect (``build(dialect_name)``) with named bind parameters,
    for the hot paths: executing the same statement object again skips building it and its
    cache key; the values go in as parameters."""
    built: dict[str, _B] = {}

    def get(conn: Connection) -> _B:
        name = conn.dialect.name
        found = built.get(name)
        if found is None:
            found = built[name] = build(name)
        return found

    return get


def dialect_insert(dialect: str, table: sa.Table) -> Any:
    """``INSERT`` of the dialect named, with ``on_conflict_do_*`` (SQLite and PostgreSQL)."""
    return (sqlite if dialect == "sqlite" else postgresql).insert(table)


def upsert(conn: Connection, table: sa.Table) -> Any:
    """``INSERT`` in the connection's dialect, with ``on_conflict_do_update`` (and ``…_nothing``)
    spelled the same on SQLite and PostgreSQL."""
    return dialect_insert(conn.dialect.name, table)


_S = TypeVar("_S")


def pick(row: Any, table: Any, prefix: str, cls: type[_S]) -> _S:
    """The ``table`` columns of a row that joined it (each labelled ``prefix`` + its name) as a
    value type: one statement loads several things, each taken out of it here. ``row``: a dict
    (``Row._asdict()``: the fastest to read from) or a row's ``_mapping``."""
    keys = _KEYS.get((table, prefix))
    if keys is None:
        keys = _KEYS[(table, prefix)] = tuple((str(c.name), f"{prefix}{c.name}") for c in table.c)
    return msgspec.convert({name: row[key] for name, key in keys}, cls, strict=False)


_KEYS: dict[tuple[Any, str], tuple[tuple[str, str], ...]] = {}


def picker(keys: Sequence[str], table: Any, prefix: str, cls: type[_S]) -> Callable[[Any], _S]:
    """:func:`pick` for many rows of one result (``keys``: its ``keys()``): a function from a
    row (a tuple) to the value type, reading the columns by position, with no dict per row."""
    found = _PICKERS.get((tuple(keys), table, prefix, cls))
    if found is None:
        at = {str(k): i for i, k in enumerate(keys)}
        names = tuple(str(c.name) for c in table.c)
        columns = operator.itemgetter(*(at[f"{prefix}{n}"] for n in names))
        convert = msgspec.convert

        def found(row: Any) -> Any:
            return convert(dict(zip(names, columns(row), strict=True)), cls, strict=False)

        _PICKERS[(tuple(keys), table, prefix, cls)] = found
    return found


_PICKERS: dict[tuple[Any, ...], Callable[[Any], Any]] = {}


def to_struct(row: sa.Row[Any], cls: type[_S]) -> _S:
    """A stored row as a msgspec value type."""
    return msgspec.convert({str(k): v for k, v in row._mapping.items()}, cls, strict=False)
