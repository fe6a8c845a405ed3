"""The plugin manager: builtins, third-party plugins, and entry points; what
a plugin's failure at start-up looks like (typed, named, never echoed)."""

from __future__ import annotations

import inspect
import sys
import textwrap
import traceback
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

import plugins
from graphql_api.services.wiring import build_services
from graphql_api.settings import ConfigError as ServerConfigError
from plugins import ConfigError, hookimpl
from plugins.builtin.fernet import FernetBackend
from plugins.interfaces import PluginConfig
from plugins.manager import (
    BUILTIN_PLUGINS,
    PluginFailed,
    build_plugin_manager,
    collect_audit_sinks,
    collect_encryption_backends,
    collect_rotation_notifiers,
    collect_value_generators,
)
from plugins.testing import InMemoryBackend, RecordingAuditSink, RecordingNotifier, ScriptedGenerator
from tests.conftest import make_settings
from tests.distribution import installed_plugin


@pytest.fixture
def config(tmp_path: Path) -> PluginConfig:
    return PluginConfig(
        environ={"SECRET_ENCRYPTION_KEY": Fernet.generate_key().decode()},
        data_dir=tmp_path,
    )


class ThirdParty:
    """A plugin object providing a "fernet" replacement and a "memory" backend."""

    def __init__(self) -> None:
        self.fernet = InMemoryBackend("fernet")
        self.memory = InMemoryBackend("memory")

    @hookimpl
    def register_encryption_backends(self, config: PluginConfig) -> list[InMemoryBackend]:
        return [self.fernet, self.memory]


def test_builtin_fernet_is_available(config: PluginConfig) -> None:
    backends = collect_encryption_backends(build_plugin_manager(load_entry_points=False), config)

    assert list(backends) == ["fernet"]
    assert isinstance(backends["fernet"], FernetBackend)


def test_builtin_fernet_uses_the_data_dir_keyring_when_no_key_is_set(tmp_path: Path) -> None:
    config = PluginConfig(environ={}, data_dir=tmp_path)

    backends = collect_encryption_backends(build_plugin_manager(load_entry_points=False), config)

    assert isinstance(backends["fernet"], FernetBackend)
    assert (tmp_path / "fernet.keys").is_file()


def test_third_party_replaces_builtin_and_adds_its_own(config: PluginConfig) -> None:
    plugin = ThirdParty()

    backends = collect_encryption_backends(build_plugin_manager(load_entry_points=False, extra=[plugin]), config)

    assert backends == {"fernet": plugin.fernet, "memory": plugin.memory}


def test_hookimpl_may_take_no_arguments(config: PluginConfig) -> None:
    memory = InMemoryBackend("memory")

    class NoArguments:
        @hookimpl
        def register_encryption_backends(self) -> list[InMemoryBackend]:
            return [memory]

    backends = collect_encryption_backends(build_plugin_manager(load_entry_points=False, extra=[NoArguments()]), config)

    assert backends["memory"] is memory
    assert isinstance(backends["fernet"], FernetBackend)


def test_hookimpl_returning_none_adds_nothing(config: PluginConfig) -> None:
    class Unconfigured:
        @hookimpl
        def register_encryption_backends(self, config: PluginConfig) -> None:
            return None

    backends = collect_encryption_backends(
        build_plugin_manager(load_entry_points=False, extra=[Unconfigured()]), config
    )

    assert list(backends) == ["fernet"]


def test_non_backend_object_is_a_fault_of_that_plugin_shown_by_type_not_repr(config: PluginConfig) -> None:
    class Leaky:
        def __repr__(self) -> str:
            return "Leaky(token=s3cr3t-token)"

    class Broken:
        @hookimpl
        def register_encryption_backends(self) -> list[object]:
            return [Leaky()]

    manager = build_plugin_manager(load_entry_points=False, extra=[Broken()])

    with pytest.raises(PluginFailed) as raised:
        collect_encryption_backends(manager, config)
    assert raised.value.plugin == "Broken"
    assert raised.value.message == (
        "register_encryption_backends returned an object of type Leaky, which does not implement EncryptionBackend"
    )
    assert "s3cr3t" not in "".join(traceback.format_exception(raised.value))


# ---- configuration errors at the plugin seam ------------------------------------------


BAD_PORT = "abc-s3cr3t"  # a constant, so no source line shown in a traceback holds it


class PortPlugin:
    """A careless plugin: reads its port with int(), as plugins do."""

    @hookimpl
    def register_rotation_notifiers(self, config: PluginConfig) -> list[Any]:
        port = int(config.environ["PAGER_PORT"])
        return [RecordingNotifier(f"pager-{port}")]


def with_environ(config: PluginConfig, **environ: str) -> PluginConfig:
    return PluginConfig(environ={**config.environ, **environ}, data_dir=config.data_dir)


def test_a_plugin_exception_names_the_plugin_and_its_type_never_the_value(config: PluginConfig) -> None:
    manager = build_plugin_manager(load_entry_points=False, extra=[PortPlugin()])

    with pytest.raises(PluginFailed) as raised:
        collect_rotation_notifiers(manager, with_environ(config, PAGER_PORT=BAD_PORT))

    failure = raised.value
    assert isinstance(failure, ServerConfigError)  # start-up stops with one line, like any bad setting
    assert (failure.variable, failure.message) == ("plugin PortPlugin", "failed to load: ValueError")
    assert str(failure) == "plugin PortPlugin: failed to load: ValueError"
    # Not in the message, the repr, or a printed traceback (the ValueError's text is "invalid literal ... 'abc-s3cr3t'").
    assert failure.__cause__ is None and failure.__suppress_context__
    printed = "".join(traceback.format_exception(failure))
    assert "s3cr3t" not in printed + repr(failure)
    # A missing variable is the plugin's KeyError, named by type only too.
    with pytest.raises(PluginFailed, match=r"^plugin PortPlugin: failed to load: KeyError$"):
        collect_rotation_notifiers(manager, config)
    # And a good value works.
    notifiers = collect_rotation_notifiers(manager, with_environ(config, PAGER_PORT="8080"))
    assert [n.name for n in notifiers] == ["pager-8080", "log"]


def test_a_plugins_config_error_names_its_variable(config: PluginConfig) -> None:
    class Careful:
        @hookimpl
        def register_audit_sinks(self, config: PluginConfig) -> list[Any]:
            raw = config.environ.get("SIEM_BATCH", "")
            if not raw.isdigit():
                raise ConfigError("SIEM_BATCH", "must be a whole number")
            return [RecordingAuditSink("siem")]

    manager = build_plugin_manager(load_entry_points=False, extra=[Careful()])

    with pytest.raises(ConfigError) as raised:
        collect_audit_sinks(manager, with_environ(config, SIEM_BATCH="lots"))
    assert type(raised.value) is ConfigError and ConfigError is ServerConfigError
    assert (raised.value.variable, raised.value.message) == ("SIEM_BATCH", "must be a whole number")
    assert [s.name for s in collect_audit_sinks(manager, with_environ(config, SIEM_BATCH="10"))] == ["siem"]


def test_the_old_value_error_convention_is_not_trusted_to_name_a_variable(config: PluginConfig) -> None:
    # ValueError("VARIABLE: message") was parsed: "invalid literal for int(): 'x'" named a wrong
    # variable and echoed the value. Now only ConfigError names a variable.
    class OldStyle:
        @hookimpl
        def register_value_generators(self) -> list[Any]:
            raise ValueError("TOKEN: sk_live_s3cr3t is not valid")

    manager = build_plugin_manager(load_entry_points=False, extra=[OldStyle()])

    with pytest.raises(PluginFailed) as raised:
        collect_value_generators(manager, config)
    assert raised.value.variable == "plugin OldStyle" and "s3cr3t" not in str(raised.value)


def test_a_failing_generator_hook_is_named_even_when_it_yields(config: PluginConfig) -> None:
    class Lazy:
        @hookimpl
        def register_value_generators(self) -> Iterator[Any]:
            yield ScriptedGenerator({"PASSWORD"}, name="first")
            raise RuntimeError("broke half way, token=s3cr3t")

    manager = build_plugin_manager(load_entry_points=False, extra=[Lazy()])

    with pytest.raises(PluginFailed, match=r"^plugin Lazy: failed to load: RuntimeError$"):
        collect_value_generators(manager, config)


def test_build_services_stops_on_a_plugin_fault_with_one_safe_line(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite://{tmp_path / 'db.sqlite'}", tmp_path / "data", PAGER_PORT=BAD_PORT)

    with pytest.raises(ServerConfigError) as raised:
        build_services(settings, plugins=build_plugin_manager(load_entry_points=False, extra=[PortPlugin()]))

    assert f"{raised.value.variable}: {raised.value.message}" == "plugin PortPlugin: failed to load: ValueError"


def test_a_builtins_config_error_still_names_its_variable(tmp_path: Path) -> None:
    settings = make_settings(
        f"sqlite://{tmp_path / 'db.sqlite'}",
        tmp_path / "data",
        STRONGROOM_ROTATION_WEBHOOK_URL="https://hooks.example/rotate",
        STRONGROOM_WEBHOOK_SECRET="short",
    )

    with pytest.raises(ServerConfigError) as raised:
        build_services(settings, plugins=build_plugin_manager(load_entry_points=False))

    assert raised.value.variable == "STRONGROOM_WEBHOOK_SECRET" and "short" not in raised.value.message


def test_hook_wrappers_are_refused_by_name(config: PluginConfig) -> None:
    class Wrapping:
        @hookimpl(wrapper=True)
        def register_encryption_backends(self) -> Iterator[None]:
            return (yield)

    manager = build_plugin_manager(load_entry_points=False, extra=[Wrapping()])

    with pytest.raises(PluginFailed, match=r"^plugin Wrapping: wraps register_encryption_backends"):
        collect_encryption_backends(manager, config)


# ---- the public plugin API ----------------------------------------------------------------


def test_every_builtin_uses_the_one_exported_hookimpl_marker() -> None:
    assert plugins.hookimpl is plugins.hookspecs.hookimpl
    for module in BUILTIN_PLUGINS:
        assert getattr(module, "hookimpl", None) is plugins.hookimpl, module.__name__
        assert "HookimplMarker(" not in inspect.getsource(module), module.__name__
        hooks = [f for _, f in inspect.getmembers(module, inspect.isfunction) if f.__name__.startswith("register_")]
        assert hooks and all(hasattr(f, "strongroom_impl") for f in hooks), module.__name__


def test_the_public_api_exports_every_interface_and_the_config_error() -> None:
    exported: Mapping[str, object] = {name: getattr(plugins, name) for name in plugins.__all__}
    for name in ("RotatableBackend", "TwoPhaseGenerator", "ConfigError", "hookimpl", "EncryptionBackend"):
        assert name in exported, name
    assert exported["ConfigError"] is ServerConfigError
    assert sorted(plugins.__all__) == plugins.__all__


EXAMPLE_PLUGIN = textwrap.dedent(
    """
    import pluggy

    from plugins.testing import InMemoryBackend

    hookimpl = pluggy.HookimplMarker("strongroom")


    class ExampleBackend(InMemoryBackend):
        def __init__(self) -> None:
            super().__init__("example")


    @hookimpl
    def register_encryption_backends(config):
        return [ExampleBackend()]
    """
)


@pytest.fixture
def example_distribution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    with installed_plugin(tmp_path / "site", "sr_example_plugin", EXAMPLE_PLUGIN, monkeypatch):
        yield tmp_path / "site"


def test_entry_point_plugin_is_loaded(example_distribution: Path, config: PluginConfig) -> None:
    manager = build_plugin_manager()

    backends = collect_encryption_backends(manager, config)

    assert manager.get_plugin("sr_example_plugin") is sys.modules["sr_example_plugin"]
    assert type(backends["example"]).__name__ == "ExampleBackend"
    assert backends["example"].name == "example"
    assert isinstance(backends["fernet"], FernetBackend)


def test_entry_points_are_skipped_when_disabled(example_distribution: Path, config: PluginConfig) -> None:
    backends = collect_encryption_backends(build_plugin_manager(load_entry_points=False), config)

    assert "example" not in backends
    assert "sr_example_plugin" not in sys.modules


BROKEN_PLUGIN = textwrap.dedent(
    """
    import os

    PORT = int(os.environ.get("SR_BROKEN_PORT", "abc-s3cr3t"))  # raises while the entry point loads
    """
)


def test_an_entry_point_that_fails_to_import_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with (
        installed_plugin(tmp_path / "site", "sr_broken_plugin", BROKEN_PLUGIN, monkeypatch),
        pytest.raises(PluginFailed) as raised,
    ):
        build_plugin_manager()
    assert str(raised.value) == "plugin sr_broken_plugin: failed to load: ValueError"
    assert "s3cr3t" not in "".join(traceback.format_exception(raised.value))


PORT_ENTRY_POINT = textwrap.dedent(
    """
    import pluggy

    hookimpl = pluggy.HookimplMarker("strongroom")


    @hookimpl
    def register_rotation_notifiers(config):
        int(config.environ["SR_PAGER_PORT"])  # "abc-..." raises ValueError("invalid literal ... 'abc-...'")
        return []
    """
)


def test_serve_stops_with_one_line_naming_the_plugin_and_never_the_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.process import clean_environ, run_strongroom

    site = tmp_path / "site"
    with installed_plugin(site, "sr_pager_plugin", PORT_ENTRY_POINT, monkeypatch):
        result = run_strongroom(
            ["serve"],
            cwd=tmp_path,
            env=clean_environ(
                PYTHONPATH=str(site),
                STRONGROOM_DATA_DIR=str(tmp_path / "data"),
                SR_PAGER_PORT=BAD_PORT,
            ),
        )
    assert result.returncode == 2, result.stderr
    # The last line is the error (info and warning log lines may come first).
    assert result.stderr.splitlines()[-1] == (
        "strongroom: configuration error: plugin sr_pager_plugin: failed to load: ValueError"
    )
    assert "Traceback" not in result.stderr
    assert "s3cr3t" not in result.stdout + result.stderr
