"""Alternating rounds: A B C, A B C, A B C, so that drift (a warming cache, a
growing table, a neighbour's load on the machine) falls on every system
alike; figures are the median of a system's rounds."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from bench.results import median
from bench.wrk import WrkResult

# Beyond this share of core 0 used by other processes, a figure is marked.
SHARED_WARNING_PCT = 10.0
T = TypeVar("T")
R = TypeVar("R")


def alternate(
    targets: Sequence[T],
    rounds: int,
    measure: Callable[[T], R],
    *,
    label: Callable[[T], str],
    warmup: Callable[[T], object] | None = None,
    describe: Callable[[R], str] = str,
) -> dict[str, list[R]]:
    results: dict[str, list[R]] = {label(target): [] for target in targets}
    if warmup is not None:
        for target in targets:
            warmup(target)
    for number in range(1, rounds + 1):
        for target in targets:
            result = measure(target)
            results[label(target)].append(result)
            print(f"    round {number}: {label(target)}: {describe(result)}", flush=True)
    return results


def describe_wrk(result: WrkResult) -> str:
    text = f"{result.rps:,.0f}/s, p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms"
    if result.other_on_core0_pct is not None:
        text += f", others on core 0 {result.other_on_core0_pct:.0f}%"
    return text


def summary(runs: Sequence[WrkResult]) -> dict[str, float]:
    """Medians over rounds (each percentile is the median of the rounds' percentiles)."""
    others = [r.other_on_core0_pct for r in runs if r.other_on_core0_pct is not None]
    return {
        "rps": median([r.rps for r in runs]),
        "p50_ms": median([r.p50_ms for r in runs]),
        "p90_ms": median([r.p90_ms for r in runs]),
        "p99_ms": median([r.p99_ms for r in runs]),
        "requests": sum(r.requests for r in runs),
        "other_on_core0_pct": median(others) if others else -1.0,
    }


def shared(medians: dict[str, float]) -> str:
    """A warning for the table when something else took a noticeable share of the server core."""
    other = medians.get("other_on_core0_pct", -1.0)
    return f" [core 0 shared: {other:.0f}%]" if other >= SHARED_WARNING_PCT else ""


def rounds_json(runs: Sequence[WrkResult]) -> list[dict[str, float | int | str | None]]:
    return [r.to_json() for r in runs]
