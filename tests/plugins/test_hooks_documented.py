"""Every hook of plugins/hookspecs.py is documented and tested (datasette's
test_plugin_hooks_are_documented is the model).

The rules, for each hook (a function of hookspecs marked `@hookspec`):

- README.md has a markdown heading (`##` to `######`) holding the hook's
  signature in backticks, exactly as the spec declares it: its name, its
  parameter names and its return annotation, e.g.
  ``### `register_audit_sinks(config) -> Iterable[AuditSink] | None` ``.
  A heading that looks like a hook (`` `register_...(`` ) but names no hook
  fails too, so a renamed hook cannot leave a stale section behind.
- The hook has a docstring (its contract).
- Some test module under tests/ other than this one implements it (a
  `def <hook>(` line) or calls it (`hook.<hook>(`).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from plugins import hookspecs

ROOT = Path(__file__).resolve().parents[2]
HEADING = re.compile(r"^#{2,6}\s+(.*)$", re.MULTILINE)
HOOKISH = re.compile(r"`(register_\w+)\(")


def hooks() -> dict[str, Callable[..., Any]]:
    marker = f"{hookspecs.PROJECT_NAME}_spec"  # the attribute pluggy's HookspecMarker sets
    return {name: f for name, f in inspect.getmembers(hookspecs, inspect.isfunction) if hasattr(f, marker)}


def signature(hook: Callable[..., Any]) -> str:
    spec = inspect.signature(hook)
    parameters = ", ".join(spec.parameters)
    # `from __future__ import annotations`: the annotation is the source text.
    return f"{hook.__name__}({parameters}) -> {spec.return_annotation}"


def readme_headings() -> list[str]:
    return HEADING.findall((ROOT / "README.md").read_text(encoding="utf-8"))


def test_the_hook_list_is_what_the_contract_says() -> None:
    # Guards the discovery itself: an empty list would pass every test below.
    assert set(hooks()) >= {
        "register_encryption_backends",
        "register_audit_sinks",
        "register_value_generators",
        "register_rotation_notifiers",
    }


@pytest.mark.parametrize("name", sorted(hooks()))
def test_hook_has_a_readme_section_headed_by_its_signature(name: str) -> None:
    expected = f"`{signature(hooks()[name])}`"
    assert any(expected in heading for heading in readme_headings()), (
        f"README.md needs a heading holding {expected} (see this module's docstring)"
    )


def test_readme_documents_no_hook_that_does_not_exist() -> None:
    documented = {name for heading in readme_headings() for name in HOOKISH.findall(heading)}
    assert documented <= set(hooks()), f"README.md documents unknown hooks: {sorted(documented - set(hooks()))}"


@pytest.mark.parametrize("name", sorted(hooks()))
def test_hook_has_a_docstring(name: str) -> None:
    assert (inspect.getdoc(hooks()[name]) or "").strip(), f"{name} in plugins/hookspecs.py has no docstring"


@pytest.mark.parametrize("name", sorted(hooks()))
def test_hook_has_a_test(name: str) -> None:
    used = re.compile(rf"\bdef {name}\(|\bhook\.{name}\b")
    this = Path(__file__).resolve()
    testing = [p for p in (ROOT / "tests").rglob("test_*.py") if p.resolve() != this and used.search(p.read_text())]
    assert testing, f"no test under tests/ implements or calls {name}"
