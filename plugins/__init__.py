"""Strongroom's public plugin API.

`hookimpl` marks implementations; `plugins.hookspecs` is the contract;
`plugins.interfaces` holds the Protocols a plugin's objects satisfy.
"""

from __future__ import annotations

import pluggy

from plugins.interfaces import (
    AuditSink,
    BackendStatus,
    EncryptionBackend,
    GenerationRequest,
    KeyContext,
    KeyUnavailable,
    PluginConfig,
    RotationEvent,
    RotationNotifier,
    ValueGenerator,
    WrappedKey,
)

hookimpl = pluggy.HookimplMarker("strongroom")

__all__ = [
    "AuditSink",
    "GenerationRequest",
    "RotationEvent",
    "RotationNotifier",
    "ValueGenerator",
    "BackendStatus",
    "EncryptionBackend",
    "KeyContext",
    "KeyUnavailable",
    "PluginConfig",
    "WrappedKey",
    "hookimpl",
]
