"""The plugin manager: builtins plus every `strongroom` entry point.

Plugins are called here, and only here, at start-up: loading an entry point
and each registration hook. A `plugins.ConfigError` a plugin raises is the
server's ConfigError (the same class) and passes through, naming its
variable. Anything else a plugin raises, or an object it returns that does
not implement the hook's interface, becomes PluginFailed, naming the plugin
and the exception's type only: an exception's text may hold the value it was
handed (`int(environ["PORT"])` on "abc" says "invalid literal ... 'abc'").
"""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Iterator, Sequence
from types import ModuleType
from typing import Any

import pluggy

from graphql_api.client.errors import ConfigError
from plugins import hookspecs
from plugins.builtin import aws_kms, fernet, generators, jsonl_sink, notifiers, vault_transit
from plugins.interfaces import AuditSink, EncryptionBackend, PluginConfig, RotationNotifier, ValueGenerator

logger = logging.getLogger("strongroom.plugins")

BUILTIN_PLUGINS: Sequence[ModuleType] = (fernet, jsonl_sink, aws_kms, vault_transit, generators, notifiers)


class PluginFailed(ConfigError):
    """A plugin raised something other than ConfigError while loading or
    registering, or returned an object that is not what its hook promises.

    `variable` is "plugin <name>" and the message names the exception's type
    (or the wrong object's type), never an exception's text.
    """

    def __init__(self, plugin: str, message: str) -> None:
        super().__init__(f"plugin {plugin}", message)
        self.plugin = plugin


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
        loaded = _load_entry_points(manager)
        if loaded:
            logger.info("loaded %d plugin(s) from entry points", loaded)
    return manager


def _load_entry_points(manager: pluggy.PluginManager) -> int:
    """pluggy's load_setuptools_entrypoints, with each failure named by its entry point."""
    count = 0
    for distribution in list(importlib.metadata.distributions()):
        for entry_point in distribution.entry_points:
            if (
                entry_point.group != hookspecs.PROJECT_NAME
                or manager.has_plugin(entry_point.name)
                or manager.is_blocked(entry_point.name)
            ):
                continue
            try:
                manager.register(entry_point.load(), name=entry_point.name)
            except ConfigError:
                raise
            except Exception as exc:
                raise PluginFailed(entry_point.name, f"failed to load: {type(exc).__name__}") from None
            count += 1
    return count


def plugin_name(impl: pluggy.HookImpl) -> str:
    """How an operator knows the plugin: its entry point or builtin name, else its class or module."""
    if not impl.plugin_name.isdigit():  # pluggy names an unnamed object by its id()
        return impl.plugin_name
    plugin = impl.plugin
    return str(getattr(plugin, "__name__", None) or type(plugin).__name__)


def _registered(
    manager: pluggy.PluginManager, hook_name: str, config: PluginConfig, interface: type[Any]
) -> Iterator[tuple[str, Any]]:
    """(plugin name, object) for every object the hook's implementations return, in pluggy's call order.

    Each implementation is called on its own (as pluggy's multicall does:
    third parties first, `trylast` builtins last) so that a failure names
    the plugin that raised it.
    """
    caller = getattr(manager.hook, hook_name)
    arguments: dict[str, Any] = {"config": config}
    for impl in reversed(caller.get_hookimpls()):
        name = plugin_name(impl)
        if impl.wrapper or impl.hookwrapper:
            raise PluginFailed(name, f"wraps {hook_name}, which registration hooks do not support")
        try:
            keywords = {k: arguments[k] for k in impl.kwargnames if k in arguments}
            result = impl.function(*[arguments[argument] for argument in impl.argnames], **keywords)
            objects = list(result or ())
        except ConfigError:
            raise
        except Exception as exc:
            raise PluginFailed(name, f"failed to load: {type(exc).__name__}") from None
        for item in objects:
            if not isinstance(item, interface):
                # The type, not a repr: a plugin's repr may show its configuration.
                returned = f"{hook_name} returned an object of type {type(item).__name__}"
                raise PluginFailed(name, f"{returned}, which does not implement {interface.__name__}")
            yield name, item


def collect_encryption_backends(manager: pluggy.PluginManager, config: PluginConfig) -> dict[str, EncryptionBackend]:
    """Every available backend by name; the first registration of a name wins.

    pluggy calls third-party implementations before the `trylast` builtins,
    so a plugin can replace a builtin backend by returning one of its name.
    """
    backends: dict[str, EncryptionBackend] = {}
    for _, backend in _registered(manager, "register_encryption_backends", config, EncryptionBackend):
        backends.setdefault(backend.name, backend)
    return backends


def collect_audit_sinks(manager: pluggy.PluginManager, config: PluginConfig) -> list[AuditSink]:
    return [sink for _, sink in _registered(manager, "register_audit_sinks", config, AuditSink)]


def collect_value_generators(manager: pluggy.PluginManager, config: PluginConfig) -> list[ValueGenerator]:
    """Every generator, third parties first: the first serving a type wins."""
    return [g for _, g in _registered(manager, "register_value_generators", config, ValueGenerator)]


def collect_rotation_notifiers(manager: pluggy.PluginManager, config: PluginConfig) -> list[RotationNotifier]:
    notifiers: dict[str, RotationNotifier] = {}
    for _, notifier in _registered(manager, "register_rotation_notifiers", config, RotationNotifier):
        notifiers.setdefault(notifier.name, notifier)
    return list(notifiers.values())
