"""Background jobs of a server process: periodic tasks run in the lifespan.

A job that fails logs and runs again at its next interval; it never takes
the server down. Jobs must be safe to run on every replica at once (they
lock what they change in the database).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

logger = logging.getLogger("strongroom.jobs")


@dataclass
class PeriodicJob:
    name: str
    interval: float
    run: Callable[[], Awaitable[object]]
    first_delay: float = 5.0
    _task: asyncio.Task[None] | None = field(default=None, repr=False)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=f"job:{self.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _loop(self) -> None:
        await asyncio.sleep(self.first_delay)
        while True:
            try:
                await self.run()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("background job %s failed; next run in %.0f s", self.name, self.interval)
            await asyncio.sleep(self.interval)
