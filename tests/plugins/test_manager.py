"""The plugin manager: builtins, third-party plugins, and entry points."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pluggy
import pytest
from cryptography.fernet import Fernet

from plugins.builtin.fernet import FernetBackend
from plugins.interfaces import PluginConfig
from plugins.manager import build_plugin_manager, collect_encryption_backends
from plugins.memory import InMemoryBackend
from tests.distribution import installed_plugin

hookimpl = pluggy.HookimplMarker("strongroom")


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


def test_non_backend_object_is_a_type_error(config: PluginConfig) -> None:
    class Broken:
        @hookimpl
        def register_encryption_backends(self) -> list[object]:
            return [object()]

    manager = build_plugin_manager(load_entry_points=False, extra=[Broken()])

    with pytest.raises(TypeError, match="does not implement EncryptionBackend"):
        collect_encryption_backends(manager, config)


EXAMPLE_PLUGIN = textwrap.dedent(
    """
    import pluggy

    from plugins.memory import InMemoryBackend

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
