"""The suite's own rules: a test module never imports from another test module
(shared fixtures live in a conftest.py, shared helpers in tests/support/ and the
other non-test modules), so collecting or running one test file never imports,
and re-registers the tests of, another."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
T = "test_"


def _is_test_module(dotted: str) -> bool:
    return dotted.rsplit(".", 1)[-1].startswith("test_")


def imported_test_modules(source: str, package: str) -> list[str]:
    """The test modules a file's source imports (absolute or relative, at any depth)."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if any(map(_is_test_module, alias.name.split(".")))]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if any(map(_is_test_module, module.split("."))):
                found.append(module)
            else:
                found += [f"{module}.{alias.name}" for alias in node.names if _is_test_module(alias.name)]
    return found


def suite_files() -> list[Path]:
    return sorted(p for p in TESTS.rglob("*.py") if "node_modules" not in p.parts and p.name != "test_suite_hygiene.py")


def test_no_module_of_the_suite_imports_a_test_module() -> None:
    offenders = {}
    for path in suite_files():
        package = ".".join(path.relative_to(TESTS.parent).parent.parts)
        if imports := imported_test_modules(path.read_text(encoding="utf-8"), package):
            offenders[str(path.relative_to(TESTS.parent))] = imports
    assert offenders == {}, f"move shared fixtures into a conftest.py and helpers into tests/support/: {offenders}"


@pytest.mark.parametrize(
    "source",
    # T spells "test_" so that grepping the suite for such imports finds none here.
    [
        f"from tests.{T}audit_trail import running",
        f"from tests.plugins.{T}notifiers import Receiver",
        f"import tests.cli.{T}formats",
        f"import tests.{T}rotation as rotation",
        f"from tests import {T}rotation",
        f"from tests.cli import {T}formats as formats",
        f"from .{T}formats import HOSTILE",
        f"from . import {T}formats",
        f"def f():\n    from tests.{T}import import helper\n",
    ],
)
def test_the_check_sees_every_way_of_importing_a_test_module(source: str) -> None:
    assert imported_test_modules(source, "tests.cli") != []


@pytest.mark.parametrize(
    "source",
    [
        "from tests.support.running import running",
        "from tests.harness import Server",
        "import tests.pg",
        "from tests import conftest",
        "from .conftest import run",
        "from graphql_api.testing import tester",
    ],
)
def test_the_check_lets_helper_modules_through(source: str) -> None:
    assert imported_test_modules(source, "tests.cli") == []
