"""Scenario 6: `importSecrets` of one 10,000-line .env vs 10,000 `createSecret` calls.

The import is one request (timed from the harness on the load core); the
same number of secrets created one call each is driven by wrk with 16
connections until that many answers are in. Each run uses fresh workspaces.
Target: the import at least 5 times faster. Rounds alternate import and
creates; each round is a full 10,000 of both, so this scenario runs
`IMPORT_ROUNDS` rounds, not the run's usual count.
"""

from __future__ import annotations

import re
import time

import httpx

from bench import wrk
from bench.errors import BenchError
from bench.lab import IMPORT, Lab, random_value
from bench.results import Report, at_least, median, ratio
from bench.scenarios import DATABASES
from bench.scenarios.write import create_secret_requests

IMPORT_ROUNDS = 1


class TooLarge(Exception):
    def __init__(self, limit: int) -> None:
        self.limit = limit


def _import_once(url: str, headers: dict[str, str], workspace: str, text: str, lines: int) -> float:
    body = {"query": IMPORT.replace("secrets { id name }", "skipped"), "variables": {"w": workspace, "text": text}}
    started = time.monotonic()
    response = httpx.post(url, json=body, headers=headers, timeout=600)
    elapsed = time.monotonic() - started
    answer = response.json()
    if answer.get("errors"):
        limit = re.search(r"more than ([\d,]+) variables", str(answer["errors"][0].get("message", "")))
        if limit:
            raise TooLarge(int(limit.group(1).replace(",", "")))
    if answer.get("errors") or answer["data"]["importSecrets"]["created"] != lines:
        raise BenchError(f"importSecrets of {lines} lines did not create them all: {str(answer)[:300]}")
    return elapsed


def _import(url: str, headers: dict[str, str], workspace: str, entries: list[str]) -> tuple[float, int]:
    """Seconds to import every entry, and the number of calls: one unless the server caps a call."""
    try:
        return _import_once(url, headers, workspace, "\n".join(entries), len(entries)), 1
    except TooLarge as refused:
        chunk = refused.limit
    seconds = 0.0
    calls = 0
    for start in range(0, len(entries), chunk):
        part = entries[start : start + chunk]
        seconds += _import_once(url, headers, workspace, "\n".join(part), len(part))
        calls += 1
    return seconds, calls


def run(lab: Lab, report: Report) -> None:
    config = lab.config
    lines = config.import_lines
    workdir = lab.scratch("imports")
    for db in DATABASES:
        system = lab.strongroom(db)
        print(f"  Strongroom ({db}): {lines:,} secrets, {IMPORT_ROUNDS} round(s)", flush=True)
        imports: list[float] = []
        creates: list[float] = []
        calls = 1
        for number in range(1, IMPORT_ROUNDS + 1):
            entries = [f"I_{i:06d}={random_value(config.value_size)}" for i in range(lines)]
            workspace = system.new_workspace("import")
            seconds, calls = _import(system.server.graphql_url, system.headers(), workspace, entries)
            imports.append(seconds)
            workspace = system.new_workspace("create")
            requests = create_secret_requests(system.headers(), workspace, random_value(config.value_size), "C_")
            counted = wrk.run_count(
                system.server.graphql_url,
                requests,
                workdir,
                connections=config.write_connections,
                count=lines,
                limit=1200,
            )
            creates.append(counted.seconds)
            print(
                f"    round {number}: import {imports[-1]:.2f} s, {lines:,} createSecret calls {creates[-1]:.2f} s",
                flush=True,
            )
        imported, created = median(imports), median(creates)
        capped = f" in {calls} calls: the server caps one call" if calls > 1 else ""
        report.add(
            "imports",
            f"importSecrets of {lines:,} lines (Strongroom, {db})",
            imported,
            "s",
            display=f"{imported:.2f} s ({lines / imported:,.0f} secrets/s){capped}",
            note=capped.strip(),
            detail={"rounds_s": imports, "calls": calls},
        )
        report.add(
            "imports",
            f"{lines:,} createSecret calls, {config.write_connections} connections (Strongroom, {db})",
            created,
            "s",
            display=f"{created:.2f} s ({lines / created:,.0f}/s)",
            detail={"rounds_s": creates},
        )
        report.add(
            "imports",
            f"import speed-up over createSecret calls (Strongroom, {db})",
            ratio(created, imported),
            "x",
            bar=at_least(5.0),
        )
