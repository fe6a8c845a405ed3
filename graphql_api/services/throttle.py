"""Slowing down token guessing: failed authentications per client address.

Past FAILURE_LIMIT failures within WINDOW from one address, every request
from it is refused with RATE_LIMITED until the oldest failure leaves the
window. Counts are per server process (each replica counts its own), kept in
memory for at most MAX_TRACKED addresses.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable
from datetime import datetime, timedelta

from graphql_api.errors import RateLimited

FAILURE_LIMIT = 10
WINDOW = timedelta(seconds=60)
MAX_TRACKED = 10_000


class FailureThrottle:
    def __init__(
        self,
        now: Callable[[], datetime],
        *,
        limit: int = FAILURE_LIMIT,
        window: timedelta = WINDOW,
        max_tracked: int = MAX_TRACKED,
    ) -> None:
        self._now = now
        self._limit = limit
        self._window = window
        self._max_tracked = max_tracked
        self._failures: OrderedDict[str, deque[datetime]] = OrderedDict()

    def _recent(self, address: str) -> deque[datetime]:
        failures = self._failures.get(address)
        if failures is None:
            return deque()
        horizon = self._now() - self._window
        while failures and failures[0] <= horizon:
            failures.popleft()
        if not failures:
            del self._failures[address]
        return failures

    def check(self, address: str | None) -> None:
        """Raise RateLimited when `address` failed too often lately."""
        if address is None:
            return
        if len(self._recent(address)) >= self._limit:
            seconds = int(self._window.total_seconds())
            raise RateLimited(f"too many failed authentications from this address; try again within {seconds} seconds")

    def record_failure(self, address: str | None) -> None:
        if address is None:
            return
        failures = self._recent(address)
        failures.append(self._now())
        self._failures[address] = failures
        self._failures.move_to_end(address)
        while len(self._failures) > self._max_tracked:
            self._failures.popitem(last=False)
