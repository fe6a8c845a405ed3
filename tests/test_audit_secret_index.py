"""The per-secret index of the audit trail, filled behind the head
(graphql_api.services.audit_index): a secret's history and its last access
read the same whatever the index's reach, passes are exactly-once on
several replicas, retention removes entries with their events, the upgrade
indexes an existing trail, and hand edits of the index are caught by
verification or show nothing. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from graphql_api.database import migrate
from graphql_api.services.audit_index import AuditIndex
from graphql_api.sql import Sql
from models import AuditChainHead, AuditSecretIndex, SecretAudit
from tests.clock import MutableClock
from tests.conftest import make_settings
from tests.harness import Server

pytestmark = pytest.mark.asyncio

CREATE = """mutation($name: String!) { createSecret(workspaceId: "default",
  input: {name: $name, secretType: API_KEY, value: "v"}) { id } }"""
VALUE = """query($id: ID!) { secretValue(workspaceId: "default", id: $id) { value } }"""
BULK = """query($names: [String!]) { secretValues(workspaceId: "default", names: $names) { name } }"""
HISTORY = """query($id: ID!, $first: Int, $after: String) { secretAudit(workspaceId: "default", secretId: $id,
  first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { node { seq action } } } }"""
LAST_ACCESSED = """{ secrets(workspaceId: "default", first: 50) { edges { node { name lastAccessedAt } } } }"""
INTEGRITY = """{ auditIntegrity(workspaceId: "default") { valid firstInvalidEventId reason } }"""


async def stop_index_job(server: Server) -> None:
    """The periodic pass would move the reach while a test sets it."""
    for job in server.services._jobs:
        if job.name == "audit-index":
            await job.stop()


async def set_reach(seq: int) -> None:
    await AuditChainHead.filter(workspace_id="default").update(indexed_through_seq=seq)


async def history(server: Server, secret_id: str, first: int) -> tuple[int, list[tuple[int, str]]]:
    """Every page of a secret's history, `first` at a time: (totalCount, events)."""
    events: list[tuple[int, str]] = []
    after: str | None = None
    total = -1
    while True:
        page = (await server.data(HISTORY, {"id": secret_id, "first": first, "after": after}))["secretAudit"]
        total = page["totalCount"]
        events += [(edge["node"]["seq"], edge["node"]["action"]) for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return total, events
        after = page["pageInfo"]["endCursor"]


async def expected_history(secret_id: str) -> list[tuple[int, str]]:
    rows = await SecretAudit.filter(workspace_id="default", secret_id=secret_id).order_by("-seq")
    return [(row.seq, row.action.value) for row in rows]


async def last_accessed(server: Server) -> dict[str, Any]:
    edges = (await server.data(LAST_ACCESSED))["secrets"]["edges"]
    return {edge["node"]["name"]: edge["node"]["lastAccessedAt"] for edge in edges}


async def workload(server: Server) -> dict[str, str]:
    """Three secrets with interleaved single reads, bulk reads and a refusal-free mix of actions."""
    ids = {name: (await server.data(CREATE, {"name": name}))["createSecret"]["id"] for name in ("A", "B", "C")}
    for round_ in range(4):
        await server.data(VALUE, {"id": ids["A"]})
        await server.data(BULK, {"names": ["A", "B"]})
        if round_ % 2:
            await server.data(VALUE, {"id": ids["B"]})
    return ids


async def test_history_and_last_access_are_the_same_at_every_reach_of_the_index(server: Server) -> None:
    await stop_index_job(server)
    ids = await workload(server)
    head = await AuditChainHead.get(workspace_id="default")
    expected = {name: await expected_history(secret_id) for name, secret_id in ids.items()}
    assert len(expected["A"]) == 9 and len(expected["C"]) == 1
    answers = []
    # Nothing indexed, part indexed (the reach inside A's events), all indexed.
    for reach in (0, 1, head.seq // 2, head.seq - 1, head.seq):
        await AuditSecretIndex.all().delete()
        await set_reach(0)
        index = AuditIndex(server.services.sql, merge_batch=3)
        await index.catch_up("default", through=reach)
        assert (await AuditChainHead.get(workspace_id="default")).indexed_through_seq == reach
        assert await AuditSecretIndex.all().count() == len(
            await SecretAudit.filter(workspace_id="default", seq__lte=reach, secret_id__isnull=False)
        )
        for name, secret_id in ids.items():
            for first in (1, 2, 50):
                total, events = await history(server, secret_id, first)
                assert events == expected[name], (reach, name, first)
                assert total == len(expected[name])
        answers.append(await last_accessed(server))
    assert answers[0]["A"] is not None and answers[0]["C"] is None
    assert all(answer == answers[0] for answer in answers)


async def test_a_pass_starts_by_itself_once_enough_events_were_appended(server: Server) -> None:
    await stop_index_job(server)
    index = server.services.audit_index
    index._merge_at = 5
    ids = await workload(server)
    await index.drain()
    head = await AuditChainHead.get(workspace_id="default")
    assert head.indexed_through_seq >= 5
    indexed = await AuditSecretIndex.filter(workspace_id="default").order_by("seq")
    trail = await SecretAudit.filter(workspace_id="default", seq__lte=head.indexed_through_seq).order_by("seq")
    assert [(str(e.secret_id), e.seq) for e in indexed] == [
        (str(e.secret_id), e.seq) for e in trail if e.secret_id is not None
    ]
    total, events = await history(server, ids["A"], 3)
    assert events == await expected_history(ids["A"])


async def test_a_pass_stops_at_the_head_it_found(server: Server) -> None:
    """Events appended while a pass runs wait for the next one: a pass that
    chased the head ran a transaction per batch under steady load."""
    await stop_index_job(server)
    ids = await workload(server)
    await set_reach(0)
    await AuditSecretIndex.all().delete()
    found = (await AuditChainHead.get(workspace_id="default")).seq
    appended = 0

    class AppendingSql(Sql):
        async def read_one(self, statement: str, values: Sequence[Any] = ()) -> Any:
            nonlocal appended
            row = await super().read_one(statement, values)
            if appended < 3:  # a read commits between the pass's transactions
                appended += 1
                await server.data(VALUE, {"id": ids["C"]})
            return row

    index = AuditIndex(AppendingSql(server.services.sql.connection_name), merge_batch=2)
    covered = await index.catch_up("default")
    head = await AuditChainHead.get(workspace_id="default")
    assert covered == found and head.indexed_through_seq == found
    assert head.seq == found + 3  # the three reads, left for the next pass


async def test_on_sqlite_a_transaction_of_a_pass_touches_a_bounded_number_of_secrets(server: Server) -> None:
    """Its cost (and every audit batch's wait for SQLite's one writer) is
    the index pages it dirties, about one per secret."""
    if server.services.sql.dialect.name != "sqlite":
        pytest.skip("PostgreSQL locks rows: a pass is one transaction per merge batch")
    await stop_index_job(server)
    names = [f"S{i}" for i in range(7)]
    ids = {name: (await server.data(CREATE, {"name": name}))["createSecret"]["id"] for name in names}
    for _ in range(3):
        await server.data(BULK, {"names": names})
    await set_reach(0)
    await AuditSecretIndex.all().delete()
    spans: list[tuple[int, int]] = []

    class SpanSql(Sql):
        async def in_sqlite_writer(self, work: Any) -> Any:
            spans.append((work.__self__.after, work.__self__.upto))
            return await super().in_sqlite_writer(work)

    index = AuditIndex(
        SpanSql(server.services.sql.connection_name, server.services.sql._reads._path), secrets_per_transaction=3
    )
    head = (await AuditChainHead.get(workspace_id="default")).seq
    assert await index.catch_up("default") == head
    assert spans[0][0] == 0 and spans[-1][1] == head
    assert all(left[1] == right[0] for left, right in zip(spans, spans[1:], strict=False))  # contiguous, no gap
    for after, upto in spans:
        touched = {e.secret_id for e in await SecretAudit.filter(workspace_id="default", seq__gt=after, seq__lte=upto)}
        assert 1 <= len(touched - {None}) <= 3
    assert len(spans) >= 7  # 7 creations and 21 reads of 7 secrets, at most 3 secrets at a time
    entries = await AuditSecretIndex.all().order_by("seq")
    trail = await SecretAudit.filter(workspace_id="default", secret_id__isnull=False).order_by("seq")
    assert [(e.secret_id, e.seq) for e in entries] == [(e.secret_id, e.seq) for e in trail]
    assert set(map(str, {e.secret_id for e in entries})) == set(ids.values())


async def test_passes_on_several_replicas_at_once_index_each_event_once(server: Server) -> None:
    await stop_index_job(server)
    await workload(server)
    await set_reach(0)
    await AuditSecretIndex.all().delete()
    replicas = [AuditIndex(server.services.sql, merge_batch=batch) for batch in (2, 3, 5, 7)]
    await asyncio.gather(*(replica.catch_up("default") for replica in replicas for _ in range(2)))
    await replicas[0].catch_up("default")
    head = await AuditChainHead.get(workspace_id="default")
    assert head.indexed_through_seq == head.seq
    entries = await AuditSecretIndex.all().order_by("seq")
    assert [e.seq for e in entries] == [
        e.seq for e in await SecretAudit.filter(workspace_id="default", secret_id__isnull=False).order_by("seq")
    ]
    assert (await server.data(INTEGRITY))["auditIntegrity"]["valid"] is True


async def test_the_periodic_pass_indexes_every_workspace_behind_its_head(server: Server) -> None:
    await stop_index_job(server)
    await workload(server)
    await set_reach(0)
    await AuditSecretIndex.all().delete()
    assert await server.services.audit_index.catch_up_all() > 0
    head = await AuditChainHead.get(workspace_id="default")
    assert head.indexed_through_seq == head.seq
    assert await server.services.audit_index.catch_up_all() == 0


async def test_an_entry_deleted_by_hand_is_caught_by_verification(server: Server) -> None:
    await stop_index_job(server)
    ids = await workload(server)
    await server.services.audit_index.catch_up("default")
    assert (await server.data(INTEGRITY))["auditIntegrity"]["valid"] is True
    victim = await AuditSecretIndex.filter(secret_id=ids["A"]).order_by("-seq").first()
    assert victim is not None
    await AuditSecretIndex.filter(id=victim.id).delete()
    report = (await server.data(INTEGRITY))["auditIntegrity"]
    event = await SecretAudit.get(workspace_id="default", seq=victim.seq)
    assert report["valid"] is False
    assert report["firstInvalidEventId"] == str(event.id)
    assert "per-secret index" in report["reason"]


async def test_a_reach_moved_forward_by_hand_is_caught_and_one_moved_back_changes_nothing(server: Server) -> None:
    await stop_index_job(server)
    ids = await workload(server)
    await server.services.audit_index.catch_up("default", through=3)
    expected = await expected_history(ids["A"])
    assert (await history(server, ids["A"], 2))[1] == expected
    head = await AuditChainHead.get(workspace_id="default")
    await set_reach(head.seq)  # claims events are indexed that are not
    report = (await server.data(INTEGRITY))["auditIntegrity"]
    assert report["valid"] is False and "per-secret index" in report["reason"]
    await set_reach(1)  # less reach: more is read by sequence, nothing is lost
    assert (await history(server, ids["A"], 2))[1] == expected


async def test_an_entry_pointed_at_another_secrets_event_shows_nothing(server: Server) -> None:
    await stop_index_job(server)
    ids = await workload(server)
    await server.services.audit_index.catch_up("default")
    foreign = await SecretAudit.filter(workspace_id="default", secret_id=ids["A"]).order_by("-seq").first()
    assert foreign is not None
    await AuditSecretIndex.create(secret_id=ids["C"], workspace_id="default", seq=foreign.seq)
    assert (await history(server, ids["C"], 50))[1] == await expected_history(ids["C"])
    assert (await last_accessed(server))["C"] is None


async def test_retention_removes_entries_with_their_events(server: Server, clock: MutableClock) -> None:
    await stop_index_job(server)
    ids = await workload(server)
    await server.services.audit_index.catch_up("default")
    clock.advance(days=400)
    await server.data(VALUE, {"id": ids["A"]})
    assert await server.services.retention.purge() > 0
    head = await AuditChainHead.get(workspace_id="default")
    assert await AuditSecretIndex.filter(seq__lte=head.purged_through_seq).count() == 0
    assert (await history(server, ids["A"], 2))[1] == await expected_history(ids["A"])
    assert (await server.data(INTEGRITY))["auditIntegrity"]["valid"] is True


async def test_upgrading_indexes_the_existing_trail(tmp_path: Path) -> None:
    """A database at the migration before the index, with events: the
    upgrade fills the index and moves the reach to the head."""
    path = tmp_path / "data" / "old.db"
    url = f"sqlite://{path}"
    await migrate(make_settings(url, tmp_path / "data"))
    # Back to the schema before the index, with a trail written then.
    connection = sqlite3.connect(path)
    connection.executescript(
        """
        DROP TABLE "audit_secret_index";
        ALTER TABLE "audit_chain_head" DROP COLUMN "indexed_through_seq";
        CREATE INDEX "idx_secret_audi_workspa_9eef07" ON "secret_audit" ("workspace_id", "secret_id", "seq");
        DELETE FROM "aerich" WHERE "version" LIKE '2_%';
        INSERT INTO "audit_chain_head" VALUES ('w', 3, 'h', 0, 'p', '', '');
        INSERT INTO "secret_audit" VALUES
          ('00000000-0000-7000-8000-000000000001', 1, 'w', '11111111-1111-4111-8111-111111111111', 'CREATED',
           NULL, NULL, NULL, '{}', 1, '2026-01-01 00:00:00+00:00', 'p', 'a'),
          ('00000000-0000-7000-8000-000000000002', 2, 'w', NULL, 'LISTED',
           NULL, NULL, NULL, '{}', 1, '2026-01-01 00:00:00+00:00', 'a', 'b'),
          ('00000000-0000-7000-8000-000000000003', 3, 'w', '11111111-1111-4111-8111-111111111111', 'ACCESSED',
           NULL, NULL, NULL, '{}', 1, '2026-01-01 00:00:00+00:00', 'b', 'h');
        """
    )
    connection.commit()
    connection.close()
    applied = await migrate(make_settings(url, tmp_path / "data"))
    assert [name for name in applied if "audit_secret_index" in name]
    connection = sqlite3.connect(path)
    try:
        assert connection.execute('SELECT "indexed_through_seq" FROM "audit_chain_head"').fetchall() == [(3,)]
        assert connection.execute(
            'SELECT "secret_id", "workspace_id", "seq" FROM "audit_secret_index" ORDER BY "seq"'
        ).fetchall() == [
            ("11111111-1111-4111-8111-111111111111", "w", 1),
            ("11111111-1111-4111-8111-111111111111", "w", 3),
        ]
        indexes = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert "idx_secret_audi_workspa_9eef07" not in indexes
    finally:
        connection.close()


async def test_the_index_statements_run_on_this_dialect(server: Server) -> None:
    """ON CONFLICT DO NOTHING after INSERT ... SELECT parses on both dialects."""
    await stop_index_job(server)
    await workload(server)
    await set_reach(0)
    index = AuditIndex(server.services.sql)
    await index.catch_up("default")
    await set_reach(0)  # the same events again: no duplicate, no error
    await index.catch_up("default")
    head = await AuditChainHead.get(workspace_id="default")
    assert head.indexed_through_seq == head.seq


@pytest.mark.parametrize("steps", [0, 1, 2, 5])
async def test_stopping_the_periodic_pass_midway_leaves_the_database_writable(server: Server, steps: int) -> None:
    """The job is cancelled at stop; a pass cancelled while opening its
    transaction would keep SQLite's connection lock, and every later write
    would wait for ever."""
    await stop_index_job(server)
    await workload(server)
    await set_reach(0)
    job = asyncio.ensure_future(server.services.audit_index.catch_up_all())
    for _ in range(steps):
        await asyncio.sleep(0)
    job.cancel()
    await asyncio.gather(job, return_exceptions=True)
    await asyncio.wait_for(server.data(CREATE, {"name": "AFTER"}), 10)
    await asyncio.wait_for(server.services.audit_index.drain(), 10)
    await asyncio.wait_for(server.services.audit_index.catch_up_all(), 10)
    head = await AuditChainHead.get(workspace_id="default")
    assert head.indexed_through_seq == head.seq
