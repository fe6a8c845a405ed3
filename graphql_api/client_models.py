"""What the client returns: frozen results parsed from the API's answers.

Reprs of results holding a token or a value hide it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

REDACTED = "**********"


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


@dataclass(frozen=True)
class Workspace:
    id: str
    name: str
    created_at: datetime


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


@dataclass(frozen=True)
class CreatedToken:
    """A new token: `token` is shown this once (its repr hides it)."""

    token: str = field(repr=False)
    api_token: ApiToken

    def __repr__(self) -> str:
        return f"CreatedToken(token='{REDACTED}', api_token={self.api_token!r})"


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


@dataclass(frozen=True)
class SecretValue:
    """One secret's value (its repr hides it)."""

    secret_id: str
    name: str
    version: int
    value: str = field(repr=False)

    def __repr__(self) -> str:
        return f"SecretValue(secret_id={self.secret_id!r}, name={self.name!r}, version={self.version}, value='{REDACTED}')"


# -- documents ----------------------------------------------------------------


def _datetime(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _optional_datetime(value: str | None) -> datetime | None:
    return _datetime(value) if value is not None else None


def _principal(row: Mapping[str, Any]) -> Principal:
    return Principal(
        id=row["id"],
        name=row["name"],
        is_superadmin=bool(row["isSuperadmin"]),
        bindings=tuple(RoleBinding(workspace_id=b["workspaceId"], role=b["role"]) for b in row["bindings"]),
    )


def _api_token(row: Mapping[str, Any]) -> ApiToken:
    return ApiToken(
        id=row["id"],
        name=row["name"],
        principal_id=row["principalId"],
        created_at=_datetime(row["createdAt"]),
        expires_at=_optional_datetime(row["expiresAt"]),
        last_used_at=_optional_datetime(row["lastUsedAt"]),
        revoked=bool(row["revoked"]),
        prefix=row["prefix"],
    )


def _audit_event(row: Mapping[str, Any]) -> AuditEvent:
    return AuditEvent(
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


def _secret_value(row: Mapping[str, Any]) -> SecretValue:
    return SecretValue(secret_id=row["secretId"], name=row["name"], version=int(row["version"]), value=row["value"])
