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
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from uuid import UUID

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient

Row = Sequence[Any]

_PLACEHOLDER = re.compile(r"\?")


@lru_cache(maxsize=512)
def _numbered(statement: str) -> str:
    counter = iter(range(1, 10_000))
    return _PLACEHOLDER.sub(lambda _m: f"${next(counter)}", statement)


class Dialect:
    """How values look in one database dialect."""

    name: str = "sqlite"

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
        if isinstance(value, datetime):
            moment = value
        else:
            moment = datetime.fromisoformat(str(value))
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)

    @staticmethod
    def boolean(value: object) -> bool:
        return bool(value)

    def uuid_param(self, value: UUID | None) -> object:
        return None if value is None else str(value)

    def bool_param(self, value: bool) -> object:
        return 1 if value else 0

    def datetime_param(self, value: datetime | None) -> object:
        # The format Tortoise writes for SQLite (isoformat with a space).
        return None if value is None else value.isoformat(" ")

    def json_param(self, text: str) -> object:
        return text


class PostgresDialect(Dialect):
    name = "postgres"

    def statement(self, text: str) -> str:
        return _numbered(text)

    def uuid_param(self, value: UUID | None) -> object:
        return value

    def bool_param(self, value: bool) -> object:
        return value

    def datetime_param(self, value: datetime | None) -> object:
        return value

    def json_param(self, text: str) -> object:
        return text


SQLITE = Dialect()
POSTGRES = PostgresDialect()


def dialect_of_connection(connection: BaseDBAsyncClient) -> Dialect:
    return SQLITE if connection.capabilities.dialect == "sqlite" else POSTGRES


class Sql:
    """Statements on the ORM's default connection, or on a transaction's."""

    def __init__(self, connection_name: str) -> None:
        self.connection_name = connection_name

    @property
    def connection(self) -> BaseDBAsyncClient:
        return connections.get(self.connection_name)

    @property
    def dialect(self) -> Dialect:
        return dialect_of_connection(self.connection)

    async def fetch(self, statement: str, values: Sequence[Any] = (), *, using: BaseDBAsyncClient | None = None) -> list[Row]:
        connection = using or self.connection
        dialect = dialect_of_connection(connection)
        _count, rows = await connection.execute_query(dialect.statement(statement), list(values))
        return list(rows)

    async def fetchone(
        self, statement: str, values: Sequence[Any] = (), *, using: BaseDBAsyncClient | None = None
    ) -> Row | None:
        rows = await self.fetch(statement, values, using=using)
        return rows[0] if rows else None

    async def execute(self, statement: str, values: Sequence[Any] = (), *, using: BaseDBAsyncClient | None = None) -> int:
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
