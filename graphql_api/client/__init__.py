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

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from graphql_api.client.aio import AsyncStrongroom
    from graphql_api.client.config import (
        ClientSettings,
        normalize_url,
    )
    from graphql_api.client.errors import (
        ClientConfigError,
        StrongroomAPIError,
    )
    from graphql_api.client.live import (
        AsyncAuditTail,
        AuditTail,
    )
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
    from graphql_api.client.sync import (
        Strongroom,
        StrongroomClient,
    )

# Each public name is imported from its module when first used (PEP 562).
# Why: the server imports this package's errors, naming and dotenv modules,
# and `strongroom serve` (every command, in fact) used to pay for httpx,
# websockets and rich through this file: about 190 ms of a 1.4 s cold start.
_MODULE_OF = {
    "AsyncStrongroom": "aio",
    "ClientSettings": "config",
    "normalize_url": "config",
    "ClientConfigError": "errors",
    "StrongroomAPIError": "errors",
    "AsyncAuditTail": "live",
    "AuditTail": "live",
    "ApiToken": "models",
    "AuditCheckpoint": "models",
    "AuditEvent": "models",
    "AuditIntegrity": "models",
    "BackendHealth": "models",
    "CreatedToken": "models",
    "EncryptionHealth": "models",
    "ImportPlanEntry": "models",
    "ImportResult": "models",
    "KeyRotationProgress": "models",
    "Principal": "models",
    "RoleBinding": "models",
    "Secret": "models",
    "SecretChange": "models",
    "SecretDigest": "models",
    "SecretPage": "models",
    "SecretValue": "models",
    "SecretVersion": "models",
    "Workspace": "models",
    "Strongroom": "sync",
    "StrongroomClient": "sync",
}


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


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
