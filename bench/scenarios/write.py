"""Scenario 2: `createSecret` against OpenBao kv-v2 POST, 16 connections.

Every request creates a new secret (new key for OpenBao): the wrk script
makes each name unique from its thread, a counter and a random suffix.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench import wrk
from bench.lab import Lab, random_value
from bench.results import Report, at_least, ratio
from bench.rounds import alternate, describe_wrk, rounds_json, shared, summary
from bench.scenarios import DATABASES

CREATE_SECRET = (
    "mutation($w: ID!, $input: CreateSecretInput!) { createSecret(workspaceId: $w, input: $input) "
    "{ id currentVersion } }"
)


@dataclass(frozen=True)
class WriteTarget:
    name: str
    url: str
    requests: wrk.Requests
    pid: int | None


def create_secret_requests(headers: dict[str, str], workspace: str, value: str, prefix: str = "W_") -> wrk.Requests:
    body = wrk.json_lines(
        [
            {
                "query": CREATE_SECRET,
                "variables": {
                    "w": workspace,
                    "input": {"name": f"{prefix}%UNIQUE%", "secretType": "API_KEY", "value": value},
                },
            }
        ]
    )[0]
    return wrk.Requests("POST", "body", [body], "unique", headers)


def run(lab: Lab, report: Report) -> None:
    config = lab.config
    value = random_value(config.value_size)
    openbao = lab.openbao()
    bao_pid = openbao.server.process.pid if openbao.server.process else None
    targets = [WriteTarget("OpenBao kv-v2", openbao.server.url, openbao.write_requests(value), bao_pid)]
    for db in DATABASES:
        system = lab.strongroom(db)
        targets.append(
            WriteTarget(
                system.label,
                system.server.graphql_url,
                create_secret_requests(system.headers(), "writes", value),
                system.pid,
            )
        )
    workdir = lab.scratch("write")
    print(
        f"  createSecret / kv-v2 POST of new keys, {config.write_connections} connections, "
        f"{config.rounds} rounds of {config.duration:.0f} s",
        flush=True,
    )

    def measure(target: WriteTarget, seconds: float = config.duration) -> wrk.WrkResult:
        return wrk.run(
            target.url,
            target.requests,
            workdir,
            connections=config.write_connections,
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
            "write",
            f"create: {target.name}",
            m["rps"],
            "/s",
            display=f"{m['rps']:,.0f}/s, p50 {m['p50_ms']:.1f} ms, p99 {m['p99_ms']:.1f} ms{shared(m)}",
            detail={**m, "rounds": rounds_json(results[target.name])},
        )
    bao = medians["OpenBao kv-v2"]
    for db in DATABASES:
        ours = medians[f"Strongroom ({db})"]
        report.add(
            "write",
            f"create: Strongroom ({db}) / OpenBao throughput",
            ratio(ours["rps"], bao["rps"]),
            "x",
            bar=at_least(1.0),
        )
