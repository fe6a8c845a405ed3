"""The secret lifecycle's changes: create, change, rotate, roll back, delete,
restore and destroy (reads are in `secret_reads`).

Writes follow one pattern: read the secret, seal the new value *outside* any
transaction (a backend call may be slow or remote), then in one transaction
lock the row, check nothing moved, write the version and the audit event.
If another writer got there first the whole attempt is retried, so a slow
backend never holds a database lock.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID, uuid4

from tortoise.backends.base.client import BaseDBAsyncClient

from graphql_api.errors import BadUserInput, Conflict, NotFound
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
from graphql_api.services.secret_store import NewSecretRow, insert_statements
from graphql_api.sql import Sql
from models import AuditAction, RotationPolicy, Secret, SecretTag, SecretType, SecretVersion

logger = logging.getLogger("strongroom.secrets")

WRITE_ATTEMPTS = 3

T = TypeVar("T")


class SecretService(SecretReader):
    """Reads (SecretReader) plus every change to a secret."""

    def __init__(
        self,
        *,
        envelope: Envelope,
        audit: AuditLog,
        default_rotation_days: int,
        now: Callable[[], datetime],
        sql: Sql,
    ) -> None:
        super().__init__(envelope=envelope, audit=audit, now=now, sql=sql)
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
            found = await self._sql.read_one(
                'SELECT 1 FROM "secret" WHERE "workspace_id" = ? AND "name" = ?', [workspace_id, name]
            )
            return found is not None

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

    async def insert_secret(
        self,
        connection: BaseDBAsyncClient,
        *,
        secret_id: UUID,
        workspace_id: str,
        name: str,
        secret_type: SecretType,
        usage: str | None,
        tags: list[str],
        metadata: dict[str, Any],
        policy: RotationPolicy | None,
        sealed: SealedValue,
        actor: Actor,
    ) -> Secret:
        """Insert a new secret with its first version, inside `connection`'s transaction."""
        now = self._now()
        policy = policy or self._default_policy
        secret = await Secret.create(
            id=secret_id,
            workspace_id=workspace_id,
            name=name,
            secret_type=secret_type,
            usage=usage,
            tags=tags,
            metadata=metadata,
            rotation_policy=policy,
            last_rotated_at=None,
            rotation_due_at=due_date(policy, now),
            is_active=True,
            current_version=1,
            encryption_backend=sealed.backend,
            created_by_user_id=actor.user_id,
            updated_by_user_id=actor.user_id,
            created_at=now,
            updated_at=now,
            using_db=connection,
        )
        await self.write_version(secret, 1, sealed, actor, now, connection)
        await self._write_tags(secret, tags, connection)
        return secret

    async def append_version(
        self, secret: Secret, sealed: SealedValue, actor: Actor, connection: BaseDBAsyncClient
    ) -> None:
        """Make `sealed` the next, current version of a locked secret (a value change)."""
        now = self._now()
        await self.write_version(secret, self._allocate(secret), sealed, actor, now, connection)
        self.mark_rotated(secret, now)
        secret.updated_at = now
        secret.updated_by_user_id = actor.user_id
        await secret.save(using_db=connection)

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
                await self.write_version(secret, self._allocate(secret), sealed, actor, now, connection)
                self.mark_rotated(secret, now)
                changed.append("value")
            if usage is not None or changes.clear_usage:
                secret.usage = usage  # type: ignore[assignment]  # nullable column
                changed.append("usage")
            if tags is not None:
                secret.tags = tags
                await self._write_tags(secret, tags, connection, replace=True)
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
            await self.write_version(secret, self._allocate(secret), sealed, actor, now, connection)
            self.mark_rotated(secret, now)
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
            row = await SecretVersion.get_or_none(secret_id=secret.id, version=to_version)
            if row is None or row.ciphertext is None:
                raise BadUserInput("toVersion", f"secret {secret_id} has no version {to_version}")
            return await self.open_version(secret, row)

        async def write(secret: Secret, sealed: SealedValue | None, connection: BaseDBAsyncClient) -> dict[str, Any]:
            assert sealed is not None
            now = self._now()
            from_version = secret.current_version
            await self.write_version(secret, self._allocate(secret), sealed, actor, now, connection)
            # The restored value is as old as it was: the rotation clock is not reset.
            return {"from_version": from_version, "to_version": to_version}

        return await self._write_new_version(
            workspace_id, secret_id, actor, AuditAction.ROLLED_BACK, value=old_value, expected_version=None, apply=write
        )

    async def set_active(self, workspace_id: str, secret_id: UUID, active: bool, actor: Actor) -> Secret:
        action = AuditAction.RESTORED if active else AuditAction.DELETED
        async with self._audit.transaction() as connection:
            secret = await self.lock(workspace_id, secret_id, connection)
            secret.is_active = active
            secret.updated_at = self._now()
            secret.updated_by_user_id = actor.user_id
            await secret.save(using_db=connection, update_fields=["is_active", "updated_at", "updated_by_user_id"])
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
            secret = await self.lock(workspace_id, secret_id, connection)
            name = secret.name
            now = self._now()
            await (
                SecretVersion.filter(secret_id=secret.id).using_db(connection).update(ciphertext=None, wrapped_key=None)
            )
            await SecretTag.filter(secret_id=secret.id).using_db(connection).delete()
            await (
                Secret.filter(id=secret.id)
                .using_db(connection)
                .update(
                    name=None,
                    usage=None,
                    tags=[],
                    metadata={},
                    is_active=False,
                    rotation_due_at=None,
                    destroyed_at=now,
                    updated_at=now,
                    updated_by_user_id=actor.user_id,
                )
            )
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
        await self._scrub_after_destroy()

    async def _scrub_after_destroy(self) -> None:
        if self._sql.dialect.name == "sqlite":
            for _attempt in range(20):
                row = await self._sql.fetchone("PRAGMA wal_checkpoint(TRUNCATE)")
                if row is not None and int(row[0]) == 0:
                    return
                await asyncio.sleep(0.05)  # a reader held the WAL; try again
            logger.warning("the WAL could not be truncated after a destroy; it will be at the next checkpoint")
            return
        try:
            await self._sql.execute('VACUUM "secret_version"')
        except Exception as exc:  # autovacuum will do it; the destroy itself is committed
            logger.warning("VACUUM after a destroy failed: %s", type(exc).__name__)

    # ---- helpers -----------------------------------------------------------

    async def lock(self, workspace_id: str, secret_id: UUID, connection: BaseDBAsyncClient) -> Secret:
        secret = (
            await Secret.select_for_update()
            .using_db(connection)
            .get_or_none(id=secret_id, workspace_id=workspace_id, destroyed_at=None)
        )
        if secret is None:
            raise NotFound(f"secret {secret_id} not found in workspace {workspace_id!r}")
        return secret

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
            secret = await self.require(workspace_id, secret_id)
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
                locked = await self.lock(workspace_id, secret_id, connection)
                if locked.last_version != secret.last_version or not locked.is_active:
                    continue  # someone wrote meanwhile: the sealed version number is stale
                details = await apply(locked, sealed, connection)
                locked.updated_at = self._now()
                locked.updated_by_user_id = actor.user_id
                await locked.save(using_db=connection)
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

    async def write_version(
        self,
        secret: Secret,
        version: int,
        sealed: SealedValue,
        actor: Actor,
        now: datetime,
        connection: BaseDBAsyncClient,
    ) -> None:
        await SecretVersion.create(
            secret_id=secret.id,
            version=version,
            ciphertext=sealed.ciphertext,
            wrapped_key=sealed.wrapped_key,
            backend=sealed.backend,
            key_id=sealed.key_id,
            created_at=now,
            created_by_user_id=actor.user_id,
            using_db=connection,
        )

    async def _write_tags(
        self, secret: Secret, tags: Sequence[str], connection: BaseDBAsyncClient, replace: bool = False
    ) -> None:
        if replace:
            await SecretTag.filter(secret_id=secret.id).using_db(connection).delete()
        if tags:
            await SecretTag.bulk_create(
                [SecretTag(secret_id=secret.id, workspace_id=secret.workspace_id, tag=tag) for tag in tags],
                using_db=connection,
            )

    @staticmethod
    def _allocate(secret: Secret) -> int:
        """The next version number, made current (a PENDING version is not)."""
        secret.last_version += 1
        secret.current_version = secret.last_version
        return secret.current_version

    def mark_rotated(self, secret: Secret, now: datetime) -> None:
        secret.last_rotated_at = now
        secret.rotation_due_at = due_date(secret.rotation_policy, now)
        secret.rotation_notified_at = None


async def _ready(value: T) -> T:
    return value
