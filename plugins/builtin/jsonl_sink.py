"""Builtin audit sink: committed events appended to a JSON-lines file.

Enabled by STRONGROOM_AUDIT_JSONL_PATH. One line per event, flushed per
batch, so a log shipper (Vector, Fluent Bit, Filebeat) can tail it.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from plugins import ConfigError, hookimpl
from plugins.interfaces import PluginConfig

VARIABLE = "STRONGROOM_AUDIT_JSONL_PATH"


class JsonLinesSink:
    name = "jsonl"

    def __init__(self, path: Path) -> None:
        self.path = path

    def __repr__(self) -> str:
        return f"<JsonLinesSink {self.path}>"

    async def write(self, events: Sequence[Mapping[str, Any]]) -> None:
        lines = "".join(json.dumps(e, sort_keys=True, ensure_ascii=False, default=str) + "\n" for e in events)
        await asyncio.to_thread(self._append, lines)

    def _append(self, lines: str) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as handle:
            handle.write(lines)
            handle.flush()

    async def aclose(self) -> None:
        return None


@hookimpl(trylast=True)
def register_audit_sinks(config: PluginConfig) -> Iterable[JsonLinesSink]:
    raw = config.environ.get(VARIABLE, "").strip()
    if not raw:
        return []
    path = Path(raw)
    if not path.parent.is_dir():
        raise ConfigError(VARIABLE, f"folder {path.parent} does not exist")
    return [JsonLinesSink(path)]
