"""The one failure the harness reports: a clear sentence, never a traceback."""

from __future__ import annotations


class BenchError(Exception):
    """Something the benchmark needs is missing or misbehaved; str() says what."""
