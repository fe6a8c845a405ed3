"""The plugin manager: builtins plus every `strongroom` entry point."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from types import ModuleType

import pluggy

from plugins import hookspecs
from plugins.builtin import aws_kms, fernet, generators, jsonl_sink, notifiers, vault_transit
from plugins.interfaces import AuditSink, EncryptionBackend, PluginConfig, RotationNotifier, ValueGenerator

logger = logging.getLogger(__name__)

BUILTIN_PLUGINS: Sequence[ModuleType] = (fernet, jsonl_sink, aws_kms, vault_transit, generators, notifiers)


def build_plugin_manager(*, load_entry_points: bool = True, extra: Sequence[object] = ()) -> pluggy.PluginManager:
    """A manager with the builtins, `extra` plugin objects, and (by default)
    every installed distribution's `strongroom` entry points."""
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    for module in BUILTIN_PLUGINS:
        manager.register(module, name=f"strongroom.builtin.{module.__name__.rsplit('.', 1)[-1]}")
    for plugin in extra:
        manager.register(plugin)
    if load_entry_points:
        loaded = manager.load_setuptools_entrypoints(hookspecs.PROJECT_NAME)
        if loaded:
            logger.info("loaded %d plugin(s) from entry points", loaded)
    return manager


def collect_encryption_backends(manager: pluggy.PluginManager, config: PluginConfig) -> dict[str, EncryptionBackend]:
    """Every available backend by name; the first registration of a name wins.

    pluggy calls third-party implementations before the `trylast` builtins,
    so a plugin can replace a builtin backend by returning one of its name.
    """
    backends: dict[str, EncryptionBackend] = {}
    for result in manager.hook.register_encryption_backends(config=config):
        for backend in result or ():
            if not isinstance(backend, EncryptionBackend):
                raise TypeError(f"{backend!r} does not implement EncryptionBackend")
            backends.setdefault(backend.name, backend)
    return backends


def collect_audit_sinks(manager: pluggy.PluginManager, config: PluginConfig) -> list[AuditSink]:
    sinks: list[AuditSink] = []
    for result in manager.hook.register_audit_sinks(config=config):
        for sink in result or ():
            if not isinstance(sink, AuditSink):
                raise TypeError(f"{sink!r} does not implement AuditSink")
            sinks.append(sink)
    return sinks


def collect_value_generators(manager: pluggy.PluginManager, config: PluginConfig) -> list[ValueGenerator]:
    """Every generator, third parties first: the first serving a type wins."""
    generators: list[ValueGenerator] = []
    for result in manager.hook.register_value_generators(config=config):
        for generator in result or ():
            if not isinstance(generator, ValueGenerator):
                raise TypeError(f"{generator!r} does not implement ValueGenerator")
            generators.append(generator)
    return generators


def collect_rotation_notifiers(manager: pluggy.PluginManager, config: PluginConfig) -> list[RotationNotifier]:
    notifiers: dict[str, RotationNotifier] = {}
    for result in manager.hook.register_rotation_notifiers(config=config):
        for notifier in result or ():
            if not isinstance(notifier, RotationNotifier):
                raise TypeError(f"{notifier!r} does not implement RotationNotifier")
            notifiers.setdefault(notifier.name, notifier)
    return list(notifiers.values())
