"""SQLite: WAL checkpoints in a thread of their own, off the writer's commits.

Why: SQLite's automatic checkpoint runs inside the commit that takes the WAL
past 1,000 pages: that commit copies the WAL's pages into the database file
and fsyncs it before it returns. The commit is the audit log's group commit,
so every audited read queued behind it waited for the copy. Measured with
reads spread over 1,000 secrets (32 connections, one core, four 8-s runs
each, alternating): the reads' p99 was 32-39 ms with SQLite's own
checkpoints and 27-31 ms with them here.

So a serving process raises its writer's automatic checkpoint to
`AUTOCHECKPOINT_PAGES` (a safety net: were this thread to stall, the WAL would
still stop growing there) and checkpoints every `INTERVAL_SECONDS` from a
connection of its own, in PASSIVE mode, which never waits for the writer or a
reader: pages a reader may still need stay in the WAL until the next run.
Each replica runs one; SQLite lets one checkpoint run at a time and the
others find it busy, which is harmless. Durability is unchanged: a commit is
durable when its WAL frames are synced (synchronous FULL), and a checkpoint
syncs the database file before the WAL is reused.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from graphql_api.sql import Sql

logger = logging.getLogger("strongroom.database")

INTERVAL_SECONDS = 0.25
AUTOCHECKPOINT_PAGES = 10_000  # ~40 MiB of WAL, ten times SQLite's default


@dataclass(frozen=True)
class CheckpointResult:
    """What `PRAGMA wal_checkpoint(PASSIVE)` answered."""

    busy: bool  # another checkpoint was running
    wal_frames: int  # frames in the WAL
    checkpointed_frames: int  # of those, copied into the database file


class WalCheckpointer:
    def __init__(self, path: Path, sql: Sql, interval: float = INTERVAL_SECONDS) -> None:
        self._path = path
        self._sql = sql
        self._interval = interval
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.runs = 0
        self.last: CheckpointResult | None = None

    def __repr__(self) -> str:
        return f"<WalCheckpointer {self._path.name} runs={self.runs}>"

    async def start(self) -> None:
        await self._sql.execute(f"PRAGMA wal_autocheckpoint = {AUTOCHECKPOINT_PAGES}")
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, name="sqlite-wal-checkpoints", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        """Stop after the run under way, if any (waited for in a thread: a
        checkpoint may take a moment, and the event loop goes on meanwhile)."""
        self._stopping.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            await asyncio.to_thread(thread.join, 10)

    def _loop(self) -> None:
        connection: sqlite3.Connection | None = None
        try:
            while not self._stopping.wait(self._interval):
                try:
                    if connection is None:
                        connection = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
                        connection.execute("PRAGMA synchronous = FULL")
                        connection.execute("PRAGMA busy_timeout = 0")
                    self.last = self.checkpoint(connection)
                    self.runs += 1
                except sqlite3.Error as exc:  # the next run tries again; the writer's safety net holds meanwhile
                    logger.warning("a WAL checkpoint failed: %s", type(exc).__name__)
        finally:
            if connection is not None:
                connection.close()

    @staticmethod
    def checkpoint(connection: sqlite3.Connection) -> CheckpointResult:
        busy, wal_frames, checkpointed = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return CheckpointResult(bool(busy), int(wal_frames), int(checkpointed))
