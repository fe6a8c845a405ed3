"""Pacing for CPU-bound background work on the serving event loop.

Why: the hourly checkpoint verifies every audit event since the last one
(about 30 us each here), and that can be a million events: half a minute of
pure Python on the core that serves requests. Measured before pacing, with
a backlog left by a restart: a profile of `secretValues` under load was 76%
checkpoint verification, run in chunks of 1,000 events (30 ms each) between
the loop's turns. Background work cannot leave the core (the GIL), but it
can give way: it runs in slices and, after each, sleeps long enough to keep
its share of the loop at `share`.

The share is fixed rather than raised when the server looks idle: "idle"
seen from a yield includes a request waiting for its database answer, and a
first version that ran on in such moments measured worse for requests than
no pacing at all (p90 of `secretValues(200)` 60 ms against 40).

`Pacer.pause` is awaited between slices of background work; `yield_now` is
the form for work someone waits for (an on-demand verification): it still
yields, so no verification holds the loop for longer than one slice.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

BACKGROUND_SHARE = 0.2


async def yield_now() -> None:
    await asyncio.sleep(0)


class Pacer:
    def __init__(
        self,
        share: float = BACKGROUND_SHARE,
        *,
        clock: Callable[[], float] = time.perf_counter,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        if not 0 < share <= 1:
            raise ValueError("share must be in (0, 1]")
        self._idle_per_busy = (1 - share) / share
        self._clock = clock
        self._sleep = sleep
        self._resumed = clock()

    async def pause(self) -> None:
        """After a slice of work: sleep so the slice is `share` of the time."""
        worked = self._clock() - self._resumed
        await self._sleep(max(0.0, worked) * self._idle_per_busy)
        self._resumed = self._clock()
