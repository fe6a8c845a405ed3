"""Where things live: resolvers call services, secret rows are written by the
store, and every `type: ignore` says why.

Why: these rules are what keeps a change in one place (issue 13): a resolver
that queries a model, or a service that writes another's rows, is the first
step back to the tangle. Read from the source, as a reviewer would.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from graphql_api.services.secret_reads import SecretReader
from graphql_api.services.secrets import SecretService

ROOT = Path(__file__).resolve().parent.parent
RESOLVERS = ("query.py", "mutation.py", "subscription.py")
# An ORM call on a model class (Secret.filter(...)) or a model instance's save;
# the store's own `save` is the one way a service saves a secret.
MODEL_CALL = r"\b[A-Z]\w*\.(filter|get_or_none|get|create|bulk_create|select_for_update|all|exists)\("
ORM_CALLS = re.compile(MODEL_CALL + r"|(?<!_store)\.save\(")
# The same, on the secret tables.
SECRET_ROW_WRITES = re.compile(r"\b(Secret|SecretVersion|SecretTag)\.\w+\(|(?<!_store)\.save\(")


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_resolvers_import_no_model_and_query_nothing() -> None:
    for name in (*RESOLVERS, "types.py"):
        path = ROOT / "graphql_api" / "schema" / name
        if name in RESOLVERS:
            assert not {m for m in _imports(path) if m == "models" or m.startswith("models.")}, name
        source = path.read_text()
        calls = [m.group(0) for m in ORM_CALLS.finditer(source)]
        assert calls == [], (name, calls)


def test_the_secret_service_holds_a_reader_instead_of_being_one() -> None:
    assert not issubclass(SecretService, SecretReader)


def test_only_the_store_writes_secret_rows() -> None:
    services = ROOT / "graphql_api" / "services"
    for name in ("secrets.py", "rotation.py", "importer.py"):
        source = (services / name).read_text()
        writes = [m.group(0) for m in SECRET_ROW_WRITES.finditer(source)]
        assert writes == [], (name, writes)
    # The patterns do match what they are looking for.
    assert SECRET_ROW_WRITES.search((services / "secret_store.py").read_text())
    assert ORM_CALLS.search("await Secret.filter(id=x).first()") and ORM_CALLS.search("await row.save(using_db=c)")
    assert not ORM_CALLS.search("await self._store.save(connection, secret)")


def test_every_type_ignore_says_why() -> None:
    bare = []
    for package in ("graphql_api", "plugins", "models"):
        for path in (ROOT / package).rglob("*.py"):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if "type: ignore" in line and not re.search(r"# type: ignore\[[a-z-]+(, [a-z-]+)*\]  # \S", line):
                    bare.append(f"{path.relative_to(ROOT)}:{number}")
    assert bare == []
