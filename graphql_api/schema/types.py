"""Strawberry output types. They map domain rows; they hold no logic beyond
loading related data through the request's DataLoaders."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import ClassVar, TypeAlias
from uuid import UUID

import strawberry
from graphql import OperationType
from strawberry.scalars import JSON
from strawberry.types import Info

import models
from graphql_api.context import Context
from graphql_api.services import importer
from graphql_api.services.audit import CommittedEvent
from graphql_api.services.audit_reader import AuditPage, IntegrityReport
from graphql_api.services.checkpoints import SignedCheckpoint
from graphql_api.services.key_rotation import RotationProgress
from graphql_api.services.principals import Binding
from graphql_api.services.secret_inputs import RevealedValue, SecretPage, SecretRecord, encode_cursor
from graphql_api.services.statistics import WorkspaceStatistics
from plugins.interfaces import BackendStatus

# Audit events come from the database (models.SecretAudit) or straight from a
# committed batch (CommittedEvent); both have the same fields.
AuditEventRow = models.SecretAudit | CommittedEvent

# strawberry.enum registers an enum in place and returns the same class; the
# names below are aliases of the enums themselves, so annotations that use
# them are types to mypy too (the value of a call would not be).
strawberry.enum(models.SecretType, description="What kind of secret a value is.")
strawberry.enum(models.RotationPolicy, description="How often a secret must be rotated.")
strawberry.enum(models.AuditAction, description="What an audit event records.")
strawberry.enum(models.Role, description="A principal's role in one workspace.")
strawberry.enum(models.VersionState, description="Where a version stands in its secret's history.")
strawberry.enum(importer.ImportAction, description="What an import does with one entry.")
SecretType: TypeAlias = models.SecretType
RotationPolicy: TypeAlias = models.RotationPolicy
AuditAction: TypeAlias = models.AuditAction
Role: TypeAlias = models.Role
VersionState: TypeAlias = models.VersionState
ImportAction: TypeAlias = importer.ImportAction


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Workspace:
    id: strawberry.ID
    name: str
    created_at: datetime

    @classmethod
    def from_model(cls, row: models.Workspace) -> Workspace:
        return cls(id=strawberry.ID(row.id), name=row.name, created_at=row.created_at)


@strawberry.type
class SecretVersion:
    version: int
    created_at: datetime
    created_by_user_id: strawberry.ID | None
    encryption_backend: str
    key_id: str
    state: VersionState = strawberry.field(
        description="PENDING while a two-phase rotation checks it; FAILED when the check failed"
    )
    destroyed: bool = strawberry.field(description="its ciphertext and data key were erased")

    @classmethod
    def from_model(cls, row: models.SecretVersion) -> SecretVersion:
        return cls(
            version=row.version,
            created_at=row.created_at,
            created_by_user_id=_id(row.created_by_user_id),
            encryption_backend=row.backend,
            key_id=row.key_id,
            state=row.state,
            destroyed=row.ciphertext is None,
        )


@strawberry.type
class Secret:
    id: strawberry.ID
    workspace_id: strawberry.ID
    name: str
    secret_type: SecretType
    usage: str | None
    tags: list[str]
    metadata: JSON
    rotation_policy: RotationPolicy
    last_rotated_at: datetime | None
    rotation_due_at: datetime | None
    is_active: bool
    current_version: int
    encryption_backend: str
    created_at: datetime
    updated_at: datetime
    created_by_user_id: strawberry.ID | None
    updated_by_user_id: strawberry.ID | None
    pending_version: int | None = strawberry.field(
        description="a version staged by a two-phase rotation, readable by number, not yet current"
    )

    @strawberry.field(description="last successful value read, derived from the audit trail")
    async def last_accessed_at(self, info: Info[Context, None]) -> datetime | None:
        return await info.context.loaders.last_accessed.load(models_id(self.id))

    @strawberry.field
    async def versions(self, info: Info[Context, None]) -> list[SecretVersion]:
        secret_id = models_id(self.id)
        rows = await info.context.loaders.versions.load(secret_id)
        # Version history read by a query is browsing, recorded as VIEWED (a
        # mutation's own answer is covered by the mutation's event).
        if info.operation.operation is OperationType.QUERY:
            await info.context.services.secret_reads.record_versions_viewed(
                [(str(self.workspace_id), secret_id)], info.context.actor
            )
        return [SecretVersion.from_model(row) for row in rows]

    @classmethod
    def from_model(cls, row: models.Secret | SecretRecord) -> Secret:
        return cls(
            id=strawberry.ID(str(row.id)),
            workspace_id=strawberry.ID(row.workspace_id),  # the FK's column attribute
            name=row.name or "",
            secret_type=row.secret_type,
            usage=row.usage,
            tags=list(row.tags or []),
            metadata=JSON(row.metadata if row.metadata is not None else {}),
            rotation_policy=row.rotation_policy,
            last_rotated_at=row.last_rotated_at,
            rotation_due_at=row.rotation_due_at,
            is_active=row.is_active,
            current_version=row.current_version,
            encryption_backend=row.encryption_backend,
            created_at=row.created_at,
            updated_at=row.updated_at,
            created_by_user_id=_id(row.created_by_user_id),
            updated_by_user_id=_id(row.updated_by_user_id),
            pending_version=row.pending_version,
        )


@strawberry.type
class SecretValue:
    secret_id: strawberry.ID
    name: str
    version: int
    value: str

    def __repr__(self) -> str:
        return f"SecretValue(secret_id={self.secret_id}, name={self.name!r}, version={self.version})"

    @classmethod
    def from_revealed(cls, revealed: RevealedValue) -> SecretValue:
        return cls(
            secret_id=strawberry.ID(str(revealed.secret_id)),
            name=revealed.name,
            version=revealed.version,
            value=revealed.value,
        )


@strawberry.type(
    description="two versions of one secret compared inside the server: same value or not, never either value"
)
class VersionComparison:
    secret_id: strawberry.ID
    a: int
    b: int
    same: bool


@strawberry.type(description="a keyed digest of a secret's current value: equal values, equal digests (on this server)")
class SecretDigest:
    secret_id: strawberry.ID
    name: str
    version: int
    digest: str = strawberry.field(description="hex HMAC-SHA256 of the value under the server's digest key")

    @classmethod
    def from_found(cls, found: tuple[UUID, str, int, str]) -> SecretDigest:
        secret_id, name, version, digest = found
        return cls(secret_id=strawberry.ID(str(secret_id)), name=name, version=version, digest=digest)


@strawberry.type
class SecretEdge:
    cursor: str
    node: Secret


@strawberry.type
class SecretConnection:
    edges: list[SecretEdge]
    page_info: PageInfo
    page: strawberry.Private[SecretPage]

    @strawberry.field(description="how many secrets the listing holds in all (counted only when asked for)")
    async def total_count(self, info: Info[Context, None]) -> int:
        return await info.context.services.secret_reads.count(self.page.workspace_id, self.page.filter)


@strawberry.type
class AuditEvent:
    id: strawberry.ID
    workspace_id: strawberry.ID
    secret_id: strawberry.ID | None
    action: AuditAction
    user_id: strawberry.ID | None
    ip_address: str | None
    user_agent: str | None
    details: JSON
    success: bool
    created_at: datetime
    hash: str = strawberry.field(
        description="hex HMAC-SHA256 (under the server's audit key) of this event chained to the previous event of its workspace"
    )
    seq: int = strawberry.field(description="position in the workspace's chain, from 1")

    prev_hash: str = strawberry.field(description="the hash of the event before this one in the chain")

    # No field reads the context: one completed result serves every subscriber (graphql_api.fan_out).
    shared_across_subscribers: ClassVar[bool] = True

    @classmethod
    def from_model(cls, row: AuditEventRow) -> AuditEvent:
        return cls(
            id=strawberry.ID(str(row.id)),
            workspace_id=strawberry.ID(row.workspace_id),
            secret_id=_id(row.secret_id),
            action=row.action,
            user_id=_id(row.user_id),
            ip_address=row.ip_address,
            user_agent=row.user_agent,
            details=JSON(row.details),
            success=row.success,
            created_at=row.created_at,
            hash=row.hash,
            seq=row.seq,
            prev_hash=row.prev_hash,
        )


VALUE_CHANGES = frozenset(
    {
        models.AuditAction.CREATED,
        models.AuditAction.UPDATED,
        models.AuditAction.ROTATED,
        models.AuditAction.ROLLED_BACK,
        models.AuditAction.IMPORTED,
        models.AuditAction.DELETED,
        models.AuditAction.RESTORED,
        models.AuditAction.DESTROYED,
    }
)


@strawberry.type(description="a committed change to a secret's value or state (never who, from where, or the value)")
class SecretChange:
    secret_id: strawberry.ID
    name: str
    action: AuditAction
    version: int | None
    created_at: datetime

    shared_across_subscribers: ClassVar[bool] = True  # as AuditEvent's

    @classmethod
    def from_event(cls, event: AuditEventRow) -> SecretChange | None:
        if event.action not in VALUE_CHANGES or event.secret_id is None or not event.success:
            return None
        details = event.details if isinstance(event.details, dict) else {}
        if details.get("dry_run"):
            return None
        version = details.get("version")
        return cls(
            secret_id=strawberry.ID(str(event.secret_id)),
            name=str(details.get("name") or ""),
            action=event.action,
            version=version if isinstance(version, int) else None,
            created_at=event.created_at,
        )


@strawberry.type
class AuditEdge:
    cursor: str
    node: AuditEvent


@strawberry.type
class AuditConnection:
    edges: list[AuditEdge]
    page_info: PageInfo
    page: strawberry.Private[AuditPage]

    @strawberry.field(description="how many events the listing holds in all (counted only when asked for)")
    async def total_count(self) -> int:
        return await self.page.count()


@strawberry.type
class AuditIntegrity:
    valid: bool
    checked_events: int
    first_invalid_event_id: strawberry.ID | None
    head_hash: str | None
    head_seq: int | None = strawberry.field(default=None, description="the newest event's seq (0: no event)")
    reason: str | None = strawberry.field(default=None, description="what is wrong, when valid is false")

    @classmethod
    def from_report(cls, report: IntegrityReport) -> AuditIntegrity:
        return cls(
            valid=report.valid,
            checked_events=report.checked_events,
            first_invalid_event_id=_id(report.first_invalid_event_id),
            head_hash=report.head_hash,
            head_seq=report.head_seq,
            reason=report.reason,
        )


@strawberry.type(description="a signed statement of how far a workspace's audit trail had reached")
class AuditCheckpoint:
    workspace_id: strawberry.ID
    seq: int
    head_hash: str
    created_at: datetime
    key_id: str = strawberry.field(description="the signing key's id (a digest of its public key)")
    public_key: str = strawberry.field(description="Ed25519 public key, base64 (raw 32 bytes)")
    previous_signature: str | None = strawberry.field(description="the previous checkpoint's signature, signed too")
    signature: str = strawberry.field(
        description="Ed25519 signature (base64) of the canonical JSON of "
        "{version: 1, workspace_id, seq, head_hash, created_at, previous_signature}"
    )

    @classmethod
    def from_domain(cls, checkpoint: SignedCheckpoint) -> AuditCheckpoint:
        return cls(
            workspace_id=strawberry.ID(checkpoint.workspace_id),
            seq=checkpoint.seq,
            head_hash=checkpoint.head_hash,
            created_at=checkpoint.created_at,
            key_id=checkpoint.key_id,
            public_key=checkpoint.public_key,
            previous_signature=checkpoint.previous_signature,
            signature=checkpoint.signature,
        )


@strawberry.input
class AuditCheckpointInput:
    seq: int
    head_hash: str


@strawberry.type
class CountByKey:
    key: str
    count: int


@strawberry.type
class SecretStatistics:
    total_secrets: int
    active_secrets: int
    inactive_secrets: int
    by_type: list[CountByKey]
    by_rotation_policy: list[CountByKey]
    rotation_due_count: int = strawberry.field(description="active secrets due within 7 days, overdue included")
    overdue_count: int
    accesses_last24h: int = strawberry.field(name="accessesLast24h")
    failed_accesses_last24h: int = strawberry.field(name="failedAccessesLast24h")

    @classmethod
    def from_domain(cls, stats: WorkspaceStatistics) -> SecretStatistics:
        return cls(
            total_secrets=stats.total,
            active_secrets=stats.active,
            inactive_secrets=stats.total - stats.active,
            by_type=[CountByKey(key=k, count=v) for k, v in stats.by_type.items()],
            by_rotation_policy=[CountByKey(key=k, count=v) for k, v in stats.by_policy.items()],
            rotation_due_count=stats.due_within_week,
            overdue_count=stats.overdue,
            accesses_last24h=stats.accesses_last_day,
            failed_accesses_last24h=stats.failed_accesses_last_day,
        )


@strawberry.type
class BackendHealth:
    name: str
    healthy: bool
    key_id: str | None
    last_check: datetime
    error: str | None


@strawberry.type
class EncryptionHealth:
    current_backend: str
    backends: list[BackendHealth]

    @classmethod
    def from_checks(
        cls, current_backend: str, checked: Sequence[tuple[str, BackendStatus, datetime]]
    ) -> EncryptionHealth:
        return cls(
            current_backend=current_backend,
            backends=[
                BackendHealth(name=name, healthy=s.healthy, key_id=s.key_id, last_check=at, error=s.error)
                for name, s, at in checked
            ],
        )


@strawberry.type
class KeyRotationResult:
    backend: str
    key_id: str
    rewrapped: int
    remaining: int

    @classmethod
    def from_progress(cls, progress: RotationProgress) -> KeyRotationResult:
        return cls(
            backend=progress.backend, key_id=progress.key_id, rewrapped=progress.rewrapped, remaining=progress.remaining
        )


@strawberry.type
class GeneratedKey:
    backend: str
    key: str

    def __repr__(self) -> str:
        return f"GeneratedKey(backend={self.backend!r})"


@strawberry.type(description="one entry of a .env import: what is (or would be) done, never its value")
class ImportPlanEntry:
    name: str
    line: int
    action: ImportAction
    secret_type: SecretType
    rotation_policy: RotationPolicy


@strawberry.type
class ImportResult:
    created: int
    updated: int
    skipped: int
    unchanged: int = strawberry.field(description="entries whose value equals the current one (no new version)")
    plan: list[ImportPlanEntry] = strawberry.field(description="every entry in file order")
    secret_ids: strawberry.Private[list[UUID]]
    workspace_id: strawberry.Private[str]

    @strawberry.field(description="the secrets created or given a new version")
    async def secrets(self, info: Info[Context, None]) -> list[Secret]:
        rows = await info.context.services.secret_reads.by_ids(self.workspace_id, self.secret_ids)
        return [Secret.from_model(row) for row in rows]

    @classmethod
    def from_outcome(cls, workspace_id: str, outcome: importer.ImportOutcome) -> ImportResult:
        return cls(
            created=outcome.created,
            updated=outcome.updated,
            skipped=outcome.skipped,
            unchanged=outcome.unchanged,
            plan=[
                ImportPlanEntry(
                    name=p.name,
                    line=p.line,
                    action=p.action,
                    secret_type=p.secret_type,
                    rotation_policy=p.rotation_policy,
                )
                for p in outcome.plan
            ],
            secret_ids=outcome.secret_ids,
            workspace_id=workspace_id,
        )


@strawberry.type
class RoleBinding:
    workspace_id: strawberry.ID
    role: Role


@strawberry.type
class Principal:
    id: strawberry.ID
    name: str
    is_superadmin: bool
    bindings: list[RoleBinding]

    @classmethod
    def from_model(cls, row: models.Principal, bindings: Sequence[Binding]) -> Principal:
        return cls(
            id=strawberry.ID(str(row.id)),
            name=row.name,
            is_superadmin=row.is_superadmin,
            bindings=[RoleBinding(workspace_id=strawberry.ID(b.workspace_id), role=b.role) for b in bindings],
        )


@strawberry.type
class ApiToken:
    id: strawberry.ID
    name: str
    principal_id: strawberry.ID
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked: bool
    prefix: str = strawberry.field(description="the token's first characters, for recognising it")

    @classmethod
    def from_model(cls, row: models.ApiToken) -> ApiToken:
        return cls(
            id=strawberry.ID(str(row.id)),
            name=row.name,
            principal_id=strawberry.ID(str(row.principal_id)),
            created_at=row.created_at,
            expires_at=row.expires_at,
            last_used_at=row.last_used_at,
            revoked=row.revoked_at is not None,
            prefix=row.prefix,
        )


@strawberry.type
class CreatedToken:
    token: str = strawberry.field(description="shown once; only its hash is stored")
    api_token: ApiToken

    def __repr__(self) -> str:
        return f"CreatedToken(api_token={self.api_token.id})"


async def principal_view(context: Context, principal_id: UUID) -> Principal:
    """A principal as the caller may see it: only bindings it may manage."""
    identity = await context.identity()
    principal, bindings = await context.services.principals.view(identity, principal_id)
    return Principal.from_model(principal, bindings)


def secret_connection(page: SecretPage) -> SecretConnection:
    return SecretConnection(
        edges=[SecretEdge(cursor=encode_cursor(s), node=Secret.from_model(s)) for s in page.secrets],
        page_info=PageInfo(has_next_page=page.has_next_page, end_cursor=page.end_cursor),
        page=page,
    )


def audit_connection(page: AuditPage) -> AuditConnection:
    return AuditConnection(
        edges=[AuditEdge(cursor=str(e.seq), node=AuditEvent.from_model(e)) for e in page.events],
        page_info=PageInfo(has_next_page=page.has_next_page, end_cursor=page.end_cursor),
        page=page,
    )


def _id(value: object | None) -> strawberry.ID | None:
    return None if value is None else strawberry.ID(str(value))


def models_id(value: str) -> UUID:
    return UUID(str(value))
