"""Importing a `.env` file into a workspace, all or nothing.

1. Parse (losslessly; graphql_api.services.dotenv) and validate every entry.
2. Plan each entry against what exists: CREATE a new name; SKIP an existing
   one (without `overwrite`, or when it is deleted); with `overwrite`, UPDATE
   where the value differs from the current one and leave it UNCHANGED where
   it is the same (no new version for an identical value). A dry run stops
   here and answers the plan, never a value.
3. Seal every new value, outside any transaction (cryptography before the
   write lock: on SQLite the one writer is shared by every tenant).
4. One short transaction writes everything with a few multi-row statements
   (graphql_api.services.secret_store) and one IMPORTED event per written
   secret; a secret changed meanwhile makes the whole import a CONFLICT.

Types come from names as the seed says: a name with "password" is a
DATABASE_CREDENTIAL, with "token" an OAUTH_TOKEN, with "key", "secret" or
"credential" an API_KEY; other names (LOG_LEVEL) are GENERIC with the MANUAL
rotation policy, since nobody rotates a log level. `secretType` and
`rotationPolicy` override that for every entry.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from uuid import UUID, uuid4

from tortoise.exceptions import IntegrityError

from graphql_api.client import naming
from graphql_api.errors import Conflict
from graphql_api.services import validation
from graphql_api.services.audit import Actor, AuditLog, AuditRecord
from graphql_api.services.dotenv import parse_dotenv
from graphql_api.services.envelope import Envelope
from graphql_api.services.planner_statistics import PlannerStatistics
from graphql_api.services.secret_inputs import due_date
from graphql_api.services.secret_reads import SecretReader
from graphql_api.services.secret_store import ExistingSecret, NewSecretRow, NewVersionRow, SecretStore
from models import AuditAction, RotationPolicy, SecretType


class ImportAction(str, Enum):
    CREATE = "CREATE"
    UPDATE = "UPDATE"
    SKIP = "SKIP"
    UNCHANGED = "UNCHANGED"


@dataclass(frozen=True)
class PlannedEntry:
    name: str
    line: int
    action: ImportAction
    secret_type: SecretType
    rotation_policy: RotationPolicy


@dataclass(frozen=True)
class ImportOutcome:
    created: int
    updated: int
    skipped: int
    unchanged: int
    plan: list[PlannedEntry]
    secret_ids: list[UUID]


def detect_secret_type(name: str) -> SecretType | None:
    """The seed's rule (graphql_api.client.naming, shared with the command
    line's --from-env); None for a name that does not look secret."""
    return SecretType(naming.detect_secret_type(name)) if naming.looks_secret(name) else None


class DotenvImporter:
    def __init__(
        self,
        *,
        reads: SecretReader,
        envelope: Envelope,
        audit: AuditLog,
        store: SecretStore,
        default_rotation_days: int,
        now: Callable[[], datetime],
        statistics: PlannerStatistics | None = None,
    ) -> None:
        self._statistics = statistics
        self._reads = reads
        self._envelope = envelope
        self._audit = audit
        self._store = store
        self._default_policy = RotationPolicy.for_days(default_rotation_days)
        self._now = now

    def _classify(
        self, name: str, secret_type: SecretType | None, policy: RotationPolicy | None
    ) -> tuple[SecretType, RotationPolicy]:
        detected = detect_secret_type(name)
        chosen_type = secret_type or detected or SecretType.GENERIC
        if policy is not None:
            return chosen_type, policy
        looks_secret = secret_type is not None or detected is not None
        return chosen_type, self._default_policy if looks_secret else RotationPolicy.MANUAL

    async def import_dotenv(
        self,
        workspace_id: str,
        text: str,
        overwrite: bool,
        actor: Actor,
        *,
        dry_run: bool = False,
        secret_type: SecretType | None = None,
        rotation_policy: RotationPolicy | None = None,
        tags: Sequence[str] = (),
    ) -> ImportOutcome:
        entries = parse_dotenv(text)
        for entry in entries:
            validation.secret_name(entry.name, f"dotenv (line {entry.line})")
            validation.secret_value(entry.value, f"dotenv (line {entry.line})")
        tag_list = validation.tags(list(tags), "tags")
        existing = await self._store.by_names(workspace_id, [entry.name for entry in entries])
        current_values = await self._current_values(
            workspace_id,
            [existing[e.name] for e in entries if overwrite and e.name in existing and existing[e.name].is_active],
        )

        plan: list[PlannedEntry] = []
        creates: list[tuple[str, str, SecretType, RotationPolicy]] = []
        updates: list[tuple[ExistingSecret, str]] = []
        for entry in entries:
            found = existing.get(entry.name)
            kind, policy = self._classify(entry.name, secret_type, rotation_policy)
            if found is None:
                action = ImportAction.CREATE
                creates.append((entry.name, entry.value, kind, policy))
            elif not overwrite or not found.is_active:
                action = ImportAction.SKIP
            elif current_values.get(found.id) == entry.value:
                action = ImportAction.UNCHANGED
            else:
                action = ImportAction.UPDATE
                updates.append((found, entry.value))
            plan.append(
                PlannedEntry(
                    entry.name,
                    entry.line,
                    action,
                    kind if found is None else found.secret_type,
                    policy if found is None else found.rotation_policy,
                )
            )
        counts = {action: sum(1 for p in plan if p.action is action) for action in ImportAction}
        if dry_run:
            await self._audit.record(
                [
                    AuditRecord(
                        workspace_id,
                        AuditAction.IMPORTED,
                        actor,
                        details={"dry_run": True, **{a.value.lower(): n for a, n in counts.items()}},
                    )
                ]
            )
            return ImportOutcome(
                counts[ImportAction.CREATE],
                counts[ImportAction.UPDATE],
                counts[ImportAction.SKIP],
                counts[ImportAction.UNCHANGED],
                plan,
                [],
            )

        # Cryptography first, outside any transaction.
        now = self._now()
        new_rows: list[NewSecretRow] = []
        for name, value, kind, policy in creates:
            secret_id = uuid4()
            backend = self._envelope.backends.for_write(None, "dotenv")
            sealed = await self._envelope.seal(
                value, backend=backend, workspace_id=workspace_id, secret_id=secret_id, version=1
            )
            new_rows.append(
                NewSecretRow(
                    id=secret_id,
                    workspace_id=workspace_id,
                    name=name,
                    secret_type=kind,
                    rotation_policy=policy,
                    rotation_due_at=due_date(policy, now),
                    sealed=sealed,
                    tags=tag_list,
                )
            )
        version_rows: list[NewVersionRow] = []
        for found, value in updates:
            backend = self._envelope.backends.for_write(found.encryption_backend, "dotenv")
            number = found.last_version + 1
            sealed = await self._envelope.seal(
                value, backend=backend, workspace_id=workspace_id, secret_id=found.id, version=number
            )
            version_rows.append(NewVersionRow(found.id, number, sealed, due_date(found.rotation_policy, now)))

        records = [
            AuditRecord(
                workspace_id,
                AuditAction.IMPORTED,
                actor,
                row.id,
                details={"name": row.name, "version": 1, "outcome": "created", "secret_type": row.secret_type.value},
            )
            for row in new_rows
        ] + [
            AuditRecord(
                workspace_id,
                AuditAction.IMPORTED,
                actor,
                row.secret_id,
                details={"name": found.name, "version": row.version, "outcome": "updated"},
            )
            for (found, _value), row in zip(updates, version_rows, strict=True)
        ]
        if new_rows or version_rows:
            try:
                async with self._audit.transaction() as connection:
                    if version_rows:
                        locked = await self._store.lock_many(connection, [row.secret_id for row in version_rows])
                        for found, _value in updates:
                            if locked.get(found.id) != (found.last_version, True):
                                raise Conflict(
                                    f"secret {found.name!r} changed during the import; nothing was imported, try again"
                                )
                    await self._store.insert_many(connection, new_rows, actor.user_id, now)
                    await self._store.append_versions(connection, version_rows, actor.user_id, now)
                    await self._audit.append_many(records, connection)
            except IntegrityError:
                raise Conflict("a secret of this file was created meanwhile; nothing was imported, try again") from None
            if self._statistics is not None:
                await self._statistics.after_bulk_change(len(new_rows) + len(version_rows))
        return ImportOutcome(
            counts[ImportAction.CREATE],
            counts[ImportAction.UPDATE],
            counts[ImportAction.SKIP],
            counts[ImportAction.UNCHANGED],
            plan,
            [row.id for row in new_rows] + [row.secret_id for row in version_rows],
        )

    async def _current_values(self, workspace_id: str, secrets: Sequence[ExistingSecret]) -> dict[UUID, str]:
        """The current values of secrets an overwrite may change, to compare
        in memory; never returned, so not value reads of the client's."""
        return await self._reads.current_values(workspace_id, [secret.id for secret in secrets])
