"""A controllable clock for tests: services take `now` as a callable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class MutableClock:
    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> datetime:
        self.current += timedelta(**delta)
        return self.current
