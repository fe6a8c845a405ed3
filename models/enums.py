"""Enumerations shared by the database models and the GraphQL schema.

The string values are what is stored; they equal the member names so that the
GraphQL enum values, the stored values and the Python names never drift apart.
"""

from __future__ import annotations

from enum import Enum


class SecretType(str, Enum):
    API_KEY = "API_KEY"
    DATABASE_CREDENTIAL = "DATABASE_CREDENTIAL"
    OAUTH_TOKEN = "OAUTH_TOKEN"
    SSH_KEY = "SSH_KEY"
    JWT_SECRET = "JWT_SECRET"
    ENCRYPTION_KEY = "ENCRYPTION_KEY"
    PASSWORD = "PASSWORD"
    CERTIFICATE = "CERTIFICATE"
    WEBHOOK_SECRET = "WEBHOOK_SECRET"
    GENERIC = "GENERIC"


class RotationPolicy(str, Enum):
    MANUAL = "MANUAL"
    AUTO_30_DAYS = "AUTO_30_DAYS"
    AUTO_60_DAYS = "AUTO_60_DAYS"
    AUTO_90_DAYS = "AUTO_90_DAYS"
    AUTO_180_DAYS = "AUTO_180_DAYS"
    AUTO_365_DAYS = "AUTO_365_DAYS"

    @property
    def days(self) -> int | None:
        """Length of one rotation cycle; None for MANUAL (never due)."""
        if self is RotationPolicy.MANUAL:
            return None
        return int(self.value.split("_")[1])

    @classmethod
    def for_days(cls, days: int) -> RotationPolicy:
        return cls(f"AUTO_{days}_DAYS")


ROTATION_DAY_CHOICES: tuple[int, ...] = tuple(p.days for p in RotationPolicy if p.days is not None)


class AuditAction(str, Enum):
    CREATED = "CREATED"
    ACCESSED = "ACCESSED"
    LISTED = "LISTED"
    UPDATED = "UPDATED"
    ROTATED = "ROTATED"
    ROLLED_BACK = "ROLLED_BACK"
    DELETED = "DELETED"
    RESTORED = "RESTORED"
    DESTROYED = "DESTROYED"
    IMPORTED = "IMPORTED"
    ROTATION_DUE = "ROTATION_DUE"
    KEY_ROTATED = "KEY_ROTATED"
    ACCESS_DENIED = "ACCESS_DENIED"
    PRINCIPAL_CREATED = "PRINCIPAL_CREATED"
    TOKEN_CREATED = "TOKEN_CREATED"
    TOKEN_REVOKED = "TOKEN_REVOKED"
    # Beyond the contract: changes to who may do what are audited too.
    ROLE_GRANTED = "ROLE_GRANTED"
    ROLE_REVOKED = "ROLE_REVOKED"
    ROTATION_NOTIFIED = "ROTATION_NOTIFIED"
    # Metadata of a secret was read (browsing), as opposed to ACCESSED (its
    # value was revealed): users of Vault ask for the two kept apart.
    VIEWED = "VIEWED"
    # Values were compared through keyed digests (never revealed).
    COMPARED = "COMPARED"


class Role(str, Enum):
    VIEWER = "VIEWER"
    READER = "READER"
    WRITER = "WRITER"
    AUDITOR = "AUDITOR"
    ADMIN = "ADMIN"


class KeyRotationStatus(str, Enum):
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


class VersionState(str, Enum):
    """ACTIVE versions are ordinary history; a PENDING one is staged by a
    two-phase rotation and not yet current; a FAILED one failed its check."""

    ACTIVE = "ACTIVE"
    PENDING = "PENDING"
    FAILED = "FAILED"


class NotificationStatus(str, Enum):
    PENDING = "PENDING"
    DELIVERED = "DELIVERED"
    ABANDONED = "ABANDONED"
