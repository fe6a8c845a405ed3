"""THE plugin contract of Strongroom: every hook, typed and documented.

Hooks are synchronous (pluggy cannot await) and return objects whose methods
are async, like datasette's `register_*` hooks. A plugin needs only::

    from plugins import hookimpl   # or: hookimpl = pluggy.HookimplMarker("strongroom")

and an entry point in the `strongroom` group of its distribution::

    [project.entry-points.strongroom]
    my_backend = "my_package.plugin"

A hook implementation may accept any subset of a hook's arguments, by name.
Builtins are registered through these same hooks with `trylast=True`, so a
third-party implementation runs first and can take a builtin's name.

Errors: a hook raises `plugins.ConfigError(variable, message)` when its
configuration is present but malformed (the message says what is wrong and
never echoes the value); start-up stops with one line naming `variable`.
Anything else a hook raises, or an object that does not implement the hook's
interface, stops start-up as `plugin <name>: failed to load: <ExceptionType>`
(the exception's text is not shown: it may hold the value it choked on).
Implementations are called one at a time, in pluggy's order, so a failure
names its plugin; hook wrappers are not supported on these hooks.

Every hook has a README section headed by its signature and a test
(tests/plugins/test_hooks_documented.py checks both).
"""

from __future__ import annotations

from collections.abc import Iterable

import pluggy

from plugins.interfaces import AuditSink, EncryptionBackend, PluginConfig, RotationNotifier, ValueGenerator

PROJECT_NAME = "strongroom"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
#: The marker of hook implementations, used by every builtin.
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def register_encryption_backends(config: PluginConfig) -> Iterable[EncryptionBackend] | None:
    """Return the encryption backends this plugin provides, ready to use.

    Return only backends whose configuration is present in `config.environ`
    (an unconfigured backend is simply not available); raise
    `plugins.ConfigError(VARIABLE, "what is wrong")` when configuration is
    present but malformed. When two plugins return a backend of the same
    `name`, the first registered wins (third parties run before builtins).
    """


@hookspec
def register_audit_sinks(config: PluginConfig) -> Iterable[AuditSink] | None:
    """Return the audit sinks this plugin provides, ready to use.

    Every sink of every plugin receives every event this server process
    commits (each replica ships its own events). Return nothing when the
    sink's configuration is absent; raise `plugins.ConfigError(VARIABLE, ...)`
    when it is malformed.
    """


@hookspec
def register_value_generators(config: PluginConfig) -> Iterable[ValueGenerator] | None:
    """Return the value generators this plugin provides.

    A generator serves the secret types in its `secret_types`; third-party
    generators run before the builtins, so a plugin can take over a type.
    Used by `rotateSecret` without `newValue` and by the rotation scheduler;
    a TwoPhaseGenerator (with `apply` and `check`) rotates in two phases.
    """


@hookspec
def register_rotation_notifiers(config: PluginConfig) -> Iterable[RotationNotifier] | None:
    """Return the rotation notifiers this plugin provides, configured.

    Every notifier receives every rotation event (`rotation_due`, `rotated`,
    `rotation_failed`). Return nothing when unconfigured; raise
    `plugins.ConfigError(VARIABLE, ...)` when the configuration is malformed.
    When two plugins return a notifier of the same `name`, the first wins.
    """
