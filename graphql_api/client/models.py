"""What the client returns: frozen results parsed from the API's answers.

Each result has `from_api(row)` (the API's camelCase fields in) and, where a
script may want it, `to_json()` (the same names out). Reprs of results that
hold a token or a value hide it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from graphql_api.client.errors import REDACTED


def _datetime(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _optional_datetime(value: str | None) -> datetime | None:
    return _datetime(value) if value is not None else None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass(frozen=True)
class RoleBinding:
    workspace_id: str
    role: str


@dataclass(frozen=True)
class Principal:
    id: str
    name: str
    is_superadmin: bool
    bindings: tuple[RoleBinding, ...]

    @classmethod
    def from_api(cls, row: Mapping[str, Any]) -> Principal:
        return cls(
            id=row["id"],
            name=row["name"],
            is_superadmin=bool(row["isSuperadmin"]),
            bindings=tuple(RoleBinding(workspace_id=b["workspaceId"], role=b["role"]) for b in row["bindings"]),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "isSuperadmin": self.is_superadmin,
            "bindings": [{"workspaceId": b.workspace_id, "role": b.role} for b in self.bindings],
        }


@dataclass(frozen=True)
class Workspace:
    id: str
    name: str
    created_at: datetime

    @classmethod
    def from_api(cls, row: Mapping[str, Any]) -> Workspace:
        return cls(id=row["id"], name=row["name"], created_at=_datetime(row["createdAt"]))

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "createdAt": self.created_at.isoformat()}


@dataclass(frozen=True)
class ApiToken:
    """A token's record; never its value (only its first characters, `prefix`)."""

    id: str
    name: str
    principal_id: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked: bool
    prefix: str

    @classmethod
    def from_api(cls, row: Mapping[str, Any]) -> ApiToken:
        return cls(
            id=row["id"],
            name=row["name"],
            principal_id=row["principalId"],
            created_at=_datetime(row["createdAt"]),
            expires_at=_optional_datetime(row["expiresAt"]),
            last_used_at=_optional_datetime(row["lastUsedAt"]),
            revoked=bool(row["revoked"]),
            prefix=row["prefix"],
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "principalId": self.principal_id,
            "createdAt": self.created_at.isoformat(),
            "expiresAt": _iso(self.expires_at),
            "lastUsedAt": _iso(self.last_used_at),
            "revoked": self.revoked,
            "prefix": self.prefix,
        }


@dataclass(frozen=True)
class CreatedToken:
    """A new token: `token` is shown this once (its repr hides it)."""

    token: str = field(repr=False)
    api_token: ApiToken

    def __repr__(self) -> str:
        return f"CreatedToken(token='{REDACTED}', api_token={self.api_token!r})"


@dataclass(frozen=True)
class SecretVersion:
    version: int
    created_at: datetime
    created_by_user_id: str | None
    encryption_backend: str
    key_id: str
    state: str
    destroyed: bool

    @classmethod
    def from_api(cls, row: Mapping[str, Any]) -> SecretVersion:
        return cls(
            version=int(row["version"]),
            created_at=_datetime(row["createdAt"]),
            created_by_user_id=row["createdByUserId"],
            encryption_backend=row["encryptionBackend"],
            key_id=row["keyId"],
            state=row["state"],
            destroyed=bool(row["destroyed"]),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "createdAt": self.created_at.isoformat(),
            "createdByUserId": self.created_by_user_id,
            "encryptionBackend": self.encryption_backend,
            "keyId": self.key_id,
            "state": self.state,
            "destroyed": self.destroyed,
        }


@dataclass(frozen=True)
class Secret:
    """A secret's metadata (never its value); `versions` only where asked for."""

    id: str
    workspace_id: str
    name: str
    secret_type: str
    usage: str | None
    tags: tuple[str, ...]
    rotation_policy: str
    last_rotated_at: datetime | None
    rotation_due_at: datetime | None
    is_active: bool
    current_version: int
    encryption_backend: str
    created_at: datetime
    updated_at: datetime
    versions: tuple[SecretVersion, ...] = ()

    @classmethod
    def from_api(cls, row: Mapping[str, Any]) -> Secret:
        return cls(
            id=row["id"],
            workspace_id=row["workspaceId"],
            name=row["name"],
            secret_type=row["secretType"],
            usage=row["usage"],
            tags=tuple(row["tags"]),
            rotation_policy=row["rotationPolicy"],
            last_rotated_at=_optional_datetime(row["lastRotatedAt"]),
            rotation_due_at=_optional_datetime(row["rotationDueAt"]),
            is_active=bool(row["isActive"]),
            current_version=int(row["currentVersion"]),
            encryption_backend=row["encryptionBackend"],
            created_at=_datetime(row["createdAt"]),
            updated_at=_datetime(row["updatedAt"]),
            versions=tuple(SecretVersion.from_api(v) for v in row.get("versions") or ()),
        )

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "id": self.id,
            "workspaceId": self.workspace_id,
            "name": self.name,
            "secretType": self.secret_type,
            "usage": self.usage,
            "tags": list(self.tags),
            "rotationPolicy": self.rotation_policy,
            "lastRotatedAt": _iso(self.last_rotated_at),
            "rotationDueAt": _iso(self.rotation_due_at),
            "isActive": self.is_active,
            "currentVersion": self.current_version,
            "encryptionBackend": self.encryption_backend,
            "createdAt": self.created_at.isoformat(),
            "updatedAt": self.updated_at.isoformat(),
        }
        if self.versions:
            document["versions"] = [v.to_json() for v in self.versions]
        return document


@dataclass(frozen=True)
class SecretPage:
    """One page of a keyset-paginated listing."""

    secrets: tuple[Secret, ...]
    total_count: int
    end_cursor: str | None
    has_next_page: bool


@dataclass(frozen=True)
class SecretValue:
    """One secret's value (its repr hides it)."""

    secret_id: str
    name: str
    version: int
    value: str = field(repr=False)

    @classmethod
    def from_api(cls, row: Mapping[str, Any]) -> SecretValue:
        return cls(secret_id=row["secretId"], name=row["name"], version=int(row["version"]), value=row["value"])

    def __repr__(self) -> str:
        return (
            f"SecretValue(secret_id={self.secret_id!r}, name={self.name!r}, version={self.version}, value='{REDACTED}')"
        )


@dataclass(frozen=True)
class SecretDigest:
    """A keyed digest of a secret's current value, computed by the server: equal values, equal digests."""

    secret_id: str
    name: str
    version: int
    digest: str

    @classmethod
    def from_api(cls, row: Mapping[str, Any]) -> SecretDigest:
        return cls(secret_id=row["secretId"], name=row["name"], version=int(row["version"]), digest=row["digest"])


@dataclass(frozen=True)
class ImportPlanEntry:
    """What an import does (or, dry run, would do) with one line of the file; never the value."""

    name: str
    line: int
    action: str  # CREATE, UPDATE, SKIP or UNCHANGED
    secret_type: str
    rotation_policy: str

    @classmethod
    def from_api(cls, row: Mapping[str, Any]) -> ImportPlanEntry:
        return cls(
            name=row["name"],
            line=int(row["line"]),
            action=row["action"],
            secret_type=row["secretType"],
            rotation_policy=row["rotationPolicy"],
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "line": self.line,
            "action": self.action,
            "secretType": self.secret_type,
            "rotationPolicy": self.rotation_policy,
        }


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int
    skipped: int
    unchanged: int
    plan: tuple[ImportPlanEntry, ...]

    @classmethod
    def from_api(cls, row: Mapping[str, Any]) -> ImportResult:
        return cls(
            created=int(row["created"]),
            updated=int(row["updated"]),
            skipped=int(row["skipped"]),
            unchanged=int(row["unchanged"]),
            plan=tuple(ImportPlanEntry.from_api(p) for p in row["plan"]),
        )


@dataclass(frozen=True)
class SecretChange:
    """A committed change to a secret's value or state (secretChanges)."""

    secret_id: str
    name: str
    action: str
    version: int | None
    created_at: datetime

    @classmethod
    def from_api(cls, row: Mapping[str, Any]) -> SecretChange:
        return cls(
            secret_id=row["secretId"],
            name=row["name"],
            action=row["action"],
            version=None if row.get("version") is None else int(row["version"]),
            created_at=_datetime(row["createdAt"]),
        )


@dataclass(frozen=True)
class AuditEvent:
    id: str
    workspace_id: str
    secret_id: str | None
    action: str
    user_id: str | None
    ip_address: str | None
    user_agent: str | None
    details: Any
    success: bool
    created_at: datetime
    hash: str
    seq: int

    @classmethod
    def from_api(cls, row: Mapping[str, Any]) -> AuditEvent:
        return cls(
            id=row["id"],
            workspace_id=row["workspaceId"],
            secret_id=row["secretId"],
            action=row["action"],
            user_id=row["userId"],
            ip_address=row["ipAddress"],
            user_agent=row["userAgent"],
            details=row["details"],
            success=bool(row["success"]),
            created_at=_datetime(row["createdAt"]),
            hash=row["hash"],
            seq=int(row["seq"]),
        )

    def to_json(self) -> dict[str, Any]:
        """The event with the API's field names, `createdAt` as ISO 8601."""
        return {
            "id": self.id,
            "workspaceId": self.workspace_id,
            "secretId": self.secret_id,
            "action": self.action,
            "userId": self.user_id,
            "ipAddress": self.ip_address,
            "userAgent": self.user_agent,
            "details": self.details,
            "success": self.success,
            "createdAt": self.created_at.isoformat(),
            "hash": self.hash,
            "seq": self.seq,
        }


@dataclass(frozen=True)
class AuditIntegrity:
    valid: bool
    checked_events: int
    first_invalid_event_id: str | None
    head_hash: str | None
    head_seq: int | None = None
    reason: str | None = None

    @classmethod
    def from_api(cls, row: Mapping[str, Any]) -> AuditIntegrity:
        head_seq = row.get("headSeq")
        return cls(
            valid=bool(row["valid"]),
            checked_events=int(row["checkedEvents"]),
            first_invalid_event_id=row["firstInvalidEventId"],
            head_hash=row["headHash"],
            head_seq=int(head_seq) if head_seq is not None else None,
            reason=row.get("reason"),
        )


@dataclass(frozen=True)
class AuditCheckpoint:
    """A signed statement that a workspace's audit chain had reached `seq` with `head_hash`.

    Kept as the API's strings (`created_at` included); the signed document is
    built from them by graphql_api.client.checkpoint.
    """

    workspace_id: str
    seq: int
    head_hash: str
    created_at: str
    key_id: str
    public_key: str
    previous_signature: str | None
    signature: str

    @classmethod
    def from_api(cls, row: Mapping[str, Any]) -> AuditCheckpoint:
        previous = row.get("previousSignature")
        return cls(
            workspace_id=str(row["workspaceId"]),
            seq=int(row["seq"]),
            head_hash=str(row["headHash"]),
            created_at=str(row["createdAt"]),
            key_id=str(row["keyId"]),
            public_key=str(row["publicKey"]),
            previous_signature=str(previous) if previous is not None else None,
            signature=str(row["signature"]),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "workspaceId": self.workspace_id,
            "seq": self.seq,
            "headHash": self.head_hash,
            "createdAt": self.created_at,
            "keyId": self.key_id,
            "publicKey": self.public_key,
            "previousSignature": self.previous_signature,
            "signature": self.signature,
        }


@dataclass(frozen=True)
class KeyRotationProgress:
    backend: str
    key_id: str
    rewrapped: int
    remaining: int

    @classmethod
    def from_api(cls, row: Mapping[str, Any]) -> KeyRotationProgress:
        return cls(
            backend=row["backend"],
            key_id=row["keyId"],
            rewrapped=int(row["rewrapped"]),
            remaining=int(row["remaining"]),
        )


@dataclass(frozen=True)
class BackendHealth:
    name: str
    healthy: bool
    key_id: str | None
    last_check: datetime
    error: str | None

    @classmethod
    def from_api(cls, row: Mapping[str, Any]) -> BackendHealth:
        return cls(
            name=row["name"],
            healthy=bool(row["healthy"]),
            key_id=row["keyId"],
            last_check=_datetime(row["lastCheck"]),
            error=row["error"],
        )


@dataclass(frozen=True)
class EncryptionHealth:
    current_backend: str
    backends: tuple[BackendHealth, ...]

    @classmethod
    def from_api(cls, row: Mapping[str, Any]) -> EncryptionHealth:
        return cls(
            current_backend=row["currentBackend"],
            backends=tuple(BackendHealth.from_api(b) for b in row["backends"]),
        )
