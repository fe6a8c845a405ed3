"""Strongroom's public plugin API.

`hookimpl` marks implementations (every builtin uses it; a third-party plugin
may as well, or make its own `pluggy.HookimplMarker("strongroom")`, which is
equivalent); `plugins.hookspecs` is the contract; `plugins.interfaces` holds
the Protocols a plugin's objects satisfy; `plugins.testing` their test
doubles. A plugin raises `ConfigError(variable, message)` for bad
configuration: start-up stops naming that variable. Anything else it raises
while loading stops start-up as a fault of that plugin, naming only the
exception's type.
"""

from __future__ import annotations

from graphql_api.client.errors import ConfigError
from plugins.hookspecs import hookimpl
from plugins.interfaces import (
    AuditSink,
    BackendStatus,
    EncryptionBackend,
    GenerationRequest,
    KeyContext,
    KeyUnavailable,
    PluginConfig,
    RotatableBackend,
    RotationEvent,
    RotationNotifier,
    TwoPhaseGenerator,
    ValueGenerator,
    WrappedKey,
)

__all__ = [
    "AuditSink",
    "BackendStatus",
    "ConfigError",
    "EncryptionBackend",
    "GenerationRequest",
    "KeyContext",
    "KeyUnavailable",
    "PluginConfig",
    "RotatableBackend",
    "RotationEvent",
    "RotationNotifier",
    "TwoPhaseGenerator",
    "ValueGenerator",
    "WrappedKey",
    "hookimpl",
]
