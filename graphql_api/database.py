"""Database wiring: Tortoise configuration, migrations, connect and close.

One migration folder per dialect (aerich writes SQL for the dialect it ran
against): `migrations/sqlite/models` and `migrations/postgres/models`.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from tortoise import Tortoise

from graphql_api.settings import ConfigError, Settings

logger = logging.getLogger("strongroom.database")

MIGRATIONS_ROOT = Path(__file__).resolve().parent.parent / "migrations"
APP_LABEL = "models"
MODEL_MODULES = ["models", "aerich.models"]
# Any fixed 64-bit number, shared by every replica: whoever holds it migrates.
MIGRATION_LOCK_ID = 0x5354524F4E47  # "STRONG"
CONNECT_TIMEOUT_SECONDS = 10.0


def dialect_of(database_url: str) -> str:
    return "sqlite" if database_url.startswith("sqlite:") else "postgres"


def migrations_location(database_url: str) -> Path:
    return MIGRATIONS_ROOT / dialect_of(database_url)


def sqlite_path(database_url: str) -> Path:
    return Path(database_url[len("sqlite://") :].split("?", 1)[0])


def connection_name(database_url: str) -> str:
    """The ORM connection's name.

    It is the dialect because Tortoise caches each model's SQL per
    (connection name, table): a process that talks to both dialects (the test
    suite) must not reuse SQLite's SQL on PostgreSQL.
    """
    return dialect_of(database_url)


def tortoise_config(database_url: str, pool_size: int | None = None) -> dict[str, Any]:
    connection: dict[str, Any] | str
    if dialect_of(database_url) == "sqlite":
        connection = {
            "engine": "tortoise.backends.sqlite",
            "credentials": {
                "file_path": str(sqlite_path(database_url)),
                "journal_mode": "WAL",
                # FULL: a committed secret (and its audit event) survives power loss.
                "synchronous": "FULL",
                "busy_timeout": 5000,
                "foreign_keys": "ON",
                # Deleted and overwritten content is zeroed in the file, so a
                # destroyed secret's ciphertext and wrapped key do not linger
                # in free pages (see SecretStore.destroy for the WAL).
                "secure_delete": "ON",
                # 32 MiB of pages (SQLite's default is 2): a group commit
                # touches an index page per secret it audits, and at 100,000
                # secrets those pages must stay in memory, not be read back
                # from the file for every batch.
                "cache_size": -32768,
            },
        }
    else:
        connection = _with_pool(database_url, pool_size) if pool_size else database_url
    name = connection_name(database_url)
    return {
        "connections": {name: connection},
        "apps": {APP_LABEL: {"models": MODEL_MODULES, "default_connection": name}},
        "use_tz": True,
        "timezone": "UTC",
    }


def _with_pool(database_url: str, pool_size: int) -> str:
    parts = urlsplit(database_url)
    query = dict(parse_qsl(parts.query))
    query.setdefault("minsize", "1")
    query.setdefault("maxsize", str(pool_size))
    return parts._replace(query=urlencode(query)).geturl()


def private_directory(path: Path) -> None:
    """Create `path` if needed and make it 0700 even when it already existed."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)


def private_files(path: Path) -> None:
    """Make the SQLite database and its WAL and shared-memory files 0600."""
    for candidate in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if candidate.exists():
            os.chmod(candidate, 0o600)


def _prepare_sqlite_dir(settings: Settings) -> None:
    if settings.is_sqlite:
        private_directory(sqlite_path(settings.database_url).parent)


async def check_reachable(settings: Settings) -> None:
    """Raise ConfigError(DATABASE_URL) when the database does not answer.

    An embedded SQLite database always answers (it is created on first use).
    """
    if settings.is_sqlite:
        return
    import asyncpg

    try:
        connection = await asyncio.wait_for(
            asyncpg.connect(asyncpg_dsn(settings.database_url)), CONNECT_TIMEOUT_SECONDS
        )
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        raise ConfigError(
            "DATABASE_URL",
            f"cannot connect to {settings.database_url_redacted} ({type(exc).__name__})",
        ) from None
    await connection.close()


def asyncpg_dsn(database_url: str) -> str:
    parts = urlsplit(database_url)
    return parts._replace(scheme="postgresql").geturl()


async def migrate(settings: Settings) -> list[str]:
    """Apply pending migrations; returns the files applied.

    On PostgreSQL the work runs under a session advisory lock, so replicas
    started together migrate one at a time and the later ones find nothing to do.
    """
    await check_reachable(settings)
    if settings.is_sqlite:
        _prepare_sqlite_dir(settings)
        return await _run_aerich_upgrade(settings.database_url)
    import asyncpg

    lock_connection = await asyncpg.connect(asyncpg_dsn(settings.database_url))
    try:
        await lock_connection.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_ID)
        try:
            return await _run_aerich_upgrade(settings.database_url)
        finally:
            await lock_connection.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_ID)
    finally:
        await lock_connection.close()


async def _run_aerich_upgrade(database_url: str) -> list[str]:
    from aerich import Command
    from tortoise.context import TortoiseContext

    command = Command(
        tortoise_config=tortoise_config(database_url),
        app=APP_LABEL,
        location=str(migrations_location(database_url)),
    )
    # A private ORM context: aerich initialises Tortoise only when it finds no
    # initialised context, and must never run against the serving connection.
    async with TortoiseContext():
        await command.init()
        applied = await command.upgrade(run_in_transaction=True)
    for name in applied:
        logger.info("applied migration %s", name)
    return applied


async def connect(settings: Settings) -> None:
    """Open the ORM for serving.

    The global fallback makes the connection visible to request tasks, which
    do not inherit the lifespan task's context variables.
    """
    _prepare_sqlite_dir(settings)
    await Tortoise.init(
        config=tortoise_config(settings.database_url, settings.db_pool_size), _enable_global_fallback=True
    )
    if settings.is_sqlite:
        path = sqlite_path(settings.database_url)
        from tortoise import connections

        # Open the connection now, so that its -wal and -shm files exist to be made private.
        await connections.get(connection_name(settings.database_url)).execute_query("SELECT 1")
        private_files(path)


async def close() -> None:
    await Tortoise.close_connections()


async def ping() -> None:
    """Raise when the database does not answer a trivial query."""
    from tortoise import connections

    for connection in connections.all():
        await connection.execute_query("SELECT 1")
