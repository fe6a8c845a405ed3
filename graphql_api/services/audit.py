"""Appending to the hash-chained audit trail.

Each workspace has one chain: ``hash = sha256(prev_hash || canonical event)``
with a monotonic ``seq``. Two ways in:

- `transaction()` + `append()`: a mutation appends its event inside its own
  transaction, so the change and its event commit (or fail) together.
- `record()`: standalone events (value reads, listings, refusals) go through
  group commit: concurrent callers' events share one transaction, flushed
  after at most GROUP_COMMIT_WAIT or GROUP_COMMIT_ROWS rows, and each caller
  returns only once its batch has committed. A value is answered after that.

The chain head row is locked for each append (SELECT ... FOR UPDATE on
PostgreSQL; SQLite serializes writers), so concurrent writers and replicas
serialize per workspace. Committed events are then handed to the event
publisher (live subscriptions) and the audit sinks. Details never hold a
value, key or token: callers pass names, versions and ids only.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID, uuid4

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from graphql_api.errors import AuditUnavailable
from models import AuditAction, AuditChainHead, SecretAudit

logger = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64
GROUP_COMMIT_WAIT = 0.002  # seconds a batch waits for company
GROUP_COMMIT_ROWS = 256  # a batch this large is flushed at once


@dataclass(frozen=True)
class Actor:
    """Who is acting and from where, as recorded on every event."""

    user_id: UUID | None
    ip_address: str | None = None
    user_agent: str | None = None


SYSTEM_ACTOR = Actor(user_id=None, ip_address=None, user_agent="strongroom")


@dataclass(frozen=True)
class AuditRecord:
    workspace_id: str
    action: AuditAction
    actor: Actor
    secret_id: UUID | None = None
    success: bool = True
    details: Mapping[str, Any] = field(default_factory=dict)


class AuditListener(Protocol):
    """Told about events: the live-event publishers and the audit sinks.

    `before_commit` runs inside the writing transaction (PostgreSQL NOTIFY is
    sent there, so it is delivered exactly when the events commit);
    `after_commit` runs once they are committed and must not block.
    """

    async def before_commit(self, events: Sequence[SecretAudit], connection: BaseDBAsyncClient) -> None: ...

    def after_commit(self, events: Sequence[SecretAudit]) -> None: ...


def canonical_event(
    *,
    event_id: UUID,
    seq: int,
    workspace_id: str,
    secret_id: UUID | None,
    action: str,
    user_id: UUID | None,
    ip_address: str | None,
    user_agent: str | None,
    details: Mapping[str, Any],
    success: bool,
    created_at: datetime,
) -> bytes:
    """The bytes hashed for an event; any change to a stored field changes them."""
    document = {
        "id": str(event_id),
        "seq": seq,
        "workspace_id": workspace_id,
        "secret_id": str(secret_id) if secret_id else None,
        "action": action,
        "user_id": str(user_id) if user_id else None,
        "ip_address": ip_address,
        "user_agent": user_agent,
        "details": details,
        "success": success,
        "created_at": created_at.isoformat(timespec="microseconds"),
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def chain_hash(prev_hash: str, event: bytes) -> str:
    return hashlib.sha256(prev_hash.encode("ascii") + event).hexdigest()


@dataclass
class _Waiting:
    records: Sequence[AuditRecord]
    done: asyncio.Future[None]


class AuditLog:
    def __init__(
        self,
        *,
        enabled: bool,
        now: Callable[[], datetime],
        listeners: Sequence[AuditListener] = (),
    ) -> None:
        self.enabled = enabled
        self._now = now
        self.listeners = list(listeners)
        self._collecting: dict[int, list[SecretAudit]] = {}
        self._batch: list[_Waiting] = []
        self._batch_rows = 0
        self._flush_scheduled: asyncio.TimerHandle | None = None
        self._flush_lock = asyncio.Lock()
        self._flushes: set[asyncio.Task[None]] = set()
        # Observability: how many group-commit batches and events committed.
        self.batches_committed = 0
        self.batched_events_committed = 0

    # ---- events inside a caller's transaction ------------------------------

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[BaseDBAsyncClient]:
        """A database transaction whose appended events reach the listeners
        once it has committed, never before and never if it rolls back."""
        events: list[SecretAudit] = []
        async with in_transaction() as connection:
            self._collecting[id(connection)] = events
            try:
                yield connection
                for listener in self.listeners if events else ():
                    await listener.before_commit(events, connection)
            finally:
                self._collecting.pop(id(connection), None)
        for listener in self.listeners if events else ():
            try:
                listener.after_commit(events)
            except Exception as exc:  # a listener never fails a committed operation
                logger.error("audit listener %s failed: %s", type(listener).__name__, type(exc).__name__)

    async def start_chain(self, workspace_id: str, connection: BaseDBAsyncClient) -> None:
        """Create a workspace's chain head; call in the workspace's creating transaction."""
        await AuditChainHead.create(workspace_id=workspace_id, seq=0, hash=GENESIS_HASH, using_db=connection)

    async def append(self, record: AuditRecord, connection: BaseDBAsyncClient) -> SecretAudit | None:
        """Append one event inside the caller's transaction.

        Raises AuditUnavailable when the event cannot be written; the caller's
        transaction then rolls back and nothing it did is kept.
        """
        if not self.enabled:
            return None
        try:
            event = await self._append(record, connection)
        except Exception as exc:
            logger.error(
                "audit write failed for %s in %s: %s", record.action.value, record.workspace_id, type(exc).__name__
            )
            raise AuditUnavailable("the audit event could not be recorded; the operation was not performed") from None
        collecting = self._collecting.get(id(connection))
        if collecting is not None:
            collecting.append(event)
        return event

    async def _append(self, record: AuditRecord, connection: BaseDBAsyncClient) -> SecretAudit:
        head = (
            await AuditChainHead.select_for_update()
            .using_db(connection)
            .get_or_none(workspace_id=record.workspace_id)
        )
        if head is None:
            head = await AuditChainHead.create(
                workspace_id=record.workspace_id, seq=0, hash=GENESIS_HASH, using_db=connection
            )
        event_id = uuid4()
        seq = head.seq + 1
        created_at = self._now()
        details = dict(record.details)
        digest = chain_hash(
            head.hash,
            canonical_event(
                event_id=event_id,
                seq=seq,
                workspace_id=record.workspace_id,
                secret_id=record.secret_id,
                action=record.action.value,
                user_id=record.actor.user_id,
                ip_address=record.actor.ip_address,
                user_agent=record.actor.user_agent,
                details=details,
                success=record.success,
                created_at=created_at,
            ),
        )
        event = await SecretAudit.create(
            id=event_id,
            seq=seq,
            workspace_id=record.workspace_id,
            secret_id=record.secret_id,
            action=record.action,
            user_id=record.actor.user_id,
            ip_address=record.actor.ip_address,
            user_agent=record.actor.user_agent,
            details=details,
            success=record.success,
            created_at=created_at,
            prev_hash=head.hash,
            hash=digest,
            using_db=connection,
        )
        await AuditChainHead.filter(workspace_id=record.workspace_id).using_db(connection).update(seq=seq, hash=digest)
        return event

    # ---- standalone events: group commit ----------------------------------

    async def record(self, records: Sequence[AuditRecord]) -> None:
        """Commit standalone events; returns once they are committed.

        Raises AuditUnavailable when they could not be; the caller must then
        not answer with anything the events were to account for.
        """
        if not self.enabled or not records:
            return
        waiting = _Waiting(records, asyncio.get_running_loop().create_future())
        self._batch.append(waiting)
        self._batch_rows += len(records)
        if self._batch_rows >= GROUP_COMMIT_ROWS:
            self._start_flush()
        elif self._flush_scheduled is None:
            self._flush_scheduled = asyncio.get_running_loop().call_later(GROUP_COMMIT_WAIT, self._start_flush)
        await waiting.done

    def _start_flush(self) -> None:
        if self._flush_scheduled is not None:
            self._flush_scheduled.cancel()
            self._flush_scheduled = None
        batch, self._batch, self._batch_rows = self._batch, [], 0
        if batch:
            task = asyncio.get_running_loop().create_task(self._flush(batch))
            self._flushes.add(task)
            task.add_done_callback(self._flushes.discard)

    async def _flush(self, batch: list[_Waiting]) -> None:
        # One flush at a time: batches queue behind each other instead of
        # contending for the same chain-head rows.
        async with self._flush_lock:
            try:
                async with self.transaction() as connection:
                    for waiting in batch:
                        for record in waiting.records:
                            await self.append(record, connection)
            except Exception as exc:
                failure = exc if isinstance(exc, AuditUnavailable) else AuditUnavailable(
                    "the audit event could not be recorded; the operation was not performed"
                )
                if not isinstance(exc, AuditUnavailable):
                    logger.error("audit batch commit failed: %s", type(exc).__name__)
                for waiting in batch:
                    if not waiting.done.done():
                        waiting.done.set_exception(failure)
                return
            self.batches_committed += 1
            self.batched_events_committed += sum(len(w.records) for w in batch)
        for waiting in batch:
            if not waiting.done.done():
                waiting.done.set_result(None)

    async def drain(self) -> None:
        """Flush what is waiting and wait for flushes under way (shutdown)."""
        self._start_flush()
        if self._flushes:
            await asyncio.gather(*self._flushes, return_exceptions=True)
