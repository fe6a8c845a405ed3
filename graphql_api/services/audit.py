"""Appending to the hash-chained audit trail.

Each workspace has one chain: ``hash = sha256(prev_hash || canonical event)``
with a monotonic ``seq``. An event is appended inside the caller's
transaction, so a mutation and its event commit (or fail) together; the chain
head row is locked for the append so concurrent writers serialize per
workspace. Details never hold a value, key or token: callers pass names,
versions and ids only.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from graphql_api.errors import AuditUnavailable
from graphql_api.events import EventBus
from models import AuditAction, AuditChainHead, SecretAudit

logger = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64


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


class AuditLog:
    def __init__(self, *, enabled: bool, now: Callable[[], datetime], bus: EventBus | None = None) -> None:
        self.enabled = enabled
        self._now = now
        self.bus = bus or EventBus()
        self._pending: dict[int, list[SecretAudit]] = {}

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[BaseDBAsyncClient]:
        """A database transaction whose appended events are published once it
        has committed, never before and never if it rolls back."""
        events: list[SecretAudit] = []
        async with in_transaction() as connection:
            self._pending[id(connection)] = events
            try:
                yield connection
            finally:
                self._pending.pop(id(connection), None)
        for event in events:
            self.bus.publish(event)

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
            await AuditChainHead.filter(workspace_id=record.workspace_id).using_db(connection).update(
                seq=seq, hash=digest
            )
        except Exception as exc:
            logger.error("audit write failed for %s in %s: %s", record.action.value, record.workspace_id, type(exc).__name__)
            raise AuditUnavailable("the audit event could not be recorded; the operation was not performed") from None
        pending = self._pending.get(id(connection))
        if pending is not None:
            pending.append(event)
        return event
