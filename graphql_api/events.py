"""The event bus carrying committed audit events to live subscribers.

Within one process, `EventBus` fans events out to subscribers. Which events
reach it depends on the database:

- SQLite (one process): `LocalPublisher` publishes each batch right after it
  commits.
- PostgreSQL (many replicas): `PostgresNotifier` sends `pg_notify` inside the
  writing transaction, so PostgreSQL delivers it to every replica exactly when
  the events commit and in commit order; each replica's `PostgresRelay`
  listens, loads the events and publishes them on its own bus. A replica's
  own events come back the same way, so every subscriber sees one order.

Publishing never blocks a writer: each subscriber has a bounded queue, and a
subscriber that falls behind is cut off with a clear error instead of slowing
anyone down.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from uuid import UUID

from tortoise.backends.base.client import BaseDBAsyncClient

from graphql_api.errors import StrongroomError
from models import SecretAudit

logger = logging.getLogger(__name__)

DEFAULT_QUEUE_SIZE = 1000
NOTIFY_CHANNEL = "strongroom_audit"


class SubscriberOverflow(StrongroomError):
    code = "RATE_LIMITED"


@dataclass(eq=False)
class _Subscriber:
    workspace_id: str
    secret_id: UUID | None
    queue: asyncio.Queue[SecretAudit]
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
                        f"this subscriber fell more than {self._queue_size} events behind and was cut off; "
                        "subscribe again and read the gap with workspaceAudit"
                    )
                yield await subscriber.queue.get()
        finally:
            self._subscribers.discard(subscriber)


@dataclass
class LocalPublisher:
    """AuditListener for a single process: publish after commit."""

    bus: EventBus

    async def before_commit(self, events: Sequence[SecretAudit], connection: BaseDBAsyncClient) -> None:
        return None

    def after_commit(self, events: Sequence[SecretAudit]) -> None:
        for event in events:
            self.bus.publish(event)


class PostgresNotifier:
    """AuditListener for PostgreSQL: NOTIFY inside the writing transaction."""

    async def before_commit(self, events: Sequence[SecretAudit], connection: BaseDBAsyncClient) -> None:
        for event in events:
            await connection.execute_query("SELECT pg_notify($1, $2)", [NOTIFY_CHANNEL, str(event.id)])

    def after_commit(self, events: Sequence[SecretAudit]) -> None:
        return None


@dataclass
class PostgresRelay:
    """LISTENs on its own connection and publishes what other replicas (and
    this one) commit. Reconnects after a lost connection."""

    dsn: str
    bus: EventBus
    _ids: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _ready: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._listen()), asyncio.create_task(self._deliver())]
        await asyncio.wait_for(self._ready.wait(), timeout=10)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _listen(self) -> None:
        import asyncpg

        while True:
            try:
                connection = await asyncpg.connect(self.dsn)
            except (OSError, asyncpg.PostgresError) as exc:
                logger.warning("audit relay cannot connect (%s); retrying", type(exc).__name__)
                await asyncio.sleep(1)
                continue
            try:
                await connection.add_listener(NOTIFY_CHANNEL, self._on_notify)
                self._ready.set()
                while not connection.is_closed():
                    await asyncio.sleep(1)
            except (OSError, asyncpg.PostgresError) as exc:
                logger.warning("audit relay lost its connection (%s); reconnecting", type(exc).__name__)
            finally:
                if not connection.is_closed():
                    await connection.close()

    def _on_notify(self, connection: object, pid: int, channel: str, payload: str) -> None:
        self._ids.put_nowait(payload)

    async def _deliver(self) -> None:
        while True:
            ids = [await self._ids.get()]
            while not self._ids.empty():
                ids.append(self._ids.get_nowait())
            try:
                rows = {str(row.id): row for row in await SecretAudit.filter(id__in=ids)}
            except Exception as exc:
                logger.error("audit relay could not load %d event(s): %s", len(ids), type(exc).__name__)
                continue
            for event_id in ids:  # notification order is commit order
                event = rows.get(event_id)
                if event is not None:
                    self.bus.publish(event)
