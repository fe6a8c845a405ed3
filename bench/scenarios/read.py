"""Scenario 1: `secretValue` against OpenBao kv-v2 GET and the floor.

Two shapes of load, 32 connections each: one secret read over and over, and a
random secret among 1,000 per request. Every system is measured in
alternating rounds and summarised by medians; ratios are Strongroom's median
over the other's, measured side by side in the same run.
"""

from __future__ import annotations

from bench import wrk
from bench.lab import Lab, ReadTarget
from bench.results import Report, at_least, at_most, ratio
from bench.rounds import alternate, describe_wrk, rounds_json, shared, summary
from bench.scenarios import DATABASES

MODES = (("one", "one secret"), ("random", "random of 1,000"))


def run(lab: Lab, report: Report) -> None:
    config = lab.config
    openbao = lab.openbao().read_target()
    floors = {db: lab.floor(db).read_target() for db in DATABASES}
    strongrooms = {db: lab.strongroom(db).read_target() for db in DATABASES}
    targets: list[ReadTarget] = [openbao, *floors.values(), *strongrooms.values()]
    workdir = lab.scratch("read")
    for mode, title in MODES:
        print(
            f"  secretValue, {title}, {config.read_connections} connections, {config.rounds} rounds "
            f"of {config.duration:.0f} s",
            flush=True,
        )

        def measure(target: ReadTarget, seconds: float = config.duration, mode: str = mode) -> wrk.WrkResult:
            return wrk.run(
                target.url,
                target.requests(mode),
                workdir,
                connections=config.read_connections,
                duration=seconds,
                server_pid=target.pid,
            )

        results = alternate(
            targets,
            config.rounds,
            measure,
            label=lambda t: t.name,
            warmup=lambda t: measure(t, config.warmup),
            describe=describe_wrk,
        )
        medians = {name: summary(runs) for name, runs in results.items()}
        for target in targets:
            m = medians[target.name]
            report.add(
                "read",
                f"read {title}: {target.name}",
                m["rps"],
                "/s",
                display=f"{m['rps']:,.0f}/s, p50 {m['p50_ms']:.1f} ms, p99 {m['p99_ms']:.1f} ms{shared(m)}",
                detail={**m, "rounds": rounds_json(results[target.name])},
            )
        bao = medians[openbao.name]
        for db in DATABASES:
            ours, floor = medians[strongrooms[db].name], medians[floors[db].name]
            report.add(
                "read",
                f"read {title}: Strongroom ({db}) / OpenBao throughput",
                ratio(ours["rps"], bao["rps"]),
                "x",
                bar=at_least(1.0),
            )
            report.add(
                "read",
                f"read {title}: Strongroom ({db}) p99 vs OpenBao's",
                ours["p99_ms"],
                "ms",
                bar=at_most(round(bao["p99_ms"], 1), " ms"),
                display=f"{ours['p99_ms']:.1f} ms vs {bao['p99_ms']:.1f} ms",
            )
            report.add(
                "read",
                f"read {title}: Strongroom ({db}) / floor ({db}) throughput",
                ratio(ours["rps"], floor["rps"]),
                "x",
                bar=at_least(0.6, aim=True),
            )
