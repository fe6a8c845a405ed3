"""The migrations build exactly the schema the models define, on both dialects.

Why: the server creates its tables only through aerich migrations, while the
code is written against the models. If a model changes without a migration
(or a migration is edited by hand), production runs against a schema the code
does not expect: missing indexes are silent slowness, a missing unique
constraint or foreign key is silent data corruption. The reference schema is
what `Tortoise.generate_schemas()` creates from the models on an empty
database of the same dialect; an empty database migrated with
`graphql_api.database.migrate` must come out identical, table by table.

Also pinned down: a second `migrate()` is a no-op (even in the same task), and
two `migrate()` calls at once on one PostgreSQL database (two tasks of one
process, and two processes: replicas starting together) apply the migrations
exactly once, serialized by the advisory lock.
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import sys
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import AsyncExitStack, closing
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from tortoise.context import TortoiseContext

from graphql_api.database import (
    dialect_of,
    migrate,
    migrations_location,
    sqlite_path,
    tortoise_config,
)
from graphql_api.settings import Settings
from tests.pg import (
    DIALECTS,
    connect,
    require_postgres,
    temporary_database,
)

# table -> category -> item key -> description of the item
Schema = dict[str, dict[str, dict[str, Any]]]

CATEGORIES = ("columns", "primary key", "indexes", "unique constraints", "foreign keys")
SUBPROCESS_TIMEOUT_SECONDS = 120.0


# --------------------------------------------------------------------------- diff


def schema_diff(migrated: Schema, reference: Schema) -> list[str]:
    """Every difference between two schemas, one readable line each (empty: identical)."""
    lines: list[str] = []
    for table in sorted(set(migrated) | set(reference)):
        if table not in reference:
            lines.append(f"table {table!r}: created by the migrations, not defined by the models")
            continue
        if table not in migrated:
            lines.append(f"table {table!r}: defined by the models, missing after migrating")
            continue
        for category in CATEGORIES:
            ours = migrated[table].get(category, {})
            theirs = reference[table].get(category, {})
            for key in sorted(set(ours) | set(theirs)):
                where = f"table {table!r} {category} {key}"
                if key not in theirs:
                    lines.append(f"{where}: only after migrating: {ours[key]}")
                elif key not in ours:
                    lines.append(f"{where}: missing after migrating; models define: {theirs[key]}")
                elif ours[key] != theirs[key]:
                    lines.append(f"{where}: migrated {ours[key]} != models {theirs[key]}")
    return lines


def assert_same_schema(migrated: Schema, reference: Schema, dialect: str) -> None:
    differences = schema_diff(migrated, reference)
    assert not differences, (
        f"{dialect}: the migrated schema differs from the models' schema "
        f"({len(differences)} difference(s)):\n  " + "\n  ".join(differences)
    )


# --------------------------------------------------------------------------- SQLite


def _q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def sqlite_schema(path: Path) -> Schema:
    """Introspect a SQLite file through PRAGMAs."""
    schema: Schema = {}
    with closing(sqlite3.connect(path)) as db:
        tables = db.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        ).fetchall()
        for table, create_sql in tables:
            columns: dict[str, Any] = {}
            primary: list[tuple[int, str]] = []
            # Column *position* is deliberately not compared: a column added by a
            # later migration (ALTER TABLE ... ADD) lands last, wherever the model
            # declares it, and nothing in the code depends on column order.
            for _cid, name, type_, notnull, default, pk in db.execute(f"PRAGMA table_info({_q(table)})"):
                columns[name] = {"type": type_, "not null": bool(notnull), "default": default}
                if pk:
                    primary.append((pk, name))
            primary_key = {
                "columns": tuple(name for _, name in sorted(primary)),
                # AUTOINCREMENT (ids never reused) is only visible in the DDL text.
                "autoincrement": re.search(r"\bAUTOINCREMENT\b", create_sql, re.I) is not None,
            }

            indexes: dict[str, Any] = {}
            uniques: dict[str, Any] = {}
            for _seq, index_name, unique, origin, partial in db.execute(f"PRAGMA index_list({_q(table)})"):
                key_columns = tuple(
                    f"{col} {'DESC' if desc else 'ASC'} {coll}"
                    for _seqno, _cid, col, desc, coll, is_key in db.execute(f"PRAGMA index_xinfo({_q(index_name)})")
                    if is_key
                )
                plain_columns = tuple(col for _seqno, _cid, col in db.execute(f"PRAGMA index_info({_q(index_name)})"))
                # Explicit indexes have Tortoise's deterministic names and are keyed
                # by them. UNIQUE / PRIMARY KEY constraints get `sqlite_autoindex_<table>_<n>`,
                # numbered by their position in CREATE TABLE, which cannot matter:
                # those are keyed by their columns instead.
                if index_name.startswith("sqlite_autoindex_"):
                    key = f"{origin}({', '.join(plain_columns)})"
                else:
                    key = index_name
                indexes[key] = {
                    "columns": key_columns,
                    "unique": bool(unique),
                    "origin": origin,
                    "partial": bool(partial),
                }
                if origin == "u":
                    uniques[f"({', '.join(plain_columns)})"] = {"columns": plain_columns}

            foreign: dict[int, dict[str, Any]] = {}
            for fk_id, _seq, ref_table, from_col, to_col, on_update, on_delete, match in db.execute(
                f"PRAGMA foreign_key_list({_q(table)})"
            ):
                entry = foreign.setdefault(
                    fk_id,
                    {
                        "columns": [],
                        "references": ref_table,
                        "referenced columns": [],
                        "on update": on_update,
                        "on delete": on_delete,
                        "match": match,
                    },
                )
                entry["columns"].append(from_col)
                entry["referenced columns"].append(to_col)
            foreign_keys = {
                f"({', '.join(fk['columns'])})": {
                    **fk,
                    "columns": tuple(fk["columns"]),
                    "referenced columns": tuple(fk["referenced columns"]),
                }
                for fk in foreign.values()
            }

            schema[table] = {
                "columns": columns,
                "primary key": {"": primary_key},
                "indexes": indexes,
                "unique constraints": uniques,
                "foreign keys": foreign_keys,
            }
    return schema


# --------------------------------------------------------------------------- PostgreSQL

_PG_TABLES = """
SELECT table_name FROM information_schema.tables
WHERE table_schema = 'public' AND table_type = 'BASE TABLE'
"""

_PG_COLUMNS = """
SELECT table_name, column_name, data_type, udt_name, character_maximum_length,
       numeric_precision, numeric_scale, datetime_precision, collation_name,
       is_nullable, column_default, is_identity, identity_generation, is_generated
FROM information_schema.columns
WHERE table_schema = 'public'
"""

_PG_INDEXES = """
SELECT t.relname AS table_name,
       i.relname AS index_name,
       ix.indisunique AS is_unique,
       ix.indisprimary AS is_primary,
       ix.indnkeyatts AS key_count,
       am.amname AS method,
       pg_get_expr(ix.indpred, ix.indrelid) AS predicate,
       ARRAY(
           SELECT a.attname || CASE WHEN ix.indoption[k.n - 1] & 1 = 1 THEN ' DESC' ELSE ' ASC' END
           FROM unnest(ix.indkey::int2[]) WITH ORDINALITY AS k(attnum, n)
           JOIN pg_attribute a ON a.attrelid = ix.indrelid AND a.attnum = k.attnum
           ORDER BY k.n
       ) AS columns,
       pg_get_indexdef(ix.indexrelid) AS definition
FROM pg_index ix
JOIN pg_class i ON i.oid = ix.indexrelid
JOIN pg_class t ON t.oid = ix.indrelid
JOIN pg_namespace ns ON ns.oid = t.relnamespace
JOIN pg_am am ON am.oid = i.relam
WHERE ns.nspname = 'public'
"""

# NOT NULL shows up in table_constraints as CHECK constraints named after OIDs:
# nullability is compared with the columns, so only these three kinds are read.
_PG_CONSTRAINTS = """
SELECT tc.table_name, tc.constraint_name, tc.constraint_type,
       tc.is_deferrable, tc.initially_deferred,
       array_agg(kcu.column_name::text ORDER BY kcu.ordinal_position) AS columns
FROM information_schema.table_constraints tc
JOIN information_schema.key_column_usage kcu
  ON kcu.constraint_schema = tc.constraint_schema
 AND kcu.constraint_name = tc.constraint_name
 AND kcu.table_name = tc.table_name
WHERE tc.table_schema = 'public'
  AND tc.constraint_type IN ('PRIMARY KEY', 'UNIQUE', 'FOREIGN KEY')
GROUP BY tc.table_name, tc.constraint_name, tc.constraint_type,
         tc.is_deferrable, tc.initially_deferred
"""

_PG_FOREIGN_KEYS = """
SELECT kcu.table_name, rc.constraint_name, rc.update_rule, rc.delete_rule, rc.match_option,
       ref.table_name AS referenced_table,
       array_agg(ref.column_name::text ORDER BY kcu.ordinal_position) AS referenced_columns
FROM information_schema.referential_constraints rc
JOIN information_schema.key_column_usage kcu
  ON kcu.constraint_schema = rc.constraint_schema
 AND kcu.constraint_name = rc.constraint_name
JOIN information_schema.key_column_usage ref
  ON ref.constraint_schema = rc.unique_constraint_schema
 AND ref.constraint_name = rc.unique_constraint_name
 AND ref.ordinal_position = kcu.position_in_unique_constraint
WHERE rc.constraint_schema = 'public'
GROUP BY kcu.table_name, rc.constraint_name, rc.update_rule, rc.delete_rule,
         rc.match_option, ref.table_name
"""


def _pg_type(row: Mapping[str, Any]) -> str:
    data_type = row["data_type"]
    if data_type in ("USER-DEFINED", "ARRAY"):
        data_type = row["udt_name"]
    if row["character_maximum_length"] is not None:
        return f"{data_type}({row['character_maximum_length']})"
    if data_type == "numeric" and row["numeric_precision"] is not None:
        return f"numeric({row['numeric_precision']},{row['numeric_scale']})"
    if row["datetime_precision"] is not None and row["datetime_precision"] != 6:
        return f"{data_type}[precision {row['datetime_precision']}]"
    return str(data_type)


async def pg_schema(url: str) -> Schema:
    """Introspect the `public` schema of a PostgreSQL database."""
    connection = await connect(url)
    try:
        tables = await connection.fetch(_PG_TABLES)
        columns = await connection.fetch(_PG_COLUMNS)
        indexes = await connection.fetch(_PG_INDEXES)
        constraints = await connection.fetch(_PG_CONSTRAINTS)
        foreign_keys = await connection.fetch(_PG_FOREIGN_KEYS)
    finally:
        await connection.close()

    schema: Schema = {row["table_name"]: {category: {} for category in CATEGORIES} for row in tables}
    # Column position is not compared (see sqlite_schema).
    for row in columns:
        schema[row["table_name"]]["columns"][row["column_name"]] = {
            "type": _pg_type(row),
            "not null": row["is_nullable"] == "NO",
            "default": row["column_default"],
            "identity": row["identity_generation"] if row["is_identity"] == "YES" else None,
            "generated": row["is_generated"],
            "collation": row["collation_name"],
        }
    # PostgreSQL index and constraint names are deterministic (Tortoise's
    # idx_/uid_ hashes, `<table>_pkey`, `<table>_<column>_key`): keyed by name.
    for row in indexes:
        schema[row["table_name"]]["indexes"][row["index_name"]] = {
            "columns": tuple(row["columns"]),
            "unique": row["is_unique"],
            "primary": row["is_primary"],
            "method": row["method"],
            "predicate": row["predicate"],
            "definition": row["definition"],
        }
    fk_details = {(row["table_name"], row["constraint_name"]): row for row in foreign_keys}
    for row in constraints:
        table, name, kind = row["table_name"], row["constraint_name"], row["constraint_type"]
        entry: dict[str, Any] = {
            "columns": tuple(row["columns"]),
            "deferrable": row["is_deferrable"],
            "initially deferred": row["initially_deferred"],
        }
        if kind == "PRIMARY KEY":
            schema[table]["primary key"][name] = entry
        elif kind == "UNIQUE":
            schema[table]["unique constraints"][name] = entry
        else:
            fk = fk_details[(table, name)]
            entry.update(
                {
                    "references": fk["referenced_table"],
                    "referenced columns": tuple(fk["referenced_columns"]),
                    "on update": fk["update_rule"],
                    "on delete": fk["delete_rule"],
                    "match": fk["match_option"],
                }
            )
            schema[table]["foreign keys"][name] = entry
    return schema


# --------------------------------------------------------------------------- helpers


async def introspect(url: str) -> Schema:
    if dialect_of(url) == "sqlite":
        return sqlite_schema(sqlite_path(url))
    return await pg_schema(url)


async def create_reference_schema(url: str) -> None:
    """What the models define: generate_schemas() on an empty database."""
    if dialect_of(url) == "sqlite":
        sqlite_path(url).parent.mkdir(parents=True, exist_ok=True)
    # A context of its own: restores the previous Tortoise context and closes
    # its connections on exit.
    async with TortoiseContext() as ctx:
        await ctx.init(config=tortoise_config(url))
        await ctx.generate_schemas(safe=False)


def settings_for(url: str, data_dir: Path) -> Settings:
    return Settings.from_environ(
        {"DATABASE_URL": url, "STRONGROOM_DATA_DIR": str(data_dir)},
        env_file=Path("/nonexistent"),
    )


async def migrate_on(url: str, data_dir: Path) -> list[str]:
    """migrate() on `url`, whatever dialect this test process used before
    (the connection is named after its dialect, so cached SQL never crosses)."""
    return await migrate(settings_for(url, data_dir))


def migration_files(url: str) -> list[str]:
    """Every migration of the dialect, in the order aerich applies them."""
    folder = migrations_location(url) / "models"
    names = [path.name for path in folder.glob("*.py") if re.match(r"\d+_", path.name)]
    assert names, f"no migrations found in {folder}"
    return sorted(names, key=lambda name: int(name.split("_", 1)[0]))


async def applied_versions(url: str) -> list[str]:
    """The `aerich.version` rows, in insertion order."""
    if dialect_of(url) == "sqlite":
        with closing(sqlite3.connect(sqlite_path(url))) as db:
            return [row[0] for row in db.execute("SELECT version FROM aerich ORDER BY id")]
    connection = await connect(url)
    try:
        rows = await connection.fetch("SELECT version FROM aerich ORDER BY id")
    finally:
        await connection.close()
    return [row["version"] for row in rows]


@pytest_asyncio.fixture(params=DIALECTS)
async def empty_databases(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[str, str]]:
    """(to migrate, reference): two empty databases of one dialect."""
    if request.param == "sqlite":
        # The migrated file's folder does not exist yet: migrate() must create it.
        yield (
            f"sqlite://{tmp_path / 'data' / 'strongroom.db'}",
            f"sqlite://{tmp_path / 'reference' / 'reference.db'}",
        )
        return
    await require_postgres()
    async with AsyncExitStack() as stack:
        migrated = await stack.enter_async_context(temporary_database("sr_mig"))
        reference = await stack.enter_async_context(temporary_database("sr_ref"))
        yield migrated, reference


# --------------------------------------------------------------------------- tests


@pytest.mark.asyncio
async def test_migrating_an_empty_database_builds_the_models_schema(
    empty_databases: tuple[str, str], tmp_path: Path
) -> None:
    migrated_url, reference_url = empty_databases
    dialect = dialect_of(migrated_url)

    applied = await migrate_on(migrated_url, tmp_path)
    await create_reference_schema(reference_url)

    assert applied == migration_files(migrated_url)
    migrated, reference = await introspect(migrated_url), await introspect(reference_url)
    assert "aerich" in migrated and "aerich" in reference
    assert_same_schema(migrated, reference, dialect)


@pytest.mark.asyncio
async def test_a_second_migrate_applies_nothing(empty_databases: tuple[str, str], tmp_path: Path) -> None:
    """Also in the same task: migrate() must not leave Tortoise state behind
    that the next call (aerich skips Tortoise.init when a context is already
    initialised) would reuse after it was closed."""
    migrated_url, _ = empty_databases
    settings = settings_for(migrated_url, tmp_path)
    first = await migrate(settings)
    before = await introspect(migrated_url)

    assert await migrate(settings) == []
    assert await applied_versions(migrated_url) == first
    assert_same_schema(await introspect(migrated_url), before, dialect_of(migrated_url))


@pytest.mark.asyncio
async def test_a_drifted_schema_fails_with_every_difference_listed(tmp_path: Path) -> None:
    """The comparison is not vacuous, and its failure says what differs."""
    url = f"sqlite://{tmp_path / 'drift.db'}"
    await migrate_on(url, tmp_path)
    reference = await introspect(url)
    with closing(sqlite3.connect(sqlite_path(url))) as db:
        db.execute('DROP INDEX "idx_secret_workspa_8f724c"')
        db.execute('ALTER TABLE "workspace" ADD COLUMN "extra" TEXT')
        db.execute('CREATE TABLE "stray" ("id" INTEGER PRIMARY KEY)')
        db.commit()
    drifted = await introspect(url)

    with pytest.raises(AssertionError) as failure:
        assert_same_schema(drifted, reference, "sqlite")
    message = str(failure.value)
    assert "3 difference(s)" in message
    assert (
        "table 'secret' indexes idx_secret_workspa_8f724c: missing after migrating; "
        "models define: {'columns': ('workspace_id ASC BINARY', 'rotation_due_at ASC BINARY')" in message
    )
    assert (
        "table 'workspace' columns extra: only after migrating: "
        "{'type': 'TEXT', 'not null': False, 'default': None}" in message
    )
    assert "table 'stray': created by the migrations, not defined by the models" in message


def test_schema_diff_reports_changed_items() -> None:
    reference: Schema = {
        "t": {
            "columns": {"a": {"type": "INT", "not null": True, "default": None}},
            "foreign keys": {"(a)": {"references": "u", "on delete": "CASCADE"}},
        },
        "gone": {},
    }
    migrated: Schema = {
        "t": {
            "columns": {"a": {"type": "INT", "not null": False, "default": None}},
            "foreign keys": {"(a)": {"references": "u", "on delete": "RESTRICT"}},
        },
    }
    assert schema_diff(migrated, reference) == [
        "table 'gone': defined by the models, missing after migrating",
        "table 't' columns a: migrated {'type': 'INT', 'not null': False, 'default': None}"
        " != models {'type': 'INT', 'not null': True, 'default': None}",
        "table 't' foreign keys (a): migrated {'references': 'u', 'on delete': 'RESTRICT'}"
        " != models {'references': 'u', 'on delete': 'CASCADE'}",
    ]
    assert schema_diff(reference, reference) == []


async def assert_same_as_one_migrate(url: str, empty_url: str, data_dir: Path) -> None:
    """`url`'s schema equals what a single migrate() builds on `empty_url`.

    Against one migrate() rather than the models: whether the migrations match
    the models is test_migrating_an_empty_database_builds_the_models_schema's
    question; here only "applied once, completely" is.
    """
    await migrate_on(empty_url, data_dir)
    assert_same_schema(await introspect(url), await introspect(empty_url), "postgres")


@pytest.mark.postgres
@pytest.mark.asyncio
async def test_concurrent_migrate_calls_apply_postgres_migrations_once(tmp_path: Path) -> None:
    """Two migrate() calls at once in one process (asyncio.gather)."""
    await require_postgres()
    async with temporary_database("sr_mig") as url, temporary_database("sr_one") as ref_url:
        results = await asyncio.gather(migrate_on(url, tmp_path), migrate_on(url, tmp_path))
        assert sorted(results, key=len) == [[], migration_files(url)]
        assert await applied_versions(url) == migration_files(url)
        await assert_same_as_one_migrate(url, ref_url, tmp_path)


# Two replicas starting together, as in production: two processes, which share
# none of aerich's class-level Migrate state or Tortoise's module-level caches.
_MIGRATE_SCRIPT = """
import asyncio, json, sys
from pathlib import Path
from graphql_api.database import migrate
from graphql_api.settings import Settings

settings = Settings.from_environ(
    {"DATABASE_URL": sys.argv[1], "STRONGROOM_DATA_DIR": sys.argv[2]},
    env_file=Path("/nonexistent"),
)
print("ready", flush=True)
sys.stdin.readline()  # start together: imports are done in both processes
print(json.dumps(asyncio.run(migrate(settings))), flush=True)
"""


async def _start_replica(url: str, data_dir: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _MIGRATE_SCRIPT,
        url,
        str(data_dir),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def _finish_replicas(
    processes: Iterable[asyncio.subprocess.Process],
) -> list[tuple[int, str, str]]:
    async def one(process: asyncio.subprocess.Process) -> tuple[int, str, str]:
        out, err = await process.communicate()
        assert process.returncode is not None
        return process.returncode, out.decode(), err.decode()

    return list(await asyncio.wait_for(asyncio.gather(*map(one, processes)), SUBPROCESS_TIMEOUT_SECONDS))


@pytest.mark.postgres
@pytest.mark.asyncio
async def test_concurrent_replicas_migrate_postgres_once(tmp_path: Path) -> None:
    await require_postgres()
    async with temporary_database("sr_mig") as url, temporary_database("sr_one") as ref_url:
        processes = [await _start_replica(url, tmp_path) for _ in range(2)]
        try:
            for process in processes:
                assert process.stdout is not None
                ready = await asyncio.wait_for(process.stdout.readline(), SUBPROCESS_TIMEOUT_SECONDS)
                assert ready == b"ready\n", ready
            for process in processes:
                assert process.stdin is not None
                process.stdin.write(b"go\n")
                await process.stdin.drain()
                process.stdin.close()
            results = await _finish_replicas(processes)
        finally:
            for process in processes:
                if process.returncode is None:
                    process.kill()
                    await process.wait()

        for returncode, _out, err in results:
            assert returncode == 0, f"a replica failed to migrate:\n{err}"
        applied = sorted((json.loads(out.splitlines()[-1]) for _, out, _ in results), key=len)
        assert applied == [[], migration_files(url)]
        assert await applied_versions(url) == migration_files(url)
        await assert_same_as_one_migrate(url, ref_url, tmp_path)
