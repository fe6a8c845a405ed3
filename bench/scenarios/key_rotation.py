"""Scenario 5: `rotateEncryptionKey` over 100,000 versions on Fernet.

Strongroom on SQLite with the `large` workspace built (plus whatever the
earlier scenarios stored) rotates its Fernet key: a new key is made primary
in the data directory's keyring and every data key is rewrapped. The harness
calls the mutation again and again (each call answers within ~20 s with the
job's progress) until `remaining` is 0, sampling the server's RSS every
100 ms throughout. Figures: versions rewrapped per second over the whole
job (target >= 10,000/s) and the peak RSS (target < 300 MB).
"""

from __future__ import annotations

import time

from bench.errors import BenchError
from bench.lab import Lab
from bench.results import Report, at_least, below
from bench.servers import RssSampler

ROTATE = "mutation { rotateEncryptionKey { backend keyId rewrapped remaining } }"
LIMIT_SECONDS = 1800.0


def run(lab: Lab, report: Report) -> None:
    system = lab.strongroom_large("sqlite")
    process = system.server.process
    assert process is not None
    calls = 0
    answers = []
    with RssSampler(process.pid) as sampler:
        started = time.monotonic()
        while True:
            answer = system.client(ROTATE)["rotateEncryptionKey"]
            calls += 1
            answers.append(answer)
            elapsed = time.monotonic() - started
            print(
                f"    call {calls}: rewrapped {answer['rewrapped']:,}, remaining {answer['remaining']:,} "
                f"({elapsed:.1f} s)",
                flush=True,
            )
            if answer["remaining"] == 0:
                break
            if elapsed > LIMIT_SECONDS:
                raise BenchError(
                    f"key rotation still had {answer['remaining']:,} versions to go after {LIMIT_SECONDS:.0f} s"
                )
    elapsed = time.monotonic() - started
    rewrapped = answers[-1]["rewrapped"]
    if rewrapped < lab.config.large_secrets:
        raise BenchError(
            f"key rotation rewrapped {rewrapped:,} versions, fewer than the {lab.config.large_secrets:,} stored"
        )
    rate = rewrapped / elapsed
    report.add(
        "key_rotation",
        f"rotateEncryptionKey, Fernet, {rewrapped:,} versions (Strongroom, sqlite)",
        rate,
        "/s",
        bar=at_least(10_000.0, "/s"),
        display=f"{rate:,.0f} versions/s ({elapsed:.1f} s, {calls} calls)",
        detail={"rewrapped": rewrapped, "seconds": elapsed, "calls": calls, "answers": answers},
    )
    report.add(
        "key_rotation",
        "peak RSS during key rotation (Strongroom, sqlite)",
        sampler.peak_mb,
        "MB",
        bar=below(300.0, " MB"),
        detail={"samples": sampler.samples},
    )
