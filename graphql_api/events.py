"""The event bus carrying committed audit events to live subscribers, and the
PostgreSQL listener that carries them (and changes of authority) across
replicas.

Within one process, `EventBus` fans events out to subscribers, indexed by
workspace. Which events reach it depends on the database:

- SQLite (one process): `LocalPublisher` publishes each batch right after it
  commits.
- PostgreSQL (many replicas): `PostgresNotifier` sends one `pg_notify` per
  workspace and batch ("workspace:first_seq:last_seq") inside the writing
  transaction, so PostgreSQL delivers it to every replica exactly when the
  events commit and in commit order; each replica's `PostgresListener`
  receives it, loads the events and publishes them on its own bus. A
  replica's own events come back the same way, so every subscriber sees one
  order.

Publishing never blocks a writer: each subscriber has a bounded queue, and a
subscriber that falls behind is cut off with a clear error instead of slowing
anyone down.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from tortoise.backends.base.client import BaseDBAsyncClient

from graphql_api.errors import RateLimited
from graphql_api.services.audit import EVENT_COLUMNS, CommittedEvent, committed_event
from graphql_api.sql import Sql

logger = logging.getLogger("strongroom.events")

DEFAULT_QUEUE_SIZE = 1000
AUDIT_CHANNEL = "strongroom_audit"
AUTHORITY_CHANNEL = "strongroom_authority"
SECRET_CHANNEL = "strongroom_secret"
NOTIFY_CHANNEL = AUDIT_CHANNEL  # kept for readers of the old name


class SubscriberOverflow(RateLimited):
    """A live subscriber fell too far behind and was cut off."""


class Subscription:
    """One subscriber's stream of events; `fail(error)` ends it with `error`.

    A held stream (`hold`, by graphql_api.services.authority while the
    subscriber's right is checked again) keeps queueing events but delivers
    none until `release`; if it fails meanwhile, what it held is dropped.
    """

    def __init__(self, bus: EventBus, workspace_id: str, secret_id: UUID | None, queue_size: int) -> None:
        self._bus = bus
        self.workspace_id = workspace_id
        self.secret_id = secret_id
        self._queue: asyncio.Queue[CommittedEvent | None] = asyncio.Queue(queue_size)
        self._queue_size = queue_size
        self.failure: BaseException | None = None
        self._let_go = asyncio.Event()
        self._let_go.set()

    def offer(self, event: CommittedEvent) -> bool:
        """Queue an event; False when this subscriber is full and cut off."""
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.failure = SubscriberOverflow(
                f"this subscriber fell more than {self._queue_size} events behind and was cut off; "
                "subscribe again and read the gap with workspaceAudit"
            )
            return False
        return True

    def hold(self) -> None:
        self._let_go.clear()

    def release(self) -> None:
        self._let_go.set()

    @property
    def held(self) -> bool:
        return not self._let_go.is_set()

    def fail(self, error: BaseException) -> None:
        if self.failure is None:
            self.failure = error
        self._let_go.set()  # wakes a reader waiting to be let go: it finds the failure
        with suppress(asyncio.QueueFull):
            self._queue.put_nowait(None)  # wakes a waiting reader

    def close(self) -> None:
        self._bus._remove(self)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> CommittedEvent:
        if self.failure is not None and (self._queue.empty() or not isinstance(self.failure, SubscriberOverflow)):
            self.close()
            raise self.failure
        event = await self._queue.get()
        if not self._let_go.is_set():
            await self._let_go.wait()
        if self.failure is not None and not isinstance(self.failure, SubscriberOverflow):
            self.close()
            raise self.failure  # what was held is dropped with the stream
        if event is None:
            self.close()
            assert self.failure is not None
            raise self.failure
        return event


class EventBus:
    def __init__(self, queue_size: int = DEFAULT_QUEUE_SIZE) -> None:
        self._queue_size = queue_size
        self._by_workspace: dict[str, set[Subscription]] = {}

    @property
    def subscriber_count(self) -> int:
        return sum(len(s) for s in self._by_workspace.values())

    def publish(self, event: CommittedEvent) -> None:
        subscribers = self._by_workspace.get(event.workspace_id)
        if not subscribers:
            return
        for subscriber in list(subscribers):
            if subscriber.secret_id is not None and subscriber.secret_id != event.secret_id:
                continue
            if not subscriber.offer(event):
                subscribers.discard(subscriber)

    def has_subscribers(self, workspace_id: str) -> bool:
        return bool(self._by_workspace.get(workspace_id))

    def subscribe(self, workspace_id: str, secret_id: UUID | None = None) -> Subscription:
        subscription = Subscription(self, workspace_id, secret_id, self._queue_size)
        self._by_workspace.setdefault(workspace_id, set()).add(subscription)
        return subscription

    def _remove(self, subscription: Subscription) -> None:
        subscribers = self._by_workspace.get(subscription.workspace_id)
        if subscribers is not None:
            subscribers.discard(subscription)
            if not subscribers:
                del self._by_workspace[subscription.workspace_id]


@dataclass
class LocalPublisher:
    """AuditListener for a single process: publish after commit."""

    bus: EventBus

    async def before_commit(self, events: Sequence[CommittedEvent], connection: BaseDBAsyncClient) -> None:
        return None

    def after_commit(self, events: Sequence[CommittedEvent]) -> None:
        for event in events:
            self.bus.publish(event)


class PostgresNotifier:
    """AuditListener for PostgreSQL: NOTIFY inside the writing transaction,
    one notification per workspace and batch naming its range of seqs."""

    async def before_commit(self, events: Sequence[CommittedEvent], connection: BaseDBAsyncClient) -> None:
        ranges: dict[str, list[int]] = {}
        for event in events:
            span = ranges.setdefault(event.workspace_id, [event.seq, event.seq])
            span[0] = min(span[0], event.seq)
            span[1] = max(span[1], event.seq)
        for workspace_id, (first, last) in ranges.items():
            await connection.execute_query(
                "SELECT pg_notify($1, $2)", [AUDIT_CHANNEL, f"{workspace_id}:{first}:{last}"]
            )

    def after_commit(self, events: Sequence[CommittedEvent]) -> None:
        return None


_SELECT_EVENTS = (
    f'SELECT {EVENT_COLUMNS} FROM "secret_audit" WHERE "workspace_id" = ? AND "seq" BETWEEN ? AND ? ORDER BY "seq"'
)


def event_from_row(row: Sequence[Any], sql: Sql) -> CommittedEvent:
    return committed_event(row, sql.dialect)


class PostgresListener:
    """One LISTEN connection per replica for every channel Strongroom uses.

    Audit notifications are loaded and published on the bus in notification
    (commit) order. Other channels go to their handlers. After the connection
    is lost and regained, `on_reconnect` handlers run: notifications sent
    meanwhile are gone, so whoever relies on them must look again.
    """

    def __init__(self, dsn: str, bus: EventBus, sql: Sql) -> None:
        self.dsn = dsn
        self.bus = bus
        self._sql = sql
        self._ranges: asyncio.Queue[str] = asyncio.Queue()
        self._handlers: dict[str, Callable[[str], None]] = {}
        self._reconnect_handlers: list[Callable[[], Awaitable[None]]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._ready = asyncio.Event()
        self.connected = False

    def on(self, channel: str, handler: Callable[[str], None]) -> None:
        self._handlers[channel] = handler

    def on_reconnect(self, handler: Callable[[], Awaitable[None]]) -> None:
        self._reconnect_handlers.append(handler)

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._listen()), asyncio.create_task(self._deliver())]
        await asyncio.wait_for(self._ready.wait(), timeout=10)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _listen(self) -> None:
        import asyncpg

        first = True
        while True:
            try:
                connection = await asyncpg.connect(self.dsn)
            except (OSError, asyncpg.PostgresError) as exc:
                logger.warning("event listener cannot connect (%s); retrying", type(exc).__name__)
                await asyncio.sleep(1)
                continue
            try:
                await connection.add_listener(AUDIT_CHANNEL, self._on_audit)
                for channel in self._handlers:
                    await connection.add_listener(channel, self._on_other)
                self.connected = True
                self._ready.set()
                if not first:
                    for handler in self._reconnect_handlers:
                        try:
                            await handler()
                        except Exception as exc:
                            logger.error("reconnect handler failed: %s", type(exc).__name__)
                first = False
                while not connection.is_closed():
                    await asyncio.sleep(0.5)
            except (OSError, asyncpg.PostgresError) as exc:
                logger.warning("event listener lost its connection (%s); reconnecting", type(exc).__name__)
            finally:
                self.connected = False
                if not connection.is_closed():
                    await connection.close()

    def _on_audit(self, connection: object, pid: int, channel: str, payload: str) -> None:
        self._ranges.put_nowait(payload)

    def _on_other(self, connection: object, pid: int, channel: str, payload: str) -> None:
        handler = self._handlers.get(channel)
        if handler is not None:
            handler(payload)

    async def _deliver(self) -> None:
        while True:
            payload = await self._ranges.get()
            workspace_id, _, span = payload.rpartition(":")
            workspace_id, _, first = workspace_id.rpartition(":")
            if not self.bus.has_subscribers(workspace_id):
                # Nobody here listens to that workspace: loading its events
                # was a query and a conversion per committed batch (7% of a
                # PostgreSQL read's CPU under load, with no subscriber at all).
                # Whoever subscribes later gets events committed after that.
                continue
            try:
                rows = await self._sql.fetch(_SELECT_EVENTS, [workspace_id, int(first), int(span)])
            except Exception as exc:
                logger.error("event listener could not load events %s: %s", payload, type(exc).__name__)
                continue
            for row in rows:  # notification order is commit order
                self.bus.publish(event_from_row(row, self._sql))
