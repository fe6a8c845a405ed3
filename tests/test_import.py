"""importSecrets: lossless, all or nothing, audited."""

from __future__ import annotations

import asyncio

import pytest
from tortoise import connections

from models import Secret, SecretAudit, SecretVersion
from tests.harness import Server

pytestmark = pytest.mark.asyncio

IMPORT = """mutation($text: String!, $overwrite: Boolean) { importSecrets(workspaceId: "default", dotenv: $text, overwrite: $overwrite) {
    created updated skipped unchanged secrets { name currentVersion secretType rotationPolicy } } }"""
VALUES = """{ secretValues(workspaceId: "default") { name value } }"""

DOTENV = 'DB_URL="postgres://u:p@h/db?sslmode=require"\nAPI_KEY=abc#def\nMULTI="line1\nline2 \\"q\\""\nEMPTY=\n'


async def test_import_creates_secrets_with_exact_values(server: Server) -> None:
    result = (await server.data(IMPORT, {"text": DOTENV}))["importSecrets"]
    assert (result["created"], result["updated"], result["skipped"]) == (4, 0, 0)
    # Types from names, as the seed says; a name that does not look secret is never rotated.
    kinds = {s["name"]: (s["secretType"], s["rotationPolicy"]) for s in result["secrets"]}
    assert kinds == {
        "DB_URL": ("GENERIC", "MANUAL"),
        "API_KEY": ("API_KEY", "AUTO_90_DAYS"),
        "MULTI": ("GENERIC", "MANUAL"),
        "EMPTY": ("GENERIC", "MANUAL"),
    }
    values = {v["name"]: v["value"] for v in (await server.data(VALUES))["secretValues"]}
    assert values == {
        "DB_URL": "postgres://u:p@h/db?sslmode=require",
        "API_KEY": "abc#def",
        "MULTI": 'line1\nline2 "q"',
        "EMPTY": "",
    }
    imported = await SecretAudit.filter(action="IMPORTED").count()
    assert imported == 4


async def test_the_secret_count_follows_a_bulk_import_deletes_and_destroys(server: Server) -> None:
    """totalCount reads a counter kept by triggers on PostgreSQL (one per
    insert statement, one per changed row); it must match the rows."""
    from models import Secret

    count = '{ a: secrets(workspaceId: "default") { totalCount } b: secrets(workspaceId: "default", filter: {includeInactive: true}) { totalCount } }'
    await server.data(IMPORT, {"text": "\n".join(f"COUNTED_{i}=v{i}" for i in range(40))})
    await server.data(IMPORT, {"text": "COUNTED_0=again\nCOUNTED_40=new", "overwrite": True})
    ids = {s.name: str(s.id) for s in await Secret.filter(workspace_id="default")}
    for name in ("COUNTED_1", "COUNTED_2"):
        await server.data(
            'mutation($id: ID!) { deleteSecret(workspaceId: "default", id: $id) { id } }', {"id": ids[name]}
        )
    await server.data('mutation($id: ID!) { destroySecret(workspaceId: "default", id: $id) }', {"id": ids["COUNTED_3"]})
    counted = await server.data(count)
    active = await Secret.filter(workspace_id="default", is_active=True, destroyed_at=None).count()
    everything = await Secret.filter(workspace_id="default", destroyed_at=None).count()
    assert (counted["a"]["totalCount"], counted["b"]["totalCount"]) == (active, everything) == (38, 40)


async def test_existing_names_are_skipped_unless_overwrite(server: Server) -> None:
    await server.data(IMPORT, {"text": "A=1\nB=2\n"})
    skipped = (await server.data(IMPORT, {"text": "A=changed\nC=3\n"}))["importSecrets"]
    assert (skipped["created"], skipped["updated"], skipped["skipped"]) == (1, 0, 1)
    overwritten = (await server.data(IMPORT, {"text": "A=changed\nB=2\n", "overwrite": True}))["importSecrets"]
    # B's value is what it already was: no new version for it.
    assert (overwritten["created"], overwritten["updated"], overwritten["skipped"], overwritten["unchanged"]) == (
        0,
        1,
        0,
        1,
    )
    assert {s["name"]: s["currentVersion"] for s in overwritten["secrets"]} == {"A": 2}
    assert (await Secret.get(name="B")).current_version == 1
    values = {v["name"]: v["value"] for v in (await server.data(VALUES))["secretValues"]}
    assert values == {"A": "changed", "B": "2", "C": "3"}


async def test_a_bad_line_imports_nothing(server: Server) -> None:
    error = await server.error(IMPORT, {"text": "GOOD=1\nBAD-NAME=2\n"})
    assert error["extensions"]["code"] == "BAD_USER_INPUT" and "line 2" in error["message"]
    error = await server.error(IMPORT, {"text": "GOOD=1\nTOO_BIG=" + "x" * (64 * 1024 + 1) + "\n"})
    assert error["extensions"]["code"] == "BAD_USER_INPUT" and "line 2" in error["message"]
    assert "xxxx" not in error["message"]
    assert await Secret.all().count() == 0 and await SecretVersion.all().count() == 0


async def test_import_is_atomic_when_audit_fails(server: Server, dialect: str) -> None:
    from tests.support.audit_blocking import block_audit_inserts, unblock_audit_inserts

    await block_audit_inserts(dialect)
    try:
        error = await server.error(IMPORT, {"text": "ONE=1\nTWO=2\n"})
    finally:
        await unblock_audit_inserts(dialect)
    assert error["extensions"]["code"] == "AUDIT_UNAVAILABLE"
    assert await Secret.all().count() == 0


@pytest.mark.postgres
async def test_an_import_answers_without_waiting_for_the_analyze(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    statistics = server.services.planner_statistics
    release, analyzed = asyncio.Event(), []

    async def slow_analyze(tables: tuple[str, ...]) -> None:
        await release.wait()
        analyzed.append(tables)

    monkeypatch.setattr(statistics, "_analyze", slow_analyze)
    text = "\n".join(f"BULK_{i:05d}=value-{i}" for i in range(1_200))
    answer = await asyncio.wait_for(
        server.data(
            'mutation($t: String!) { importSecrets(workspaceId: "default", dotenv: $t) { created } }', {"t": text}
        ),
        timeout=30,
    )
    assert answer["importSecrets"]["created"] == 1_200 and analyzed == []
    # A second large import while the first ANALYZE runs asks for one more, not a second at once.
    more = "\n".join(f"MORE_{i:05d}=value-{i}" for i in range(1_200))
    await server.data(
        'mutation($t: String!) { importSecrets(workspaceId: "default", dotenv: $t) { created } }', {"t": more}
    )
    release.set()
    await statistics.settled()
    assert len(analyzed) == 2


@pytest.mark.postgres  # SQLite plans these queries from its indexes alone
async def test_a_large_import_refreshes_the_planner_statistics_on_postgresql(server: Server) -> None:
    """A table never analyzed after a bulk load makes PostgreSQL read a whole
    workspace for one page (graphql_api/services/planner_statistics.py)."""
    text = "\n".join(f"BULK_{i:05d}=value-{i}" for i in range(1_200))
    await server.data(
        'mutation($t: String!) { importSecrets(workspaceId: "default", dotenv: $t) { created } }', {"t": text}
    )
    await server.services.planner_statistics.settled()  # the import answered without waiting for it
    rows = await connections.get(server.services.sql.connection_name).execute_query_dict(
        "SELECT relname, last_analyze FROM pg_stat_user_tables WHERE relname IN ('secret', 'secret_version')"
    )
    assert {row["relname"] for row in rows if row["last_analyze"] is not None} == {"secret", "secret_version"}
