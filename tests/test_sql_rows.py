"""Many rows in one statement on PostgreSQL (graphql_api.sql.execute_rows):
the same rows as executemany would write, and the same fallbacks."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest
from tortoise import connections
from tortoise.transactions import in_transaction

from graphql_api import sql
from tests.harness import Server

pytestmark = pytest.mark.asyncio

TABLE = """CREATE TABLE IF NOT EXISTS "rows_probe" ("id" UUID, "n" BIGINT, "s" VARCHAR(12), "j" JSONB,
  "b" BYTEA, "at" TIMESTAMPTZ, "f" BOOL, "lit" INT, "tags" TEXT[])"""
INSERT = 'INSERT INTO "rows_probe" ("id", "n", "s", "j", "b", "at", "f", "lit") VALUES (?, ?, ?, ?, ?, ?, ?, 7)'
READ = 'SELECT "id", "n", "s", "j"::text, "b", "at", "f", "lit" FROM "rows_probe" ORDER BY "n"'


def rows(count: int, offset: int = 0) -> list[list[object]]:
    at = datetime(2026, 12, 4, 20, 0, tzinfo=UTC)
    return [
        [uuid4(), offset + i, None if i % 3 else f"s{i}", '{"k": [1, "é"]}', bytes([i % 256]) * 3, at, i % 2 == 0]
        for i in range(count)
    ]


async def written(connection_name: str) -> list[tuple[object, ...]]:
    _count, found = await connections.get(connection_name).execute_query(READ)
    return [tuple(row) for row in found]


@pytest.mark.postgres
async def test_many_rows_are_one_statement_with_the_same_result_as_executemany(server: Server) -> None:
    name = server.services.sql.connection_name
    connection = connections.get(name)
    await connection.execute_script(TABLE)
    many = rows(50)
    async with in_transaction(name) as transaction:
        await sql.execute_rows(transaction, INSERT, many)
    assert sql._unnest_forms[INSERT] is not None and "unnest(" in sql._unnest_forms[INSERT]
    unnested = await written(name)
    await connection.execute_script('TRUNCATE "rows_probe"')
    async with in_transaction(name) as transaction:
        await transaction.execute_many(sql.POSTGRES.statement(INSERT), many)
    assert unnested == await written(name)
    assert len(unnested) == 50 and {row[7] for row in unnested} == {7}


@pytest.mark.postgres
async def test_a_statement_not_of_the_simple_form_runs_row_by_row(server: Server) -> None:
    name = server.services.sql.connection_name
    await connections.get(name).execute_script(TABLE)
    array_column = 'INSERT INTO "rows_probe" ("n", "tags") VALUES (?, ?)'
    computed = 'INSERT INTO "rows_probe" ("n", "s") VALUES (?, upper(?))'
    async with in_transaction(name) as transaction:
        await sql.execute_rows(transaction, array_column, [[i, ["a", "b"]] for i in range(10)])
        await sql.execute_rows(transaction, computed, [[100 + i, "x"] for i in range(10)])
    assert sql._unnest_forms[array_column] is None and sql._unnest_forms[computed] is None
    _count, found = await connections.get(name).execute_query(
        'SELECT count(*), count("tags"), max("s") FROM "rows_probe"'
    )
    assert tuple(found[0]) == (20, 10, "X")


async def test_few_rows_and_sqlite_run_as_executemany(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    async def never(*_args: object) -> str | None:
        raise AssertionError("the unnest form was asked for")

    monkeypatch.setattr(sql, "_unnest_form", never)
    name = server.services.sql.connection_name
    postgres = server.services.sql.dialect.name == "postgres"
    table = (
        TABLE
        if postgres
        else 'CREATE TABLE IF NOT EXISTS "rows_probe" ("id", "n", "s", "j", "b", "at", "f", "lit", "tags")'
    )
    await connections.get(name).execute_script(table)
    given = rows(3) if postgres else [[str(r[0]), *r[1:6], int(bool(r[6]))] for r in rows(20)]
    async with in_transaction(name) as transaction:
        await sql.execute_rows(transaction, INSERT, given)
    _count, found = await connections.get(name).execute_query('SELECT count(*), min("lit") FROM "rows_probe"')
    assert tuple(found[0]) == (len(given), 7)
