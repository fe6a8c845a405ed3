"""Rotation: generated values, two-phase rotation, and the scheduler.

`rotate_generated` makes a new value with the value generator plugin that
serves the secret's type. Plain generators give a new version at once. A
TwoPhaseGenerator (`apply` and `check`) rotates in two phases: the value is
staged as a PENDING version (readable by number, not current), applied and
checked; only then is it promoted. If either fails, the version is marked
FAILED, the current value is untouched, notifiers get `rotation_failed` and
the caller RotationCheckFailed (a Conflict).

`run_once` is one scheduler pass over due secrets: a secret whose type has a
generator is rotated; any other is claimed once per due cycle (a conditional
update of rotation_notified_at, so one replica wins) and `rotation_due` is
queued for every notifier in the same transaction. Then due notifications are
delivered. Safe to run on every replica at once, and from cron.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from tortoise.backends.base.client import BaseDBAsyncClient

from graphql_api.errors import BackendUnavailable, BadUserInput, Conflict, RotationCheckFailed, StrongroomError
from graphql_api.services import validation
from graphql_api.services.audit import SYSTEM_ACTOR, Actor, AuditLog, AuditRecord
from graphql_api.services.envelope import Envelope
from graphql_api.services.notifications import NotificationOutbox
from graphql_api.services.secret_reads import SecretReader
from graphql_api.services.secret_store import SecretStore
from graphql_api.services.secrets import SecretService
from models import AuditAction, Secret, VersionState
from plugins.interfaces import GenerationRequest, TwoPhaseGenerator, ValueGenerator

logger = logging.getLogger("strongroom.rotation")

SCHEDULER_BATCH = 200


@dataclass(frozen=True)
class SchedulerReport:
    rotated: int = 0
    failed: int = 0
    notified: int = 0
    delivered: int = 0


class RotationService:
    def __init__(
        self,
        *,
        secrets: SecretService,
        reads: SecretReader,
        store: SecretStore,
        envelope: Envelope,
        audit: AuditLog,
        outbox: NotificationOutbox,
        generators: Sequence[ValueGenerator],
        now: Callable[[], datetime],
    ) -> None:
        self._secrets = secrets
        self._reads = reads
        self._store = store
        self._envelope = envelope
        self._audit = audit
        self.outbox = outbox
        self.generators = list(generators)
        self._now = now

    def generator_for(self, secret_type: str) -> ValueGenerator | None:
        return next((g for g in self.generators if secret_type in g.secret_types), None)

    async def rotate(
        self, workspace_id: str, secret_id: UUID, new_value: str | None, expected_version: int | None, actor: Actor
    ) -> Secret:
        """A new current version: `new_value`, or (None) one the generator
        plugin serving the secret's type makes."""
        if new_value is None:
            return await self.rotate_generated(workspace_id, secret_id, expected_version, actor)
        return await self._secrets.rotate(workspace_id, secret_id, new_value, expected_version, actor)

    async def rotate_generated(
        self, workspace_id: str, secret_id: UUID, expected_version: int | None, actor: Actor
    ) -> Secret:
        secret = await self._reads.require(workspace_id, secret_id)
        generator = self.generator_for(secret.secret_type.value)
        if generator is None:
            raise BadUserInput(
                "newValue", f"no value generator serves secret type {secret.secret_type.value}; pass newValue"
            )
        if not secret.is_active:
            raise Conflict(f"secret {secret_id} is deleted; restore it first")
        if secret.pending_version is not None:
            raise Conflict(
                f"secret {secret_id} has a rotation in progress (version {secret.pending_version} is pending)"
            )
        if expected_version is not None and expected_version != secret.current_version:
            raise Conflict(f"expectedVersion is {expected_version} but the current version is {secret.current_version}")
        request = GenerationRequest(
            workspace_id=workspace_id,
            secret_id=str(secret.id),
            name=secret.name or "",
            secret_type=secret.secret_type.value,
            metadata=secret.metadata or {},
        )
        try:
            value = await generator.generate(request)
        except ValueError as exc:
            raise BadUserInput("metadata", str(exc)) from None
        validation.secret_value(value, "generated value")
        if isinstance(generator, TwoPhaseGenerator):
            return await self._two_phase(secret, generator, request, value, actor)
        return await self._secrets.rotate(
            workspace_id, secret_id, value, secret.current_version, actor, on_commit=self._notify_rotated(generator)
        )

    def _notify_rotated(self, generator: ValueGenerator) -> Callable[[Secret, BaseDBAsyncClient], Awaitable[None]]:
        async def enqueue(secret: Secret, connection: BaseDBAsyncClient) -> None:
            await self.outbox.enqueue("rotated", secret, connection, {"generator": generator.name})

        return enqueue

    async def _two_phase(
        self, secret: Secret, generator: TwoPhaseGenerator, request: GenerationRequest, value: str, actor: Actor
    ) -> Secret:
        workspace_id = secret.workspace_id
        version = secret.last_version + 1
        backend = self._envelope.backends.for_write(secret.encryption_backend, "encryptionBackend")
        sealed = await self._envelope.seal(
            value, backend=backend, workspace_id=workspace_id, secret_id=secret.id, version=version
        )
        async with self._audit.transaction() as connection:
            locked = await self._store.lock(connection, workspace_id, secret.id)
            if locked.last_version != secret.last_version or locked.pending_version is not None:
                raise Conflict(f"secret {secret.id} changed meanwhile; try again")
            locked.last_version = version
            locked.pending_version = version
            await self._store.write_version(
                connection, locked, version, sealed, actor.user_id, self._now(), state=VersionState.PENDING
            )
            await self._store.save(connection, locked, ["last_version", "pending_version"])
            await self._audit.append(
                AuditRecord(
                    workspace_id,
                    AuditAction.ROTATED,
                    actor,
                    locked.id,
                    details={"name": locked.name, "version": version, "phase": "staged", "generator": generator.name},
                ),
                connection,
            )
        try:
            await generator.apply(request, value)
            await generator.check(request, value)
        except Exception as exc:
            # A plugin's text may hold the value it choked on: its type only (our own messages are safe).
            reason = str(exc)[:200] if isinstance(exc, StrongroomError) else type(exc).__name__
            await self._finish_pending(secret, version, actor, promote=False, reason=reason)
            raise RotationCheckFailed(
                f"rotation of secret {secret.id} failed its check ({reason}); version {version} is FAILED "
                f"and the current value is unchanged",
                secret_id=str(secret.id),
                version=version,
                reason=reason,
            ) from None
        return await self._finish_pending(secret, version, actor, promote=True, reason=None)

    async def _finish_pending(
        self, secret: Secret, version: int, actor: Actor, *, promote: bool, reason: str | None
    ) -> Secret:
        workspace_id = secret.workspace_id
        async with self._audit.transaction() as connection:
            locked = await self._store.lock(connection, workspace_id, secret.id)
            superseded = locked.current_version != secret.current_version
            promote = promote and not superseded and locked.pending_version == version
            state = VersionState.ACTIVE if promote else VersionState.FAILED
            await self._store.set_version_state(connection, locked.id, version, state)
            locked.pending_version = None
            if promote:
                locked.current_version = version
                self._store.mark_rotated(locked, self._now())
            locked.updated_at = self._now()
            await self._store.save(connection, locked)
            why = reason or ("a newer version was written meanwhile" if superseded else None)
            await self._audit.append(
                AuditRecord(
                    workspace_id,
                    AuditAction.ROTATED,
                    actor,
                    locked.id,
                    success=promote,
                    details={
                        "name": locked.name,
                        "version": version,
                        "phase": "promoted" if promote else "failed",
                        "reason": why,
                    },
                ),
                connection,
            )
            await self.outbox.enqueue(
                "rotated" if promote else "rotation_failed",
                locked,
                connection,
                {"version": version, "reason": why} if not promote else {"version": version},
            )
        return locked

    # ---- scheduler ---------------------------------------------------------

    async def run_once(self) -> SchedulerReport:
        now = self._now()
        due = await self._store.due(now, SCHEDULER_BATCH)
        rotated = failed = notified = 0
        for secret in due:
            if self.generator_for(secret.secret_type.value) is not None:
                outcome = await self._scheduled_rotation(secret)
                rotated += outcome == "rotated"
                failed += outcome == "failed"
            elif await self._claim_due(secret, now):
                notified += 1
        delivered = await self.outbox.deliver_due()
        return SchedulerReport(rotated=rotated, failed=failed, notified=notified, delivered=delivered)

    async def _scheduled_rotation(self, secret: Secret) -> str:
        workspace_id = secret.workspace_id
        try:
            await self.rotate_generated(workspace_id, secret.id, secret.current_version, SYSTEM_ACTOR)
            return "rotated"
        except RotationCheckFailed:
            return "failed"
        except Conflict:
            return "raced"  # another replica (or a person) rotated it first
        except (BadUserInput, BackendUnavailable) as exc:
            # Cannot rotate this cycle (bad generator options, backend down): say so once.
            async with self._audit.transaction() as connection:
                if await self._store.claim_due(connection, secret.id, self._now()):
                    await self.outbox.enqueue("rotation_failed", secret, connection, {"reason": exc.message[:200]})
            logger.warning("scheduled rotation of %s/%s failed: %s", workspace_id, secret.name, exc.code)
            return "failed"

    async def _claim_due(self, secret: Secret, now: datetime) -> bool:
        async with self._audit.transaction() as connection:
            if not await self._store.claim_due(connection, secret.id, now, due_by=now):
                return False
            await self._audit.append(
                AuditRecord(
                    secret.workspace_id,
                    AuditAction.ROTATION_DUE,
                    SYSTEM_ACTOR,
                    secret.id,
                    details={
                        "name": secret.name,
                        "due_at": secret.rotation_due_at.isoformat() if secret.rotation_due_at else None,
                        "notifiers": sorted(self.outbox.notifiers),
                    },
                ),
                connection,
            )
            await self.outbox.enqueue("rotation_due", secret, connection)
        return True

    async def due_counts(self) -> dict[str, int]:
        """Active secrets past their due date, per workspace (the metrics gauge)."""
        return await self._store.due_counts(self._now())
