"""THE plugin contract of Strongroom: every hook, typed and documented.

Hooks are synchronous (pluggy cannot await) and return objects whose methods
are async, like datasette's `register_*` hooks. A plugin needs only::

    import pluggy
    hookimpl = pluggy.HookimplMarker("strongroom")

and an entry point in the `strongroom` group of its distribution::

    [project.entry-points.strongroom]
    my_backend = "my_package.plugin"

A hook implementation may accept any subset of a hook's arguments, by name.
Builtins are registered through these same hooks with `trylast=True`, so a
third-party implementation runs first and can take a builtin's name.
"""

from __future__ import annotations

from collections.abc import Iterable

import pluggy

from plugins.interfaces import AuditSink, EncryptionBackend, PluginConfig, RotationNotifier, ValueGenerator

PROJECT_NAME = "strongroom"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)


@hookspec
def register_encryption_backends(config: PluginConfig) -> Iterable[EncryptionBackend] | None:
    """Return the encryption backends this plugin provides, ready to use.

    Return only backends whose configuration is present in `config.environ`
    (an unconfigured backend is simply not available); raise
    `ValueError("VARIABLE: what is wrong")` when configuration is present but
    malformed, and start-up stops naming VARIABLE. When two plugins return a
    backend of the same `name`, the first registered wins (third parties run
    before builtins).
    """


@hookspec
def register_audit_sinks(config: PluginConfig) -> Iterable[AuditSink] | None:
    """Return the audit sinks this plugin provides, ready to use.

    Every sink of every plugin receives every event this server process
    commits (each replica ships its own events). Return nothing when the
    sink's configuration is absent; raise `ValueError("VARIABLE: ...")` when it
    is malformed.
    """


@hookspec
def register_value_generators(config: PluginConfig) -> Iterable[ValueGenerator] | None:
    """Return the value generators this plugin provides.

    A generator serves the secret types in its `secret_types`; third-party
    generators run before the builtins, so a plugin can take over a type.
    Used by `rotateSecret` without `newValue` and by the rotation scheduler.
    """


@hookspec
def register_rotation_notifiers(config: PluginConfig) -> Iterable[RotationNotifier] | None:
    """Return the rotation notifiers this plugin provides, configured.

    Every notifier receives every rotation event (`rotation_due`, `rotated`,
    `rotation_failed`). Return nothing when unconfigured; raise
    `ValueError("VARIABLE: ...")` when the configuration is malformed.
    """
