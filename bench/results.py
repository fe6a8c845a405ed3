"""Figures, their targets, the printed table and bench-results.json.

A figure is one number a scenario reports (a throughput, a latency, a ratio,
a size), with the target it is held to when there is one. Targets come in
two strengths: `target` (the issue's bar: met yes/no) and `aim` (what we
hope for, reported the same way but named as an aim). A scenario that could
not run reports `skipped` with the reason instead of failing the run.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Bar:
    """A target: `value <op> threshold`; strength "target" or "aim"."""

    op: str  # ">=", "<=" or "<"
    threshold: float
    unit: str = ""
    strength: str = "target"

    def met(self, value: float) -> bool:
        if self.op == ">=":
            return value >= self.threshold
        if self.op == "<":
            return value < self.threshold
        return value <= self.threshold

    def text(self) -> str:
        word = "aim " if self.strength == "aim" else ""
        return f"{word}{self.op} {_number(self.threshold)}{self.unit}"


def at_least(threshold: float, unit: str = "", aim: bool = False) -> Bar:
    return Bar(">=", threshold, unit, "aim" if aim else "target")


def at_most(threshold: float, unit: str = "", aim: bool = False) -> Bar:
    return Bar("<=", threshold, unit, "aim" if aim else "target")


def below(threshold: float, unit: str = "") -> Bar:
    return Bar("<", threshold, unit)


@dataclass
class Figure:
    scenario: str
    name: str
    value: float | None
    unit: str
    display: str
    target: str = ""
    met: bool | None = None
    note: str = ""
    detail: dict[str, Any] = field(default_factory=dict)


class Report:
    def __init__(self, machine: Mapping[str, Any], settings: Mapping[str, Any]) -> None:
        self.machine = dict(machine)
        self.settings = dict(settings)
        self.figures: list[Figure] = []
        self.failures: list[dict[str, str]] = []

    def add(
        self,
        scenario: str,
        name: str,
        value: float | None,
        unit: str,
        *,
        bar: Bar | None = None,
        display: str | None = None,
        note: str = "",
        detail: Mapping[str, Any] | None = None,
    ) -> Figure:
        figure = Figure(
            scenario=scenario,
            name=name,
            value=value,
            unit=unit,
            display=display if display is not None else format_value(value, unit),
            target=bar.text() if bar else "",
            met=bar.met(value) if bar and value is not None else None,
            note=note,
            detail=dict(detail or {}),
        )
        self.figures.append(figure)
        print(
            f"  {name}: {figure.display}" + (f"  (target {figure.target}: {_met(figure.met)})" if bar else ""),
            flush=True,
        )
        return figure

    def skipped(self, scenario: str, name: str, reason: str) -> None:
        self.figures.append(Figure(scenario, name, None, "", f"skipped: {reason}", note=reason))
        print(f"  {name}: skipped: {reason}", flush=True)

    def failed(self, scenario: str, message: str) -> None:
        self.failures.append({"scenario": scenario, "error": message})
        self.figures.append(Figure(scenario, f"{scenario}: FAILED", None, "", "failed (see below)", note=message))

    def table(self) -> str:
        rows = [("figure", "value", "target", "met")]
        for figure in self.figures:
            rows.append((figure.name, figure.display, figure.target or "", _met(figure.met) if figure.target else ""))
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        lines = ["| " + " | ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) + " |" for row in rows]
        lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "machine": self.machine,
            "settings": self.settings,
            "figures": [asdict(figure) for figure in self.figures],
            "failures": self.failures,
            "table_markdown": self.table(),
        }

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=2, sort_keys=False) + "\n", encoding="utf-8")


def _met(met: bool | None) -> str:
    return {True: "yes", False: "no", None: "n/a"}[met]


def _number(value: float) -> str:
    if value == int(value) and abs(value) >= 10:
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def format_value(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "x":
        return f"{value:.2f}x"
    if unit == "/s":
        return f"{value:,.0f}/s"
    if unit == "%":
        return f"{value:.1f}%"
    return f"{_number(value)} {unit}".strip()


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None
