"""Rotation notifications: an outbox written with the decision, delivered after.

`enqueue` writes one row per notifier inside the caller's transaction;
`deliver_due` claims rows with a short lease (so replicas never deliver the
same row at once), calls the notifier once, and records the outcome:

- DELIVERED;
- PENDING, retried later: the shared retry policy's jittered exponential
  backoff (plugins/retries.py) from FIRST_RETRY up to MAX_RETRY, and never
  sooner than the notifier's `DeliveryFailure.retry_after` (a receiver's
  Retry-After, honoured up to MAX_RETRY_AFTER);
- ABANDONED after MAX_ATTEMPTS, or at once when the notifier raised a
  `DeliveryFailure` with `retryable` False (retrying cannot fix it).

This is the only retry loop for notifications: notifiers make one attempt
per call, so a receiver sees at most MAX_ATTEMPTS requests per event. Every
outcome is an audit event (ROTATION_NOTIFIED, success true or false). A
failing notifier delays only its own rows.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q

from graphql_api.services.audit import SYSTEM_ACTOR, AuditLog, AuditRecord
from models import AuditAction, NotificationStatus, RotationNotification, Secret
from plugins.interfaces import RotationEvent, RotationNotifier
from plugins.retries import DeliveryFailure, RetryPolicy

logger = logging.getLogger("strongroom.notifications")

MAX_ATTEMPTS = 12
LEASE = timedelta(seconds=120)
FIRST_RETRY = timedelta(seconds=30)
MAX_RETRY = timedelta(hours=1)
MAX_RETRY_AFTER = timedelta(hours=24)
#: When failed rows are tried again (no in-process deadline: rows outlive the process).
RETRY_POLICY = RetryPolicy(
    attempts=MAX_ATTEMPTS,
    wait_initial=FIRST_RETRY.total_seconds(),
    wait_max=MAX_RETRY.total_seconds(),
    deadline=None,
    retry_after_max=MAX_RETRY_AFTER.total_seconds(),
)
DELIVERY_BATCH = 100


def rotation_event(
    event_id: UUID, kind: str, secret: Secret, occurred_at: datetime, details: Mapping[str, Any] | None = None
) -> RotationEvent:
    return RotationEvent(
        id=str(event_id),
        kind=kind,
        workspace_id=secret.workspace_id,
        secret_id=str(secret.id),
        secret_name=secret.name or "",
        secret_type=secret.secret_type.value,
        rotation_policy=secret.rotation_policy.value,
        rotation_due_at=secret.rotation_due_at.isoformat() if secret.rotation_due_at else None,
        version=secret.current_version,
        occurred_at=occurred_at.isoformat(),
        details=dict(details or {}),
    )


def _payload(event: RotationEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "kind": event.kind,
        "workspace_id": event.workspace_id,
        "secret_id": event.secret_id,
        "secret_name": event.secret_name,
        "secret_type": event.secret_type,
        "rotation_policy": event.rotation_policy,
        "rotation_due_at": event.rotation_due_at,
        "version": event.version,
        "occurred_at": event.occurred_at,
        "details": dict(event.details),
    }


class NotificationOutbox:
    def __init__(self, *, notifiers: Sequence[RotationNotifier], audit: AuditLog, now: Callable[[], datetime]) -> None:
        self.notifiers = {notifier.name: notifier for notifier in notifiers}
        self._audit = audit
        self._now = now

    async def enqueue(
        self, kind: str, secret: Secret, connection: BaseDBAsyncClient, details: Mapping[str, Any] | None = None
    ) -> UUID:
        """One row per notifier, in the caller's transaction; returns the event id."""
        event_id = uuid4()
        now = self._now()
        payload = _payload(rotation_event(event_id, kind, secret, now, details))
        for name in self.notifiers:
            await RotationNotification.create(
                event_id=event_id,
                notifier=name,
                kind=kind,
                workspace_id=secret.workspace_id,
                secret_id=secret.id,
                payload=payload,
                created_at=now,
                next_attempt_at=now,
                using_db=connection,
            )
        return event_id

    async def deliver_due(self) -> int:
        """Deliver every row whose time has come; returns how many were delivered."""
        now = self._now()
        rows = (
            await RotationNotification.filter(status=NotificationStatus.PENDING, next_attempt_at__lte=now)
            .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
            .order_by("created_at")
            .limit(DELIVERY_BATCH)
        )
        delivered = 0
        for row in rows:
            claimed = await RotationNotification.filter(
                Q(lease_until__isnull=True) | Q(lease_until__lt=now), id=row.id, status=NotificationStatus.PENDING
            ).update(lease_until=now + LEASE)
            if claimed:
                delivered += await self._deliver(row)
        return delivered

    async def _deliver(self, row: RotationNotification) -> int:
        notifier = self.notifiers.get(row.notifier)
        attempts = row.attempts + 1
        error: str | None = None
        retryable, retry_after = True, None
        if notifier is None:
            error = f"notifier {row.notifier!r} is no longer configured"
        else:
            try:
                await notifier.notify(RotationEvent(**row.payload))
            except Exception as exc:  # a notifier's failure is its own
                error = (str(exc) if exc.args else type(exc).__name__)[:255]
                if isinstance(exc, DeliveryFailure):
                    retryable, retry_after = exc.retryable is not False, _seconds(exc.retry_after)
        now = self._now()
        if error is None:
            status, retry_at = NotificationStatus.DELIVERED, row.next_attempt_at
        elif attempts >= MAX_ATTEMPTS or notifier is None or not retryable:
            status, retry_at = NotificationStatus.ABANDONED, row.next_attempt_at
        else:
            wait = RETRY_POLICY.next_wait(attempts, retry_after) or 0.0  # None only past a deadline: there is none
            status, retry_at = NotificationStatus.PENDING, now + timedelta(seconds=wait)
        async with self._audit.transaction() as connection:
            await (
                RotationNotification.filter(id=row.id)
                .using_db(connection)
                .update(
                    status=status,
                    attempts=attempts,
                    last_error=error,
                    next_attempt_at=retry_at,
                    lease_until=None,
                    delivered_at=now if error is None else None,
                )
            )
            await self._audit.append(
                AuditRecord(
                    row.workspace_id,
                    AuditAction.ROTATION_NOTIFIED,
                    SYSTEM_ACTOR,
                    row.secret_id,
                    success=error is None,
                    details={
                        "notifier": row.notifier,
                        "event": row.kind,
                        "event_id": str(row.event_id),
                        "attempt": attempts,
                        "outcome": status.value,
                        "error": error,
                    },
                ),
                connection,
            )
        if error is not None:
            then = f"next attempt at {retry_at.isoformat()}" if status is NotificationStatus.PENDING else "abandoned"
            logger.warning(
                "notifier %s failed on %s (attempt %d): %s; %s", row.notifier, row.kind, attempts, error, then
            )
        return 1 if error is None else 0

    async def aclose(self) -> None:
        """Close notifiers that hold connections (those with an `aclose`)."""
        for notifier in self.notifiers.values():
            close = getattr(notifier, "aclose", None)
            if close is not None:
                try:
                    await close()
                except Exception as exc:
                    logger.error("notifier %s failed to close: %s", notifier.name, type(exc).__name__)


def _seconds(value: object) -> float | None:
    """A notifier's retry_after, if it is a usable number of seconds."""
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value) or value < 0:
        return None
    return float(min(value, MAX_RETRY_AFTER.total_seconds()))
