"""Scenario 3: `secretValues` of 200 secrets vs one `secretValue`, one connection.

Latency at the lowest concurrency: one connection, one request at a time.
The single read cycles through the 1,000 secrets; the bulk read names 200 of
them (200 ACCESSED events committed before it answers). Target: the bulk
read's median latency at most 10 times the single read's.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench import wrk
from bench.errors import BenchError
from bench.lab import SECRET_VALUE, WORKSPACE, Lab
from bench.results import Report, at_most, ratio
from bench.rounds import alternate, describe_wrk, rounds_json, shared, summary
from bench.scenarios import DATABASES

SECRET_VALUES = (
    "query($w: ID!, $names: [String!]) { secretValues(workspaceId: $w, names: $names) { name version value } }"
)


@dataclass(frozen=True)
class Target:
    name: str
    db: str
    shape: str
    url: str
    requests: wrk.Requests
    pid: int | None


def run(lab: Lab, report: Report) -> None:
    config = lab.config
    targets: list[Target] = []
    for db in DATABASES:
        system = lab.strongroom(db)
        names = system.names[: config.bulk_names]
        answer = system.client(SECRET_VALUES, {"w": WORKSPACE, "names": names}, token=system.app_token)
        if len(answer["secretValues"]) != len(names):
            raise BenchError(f"secretValues answered {len(answer['secretValues'])} of {len(names)} values")
        single = wrk.json_lines(
            {"query": SECRET_VALUE, "variables": {"workspaceId": WORKSPACE, "id": i}} for i in system.ids
        )
        bulk = wrk.json_lines([{"query": SECRET_VALUES, "variables": {"w": WORKSPACE, "names": names}}])
        url = system.server.graphql_url
        targets.append(
            Target(
                f"{system.label} secretValue",
                db,
                "single",
                url,
                wrk.Requests("POST", "body", single, "cycle", system.headers()),
                system.pid,
            )
        )
        targets.append(
            Target(
                f"{system.label} secretValues({len(names)})",
                db,
                "bulk",
                url,
                wrk.Requests("POST", "body", bulk, "cycle", system.headers()),
                system.pid,
            )
        )
    workdir = lab.scratch("bulk_read")
    print(f"  1 connection, {config.rounds} rounds of {config.latency_duration:.0f} s", flush=True)

    def measure(target: Target, seconds: float = config.latency_duration) -> wrk.WrkResult:
        return wrk.run(
            target.url, target.requests, workdir, connections=1, duration=seconds, timeout=30, server_pid=target.pid
        )

    results = alternate(
        targets, config.rounds, measure, label=lambda t: t.name, warmup=lambda t: measure(t, 1), describe=describe_wrk
    )
    medians = {name: summary(runs) for name, runs in results.items()}
    for target in targets:
        m = medians[target.name]
        report.add(
            "bulk_read",
            f"latency, 1 connection: {target.name}",
            m["p50_ms"],
            "ms",
            display=f"p50 {m['p50_ms']:.1f} ms, p99 {m['p99_ms']:.1f} ms{shared(m)}",
            detail={**m, "rounds": rounds_json(results[target.name])},
        )
    for db in DATABASES:
        one, many = (medians[t.name] for t in targets if t.db == db)
        report.add(
            "bulk_read",
            f"secretValues({config.bulk_names}) / secretValue p50 latency (Strongroom, {db})",
            ratio(many["p50_ms"], one["p50_ms"]),
            "x",
            bar=at_most(10.0),
        )
