"""The machine a run was measured on, written beside its figures."""

from __future__ import annotations

import os
import platform
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _output(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=20, check=False, cwd=REPO)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return (done.stdout or done.stderr).strip()


def describe(*, postgres: str | None, openbao: str | None) -> dict[str, Any]:
    """CPU, cores, kernel and every version the figures depend on."""
    memory_kb = 0
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            memory_kb = int(meminfo.readline().split()[1])
    except (OSError, ValueError, IndexError):
        pass
    wrk = _output(["wrk", "--version"]).splitlines()
    commit = _output(["git", "rev-parse", "--short", "HEAD"])
    dirty = bool(_output(["git", "status", "--porcelain", "--untracked-files=no"]))
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "memory_gb": round(memory_kb / 1024 / 1024, 1),
        "kernel": f"{platform.system()} {platform.release()}",
        "python": sys.version.split()[0],
        "sqlite": sqlite3.sqlite_version,
        "postgresql": postgres or "not used",
        "openbao": openbao or "not used",
        "wrk": wrk[0].strip() if wrk else "unknown",
        "strongroom_commit": commit + (" (with uncommitted changes)" if dirty else ""),
        "pinning": "servers taskset -c 0, load generators taskset -c 1 (except where a figure says otherwise); "
        "PostgreSQL runs as a system service, unpinned",
    }
