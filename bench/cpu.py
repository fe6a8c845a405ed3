"""How much of the server core something else used during a timed run.

The machine may be shared (other builds, other agents, PostgreSQL's own
backends, which are not pinned). During each timed run the harness reads
core 0's busy time from /proc/stat and the server process's own CPU time
from /proc/<pid>/stat; the difference is time core 0 spent on anything but
the server. It is recorded with every run ("other_on_core0_pct") so that a
disturbed figure can be told from a slow one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

TICKS = os.sysconf("SC_CLK_TCK")


def _core_jiffies(core: int) -> tuple[int, int]:
    """(busy, total) jiffies of one core since boot."""
    with open("/proc/stat", encoding="ascii") as stat:
        for line in stat:
            if line.startswith(f"cpu{core} "):
                fields = [int(value) for value in line.split()[1:]]
                idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
                total = sum(fields[:8])
                return total - idle, total
    raise LookupError(f"no cpu{core} in /proc/stat")


def _process_ticks(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            text = stat.read()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])  # utime + stime, all threads


@dataclass
class CoreWatch:
    """Use as a context manager around a run; then read `other_pct`."""

    pid: int | None
    core: int = 0
    other_pct: float | None = None
    busy_pct: float | None = None

    def __enter__(self) -> CoreWatch:
        self._busy, self._total = _core_jiffies(self.core)
        self._ticks = _process_ticks(self.pid) if self.pid else None
        return self

    def __exit__(self, *exc: object) -> None:
        busy, total = _core_jiffies(self.core)
        elapsed = total - self._total
        if elapsed <= 0:
            return
        self.busy_pct = 100.0 * (busy - self._busy) / elapsed
        if self.pid and self._ticks is not None:
            ticks = _process_ticks(self.pid)
            if ticks is not None:
                # jiffies in /proc/stat and clock ticks in /proc/<pid>/stat are both USER_HZ
                server = 100.0 * (ticks - self._ticks) / elapsed
                self.other_pct = max(0.0, self.busy_pct - server)


def process_cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system, all threads) a process has used since it started."""
    ticks = _process_ticks(pid)
    return None if ticks is None else ticks / TICKS
