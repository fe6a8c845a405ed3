"""Kept for importers of `plugins.memory`: the double lives in `plugins.testing`."""

from __future__ import annotations

from plugins.testing import InMemoryBackend

__all__ = ["InMemoryBackend"]
