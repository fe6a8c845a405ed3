"""SQLite's WAL is checkpointed by a thread of the serving process, not
inside the audit log's commits (graphql_api.wal_checkpoints)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from graphql_api.wal_checkpoints import AUTOCHECKPOINT_PAGES, WalCheckpointer
from tests.harness import Server

pytestmark = pytest.mark.asyncio

CREATE = """mutation($name: String!) { createSecret(workspaceId: "default",
  input: {name: $name, secretType: API_KEY, value: "v"}) { id } }"""


def checkpointer_of(server: Server) -> WalCheckpointer:
    if server.services.sql.dialect.name != "sqlite":
        pytest.skip("PostgreSQL checkpoints by itself")
    checkpointer = server.services._wal_checkpoints
    assert checkpointer is not None
    return checkpointer


async def until(predicate: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "not within the time"
        await asyncio.sleep(0.02)


async def test_the_writer_leaves_checkpoints_to_the_thread(server: Server) -> None:
    checkpointer_of(server)
    rows = await server.services.sql.fetch("PRAGMA wal_autocheckpoint")
    assert rows[0][0] == AUTOCHECKPOINT_PAGES


async def test_what_is_written_is_copied_into_the_database_file_soon(server: Server) -> None:
    checkpointer = checkpointer_of(server)
    for i in range(20):
        await server.data(CREATE, {"name": f"WAL_{i}"})
    runs = checkpointer.runs

    def caught_up() -> bool:
        last = checkpointer.last
        return (
            checkpointer.runs > runs + 1
            and last is not None
            and last.wal_frames > 0
            and last.checkpointed_frames == last.wal_frames
        )

    await until(caught_up)


async def test_stopping_ends_the_thread(server: Server) -> None:
    checkpointer = checkpointer_of(server)
    thread = checkpointer._thread
    assert thread is not None and thread.is_alive()
    await checkpointer.stop()
    runs = checkpointer.runs
    await asyncio.sleep(0.6)
    assert checkpointer.runs == runs
    assert not thread.is_alive()
    await checkpointer.stop()  # twice is harmless (the services stop it again at shutdown)


async def test_a_failing_checkpoint_is_logged_and_tried_again(
    server: Server, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    checkpointer_of(server)
    missing = tmp_path / "no-such-directory" / "strongroom.db"
    broken = WalCheckpointer(missing, server.services.sql, interval=0.01)
    with caplog.at_level(logging.WARNING, logger="strongroom.database"):
        await broken.start()
        await until(lambda: len([r for r in caplog.records if "WAL checkpoint failed" in r.getMessage()]) >= 2)
        await broken.stop()
    assert broken.runs == 0
    assert all(str(missing) not in r.getMessage() for r in caplog.records)
