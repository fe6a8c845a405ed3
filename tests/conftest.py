"""Fixtures: every API test runs against SQLite and PostgreSQL.

Each dialect is migrated once per session into a template (a file for SQLite,
a template database for PostgreSQL); each test gets a fresh copy, so tests
are isolated and fast. STRONGROOM_TEST_DATABASES picks dialects
(default "sqlite,postgres").
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import pytest_asyncio

from graphql_api import database
from graphql_api.app import create_app
from graphql_api.settings import Settings
from tests import pg
from tests.clock import MutableClock
from tests.harness import ADMIN_TOKEN, Server
from tests.process import ServerProcess
from tests.support.webhook_receiver import Receiver, serving_receiver

DIALECTS = pg.DIALECTS
NO_ENV_FILE = Path("/nonexistent/.env")
T = TypeVar("T")


def run_in_fresh_loop(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion on its own loop in a worker thread.

    Session templates are first requested from inside an async test's loop,
    where asyncio.run is not allowed.
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(make())).result()


def make_settings(database_url: str, data_dir: Path, **extra: str) -> Settings:
    environ = {
        "DATABASE_URL": database_url,
        "STRONGROOM_DATA_DIR": str(data_dir),
        "STRONGROOM_BOOTSTRAP_TOKEN": ADMIN_TOKEN,
        **extra,
    }
    return Settings.from_environ(environ, env_file=NO_ENV_FILE)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "strongroom.db"
    run_in_fresh_loop(lambda: database.migrate(make_settings(f"sqlite://{path}", path.parent)))
    return path


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    async def create() -> str:
        await pg.require_postgres()
        name = await pg.create_database("sr_tpl")
        try:
            await database.migrate(make_settings(pg.database_url(name), Path("/tmp")))
        except BaseException:
            await pg.drop_database(name)
            raise
        return name

    name = run_in_fresh_loop(create)
    yield name
    run_in_fresh_loop(lambda: pg.drop_database(name))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `postgres` need PostgreSQL: not collected when
    STRONGROOM_TEST_DATABASES leaves it out, nor on another dialect when they
    are parametrized by one."""
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        dialect = callspec.params.get("dialect", "postgres") if callspec is not None else "postgres"
        needs = item.get_closest_marker("postgres") is not None
        (dropped if needs and (not pg.ENABLED or dialect != "postgres") else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture(params=DIALECTS)
def dialect(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest_asyncio.fixture
async def database_url(dialect: str, tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[str]:
    if dialect == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        target = tmp_path / "db" / "strongroom.db"
        target.parent.mkdir()
        shutil.copyfile(template, target)
        yield f"sqlite://{target}"
        return
    template_name: str = request.getfixturevalue("postgres_template")
    name = f"sr_t_{os.urandom(4).hex()}"
    connection = await pg.connect()
    try:
        await connection.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_name}"')
    finally:
        await connection.close()
    try:
        yield pg.database_url(name)
    finally:
        await pg.drop_database(name)


@pytest.fixture
def clock() -> MutableClock:
    return MutableClock()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path / "data")


@pytest_asyncio.fixture
async def server(settings: Settings, clock: MutableClock) -> AsyncIterator[Server]:
    app = create_app(settings, now=clock, migrate_on_start=False, announce=lambda _message: None)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://strongroom.test") as client:
            yield Server(app=app, client=client, services=app.state.services)


@pytest.fixture
def served() -> Iterator[list[ServerProcess]]:
    """Server processes started by a test (tests.process.start_healthy), killed whatever happens."""
    started: list[ServerProcess] = []
    try:
        yield started
    finally:
        for server in started:
            server.kill()


@pytest.fixture(scope="module")
def served_receiver() -> Iterator[Receiver]:
    """A rotation-webhook receiver (tests.support.webhook_receiver), one per test module."""
    with serving_receiver() as receiver:
        yield receiver
