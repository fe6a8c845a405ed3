"""Raw SQL on the ORM's own connections, for the paths the profile points at.

Why: Tortoise builds and hydrates every query through pypika and model
instances; on the read path that cost more than the database itself (the
profile of `secretValue` showed query building, copying and hydration above
SQLite's time). The hot statements are therefore written by hand, once, here
and in the stores that use this module, and run on the very connection (or
transaction) Tortoise uses, so transactions, pooling and shutdown stay the
ORM's.

Statements are written with ``?`` placeholders; for PostgreSQL they are
rewritten once to ``$1, $2, ...``. Values cross the boundary through the
`Dialect` so that UUIDs, datetimes and booleans read the same on both.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from datetime import datetime as _datetime  # `Dialect.datetime` shadows the name in the class body
from functools import lru_cache
from typing import Any, TypeVar
from uuid import UUID

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient

Row = Sequence[Any]
T = TypeVar("T")

_PLACEHOLDER = re.compile(r"\?")


@lru_cache(maxsize=512)
def _numbered(statement: str) -> str:
    counter = iter(range(1, 10_000))
    return _PLACEHOLDER.sub(lambda _m: f"${next(counter)}", statement)


class Dialect:
    """How values look in one database dialect."""

    name: str = "sqlite"
    uuids_as_text: bool = True  # uuid_param(x) is str(x)

    def statement(self, text: str) -> str:
        return text

    @staticmethod
    def uuid(value: object) -> UUID | None:
        if value is None:
            return None
        return value if isinstance(value, UUID) else UUID(str(value))

    @staticmethod
    def datetime(value: object) -> datetime | None:
        if value is None:
            return None
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)

    @staticmethod
    def boolean(value: object) -> bool:
        return bool(value)

    def uuid_param(self, value: UUID | None) -> object:
        return None if value is None else str(value)

    def bool_param(self, value: bool) -> object:
        return 1 if value else 0

    def datetime_param(self, value: _datetime | None) -> object:
        # The format Tortoise writes for SQLite (isoformat with a space).
        return None if value is None else value.isoformat(" ")

    def json_param(self, text: str) -> object:
        return text


class PostgresDialect(Dialect):
    uuids_as_text = False
    name = "postgres"

    def statement(self, text: str) -> str:
        return _numbered(text)

    def uuid_param(self, value: UUID | None) -> object:
        return value

    def bool_param(self, value: bool) -> object:
        return value

    def datetime_param(self, value: _datetime | None) -> object:
        return value

    def json_param(self, text: str) -> object:
        return text


SQLITE = Dialect()
POSTGRES = PostgresDialect()


def dialect_of_connection(connection: BaseDBAsyncClient) -> Dialect:
    return SQLITE if connection.capabilities.dialect == "sqlite" else POSTGRES


# ---- many rows in one statement (PostgreSQL) -----------------------------------

# From this many rows, an INSERT of the simple form (VALUES of placeholders and
# literals) runs on PostgreSQL as one INSERT ... SELECT FROM unnest(arrays).
# Why: executemany runs the statement once per row, so every row pays its own
# execution and fires the table's statement-level triggers once more: with
# secret_count's insert trigger that is one upsert of the workspace's counter
# row per secret (0.8 s of a 10,000-line import, measured with the trigger
# disabled), which one statement over arrays makes one per import.
UNNEST_FROM = 8
_SIMPLE_INSERT = re.compile(r'INSERT INTO "(\w+)" \(([^)]*)\) VALUES \(([^)]*)\)(.*)', re.S)
_LITERAL = re.compile(r"NULL|-?\d+|TRUE|FALSE", re.I)
_COLUMN_TYPES = 'SELECT a."attname", format_type(a."atttypid", a."atttypmod") FROM "pg_attribute" a WHERE a."attrelid" = $1::regclass AND a."attnum" > 0 AND NOT a."attisdropped"'
# statement -> its unnest form (None: not of the simple form); table -> column -> type.
_unnest_forms: dict[str, str | None] = {}
_table_types: dict[str, dict[str, str]] = {}


async def execute_rows(connection: BaseDBAsyncClient, statement: str, rows: Sequence[Sequence[Any]]) -> None:
    """`statement` (with ``?`` placeholders) for each of `rows`, in the
    caller's transaction: an INSERT of the simple form on PostgreSQL, from
    UNNEST_FROM rows, as one statement over arrays of the columns; anything
    else as executemany."""
    if not rows:
        return
    dialect = dialect_of_connection(connection)
    if dialect.name == "postgres" and len(rows) >= UNNEST_FROM:
        form = await _unnest_form(connection, statement)
        if form is not None:
            await connection.execute_query(form, [list(column) for column in zip(*rows, strict=True)])
            return
    await connection.execute_many(dialect.statement(statement), [list(row) for row in rows])


async def _unnest_form(connection: BaseDBAsyncClient, statement: str) -> str | None:
    if statement in _unnest_forms:
        return _unnest_forms[statement]
    form: str | None = None
    match = _SIMPLE_INSERT.fullmatch(statement)
    columns = [c.strip().strip('"') for c in match.group(2).split(",")] if match else []
    items = [v.strip() for v in match.group(3).split(",")] if match else []
    if match is not None and len(columns) == len(items):
        table, rest = match.group(1), match.group(4)
        types = _table_types.get(table)
        if types is None or not set(columns) <= set(types):
            _count, found = await connection.execute_query(_COLUMN_TYPES, [f'"{table}"'])
            types = _table_types[table] = {str(row[0]): str(row[1]) for row in found}
        arrays: list[str] = []
        selected: list[str] = []
        for column, item in zip(columns, items, strict=True):
            type_ = types.get(column)
            if type_ is None or type_.endswith("]"):
                break  # arrays of arrays do not unnest column by column: leave it to executemany
            if item == "?":
                arrays.append(f"${len(arrays) + 1}::{type_}[]")
                selected.append(f'u."c{len(arrays)}"')
            elif _LITERAL.fullmatch(item):
                selected.append(item)
            else:
                break
        else:
            names = ", ".join(f'"c{i}"' for i in range(1, len(arrays) + 1))
            form = (
                f'INSERT INTO "{table}" ({match.group(2)}) SELECT {", ".join(selected)}'
                f" FROM unnest({', '.join(arrays)}) AS u({names}){rest}"
            )
    _unnest_forms[statement] = form
    return form


async def run_in_sqlite_thread(client: Any, work: Callable[[sqlite3.Connection], T]) -> T:
    """`work(connection)` in the thread of Tortoise's SQLite client `client`,
    whose `_lock` the caller holds. The one place that reaches into
    Tortoise's client (`_connection`) and aiosqlite's `_execute`, both pinned
    in pyproject."""
    if client._connection is None:
        await client.create_connection(with_db=True)
    aiosqlite_connection = client._connection
    result: T = await aiosqlite_connection._execute(work, aiosqlite_connection._conn)
    return result


class SqliteReads:
    """A read-only SQLite connection used from the event loop's own thread.

    Why: every statement through aiosqlite is a hand-off to its worker thread
    and back; under load the two threads convoy on the GIL and a point read
    that costs SQLite 5 us cost the request hundreds. In WAL mode a reader
    never waits for the writer (it reads the last committed state), so the
    hottest statements (the token and value reads) run here, synchronously,
    in autocommit (no snapshot is ever held between statements, so
    checkpoints are never blocked). Writes and transactions stay on the ORM's
    connection. A read that finds the database busy (recovery, a TRUNCATE
    checkpoint) falls back to the ORM's connection.
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self._connection: sqlite3.Connection | None = None

    def _open(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA query_only = ON")
        connection.execute("PRAGMA busy_timeout = 20")
        connection.execute("PRAGMA cache_size = -16000")
        self._connection = connection
        return connection

    def fetch(self, statement: str, values: Sequence[Any]) -> list[Row]:
        connection = self._connection or self._open()
        return connection.execute(statement, list(values)).fetchall()

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class Sql:
    """Statements on the ORM's default connection, or on a transaction's."""

    def __init__(self, connection_name: str, sqlite_path: str | None = None) -> None:
        self.connection_name = connection_name
        self._reads = SqliteReads(sqlite_path) if sqlite_path else None
        self._dialect: Dialect | None = None

    async def read(self, statement: str, values: Sequence[Any] = ()) -> list[Row]:
        """A read of committed data, on the fastest path the database has."""
        if self._reads is not None:
            try:
                return self._reads.fetch(statement, values)
            except sqlite3.OperationalError:
                pass  # busy for a moment: take the ORM's connection, which waits longer
        return await self.fetch(statement, values)

    async def read_one(self, statement: str, values: Sequence[Any] = ()) -> Row | None:
        rows = await self.read(statement, values)
        return rows[0] if rows else None

    def close(self) -> None:
        if self._reads is not None:
            self._reads.close()

    @property
    def connection(self) -> BaseDBAsyncClient:
        return connections.get(self.connection_name)

    @property
    def dialect(self) -> Dialect:
        # One database behind one name: looked up once. (Finding the connection
        # goes through the ORM's context variables: 3% of a PostgreSQL read's
        # CPU when it was done for every row and statement.)
        if self._dialect is None:
            self._dialect = dialect_of_connection(self.connection)
        return self._dialect

    async def in_sqlite_writer(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """`work(connection)` in the SQLite connection's own thread, under the
        ORM's connection lock: a transaction of several statements as one
        hand-off. Why: between statements sent one by one, the writer lock
        stays held while the event loop gets round to sending the next, which
        under load is milliseconds of every other writer's wait. `work`
        opens and ends its own transaction and runs statements only (no
        Python work that holds the GIL). Reaches into Tortoise's client
        (`_lock`, `_connection`) and aiosqlite's `_execute`, both pinned in
        pyproject (`run_in_sqlite_thread`)."""
        client: Any = self.connection
        async with client._lock:
            return await run_in_sqlite_thread(client, work)

    async def fetch(
        self, statement: str, values: Sequence[Any] = (), *, using: BaseDBAsyncClient | None = None
    ) -> list[Row]:
        connection = using or self.connection
        dialect = dialect_of_connection(connection)
        _count, rows = await connection.execute_query(dialect.statement(statement), list(values))
        return [tuple(row) if not isinstance(row, tuple) else row for row in rows]  # sqlite3.Row / asyncpg Record

    async def fetchone(
        self, statement: str, values: Sequence[Any] = (), *, using: BaseDBAsyncClient | None = None
    ) -> Row | None:
        rows = await self.fetch(statement, values, using=using)
        return rows[0] if rows else None

    async def execute(
        self, statement: str, values: Sequence[Any] = (), *, using: BaseDBAsyncClient | None = None
    ) -> int:
        connection = using or self.connection
        dialect = dialect_of_connection(connection)
        count, _rows = await connection.execute_query(dialect.statement(statement), list(values))
        return int(count)

    async def executemany(
        self, statement: str, rows: Sequence[Sequence[Any]], *, using: BaseDBAsyncClient | None = None
    ) -> None:
        if not rows:
            return
        connection = using or self.connection
        dialect = dialect_of_connection(connection)
        await connection.execute_many(dialect.statement(statement), [list(row) for row in rows])
