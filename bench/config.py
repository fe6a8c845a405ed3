"""What one run measures and for how long, from the environment.

BENCH_QUICK=1     short runs and small data, for developing the harness
BENCH_ONLY=a,b    only these scenarios (names in SCENARIOS)
BENCH_ROUNDS=n    rounds per system (default 3; quick 2)
BENCH_OUTPUT=path where the JSON goes (default <repo>/bench-results.json)
BENCH_POSTGRES_URL  admin URL of the PostgreSQL server (bench/postgres.py)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from bench.errors import BenchError

REPO = Path(__file__).resolve().parent.parent

# In the order they run; each is bench/scenarios/<module>.py with run(lab, report).
SCENARIOS: dict[str, str] = {
    "read": "secretValue throughput and p99 vs OpenBao kv-v2 GET and the floor",
    "write": "createSecret throughput vs OpenBao kv-v2 POST",
    "bulk_read": "secretValues of 200 vs one secretValue, one connection",
    "listing": "secrets(first: 50) in 100,000 secrets vs 1,000",
    "imports": "importSecrets of a 10,000-line .env vs 10,000 createSecret calls",
    "subscribers": "auditEvents delivery latency to 500 subscribers",
    "footprint": "RSS after reads with 100,000 secrets stored; cold start",
    "key_rotation": "rotateEncryptionKey over 100,000 versions: versions/s and peak RSS",
    "scale_out": "PostgreSQL: --workers 2 and two replicas vs one worker",
}


@dataclass(frozen=True)
class Config:
    quick: bool
    only: frozenset[str]
    rounds: int
    duration: float  # seconds per timed wrk run
    warmup: float  # seconds of discarded load before a system's first round
    latency_duration: float  # seconds per one-connection latency run
    small_secrets: int  # the workspace read from (and listed as "1,000")
    large_secrets: int  # the workspace of "100,000"
    import_lines: int
    import_chunk: int  # lines per importSecrets call while building data
    value_size: int
    read_connections: int
    write_connections: int
    bulk_names: int
    subscribers: int
    subscriber_seconds: float
    subscriber_event_rate: float  # audited reads per second while subscribers listen
    cold_starts: int
    output: Path

    def selected(self, name: str) -> bool:
        return name in self.only


def from_environ(environ: dict[str, str] | None = None) -> Config:
    env = dict(os.environ if environ is None else environ)
    quick = env.get("BENCH_QUICK", "").strip().lower() in ("1", "true", "yes")
    raw_only = env.get("BENCH_ONLY", "").strip()
    if raw_only:
        only = frozenset(name.strip() for name in raw_only.split(",") if name.strip())
        unknown = sorted(only - set(SCENARIOS))
        if unknown:
            raise BenchError(f"BENCH_ONLY: unknown scenario(s) {', '.join(unknown)}; known: {', '.join(SCENARIOS)}")
    else:
        only = frozenset(SCENARIOS)
    try:
        rounds = int(env.get("BENCH_ROUNDS", "2" if quick else "3"))
    except ValueError:
        raise BenchError("BENCH_ROUNDS: must be a whole number") from None
    if rounds < 1:
        raise BenchError("BENCH_ROUNDS: must be at least 1")
    return Config(
        quick=quick,
        only=only,
        rounds=rounds,
        duration=3.0 if quick else 8.0,
        warmup=1.0 if quick else 2.0,
        latency_duration=2.0 if quick else 4.0,
        small_secrets=1_000,
        large_secrets=5_000 if quick else 100_000,
        import_lines=1_000 if quick else 10_000,
        import_chunk=2_000,
        value_size=64,
        read_connections=32,
        write_connections=16,
        bulk_names=200,
        subscribers=50 if quick else 500,
        subscriber_seconds=5.0 if quick else 20.0,
        subscriber_event_rate=10.0,
        cold_starts=1 if quick else 3,
        output=Path(env.get("BENCH_OUTPUT", str(REPO / "bench-results.json"))),
    )
