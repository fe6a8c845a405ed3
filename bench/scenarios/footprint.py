"""Scenario 8: resident memory serving 100,000 stored secrets; cold start.

For Strongroom on SQLite and on PostgreSQL (where the figure is the
Strongroom process alone), with the `large` workspace built:

1. its RSS right after building the data (the same process ran the 100,000
   imports), for information;
2. cold start: the server is stopped and spawned again on its
   already-migrated database with 100,000 secrets stored; the time from
   spawn to the first successful GraphQL answer (`{ viewer { name } }` with
   a token, polled every 10 ms), median of `cold_starts` starts.
   Target <= 3 s;
3. the freshly started server then runs the read load (random secret of
   1,000, 32 connections, one run of the usual length) while its RSS is
   sampled every 100 ms; the figure is the RSS half a second after the load
   ended (the peak during it is kept beside it). Target <= 200 MB.
"""

from __future__ import annotations

import time

from bench import wrk
from bench.cpu import CoreWatch, process_cpu_seconds
from bench.lab import Lab
from bench.results import Report, at_most, median
from bench.scenarios import DATABASES
from bench.servers import RssSampler


def run(lab: Lab, report: Report) -> None:
    config = lab.config
    workdir = lab.scratch("footprint")
    stored = f"{config.large_secrets:,} secrets stored"
    for db in DATABASES:
        system = lab.strongroom_large(db)
        built = system.server.rss_mb() or 0.0
        report.add("footprint", f"RSS of the process that built the data, {stored} (Strongroom, {db})", built, "MB")
        starts, costs = [], []
        for _ in range(config.cold_starts):
            system.server.stop()
            # What the start spent on CPU itself, and what else ran on its core
            # meanwhile: a slow start is told from a crowded one.
            with CoreWatch(None) as watch:
                starts.append(system.server.start())
            assert system.server.process is not None
            cpu = process_cpu_seconds(system.server.process.pid)
            others = None
            if cpu is not None and watch.busy_pct is not None:
                others = max(0.0, watch.busy_pct - 100.0 * cpu / starts[-1])
            costs.append({"server_cpu_s": cpu, "other_on_core0_pct": others})
        value = median(starts)
        print(
            "    cold starts: "
            + ", ".join(
                f"{s:.2f} s (server CPU {c['server_cpu_s'] or 0:.2f} s, others on core 0 {c['other_on_core0_pct'] or 0:.0f}%)"
                for s, c in zip(starts, costs, strict=True)
            ),
            flush=True,
        )
        report.add(
            "footprint",
            f"cold start to first GraphQL answer, migrated database, {stored} (Strongroom, {db})",
            value,
            "s",
            bar=at_most(3.0, " s"),
            display=f"{value:.2f} s",
            detail={"starts_s": starts, "starts": costs},
        )
        process = system.server.process
        assert process is not None
        before = process.rss_mb() or 0.0
        target = system.read_target()
        with RssSampler(process.pid) as sampler:
            result = wrk.run(
                target.url,
                target.requests("random"),
                workdir,
                connections=config.read_connections,
                duration=config.duration,
                server_pid=process.pid,
            )
        time.sleep(0.5)
        after = process.rss_mb() or 0.0
        print(
            f"    read load {result.rps:,.0f}/s; RSS {before:.0f} MB after start, peak {sampler.peak_mb:.0f} MB, "
            f"{after:.0f} MB after",
            flush=True,
        )
        report.add(
            "footprint",
            f"RSS after the read benchmark, {stored} (Strongroom, {db})",
            after,
            "MB",
            bar=at_most(200.0, " MB"),
            display=f"{after:.0f} MB (peak {sampler.peak_mb:.0f} MB)",
            detail={
                "after_start_mb": before,
                "peak_mb": sampler.peak_mb,
                "after_mb": after,
                "samples": sampler.samples,
                "read_rps": result.rps,
            },
        )
