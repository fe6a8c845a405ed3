"""The secret lifecycle's changes: create, change, rotate, roll back, delete,
restore and destroy. Reads are `secret_reads.SecretReader`'s; the rows are
written by `secret_store.SecretStore`; this service decides.

Writes follow one pattern: read the secret, seal the new value *outside* any
transaction (a backend call may be slow or remote), then in one transaction
lock the row, check nothing moved, write the version and the audit event.
If another writer got there first the whole attempt is retried, so a slow
backend never holds a database lock.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID, uuid4

from tortoise.backends.base.client import BaseDBAsyncClient

from graphql_api.errors import BadUserInput, Conflict
from graphql_api.services import validation
from graphql_api.services.audit import Actor, AuditLog, AuditRecord
from graphql_api.services.envelope import Envelope, SealedValue
from graphql_api.services.secret_inputs import (
    NewSecret,
    SecretChanges,
    SecretRecord,
    due_date,
)
from graphql_api.services.secret_reads import SecretReader
from graphql_api.services.secret_store import NewSecretRow, SecretStore, insert_statements
from models import AuditAction, RotationPolicy, Secret

logger = logging.getLogger("strongroom.secrets")

WRITE_ATTEMPTS = 3

T = TypeVar("T")


class SecretService:
    """Every change to a secret; it reads through `reads` (the secret as it
    is, an old version's value) and writes through `store`."""

    def __init__(
        self,
        *,
        reads: SecretReader,
        store: SecretStore,
        envelope: Envelope,
        audit: AuditLog,
        default_rotation_days: int,
        now: Callable[[], datetime],
    ) -> None:
        self._reads = reads
        self._store = store
        self._envelope = envelope
        self._audit = audit
        self._now = now
        self._default_policy = RotationPolicy.for_days(default_rotation_days)

    # ---- writes ------------------------------------------------------------

    async def create(self, workspace_id: str, new: NewSecret, actor: Actor) -> SecretRecord:
        name = validation.secret_name(new.name)
        validation.secret_value(new.value)
        usage = validation.usage(new.usage)
        tags = validation.tags(new.tags)
        metadata = validation.metadata(new.metadata)
        backend = self._envelope.backends.for_write(new.encryption_backend)
        policy = new.rotation_policy or self._default_policy
        conflict = f"a secret named {name!r} already exists in workspace {workspace_id!r} (active or deleted)"

        async def taken() -> bool:
            return await self._store.name_taken(workspace_id, name)

        if await taken():
            raise Conflict(conflict)

        secret_id = uuid4()
        sealed = await self._envelope.seal(
            new.value, backend=backend, workspace_id=workspace_id, secret_id=secret_id, version=1
        )
        now = self._now()
        row = NewSecretRow(
            id=secret_id,
            workspace_id=workspace_id,
            name=name,
            secret_type=new.secret_type,
            rotation_policy=policy,
            rotation_due_at=due_date(policy, now),
            sealed=sealed,
            usage=usage,
            tags=tags,
            metadata=metadata,
        )
        # The insert and its CREATED event go through group commit: concurrent
        # creates share one transaction (a name taken meanwhile fails only its own).
        await self._audit.commit(
            [
                AuditRecord(
                    workspace_id,
                    AuditAction.CREATED,
                    actor,
                    secret_id,
                    details={"name": name, "version": 1, "secret_type": new.secret_type.value, "backend": backend.name},
                )
            ],
            lambda dialect: insert_statements([row], actor.user_id, now, dialect),
            (conflict, taken),
        )
        return SecretRecord(
            id=secret_id,
            workspace_id=workspace_id,
            name=name,
            secret_type=new.secret_type,
            usage=usage,
            tags=tags,
            metadata=metadata,
            rotation_policy=policy,
            last_rotated_at=None,
            rotation_due_at=row.rotation_due_at,
            is_active=True,
            current_version=1,
            pending_version=None,
            encryption_backend=sealed.backend,
            created_at=now,
            updated_at=now,
            created_by_user_id=actor.user_id,
            updated_by_user_id=actor.user_id,
        )

    async def update(self, workspace_id: str, secret_id: UUID, changes: SecretChanges, actor: Actor) -> Secret:
        if changes.value is not None:
            validation.secret_value(changes.value)
        usage = validation.usage(changes.usage)
        tags = validation.tags(changes.tags) if changes.tags is not None else None
        metadata = validation.metadata(changes.metadata) if changes.metadata is not None else None

        async def write(secret: Secret, sealed: SealedValue | None, connection: BaseDBAsyncClient) -> dict[str, Any]:
            now = self._now()
            changed: list[str] = []
            if sealed is not None:
                await self._store.write_version(
                    connection, secret, self._store.allocate(secret), sealed, actor.user_id, now
                )
                self._store.mark_rotated(secret, now)
                changed.append("value")
            if usage is not None or changes.clear_usage:
                secret.usage = usage  # type: ignore[assignment]  # tortoise types a TextField as str even with null=True
                changed.append("usage")
            if tags is not None:
                secret.tags = tags
                await self._store.write_tags(connection, secret, tags, replace=True)
                changed.append("tags")
            if metadata is not None:
                secret.metadata = metadata
                changed.append("metadata")
            if changes.rotation_policy is not None and changes.rotation_policy != secret.rotation_policy:
                secret.rotation_policy = changes.rotation_policy
                secret.rotation_due_at = due_date(secret.rotation_policy, secret.last_rotated_at or secret.created_at)
                secret.rotation_notified_at = None
                changed.append("rotationPolicy")
            return {"changed": changed}

        return await self._write_new_version(
            workspace_id,
            secret_id,
            actor,
            AuditAction.UPDATED,
            value=lambda _secret: _ready(changes.value),
            expected_version=changes.expected_version,
            apply=write,
        )

    async def rotate(
        self,
        workspace_id: str,
        secret_id: UUID,
        new_value: str,
        expected_version: int | None,
        actor: Actor,
        on_commit: Callable[[Secret, BaseDBAsyncClient], Awaitable[None]] | None = None,
    ) -> Secret:
        """A new current version with `new_value`; `on_commit` runs in the same
        transaction (the rotation service queues notifications there)."""
        validation.secret_value(new_value, "newValue")

        async def write(secret: Secret, sealed: SealedValue | None, connection: BaseDBAsyncClient) -> dict[str, Any]:
            assert sealed is not None
            now = self._now()
            await self._store.write_version(
                connection, secret, self._store.allocate(secret), sealed, actor.user_id, now
            )
            self._store.mark_rotated(secret, now)
            if on_commit is not None:
                await on_commit(secret, connection)
            return {}

        return await self._write_new_version(
            workspace_id,
            secret_id,
            actor,
            AuditAction.ROTATED,
            value=lambda _secret: _ready(new_value),
            expected_version=expected_version,
            apply=write,
        )

    async def rollback(self, workspace_id: str, secret_id: UUID, to_version: int, actor: Actor) -> Secret:
        async def old_value(secret: Secret) -> str:
            if to_version == secret.current_version:
                raise BadUserInput("toVersion", f"version {to_version} is already the current version")
            row = await self._store.version(secret.id, to_version)
            if row is None or row.ciphertext is None:
                raise BadUserInput("toVersion", f"secret {secret_id} has no version {to_version}")
            return await self._reads.open_version(secret, row)

        async def write(secret: Secret, sealed: SealedValue | None, connection: BaseDBAsyncClient) -> dict[str, Any]:
            assert sealed is not None
            now = self._now()
            from_version = secret.current_version
            await self._store.write_version(
                connection, secret, self._store.allocate(secret), sealed, actor.user_id, now
            )
            # The restored value is as old as it was: the rotation clock is not reset.
            return {"from_version": from_version, "to_version": to_version}

        return await self._write_new_version(
            workspace_id, secret_id, actor, AuditAction.ROLLED_BACK, value=old_value, expected_version=None, apply=write
        )

    async def set_active(self, workspace_id: str, secret_id: UUID, active: bool, actor: Actor) -> Secret:
        action = AuditAction.RESTORED if active else AuditAction.DELETED
        async with self._audit.transaction() as connection:
            secret = await self._store.lock(connection, workspace_id, secret_id)
            secret.is_active = active
            secret.updated_at = self._now()
            secret.updated_by_user_id = actor.user_id
            await self._store.save(connection, secret, ["is_active", "updated_at", "updated_by_user_id"])
            await self._audit.append(
                AuditRecord(workspace_id, action, actor, secret.id, details={"name": secret.name}), connection
            )
        return secret

    async def destroy(self, workspace_id: str, secret_id: UUID, actor: Actor) -> None:
        """Erase every version's ciphertext and wrapped key; keep a tombstone.

        The tombstone keeps the id (audit events refer to it) and nothing else
        of the secret: name, usage, tags and metadata are cleared, and the
        name may be used again.

        Final on disk: on SQLite, secure_delete zeroes the old cells in the
        database file and a TRUNCATE checkpoint right after the commit empties
        the WAL, which still held the old pages; on PostgreSQL the old row
        version stays in the table until VACUUM, which is started at once
        (see the README, "Destroy", for what remains and why it is unreadable).
        """
        async with self._audit.transaction() as connection:
            secret = await self._store.lock(connection, workspace_id, secret_id)
            name = secret.name
            await self._store.erase(connection, secret, actor.user_id, self._now())
            await self._audit.append(
                AuditRecord(
                    workspace_id,
                    AuditAction.DESTROYED,
                    actor,
                    secret.id,
                    details={"name": name, "versions": secret.last_version},
                ),
                connection,
            )
        await self._store.scrub_after_destroy()

    # ---- helpers -----------------------------------------------------------

    async def _write_new_version(
        self,
        workspace_id: str,
        secret_id: UUID,
        actor: Actor,
        action: AuditAction,
        *,
        value: Callable[[Secret], Awaitable[str | None]],
        expected_version: int | None,
        apply: Callable[[Secret, SealedValue | None, BaseDBAsyncClient], Awaitable[dict[str, Any]]],
    ) -> Secret:
        """Seal outside the transaction, then lock, re-check and write; retry on a race."""
        for _attempt in range(WRITE_ATTEMPTS):
            secret = await self._reads.require(workspace_id, secret_id)
            if not secret.is_active:
                raise Conflict(f"secret {secret_id} is deleted; restore it first")
            if expected_version is not None and expected_version != secret.current_version:
                raise Conflict(
                    f"expectedVersion is {expected_version} but the current version is {secret.current_version}"
                )
            plaintext = await value(secret)
            sealed = None
            if plaintext is not None:
                backend = self._envelope.backends.for_write(secret.encryption_backend, "encryptionBackend")
                sealed = await self._envelope.seal(
                    plaintext,
                    backend=backend,
                    workspace_id=workspace_id,
                    secret_id=secret.id,
                    version=secret.last_version + 1,
                )
            async with self._audit.transaction() as connection:
                locked = await self._store.lock(connection, workspace_id, secret_id)
                if locked.last_version != secret.last_version or not locked.is_active:
                    continue  # someone wrote meanwhile: the sealed version number is stale
                details = await apply(locked, sealed, connection)
                locked.updated_at = self._now()
                locked.updated_by_user_id = actor.user_id
                await self._store.save(connection, locked)
                await self._audit.append(
                    AuditRecord(
                        workspace_id,
                        action,
                        actor,
                        locked.id,
                        details={"name": locked.name, "version": locked.current_version, **details},
                    ),
                    connection,
                )
                return locked
        raise Conflict(f"secret {secret_id} changed concurrently {WRITE_ATTEMPTS} times; try again")


async def _ready(value: T) -> T:
    return value
