"""No import cycle among the modules of graphql_api, plugins and models.

Why: a cycle makes import order matter, lets a low layer reach a high one
(the services importing the web app for a type), and breaks the first time
someone moves a name. Imports are read from the source, as a reader sees
them, wherever they stand: module level, inside `if TYPE_CHECKING:` (a
type-level cycle is still a layering fault), and inside functions (a deferred
import only hides a cycle until the function runs).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("graphql_api", "plugins", "models")


def _modules() -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def import_graph() -> dict[str, set[str]]:
    modules = _modules()

    def ours(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package
                    for _ in range(node.level - 1):
                        anchor = anchor.rpartition(".")[0]
                    base = f"{anchor}.{base}" if base else anchor
                targets = [f"{base}.{alias.name}" for alias in node.names]
            for target in targets:
                module = ours(target)
                if module is not None and module != name:
                    graph[name].add(module)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_sees_type_checking_imports() -> None:
    # The reader itself can fail: wiring imports the metrics at module level,
    # and the metrics import the audit service only for types.
    graph = import_graph()
    assert "graphql_api.metrics" in graph["graphql_api.services.wiring"]
    assert "graphql_api.services.audit" in graph["graphql_api.metrics"]


def test_cycles_are_found_when_there_are_some() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_there_is_no_import_cycle() -> None:
    assert cycles(import_graph()) == []


def test_the_services_never_import_the_web_app() -> None:
    graph = import_graph()
    web = {"graphql_api.app", "graphql_api.http", "graphql_api.websocket", "graphql_api.serving"}
    offenders = {module: sorted(graph[module] & web) for module in graph if module.startswith("graphql_api.services")}
    assert {module: imported for module, imported in offenders.items() if imported} == {}
