"""The Python client of a Strongroom server.

It imports nothing of the server (no ORM, no plugins, no settings): httpx,
websockets and cryptography are all it needs, so an application can use it
without the server's dependencies.

    from graphql_api.client import Strongroom

    with Strongroom.from_environ() as sr:          # or Strongroom(url, token)
        sr.inject_environment("payments", only=["STRIPE_API_KEY"], prefix="SECRET_")
        value = sr.secret_values("payments", names=["DATABASE_URL"])[0].value

    async with AsyncStrongroom(url, token) as sr:  # the same methods, awaited
        await sr.inject_environment("payments")

Every failure is a StrongroomAPIError (`code`, `message`, `field`); bad
configuration is a ClientConfigError naming the variable. Neither the token
nor a value appears in an exception or a repr.
"""

from __future__ import annotations

from graphql_api.client.aio import AsyncStrongroom
from graphql_api.client.config import ClientSettings, normalize_url
from graphql_api.client.errors import ClientConfigError, StrongroomAPIError
from graphql_api.client.live import AsyncAuditTail, AuditTail
from graphql_api.client.models import (
    ApiToken,
    AuditCheckpoint,
    AuditEvent,
    AuditIntegrity,
    BackendHealth,
    CreatedToken,
    EncryptionHealth,
    ImportPlanEntry,
    ImportResult,
    KeyRotationProgress,
    Principal,
    RoleBinding,
    Secret,
    SecretChange,
    SecretDigest,
    SecretPage,
    SecretValue,
    SecretVersion,
    Workspace,
)
from graphql_api.client.sync import Strongroom, StrongroomClient

__all__ = [
    "ApiToken",
    "AsyncAuditTail",
    "AsyncStrongroom",
    "AuditCheckpoint",
    "AuditEvent",
    "AuditIntegrity",
    "AuditTail",
    "BackendHealth",
    "ClientConfigError",
    "ClientSettings",
    "CreatedToken",
    "EncryptionHealth",
    "ImportPlanEntry",
    "ImportResult",
    "KeyRotationProgress",
    "Principal",
    "RoleBinding",
    "Secret",
    "SecretChange",
    "SecretDigest",
    "SecretPage",
    "SecretValue",
    "SecretVersion",
    "Strongroom",
    "StrongroomAPIError",
    "StrongroomClient",
    "Workspace",
    "normalize_url",
]
