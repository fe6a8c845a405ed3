"""Reading secrets: lookups, pages, versions, due dates and audited values.

Value reads are fail-closed: the ACCESSED event is committed (group commit)
before the value is returned; if it cannot be, the caller gets
AUDIT_UNAVAILABLE and no value. A read that fails after authorization is
recorded too, with success false.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple
from uuid import UUID

from tortoise.expressions import Subquery
from tortoise.queryset import QuerySet

from graphql_api.errors import AuditUnavailable, BadUserInput, NotFound, StrongroomError
from graphql_api.services import validation
from graphql_api.services.audit import Actor, AuditLog, AuditRecord
from graphql_api.services.envelope import Envelope
from graphql_api.services.read_cache import ReadCache
from graphql_api.services.secret_inputs import RevealedValue, SecretFilter, SecretPage, decode_cursor
from graphql_api.sql import Dialect, Sql
from models import AuditAction, Secret, SecretTag, SecretVersion

logger = logging.getLogger("strongroom.secrets")

MAX_PAGE_SIZE = 500
MAX_DAYS_AHEAD = 3650


_VERSION_FOR_VALUE = (
    'SELECT s."name", s."is_active", s."current_version",'
    ' v."version", v."ciphertext", v."wrapped_key", v."backend", v."key_id"'
    ' FROM "secret" s LEFT JOIN "secret_version" v ON v."secret_id" = s."id"'
    ' AND v."version" = COALESCE(?, s."current_version")'
    ' WHERE s."id" = ? AND s."workspace_id" = ? AND s."destroyed_at" IS NULL'
)


class LoadedVersion(NamedTuple):
    """A secret's row and one of its versions, as a value read needs them (a
    tuple: a bulk read makes hundreds)."""

    name: str | None
    is_active: bool
    current_version: int
    version: int | None
    ciphertext: bytes | None
    wrapped_key: bytes | None
    backend: str | None
    key_id: str | None

    def __repr__(self) -> str:  # without the ciphertext and the wrapped key
        return f"LoadedVersion(name={self.name!r}, version={self.version}, backend={self.backend!r}, key_id={self.key_id!r})"

    @classmethod
    def from_row(cls, row: Sequence[Any], dialect: Dialect, offset: int = 0) -> LoadedVersion:
        r = row[offset : offset + 8]
        return cls(
            name=r[0],
            is_active=dialect.boolean(r[1]),
            current_version=int(r[2]),
            version=None if r[3] is None else int(r[3]),
            ciphertext=None if r[4] is None else bytes(r[4]),
            wrapped_key=None if r[5] is None else bytes(r[5]),
            backend=r[6],
            key_id=r[7],
        )


class _MissingNames(NotFound):
    def __init__(self, workspace_id: str, names: list[str]) -> None:
        super().__init__(f"no active secret named {', '.join(names)} in workspace {workspace_id!r}")
        self.names = names


class SecretReader:
    """Every read of secrets (the secret service's writes read through it too)."""

    def __init__(self, *, envelope: Envelope, audit: AuditLog, now: Callable[[], datetime], sql: Sql) -> None:
        self._envelope = envelope
        self._audit = audit
        self._now = now
        self._sql = sql
        # Set on PostgreSQL (graphql_api.services.read_cache): versions read before.
        self.cache: ReadCache | None = None

    async def get(self, workspace_id: str, secret_id: UUID) -> Secret | None:
        return await Secret.get_or_none(id=secret_id, workspace_id=workspace_id, destroyed_at=None)

    async def by_ids(self, workspace_id: str, secret_ids: Sequence[UUID]) -> list[Secret]:
        rows: list[Secret] = []
        for start in range(0, len(secret_ids), 500):
            chunk = list(secret_ids[start : start + 500])
            rows += await Secret.filter(id__in=chunk, workspace_id=workspace_id, destroyed_at=None)
        order = {secret_id: index for index, secret_id in enumerate(secret_ids)}
        return sorted(rows, key=lambda row: order.get(row.id, 0))

    async def exists(self, workspace_id: str, secret_id: UUID) -> bool:
        return await Secret.exists(id=secret_id, workspace_id=workspace_id, destroyed_at=None)

    async def view(self, workspace_id: str, secret_id: UUID, actor: Actor) -> Secret | None:
        """A secret's metadata, recorded as browsing (VIEWED), not as a value read."""
        secret = await self.get(workspace_id, secret_id)
        await self._record_view(workspace_id, secret_id if secret else None, actor, secret.name if secret else None)
        return secret

    async def view_by_name(self, workspace_id: str, name: str, actor: Actor) -> Secret | None:
        validation.secret_name(name, "name")
        secret = await Secret.get_or_none(workspace_id=workspace_id, name=name, destroyed_at=None)
        await self._record_view(
            workspace_id, secret.id if secret else None, actor, name if secret else None, found=secret is not None
        )
        return secret

    async def record_versions_viewed(self, secrets: Sequence[tuple[str, UUID]], actor: Actor) -> None:
        await self._audit.record(
            [
                AuditRecord(workspace_id, AuditAction.VIEWED, actor, secret_id, details={"versions": True})
                for workspace_id, secret_id in secrets
            ]
        )

    async def _record_view(
        self, workspace_id: str, secret_id: UUID | None, actor: Actor, name: str | None, found: bool = True
    ) -> None:
        details: dict[str, object] = {"name": name} if name else {}
        await self._audit.record(
            [
                AuditRecord(
                    workspace_id,
                    AuditAction.VIEWED,
                    actor,
                    secret_id,
                    success=found and secret_id is not None,
                    details=details,
                )
            ]
        )

    async def require(self, workspace_id: str, secret_id: UUID) -> Secret:
        secret = await self.get(workspace_id, secret_id)
        if secret is None:
            raise NotFound(f"secret {secret_id} not found in workspace {workspace_id!r}")
        return secret

    async def page(
        self, workspace_id: str, *, first: int, after: str | None, filter: SecretFilter, actor: Actor
    ) -> SecretPage:
        """One keyset page, ordered by name; the total is counted only when
        asked for (`count`), from the maintained per-workspace count when no
        filter narrows it."""
        if not 1 <= first <= MAX_PAGE_SIZE:
            raise BadUserInput("first", f"must be between 1 and {MAX_PAGE_SIZE}")
        query = self._filtered(workspace_id, filter)
        if after is not None:
            query = query.filter(name__gt=decode_cursor(after))
        rows = await query.order_by("name").limit(first + 1)
        page = SecretPage(
            secrets=rows[:first], has_next_page=len(rows) > first, workspace_id=workspace_id, filter=filter
        )
        await self._audit.record(
            [AuditRecord(workspace_id, AuditAction.LISTED, actor, details={"returned": len(page.secrets)})]
        )
        return page

    def _filtered(self, workspace_id: str, filter: SecretFilter) -> QuerySet[Secret]:
        query = Secret.filter(workspace_id=workspace_id, destroyed_at=None)
        if not filter.include_inactive:
            query = query.filter(is_active=True)
        if filter.secret_type is not None:
            query = query.filter(secret_type=filter.secret_type)
        if filter.name_contains:
            query = query.filter(name__icontains=filter.name_contains)
        for tag in validation.tags(filter.tags, "filter.tags"):
            tagged = SecretTag.filter(workspace_id=workspace_id, tag=tag).values("secret_id")
            query = query.filter(id__in=Subquery(tagged))
        return query

    async def count(self, workspace_id: str, filter: SecretFilter) -> int:
        """How many secrets a listing with `filter` holds in all."""
        if filter.secret_type is None and not filter.name_contains and not filter.tags:
            row = await self._sql.read_one(
                'SELECT "active", "inactive" FROM "secret_count" WHERE "workspace_id" = ?', [workspace_id]
            )
            if row is None:
                return 0
            return int(row[0]) + (int(row[1]) if filter.include_inactive else 0)
        return await self._filtered(workspace_id, filter).count()

    async def versions(self, secret_ids: Sequence[UUID]) -> dict[UUID, list[SecretVersion]]:
        grouped: dict[UUID, list[SecretVersion]] = {secret_id: [] for secret_id in secret_ids}
        rows = await SecretVersion.filter(secret_id__in=list(secret_ids)).order_by("secret_id", "version")
        for row in rows:
            grouped[row.secret_id].append(row)
        return grouped

    async def rotation_due(self, workspace_id: str, days_ahead: int, actor: Actor) -> list[Secret]:
        if not 0 <= days_ahead <= MAX_DAYS_AHEAD:
            raise BadUserInput("daysAhead", f"must be between 0 and {MAX_DAYS_AHEAD}")
        horizon = self._now() + timedelta(days=days_ahead)
        rows = await Secret.filter(
            workspace_id=workspace_id, destroyed_at=None, is_active=True, rotation_due_at__lte=horizon
        ).order_by("rotation_due_at", "name")
        await self._audit.record(
            [
                AuditRecord(
                    workspace_id,
                    AuditAction.LISTED,
                    actor,
                    details={"view": "rotationDue", "days_ahead": days_ahead, "returned": len(rows)},
                )
            ]
        )
        return rows

    async def reveal(self, workspace_id: str, secret_id: UUID, version: int | None, actor: Actor) -> RevealedValue:
        """One value, returned only once its ACCESSED event has committed.

        A read that fails after authorization is recorded too (success false).
        """
        loaded = await self.load_version(workspace_id, secret_id, version)
        return await self.reveal_loaded(workspace_id, secret_id, version, actor, loaded)

    async def load_version(self, workspace_id: str, secret_id: UUID, version: int | None) -> LoadedVersion | None:
        """The secret and one version (None: the current one) as a value read
        needs them; None when there is no such secret in the workspace."""
        cache = self.cache
        if cache is not None:
            cached = cache.version(secret_id, version)
            if isinstance(cached, tuple) and cached[0] == workspace_id:
                return cached[1]
        ticket = cache.ticket() if cache is not None else None
        row = await self._sql.read_one(
            _VERSION_FOR_VALUE, [version, self._sql.dialect.uuid_param(secret_id), workspace_id]
        )
        loaded = LoadedVersion.from_row(row, self._sql.dialect) if row else None
        if cache is not None and ticket is not None and loaded is not None:
            cache.keep_version(ticket, secret_id, version, (workspace_id, loaded))
        return loaded

    async def reveal_loaded(
        self, workspace_id: str, secret_id: UUID, version: int | None, actor: Actor, loaded: LoadedVersion | None
    ) -> RevealedValue:
        """`reveal` with the secret and version already read (`loaded`: None
        when no such secret; its version fields None when no such version)."""
        try:
            if loaded is None:
                raise NotFound(f"secret {secret_id} not found in workspace {workspace_id!r}")
            if not loaded.is_active:
                raise NotFound(f"secret {secret_id} is deleted; restore it to read its value")
            number = loaded.current_version if version is None else version
            if loaded.version is None or loaded.ciphertext is None or loaded.wrapped_key is None:
                raise NotFound(f"version {number} of secret {secret_id} does not exist")
            try:
                value = await self._open(workspace_id, secret_id, loaded)
            except StrongroomError:
                # A version that cannot be opened is not kept: the row may
                # have been mended (by hand, say) before its notification
                # reaches this replica, and the next read should see it.
                if self.cache is not None:
                    self.cache.forget_secret(secret_id)
                raise
        except StrongroomError as exc:
            await self._record_failed_read(workspace_id, secret_id, version, actor, exc)
            raise
        await self._audit.record(
            [
                AuditRecord(
                    workspace_id,
                    AuditAction.ACCESSED,
                    actor,
                    secret_id,
                    details={"name": loaded.name, "version": number},
                )
            ]
        )
        return RevealedValue(secret_id, loaded.name or "", number, value)

    async def current_values(self, workspace_id: str, secret_ids: Sequence[UUID]) -> dict[UUID, str]:
        """Current values of these secrets, for comparison inside the server
        (import's "unchanged", digests); not audited as reads by themselves:
        the caller records what it does with them."""
        dialect = self._sql.dialect
        params = [dialect.uuid_param(i) for i in secret_ids]
        rows = await self._current_rows(workspace_id, 's."id"', params, active_only=False)
        return {secret_id: await self._open(workspace_id, secret_id, loaded) for secret_id, loaded in rows}

    async def _current_rows(
        self, workspace_id: str, column: str, keys: Sequence[object] | None, *, active_only: bool
    ) -> list[tuple[UUID, LoadedVersion]]:
        """Secrets with their current versions in one query per 500 keys
        (`column` IN keys; every secret of the workspace when keys is None),
        ordered by name."""
        dialect = self._sql.dialect
        chunks: list[list[object]] = (
            [[]] if keys is None else [list(keys[start : start + 500]) for start in range(0, len(keys), 500)]
        )
        found: list[tuple[UUID, LoadedVersion]] = []
        for chunk in chunks:
            where = 's."workspace_id" = ? AND s."destroyed_at" IS NULL'
            if active_only:
                where += ' AND s."is_active" = ?'
            if keys is not None:
                if not chunk:
                    continue
                where += f" AND {column} IN ({', '.join('?' for _ in chunk)})"
            params: list[object] = [workspace_id, *([dialect.bool_param(True)] if active_only else []), *chunk]
            rows = await self._sql.read(
                'SELECT s."id", s."name", s."is_active", s."current_version", v."version", v."ciphertext",'
                ' v."wrapped_key", v."backend", v."key_id" FROM "secret" s JOIN "secret_version" v'
                f' ON v."secret_id" = s."id" AND v."version" = s."current_version" WHERE {where}',
                params,
            )
            for row in rows:
                secret_id = dialect.uuid(row[0])
                assert secret_id is not None
                found.append((secret_id, LoadedVersion.from_row(row, dialect, offset=1)))
        found.sort(key=lambda item: item[1].name or "")
        return found

    async def _open(self, workspace_id: str, secret_id: UUID, loaded: LoadedVersion) -> str:
        # Callers have checked (or their inner join guarantees) the version's columns.
        assert loaded.ciphertext is not None and loaded.wrapped_key is not None and loaded.version is not None
        return await self._envelope.open(
            ciphertext=loaded.ciphertext,
            wrapped_key=loaded.wrapped_key,
            backend_name=loaded.backend or "",
            key_id=loaded.key_id or "",
            workspace_id=workspace_id,
            secret_id=secret_id,
            version=loaded.version,
        )

    async def digests(
        self, workspace_id: str, names: Sequence[str] | None, actor: Actor, digest: Callable[[str], str]
    ) -> list[tuple[UUID, str, int, str]]:
        """Keyed digests of active secrets' current values: (id, name, version,
        digest), comparable across workspaces of this server, recorded as
        COMPARED (a value was used, never revealed)."""
        query = Secret.filter(workspace_id=workspace_id, destroyed_at=None, is_active=True)
        if names is not None:
            wanted = list(dict.fromkeys(validation.secret_name(n, f"names[{i}]") for i, n in enumerate(names)))
            query = query.filter(name__in=wanted)
        secrets = await query.order_by("name").only("id", "name", "current_version")
        values = await self.current_values(workspace_id, [s.id for s in secrets])
        found = [(s.id, s.name or "", s.current_version, digest(values[s.id])) for s in secrets if s.id in values]
        await self._audit.record(
            [
                AuditRecord(
                    workspace_id, AuditAction.COMPARED, actor, secret_id, details={"name": name, "version": version}
                )
                for secret_id, name, version, _ in found
            ]
        )
        return found

    async def compare_versions(self, workspace_id: str, secret_id: UUID, a: int, b: int, actor: Actor) -> bool:
        """Whether versions `a` and `b` of a secret hold the same value,
        decided inside the server (constant-time) and recorded as one
        COMPARED event naming both versions; neither value leaves the
        server, and no digest of either is answered or recorded. A
        comparison that fails after authorization is recorded too (success
        false): a missing version is NOT_FOUND, a destroyed one BAD_USER_INPUT."""
        try:
            name, same = await self._compare(workspace_id, secret_id, a, b)
        except StrongroomError as exc:
            record = AuditRecord(
                workspace_id,
                AuditAction.COMPARED,
                actor,
                secret_id,
                success=False,
                details={"versions": [a, b], "error": exc.code},
            )
            try:
                await self._audit.record([record])
            except AuditUnavailable:
                logger.error("could not record a failed comparison in %s", workspace_id)
            raise
        await self._audit.record(
            [
                AuditRecord(
                    workspace_id, AuditAction.COMPARED, actor, secret_id, details={"name": name, "versions": [a, b]}
                )
            ]
        )
        return same

    async def _compare(self, workspace_id: str, secret_id: UUID, a: int, b: int) -> tuple[str, bool]:
        values: list[bytes] = []
        name = ""
        for field, version in [("a", a), ("b", b)][: 1 if a == b else 2]:
            loaded = await self.load_version(workspace_id, secret_id, version)
            if loaded is None:
                raise NotFound(f"secret {secret_id} not found in workspace {workspace_id!r}")
            if not loaded.is_active:
                raise NotFound(f"secret {secret_id} is deleted; restore it to compare its versions")
            if loaded.version is None:
                raise NotFound(f"version {version} of secret {secret_id} does not exist")
            if loaded.ciphertext is None or loaded.wrapped_key is None:
                raise BadUserInput(field, f"version {version} of secret {secret_id} was destroyed")
            name = loaded.name or ""
            values.append((await self._open(workspace_id, secret_id, loaded)).encode())
        return name, len(values) == 1 or hmac.compare_digest(values[0], values[1])

    async def _record_failed_read(
        self, workspace_id: str, secret_id: UUID, version: int | None, actor: Actor, error: StrongroomError
    ) -> None:
        record = AuditRecord(
            workspace_id,
            AuditAction.ACCESSED,
            actor,
            secret_id,
            success=False,
            details={"version": version, "error": error.code},
        )
        try:
            await self._audit.record([record])
        except AuditUnavailable:
            logger.error("could not record a failed read in %s", workspace_id)

    async def reveal_many(self, workspace_id: str, names: Sequence[str] | None, actor: Actor) -> list[RevealedValue]:
        """Active secrets' current values, all audited in one batch; a bulk
        read that fails (a name missing, a backend down) is recorded too."""
        try:
            return await self._reveal_many(workspace_id, names, actor)
        except StrongroomError as exc:
            details: dict[str, object] = {"bulk": True, "error": exc.code}
            if isinstance(exc, _MissingNames):
                # How many, not which: the names are the caller's words, and
                # may be another workspace's (the trail holds only its own).
                details["missing"] = len(exc.names)
            record = AuditRecord(workspace_id, AuditAction.ACCESSED, actor, success=False, details=details)
            try:
                await self._audit.record([record])
            except AuditUnavailable:
                logger.error("could not record a failed bulk read in %s", workspace_id)
            raise

    async def _reveal_many(self, workspace_id: str, names: Sequence[str] | None, actor: Actor) -> list[RevealedValue]:
        wanted: list[str] | None = None
        if names is not None:
            wanted = list(dict.fromkeys(validation.secret_name(n, f"names[{i}]") for i, n in enumerate(names)))
        rows = await self._current_rows(workspace_id, 's."name"', wanted, active_only=True)
        if wanted is not None:
            missing = sorted(set(wanted) - {loaded.name for _, loaded in rows})
            if missing:
                raise _MissingNames(workspace_id, missing)
        revealed = [
            RevealedValue(
                secret_id, loaded.name or "", loaded.current_version, await self._open(workspace_id, secret_id, loaded)
            )
            for secret_id, loaded in rows
        ]
        await self._audit.record(
            [
                AuditRecord(
                    workspace_id,
                    AuditAction.ACCESSED,
                    actor,
                    item.secret_id,
                    details={"name": item.name, "version": item.version, "bulk": True},
                )
                for item in revealed
            ]
        )
        return revealed

    async def open_version(self, secret: Secret, row: SecretVersion) -> str:
        assert row.ciphertext is not None and row.wrapped_key is not None
        return await self._envelope.open(
            ciphertext=row.ciphertext,
            wrapped_key=row.wrapped_key,
            backend_name=row.backend,
            key_id=row.key_id,
            workspace_id=secret.workspace_id,
            secret_id=secret.id,
            version=row.version,
        )
