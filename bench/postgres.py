"""Throw-away PostgreSQL databases for one benchmark run.

The server is BENCH_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/postgres,
trust auth, as in CI). Each run creates its own databases with a random
suffix and drops them at the end, also after a failure or Ctrl-C.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bench.errors import BenchError

DEFAULT_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"


def admin_url() -> str:
    return os.environ.get("BENCH_POSTGRES_URL", DEFAULT_ADMIN_URL)


def database_url(name: str) -> str:
    parts = urlsplit(admin_url())
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, "", ""))


async def _execute(url: str, *statements: str) -> list[Any]:
    import asyncpg

    connection = await asyncpg.connect(url, timeout=10)
    try:
        return [await connection.fetchval(statement) for statement in statements]
    finally:
        await connection.close()


def execute(url: str, *statements: str) -> list[Any]:
    return asyncio.run(_execute(url, *statements))


def server_version() -> str:
    """PostgreSQL's version, or a BenchError saying clearly that it is not there."""
    try:
        (version,) = execute(admin_url(), "SHOW server_version")
    except BenchError:
        raise
    except Exception as exc:
        raise BenchError(
            f"PostgreSQL is not reachable at {admin_url()} ({type(exc).__name__}: {exc}). Start it (trust auth "
            "for user postgres) or point BENCH_POSTGRES_URL at one; only BENCH_ONLY=key_rotation runs without it."
        ) from None
    return str(version)


class Databases:
    """Databases this run created; `drop_all()` removes every one of them."""

    def __init__(self) -> None:
        self.suffix = secrets.token_hex(4)
        self.created: list[str] = []

    def create(self, purpose: str) -> str:
        name = f"bench_{purpose}_{self.suffix}"
        execute(admin_url(), f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return database_url(name)

    def drop_all(self) -> None:
        while self.created:
            name = self.created.pop()
            try:
                execute(admin_url(), f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            except Exception as exc:  # report and go on: the other databases still go
                print(f"  could not drop database {name}: {exc}")
