"""Hands committed audit events to the audit sink plugins, off the request path.

Each sink has a bounded queue and its own delivery task: a slow sink falls
behind (and past QUEUE_SIZE drops events, counted in `dropped`), a failing
sink logs; neither ever blocks or fails a request.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from graphql_api.services.audit import CommittedEvent
from plugins.interfaces import AuditSink

logger = logging.getLogger("strongroom.audit")

QUEUE_SIZE = 10_000
BATCH = 500


def event_document(event: CommittedEvent) -> dict[str, Any]:
    return {
        "id": str(event.id),
        "seq": event.seq,
        "workspace_id": event.workspace_id,
        "secret_id": str(event.secret_id) if event.secret_id else None,
        "action": event.action.value,
        "user_id": str(event.user_id) if event.user_id else None,
        "ip_address": event.ip_address,
        "user_agent": event.user_agent,
        "details": event.details,
        "success": event.success,
        "created_at": event.created_at.isoformat(),
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


class SinkDispatcher:
    """An AuditListener feeding every sink from after-commit."""

    def __init__(self, sinks: Sequence[AuditSink]) -> None:
        self.sinks = list(sinks)
        self._queues: dict[str, asyncio.Queue[Mapping[str, Any]]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.dropped: dict[str, int] = {sink.name: 0 for sink in self.sinks}

    async def start(self) -> None:
        for sink in self.sinks:
            queue: asyncio.Queue[Mapping[str, Any]] = asyncio.Queue(QUEUE_SIZE)
            self._queues[sink.name] = queue
            self._tasks.append(asyncio.create_task(self._deliver(sink, queue)))

    async def stop(self, timeout: float = 5.0) -> None:
        for queue in self._queues.values():
            try:
                await asyncio.wait_for(queue.join(), timeout)
            except TimeoutError:
                logger.warning("audit sinks did not drain within %.0f s", timeout)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for sink in self.sinks:
            try:
                await sink.aclose()
            except Exception as exc:
                logger.error("audit sink %s failed to close: %s", sink.name, type(exc).__name__)

    async def before_commit(self, events: Sequence[CommittedEvent], connection: BaseDBAsyncClient) -> None:
        return None

    def after_commit(self, events: Sequence[CommittedEvent]) -> None:
        if not self._queues:
            return
        documents = [event_document(event) for event in events]
        for name, queue in self._queues.items():
            for document in documents:
                try:
                    queue.put_nowait(document)
                except asyncio.QueueFull:
                    self.dropped[name] += 1

    async def _deliver(self, sink: AuditSink, queue: asyncio.Queue[Mapping[str, Any]]) -> None:
        while True:
            batch = [await queue.get()]
            while len(batch) < BATCH and not queue.empty():
                batch.append(queue.get_nowait())
            try:
                await sink.write(batch)
            except Exception as exc:
                logger.error("audit sink %s failed on %d event(s): %s", sink.name, len(batch), type(exc).__name__)
            finally:
                for _ in batch:
                    queue.task_done()
