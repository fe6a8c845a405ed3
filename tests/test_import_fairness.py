"""A big import must not stall other tenants: on SQLite every request's audit
batch waits for the one writer, so the import seals every value before it
takes the write lock and then holds it for a few multi-row statements only,
however many entries the file has. Measured in `make bench` ("fairness");
here the mechanism is pinned down: no cryptography under the lock, and a
number of statements under it that does not grow with the file.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from tortoise import connections
from tortoise.backends.sqlite.client import SqliteTransactionWrapper

from graphql_api.services.envelope import Envelope
from tests.harness import Server

pytestmark = [pytest.mark.asyncio, pytest.mark.slow]

IMPORT = """mutation($text: String!, $overwrite: Boolean) {
  importSecrets(workspaceId: "default", dotenv: $text, overwrite: $overwrite) { created updated unchanged } }"""


def dotenv(count: int, suffix: str = "") -> str:
    return "".join(f"ENTRY_{i:05d}=value-{i}-{suffix}\n" for i in range(count))


@contextmanager
def watching(server: Server, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """Count statements run inside transactions, and seals made inside one."""
    seen: dict[str, Any] = {"in_transaction": 0, "seals_in_transaction": 0}
    client = connections.get(server.services.sql.connection_name)
    transaction_class = SqliteTransactionWrapper
    original_execute_query = transaction_class.execute_query
    original_execute_many = transaction_class.execute_many
    original_seal = Envelope.seal

    async def execute_query(self: Any, query: str, values: Any = None) -> Any:
        seen["in_transaction"] += 1
        return await original_execute_query(self, query, values)

    async def execute_many(self: Any, query: str, values: Any) -> Any:
        seen["in_transaction"] += 1
        return await original_execute_many(self, query, values)

    async def seal(self: Any, *args: Any, **kwargs: Any) -> Any:
        if client._lock.locked():
            seen["seals_in_transaction"] += 1
        return await original_seal(self, *args, **kwargs)

    monkeypatch.setattr(transaction_class, "execute_query", execute_query)
    monkeypatch.setattr(transaction_class, "execute_many", execute_many)
    monkeypatch.setattr(Envelope, "seal", seal)
    yield seen


async def test_the_import_transaction_does_not_grow_with_the_file(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not server.services.settings.is_sqlite:
        pytest.skip("SQLite's one writer is shared by every tenant; PostgreSQL locks rows")
    with watching(server, monkeypatch) as small:
        created = (await server.data(IMPORT, {"text": dotenv(20)}))["importSecrets"]
    assert created["created"] == 20
    small_statements = small["in_transaction"]

    with watching(server, monkeypatch) as big:
        await server.data('mutation { createWorkspace(id: "other") { id } }')
        text = dotenv(2000).replace("ENTRY_", "BULK_")
        created = (await server.data(IMPORT, {"text": text}))["importSecrets"]
    assert created["created"] == 2000
    assert big["seals_in_transaction"] == 0
    # A workspace creation and a few statements per table: not one per entry.
    assert big["in_transaction"] <= small_statements + 10, (small_statements, big["in_transaction"])

    with watching(server, monkeypatch) as overwrite:
        changed = dotenv(2000, "new").replace("ENTRY_", "BULK_")
        result = (await server.data(IMPORT, {"text": changed, "overwrite": True}))["importSecrets"]
    assert result["updated"] == 2000
    assert overwrite["seals_in_transaction"] == 0
    assert overwrite["in_transaction"] <= small_statements + 10
