"""Running wrk (pinned to the load generator's core) and reading its answer.

Every HTTP scenario goes through `lua/requests.lua`: a file of request paths
or bodies, taken in turn, at random, or as a template made unique per
request. The script counts bad answers (non-2xx, or a GraphQL `errors`
member) so a figure built on failures is refused rather than reported.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.cpu import CoreWatch
from bench.errors import BenchError

SCRIPT = Path(__file__).resolve().parent / "lua" / "requests.lua"
LOAD_CPUS = "1"


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    socket_errors: int
    bad: int
    first_bad: str
    other_on_core0_pct: float | None = None  # see bench/cpu.py

    def to_json(self) -> dict[str, float | int | str | None]:
        return {
            "requests": self.requests,
            "seconds": round(self.seconds, 3),
            "rps": round(self.rps, 1),
            "p50_ms": round(self.p50_ms, 2),
            "p90_ms": round(self.p90_ms, 2),
            "p99_ms": round(self.p99_ms, 2),
            "max_ms": round(self.max_ms, 2),
            "socket_errors": self.socket_errors,
            "bad": self.bad,
            "other_on_core0_pct": None if self.other_on_core0_pct is None else round(self.other_on_core0_pct, 1),
        }


@dataclass(frozen=True)
class Requests:
    """What to send: METHOD, lines (paths or bodies) and how to pick them."""

    method: str
    kind: str  # "path" or "body"
    lines: Sequence[str]
    order: str = "cycle"  # "cycle", "random" or "unique"
    headers: Mapping[str, str] | None = None

    def write(self, path: Path) -> Path:
        for line in self.lines:
            if "\n" in line:
                raise ValueError("a request line holds a newline")
        path.write_text("".join(line + "\n" for line in self.lines), encoding="utf-8")
        return path


def _command(
    url: str,
    requests: Requests,
    lines_file: Path,
    *,
    connections: int,
    duration: float,
    stop_after: int,
    timeout: float,
    cpus: str | None,
) -> list[str]:
    command = ["taskset", "-c", cpus] if cpus else []
    command += ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", f"--timeout={timeout:g}s"]
    for name, value in (requests.headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    command += [
        "-s",
        str(SCRIPT),
        url,
        "--",
        requests.method,
        requests.kind,
        str(lines_file),
        requests.order,
        str(stop_after),
    ]
    return command


def run(
    url: str,
    requests: Requests,
    workdir: Path,
    *,
    connections: int,
    duration: float,
    timeout: float = 10.0,
    cpus: str | None = LOAD_CPUS,
    allow_bad: bool = False,
    server_pid: int | None = None,
) -> WrkResult:
    """One timed wrk run; raises BenchError when answers were bad or sockets failed.

    With `server_pid` (a server pinned to core 0), how much of core 0 other
    processes used during the run is recorded too.
    """
    lines_file = requests.write(workdir / "wrk-requests.txt")
    command = _command(
        url, requests, lines_file, connections=connections, duration=duration, stop_after=0, timeout=timeout, cpus=cpus
    )
    with CoreWatch(server_pid) as watch:
        output = _run(command, duration + timeout + 30)
    data = _marked(output, "WRKJSON ")
    if data is None:
        raise BenchError(f"wrk printed no result for {url}:\n{output[-2000:]}")
    errors = data["errors"]
    socket_errors = errors["connect"] + errors["read"] + errors["write"] + errors["timeout"]
    latency = data["latency_us"]
    seconds = data["duration_us"] / 1e6
    result = WrkResult(
        requests=data["requests"],
        seconds=seconds,
        rps=data["requests"] / seconds if seconds else 0.0,
        p50_ms=latency["p50"] / 1000,
        p90_ms=latency["p90"] / 1000,
        p99_ms=latency["p99"] / 1000,
        max_ms=latency["max"] / 1000,
        socket_errors=socket_errors,
        bad=data["bad"],
        first_bad=data["first_bad"],
        other_on_core0_pct=watch.other_pct,
    )
    _check(url, result.requests, result.bad, result.first_bad, socket_errors, allow_bad)
    return result


@dataclass(frozen=True)
class CountedRun:
    responses: int
    seconds: float
    bad: int
    first_bad: str


def run_count(
    url: str,
    requests: Requests,
    workdir: Path,
    *,
    connections: int,
    count: int,
    limit: float,
    cpus: str | None = LOAD_CPUS,
) -> CountedRun:
    """Send requests until `count` responses are in; the time that took."""
    lines_file = requests.write(workdir / "wrk-requests.txt")
    command = _command(
        url, requests, lines_file, connections=connections, duration=limit, stop_after=count, timeout=30.0, cpus=cpus
    )
    output = _run(command, limit + 60)
    data = _marked(output, "WRKSTOP ")
    if data is None:
        raise BenchError(f"wrk did not get {count} responses from {url} within {limit:.0f} s:\n{output[-2000:]}")
    _check(url, data["responses"], data["bad"], data["first_bad"], 0, False)
    return CountedRun(responses=data["responses"], seconds=data["span_s"], bad=data["bad"], first_bad=data["first_bad"])


def _run(command: Sequence[str], limit: float) -> str:
    try:
        completed = subprocess.run(command, capture_output=True, text=True, timeout=limit, check=False)
    except subprocess.TimeoutExpired:
        raise BenchError(f"wrk did not finish within {limit:.0f} s: {' '.join(command[:8])} ...") from None
    return completed.stdout + completed.stderr


def _marked(output: str, marker: str) -> dict | None:  # type: ignore[type-arg]
    for line in output.splitlines():
        if line.startswith(marker):
            return json.loads(line[len(marker) :])  # type: ignore[no-any-return]
    return None


def _check(url: str, answered: int, bad: int, first_bad: str, socket_errors: int, allow_bad: bool) -> None:
    if answered == 0:
        raise BenchError(f"no request to {url} was answered")
    if bad and not allow_bad:
        raise BenchError(f"{bad} of {answered} answers from {url} were errors; the first: {first_bad}")
    if socket_errors > max(3, answered // 1000):
        raise BenchError(f"{socket_errors} socket errors (timeouts, resets) against {url} in {answered} requests")


def json_lines(bodies: Iterable[object]) -> list[str]:
    """Request bodies, one compact JSON document per line."""
    return [json.dumps(body, separators=(",", ":")) for body in bodies]
