"""Shared PostgreSQL helpers for tests: reachability, DSNs, throw-away databases.

The server is the one named by STRONGROOM_TEST_POSTGRES_URL (default: the
local trust-auth `test` database). When it does not answer, tests skip, unless
STRONGROOM_REQUIRE_POSTGRES=1 (CI), where they fail instead.

STRONGROOM_TEST_DATABASES (default "sqlite,postgres") picks the dialects the
suite runs on: `DIALECTS` parametrizes every dialect-aware test, and tests
marked `postgres` (PostgreSQL only) are not collected when it leaves postgres
out (tests/conftest.py); `require_postgres` skips then too.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import asyncpg
import pytest

ADMIN_URL = os.environ.get("STRONGROOM_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")
CONNECT_TIMEOUT_SECONDS = 5.0
DIALECTS = [d.strip() for d in os.environ.get("STRONGROOM_TEST_DATABASES", "sqlite,postgres").split(",") if d.strip()]
ENABLED = "postgres" in DIALECTS


def asyncpg_dsn(url: str) -> str:
    """`url` (postgres:// as Tortoise spells it) in the spelling asyncpg accepts."""
    return urlsplit(url)._replace(scheme="postgresql").geturl()


def database_url(name: str, base_url: str = ADMIN_URL) -> str:
    """`base_url` pointing at database `name` instead (postgres:// scheme, for Tortoise)."""
    return urlsplit(base_url)._replace(scheme="postgres", path=f"/{name}").geturl()


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def connect(url: str = ADMIN_URL) -> asyncpg.Connection:
    connection: asyncpg.Connection = await asyncio.wait_for(asyncpg.connect(asyncpg_dsn(url)), CONNECT_TIMEOUT_SECONDS)
    return connection


async def require_postgres(url: str = ADMIN_URL) -> None:
    """Skip the test when PostgreSQL does not answer (fail when it is required),
    or when STRONGROOM_TEST_DATABASES leaves postgres out."""
    if not ENABLED:
        pytest.skip("STRONGROOM_TEST_DATABASES leaves postgres out")
    try:
        connection = await connect(url)
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        reason = f"PostgreSQL unreachable at {url} ({type(exc).__name__}: {exc})"
        if os.environ.get("STRONGROOM_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{reason}; STRONGROOM_REQUIRE_POSTGRES=1 forbids skipping")
        pytest.skip(reason)
    await connection.close()


async def create_database(prefix: str, admin_url: str = ADMIN_URL) -> str:
    """Create an empty database `<prefix>_<8 hex>`; returns its name."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    connection = await connect(admin_url)
    try:
        await connection.execute(f"CREATE DATABASE {_quote_ident(name)}")
    finally:
        await connection.close()
    return name


async def drop_database(name: str, admin_url: str = ADMIN_URL) -> None:
    """Drop database `name`, disconnecting anyone still using it."""
    connection = await connect(admin_url)
    try:
        await connection.execute(f"DROP DATABASE IF EXISTS {_quote_ident(name)} WITH (FORCE)")
    finally:
        await connection.close()


@asynccontextmanager
async def temporary_database(prefix: str, admin_url: str = ADMIN_URL) -> AsyncIterator[str]:
    """An empty database for the duration of the block; yields its postgres:// URL."""
    name = await create_database(prefix, admin_url)
    try:
        yield database_url(name, admin_url)
    finally:
        await drop_database(name, admin_url)
