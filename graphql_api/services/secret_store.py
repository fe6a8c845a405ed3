"""Secret persistence: the one home of every write to the secret tables
(`secret`, `secret_version`, `secret_tag`), always inside the caller's
transaction. The secret, rotation and import services decide; this module
writes.

`SecretStore` has two kinds of method, for one concern (the rows of a
secret) at two sizes:

- Single-row writes (`lock`, `write_version`, `write_tags`, `save`, `erase`,
  version states, the scheduler's claims, the clean-up after a destroy, and
  the few reads they are checked against: a taken name, an old version, the
  due secrets) work on the ORM's `Secret`, because the services decide on a
  locked row's fields and save it; one secret per transaction, so the ORM's
  cost does not matter.
- Bulk writes (`insert_many`, `lock_many`, `append_versions`) are raw SQL.
  Why: importing a 10,000-line `.env` one ORM insert at a time held SQLite's
  only writer for seconds (every other tenant's audited read waited behind
  it) and cost a round trip per row. Here a batch of new secrets is three
  `executemany` (secrets, first versions, tags) and a batch of new versions
  two, inside the caller's short transaction; every value was sealed before
  it was opened. The ORM models stay the schema's definition; these
  statements write the same columns.

`KeyStore` is the data keys as key rotation reads and rewrites them.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple
from uuid import UUID

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.functions import Count

from graphql_api.errors import NotFound
from graphql_api.services.envelope import SealedValue
from graphql_api.services.secret_inputs import due_date
from graphql_api.sql import Dialect, Sql, dialect_of_connection, execute_rows
from models import RotationPolicy, Secret, SecretTag, SecretType, SecretVersion, VersionState

# Its messages are those of the secret service (the README's logger table).
logger = logging.getLogger("strongroom.secrets")

# SQLite allows 32,766 bound variables per statement; stay well below.
IN_CHUNK = 500

_INSERT_SECRET = (
    'INSERT INTO "secret" ("id", "workspace_id", "name", "secret_type", "usage", "tags", "metadata",'
    ' "rotation_policy", "last_rotated_at", "rotation_due_at", "rotation_notified_at", "is_active",'
    ' "current_version", "last_version", "pending_version", "encryption_backend", "created_by_user_id",'
    ' "updated_by_user_id", "created_at", "updated_at", "destroyed_at")'
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, NULL, ?, 1, 1, NULL, ?, ?, ?, ?, ?, NULL)"
)
_INSERT_VERSION = (
    'INSERT INTO "secret_version" ("secret_id", "version", "ciphertext", "wrapped_key", "backend", "key_id",'
    ' "state", "created_at", "created_by_user_id") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)'
)
_INSERT_TAG = 'INSERT INTO "secret_tag" ("secret_id", "workspace_id", "tag") VALUES (?, ?, ?)'
_NEW_CURRENT = (
    'UPDATE "secret" SET "current_version" = ?, "last_version" = ?, "last_rotated_at" = ?, "rotation_due_at" = ?,'
    ' "rotation_notified_at" = NULL, "updated_at" = ?, "updated_by_user_id" = ? WHERE "id" = ?'
)


@dataclass(frozen=True)
class ExistingSecret:
    id: UUID
    name: str
    is_active: bool
    current_version: int
    last_version: int
    encryption_backend: str
    rotation_policy: RotationPolicy
    secret_type: SecretType


@dataclass(frozen=True)
class NewSecretRow:
    id: UUID
    workspace_id: str
    name: str
    secret_type: SecretType
    rotation_policy: RotationPolicy
    rotation_due_at: datetime | None
    sealed: SealedValue = field(repr=False)
    usage: str | None = None
    tags: Sequence[str] = ()
    metadata: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class NewVersionRow:
    secret_id: UUID
    version: int
    sealed: SealedValue = field(repr=False)
    rotation_due_at: datetime | None = None


def insert_statements(
    rows: Sequence[NewSecretRow], actor_id: UUID | None, now: datetime, dialect: Dialect
) -> list[tuple[str, list[list[Any]]]]:
    """The statements (with their rows of values) that insert new secrets,
    their first versions and their tags: for a transaction of the caller's
    or for a group commit."""
    actor = dialect.uuid_param(actor_id)
    at = dialect.datetime_param(now)
    secrets = [
        [
            dialect.uuid_param(r.id),
            r.workspace_id,
            r.name,
            r.secret_type.value,
            r.usage,
            dialect.json_param(json.dumps(list(r.tags))),
            dialect.json_param(json.dumps(r.metadata)),
            r.rotation_policy.value,
            dialect.datetime_param(r.rotation_due_at),
            dialect.bool_param(True),
            r.sealed.backend,
            actor,
            actor,
            at,
            at,
        ]
        for r in rows
    ]
    statements = [
        (_INSERT_SECRET, secrets),
        (_INSERT_VERSION, version_values([(r.id, 1, r.sealed) for r in rows], actor_id, now, dialect)),
    ]
    tags = [[dialect.uuid_param(r.id), r.workspace_id, tag] for r in rows for tag in r.tags]
    if tags:
        statements.append((_INSERT_TAG, tags))
    return statements


def version_values(
    rows: Sequence[tuple[UUID, int, SealedValue]], actor_id: UUID | None, now: datetime, dialect: Dialect
) -> list[list[Any]]:
    return [
        [
            dialect.uuid_param(secret_id),
            version,
            sealed.ciphertext,
            sealed.wrapped_key,
            sealed.backend,
            sealed.key_id,
            VersionState.ACTIVE.value,
            dialect.datetime_param(now),
            dialect.uuid_param(actor_id),
        ]
        for secret_id, version, sealed in rows
    ]


class SecretStore:
    """Writes to a secret's rows, in the caller's transaction (`connection`)."""

    def __init__(self, sql: Sql) -> None:
        self._sql = sql

    # ---- one secret, in a transaction ----------------------------------------

    async def lock(self, connection: BaseDBAsyncClient, workspace_id: str, secret_id: UUID) -> Secret:
        """The secret's row, locked for the rest of the transaction (NotFound
        when it is not in the workspace or was destroyed)."""
        secret = (
            await Secret.select_for_update()
            .using_db(connection)
            .get_or_none(id=secret_id, workspace_id=workspace_id, destroyed_at=None)
        )
        if secret is None:
            raise NotFound(f"secret {secret_id} not found in workspace {workspace_id!r}")
        return secret

    @staticmethod
    def allocate(secret: Secret) -> int:
        """The next version number of a locked secret, made current (a PENDING
        version is not)."""
        secret.last_version += 1
        secret.current_version = secret.last_version
        return secret.current_version

    @staticmethod
    def mark_rotated(secret: Secret, now: datetime) -> None:
        """A new value became current at `now`: the rotation clock restarts."""
        secret.last_rotated_at = now
        secret.rotation_due_at = due_date(secret.rotation_policy, now)
        secret.rotation_notified_at = None

    async def write_version(
        self,
        connection: BaseDBAsyncClient,
        secret: Secret,
        version: int,
        sealed: SealedValue,
        actor_id: UUID | None,
        now: datetime,
        state: VersionState = VersionState.ACTIVE,
    ) -> None:
        await SecretVersion.create(
            secret_id=secret.id,
            version=version,
            ciphertext=sealed.ciphertext,
            wrapped_key=sealed.wrapped_key,
            backend=sealed.backend,
            key_id=sealed.key_id,
            state=state,
            created_at=now,
            created_by_user_id=actor_id,
            using_db=connection,
        )

    async def set_version_state(
        self, connection: BaseDBAsyncClient, secret_id: UUID, version: int, state: VersionState
    ) -> None:
        await SecretVersion.filter(secret_id=secret_id, version=version).using_db(connection).update(state=state)

    async def write_tags(
        self, connection: BaseDBAsyncClient, secret: Secret, tags: Sequence[str], *, replace: bool = False
    ) -> None:
        """The secret's tag rows (the lookup table tag filters use)."""
        if replace:
            await SecretTag.filter(secret_id=secret.id).using_db(connection).delete()
        if tags:
            await SecretTag.bulk_create(
                [SecretTag(secret_id=secret.id, workspace_id=secret.workspace_id, tag=tag) for tag in tags],
                using_db=connection,
            )

    async def save(self, connection: BaseDBAsyncClient, secret: Secret, fields: Sequence[str] | None = None) -> None:
        """Write a locked secret's changed fields (all when `fields` is None)."""
        await secret.save(using_db=connection, update_fields=list(fields) if fields is not None else None)

    async def erase(self, connection: BaseDBAsyncClient, secret: Secret, actor_id: UUID | None, now: datetime) -> None:
        """Destroy: every version's ciphertext and wrapped key, the tags, and
        the secret's name and metadata; the row stays as a tombstone."""
        await SecretVersion.filter(secret_id=secret.id).using_db(connection).update(ciphertext=None, wrapped_key=None)
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
                updated_by_user_id=actor_id,
            )
        )

    async def name_taken(self, workspace_id: str, name: str) -> bool:
        """Whether a secret (active or deleted, not destroyed) has this name."""
        found = await self._sql.read_one(
            'SELECT 1 FROM "secret" WHERE "workspace_id" = ? AND "name" = ?', [workspace_id, name]
        )
        return found is not None

    async def scrub_after_destroy(self) -> None:
        """Make a committed destroy final on disk (SecretService.destroy says how)."""
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

    async def version(self, secret_id: UUID, number: int) -> SecretVersion | None:
        return await SecretVersion.get_or_none(secret_id=secret_id, version=number)

    # ---- rotation's schedule -------------------------------------------------

    async def due(self, now: datetime, limit: int) -> list[Secret]:
        """Active secrets due by `now`, not yet claimed this cycle, with no
        rotation in progress; the most overdue first."""
        return (
            await Secret.filter(
                is_active=True,
                destroyed_at=None,
                rotation_due_at__lte=now,
                rotation_notified_at=None,
                pending_version=None,
            )
            .order_by("rotation_due_at")
            .limit(limit)
        )

    async def claim_due(
        self, connection: BaseDBAsyncClient, secret_id: UUID, now: datetime, *, due_by: datetime | None = None
    ) -> bool:
        """Claim this due cycle of the secret (a conditional update, so one
        replica wins); with `due_by`, only while it is still due by then."""
        query = Secret.filter(id=secret_id, rotation_notified_at=None)
        if due_by is not None:
            query = query.filter(rotation_due_at__lte=due_by)
        return bool(await query.using_db(connection).update(rotation_notified_at=now))

    async def due_counts(self, now: datetime) -> dict[str, int]:
        """Active secrets past their due date, per workspace."""
        rows = (
            await Secret.filter(is_active=True, destroyed_at=None, rotation_due_at__lte=now)
            .annotate(n=Count("id"))
            .group_by("workspace_id")
            .values("workspace_id", "n")
        )
        return {str(row["workspace_id"]): int(row["n"]) for row in rows}

    # ---- many secrets, in a few statements -----------------------------------

    async def by_names(self, workspace_id: str, names: Sequence[str]) -> dict[str, ExistingSecret]:
        """Secrets (active or deleted, not destroyed) of `workspace_id` with these names."""
        found: dict[str, ExistingSecret] = {}
        dialect = self._sql.dialect
        for start in range(0, len(names), IN_CHUNK):
            chunk = list(names[start : start + IN_CHUNK])
            marks = ", ".join("?" for _ in chunk)
            rows = await self._sql.fetch(
                'SELECT "id", "name", "is_active", "current_version", "last_version", "encryption_backend",'
                f' "rotation_policy", "secret_type" FROM "secret" WHERE "workspace_id" = ? AND "destroyed_at" IS NULL AND "name" IN ({marks})',
                [workspace_id, *chunk],
            )
            for row in rows:
                secret_id = dialect.uuid(row[0])
                assert secret_id is not None
                found[str(row[1])] = ExistingSecret(
                    id=secret_id,
                    name=str(row[1]),
                    is_active=dialect.boolean(row[2]),
                    current_version=int(row[3]),
                    last_version=int(row[4]),
                    encryption_backend=str(row[5]),
                    rotation_policy=RotationPolicy(row[6]),
                    secret_type=SecretType(row[7]),
                )
        return found

    async def insert_many(
        self, connection: BaseDBAsyncClient, rows: Sequence[NewSecretRow], actor_id: UUID | None, now: datetime
    ) -> None:
        """New secrets with their first versions and tags."""
        if not rows:
            return
        dialect = dialect_of_connection(connection)
        for statement, values in insert_statements(rows, actor_id, now, dialect):
            await execute_rows(connection, statement, values)

    async def lock_many(self, connection: BaseDBAsyncClient, ids: Sequence[UUID]) -> dict[UUID, tuple[int, bool]]:
        """(last_version, is_active) of each secret, locked for the transaction."""
        dialect = dialect_of_connection(connection)
        lock = " FOR UPDATE" if dialect.name == "postgres" else ""
        found: dict[UUID, tuple[int, bool]] = {}
        for start in range(0, len(ids), IN_CHUNK):
            chunk = list(ids[start : start + IN_CHUNK])
            marks = ", ".join("?" for _ in chunk)
            _count, rows = await connection.execute_query(
                dialect.statement(
                    f'SELECT "id", "last_version", "is_active" FROM "secret" WHERE "id" IN ({marks})'
                    f' AND "destroyed_at" IS NULL{lock}'
                ),
                [dialect.uuid_param(i) for i in chunk],
            )
            for row in rows:
                secret_id = dialect.uuid(row[0])
                assert secret_id is not None
                found[secret_id] = (int(row[1]), dialect.boolean(row[2]))
        return found

    async def append_versions(
        self, connection: BaseDBAsyncClient, rows: Sequence[NewVersionRow], actor_id: UUID | None, now: datetime
    ) -> None:
        """Each row's version becomes its secret's current one (a value change:
        the rotation clock restarts)."""
        if not rows:
            return
        dialect = dialect_of_connection(connection)
        await self._insert_versions(connection, rows, actor_id, now)
        await connection.execute_many(
            dialect.statement(_NEW_CURRENT),
            [
                [
                    r.version,
                    r.version,
                    dialect.datetime_param(now),
                    dialect.datetime_param(r.rotation_due_at),
                    dialect.datetime_param(now),
                    dialect.uuid_param(actor_id),
                    dialect.uuid_param(r.secret_id),
                ]
                for r in rows
            ],
        )

    async def _insert_versions(
        self, connection: BaseDBAsyncClient, rows: Sequence[NewVersionRow], actor_id: UUID | None, now: datetime
    ) -> None:
        dialect = dialect_of_connection(connection)
        await connection.execute_many(
            dialect.statement(_INSERT_VERSION),
            version_values([(r.secret_id, r.version, r.sealed) for r in rows], actor_id, now, dialect),
        )


class WrappedVersion(NamedTuple):
    """A version's data key as wrapped, for key rotation (never its value).

    A named tuple, not a frozen dataclass: a rotation makes one per version,
    and a frozen dataclass's field-by-field __init__ showed in its profile."""

    id: int
    version: int
    secret_id: UUID
    workspace_id: str
    secret_backend: str
    wrapped_key: bytes
    backend: str
    key_id: str

    def __repr__(self) -> str:  # without the wrapped key
        return f"<WrappedVersion {self.secret_id} v{self.version} {self.backend}:{self.key_id}>"


_PENDING_REWRAP = (
    'SELECT v."id", v."version", s."id", s."workspace_id", s."encryption_backend", v."wrapped_key", v."backend", v."key_id"'
    ' FROM "secret_version" v JOIN "secret" s ON s."id" = v."secret_id"'
    ' WHERE v."ciphertext" IS NOT NULL AND NOT (v."backend" = ? AND v."key_id" = ?) AND v."id" > ?'
    ' ORDER BY v."id" LIMIT ?'
)


class KeyStore:
    """Data keys as key rotation reads and rewrites them, a batch at a time."""

    def __init__(self, sql: Sql) -> None:
        self._sql = sql

    async def pending(self, target_backend: str, target_key_id: str, after_id: int, limit: int) -> list[WrappedVersion]:
        dialect = self._sql.dialect
        rows = await self._sql.fetch(_PENDING_REWRAP, [target_backend, target_key_id, after_id, limit])
        found = []
        for row in rows:
            secret_id = dialect.uuid(row[2])
            assert secret_id is not None
            found.append(
                WrappedVersion(
                    id=int(row[0]),
                    version=int(row[1]),
                    secret_id=secret_id,
                    workspace_id=str(row[3]),
                    secret_backend=str(row[4]),
                    wrapped_key=bytes(row[5]),
                    backend=str(row[6]),
                    key_id=str(row[7]),
                )
            )
        return found

    async def count_pending(self, target_backend: str, target_key_id: str) -> int:
        row = await self._sql.fetchone(
            'SELECT COUNT(*) FROM "secret_version" WHERE "ciphertext" IS NOT NULL AND NOT ("backend" = ? AND "key_id" = ?)',
            [target_backend, target_key_id],
        )
        return int(row[0]) if row else 0

    async def rewrite(
        self,
        connection: BaseDBAsyncClient,
        rewrapped: Sequence[tuple[WrappedVersion, bytes, str]],
        target_backend: str,
    ) -> int:
        """Store the new wrapped keys (only where the row still holds what was
        read: a concurrent write or destroy wins); returns how many changed."""
        if not rewrapped:
            return 0
        dialect = dialect_of_connection(connection)
        if dialect.name == "postgres":
            values = ", ".join(
                f"(${4 * i + 1}::bigint, ${4 * i + 2}::bytea, ${4 * i + 3}::varchar, ${4 * i + 4}::varchar)"
                for i in range(len(rewrapped))
            )
            params: list[object] = []
            for old, wrapped, key_id in rewrapped:
                params += [old.id, wrapped, old.key_id, key_id]
            count, _rows = await connection.execute_query(
                f'UPDATE "secret_version" AS v SET "wrapped_key" = u.w, "backend" = ${len(params) + 1}, "key_id" = u.k'
                f" FROM (VALUES {values}) AS u(id, w, old_key, k)"
                f' WHERE v."id" = u.id AND v."key_id" = u.old_key AND v."ciphertext" IS NOT NULL'
                f' AND v."backend" = ANY(${len(params) + 2})',
                [*params, target_backend, sorted({old.backend for old, _w, _k in rewrapped})],
            )
            return int(count)
        # One executemany; SQLite's total_changes() before and after counts it
        # (the transaction holds the connection, so nothing else is counted).
        _n, before = await connection.execute_query("SELECT total_changes()", [])
        await connection.execute_many(
            'UPDATE "secret_version" SET "wrapped_key" = ?, "backend" = ?, "key_id" = ?'
            ' WHERE "id" = ? AND "backend" = ? AND "key_id" = ? AND "ciphertext" IS NOT NULL',
            [[wrapped, target_backend, key_id, old.id, old.backend, old.key_id] for old, wrapped, key_id in rewrapped],
        )
        _n, after = await connection.execute_query("SELECT total_changes()", [])
        return int(after[0][0]) - int(before[0][0])
