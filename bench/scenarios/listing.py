"""Scenario 4: `secrets(workspaceId, first: 50)` in 100,000 secrets vs 1,000.

Keyset pagination should not care how many secrets a workspace holds. Three
requests, each at one connection in a workspace of `large_secrets` and in one
of 1,000, in alternating rounds: the first page without `totalCount`, the
first page with `totalCount` (a count over the workspace, measured apart
because it is the one part that may grow), and a walk over pages 2 to 20
with the `after` cursors the pages handed out. Target: the large
workspace's median latency at most 1.5 times the small one's, for each.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench import wrk
from bench.errors import BenchError
from bench.lab import WORKSPACE, Lab, StrongroomSystem
from bench.results import Report, at_most, ratio
from bench.rounds import alternate, describe_wrk, rounds_json, shared, summary
from bench.scenarios import DATABASES

PAGES = 20
NODE = "id name secretType tags currentVersion rotationDueAt updatedAt"
PAGE = (
    "query($w: ID!, $after: String) { secrets(workspaceId: $w, first: 50, after: $after) "
    f"{{ pageInfo {{ hasNextPage endCursor }} edges {{ node {{ {NODE} }} }} }} }}"
)
PAGE_COUNT = (
    "query($w: ID!, $after: String) { secrets(workspaceId: $w, first: 50, after: $after) "
    f"{{ totalCount pageInfo {{ hasNextPage endCursor }} edges {{ node {{ {NODE} }} }} }} }}"
)
SHAPES = (("first", "first page"), ("count", "first page with totalCount"), ("walk", f"pages 2-{PAGES} by cursor"))


@dataclass(frozen=True)
class Target:
    name: str
    db: str
    size: str
    shape: str
    url: str
    requests: wrk.Requests
    pid: int | None


def _cursors(system: StrongroomSystem, workspace: str, expected: int) -> list[str]:
    """endCursor of pages 1..PAGES-1, walking from the start; checks totalCount on the way."""
    cursors: list[str] = []
    after = None
    for _ in range(PAGES - 1):
        page = system.client(PAGE_COUNT, {"w": workspace, "after": after}, token=system.app_token)["secrets"]
        if page["totalCount"] != expected:
            raise BenchError(f"secrets(workspaceId: {workspace!r}) counts {page['totalCount']}, not {expected}")
        if len(page["edges"]) != 50 or not page["pageInfo"]["hasNextPage"]:
            raise BenchError(f"workspace {workspace!r} has fewer than {PAGES} pages of 50")
        after = page["pageInfo"]["endCursor"]
        cursors.append(after)
    return cursors


def run(lab: Lab, report: Report) -> None:
    config = lab.config
    targets: list[Target] = []
    for db in DATABASES:
        system = lab.strongroom_large(db)
        for size, workspace, count in (
            ("1,000", WORKSPACE, config.small_secrets),
            (f"{config.large_secrets:,}", "large", config.large_secrets),
        ):
            cursors = _cursors(system, workspace, count)
            bodies = {
                "first": wrk.json_lines([{"query": PAGE, "variables": {"w": workspace}}]),
                "count": wrk.json_lines([{"query": PAGE_COUNT, "variables": {"w": workspace}}]),
                "walk": wrk.json_lines({"query": PAGE, "variables": {"w": workspace, "after": c}} for c in cursors),
            }
            for shape, _ in SHAPES:
                targets.append(
                    Target(
                        f"{shape} in {size} ({db})",
                        db,
                        size,
                        shape,
                        system.server.graphql_url,
                        wrk.Requests("POST", "body", bodies[shape], "cycle", system.headers()),
                        system.pid,
                    )
                )
    workdir = lab.scratch("listing")
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
        title = dict(SHAPES)[target.shape]
        report.add(
            "listing",
            f"secrets(first: 50), {title}, {target.size} secrets (Strongroom, {target.db})",
            m["p50_ms"],
            "ms",
            display=f"p50 {m['p50_ms']:.1f} ms, p99 {m['p99_ms']:.1f} ms{shared(m)}",
            detail={**m, "rounds": rounds_json(results[target.name])},
        )
    for db in DATABASES:
        for shape, title in SHAPES:
            small, large = (medians[t.name] for t in targets if t.db == db and t.shape == shape)
            report.add(
                "listing",
                f"secrets(first: 50), {title}: {config.large_secrets:,} / 1,000 p50 latency (Strongroom, {db})",
                ratio(large["p50_ms"], small["p50_ms"]),
                "x",
                bar=at_most(1.5),
            )
