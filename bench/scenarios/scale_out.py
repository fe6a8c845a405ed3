"""Scenario 9: scale-out on PostgreSQL, on both cores.

Three shapes on one database (the `bench` workspace of the PostgreSQL run),
read load of a random secret among 1,000 with 32 connections in all:

- one worker: `strongroom serve`, the baseline of this scenario;
- `strongroom serve --workers 2` (skipped when the flag is not available);
- two replica processes on different ports, one wrk of 16 connections
  against each, run at the same time; throughputs summed, p99 the worse.

Unlike every other figure, the servers here are not pinned to core 0: they
may use both cores, which is the point. wrk stays on core 1 and so competes
with them there; PostgreSQL (a system service) runs wherever it is put.
Rounds alternate the three shapes. Aim: each at least 1.5 times one worker.
"""

from __future__ import annotations

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from bench import wrk
from bench.lab import Lab, ReadTarget
from bench.results import Report, at_least, median, ratio
from bench.rounds import alternate
from bench.servers import StrongroomServer, strongroom_command


@dataclass(frozen=True)
class Shape:
    name: str
    targets: list[ReadTarget]


@dataclass(frozen=True)
class Combined:
    rps: float
    p99_ms: float
    runs: list[wrk.WrkResult]

    def __str__(self) -> str:
        return f"{self.rps:,.0f}/s, p99 {self.p99_ms:.1f} ms"


def workers_available() -> bool:
    done = subprocess.run(
        [*strongroom_command(), "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=_help_environ(),
    )
    return "--workers" in done.stdout


def _help_environ() -> dict[str, str]:
    from bench.servers import clean_environ, strongroom_source

    environ = clean_environ()
    source = strongroom_source()
    if source is not None:
        environ["PYTHONPATH"] = str(source)
    return environ


def run(lab: Lab, report: Report) -> None:
    config = lab.config
    system = lab.strongroom("postgres")
    lab.stop_strongroom("postgres")  # its pinned process would only sit idle beside these
    every_core = ",".join(str(cpu) for cpu in range(os.cpu_count() or 1))
    base = system.server

    def server(name: str, workers: int | None = None) -> StrongroomServer:
        variant = StrongroomServer(
            f"strongroom-postgres-{name}",
            workdir=base.workdir,
            data_dir=base.data_dir,
            database_url=base.database_url,
            bootstrap_token=base.bootstrap_token,
            cpus=every_core,
            workers=workers,
        )
        lab.on_close(f"Strongroom (postgres, {name})", variant.close)
        variant.start()
        return variant

    single = server("single")
    replica = server("replica-2")
    shapes = [Shape("one worker", [system.read_target(single)])]
    has_workers = workers_available()
    if has_workers:
        shapes.append(Shape("--workers 2", [system.read_target(server("workers-2", workers=2))]))
    shapes.append(
        Shape("two replicas", [system.read_target(single, "replica 1"), system.read_target(replica, "replica 2")])
    )
    print(
        f"  random of 1,000, {config.read_connections} connections in all, servers on cores {every_core}, "
        f"{config.rounds} rounds of {config.duration:.0f} s",
        flush=True,
    )

    def measure(shape: Shape, seconds: float = config.duration) -> Combined:
        connections = config.read_connections // len(shape.targets)

        def one(index: int) -> wrk.WrkResult:
            target = shape.targets[index]
            return wrk.run(
                target.url,
                target.requests("random"),
                lab.scratch(f"scale_out/{index}"),
                connections=connections,
                duration=seconds,
            )

        with ThreadPoolExecutor(max_workers=len(shape.targets)) as pool:
            runs = list(pool.map(one, range(len(shape.targets))))
        return Combined(sum(r.rps for r in runs), max(r.p99_ms for r in runs), runs)

    results = alternate(
        shapes, config.rounds, measure, label=lambda s: s.name, warmup=lambda s: measure(s, config.warmup)
    )
    medians = {
        name: (median([c.rps for c in runs]), median([c.p99_ms for c in runs])) for name, runs in results.items()
    }
    for shape in shapes:
        rps, p99 = medians[shape.name]
        report.add(
            "scale_out",
            f"read random of 1,000, PostgreSQL, unpinned: {shape.name}",
            rps,
            "/s",
            display=f"{rps:,.0f}/s, p99 {p99:.1f} ms",
            detail={"rounds": [[r.to_json() for r in c.runs] for c in results[shape.name]]},
        )
    one = medians["one worker"][0]
    if has_workers:
        report.add(
            "scale_out",
            "--workers 2 / one worker throughput (PostgreSQL)",
            ratio(medians["--workers 2"][0], one),
            "x",
            bar=at_least(1.5, aim=True),
        )
    else:
        report.skipped("scale_out", "--workers 2 / one worker throughput (PostgreSQL)", "--workers not available")
    report.add(
        "scale_out",
        "two replicas / one worker throughput (PostgreSQL)",
        ratio(medians["two replicas"][0], one),
        "x",
        bar=at_least(1.5, aim=True),
    )
