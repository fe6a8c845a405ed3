"""Tortoise ORM models of Strongroom; nothing but models and enums lives here.

Tortoise discovers models from this module (app label ``models``).
"""

from __future__ import annotations

from models.access import ApiToken, Principal, RoleBinding
from models.audit import AuditChainHead, AuditCheckpoint, AuditSecretIndex, SecretAudit
from models.enums import (
    AuditAction,
    KeyRotationStatus,
    NotificationStatus,
    Role,
    RotationPolicy,
    SecretType,
    VersionState,
)
from models.key_rotation import KeyRotationJob
from models.rotation import RotationNotification
from models.secret import Secret, SecretCount, SecretTag, SecretVersion
from models.server_key import ServerKey
from models.workspace import Workspace

__models__ = [
    Workspace,
    Secret,
    SecretTag,
    SecretVersion,
    SecretCount,
    SecretAudit,
    AuditChainHead,
    AuditCheckpoint,
    AuditSecretIndex,
    ServerKey,
    Principal,
    RoleBinding,
    ApiToken,
    KeyRotationJob,
    RotationNotification,
]

__all__ = [
    "ApiToken",
    "AuditAction",
    "AuditChainHead",
    "AuditCheckpoint",
    "AuditSecretIndex",
    "KeyRotationJob",
    "KeyRotationStatus",
    "NotificationStatus",
    "Principal",
    "Role",
    "RoleBinding",
    "RotationNotification",
    "RotationPolicy",
    "Secret",
    "SecretAudit",
    "SecretCount",
    "SecretTag",
    "SecretType",
    "SecretVersion",
    "ServerKey",
    "VersionState",
    "Workspace",
]
