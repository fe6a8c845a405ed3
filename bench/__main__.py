"""`python -m bench` (`make bench`): run the scenarios, print the table, write the JSON."""

from __future__ import annotations

import importlib
import os
import shutil
import signal
import sys
import time
from types import FrameType

from bench import postgres
from bench.config import SCENARIOS, Config, from_environ
from bench.errors import BenchError
from bench.lab import Lab
from bench.machine import describe
from bench.results import Report
from bench.servers import bao_binary, byte_compile_strongroom
from bench.wrk import LOAD_CPUS

NEEDS_POSTGRES = {"read", "write", "bulk_read", "listing", "imports", "subscribers", "footprint", "scale_out"}
NEEDS_OPENBAO = {"read", "write"}


def preflight(config: Config) -> tuple[str | None, str | None]:
    """Everything the run needs, checked before anything starts: (PostgreSQL version, OpenBao version)."""
    for tool, why in (
        ("wrk", "the HTTP load generator (Debian: apt-get install wrk)"),
        ("taskset", "pins servers and load to separate cores (util-linux)"),
    ):
        if shutil.which(tool) is None:
            raise BenchError(f"{tool} is missing: {why}")
    if len(os.sched_getaffinity(0)) < 2:
        raise BenchError(
            "the benchmark needs 2 cores (servers on core 0, load on core 1); this process may use "
            f"{len(os.sched_getaffinity(0))}"
        )
    postgres_version = postgres.server_version() if config.only & NEEDS_POSTGRES else None
    openbao_version = None
    if config.only & NEEDS_OPENBAO:
        import subprocess

        openbao_version = subprocess.run(
            [str(bao_binary()), "version"], capture_output=True, text=True, timeout=30, check=False
        ).stdout.strip()
    return postgres_version, openbao_version


def _loadavg() -> str:
    try:
        with open("/proc/loadavg", encoding="ascii") as loadavg:
            return " ".join(loadavg.read().split()[:3])
    except OSError:
        return "unknown"


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main() -> int:
    try:
        config = from_environ()
        postgres_version, openbao_version = preflight(config)
        byte_compile_strongroom()
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    # The harness's own clients (set-up, one-shot timings, websocket subscribers)
    # run on the load core; servers are started with their own taskset.
    os.sched_setaffinity(0, {int(LOAD_CPUS)})
    signal.signal(signal.SIGTERM, _terminate)
    # Also when started with SIGINT ignored (a background job of a script):
    # Ctrl-C and `kill -INT` must still stop the servers and clean up.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    selected = [name for name in SCENARIOS if config.selected(name)]
    print(f"Strongroom benchmark{' (BENCH_QUICK)' if config.quick else ''}: {', '.join(selected)}", flush=True)
    started = time.monotonic()
    machine = describe(postgres=postgres_version, openbao=openbao_version)
    settings = {
        "quick": config.quick,
        "rounds": config.rounds,
        "duration_s": config.duration,
        "warmup_s": config.warmup,
        "latency_duration_s": config.latency_duration,
        "small_secrets": config.small_secrets,
        "large_secrets": config.large_secrets,
        "import_lines": config.import_lines,
        "value_size": config.value_size,
        "read_connections": config.read_connections,
        "write_connections": config.write_connections,
        "subscribers": config.subscribers,
        "scenarios": selected,
        "loadavg_start": _loadavg(),
    }
    report = Report(machine, settings)
    try:
        with Lab(config) as lab:
            for name in selected:
                print(f"\n== {name}: {SCENARIOS[name]}", flush=True)
                began = time.monotonic()
                module = importlib.import_module(f"bench.scenarios.{name}")
                try:
                    module.run(lab, report)
                except BenchError as exc:
                    print(f"  FAILED: {exc}", flush=True)
                    report.failed(name, str(exc))
                print(f"  ({time.monotonic() - began:.0f} s)", flush=True)
            print("\nstopping servers, dropping databases", flush=True)
    except KeyboardInterrupt:
        print("\nbench: interrupted; servers stopped, temporary data removed. No results written.", file=sys.stderr)
        return 130
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    report.settings["elapsed_s"] = round(time.monotonic() - started)
    report.settings["loadavg_end"] = _loadavg()
    print(
        f"\nResults ({machine['cpu']}, {machine['cores']} cores, {machine['kernel']}, Python {machine['python']}, "
        f"SQLite {machine['sqlite']}, PostgreSQL {machine['postgresql']}, {machine['openbao']}, {machine['date']}):\n"
    )
    print(report.table())
    for failure in report.failures:
        print(f"\nFAILED {failure['scenario']}: {failure['error']}")
    report.write(config.output)
    print(f"\nwritten to {config.output} ({report.settings['elapsed_s']} s in all)")
    return 1 if report.failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
