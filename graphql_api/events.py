"""The in-process event bus carrying committed audit events to subscribers.

Publishing never blocks a writer: each subscriber has a bounded queue, and a
subscriber that falls behind is cut off with SubscriberOverflow instead of
slowing anyone down.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from uuid import UUID

from graphql_api.errors import StrongroomError
from models import SecretAudit

DEFAULT_QUEUE_SIZE = 1000


class SubscriberOverflow(StrongroomError):
    code = "RATE_LIMITED"


@dataclass(eq=False)
class _Subscriber:
    workspace_id: str
    secret_id: UUID | None
    queue: asyncio.Queue[SecretAudit | None] = field(default_factory=lambda: asyncio.Queue(DEFAULT_QUEUE_SIZE))
    overflowed: bool = False


class EventBus:
    def __init__(self, queue_size: int = DEFAULT_QUEUE_SIZE) -> None:
        self._queue_size = queue_size
        self._subscribers: set[_Subscriber] = set()

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def publish(self, event: SecretAudit) -> None:
        for subscriber in list(self._subscribers):
            if subscriber.workspace_id != event.workspace_id:
                continue
            if subscriber.secret_id is not None and subscriber.secret_id != event.secret_id:
                continue
            try:
                subscriber.queue.put_nowait(event)
            except asyncio.QueueFull:
                subscriber.overflowed = True
                self._subscribers.discard(subscriber)

    async def subscribe(self, workspace_id: str, secret_id: UUID | None = None) -> AsyncIterator[SecretAudit]:
        subscriber = _Subscriber(workspace_id, secret_id, asyncio.Queue(self._queue_size))
        self._subscribers.add(subscriber)
        try:
            while True:
                if subscriber.overflowed and subscriber.queue.empty():
                    raise SubscriberOverflow(
                        f"subscriber fell more than {self._queue_size} events behind; resubscribe and "
                        "read the gap with workspaceAudit"
                    )
                event = await subscriber.queue.get()
                if event is not None:
                    yield event
        finally:
            self._subscribers.discard(subscriber)
