"""Background jobs of a server process: periodic tasks run in the lifespan.

A job that fails logs and runs again at its next interval; it never takes
the server down. Jobs must be safe to run on every replica at once (they
lock what they change in the database).

Stopping a job cancels its wait, not a run under way: the run gets
STOP_WAIT_SECONDS to finish, and is cancelled only after that. Why: a run
cancelled while Tortoise's SQLite client opens a transaction (between
taking the connection's lock and BEGIN) never releases that lock, and
every later write of the process then waits for ever (found when a test's
teardown hung on the audit index job; the retention purge and the other
jobs open transactions too). A run that outlives the bound is one that only
reads for long (the checkpoint's paced verification), where cancelling is
harmless.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

logger = logging.getLogger("strongroom.jobs")

STOP_WAIT_SECONDS = 5.0


@dataclass
class PeriodicJob:
    name: str
    interval: float
    run: Callable[[], Awaitable[object]]
    first_delay: float = 5.0
    _task: asyncio.Task[None] | None = field(default=None, repr=False)
    _running: asyncio.Task[None] | None = field(default=None, repr=False)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=f"job:{self.name}")

    async def stop(self, wait: float = STOP_WAIT_SECONDS) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        running, self._running = self._running, None
        if running is not None and not running.done():
            done, _pending = await asyncio.wait({running}, timeout=wait)
            if not done:
                logger.warning("background job %s still running after %.0f s at stop: cancelled", self.name, wait)
                running.cancel()
                await asyncio.gather(running, return_exceptions=True)

    async def _loop(self) -> None:
        await asyncio.sleep(self.first_delay)
        while True:
            self._running = asyncio.create_task(self._run_once(), name=f"job-run:{self.name}")
            # Cancelling the loop (stop) leaves the run alone: see the module's docstring.
            await asyncio.shield(self._running)
            self._running = None
            await asyncio.sleep(self.interval)

    async def _run_once(self) -> None:
        try:
            await self.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("background job %s failed; next run in %.0f s", self.name, self.interval)
