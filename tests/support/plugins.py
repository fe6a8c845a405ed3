"""A plugin manager holding given generator and notifier objects only."""

from __future__ import annotations

from typing import Any

import pluggy

from plugins.interfaces import RotationNotifier, ValueGenerator
from plugins.manager import build_plugin_manager

hookimpl = pluggy.HookimplMarker("strongroom")


def plugin_manager(*objects: Any) -> pluggy.PluginManager:
    class Plugin:
        @hookimpl
        def register_value_generators(self) -> list[Any]:
            return [o for o in objects if isinstance(o, ValueGenerator)]

        @hookimpl
        def register_rotation_notifiers(self) -> list[Any]:
            return [o for o in objects if isinstance(o, RotationNotifier)]

    return build_plugin_manager(load_entry_points=False, extra=[Plugin()])
